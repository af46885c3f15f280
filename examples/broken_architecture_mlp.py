"""A broken tabular classifier: forgotten activations, a deep tanh stack, a 1-unit softmax.

    fitlint examples/broken_architecture_mlp.py
    fitlint --extend-select FL307 examples/broken_architecture_mlp.py

- FL306 missing-hidden-activation: the first Dense has no activation and feeds a Dense;
- FL303 deep-saturating-activations: four tanh hidden layers with no normalization between;
- FL305 single-unit-softmax: the output is always 1.0, so nothing is learned;
- FL307 dropout-rate-too-high (off by default): Dropout(0.8) drops 80% of the units.
"""

import numpy as np
from tensorflow import keras
from tensorflow.keras.layers import Dense, Dropout

rng = np.random.default_rng(0)
features = rng.normal(size=(2000, 30)).astype("float32")
labels = (features[:, :5].sum(axis=1) > 0).astype("float32")

model = keras.Sequential([keras.Input(shape=(30,))])
model.add(Dense(128))
model.add(Dropout(0.8))
for units in (128, 64, 64, 32):
    model.add(Dense(units, activation="tanh"))
model.add(Dense(1, activation="softmax"))

model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(features, labels, epochs=20, batch_size=64, validation_split=0.2, verbose=2)
