"""A custom training loop (tf.GradientTape) recorded with tb_fitdiag.Recorder.

The loop computes the gradients in a compiled step, hands them to the recorder, then applies
them: the recorder writes the statistics FitDiagCallback writes inside model.fit (per-layer
gradient norms, zero fractions, non-finite counts, weight norms, update ratios; the batch loss,
the global gradient norm, the learning rate), on the same schedule, into <log-dir>/train.

    python examples/custom_loop_tape.py --log-dir logs/custom_loop
    fitdiag diagnose logs/custom_loop
    tensorboard --logdir logs
"""

import argparse

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tb_fitdiag import Recorder

parser = argparse.ArgumentParser()
parser.add_argument("--log-dir", default="logs/custom_loop")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--learning-rate", type=float, default=1e-3)
args = parser.parse_args()

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
features = rng.normal(size=(2000, 20)).astype("float32")
weights = rng.normal(size=(20,))
labels = (features @ weights + 0.5 * rng.normal(size=2000) > 0).astype("float32")[:, None]
dataset = tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(2000, seed=0).batch(64)

model = keras.Sequential(
    [
        keras.Input(shape=(20,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
optimizer = keras.optimizers.Adam(learning_rate=args.learning_rate)
loss_fn = keras.losses.BinaryCrossentropy()


steps_per_epoch = int(dataset.cardinality())
recorder = Recorder(
    args.log_dir,
    model,
    optimizer,
    planned_steps=args.epochs * steps_per_epoch,
    loss_fn=loss_fn,
)


@tf.function
def gradients(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    # Every step's loss and gradient norm, folded inside the compiled step: record() below
    # then costs nothing on the steps it does not record.
    recorder.fold(grads, loss)
    return loss, grads


with recorder:
    step = 0
    for epoch in range(args.epochs):
        losses = []
        for x, y in dataset:
            loss, grads = gradients(x, y)
            # Before apply_gradients: the recorder measures the update that follows.
            recorder.record(step, grads, model.trainable_variables, loss=loss)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            losses.append(float(loss))
            step += 1
        recorder.epoch_end(epoch, {"loss": np.mean(losses)})
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}")
