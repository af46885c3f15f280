"""Where the first NaN came from: real Keras fits that break in five ways, each replayed by
FitDiagCallback, named by the diagnosis, and read back from the event files."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tb_fitdiag import metadata
from tb_fitdiag.diagnosis import DiagnosisConfig, RunData, diagnose_run
from tb_fitdiag.diagnosis.origin import describe

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning"),
]

HERE = os.path.relpath(__file__)


@pytest.fixture(autouse=True)
def _construction_sites_noted() -> None:
    """Imports the callback before the test builds its model, as a training script does
    (``from tb_fitdiag import FitDiagCallback`` at its top): from then on layers note where
    they are constructed."""
    import tb_fitdiag.callback  # noqa: F401


def _line(marker: str) -> int:
    """The line of this file that carries ``# <marker>``."""
    for number, text in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


def _fit(keras: Any, model: Any, x: Any, y: Any, log_dir: Path, **kwargs: Any) -> tuple[Any, str]:
    from tb_fitdiag.callback import FitDiagCallback

    callback = FitDiagCallback(log_dir=str(log_dir), lint_script=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, callbacks=[callback], verbose=2, shuffle=False, **kwargs)
    return callback, out.getvalue()


def _origin(log_dir: Path, cb_load_run: Any) -> dict[str, Any]:
    run = cb_load_run(str(log_dir / "train"))
    values = run.values[metadata.NONFINITE_ORIGIN_TAG]
    assert len(values) == 1  # written once
    assert json.loads(run.metadata[metadata.NONFINITE_ORIGIN_TAG].plugin_data.content) == {
        "kind": metadata.KIND_NONFINITE_ORIGIN,
        "version": metadata.SCHEMA_VERSION,
    }
    document: dict[str, Any] = json.loads(values[0][1])
    return document


def _diagnosis(log_dir: Path) -> Any:
    from tb_fitdiag.cli import diagnose_logdir

    reports, _ = diagnose_logdir(str(log_dir), None, DiagnosisConfig())
    (report,) = reports
    return report


def _finding(report: Any, name: str) -> Any:
    return next(f for f in report.findings if f.name == name)


def _xy(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def log_loss(y_true: Any, y_pred: Any) -> Any:
    import keras

    return keras.ops.mean(-y_true * keras.ops.log(y_pred))  # LOG-OP


def test_log_of_a_negative_prediction_in_a_custom_loss(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path
) -> None:
    keras = cb_clean_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),  # a linear output: some predictions are negative
        ]
    )
    model.compile(optimizer="adam", loss=log_loss)
    x, y = _xy()
    _, printed = _fit(keras, model, x, np.abs(y), tmp_path, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 0 and origin["trigger"] == "loss" and origin["located"]
    assert origin["phase"] == "loss" and origin["op"] == "Log" and origin["loss"] == "log_loss"
    assert origin["op_site"] == {"path": HERE, "line": _line("LOG-OP")}
    assert origin["weights_finite"] is True and origin["reproduced"] is True

    expected = (
        f"first NaN: op Log in loss `log_loss` ({HERE}:{_line('LOG-OP')}); reproduces from "
        "finite weights: a numerical bug, not the learning rate"
    )
    report = _diagnosis(tmp_path)
    assert report.headline.cause == "numerical-error"
    finding = _finding(report, "non-finite-loss")
    assert finding.message.endswith(expected)
    assert finding.evidence["origin_story"] == "numerical"
    assert expected in printed  # the live line, said while training


def _sum_normalize(keras: Any) -> Any:
    class SumNormalize(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return x / keras.ops.sum(x, axis=-1, keepdims=True)  # DIV-OP

    return SumNormalize


def test_division_by_zero_in_a_custom_layer(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path
) -> None:
    keras = cb_clean_keras
    keras.utils.set_random_seed(0)
    layer_class = _sum_normalize(keras)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layer_class(),  # DIV-LAYER
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy()
    x = np.abs(x)
    x[40] = 0.0  # step 2 (batches of 16): 0 / 0
    _fit(keras, model, x, y, tmp_path, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 2 and origin["phase"] == "forward"
    assert origin["layer"] == "sequential/sum_normalize"
    assert origin["layer_class"] == "SumNormalize"
    assert origin["layer_site"] == {"path": HERE, "line": _line("DIV-LAYER")}
    assert origin["op"] == "RealDiv" and origin["function"] == "call"
    assert origin["op_site"] == {"path": HERE, "line": _line("DIV-OP")}

    report = _diagnosis(tmp_path)
    assert report.headline.cause == "numerical-error"
    text = " ".join(f.message for f in report.findings)
    assert (
        f"first NaN: layer `sequential/sum_normalize` (SumNormalize, {HERE}:"
        f"{_line('DIV-LAYER')}), op RealDiv at {HERE}:{_line('DIV-OP')} in `call`; reproduces "
        "from finite weights: a numerical bug, not the learning rate"
    ) in text


def test_importing_the_callback_at_the_top_of_a_script_notes_where_layers_are_built(
    tmp_path: Path,
) -> None:
    """In a fresh interpreter, as a script runs: ``from tb_fitdiag import FitDiagCallback`` at
    its top is enough for the layers built after it to note their line (a layer built before
    the import has none)."""
    script = tmp_path / "train.py"
    script.write_text(
        "import json, keras\n"
        "early = keras.layers.Dense(2)\n"
        "from tb_fitdiag import FitDiagCallback\n"
        "late = keras.layers.Dense(2)\n"
        "from tb_fitdiag.sites import construction_site\n"
        "print(json.dumps([construction_site(early), construction_site(late)]))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    early, late = json.loads(done.stdout.strip().splitlines()[-1])
    assert early is None
    assert late == {"path": "train.py", "line": 4}


def test_nan_in_the_input_data(cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path) -> None:
    keras = cb_clean_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy()
    x[37, 2] = np.nan  # step 2 (batches of 16), one value of 64
    _fit(keras, model, x, y, tmp_path, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 2 and origin["trigger"] == "loss" and origin["phase"] == "input"
    assert (origin["input"], origin["input_nonfinite"], origin["input_size"]) == ("x", 1, 64)

    report = _diagnosis(tmp_path)
    assert report.headline.cause == "numerical-error"  # not the learning rate
    finding = _finding(report, "non-finite-loss")
    assert finding.message.endswith(
        "first NaN: in the input data: `x` holds 1 NaN/Inf of its 64 values in the batch of "
        "step 2; reproduces from finite weights: bad data, not the learning rate"
    )
    assert finding.evidence["origin_story"] == "data"


def test_an_exploding_rnn_with_a_too_high_sgd_rate(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path
) -> None:
    keras = cb_clean_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            keras.layers.SimpleRNN(16),  # RNN
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=5.0), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 10, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    _fit(keras, model, x, y, tmp_path, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    # The gradient's entries stay finite; their sum of squares (the global norm) does not.
    assert origin["trigger"] == "gradient" and origin["located"] and origin["weights_finite"]
    assert origin["phase"] == "gradient-norm" and origin["input_max"] >= 1.8e19
    assert origin["layer"] == "sequential/simple_rnn" and origin["layer_class"] == "SimpleRNN"
    assert origin["layer_site"] == {"path": HERE, "line": _line("RNN")}
    assert origin["weight_norms"]["sequential/simple_rnn"] > 1e10

    report = _diagnosis(tmp_path)
    assert report.headline.cause == "learning-rate-too-high"
    finding = _finding(report, "non-finite-loss")
    assert finding.evidence["origin_story"] == "exploding"
    assert finding.evidence["origin_growth_layer"] == "sequential/simple_rnn"
    assert finding.evidence["origin_growth"] > 1e10
    assert (
        "first Inf: the global gradient norm overflowed float32: the gradient of layer "
        f"`sequential/simple_rnn` (SimpleRNN, {HERE}:{_line('RNN')}) (entries up to "
    ) in finding.message
    assert "; only after the weights grew: `sequential/simple_rnn`'s weight norm went from " in (
        finding.message
    )
    assert finding.message.endswith("exploding, the learning rate, not a numerical bug")


def test_a_mixed_precision_overflow(cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path) -> None:
    keras = cb_clean_keras
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16),
            keras.layers.Dense(16, kernel_initializer=keras.initializers.Constant(100.0)),  # MP
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy()
    _fit(keras, model, x * 100.0, y, tmp_path, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 0 and origin["phase"] == "forward"
    assert origin["layer"] == "sequential/dense_1" and origin["layer_class"] == "Dense"
    assert origin["layer_site"] == {"path": HERE, "line": _line("MP")}
    assert origin["dtype"] == "float16" and origin["op"] in ("MatMul", "BiasAdd", "AddV2")

    report = _diagnosis(tmp_path)
    assert report.headline.cause == "numerical-error"
    finding = _finding(report, "non-finite-loss")
    assert finding.evidence["origin_story"] == "overflow"
    assert f"layer `sequential/dense_1` (Dense, {HERE}:{_line('MP')}), op {origin['op']}" in (
        finding.message
    )
    assert "a float16 overflow" in finding.message
    assert "mixed precision, not the learning rate" in finding.message


def _fit_every(
    keras: Any, model: Any, x: Any, y: Any, log_dir: Path, interval: int, **kwargs: Any
) -> None:
    from tb_fitdiag.callback import FitDiagCallback

    callback = FitDiagCallback(log_dir=str(log_dir), lint_script=False, interval=interval)
    model.fit(x, y, callbacks=[callback], verbose=0, shuffle=False, **kwargs)


def _steps_keep(monkeypatch: Any, every_step: bool) -> None:
    """Makes the light steps keep a failing batch (as on slow steps) or not (fast steps),
    decided at the first timed gap, whatever this machine's step time."""
    import tb_fitdiag.callback as module

    monkeypatch.setattr(module, "KEEP_EVERY_STEP_FROM", 0.0 if every_step else math.inf)
    monkeypatch.setattr(module, "_TIMED_GAPS", 1)


def _late_nan_fit(keras: Any, log_dir: Path, n: int = 256) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy(n=n)
    x[13 * 16 + 5, 1] = np.nan  # step 13 (batches of 16); records every 5 steps: 0, 5, 10, 15
    _fit_every(keras, model, x, y, log_dir, 5, epochs=1, batch_size=16)


def test_a_late_nan_in_the_data_is_replayed_on_the_weights_of_the_last_record(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    _steps_keep(monkeypatch, every_step=True)
    _late_nan_fit(cb_clean_keras, tmp_path)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 13 and origin["weights_step"] == 10  # the last record before it
    assert origin["batch_step"] is None  # its own batch
    assert origin["phase"] == "input" and origin["input"] == "x"
    assert _diagnosis(tmp_path).headline.cause == "numerical-error"


def test_a_late_nan_on_a_fast_step_is_replayed_on_the_next_record_that_failed(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """On fast steps the light step keeps nothing: the failure at step 13 freezes the weights
    of step 10, and the record at step 15 (non-finite too) gives its batch to the replay."""
    _steps_keep(monkeypatch, every_step=False)
    _late_nan_fit(cb_clean_keras, tmp_path)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 13 and origin["trigger"] == "loss"
    assert origin["weights_step"] == 10 and origin["batch_step"] == 15
    # Step 15's data is clean: finite on the weights of step 10, which had not grown.
    assert origin["phase"] == "later-weights" and origin["reproduced"] is False
    finding = _finding(_diagnosis(tmp_path), "non-finite-loss")
    assert finding.evidence["origin_story"] == "unknown"
    assert finding.evidence["origin_batch_step"] == 15
    assert (
        "first non-finite loss: step 13's batch was not kept; that of step 15, the next to "
        "fail, is finite on the weights of step 10, the last record before step 13; the "
        "updates since then made it fail"
    ) in finding.message


def test_a_fast_step_failing_after_the_last_record_says_it_was_not_kept(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    _steps_keep(monkeypatch, every_step=False)
    _late_nan_fit(cb_clean_keras, tmp_path, n=15 * 16)  # steps 0-14: no record at step 15

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 13 and not origin["located"]
    assert origin["error"] == (
        "not located: the failing step ran between two records, where its batch is not kept "
        "at this step time, and no later record failed"
    )


def _transient_fit(keras: Any, log_dir: Path, n: int = 512) -> Any:
    """A fit whose step 13 alone fails: an Inf label under the mean absolute error makes the
    loss Inf and leaves the gradient (a sign) finite, so the weights stay finite."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mae")
    x, y = _xy(n=n)
    y[13 * 16 + 3, 0] = np.inf  # step 13 (batches of 16); records every 5 steps
    _fit_every(keras, model, x, y, log_dir, 5, epochs=1, batch_size=16)
    return model


def test_a_fast_step_failing_once_is_said_when_the_next_record_is_finite(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The failed ring row of step 13 freezes the weights copy; once the record after it ran
    finite, the failure is said and the copy moves on: the update ratios of the later records
    are measured (as where the light step kept the batch), not lost until the ring wraps."""
    _steps_keep(monkeypatch, every_step=False)
    model = _transient_fit(cb_clean_keras, tmp_path)
    assert all(np.isfinite(w).all() for w in model.get_weights())

    run = cb_load_run(str(tmp_path / "train"))
    ratios = run.series(metadata.layer_tag("update_ratio", "sequential/dense"))
    assert {20, 25, 30} <= {step for step, v in ratios.items() if math.isfinite(v)}
    # The read at step 16's batch begin (of record 15) finds the failure and makes step 16 a
    # record at once.
    recorded = sorted(run.series(metadata.global_tag("global_grad_norm")))
    assert recorded[:6] == [0, 5, 10, 15, 16, 20]
    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 13 and not origin["located"]
    assert origin["error"] == (
        "not located: the failing step ran between two records, where its batch is not kept "
        "at this step time, and the record after it did not fail"
    )


def test_a_later_fit_on_fast_steps_tells_its_own_first_failure(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """A second fit() of the model reuses the probe: the first failure of the first fit (step
    13) must not hide the second fit's (step 37), which the reads would then never show."""
    keras = cb_clean_keras
    _steps_keep(monkeypatch, every_step=False)
    model = _transient_fit(keras, tmp_path / "first")
    x, y = _xy(n=256, seed=1)
    x[5 * 16 + 2, 1] = np.nan  # the second fit's step 32 + 5: the weights turn NaN
    _fit_every(keras, model, x, y, tmp_path / "second", 5, epochs=1, batch_size=16)

    origin = _origin(tmp_path / "second", cb_load_run)
    assert origin["step"] == 37 and origin["trigger"] == "loss"
    assert origin["weights_step"] == 35 and origin["batch_step"] == 40


def test_a_mixed_precision_light_step_keeps_its_failing_batch_on_fast_steps(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """Under loss scaling a non-finite step is skipped before the ring sees it: the light
    step keeps its batch whatever the step time, or nothing would tell the failure."""
    keras = cb_clean_keras
    _steps_keep(monkeypatch, every_step=False)
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1, dtype="float32")]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy(n=512)
    x[13 * 16 + 5, 1] = np.nan  # step 13 only: skipped, the weights stay finite
    _fit_every(keras, model, x, y, tmp_path, 5, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["step"] == 13 and origin["phase"] == "input" and origin["input"] == "x"
    assert origin["batch_step"] is None


@pytest.mark.parametrize("every_step", [True, False], ids=["slow-steps", "fast-steps"])
def test_a_late_explosion_that_the_earlier_weights_do_not_reproduce_is_exploding(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path, monkeypatch: Any, every_step: bool
) -> None:
    keras = cb_clean_keras
    _steps_keep(monkeypatch, every_step)
    keras.utils.set_random_seed(0)
    # Linear regression at a rate far beyond 2 / (largest curvature): the weights grow
    # geometrically, ~|1 - lr * |x|^2| times a step, until the loss overflows. Records every
    # 8 steps: the replay of the failing batch (or, on fast steps, of the next record's) on the
    # last record's weights stays finite.
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3.0), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    _fit_every(keras, model, x, y, tmp_path, 8, epochs=1, batch_size=16)

    origin = _origin(tmp_path, cb_load_run)
    assert origin["located"] and origin["reproduced"] is False
    assert origin["phase"] == "later-weights"
    assert origin["weights_step"] < origin["step"] and origin["weights_step"] % 8 == 0
    step, weights = origin["step"], origin["weights_step"]
    if every_step:
        assert origin["batch_step"] is None
        where = (
            f"the batch of step {step} is finite on the weights of step {weights}, the last "
            "record before it"
        )
    else:
        assert origin["batch_step"] > step and origin["batch_step"] % 8 == 0
        where = (
            f"step {step}'s batch was not kept; that of step {origin['batch_step']}, the next "
            f"to fail, is finite on the weights of step {weights}, the last record before "
            f"step {step}"
        )

    report = _diagnosis(tmp_path)
    finding = _finding(report, "non-finite-loss")
    assert finding.evidence["origin_story"] == "exploding"
    assert finding.evidence["origin_weights_step"] == weights
    assert (
        f"first non-finite loss: {where}; only after the weights grew: `sequential/dense`'s "
        "weight norm went from "
    ) in finding.message
    assert f"x) by step {weights}: exploding, the learning rate" in finding.message
    assert report.headline.cause == "learning-rate-too-high"


@pytest.mark.parametrize("every_step", [True, False], ids=["slow-steps", "fast-steps"])
def test_the_light_step_keeps_a_failing_batch_only_where_steps_are_slow(
    cb_clean_keras: Any, tmp_path: Path, monkeypatch: Any, every_step: bool
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag.callback import FitDiagCallback

    _steps_keep(monkeypatch, every_step)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy(n=256)
    callback = FitDiagCallback(str(tmp_path), lint_script=False, interval=5)
    seen = []

    class Watch(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append(self.model.train_function)

    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback, Watch()])
    probe = callback._state.probe
    assert probe.every_step is every_step
    light = probe.light_keeping if every_step else probe.light
    assert seen[-2] is light  # step 14, a light step
    assert (probe.light_keeping in seen) is every_step  # never traced where not chosen


def test_the_keeping_decision_times_light_steps_only(cb_clean_keras: Any, tmp_path: Path) -> None:
    """The first dense steps are all recording ones, which do far more than a light step:
    timing them made the light steps of a fast model keep every batch."""
    keras = cb_clean_keras
    from tb_fitdiag.callback import FitDiagCallback
    from tb_fitdiag.gradient_stats import DENSE_STEPS

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy(n=16 * (DENSE_STEPS - 4))
    callback = FitDiagCallback(str(tmp_path), lint_script=False)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    assert callback._step_times == []  # every step was a recording one
    assert callback._state.probe.every_step is None


def test_keeping_the_batch_does_not_trace_the_train_step_twice(
    cb_clean_keras: Any, tmp_path: Path
) -> None:
    """tf.function traces a function twice when its first trace creates a variable: the
    stash's batch variables are made so that it does not (a tenth of a second per fit)."""
    keras = cb_clean_keras
    from tb_fitdiag.callback import FitDiagCallback

    traces = []

    class Counted(keras.Sequential):  # type: ignore[misc]
        def train_step(self, data: Any) -> Any:
            traces.append(1)
            return super().train_step(data)

    model = Counted([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy()
    callback = FitDiagCallback(log_dir=str(tmp_path), lint_script=False)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    # 4 steps, all recorded (the dense start): the recording function alone, traced once.
    assert len(traces) == 1
    assert callback._state.probe.nan.data  # the batch is kept by it


def test_training_is_unchanged_and_nothing_is_written_while_finite(
    cb_clean_keras: Any, cb_load_run: Any, tmp_path: Path
) -> None:
    keras = cb_clean_keras
    x, y = _xy()
    losses = []
    for locate in (True, False):
        from tb_fitdiag.callback import FitDiagCallback

        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        callback = FitDiagCallback(
            str(tmp_path / str(locate)), lint_script=False, locate_nonfinite=locate
        )
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
        losses.append(history.history["loss"])
        run = cb_load_run(str(tmp_path / str(locate) / "train"))
        assert metadata.NONFINITE_ORIGIN_TAG not in run.values
    assert losses[0] == losses[1]


def _data(doc: dict[str, Any], first_norm: float = 1.0) -> RunData:
    from tb_fitdiag.diagnosis import Series

    data = RunData(nonfinite_origin=doc)
    data.layer_stats["weight_norm"] = {"m/dense": Series.from_points([0, 5], [first_norm, 1.2])}
    return data


def test_an_unlocated_step_says_why_in_one_line() -> None:
    doc = {"step": 7, "trigger": "gradient", "located": False, "error": "not located: X"}
    origin = describe(_data(doc))
    assert origin is not None and origin.story == "unknown"
    assert origin.text == (
        "where the first non-finite gradient (step 7) came from is unknown: not located: X"
    )


def test_the_origin_is_told_on_the_non_finite_finding_and_nothing_else_changes() -> None:
    from tb_fitdiag.diagnosis import Series

    steps = list(range(10))
    data = _data(
        {
            "step": 6,
            "trigger": "loss",
            "located": True,
            "phase": "forward",
            "layer": "m/dense",
            "layer_class": "Dense",
            "layer_site": {"path": "train.py", "line": 31},
            "op": "Log",
            "op_site": {"path": "train.py", "line": 12},
            "function": "call",
            "value": "NaN",
            "dtype": "float32",
            "weight_norms": {"m/dense": 1.5},
        }
    )
    data.global_stats["batch_loss"] = Series.from_points(steps, [1.0] * 6 + [np.nan] * 4)
    without = RunData(global_stats=dict(data.global_stats), layer_stats=dict(data.layer_stats))
    told, plain = diagnose_run(data), diagnose_run(without)
    assert [f.name for f in told.findings] == [f.name for f in plain.findings]
    finding = told.findings[0]
    assert finding.message == (
        plain.findings[0].message + "; first NaN: layer `m/dense` (Dense, train.py:31), op Log "
        "at train.py:12 in `call`; reproduces from finite weights: a numerical bug, not the "
        "learning rate"
    )
    assert told.headline is not None and told.headline.cause == "numerical-error"
    assert plain.headline is not None and plain.headline.cause == "learning-rate-too-high"


def test_a_batch_finite_on_earlier_weights_that_had_not_grown_is_not_called_exploding() -> None:
    doc = {
        "step": 40,
        "trigger": "loss",
        "located": True,
        "phase": "later-weights",
        "reproduced": False,
        "weights_step": 32,
        "weight_norms": {"m/dense": 1.3},  # 1.3x the first recorded norm
    }
    origin = describe(_data(doc))
    assert origin is not None and origin.story == "unknown" and not origin.numerical
    assert origin.evidence["origin_weights_step"] == 32
    assert origin.text == (
        "first non-finite loss: the batch of step 40 is finite on the weights of step 32, the "
        "last record before it; the updates since then made it fail, and the weights had not "
        "grown 10x: not clearly exploding"
    )


def test_a_later_fit_that_turns_locating_off_does_not_keep_batches(
    cb_clean_keras: Any, tmp_path: Path
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag.callback import FitDiagCallback

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _xy()
    probes = []
    for locate in (True, False, True):
        callback = FitDiagCallback(str(tmp_path), lint_script=False, locate_nonfinite=locate)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
        probes.append(callback._state.probe)
        assert (callback._state.probe.nan is not None) is locate
    assert probes[0] is not probes[1]  # one probe per setting, not the other's
    assert probes[2] is probes[0]  # and each reused by a later fit of its setting
