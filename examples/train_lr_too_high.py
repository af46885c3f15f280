"""A broken run: Adam with a learning rate a thousand times its default.

fitlint flags it before training (learning-rate-too-high). In the first steps the batch loss
blows up from about 0.7 to thousands, then the network settles with most units of a hidden layer
dead; the diagnosis names the rate, at the line fitlint flagged, as the cause.

fitdiag diagnose reports (FitDiagCallback at its defaults):
    headline: learning-rate-too-high
    findings: diverging-loss (error), dead-units (warning)

    python examples/train_lr_too_high.py --log-dir demo_logs/lr_too_high
"""

import argparse

import numpy as np
from tensorflow import keras

from tb_fitdiag import FitDiagCallback

LEARNING_RATE = 1.0

parser = argparse.ArgumentParser()
parser.add_argument("--log-dir", default="logs/lr_too_high")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--verbose", type=int, default=0, help="Keras's verbose (2: one line per epoch)")
args = parser.parse_args()

keras.utils.set_random_seed(0)  # the same weights every run, so the diagnosis is the same
rng = np.random.default_rng(0)
features = rng.normal(size=(2000, 20)).astype("float32")
weights = rng.normal(size=(20,))
labels = (features @ weights + 0.5 * rng.normal(size=2000) > 0).astype("float32")

model = keras.Sequential(
    [
        keras.Input(shape=(20,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    features,
    labels,
    epochs=args.epochs,
    batch_size=64,
    validation_split=0.2,
    verbose=args.verbose,
    callbacks=[FitDiagCallback(log_dir=args.log_dir)],
)
