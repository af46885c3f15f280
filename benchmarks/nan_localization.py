"""Where the first NaN came from: FitDiagCallback's replay, against
tf.debugging.enable_check_numerics.

Five runs that break (a log of a negative prediction in a custom loss, 0/0 in a custom layer, a
NaN in the inputs, an exploding RNN under a too-high SGD rate, a float16 overflow), each trained
twice on CPU:

* with ``FitDiagCallback()`` (training runs to its end; the answer is the diagnosis' line);
* with ``tf.debugging.enable_check_numerics()`` on from the start and no callback (it raises at
  the first op that produces NaN/Inf; the answer is that op and the innermost user frame).

Then the steady cost on a healthy MLP: ms per step of plain ``fit``, with FitDiagCallback, and
with check_numerics on.

    python benchmarks/nan_localization.py [--steps 200] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def _scenarios(keras: Any) -> list[tuple[str, Callable[[], Any], Any, Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = rng.normal(size=(256, 1)).astype("float32")

    def log_loss(y_true: Any, y_pred: Any) -> Any:
        return keras.ops.mean(-y_true * keras.ops.log(y_pred))

    class SumNormalize(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs / keras.ops.sum(inputs, axis=-1, keepdims=True)

    def log_model() -> Any:
        m = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        m.compile(optimizer="adam", loss=log_loss)
        return m

    def div_model() -> Any:
        m = keras.Sequential(
            [keras.Input((4,)), SumNormalize(), keras.layers.Dense(8), keras.layers.Dense(1)]
        )
        m.compile(optimizer="sgd", loss="mse")
        return m

    def plain_model() -> Any:
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    def rnn_model() -> Any:
        m = keras.Sequential(
            [keras.Input((10, 3)), keras.layers.SimpleRNN(16), keras.layers.Dense(1)]
        )
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=5.0), loss="mse")
        return m

    def mixed_model() -> Any:
        keras.mixed_precision.set_global_policy("mixed_float16")
        m = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(16),
                keras.layers.Dense(16, kernel_initializer=keras.initializers.Constant(100.0)),
                keras.layers.Dense(1, dtype="float32"),
            ]
        )
        m.compile(optimizer="sgd", loss="mse")
        return m

    x_div = np.abs(x)
    x_div[100] = 0.0
    x_nan = x.copy()
    x_nan[100, 2] = np.nan
    xr = rng.normal(size=(256, 10, 3)).astype("float32")
    yr = xr.sum(axis=(1, 2))[:, None]
    return [
        ("log of a negative prediction", log_model, x, np.abs(y)),
        ("0/0 in a custom layer", div_model, x_div, y),
        ("NaN in the inputs", plain_model, x_nan, y),
        ("exploding RNN, SGD lr=5", rnn_model, xr, yr),
        ("float16 overflow", mixed_model, x * 100.0, y),
    ]


def _fresh(keras: Any) -> None:
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)


def _with_fitdiag(keras: Any, build: Callable[[], Any], x: Any, y: Any) -> tuple[float, str]:
    from tb_fitdiag.callback import FitDiagCallback
    from tb_fitdiag.diagnosis import diagnose_run

    _fresh(keras)
    model = build()
    callback = FitDiagCallback(tempfile.mkdtemp(), lint_script=False)
    begin = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False, callbacks=[callback])
    seconds = time.perf_counter() - begin
    assert callback._live is not None
    diagnosis = diagnose_run(callback._live.run.data())
    for finding in diagnosis.findings:
        found = re.search(r"first (NaN|Inf): ", finding.message)
        if found:
            return seconds, finding.message[found.start() :]
    return seconds, "(no answer)"


_OP = re.compile(r'op "([^"]+)"')


def _with_check_numerics(keras: Any, build: Callable[[], Any], x: Any, y: Any) -> tuple[float, str]:
    import tensorflow as tf

    _fresh(keras)
    model = build()
    here = os.path.abspath(__file__)
    begin = time.perf_counter()
    tf.debugging.enable_check_numerics()
    try:
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
        answer = "(did not raise)"
    except Exception as err:
        text = str(err)
        op = _OP.search(text)
        # The graph op's creation stack is in the message; the innermost frame of this file.
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
        frames += [
            (f.filename, str(f.lineno), f.name) for f in traceback.extract_tb(err.__traceback__)
        ]
        mine = [f for f in frames if os.path.abspath(f[0]) == here]
        where = f" at line {mine[-1][1]} in {mine[-1][2]}" if mine else ""
        answer = f"op {op.group(1) if op else '?'}{where} ({type(err).__name__})"
    finally:
        tf.debugging.disable_check_numerics()
    return time.perf_counter() - begin, answer


def _steady(keras: Any, steps: int, rounds: int) -> dict[str, float]:
    import tensorflow as tf

    from tb_fitdiag.callback import FitDiagCallback

    rng = np.random.default_rng(1)
    x = rng.normal(size=(steps * 32, 32)).astype("float32")
    y = rng.normal(size=(steps * 32, 1)).astype("float32")

    def model() -> Any:
        _fresh(keras)
        m = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        m.compile(optimizer="adam", loss="mse")
        return m

    names = ("plain", "FitDiagCallback()", "locate_nonfinite=False", "check_numerics")
    fits = {}
    for name in names:
        m = model()
        callbacks = (
            [
                FitDiagCallback(
                    tempfile.mkdtemp(),
                    lint_script=False,
                    interval=100,
                    live=False,
                    locate_nonfinite=name == "FitDiagCallback()",
                )
            ]
            if name.startswith(("FitDiag", "locate"))
            else []
        )
        fits[name] = (m, callbacks)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds + 1):  # interleaved; round 0 warms up (traces)
        for name in names:
            m, callbacks = fits[name]
            if name == "check_numerics":
                tf.debugging.enable_check_numerics()
            try:
                begin = time.process_time()
                m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=callbacks)
                if round_:
                    times[name].append((time.process_time() - begin) / steps * 1000.0)
            finally:
                if name == "check_numerics":
                    tf.debugging.disable_check_numerics()
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch, steady part")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved epochs, steady part")
    args = parser.parse_args()
    import keras

    print(f"{'run':<30} {'fitdiag s':>9}  {'check_numerics s':>16}")
    answers = []
    for name, build, x, y in _scenarios(keras):
        t_fd, a_fd = _with_fitdiag(keras, build, x, y)
        t_cn, a_cn = _with_check_numerics(keras, build, x, y)
        print(f"{name:<30} {t_fd:>9.2f}  {t_cn:>16.2f}")
        answers.append((name, a_fd, a_cn))
    for name, a_fd, a_cn in answers:
        print(f"\n{name}\n  fitdiag:        {a_fd}\n  check_numerics: {a_cn}")
    steady = _steady(keras, args.steps, args.rounds)
    plain = steady["plain"]
    print(
        f"\nsteady cost, healthy MLP (process CPU ms per step, median of {args.rounds} "
        "interleaved epochs after a warm-up one; FitDiagCallback records every 100 steps):"
    )
    for name, ms in steady.items():
        print(f"  {name:<18} {ms:7.3f} ms  {ms / plain:5.2f}x")


if __name__ == "__main__":
    main()
