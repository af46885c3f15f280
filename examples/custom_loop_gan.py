"""A GAN (two models, two optimizers) recorded with one tb_fitdiag.Recorder per model.

Each model gets its own log directory, <log-dir>/generator and <log-dir>/discriminator, so
fitdiag diagnose and the TensorBoard tab show each as a run of its own (layer paths
generator/... and discriminator/...).

    python examples/custom_loop_gan.py --log-dir logs/gan
    fitdiag diagnose logs/gan
    tensorboard --logdir logs
"""

import argparse
import os

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tb_fitdiag import Recorder

parser = argparse.ArgumentParser()
parser.add_argument("--log-dir", default="logs/gan")
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()

LATENT = 8
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def real_batch(size):
    """Points on a ring of radius 2: what the generator learns to draw."""
    angle = rng.uniform(0.0, 2.0 * np.pi, size=size)
    ring = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 2.0
    return (ring + 0.05 * rng.normal(size=(size, 2))).astype("float32")


generator = keras.Sequential(
    [
        keras.Input(shape=(LATENT,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(2),
    ],
    name="generator",
)
discriminator = keras.Sequential(
    [
        keras.Input(shape=(2,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ],
    name="discriminator",
)
g_optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5)
d_optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5)
cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)


@tf.function
def discriminator_gradients(real, noise):
    fake = generator(noise, training=True)
    with tf.GradientTape() as tape:
        real_logits = discriminator(real, training=True)
        fake_logits = discriminator(fake, training=True)
        loss = cross_entropy(tf.ones_like(real_logits), real_logits) + cross_entropy(
            tf.zeros_like(fake_logits), fake_logits
        )
    return loss, tape.gradient(loss, discriminator.trainable_variables)


@tf.function
def generator_gradients(noise):
    with tf.GradientTape() as tape:
        fake_logits = discriminator(generator(noise, training=True), training=True)
        loss = cross_entropy(tf.ones_like(fake_logits), fake_logits)
    return loss, tape.gradient(loss, generator.trainable_variables)


g_recorder = Recorder(
    os.path.join(args.log_dir, "generator"), generator, g_optimizer, planned_steps=args.steps
)
d_recorder = Recorder(
    os.path.join(args.log_dir, "discriminator"),
    discriminator,
    d_optimizer,
    planned_steps=args.steps,
)
with g_recorder, d_recorder:
    for step in range(args.steps):
        noise = tf.random.normal((args.batch_size, LATENT))
        d_loss, d_grads = discriminator_gradients(real_batch(args.batch_size), noise)
        d_recorder.record(step, d_grads, discriminator.trainable_variables, loss=d_loss)
        d_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables, strict=True))

        noise = tf.random.normal((args.batch_size, LATENT))
        g_loss, g_grads = generator_gradients(noise)
        g_recorder.record(step, g_grads, generator.trainable_variables, loss=g_loss)
        g_optimizer.apply_gradients(zip(g_grads, generator.trainable_variables, strict=True))
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step}: discriminator {float(d_loss):.3f}, generator {float(g_loss):.3f}")
