"""Linting the same source again and again keeps nothing alive: every analysis belongs to the
lint of one file and is dropped with it (no module-level caches)."""

from __future__ import annotations

import gc
from collections import Counter

from fitlint import api
from fitlint.analysis.bindings import Bindings
from fitlint.analysis.dataflow import DataFlow
from fitlint.analysis.index import CallSite, ModuleIndex
from fitlint.analysis.models import Models
from fitlint.model import Config
from fitlint.rules.base import RuleContext

# Every analysis has work: models of each kind, compiles, fits, rates, splits, leaks.
SOURCE = """
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
X = StandardScaler().fit_transform(np.load("x.npy"))
X_tr, X_te = train_test_split(X)
sched = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=10, decay_rate=0.9)
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(1, activation="softmax")])
for _ in range(3):
    model.add(keras.layers.LSTM(8, return_sequences=True))
model.fit(x_train, y_train, batch_size=100000)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=sched), loss="mse")
inputs = keras.Input(shape=(4,))
h = keras.layers.Dense(4)(inputs)
net = keras.Model(inputs, keras.layers.Dense(1)(h))
net.compile(optimizer="adam", loss="mse", epochs=3)
net.fit(X_tr, X_tr, validation_data=(x_test, y_test))
net.evaluate(x_test, y_test)
net.optimizer.learning_rate = 0.9

class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(1, activation="sigmoid")

    def call(self, x):
        return self.d(x)
"""

_TYPES = (ModuleIndex, Bindings, Models, DataFlow, RuleContext, CallSite)


def _live() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects() if isinstance(o, _TYPES))


def test_lint_source_leaves_no_analysis_alive() -> None:
    # Other tests of the same process may still hold analyses of their own: count against them.
    alive_already = _live()
    config = Config(select=("ALL",))
    first = api.lint_source(SOURCE, "train.py", config)
    assert first.error is None and len(first.findings) >= 8  # the analyses did their work
    for _ in range(200):
        api.lint_source(SOURCE, "train.py", config)
    grown = _live() - alive_already
    assert not grown, f"analysis objects outlive their lint: {dict(grown)}"


def test_a_lint_frees_its_tree_and_analyses_without_the_cycle_collector() -> None:
    # No reference cycle holds them: the tree of a large file is freed when its lint ends,
    # not at some later collection.
    import libcst as cst

    config = Config(select=("ALL",))
    kinds = (*_TYPES, cst.Module)
    gc.collect()
    gc.disable()
    try:
        before = {id(o) for o in gc.get_objects() if isinstance(o, kinds)}
        api.lint_source(SOURCE, "train.py", config)
        alive = [o for o in gc.get_objects() if isinstance(o, kinds) and id(o) not in before]
    finally:
        gc.enable()
    assert not alive
