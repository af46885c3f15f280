"""A broken run: eight stacked sigmoid layers, no normalization between them.

fitlint flags the stack (deep-saturating-activations); the diagnosis sees the gradients of the
first layers vanish, the weights barely move and the loss stay at chance level (ln 2).

fitdiag diagnose reports (FitDiagCallback at its defaults):
    headline: deep-saturating-activations
    findings: loss-plateau (warning), update-ratio-too-low (warning), vanishing-gradients (warning)

    python examples/train_deep_sigmoid.py --log-dir demo_logs/deep_sigmoid
"""

import argparse

import numpy as np
import tensorflow as tf

from tb_fitdiag import FitDiagCallback

parser = argparse.ArgumentParser()
parser.add_argument("--log-dir", default="logs/deep_sigmoid")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--verbose", type=int, default=0, help="Keras's verbose (2: one line per epoch)")
args = parser.parse_args()

tf.keras.utils.set_random_seed(0)  # the same weights every run, so the diagnosis is the same
rng = np.random.default_rng(0)
features = rng.normal(size=(2000, 20)).astype("float32")
weights = rng.normal(size=(20,))
labels = (features @ weights + 0.5 * rng.normal(size=2000) > 0).astype("float32")

model = tf.keras.Sequential([tf.keras.Input(shape=(20,))])
for _ in range(8):
    model.add(tf.keras.layers.Dense(32, activation="sigmoid"))
model.add(tf.keras.layers.Dense(1, activation="sigmoid"))

model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(
    features,
    labels,
    epochs=args.epochs,
    batch_size=64,
    validation_split=0.2,
    verbose=args.verbose,
    callbacks=[FitDiagCallback(log_dir=args.log_dir)],
)
