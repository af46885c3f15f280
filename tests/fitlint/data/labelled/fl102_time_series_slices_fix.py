# expect: none
# fixed: time series, slices X[:n, :]
import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler
from tensorflow import keras

prices = pd.read_csv("stock.csv")[["Close"]].values
cut = int(len(prices) * 0.8)
scaler = MinMaxScaler(feature_range=(0, 1))
train_scaled = scaler.fit_transform(prices[:cut])
test_scaled = scaler.transform(prices[cut:])

def windows(series):
    x = np.array([series[i:i + 60, 0] for i in range(len(series) - 60)])
    return x[..., None], series[60:, 0]

x_train, y_train = windows(train_scaled)
x_test, y_test = windows(test_scaled)
model = keras.Sequential([keras.layers.LSTM(50, input_shape=(60, 1)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mean_squared_error")
model.fit(x_train, y_train, epochs=20, batch_size=32, validation_data=(x_test, y_test))
