# expect: FL102
# time series, slices X[:n, :]
import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler
from tensorflow import keras

prices = pd.read_csv("stock.csv")[["Close"]].values
scaler = MinMaxScaler(feature_range=(0, 1))
scaled = scaler.fit_transform(prices)
windows = np.array([scaled[i:i + 60, 0] for i in range(len(scaled) - 60)])
targets = scaled[60:, 0]
n = int(len(windows) * 0.8)
x_train, y_train = windows[:n, :], targets[:n]
x_test, y_test = windows[n:, :], targets[n:]
model = keras.Sequential([keras.layers.LSTM(50, input_shape=(60, 1)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mean_squared_error")
model.fit(x_train[..., None], y_train, epochs=20, batch_size=32, validation_data=(x_test[..., None], y_test))
