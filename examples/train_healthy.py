"""A healthy run: standardized inputs, a small ReLU MLP, Adam at its default rate, and early
stopping on the validation loss.

fitdiag diagnose reports (FitDiagCallback at its defaults):
    headline: none
    findings: none

    python examples/train_healthy.py --log-dir demo_logs/healthy
"""

import argparse

import numpy as np
from tensorflow import keras

from tb_fitdiag import FitDiagCallback

parser = argparse.ArgumentParser()
parser.add_argument("--log-dir", default="logs/healthy")
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
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
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
    callbacks=[
        FitDiagCallback(log_dir=args.log_dir),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    ],
)
