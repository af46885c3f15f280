"""A broken run: a warm-restart schedule that starts far too high, and a fine-tuning
stage whose learning rate lost a few orders of magnitude to a typo.

    fitlint examples/broken_optimizer.py
"""

import numpy as np
import tensorflow as tf

INITIAL_LR = 0.5  # meant for SGD, reused for Adam below
FINE_TUNE_LR = 1e-9  # typo: 1e-5 was meant

rng = np.random.default_rng(0)
features = rng.normal(size=(1000, 32)).astype("float32")
labels = rng.integers(0, 4, size=1000)

model = tf.keras.Sequential(
    [
        tf.keras.Input(shape=(32,)),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(4, activation="softmax"),
    ]
)

schedule = tf.keras.optimizers.schedules.CosineDecayRestarts(
    initial_learning_rate=INITIAL_LR,
    first_decay_steps=200,
)
model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=schedule),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(features, labels, epochs=10, batch_size=32, validation_split=0.2)

# Fine-tune the last layer only.
for layer in model.layers[:-1]:
    layer.trainable = False
model.compile(
    optimizer=tf.keras.optimizers.RMSprop(FINE_TUNE_LR),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(features, labels, epochs=5, batch_size=32, validation_split=0.2)
