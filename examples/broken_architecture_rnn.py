"""A broken sequence classifier: a deep recurrent stack with a shape error and a loss mismatch.

fitlint flags it before anything runs:

    fitlint examples/broken_architecture_rnn.py

- FL302 rnn-missing-return-sequences: the second LSTM returns only its last state, yet a GRU
  follows it (the model fails to build; `fitlint --fix` adds `return_sequences=True`);
- FL301 deep-stacked-rnn: five recurrent layers stacked (plain stacks train well up to four);
- FL304 output-activation-loss-mismatch: a softmax output with a loss given from_logits=True.
"""

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

SEQ_LEN, FEATURES, CLASSES = 40, 6, 4

rng = np.random.default_rng(0)
x = rng.normal(size=(512, SEQ_LEN, FEATURES)).astype("float32")
y = rng.integers(0, CLASSES, size=512)

inputs = tf.keras.Input(shape=(SEQ_LEN, FEATURES))
h = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(inputs)
h = layers.Dropout(0.2)(h)
h = layers.LSTM(64)(h)
h = layers.GRU(32, return_sequences=True)(h)
h = layers.GRU(32, return_sequences=True)(h)
h = layers.GRU(32)(h)
outputs = layers.Dense(CLASSES, activation="softmax")(h)
model = tf.keras.Model(inputs, outputs)

model.compile(
    optimizer=tf.keras.optimizers.Adam(1e-3),
    loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(x, y, epochs=5, batch_size=32, validation_split=0.2)
