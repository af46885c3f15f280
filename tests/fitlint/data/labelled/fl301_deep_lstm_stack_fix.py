# expect: none
# fixed: five stacked LSTMs
import numpy as np
from tensorflow.keras.layers import LSTM, Dense
from tensorflow.keras.models import Sequential

x = np.load("sequences.npy")
y = np.load("targets.npy")
model = Sequential()
model.add(LSTM(64, return_sequences=True, input_shape=(30, 8)))
model.add(LSTM(64))
model.add(Dense(1))
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=20, validation_split=0.2)
