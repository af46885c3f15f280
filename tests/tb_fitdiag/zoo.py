"""The run zoo: labelled Keras training runs, the code that trains them, and their scoring.

Each :class:`ZooRun` is a complete, small training script, as a practitioner writes one, and a
label: the fault injected into it, what a diagnosis of its logs must (``expected``) and may
(``allowed``) report, and the root cause its headline must name. The labels describe what
really happened in training, checked against each run's ``history.json`` (the per-epoch Keras
history every script writes next to its logs) and the raw statistics FitDiagCallback recorded
(gradient norms, zero fractions, update ratios), never against what a diagnosis said.

* :func:`generate` writes the scripts to ``<root>/scripts`` and trains them in one subprocess,
  so the calling process never imports TensorFlow (the whole zoo: about 3-4 minutes on two
  cores; the :data:`FAST` subset: about 30 seconds).
* :func:`evaluate` diagnoses a trained zoo through the ``fitdiag diagnose`` code path and
  scores every run against its label; :func:`score` sums the verdicts up, and
  ``benchmarks/diagnosis_accuracy.py`` prints them.
* :func:`coverage_problems` checks that the catalogue covers what the issue asks for.

Half of the runs (``half="tune"``) are for tuning the diagnosis; the other half
(``half="report"``) is held out to report its accuracy. The runs of each fault class alternate
between the halves in catalogue order, the classes alternately starting with either half.

Set ``FITDIAG_ZOO_TRACE=1`` when calling :func:`generate` to add an independent tracer to every
``fit`` (batch losses, and gradient norms and update ratios from its own ``GradientTape`` every
10 steps, written to ``<run>/trace.json``): it is how the labels were checked, and it helps to
re-check them after a Keras upgrade. Runs with random layers (dropout, noise, augmentation) then
train slightly differently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINDINGS: tuple[str, ...] = (
    "non-finite-loss",
    "diverging-loss",
    "oscillating-loss",
    "loss-plateau",
    "overfitting",
    "exploding-gradients",
    "vanishing-gradients",
    "dead-units",
    "update-ratio-too-high",
    "update-ratio-too-low",
)
GRADIENT_FINDINGS: frozenset[str] = frozenset(FINDINGS[5:])
CAUSES: frozenset[str] = frozenset(
    {
        "learning-rate-too-high",
        "learning-rate-too-low",
        "missing-input-normalization",
        "deep-saturating-activations",
        "deep-stacked-rnn",
        "single-unit-softmax",
        "output-activation-loss-mismatch",
        "numerical-error",
        "overfitting",
        "dead-units",
        "no-signal",
        "bad-initialization",
        "vanishing-gradients",
    }
)
ARCHS: frozenset[str] = frozenset({"mlp", "cnn", "rnn", "functional", "subclassed"})
DATA_KINDS: frozenset[str] = frozenset({"tabular", "image", "sequence"})
RECORDERS: frozenset[str] = frozenset({"fitdiag", "tensorboard"})
HALVES: tuple[str, str] = ("tune", "report")


@dataclass(frozen=True)
class ZooRun:
    """One labelled training run.

    Attributes:
        name: Unique snake_case name; also the run's directory under the logdir.
        arch: ``mlp``, ``cnn``, ``rnn`` (LSTM/GRU/SimpleRNN), ``functional`` (multi-input
            functional model) or ``subclassed`` (a ``keras.Model`` subclass).
        data: ``tabular``, ``image`` or ``sequence``.
        optimizer: ``sgd``, ``momentum`` (SGD with momentum), ``adam``, ``rmsprop``, ``adamw``
            or ``nadam``.
        recorder: ``fitdiag`` (``FitDiagCallback`` at its defaults) or ``tensorboard`` (only
            ``keras.callbacks.TensorBoard``).
        half: ``tune`` or ``report``.
        fault: The injected fault, in words (``none: ...`` for healthy runs).
        expected: Findings the diagnosis must report (warning or error); empty when healthy.
        allowed: Findings that are acceptable consequences of the fault.
        cause: The root cause the headline must name; empty for healthy runs.
        fast: Part of the quick subset that the test suite trains.
        script: The complete training script.
    """

    name: str
    arch: str
    data: str
    optimizer: str
    recorder: str
    half: str
    fault: str
    expected: frozenset[str]
    allowed: frozenset[str]
    cause: str
    fast: bool
    script: str

    @property
    def healthy(self) -> bool:
        """True for a run without an injected fault."""
        return not self.expected


# ---------------------------------------------------------------------------------------------
# Script building blocks. Each run's script is a header (imports, log_dir from argv, seeds), a
# body written for the run, and a footer that saves the Keras history next to the logs. In a
# body, CALLBACK stands for the recorder: FitDiagCallback or keras.callbacks.TensorBoard.

_CALLBACKS = {
    "fitdiag": "FitDiagCallback(log_dir=log_dir)",
    "tensorboard": "keras.callbacks.TensorBoard(log_dir=log_dir)",
}

_FOOTER = """
os.makedirs(log_dir, exist_ok=True)
with open(os.path.join(log_dir, "history.json"), "w") as f:
    json.dump({key: [float(v) for v in values] for key, values in history.history.items()}, f)
"""


def _script(doc: str, recorder: str, seed: int, body: str, *, tf_keras: bool = False) -> str:
    """Assembles one training script."""
    summary = doc.strip()[0].upper() + doc.strip()[1:]
    if len(summary) > 94:
        summary = textwrap.fill(summary, width=96) + "\n"
    lines = ['"""' + summary + '"""', "", "import json", "import os", "import sys", ""]
    lines += ["import numpy as np", "from tensorflow import keras"] if tf_keras else []
    lines += [] if tf_keras else ["import keras", "import numpy as np"]
    if recorder == "fitdiag":
        lines += ["", "from tb_fitdiag import FitDiagCallback"]
    lines += [
        "",
        "log_dir = sys.argv[1]",
        f"keras.utils.set_random_seed({seed})",
        f"rng = np.random.default_rng({seed})",
        "",
    ]
    text = "\n".join(lines) + "\n" + textwrap.dedent(body).strip() + "\n" + _FOOTER
    return text.replace("CALLBACK", _CALLBACKS[recorder])


def _binary(n: int, d: int, noise: float = 0.5) -> str:
    """Tabular binary classification: a noisy linear rule on standard-normal features."""
    return f"""
    x = rng.normal(size=({n}, {d})).astype("float32")
    w_true = rng.normal(size={d})
    y = (x @ w_true + {noise} * rng.normal(size={n}) > 0).astype("float32")
    """


def _classes(n: int, d: int, classes: int, spread: float = 1.5) -> str:
    """Tabular multi-class classification: Gaussian blobs around random centres."""
    return f"""
    centers = rng.normal(scale={spread}, size=({classes}, {d}))
    y = rng.integers(0, {classes}, size={n})
    x = (centers[y] + rng.normal(size=({n}, {d}))).astype("float32")
    """


def _regression(n: int, d: int) -> str:
    """Tabular regression: a smooth nonlinear target of standard-normal features."""
    return f"""
    x = rng.normal(size=({n}, {d})).astype("float32")
    w_true = rng.normal(size={d}) / np.sqrt({d})
    y = (np.tanh(x @ w_true) + 0.3 * x[:, 0] + 0.1 * rng.normal(size={n})).astype("float32")
    """


def _stripes(n: int, size: int = 12, noise: float = 0.8) -> str:
    """Images of three classes: horizontal stripes, vertical stripes, a checkerboard."""
    return f"""
    rows, cols = np.mgrid[0:{size}, 0:{size}]
    y = rng.integers(0, 3, size={n})
    phase = rng.uniform(0, 2 * np.pi, size=({n}, 1, 1))
    horizontal = np.sin(1.6 * rows + phase)
    vertical = np.sin(1.6 * cols + phase)
    checker = np.sign(horizontal * vertical)
    label = y[:, None, None]
    images = np.where(label == 0, horizontal, np.where(label == 1, vertical, checker))
    x = (images + {noise} * rng.normal(size=images.shape))[..., None].astype("float32")
    """


def _sequences(n: int, steps: int = 12, features: int = 3) -> str:
    """Sequences whose class is the feature with the largest sum over time."""
    return f"""
    x = rng.normal(size=({n}, {steps}, {features})).astype("float32")
    y = np.argmax(x.sum(axis=1), axis=1)
    """


# ---------------------------------------------------------------------------------------------
# The catalogue


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


# Each entry: (fault class, the ZooRun fields but the half). The fault class only decides the
# halves (see _build).
_Entry = tuple[str, dict[str, Any]]
_ENTRIES: list[_Entry] = []


def _add(
    klass: str,
    name: str,
    *,
    arch: str,
    data: str,
    optimizer: str,
    fault: str,
    body: str,
    seed: int,
    recorder: str = "fitdiag",
    expected: frozenset[str] = frozenset(),
    allowed: frozenset[str] = frozenset(),
    cause: str = "",
    fast: bool = False,
    tf_keras: bool = False,
) -> None:
    """Adds one run to the catalogue; ``klass`` is its fault class (it decides the halves),
    ``body`` the script's data, model, compile and fit, and ``seed`` the script's seeds;
    ``tf_keras`` imports Keras as ``from tensorflow import keras``."""
    fields = {
        "name": name,
        "arch": arch,
        "data": data,
        "optimizer": optimizer,
        "recorder": recorder,
        "fault": fault,
        "expected": expected,
        "allowed": allowed - expected,
        "cause": cause,
        "fast": fast,
    }
    script = _script(fault, recorder, seed, body, tf_keras=tf_keras)
    _ENTRIES.append((klass, {**fields, "script": script}))


# ---- healthy runs: each trains (the loss falls, validation accuracy is well above chance) ----

_add(
    "healthy",
    "healthy_mlp_adam",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: standardized features, a small ReLU MLP, Adam at its default rate",
    seed=1,
    fast=True,
    body=_binary(800, 16)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(16,)),
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
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_mlp_momentum",
    arch="mlp",
    data="tabular",
    optimizer="momentum",
    fault="none: four Gaussian classes, SGD 0.05 with Nesterov momentum 0.9",
    seed=2,
    fast=True,
    body=_classes(800, 10, 4)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_cnn_adam",
    arch="cnn",
    data="image",
    optimizer="adam",
    fault="none: a small CNN on 12x12 stripe images, Adam 3e-3",
    seed=3,
    body=_stripes(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_cnn_augment",
    arch="cnn",
    data="image",
    optimizer="adam",
    fault="none: a CNN with RandomFlip and RandomTranslation augmentation layers",
    seed=4,
    body=_stripes(600)
    + """
    augment = keras.Sequential(
        [keras.layers.RandomFlip("horizontal"), keras.layers.RandomTranslation(0.15, 0.15)]
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            augment,
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_lstm_rmsprop",
    arch="rnn",
    data="sequence",
    optimizer="rmsprop",
    fault="none: one LSTM layer on short sequences, RMSprop 3e-3",
    seed=5,
    body=_sequences(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.LSTM(16),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_gru_adam",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    fault="none: one GRU layer on short sequences, Adam 3e-3",
    seed=6,
    body=_sequences(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.GRU(16),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_functional_adamw",
    arch="functional",
    data="sequence",
    optimizer="adamw",
    fault="none: a two-input functional model (a sequence and a feature vector), AdamW",
    seed=7,
    body="""
    sequences = rng.normal(size=(700, 10, 2)).astype("float32")
    features = rng.normal(size=(700, 6)).astype("float32")
    w_true = rng.normal(size=6)
    score = sequences[:, :, 0].sum(axis=1) / np.sqrt(10) + features @ w_true / np.sqrt(6)
    y = (score > 0).astype("float32")

    seq_in = keras.Input(shape=(10, 2), name="sequence")
    feat_in = keras.Input(shape=(6,), name="features")
    h_seq = keras.layers.GRU(12)(seq_in)
    h_feat = keras.layers.Dense(12, activation="relu")(feat_in)
    h = keras.layers.Concatenate()([h_seq, h_feat])
    h = keras.layers.Dense(16, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([seq_in, feat_in], out)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=3e-3, weight_decay=1e-4),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        [sequences[:560], features[:560]],
        y[:560],
        validation_data=([sequences[560:], features[560:]], y[560:]),
        epochs=15,
        batch_size=32,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_subclassed_sgd",
    arch="subclassed",
    data="tabular",
    optimizer="sgd",
    fault="none: a subclassed keras.Model with two hidden layers, plain SGD 0.1",
    seed=8,
    body=_classes(800, 12, 3)
    + """

    class Classifier(keras.Model):
        def __init__(self, hidden=32, classes=3):
            super().__init__()
            self.hidden1 = keras.layers.Dense(hidden, activation="relu")
            self.hidden2 = keras.layers.Dense(hidden, activation="relu")
            self.head = keras.layers.Dense(classes, activation="softmax")

        def call(self, inputs):
            return self.head(self.hidden2(self.hidden1(inputs)))


    model = Classifier()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_noisy_batch8",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: batch size 8 and 15% flipped labels (a noisy but healthy loss curve)",
    seed=9,
    body=_binary(300, 8, noise=0.3)
    + """
    flip = rng.random(300) < 0.15
    y = np.where(flip, 1.0 - y, y).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=8,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_noisy_batch4",
    arch="mlp",
    data="tabular",
    optimizer="momentum",
    fault="none: batch size 4 and 10% wrong labels, SGD with momentum",
    seed=10,
    body=_classes(300, 6, 3, spread=1.2)
    + """
    wrong = rng.random(300) < 0.1
    y = np.where(wrong, rng.integers(0, 3, size=300), y)

    model = keras.Sequential(
        [
            keras.Input(shape=(6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.005, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=12,
        batch_size=4,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_class_weight",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: 10% positives, trained with class_weight",
    seed=11,
    body="""
    n = 1000
    y = (rng.random(n) < 0.1).astype("float32")
    x = rng.normal(size=(n, 8)).astype("float32")
    x[:, :3] += 2.0 * y[:, None]

    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=2e-3),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        class_weight={0: 0.55, 1: 5.0},
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_class_weight_multiclass",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="none: three classes at 80/15/5%, trained with balanced class weights",
    seed=12,
    body="""
    n = 1000
    y = rng.choice(3, size=n, p=[0.8, 0.15, 0.05])
    centers = rng.normal(scale=2.0, size=(3, 10))
    x = (centers[y] + rng.normal(size=(n, 10))).astype("float32")
    counts = np.bincount(y, minlength=3)
    class_weight = {k: n / (3 * counts[k]) for k in range(3)}

    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(24, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        class_weight=class_weight,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_exponential_decay",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="none: SGD with an ExponentialDecay schedule from 0.2",
    seed=13,
    body=_binary(800, 12)
    + """
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.2, decay_steps=100, decay_rate=0.7
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_cosine_decay",
    arch="cnn",
    data="image",
    optimizer="adamw",
    fault="none: AdamW with a CosineDecay schedule and warm-up",
    seed=14,
    body=_stripes(600)
    + """
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=1e-4, decay_steps=200, warmup_target=5e-3, warmup_steps=30
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_reduce_lr_on_plateau",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: Adam 5e-3 halved by ReduceLROnPlateau when the validation loss stalls",
    seed=15,
    body=_regression(800, 10)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-3), loss="mse")
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK, reduce_lr],
    )
    """,
)

_add(
    "healthy",
    "healthy_early_convergence",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: well separated classes; the loss reaches ~0 in a few epochs and stays flat",
    seed=16,
    body=_classes(800, 8, 3, spread=6.0)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_tb_linear_target",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="none: a noise-free linear target, RMSprop 3e-3, recorded only by keras TensorBoard",
    seed=17,
    recorder="tensorboard",
    body="""
    x = rng.normal(size=(800, 6)).astype("float32")
    y = (x @ rng.normal(size=6)).astype("float32")

    model = keras.Sequential(
        [keras.Input(shape=(6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=3e-3), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_cnn_early_convergence",
    arch="cnn",
    data="image",
    optimizer="momentum",
    fault="none: an easy image task; the loss falls to ~1e-4 within a few epochs and stays flat",
    seed=25,
    body=_stripes(600, noise=0.8)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_tb_mlp",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="none: a small MLP recorded only by keras TensorBoard",
    seed=18,
    recorder="tensorboard",
    fast=True,
    body=_binary(800, 12)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_tb_cnn",
    arch="cnn",
    data="image",
    optimizer="rmsprop",
    fault="none: a small CNN recorded only by keras TensorBoard",
    seed=19,
    recorder="tensorboard",
    tf_keras=True,
    body=_stripes(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_tb_gru",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    fault="none: a GRU recorded only by keras TensorBoard",
    seed=20,
    recorder="tensorboard",
    body=_sequences(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.GRU(16),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_tb_regression",
    arch="mlp",
    data="tabular",
    optimizer="momentum",
    fault="none: a regression MLP with SGD and momentum, recorded only by keras TensorBoard",
    seed=21,
    recorder="tensorboard",
    body=_regression(800, 8)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="mse",
        metrics=["mae"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_gaussian_noise",
    arch="mlp",
    data="tabular",
    optimizer="nadam",
    fault="none: GaussianNoise input augmentation and dropout, Nadam",
    seed=22,
    body=_classes(800, 10, 4)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.GaussianNoise(0.5),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_regression_rmsprop",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="none: a regression MLP, RMSprop 1e-3",
    seed=23,
    body=_regression(800, 10)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "healthy",
    "healthy_functional_two_tables",
    arch="functional",
    data="tabular",
    optimizer="adam",
    fault="none: a functional model over two feature tables (customer and product features)",
    seed=24,
    body="""
    customers = rng.normal(size=(800, 6)).astype("float32")
    products = rng.normal(size=(800, 4)).astype("float32")
    score = customers[:, :4] * products
    y = (score.sum(axis=1) + 0.3 * rng.normal(size=800) > 0).astype("float32")

    customer_in = keras.Input(shape=(6,), name="customer")
    product_in = keras.Input(shape=(4,), name="product")
    merged = keras.layers.Concatenate()(
        [
            keras.layers.Dense(16, activation="relu")(customer_in),
            keras.layers.Dense(16, activation="relu")(product_in),
        ]
    )
    hidden = keras.layers.Dense(32, activation="relu")(merged)
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model(inputs=[customer_in, product_in], outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        {"customer": customers, "product": products},
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- non-finite-loss: the training loss becomes NaN or Inf ------------------------------------

_DIVERGED = _fs(
    "diverging-loss",
    "exploding-gradients",
    "update-ratio-too-high",
    "dead-units",
    "oscillating-loss",
    "loss-plateau",
)

# A network that blew up and then collapsed (dead units, a constant output) also shows tiny
# updates and no gradient at its first layer.
_COLLAPSED = _DIVERGED | _fs("vanishing-gradients", "update-ratio-too-low")

_add(
    "non-finite",
    "nan_sgd_rate_5",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="SGD at learning rate 5 on a standardized regression",
    seed=33,
    fast=True,
    expected=_fs("non-finite-loss", "exploding-gradients"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_regression(800, 8)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=5.0), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "non-finite",
    "nan_tb_sgd_scaled_rate",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    recorder="tensorboard",
    fault="SGD whose rate is scaled with the batch size at run time (to 4.0): NaN loss",
    seed=34,
    expected=_fs("non-finite-loss"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_regression(800, 8)
    + """
    batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    base_rate = 0.0625  # per 1 sample, scaled linearly with the batch size
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=base_rate * batch_size), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=batch_size,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "non-finite",
    "nan_sgd_rate_50",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="SGD at learning rate 50 on a ReLU MLP classifier: the loss is Inf by step 4, then NaN",
    seed=42,
    expected=_fs("non-finite-loss", "exploding-gradients"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_classes(800, 10, 4)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=50.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "numerical",
    "nan_msle_handwritten",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="a hand-written MSLE loss: log(1 + y_pred) of a linear output below -1 is NaN",
    seed=35,
    fast=True,
    expected=_fs("non-finite-loss"),
    cause="numerical-error",
    body=_regression(800, 8)
    + """
    y = np.abs(y) * 10.0


    def msle(y_true, y_pred):
        return keras.ops.mean(
            keras.ops.square(keras.ops.log(1.0 + y_pred) - keras.ops.log(1.0 + y_true))
        )


    model = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=msle)
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "numerical",
    "nan_log_loss_cnn",
    arch="cnn",
    data="image",
    optimizer="rmsprop",
    fault="a hand-written cross-entropy on a linear output: the log of negative predictions",
    seed=36,
    expected=_fs("non-finite-loss"),
    cause="numerical-error",
    body=_stripes(600)
    + """
    labels = keras.utils.to_categorical(y, 3)


    def cross_entropy(y_true, y_pred):
        return -keras.ops.mean(keras.ops.sum(y_true * keras.ops.log(y_pred), axis=-1))


    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(optimizer="rmsprop", loss=cross_entropy, metrics=["accuracy"])
    history = model.fit(
        x,
        labels,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "numerical",
    "nan_log_of_feature",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="np.log of a feature that is sometimes negative: NaN inputs, a NaN loss from the "
    "first batch",
    seed=37,
    expected=_fs("non-finite-loss"),
    cause="numerical-error",
    body="""
    n = 800
    income = rng.normal(50.0, 30.0, size=n)  # some incomes are negative (debts)
    age = rng.uniform(18, 80, size=n)
    spending = 0.3 * np.abs(income) + 0.2 * age + rng.normal(scale=2.0, size=n)
    x = np.stack([np.log(income), (age - 50) / 20], axis=1).astype("float32")
    y = ((spending - spending.mean()) / spending.std()).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "numerical",
    "nan_feature_relu_masked",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="np.log of a feature that is sometimes negative; the first ReLU maps the NaN inputs to "
    "0, so the loss stays finite and flat while the first layer's gradient is NaN",
    seed=30,
    expected=_fs("loss-plateau"),
    allowed=_fs("exploding-gradients", "dead-units", "vanishing-gradients"),
    cause="numerical-error",
    body="""
    n = 800
    income = rng.normal(50.0, 30.0, size=n)  # some incomes are negative (debts)
    age = rng.uniform(18, 80, size=n)
    spending = 0.3 * np.abs(income) + 0.2 * age + rng.normal(scale=2.0, size=n)
    x = np.stack([np.log(income), (age - 50) / 20], axis=1).astype("float32")
    y = ((spending - spending.mean()) / spending.std()).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "numerical",
    "nan_tb_log_loss_gru",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    recorder="tensorboard",
    fault="a hand-written log loss on a tanh output (negative predictions), recorded by keras "
    "TensorBoard",
    seed=38,
    expected=_fs("non-finite-loss"),
    cause="numerical-error",
    body=_sequences(600)
    + """
    target = (y == 0).astype("float32")


    def log_loss(y_true, y_pred):
        y_pred = keras.ops.squeeze(y_pred, axis=-1)
        log_likelihood = y_true * keras.ops.log(y_pred) + (1 - y_true) * keras.ops.log(1 - y_pred)
        return -keras.ops.mean(log_likelihood)


    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.GRU(16),
            keras.layers.Dense(1, activation="tanh"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=log_loss)
    history = model.fit(
        x,
        target,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- diverging-loss: the loss rises far above its initial or best value -----------------------

_add(
    "diverging",
    "raw_pixels_adam_blowup",
    arch="mlp",
    data="image",
    optimizer="adam",
    fault="a ReLU MLP on raw 0-255 pixels (flattened 28x28 images, 10 classes), Adam 0.02: the "
    "batch loss goes from hundreds to tens of thousands in epoch 0, then accuracy is at chance "
    "and the loss at ln(10); the same model on pixels / 255 trains to 100%",
    seed=41,
    fast=True,
    expected=_fs("diverging-loss", "dead-units"),
    allowed=_COLLAPSED,
    cause="missing-input-normalization",
    body="""
    n = 1000
    templates = rng.uniform(0, 255, size=(10, 28, 28))
    y = rng.integers(0, 10, size=n)
    images = np.clip(templates[y] + rng.normal(scale=100.0, size=(n, 28, 28)), 0, 255)
    x = images.astype("uint8").reshape(n, 784).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "raw_pixels_cnn_sgd_collapse",
    arch="cnn",
    data="image",
    optimizer="momentum",
    fault="a CNN on raw 0-255 pixel values, SGD 0.01 with momentum: the loss blows up in epoch "
    "0, then every unit is dead and the loss sits at ln(3)",
    seed=32,
    expected=_fs("diverging-loss", "dead-units"),
    allowed=_COLLAPSED,
    cause="missing-input-normalization",
    body=_stripes(600)
    + """
    pixels = np.clip(127.5 + 100.0 * x, 0, 255).astype("uint8")

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        pixels.astype("float32"),
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "adam_lr_1_example",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="examples/train_lr_too_high.py: Adam at learning rate 1.0 on a 64-64 ReLU MLP",
    seed=0,
    expected=_fs("diverging-loss", "dead-units"),
    allowed=_COLLAPSED,
    cause="learning-rate-too-high",
    body="""
    LEARNING_RATE = 1.0

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
    history = model.fit(
        features,
        labels,
        epochs=30,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "rmsprop_tanh_jump",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="RMSprop at learning rate 1.0 on a tanh MLP: the loss jumps to many times its "
    "initial value in the first epoch, then decreases slowly and ends far above it",
    seed=113,
    expected=_fs("diverging-loss", "update-ratio-too-high"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_binary(800, 16)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(16,)),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1.0),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "raw_units_sgd_blowup",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="house prices from raw square feet and years (values in the thousands), SGD 0.01: "
    "the loss jumps from 1e5 to 1e22 in two steps, the ReLU layer dies",
    seed=31,
    expected=_fs("diverging-loss", "exploding-gradients", "dead-units"),
    allowed=_COLLAPSED,
    cause="missing-input-normalization",
    body="""
    n = 800
    area = rng.uniform(500, 4000, size=n)
    year = rng.uniform(1950, 2020, size=n)
    rooms = rng.integers(1, 8, size=n)
    x = np.stack([area, year, rooms], axis=1).astype("float32")
    y = (0.1 * area + 2.0 * (year - 1950) + 15.0 * rooms + rng.normal(scale=20, size=n)) / 100

    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    history = model.fit(
        x,
        y.astype("float32"),
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "sgd_huge_rate_collapse",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="SGD at learning rate 20 on a ReLU MLP: epoch-0 loss ~1e13, then the network "
    "collapses to a constant output",
    seed=47,
    expected=_fs("diverging-loss", "dead-units"),
    allowed=_COLLAPSED | _fs("non-finite-loss", "overfitting"),
    cause="learning-rate-too-high",
    body=_binary(800, 12, noise=0.0)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=20.0),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "adam_growing_rate",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="ExponentialDecay with decay_rate=2.0 (meant 0.5): the Adam rate doubles every 50 "
    "steps; the loss falls, then rises far above its minimum",
    seed=48,
    expected=_fs("diverging-loss"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_binary(800, 16)
    + """
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=3e-3, decay_steps=50, decay_rate=2.0
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(16,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "tb_adam_growing_rate",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    recorder="tensorboard",
    fault="a learning-rate schedule that grows (ExponentialDecay with decay_rate=2.0): the loss "
    "falls, then rises far above its minimum (keras TensorBoard)",
    seed=49,
    expected=_fs("diverging-loss"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_regression(800, 8)
    + """
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=2e-3, decay_steps=40, decay_rate=2.0
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "raw_income_sgd_collapse",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="credit scoring from incomes in dollars and ages in years, unscaled, SGD 0.01: the "
    "loss jumps to 1e8 in the first steps, then the ReLU layer is dead",
    seed=39,
    expected=_fs("diverging-loss", "dead-units"),
    allowed=_COLLAPSED,
    cause="missing-input-normalization",
    body="""
    n = 800
    income = rng.uniform(20_000, 150_000, size=n)
    age = rng.uniform(18, 80, size=n)
    debt = rng.uniform(0, 50_000, size=n)
    x = np.stack([income, age, debt], axis=1).astype("float32")
    y = (income - 2 * debt + 500 * (age - 40) > 40_000).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "rmsprop_rate_jump",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="RMSprop at 0.1: the batch loss spikes 100x in the first steps, then training recovers "
    "with large swings",
    seed=43,
    expected=_fs("diverging-loss"),
    allowed=_DIVERGED | _fs("overfitting"),
    cause="learning-rate-too-high",
    body=_binary(800, 16)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(16,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "diverging",
    "tb_nadam_rate_jump",
    arch="cnn",
    data="image",
    optimizer="nadam",
    recorder="tensorboard",
    fault="Nadam at 0.3 on a CNN, recorded by keras TensorBoard",
    seed=46,
    expected=_fs("diverging-loss"),
    allowed=_DIVERGED,
    cause="learning-rate-too-high",
    body=_stripes(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=0.3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- oscillating-loss: the epoch loss swings up and down for the whole run -------------------

_add(
    "oscillating",
    "momentum_edge_of_divergence",
    arch="mlp",
    data="tabular",
    optimizer="momentum",
    fault="SGD with momentum 0.97 at 0.06 and batches of 16, just below divergence: the epoch "
    "loss goes up and down by large amounts for the whole run",
    seed=4,
    expected=_fs("oscillating-loss"),
    allowed=_fs(
        "update-ratio-too-high",
        "exploding-gradients",
        "diverging-loss",
        "dead-units",
        "overfitting",
        "loss-plateau",
    ),
    cause="learning-rate-too-high",
    body=_classes(800, 10, 4, spread=1.0)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.06, momentum=0.97),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=16,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "oscillating",
    "adam_warm_restarts_regression",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="warm restarts (CosineDecayRestarts) every 2 epochs with a peak Adam rate of 0.3: the "
    "epoch loss goes up at every restart and down after it, for the whole run",
    seed=52,
    expected=_fs("oscillating-loss"),
    allowed=_fs(
        "update-ratio-too-high",
        "exploding-gradients",
        "diverging-loss",
        "dead-units",
        "overfitting",
    ),
    cause="learning-rate-too-high",
    body=_regression(800, 8)
    + """
    batch_size = 32
    steps_per_epoch = int(0.8 * len(x)) // batch_size
    schedule = keras.optimizers.schedules.CosineDecayRestarts(
        initial_learning_rate=0.3, first_decay_steps=2 * steps_per_epoch, t_mul=1.0
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=batch_size,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "oscillating",
    "tb_adam_warm_restarts_classifier",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    recorder="tensorboard",
    fault="warm restarts every 3 epochs with a peak Adam rate of 0.3 on a classifier, recorded "
    "by keras TensorBoard",
    seed=53,
    expected=_fs("oscillating-loss"),
    allowed=_fs("diverging-loss", "overfitting"),
    cause="learning-rate-too-high",
    body=_classes(800, 10, 4, spread=1.0)
    + """
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.3, first_decay_steps=60, t_mul=1.0)
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "oscillating",
    "tb_rmsprop_warm_restarts_gru",
    arch="rnn",
    data="sequence",
    optimizer="rmsprop",
    recorder="tensorboard",
    fault="warm restarts every 2 epochs with a peak RMSprop rate of 0.05 on a GRU, recorded by "
    "keras TensorBoard",
    seed=54,
    expected=_fs("oscillating-loss"),
    allowed=_fs("diverging-loss", "overfitting"),
    cause="learning-rate-too-high",
    body=_sequences(600)
    + """
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.05, first_decay_steps=30, t_mul=1.0)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.GRU(16),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=16,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "oscillating",
    "tb_momentum_edge_of_divergence",
    arch="mlp",
    data="tabular",
    optimizer="momentum",
    fault="SGD with momentum 0.97 at 0.06 and batches of 16, just below divergence: the epoch "
    "loss goes up and down by large amounts for the whole run (keras TensorBoard)",
    seed=5,
    recorder="tensorboard",
    expected=_fs("oscillating-loss"),
    allowed=_fs("diverging-loss", "overfitting", "loss-plateau"),
    cause="learning-rate-too-high",
    body=_classes(800, 10, 4, spread=1.0)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.06, momentum=0.97),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=16,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- loss-plateau: the loss barely moves over the whole run ---------------------------------

_STALLED = _fs("update-ratio-too-low", "vanishing-gradients", "dead-units")

_add(
    "plateau",
    "no_signal_five_classes",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="labels drawn independently of the features (5 classes): the loss stays at ln(5) "
    "and accuracy at chance",
    seed=61,
    expected=_fs("loss-plateau"),
    allowed=_fs("overfitting"),
    cause="no-signal",
    body="""
    x = rng.normal(size=(6000, 12)).astype("float32")
    y = rng.integers(0, 5, size=6000)

    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=10,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "plateau",
    "no_signal_images",
    arch="cnn",
    data="image",
    optimizer="rmsprop",
    fault="image labels shuffled away from the images (3 classes): the loss stays at ln(3)",
    seed=62,
    expected=_fs("loss-plateau"),
    allowed=_fs("overfitting"),
    cause="no-signal",
    body=_stripes(900)
    + """
    y = rng.permutation(y)  # the labels were shuffled separately from the images

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "plateau",
    "tb_no_signal_gru",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    recorder="tensorboard",
    fault="sequence labels without signal (4 classes), recorded by keras TensorBoard",
    seed=63,
    expected=_fs("loss-plateau"),
    allowed=_fs("overfitting"),
    cause="no-signal",
    body="""
    x = rng.normal(size=(1000, 10, 3)).astype("float32")
    y = rng.integers(0, 4, size=1000)

    model = keras.Sequential(
        [
            keras.Input(shape=(10, 3)),
            keras.layers.GRU(8),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "plateau",
    "tb_no_signal_binary",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    recorder="tensorboard",
    fault="binary labels from a coin flip, recorded by keras TensorBoard",
    seed=64,
    expected=_fs("loss-plateau"),
    allowed=_fs("overfitting"),
    cause="no-signal",
    body="""
    x = rng.normal(size=(3000, 8)).astype("float32")
    y = (rng.random(3000) < 0.5).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "single-unit-softmax",
    "single_unit_softmax",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="Dense(1, activation='softmax') with binary cross-entropy: the softmax of one unit is "
    "always 1, so accuracy is constant (the positive rate) for all 15 epochs (the loss still "
    "falls: Keras computes the cross-entropy from the pre-softmax logit)",
    seed=65,
    fast=True,
    expected=_fs("loss-plateau"),
    allowed=_STALLED,
    cause="single-unit-softmax",
    body=_binary(800, 10)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "single-unit-softmax",
    "single_unit_softmax_functional",
    arch="functional",
    data="tabular",
    optimizer="rmsprop",
    fault="a two-input functional model ending in Dense(1, activation='softmax')",
    seed=66,
    expected=_fs("loss-plateau"),
    allowed=_STALLED,
    cause="single-unit-softmax",
    body="""
    users = rng.normal(size=(800, 5)).astype("float32")
    items = rng.normal(size=(800, 5)).astype("float32")
    y = ((users * items).sum(axis=1) > 0).astype("float32")

    user_in = keras.Input(shape=(5,))
    item_in = keras.Input(shape=(5,))
    h = keras.layers.Concatenate()([user_in, item_in])
    h = keras.layers.Dense(32, activation="relu")(h)
    click = keras.layers.Dense(1, activation="softmax")(h)
    model = keras.Model([user_in, item_in], click)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        [users, items],
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "single-unit-softmax",
    "tb_single_unit_softmax_cnn",
    arch="cnn",
    data="image",
    optimizer="adam",
    recorder="tensorboard",
    fault="a CNN ending in Dense(1, activation='softmax'), recorded by keras TensorBoard",
    seed=67,
    expected=_fs("loss-plateau"),
    cause="single-unit-softmax",
    body=_stripes(600)
    + """
    is_striped = (y < 2).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        is_striped,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "mismatch",
    "sigmoid_output_categorical_ce",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="one sigmoid output unit with categorical cross-entropy: the loss is exactly 0 from "
    "the first step, nothing trains, accuracy is constant",
    seed=68,
    expected=_fs("loss-plateau"),
    allowed=_STALLED,
    cause="output-activation-loss-mismatch",
    body=_binary(800, 10)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "mismatch",
    "tb_sigmoid_output_categorical_ce_gru",
    arch="rnn",
    data="sequence",
    optimizer="rmsprop",
    recorder="tensorboard",
    fault="a GRU with one sigmoid output and categorical cross-entropy (loss exactly 0), "
    "recorded by keras TensorBoard",
    seed=69,
    expected=_fs("loss-plateau"),
    cause="output-activation-loss-mismatch",
    body=_sequences(600)
    + """
    is_first = (y == 0).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.GRU(16),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        is_first,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- overfitting: validation loss rises for many epochs while training loss falls -------------

_add(
    "overfitting",
    "overfit_wide_mlp",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="a wide MLP on 40 noisy training samples for 40 epochs",
    seed=71,
    fast=True,
    expected=_fs("overfitting"),
    cause="overfitting",
    body=_binary(80, 20, noise=2.0)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(20,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=40,
        batch_size=8,
        validation_split=0.5,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "overfitting",
    "overfit_cnn_few_images",
    arch="cnn",
    data="image",
    optimizer="adam",
    fault="a CNN with a large dense head on 60 very noisy images for 40 epochs",
    seed=72,
    expected=_fs("overfitting"),
    cause="overfitting",
    body=_stripes(120, noise=2.5)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=40,
        batch_size=8,
        validation_split=0.5,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "overfitting",
    "overfit_gru_few_sequences",
    arch="rnn",
    data="sequence",
    optimizer="rmsprop",
    fault="a wide GRU on 60 short noisy sequences for 40 epochs",
    seed=73,
    expected=_fs("overfitting"),
    cause="overfitting",
    body="""
    x = rng.normal(size=(120, 8, 4)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) + 2.0 * rng.normal(size=120) > 0).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(8, 4)),
            keras.layers.GRU(64),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=3e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x[:60],
        y[:60],
        validation_data=(x[60:], y[60:]),
        epochs=40,
        batch_size=8,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "overfitting",
    "tb_overfit_wide_mlp",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    recorder="tensorboard",
    fault="a wide MLP on 50 noisy samples for 40 epochs, recorded by keras TensorBoard",
    seed=74,
    expected=_fs("overfitting"),
    cause="overfitting",
    body=_classes(100, 16, 3, spread=0.35)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(16,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=40,
        batch_size=8,
        validation_split=0.5,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "overfitting",
    "tb_overfit_regression",
    arch="subclassed",
    data="tabular",
    optimizer="adamw",
    recorder="tensorboard",
    fault="a wide subclassed regressor on 40 noisy samples for 40 epochs (keras TensorBoard)",
    seed=75,
    expected=_fs("overfitting"),
    cause="overfitting",
    body="""
    x = rng.normal(size=(80, 10)).astype("float32")
    y = (x[:, 0] + rng.normal(scale=1.0, size=80)).astype("float32")


    class Regressor(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = [keras.layers.Dense(256, activation="relu") for _ in range(2)]
            self.out = keras.layers.Dense(1)

        def call(self, inputs):
            h = inputs
            for layer in self.body:
                h = layer(h)
            return self.out(h)


    model = Regressor()
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=40,
        batch_size=8,
        validation_split=0.5,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "overfitting",
    "tb_overfit_functional",
    arch="functional",
    data="sequence",
    optimizer="adam",
    recorder="tensorboard",
    fault="a two-input functional model on 60 noisy samples for 40 epochs (keras TensorBoard)",
    seed=76,
    expected=_fs("overfitting"),
    cause="overfitting",
    body="""
    n = 120
    sequences = rng.normal(size=(n, 6, 3)).astype("float32")
    features = rng.normal(size=(n, 8)).astype("float32")
    signal = sequences[:, :, 0].mean(axis=1) + features[:, 0]
    y = (signal + 1.5 * rng.normal(size=n) > 0).astype("float32")

    seq_in = keras.Input(shape=(6, 3))
    feat_in = keras.Input(shape=(8,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(seq_in), feat_in])
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([seq_in, feat_in], out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        [sequences[:60], features[:60]],
        y[:60],
        validation_data=([sequences[60:], features[60:]], y[60:]),
        epochs=40,
        batch_size=8,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- exploding-gradients: gradients in the hundreds or more, or non-finite --------------------

_add(
    "exploding",
    "bad_init_deep_relu",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="eight ReLU layers initialised with RandomNormal(stddev=1.0): gradients in the "
    "hundreds to thousands, kept finite by Adam",
    seed=81,
    fast=True,
    expected=_fs("exploding-gradients"),
    allowed=_fs("diverging-loss", "oscillating-loss", "dead-units", "update-ratio-too-high"),
    cause="bad-initialization",
    body=_binary(800, 16)
    + """
    init = keras.initializers.RandomNormal(stddev=1.0)
    model = keras.Sequential([keras.Input(shape=(16,))])
    for _ in range(8):
        model.add(keras.layers.Dense(64, activation="relu", kernel_initializer=init))
    model.add(keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "exploding",
    "bad_init_deep_relu_regression",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="six ReLU layers initialised with RandomNormal(stddev=0.5) on a regression: "
    "gradients in the hundreds to thousands",
    seed=82,
    expected=_fs("exploding-gradients"),
    allowed=_fs("diverging-loss", "oscillating-loss", "dead-units", "update-ratio-too-high"),
    cause="bad-initialization",
    body=_regression(800, 8)
    + """
    init = keras.initializers.RandomNormal(stddev=0.5)
    layers = [keras.Input(shape=(8,))]
    layers += [keras.layers.Dense(64, activation="relu", kernel_initializer=init) for _ in range(6)]
    layers += [keras.layers.Dense(1, kernel_initializer=init)]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "exploding",
    "bad_init_cnn",
    arch="cnn",
    data="image",
    optimizer="rmsprop",
    fault="a CNN whose kernels are initialised with RandomNormal(stddev=1.5)",
    seed=83,
    expected=_fs("exploding-gradients"),
    allowed=_fs("diverging-loss", "oscillating-loss", "dead-units", "update-ratio-too-high"),
    cause="bad-initialization",
    body=_stripes(600)
    + """
    big = keras.initializers.RandomNormal(stddev=1.5)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=big),
            keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=big),
            keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=big),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", kernel_initializer=big),
            keras.layers.Dense(3, activation="softmax", kernel_initializer=big),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "exploding",
    "bad_init_simple_rnn",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    fault="a SimpleRNN (ReLU) over 30 steps with recurrent weights RandomNormal(stddev=0.5): "
    "gradients grow through time",
    seed=84,
    expected=_fs("exploding-gradients"),
    allowed=_fs("diverging-loss", "oscillating-loss", "dead-units", "update-ratio-too-high"),
    cause="bad-initialization",
    body=_sequences(600, steps=30)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(30, 3)),
            keras.layers.SimpleRNN(
                32,
                activation="relu",
                recurrent_initializer=keras.initializers.RandomNormal(stddev=0.5),
            ),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- vanishing-gradients: the first layers get ~1e-3 of the last layer's gradient -------------

_add(
    "vanishing",
    "deep_sigmoid_sgd",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="ten stacked sigmoid Dense layers trained with SGD 0.01",
    seed=91,
    fast=True,
    expected=_fs("vanishing-gradients"),
    allowed=_fs("loss-plateau", "update-ratio-too-low"),
    cause="deep-saturating-activations",
    body=_binary(800, 16)
    + """
    model = keras.Sequential([keras.Input(shape=(16,))])
    for _ in range(10):
        model.add(keras.layers.Dense(32, activation="sigmoid"))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "vanishing",
    "deep_sigmoid_example",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    tf_keras=True,
    fault="examples/train_deep_sigmoid.py: eight stacked sigmoid layers, SGD at its default",
    seed=0,
    expected=_fs("vanishing-gradients"),
    allowed=_fs("loss-plateau", "update-ratio-too-low"),
    cause="deep-saturating-activations",
    body="""
    features = rng.normal(size=(2000, 20)).astype("float32")
    weights = rng.normal(size=(20,))
    labels = (features @ weights + 0.5 * rng.normal(size=2000) > 0).astype("float32")

    model = keras.Sequential([keras.Input(shape=(20,))])
    for _ in range(8):
        model.add(keras.layers.Dense(32, activation="sigmoid"))
    model.add(keras.layers.Dense(1, activation="sigmoid"))

    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        features,
        labels,
        epochs=20,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "vanishing",
    "deep_sigmoid_momentum_images",
    arch="mlp",
    data="image",
    optimizer="momentum",
    fault="ten sigmoid layers on flattened images, SGD 0.01 with momentum 0.5",
    seed=92,
    expected=_fs("vanishing-gradients"),
    allowed=_fs("loss-plateau", "update-ratio-too-low"),
    cause="deep-saturating-activations",
    body=_stripes(600)
    + """
    model = keras.Sequential(
        [keras.Input(shape=(12, 12, 1)), keras.layers.Flatten()]
        + [keras.layers.Dense(32, activation="sigmoid") for _ in range(10)]
        + [keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.5),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "vanishing",
    "deep_sigmoid_subclassed_config",
    arch="subclassed",
    data="tabular",
    optimizer="sgd",
    fault="a subclassed model whose depth and activation come from a config at run time (ten "
    "sigmoid layers): a linter cannot see the stack",
    seed=93,
    expected=_fs("vanishing-gradients"),
    allowed=_fs("loss-plateau", "update-ratio-too-low"),
    cause="vanishing-gradients",
    body=_binary(800, 16)
    + """
    config = json.loads('{"depth": 10, "width": 32, "activation": "sigmoid"}')


    class Tower(keras.Model):
        def __init__(self, depth, width, activation):
            super().__init__()
            self.stack = [keras.layers.Dense(width, activation=activation) for _ in range(depth)]
            self.head = keras.layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            h = inputs
            for layer in self.stack:
                h = layer(h)
            return self.head(h)


    model = Tower(**config)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "vanishing",
    "deep_sigmoid_functional",
    arch="functional",
    data="tabular",
    optimizer="sgd",
    fault="a two-input functional model whose merged features pass through nine sigmoid layers",
    seed=94,
    expected=_fs("vanishing-gradients"),
    allowed=_fs("loss-plateau", "update-ratio-too-low"),
    cause="deep-saturating-activations",
    body="""
    left = rng.normal(size=(800, 8)).astype("float32")
    right = rng.normal(size=(800, 8)).astype("float32")
    y = (left[:, 0] - right[:, 0] > 0).astype("float32")

    left_in = keras.Input(shape=(8,))
    right_in = keras.Input(shape=(8,))
    h = keras.layers.Concatenate()([left_in, right_in])
    for _ in range(9):
        h = keras.layers.Dense(32, activation="sigmoid")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([left_in, right_in], out)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        [left, right],
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- dead-units: most ReLU units never fire ---------------------------------------------------

_add(
    "dead",
    "dead_relu_bias",
    arch="mlp",
    data="tabular",
    optimizer="adam",
    fault="ReLU layers whose bias is initialised to -5: the units never fire",
    seed=101,
    fast=True,
    expected=_fs("dead-units"),
    allowed=_fs("loss-plateau", "vanishing-gradients", "update-ratio-too-low"),
    cause="dead-units",
    body=_binary(800, 12)
    + """
    negative = keras.initializers.Constant(-5.0)
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(32, activation="relu", bias_initializer=negative),
            keras.layers.Dense(32, activation="relu", bias_initializer=negative),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "dead",
    "dead_relu_cnn",
    arch="cnn",
    data="image",
    optimizer="sgd",
    fault="Conv2D ReLU layers with bias initialised to -4",
    seed=102,
    expected=_fs("dead-units"),
    allowed=_fs("loss-plateau", "vanishing-gradients", "update-ratio-too-low"),
    cause="dead-units",
    body=_stripes(600)
    + """
    dead_bias = keras.initializers.Constant(-4.0)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu", bias_initializer="zeros"),
            keras.layers.Conv2D(16, 3, activation="relu", bias_initializer=dead_bias),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(16, activation="relu", bias_initializer=dead_bias),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "dead",
    "dead_relu_functional",
    arch="functional",
    data="tabular",
    optimizer="rmsprop",
    fault="a two-input functional model whose merged ReLU layer has bias -6",
    seed=103,
    expected=_fs("dead-units"),
    allowed=_fs("loss-plateau", "vanishing-gradients", "update-ratio-too-low"),
    cause="dead-units",
    body="""
    left = rng.normal(size=(800, 6)).astype("float32")
    right = rng.normal(size=(800, 6)).astype("float32")
    y = (left[:, 0] + right[:, 1] > 0).astype("float32")

    a = keras.Input(shape=(6,))
    b = keras.Input(shape=(6,))
    h = keras.layers.Concatenate()([a, b])
    dead_bias = keras.initializers.Constant(-6.0)
    h = keras.layers.Dense(64, activation="relu", bias_initializer=dead_bias)(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([a, b], out)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        [left, right],
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "dead",
    "dead_relu_subclassed",
    arch="subclassed",
    data="sequence",
    optimizer="adam",
    fault="a subclassed model over flattened sequences whose ReLU layers start with bias -5",
    seed=104,
    expected=_fs("dead-units"),
    allowed=_fs("loss-plateau", "vanishing-gradients", "update-ratio-too-low"),
    cause="dead-units",
    body=_sequences(600)
    + """

    class SequenceClassifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten = keras.layers.Flatten()
            bias = keras.initializers.Constant(-5.0)
            self.hidden = [
                keras.layers.Dense(32, activation="relu", bias_initializer=bias) for _ in range(2)
            ]
            self.out = keras.layers.Dense(3, activation="softmax")

        def call(self, inputs):
            h = self.flatten(inputs)
            for layer in self.hidden:
                h = layer(h)
            return self.out(h)


    model = SequenceClassifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- update-ratio-too-high: each step changes the weights by >10% -----------------------------

_add(
    "ratio-high",
    "sgd_linear_edge_rate",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="SGD on a linear regression at a rate computed at run time, just above the stable "
    "limit: the weights jump back and forth by ~40% each step, the loss stays stuck",
    seed=44,
    expected=_fs("update-ratio-too-high"),
    allowed=_fs("loss-plateau", "diverging-loss", "oscillating-loss", "overfitting"),
    cause="learning-rate-too-high",
    body=_regression(800, 8)
    + """
    x[:, 0] *= 3.0  # one feature with a larger spread
    curvature = 2.0 * float(np.max(np.linalg.eigvalsh(x.T @ x / len(x))))
    learning_rate = 2.1 / curvature

    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-high",
    "rmsprop_linear_rate_03",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="RMSprop at 0.3 on a linear regression: every step moves the weights by ~70% of "
    "their norm, the loss stays stuck well above its optimum",
    seed=111,
    fast=True,
    expected=_fs("update-ratio-too-high"),
    allowed=_fs("loss-plateau", "diverging-loss", "oscillating-loss"),
    cause="learning-rate-too-high",
    body="""
    x = rng.normal(size=(800, 8)).astype("float32")
    x[:, 0] *= 3.0
    y = (x @ rng.normal(size=8) / np.sqrt(8) + 0.3 * rng.normal(size=800)).astype("float32")

    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.3), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-high",
    "rmsprop_rate_from_config",
    arch="mlp",
    data="tabular",
    optimizer="rmsprop",
    fault="RMSprop at a rate parsed from a config string at run time (0.3) on a linear model",
    seed=112,
    expected=_fs("update-ratio-too-high"),
    allowed=_fs("loss-plateau", "diverging-loss", "oscillating-loss", "overfitting"),
    cause="learning-rate-too-high",
    body="""
    hparams = dict(item.split("=") for item in "lr=0.3,features=10".split(","))
    d = int(hparams["features"])
    x = rng.normal(size=(800, d)).astype("float32")
    x[:, :2] *= 2.0
    y = (x @ rng.normal(size=d) / np.sqrt(d) + 0.3 * rng.normal(size=800)).astype("float32")

    model = keras.Sequential([keras.Input(shape=(d,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(float(hparams["lr"])), loss="mse")
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-high",
    "rmsprop_conv1d_rate_03",
    arch="cnn",
    data="sequence",
    optimizer="rmsprop",
    fault="RMSprop at 0.3 on a small linear Conv1D model: the dense layer moves >10% per step",
    seed=113,
    expected=_fs("update-ratio-too-high"),
    allowed=_fs("loss-plateau", "diverging-loss", "oscillating-loss"),
    cause="learning-rate-too-high",
    body="""
    x = rng.normal(size=(600, 12, 3)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.Conv1D(4, 3),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---- update-ratio-too-low: the weights barely move ---------------------------------------------

_SLOW = _fs("vanishing-gradients")

_add(
    "ratio-low",
    "sgd_rate_1e-7",
    arch="mlp",
    data="tabular",
    optimizer="sgd",
    fault="SGD at learning rate 1e-7: the weights barely move",
    seed=121,
    fast=True,
    expected=_fs("update-ratio-too-low", "loss-plateau"),
    allowed=_SLOW,
    cause="learning-rate-too-low",
    body=_binary(800, 12)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-7),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-low",
    "sgd_warmup_never_ends",
    arch="cnn",
    data="image",
    optimizer="momentum",
    fault="a warm-up computed at run time that keeps the SGD rate at ~2e-7 for the whole run",
    seed=122,
    expected=_fs("update-ratio-too-low", "loss-plateau"),
    allowed=_SLOW,
    cause="learning-rate-too-low",
    body=_stripes(600)
    + """
    steps_per_epoch = 15
    warmup_epochs = int(np.ceil(1e4 / steps_per_epoch))
    peak_rate = 0.05
    initial_rate = peak_rate / (steps_per_epoch * warmup_epochs * 30)

    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=initial_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-low",
    "adam_rate_1e-9",
    arch="rnn",
    data="sequence",
    optimizer="adam",
    fault="Adam at learning rate 1e-9 on an LSTM (an exponent typo)",
    seed=123,
    expected=_fs("update-ratio-too-low", "loss-plateau"),
    allowed=_SLOW,
    cause="learning-rate-too-low",
    body=_sequences(600)
    + """
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            keras.layers.LSTM(16),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-low",
    "rmsprop_rate_1e-8_functional",
    arch="functional",
    data="tabular",
    optimizer="rmsprop",
    fault="RMSprop at learning rate 1e-8 on a two-input functional model",
    seed=124,
    expected=_fs("update-ratio-too-low", "loss-plateau"),
    allowed=_SLOW,
    cause="learning-rate-too-low",
    body="""
    a_data = rng.normal(size=(800, 5)).astype("float32")
    b_data = rng.normal(size=(800, 7)).astype("float32")
    y = (a_data.sum(axis=1) - b_data[:, 0] > 0).astype("float32")

    a = keras.Input(shape=(5,))
    b = keras.Input(shape=(7,))
    h = keras.layers.Concatenate()(
        [keras.layers.Dense(16, activation="relu")(a), keras.layers.Dense(16, activation="relu")(b)]
    )
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([a, b], out)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-8),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        [a_data, b_data],
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

_add(
    "ratio-low",
    "sgd_rate_scaled_subclassed",
    arch="subclassed",
    data="tabular",
    optimizer="sgd",
    fault="a subclassed model whose SGD rate is divided by the dataset size at run time "
    "(about 1e-7)",
    seed=125,
    expected=_fs("update-ratio-too-low", "loss-plateau"),
    allowed=_SLOW,
    cause="learning-rate-too-low",
    body=_classes(800, 10, 4)
    + """

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(32, activation="relu")
            self.out = keras.layers.Dense(4, activation="softmax")

        def call(self, inputs):
            return self.out(self.hidden(inputs))


    learning_rate = 1e-4 / len(x)  # meant: 1e-4 per batch, not per sample
    model = Net()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[CALLBACK],
    )
    """,
)

# ---------------------------------------------------------------------------------------------
# The zoo, with its halves


def _build(entries: Sequence[_Entry]) -> tuple[ZooRun, ...]:
    """Makes the runs, assigning halves: the runs of a fault class alternate between the halves
    in catalogue order, and the classes alternate in which half they start (so that classes
    with an odd number of runs do not all lean the same way)."""
    classes = list(dict.fromkeys(klass for klass, _fields in entries))
    seen: Counter[str] = Counter()
    runs = []
    for klass, fields in entries:
        half = HALVES[(seen[klass] + classes.index(klass)) % 2]
        seen[klass] += 1
        runs.append(ZooRun(half=half, **fields))
    return tuple(runs)


ZOO: tuple[ZooRun, ...] = _build(_ENTRIES)
BY_NAME: dict[str, ZooRun] = {run.name: run for run in ZOO}
FAST: tuple[ZooRun, ...] = tuple(run for run in ZOO if run.fast)


# ---------------------------------------------------------------------------------------------
# Training

# The driver runs in the subprocess: it imports TensorFlow once and runs every script as
# ``__main__`` with the argv a user would give it. FITDIAG_ZOO_THREADS=1 limits TensorFlow to
# one thread per op (for timing experiments); FITDIAG_ZOO_TRACE=1 adds an independent tracer
# (batch losses, gradient norms and update ratios by GradientTape) that writes trace.json.
_DRIVER = r"""
import json, os, runpy, sys, time, zlib

threads = int(os.environ.get("FITDIAG_ZOO_THREADS") or 0)
import tensorflow as tf

if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
import keras
import numpy as np

root, names = sys.argv[1], sys.argv[2:]


def first(data, n):
    if isinstance(data, dict):
        return {k: v[:n] for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [v[:n] for v in data]
    return data[:n]


class Tracer(keras.callbacks.Callback):
    EVERY = 10

    def __init__(self, x, y, path):
        super().__init__()
        self.x, self.y, self.path = first(x, 64), first(y, 64), path
        self.step, self.losses, self.records, self.before = 0, [], [], None

    def groups(self):
        out = {}
        for v in self.model.trainable_variables:
            out.setdefault(v.path.rsplit("/", 1)[0], []).append(v)
        return out

    def on_train_batch_begin(self, batch, logs=None):
        if self.step % self.EVERY:
            return
        groups = self.groups()
        if not groups:  # a subclassed model is built by its first step
            return
        variables = [v for vs in groups.values() for v in vs]
        with tf.GradientTape() as tape:
            pred = self.model(self.x, training=True)
            loss = self.model.compute_loss(x=self.x, y=self.y, y_pred=pred)
        grads = tape.gradient(loss, variables)
        record, i = {"step": self.step, "loss": float(loss), "layers": {}}, 0
        for layer, vs in groups.items():
            g = [np.zeros(v.shape) if gr is None else np.asarray(gr) for v, gr in
                 zip(vs, grads[i:i + len(vs)])]
            i += len(vs)
            flat = np.concatenate([a.ravel() for a in g])
            w = np.concatenate([np.asarray(v).ravel() for v in vs])
            record["layers"][layer] = {
                "grad_norm": float(np.linalg.norm(flat)),
                "zero_fraction": float(np.mean(flat == 0)),
                "nonfinite": int(np.sum(~np.isfinite(flat))),
                "weight_norm": float(np.linalg.norm(w)),
            }
        self.before = (record, {k: np.concatenate([np.asarray(v).ravel() for v in vs])
                                for k, vs in groups.items()})

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float((logs or {}).get("loss", float("nan"))))
        if self.before is not None:
            record, weights = self.before
            for layer, vs in self.groups().items():
                if layer not in weights:
                    continue
                w = np.concatenate([np.asarray(v).ravel() for v in vs])
                old = weights[layer]
                norm = np.linalg.norm(old)
                ratio = float(np.linalg.norm(w - old) / norm) if norm > 0 else float("nan")
                record["layers"][layer]["update_ratio"] = ratio
            self.records.append(record)
            self.before = None
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(None)  # epoch boundary: the running mean restarts

    def on_train_end(self, logs=None):
        with open(self.path, "w") as f:
            json.dump({"running_loss": self.losses, "records": self.records}, f)


if os.environ.get("FITDIAG_ZOO_TRACE"):
    original_fit = keras.Model.fit

    def traced_fit(self, x=None, y=None, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [
            Tracer(x, y, os.path.join(sys.argv[1], "trace.json"))
        ]
        return original_fit(self, x, y, *args, **kwargs)

    keras.Model.fit = traced_fit

for name in names:
    script = os.path.join(root, "scripts", name + ".py")
    log_dir = os.path.join(root, name)
    os.makedirs(log_dir, exist_ok=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(zlib.crc32(name.encode()) % 2**31)
    sys.argv = [script, log_dir]
    start = time.perf_counter()
    runpy.run_path(script, run_name="__main__")
    print(f"trained {name} in {time.perf_counter() - start:.1f} s", flush=True)
"""


def generate(
    root: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    *,
    threads: int | None = None,
    timeout: float = 1800.0,
) -> str:
    """Writes the chosen runs' scripts to ``<root>/scripts`` and trains them into ``root``.

    Every run trains in one subprocess (TensorFlow is imported once, never by the caller), on
    the CPU, each script executed as ``__main__`` with ``sys.argv = [script, <root>/<name>]``.
    A chosen run's old directory is removed first.

    Args:
        root: The logdir of the zoo; each run goes to ``<root>/<name>``.
        names: The runs to train, all of :data:`ZOO` by default.
        threads: Limit TensorFlow to this many threads per op (default: TensorFlow's own
            choice; the ``FITDIAG_ZOO_THREADS`` environment variable sets it too).
        timeout: Seconds after which training is stopped.

    Returns:
        The subprocess's log: one line per run with its training time.

    Raises:
        KeyError: For a name that is not in the zoo.
        RuntimeError: When training fails; the message carries the tail of its stderr.
    """
    chosen = [BY_NAME[name] for name in names] if names is not None else list(ZOO)
    scripts = Path(root, "scripts")
    scripts.mkdir(parents=True, exist_ok=True)
    for run in chosen:
        # A run trained again must not add its events to the old ones.
        shutil.rmtree(Path(root, run.name), ignore_errors=True)
        (scripts / f"{run.name}.py").write_text(run.script)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    if threads is not None:
        env["FITDIAG_ZOO_THREADS"] = str(threads)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _DRIVER, str(root), *(run.name for run in chosen)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"training the zoo took more than {timeout:.0f} s") from err
    if result.returncode != 0:
        raise RuntimeError(f"training the zoo failed:\n{result.stderr[-4000:]}")
    return result.stdout


# ---------------------------------------------------------------------------------------------
# Scoring

ALARMS: frozenset[str] = frozenset({"error", "warning"})


@dataclass(frozen=True)
class Verdict:
    """The diagnosis of one zoo run, scored against its label.

    Attributes:
        run: The labelled run.
        present: False when the logdir holds no report for the run.
        findings: ``(name, severity)`` of every finding, in the report's order.
        headline: The cause the report's headline names; None when it has no headline.
    """

    run: ZooRun
    present: bool
    findings: tuple[tuple[str, str], ...] = ()
    headline: str | None = None

    @property
    def reported(self) -> frozenset[str]:
        """The findings reported as a warning or an error."""
        return frozenset(name for name, severity in self.findings if severity in ALARMS)

    @property
    def missed(self) -> frozenset[str]:
        """Expected findings that were not reported."""
        return self.run.expected - self.reported

    @property
    def unexplained(self) -> frozenset[str]:
        """Reported findings that are neither expected nor allowed (false positives)."""
        return self.reported - self.run.expected - self.run.allowed

    @property
    def right(self) -> bool:
        """Every expected finding reported, and nothing reported that the label does not
        expect or allow (for a healthy run: no warning or error at all)."""
        return self.present and not self.missed and not self.unexplained

    @property
    def headline_right(self) -> bool:
        """Healthy: no headline. Faulty: the headline names the label's cause."""
        if not self.present:
            return False
        if self.run.healthy:
            return self.headline is None
        return self.headline == self.run.cause


def _headline_cause(report: Any) -> str | None:
    """The cause named by a report's headline (an object or a dict), None without one."""
    headline = getattr(report, "headline", None)
    if headline is None:
        return None
    cause = (
        headline.get("cause") if isinstance(headline, dict) else getattr(headline, "cause", None)
    )
    return str(cause) if cause else None


def evaluate(
    root: str | os.PathLike[str],
    runs: Iterable[ZooRun] | None = None,
    *,
    tensorflow_free: bool = False,
) -> list[Verdict]:
    """Diagnoses a trained zoo through the ``fitdiag diagnose`` code path and scores each run.

    Args:
        root: The logdir :func:`generate` trained into.
        runs: The runs to score (all of :data:`ZOO` by default), in the order to report them.
        tensorflow_free: Read the logs without importing TensorFlow (a process-wide choice,
            see :func:`tb_fitdiag.cli.load_logdir`; the benchmark, a process of its own, sets it).

    Returns:
        One verdict per run, in the order of ``runs``.
    """
    from tb_fitdiag import cli
    from tb_fitdiag.diagnosis import DiagnosisConfig

    chosen = list(ZOO if runs is None else runs)
    reports, _ = cli.diagnose_logdir(
        str(root), None, DiagnosisConfig(), tensorflow_free=tensorflow_free
    )
    by_run = {report.run: report for report in reports}
    verdicts = []
    for run in chosen:
        report = by_run.get(run.name)
        if report is None:
            verdicts.append(Verdict(run, present=False))
            continue
        findings = tuple((f.name, f.severity) for f in report.findings)
        verdicts.append(Verdict(run, True, findings, _headline_cause(report)))
    return verdicts


@dataclass(frozen=True)
class FindingScore:
    """Precision and recall of one finding over a set of verdicts.

    ``true_positives``: reported and expected; ``false_positives``: reported, neither expected
    nor allowed; ``false_negatives``: expected, not reported. A report of an allowed finding
    counts as neither.
    """

    name: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None when the finding was never reported."""
        reported = self.true_positives + self.false_positives
        return self.true_positives / reported if reported else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None when no run expects the finding."""
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else None


@dataclass(frozen=True)
class Score:
    """The accuracy figures of a set of verdicts."""

    findings: tuple[FindingScore, ...]
    runs: int
    right: int
    healthy: int
    healthy_clean: int
    headline_right: int
    missing: int

    @property
    def wrong(self) -> int:
        """Runs not diagnosed right."""
        return self.runs - self.right


def score(verdicts: Sequence[Verdict]) -> Score:
    """Per-finding precision and recall, runs right, healthy runs clean and headlines right."""
    per_finding = []
    for name in FINDINGS:
        tp = sum(name in v.reported and name in v.run.expected for v in verdicts)
        fp = sum(name in v.unexplained for v in verdicts)
        fn = sum(name in v.missed for v in verdicts)
        per_finding.append(FindingScore(name, tp, fp, fn))
    healthy = [v for v in verdicts if v.run.healthy]
    return Score(
        findings=tuple(per_finding),
        runs=len(verdicts),
        right=sum(v.right for v in verdicts),
        healthy=len(healthy),
        healthy_clean=sum(v.present and not v.reported for v in healthy),
        headline_right=sum(v.headline_right for v in verdicts),
        missing=sum(not v.present for v in verdicts),
    )


def select(half: str = "all", *, fast: bool | None = None) -> tuple[ZooRun, ...]:
    """The runs of one half (``tune``, ``report`` or ``all``), optionally only the fast ones.

    Raises:
        ValueError: For an unknown half.
    """
    if half not in (*HALVES, "all"):
        raise ValueError(f"half must be one of tune, report, all; got {half!r}")
    return tuple(
        run
        for run in ZOO
        if (half == "all" or run.half == half) and (fast is None or run.fast == fast)
    )


# ---------------------------------------------------------------------------------------------
# What the catalogue must cover


def coverage_problems(runs: Sequence[ZooRun] = ZOO) -> list[str]:
    """Checks the catalogue against the issue's coverage requirements.

    Returns:
        One line per requirement that does not hold; empty when the catalogue is complete.
    """
    problems = []
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        problems.append("run names are not unique")
    if len(runs) < 64:
        problems.append(f"{len(runs)} runs, at least 64 wanted")
    for run in runs:
        where = f"{run.name}:"
        if not run.name.replace("_", "").replace("-", "").isalnum() or run.name != run.name.lower():
            problems.append(f"{where} name is not snake_case")
        if run.arch not in ARCHS or run.data not in DATA_KINDS or run.recorder not in RECORDERS:
            problems.append(f"{where} unknown arch, data or recorder")
        if run.half not in HALVES:
            problems.append(f"{where} unknown half {run.half!r}")
        unknown = (run.expected | run.allowed) - set(FINDINGS)
        if unknown:
            problems.append(f"{where} unknown findings {sorted(unknown)}")
        if run.expected & run.allowed:
            problems.append(f"{where} findings both expected and allowed")
        if run.healthy != (not run.cause) or (run.healthy and run.allowed):
            problems.append(f"{where} a healthy run has no cause and nothing allowed")
        if run.healthy != run.fault.startswith("none:"):
            problems.append(f"{where} the fault of a healthy run starts with 'none:'")
        if run.cause and run.cause not in CAUSES:
            problems.append(f"{where} unknown cause {run.cause!r}")
        if run.recorder == "tensorboard" and run.expected & GRADIENT_FINDINGS:
            problems.append(f"{where} gradient findings need the fitdiag recorder")
        callback = _CALLBACKS[run.recorder]
        if callback not in run.script or "log_dir = sys.argv[1]" not in run.script:
            problems.append(f"{where} the script does not record with {callback}")
        if run.recorder == "tensorboard" and "FitDiagCallback" in run.script:
            problems.append(f"{where} a tensorboard run uses FitDiagCallback")
        if "history.json" not in run.script or "verbose=0" not in run.script:
            problems.append(f"{where} the script must fit with verbose=0 and save history.json")
    count = Counter
    if set(count(run.arch for run in runs)) != ARCHS:
        problems.append(f"architectures: {sorted(count(run.arch for run in runs))}")
    if set(count(run.data for run in runs)) != DATA_KINDS:
        problems.append(f"data kinds: {sorted(count(run.data for run in runs))}")
    optimizers = set(count(run.optimizer for run in runs))
    for wanted in ("sgd", "momentum", "adam", "rmsprop", "adamw"):
        if wanted not in optimizers:
            problems.append(f"no run uses {wanted}")
    scripts = " ".join(run.script for run in runs)
    for layer in ("LSTM(", "GRU("):
        if layer not in scripts:
            problems.append(f"no script uses {layer}")
    healthy = [run for run in runs if run.healthy]
    if len(healthy) < 16:
        problems.append(f"{len(healthy)} healthy runs, at least 16 wanted")
    healthy_scripts = " ".join(run.script for run in healthy)
    for what, marker in (
        ("small noisy batches", "batch_size=4"),
        ("small noisy batches", "batch_size=8"),
        ("augmentation", "keras.layers.Random"),
        ("augmentation", "keras.layers.GaussianNoise"),
        ("class weights", "class_weight="),
        ("an ExponentialDecay schedule", "ExponentialDecay("),
        ("a CosineDecay schedule", "CosineDecay("),
        ("ReduceLROnPlateau", "ReduceLROnPlateau("),
    ):
        if marker not in healthy_scripts:
            problems.append(f"no healthy run with {what} ({marker})")
    if not any("early convergence" in run.fault or "stays flat" in run.fault for run in healthy):
        problems.append("no healthy run with early convergence")
    tensorboard = [run for run in runs if run.recorder == "tensorboard"]
    if len(tensorboard) < 8 or not any(r.healthy for r in tensorboard):
        problems.append("at least 8 keras-TensorBoard runs wanted, healthy ones among them")
    if not any(not r.healthy for r in tensorboard):
        problems.append("no faulty keras-TensorBoard run")
    for name in FINDINGS:
        with_it = [run for run in runs if name in run.expected]
        per_half = Counter(run.half for run in with_it)
        if len(with_it) < 4 or min(per_half[h] for h in HALVES) < 2:
            problems.append(f"{name}: expected in {dict(per_half)}; 4 runs, 2 per half wanted")
    for half in HALVES:
        if not any(run.fast and run.half == half for run in runs):
            problems.append(f"no fast run in the {half} half")
    return problems
