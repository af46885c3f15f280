"""Trains the cross-backend test's tiny models with FitDiagCallback, on the backend that
``KERAS_BACKEND`` names; run as a script by ``test_callback_backends.py``, one process per
backend (Keras fixes its backend at import).

Usage: python backend_run.py LOG_ROOT [--block-tensorflow]

Writes ``LOG_ROOT/same`` (the same model, initial weights, data and schedule on every backend,
activation statistics and the lint of this file included), ``LOG_ROOT/mixed`` (its first
epoch under mixed precision) and ``LOG_ROOT/nan`` (a learning rate that makes the loss
non-finite), then trains once more with a file where the log directory should be (an internal
error of the callback), and prints one JSON line: the backend, whether TensorFlow was imported,
the warnings that fitdiag raised in the first runs and in the failing one, and how many epochs
the failing one trained.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _WithoutTensorFlow:
    """Wraps a meta-path finder so that it finds no ``tensorflow`` module: ``import
    tensorflow`` raises ``ModuleNotFoundError`` and ``importlib.util.find_spec`` answers None,
    as where TensorFlow is not installed (a finder that raised instead would break libraries
    that probe for it)."""

    def __init__(self, finder: Any) -> None:
        self.finder = finder

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "tensorflow" or name.startswith("tensorflow."):
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(name, path, target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.finder, name)


def _model(keras: Any, seed: int, width: int = 16) -> Any:
    """Three Dense layers, initial weights drawn from numpy's generator of ``seed``; seed 3
    trains the random labels below to about the loss of a uniform guess (a loss plateau)."""
    import numpy as np

    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(3, dtype="float32"),
        ]
    )
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, 0.5, size=w.shape).astype("float32") for w in model.get_weights()]
    weights[1][: width // 2] = -50.0  # half of the first layer's units never activate
    model.set_weights(weights)
    return model


def main(argv: list[str]) -> int:
    root = argv[0]
    if "--block-tensorflow" in argv:
        sys.meta_path[:] = [_WithoutTensorFlow(finder) for finder in sys.meta_path]
    import keras
    import numpy as np

    from tb_fitdiag import FitDiagCallback

    rng = np.random.default_rng(7)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = rng.integers(0, 3, size=(128,))

    def fit(seed: int, targets: Any, callback: Any, epochs: int, optimizer: Any = None) -> Any:
        model = _model(keras, seed)
        model.compile(
            optimizer=optimizer or keras.optimizers.SGD(0.05),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if optimizer is None
            else "mse",
        )
        return model.fit(
            x, targets, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback]
        )

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        same = FitDiagCallback(
            os.path.join(root, "same"),
            lint_script=__file__,
            # Three backends train at once beside the other tests: a lint at nice 10 can wait
            # well past the default 10 s on two cores.
            lint_timeout=120,
            activation_interval=10,
            probe_data=x[:32],
        )
        fit(3, y, same, epochs=10)
        # The first epoch again under mixed precision (a LossScaleOptimizer scales the loss).
        keras.config.set_dtype_policy("mixed_float16")
        fit(3, y, FitDiagCallback(os.path.join(root, "mixed"), lint_script=False), epochs=1)
        keras.config.set_dtype_policy("float32")
        nan = FitDiagCallback(os.path.join(root, "nan"), lint_script=False)
        fit(2, np.eye(3, dtype="float32")[y] * 1e4, nan, 2, keras.optimizers.SGD(1e6))
        # Two fits of one model with one callback (the probe is reused), each failing once:
        # an Inf label under the mean absolute error makes that step's loss Inf and leaves
        # the weights finite. Steps 3 and 8 + 5 (8 steps an epoch).
        again = FitDiagCallback(os.path.join(root, "again"), lint_script=False)
        model = _model(keras, 5)
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mae")
        for first, bad in ((0, 3), (1, 5)):
            targets = np.eye(3, dtype="float32")[y]
            targets[bad * 16, 0] = np.inf
            model.fit(
                x,
                targets,
                batch_size=16,
                initial_epoch=first,
                epochs=first + 1,
                shuffle=False,
                verbose=0,
                callbacks=[again],
            )
    caught: list[str] = [str(w.message) for w in seen if "fitdiag" in str(w.message)]
    # An internal error (a file where the log directory should be): one warning, training goes on.
    blocked = os.path.join(root, "a_file")
    with open(blocked, "w") as handle:
        handle.write("not a directory")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        history = fit(
            4,
            np.eye(3, dtype="float32")[y],
            FitDiagCallback(blocked, lint_script=False),
            2,
            keras.optimizers.SGD(),
        )
    failed = [str(w.message) for w in seen if "fitdiag" in str(w.message)]
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "tensorflow_imported": "tensorflow" in sys.modules,
                "warnings": caught,
                "failed_warnings": failed,
                "failed_epochs": len(history.history["loss"]),
                # Whether the light steps of the "same" run measured the global norm (a JAX
                # probe decides from the cost; the other probes always do).
                "per_step_norm": getattr(same._state.probe, "per_step_norm", True),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
