# expect: FL203
# 200 samples from linspace, batch 256
import numpy as np
from tensorflow import keras

x = np.linspace(-3, 3, 200).reshape(-1, 1)
y = np.sin(x) + np.random.normal(0, 0.1, (200, 1))
model = keras.Sequential([keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=500, batch_size=256, validation_split=0.1)
