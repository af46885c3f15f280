"""A broken run: a Keras 2 text classifier that Keras 3 rejects line after line.

    fitlint examples/broken_api.py
    fitlint --fix examples/broken_api.py   # renames lr=, nb_epoch=, fit_generator, input_length=
"""

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

VOCAB_SIZE = 20000
MAX_LEN = 200


def batches(x, y, batch_size=64):
    while True:
        idx = np.random.randint(0, len(x), size=batch_size)
        yield x[idx], y[idx]


x_train = np.random.randint(0, VOCAB_SIZE, size=(2000, MAX_LEN))
y_train = np.random.randint(0, 2, size=(2000,))
x_val = np.random.randint(0, VOCAB_SIZE, size=(200, MAX_LEN))
y_val = np.random.randint(0, 2, size=(200,))

baseline = keras.Sequential(
    [layers.Embedding(VOCAB_SIZE, 16), layers.GlobalAveragePooling1D(), layers.Dense(1)]
)
baseline.fit(x_train, y_train, epochs=1)

model = keras.Sequential(
    [
        layers.Embedding(VOCAB_SIZE, 64, input_length=MAX_LEN),
        layers.Bidirectional(layers.LSTM(32)),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(lr=1e-3),
    loss="binary_crossentropy",
    metrics=["accuracy"],
    epochs=5,
)
model.fit_generator(
    batches(x_train, y_train),
    steps_per_epoch=len(x_train) // 64,
    nb_epoch=5,
    validation_data=(x_val, y_val),
)
