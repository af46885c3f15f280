"""Recorder (custom training loops), and FitDiagCallback under train_on_batch and an overridden
train_step: tiny real loops, read back through TensorBoard's loaders and ``fitdiag diagnose``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_callback import LR, _data
from test_callback import _mlp as _callback_mlp

from tb_fitdiag import metadata

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parents[2]


def _mlp(keras: Any, features: int = 6) -> Any:
    """test_callback's model, with fixed layer paths (net/hidden, net/out)."""
    return _callback_mlp(keras, features, names=("net", "hidden", "out"))


def _tape_loop(
    tf: Any,
    rec: Any,
    model: Any,
    optimizer: Any,
    loss_fn: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch: int,
    epochs: int = 1,
) -> list[bool]:
    """The loop the docs show: gradients, record, apply; epoch scalars at each epoch end."""
    recorded = []
    steps = len(x) // batch
    for epoch in range(epochs):
        losses = []
        for i in range(steps):
            xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            step = epoch * steps + i
            recorded.append(rec.record(step, grads, model.trainable_variables, loss=loss))
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            losses.append(float(loss))
        rec.epoch_end(epoch, {"loss": float(np.mean(losses))})
    return recorded


def _fitdiag_tags(run: Any) -> set[str]:
    return {tag for tag in run.values if tag.startswith(metadata.TAG_PREFIX)}


@pytest.mark.slow
def test_same_tags_values_and_run_info_as_the_callback_on_the_same_model(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import FitDiagCallback, Recorder

    x, y = _data()
    fitted = _mlp(keras)
    fitted.compile(keras.optimizers.SGD(LR), "mse")
    callback = FitDiagCallback(tmp_path / "fit", interval=1, lint_script=False, live=False)
    fitted.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[callback])

    keras.backend.clear_session()
    model = _mlp(keras)
    optimizer = keras.optimizers.SGD(LR)
    loss_fn = keras.losses.MeanSquaredError()
    with Recorder(tmp_path / "loop", model, optimizer, interval=1, loss_fn="mse") as rec:
        recorded = _tape_loop(tf, rec, model, optimizer, loss_fn, x, y, batch=16)
    assert recorded == [True] * 4

    fit_run = cb_load_run(str(tmp_path / "fit" / "train"))
    loop_run = cb_load_run(str(tmp_path / "loop" / "train"))
    assert _fitdiag_tags(loop_run) == _fitdiag_tags(fit_run)
    assert metadata.layer_tag("update_ratio", "net/hidden") in _fitdiag_tags(loop_run)
    # The same layouts (tags in the same order), so the same records tags.
    assert {t for t in loop_run.metadata if t.startswith("fitdiag/layout/")} == {
        t for t in fit_run.metadata if t.startswith("fitdiag/layout/")
    }
    for tag in _fitdiag_tags(fit_run) - {metadata.RUN_INFO_TAG}:
        fit_series, loop_series = fit_run.series(tag), loop_run.series(tag)
        assert sorted(loop_series) == sorted(fit_series) == [0, 1, 2, 3], tag
        for step, value in fit_series.items():
            assert loop_series[step] == pytest.approx(value, rel=1e-4, abs=1e-7), (tag, step)
    fit_info = json.loads(fit_run.series(metadata.RUN_INFO_TAG)[0])
    loop_info = json.loads(loop_run.series(metadata.RUN_INFO_TAG)[0])
    assert loop_info == fit_info  # layers, interval, optimizer, loss, units: all the same
    assert loop_info["layers"] == ["net/hidden", "net/out"]
    # Epoch scalars as the callback writes them.
    assert set(loop_run.values) - _fitdiag_tags(loop_run) == {"epoch_loss", "epoch_learning_rate"}


@pytest.mark.slow
def test_a_too_high_learning_rate_gives_the_callbacks_findings(
    tmp_path: Path, cb_clean_keras: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import FitDiagCallback, Recorder
    from tb_fitdiag.cli import diagnose_logdir
    from tb_fitdiag.diagnosis import DiagnosisConfig

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8,)) > 0).astype("float32")[:, None]

    def make() -> Any:
        keras.utils.set_random_seed(0)
        return keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(32, activation="relu", name="hidden"),
                keras.layers.Dense(32, activation="relu", name="hidden2"),
                keras.layers.Dense(1, activation="sigmoid", name="out"),
            ],
            name="net",
        )

    epochs = 6
    fitted = make()
    fitted.compile(keras.optimizers.Adam(1.0), "binary_crossentropy")
    callback = FitDiagCallback(tmp_path / "callback", lint_script=False, live=False)
    fitted.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback])

    keras.backend.clear_session()
    model, optimizer = make(), keras.optimizers.Adam(1.0)
    loss_fn = keras.losses.BinaryCrossentropy()
    with Recorder(
        tmp_path / "recorder", model, optimizer, planned_steps=epochs * 8, loss_fn=loss_fn
    ) as rec:
        _tape_loop(tf, rec, model, optimizer, loss_fn, x, y, batch=32, epochs=epochs)

    reports, _ = diagnose_logdir(str(tmp_path), None, DiagnosisConfig())
    found = {r.run: {(f.name, f.severity) for f in r.findings} for r in reports}
    causes = {r.run: r.headline.cause if r.headline else None for r in reports}
    assert set(found) == {"callback", "recorder"}
    assert ("diverging-loss", "error") in found["recorder"]
    assert found["recorder"] == found["callback"]
    assert causes["recorder"] == causes["callback"] == "learning-rate-too-high"


@pytest.mark.slow
def test_the_gan_example_records_each_model_as_a_run_of_its_own(tmp_path: Path) -> None:
    from tb_fitdiag.cli import diagnose_logdir
    from tb_fitdiag.diagnosis import DiagnosisConfig

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "custom_loop_gan.py"),
            "--log-dir",
            str(tmp_path / "gan"),
            "--steps",
            "40",
            "--batch-size",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fitdiag:" not in done.stderr  # no recording error
    reports, _ = diagnose_logdir(str(tmp_path / "gan"), None, DiagnosisConfig())
    assert [r.run for r in reports] == ["discriminator", "generator"]

    from tb_fitdiag import cli, reading

    provider, ctx, _skipped = cli.load_logdir(str(tmp_path / "gan"))
    runs = {run.name: run for run in reading.list_training_runs(provider, ctx, "")}
    layers = {
        name: reading.load_run(provider, ctx, "", run, DiagnosisConfig()).layers
        for name, run in runs.items()
    }
    assert layers == {
        "discriminator": ["discriminator/dense_3", "discriminator/dense_4"],
        "generator": ["generator/dense", "generator/dense_1", "generator/dense_2"],
    }


@pytest.mark.slow
def test_broken_input_never_raises_and_warns_once(tmp_path: Path, cb_clean_keras: Any) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import Recorder

    model = _mlp(keras)
    variables = model.trainable_variables
    grads = [tf.ones_like(v) for v in variables]
    cases: list[tuple[str, Any]] = [
        ("wrong lengths", lambda rec: rec.record(0, grads[:-1], variables)),
        ("not gradients", lambda rec: rec.record(0, ["a", "b", "c", "d"], variables)),
        ("not a step", lambda rec: rec.record("x", grads, variables)),
        ("a decreasing step", lambda rec: (rec.record(5, grads), rec.record(4, grads))),
        ("inside tf.function", lambda rec: tf.function(lambda: rec.record(0, grads))()),
    ]
    for name, call in cases:
        rec = Recorder(tmp_path / name.replace(" ", "_"), model, interval=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(rec)
            assert rec.record(10, grads, variables) is False  # stopped: records nothing more
            rec.epoch_end(0, {"loss": 1.0})
            rec.close()
        ours = [w for w in caught if str(w.message).startswith("fitdiag:")]
        assert len(ours) == 1, (name, [str(w.message) for w in caught])
        assert issubclass(ours[0].category, RuntimeWarning)
        assert "recording stopped" in str(ours[0].message)
        assert not rec.enabled


@pytest.mark.slow
def test_none_gradients_of_unconnected_variables_are_left_out(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import Recorder

    inputs = keras.Input((4,))
    used = keras.layers.Dense(3, name="used")(inputs)
    unused = keras.layers.Dense(2, name="unused")(inputs)
    model = keras.Model(inputs, [used, unused], name="two")
    extra = tf.Variable(np.ones(3, "float32"))  # not the model's: in the global norm only
    optimizer = keras.optimizers.SGD(LR)
    x = np.ones((4, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Recorder(tmp_path, model, optimizer, interval=1) as rec:
            for step in range(3):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(model(x)[0] * extra)
                variables = [*model.trainable_variables, extra]
                grads = tape.gradient(loss, variables)
                assert sum(g is None for g in grads) == 2  # Keras/TF: None for "unused"
                assert rec.record(step, grads, variables, loss=loss) is True
                optimizer.apply_gradients(
                    [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
                )
    assert not [w for w in caught if str(w.message).startswith("fitdiag:")]
    run = cb_load_run(str(tmp_path / "train"))
    assert sorted(run.series(metadata.layer_tag("grad_norm", "used"))) == [0, 1, 2]
    assert metadata.layer_tag("grad_norm", "unused") not in run.values
    # Its weights are still measured; they did not move.
    assert run.series(metadata.layer_tag("update_ratio", "unused"))[1] == 0.0
    assert run.series(metadata.layer_tag("weight_norm", "unused"))[1] > 0.0
    used_norm = run.series(metadata.layer_tag("grad_norm", "used"))[0]
    global_norm = run.series(metadata.global_tag("global_grad_norm"))[0]
    assert global_norm > used_norm  # the extra variable's gradient counts


@pytest.mark.slow
def test_a_dear_record_is_made_rarer_than_every_default_interval(
    tmp_path: Path, cb_clean_keras: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import Recorder, recorder
    from tb_fitdiag.gradient_stats import DENSE_STEPS

    write = recorder.Recorder._write_pending

    def dear_write(self: Any) -> None:
        time.sleep(0.02)  # a record that costs far more than RECORD_BUDGET of the loop's steps
        write(self)

    monkeypatch.setattr(recorder.Recorder, "_write_pending", dear_write)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="m")
    ones = [tf.ones_like(v) for v in model.trainable_variables]
    recorded: dict[str, list[int]] = {}
    for name, interval in (("auto", None), ("fixed", 100)):
        # 2,000 planned steps: at least 10 records, so at most every 200 steps.
        with Recorder(tmp_path / name, model, interval=interval, planned_steps=2_000) as rec:
            recorded[name] = [step for step in range(2_000) if rec.record(step, ones, loss=1.0)]
    assert recorded["auto"][:DENSE_STEPS] == list(range(DENSE_STEPS))
    # Three records at the default interval measure the cost, then every 200 steps (the cap).
    assert recorded["auto"][DENSE_STEPS:] == [100, 200, 300, *range(400, 2_000, 200)]
    assert recorded["fixed"] == list(range(0, 2_000, 100))  # an explicit interval stays


@pytest.mark.slow
def test_the_schedule_and_the_aggregates_between_records(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import Recorder
    from tb_fitdiag.gradient_stats import DENSE_STEPS

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="m")
    ones = [tf.ones_like(v) for v in model.trainable_variables]
    # 500 planned steps: every one of the first 32, then every 500 // 10 = 50.
    rec = Recorder(tmp_path, model, planned_steps=500)
    recorded = []
    for step in range(150):
        scale = 1000.0 if step == 70 else 1.0  # a spike between two records
        loss = float("nan") if step == 120 else 1.0 + step
        grads = [g * scale for g in ones]
        assert rec.will_record(step) == (step < DENSE_STEPS or step % 50 == 0)
        if rec.record(step, grads, loss=loss):
            recorded.append(step)
    rec.close()
    expected = [*range(DENSE_STEPS), 50, 100]
    assert recorded == expected
    run = cb_load_run(str(tmp_path / "train"))
    assert sorted(run.series(metadata.global_tag("global_grad_norm"))) == expected
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert (info["interval"], info["dense_steps"]) == (50, DENSE_STEPS)
    norm_max = run.series(metadata.global_tag("grad_norm_max"))
    assert norm_max[100] == pytest.approx(1000.0 * math.sqrt(3.0), rel=1e-5)
    assert norm_max[50] == pytest.approx(math.sqrt(3.0), rel=1e-5)
    loss_max = run.series(metadata.global_tag("batch_loss_max"))
    assert loss_max[100] == pytest.approx(101.0)
    # The steps after the last record are written at close, at the last step.
    assert run.series(metadata.global_tag("nonfinite_loss_count"))[149] == 1.0
    assert run.series(metadata.global_tag("first_nonfinite_loss_step"))[149] == 120.0
    assert run.series(metadata.global_tag("batch_loss_max"))[149] == pytest.approx(150.0)

    # An explicit interval: steps 0, N, 2N, ... and nothing dense.
    explicit = Recorder(tmp_path / "explicit", model, interval=7)
    assert [s for s in range(30) if explicit.record(s, ones)] == [0, 7, 14, 21, 28]
    explicit.close()


def test_fold_inside_the_compiled_step_gives_the_same_aggregates(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import Recorder

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="m")
    traces = []
    runs = {}
    for where in ("eager", "compiled"):
        rec = Recorder(tmp_path / where, model, planned_steps=500)

        @tf.function
        def step_fn(scale: Any, loss: Any, step: Any, rec: Any = rec, where: str = where) -> Any:
            traces.append(where)
            grads = [tf.ones_like(v) * scale for v in model.trainable_variables]
            if where == "compiled":
                rec.fold(grads, loss, step=step)
            return grads

        for step in range(150):
            scale = 1000.0 if step == 70 else 1.0  # a spike between two records
            # NaN at a record step and between records: each counted once.
            loss = float("nan") if step in (100, 120) else 1.0 + step
            grads = step_fn(tf.constant(scale), tf.constant(loss), tf.constant(step))
            rec.record(step, grads, loss=loss)
        rec.close()
        runs[where] = cb_load_run(str(tmp_path / where / "train"))
        assert not rec._fold_concrete if where == "compiled" else rec._fold_concrete
    assert traces == ["eager", "compiled"]  # each step traced once, fold() included
    for stat in (
        "grad_norm_max",
        "batch_loss_max",
        "batch_loss_min",
        "nonfinite_loss_count",
        "first_nonfinite_loss_step",
        "global_grad_norm",
    ):
        tag = metadata.global_tag(stat)
        eager, compiled = runs["eager"].series(tag), runs["compiled"].series(tag)
        assert sorted(eager) == sorted(compiled), stat
        for step, value in eager.items():
            assert compiled[step] == pytest.approx(value, rel=1e-6, nan_ok=True), (stat, step)
    assert runs["compiled"].series(metadata.global_tag("grad_norm_max"))[100] == pytest.approx(
        1000.0 * math.sqrt(3.0), rel=1e-5
    )
    counts = runs["compiled"].series(metadata.global_tag("nonfinite_loss_count"))
    assert (counts[100], counts[149]) == (1.0, 1.0)
    assert runs["compiled"].series(metadata.global_tag("first_nonfinite_loss_step"))[149] == 100


def test_bad_options_raise_one_line_errors(tmp_path: Path) -> None:
    from tb_fitdiag import Recorder

    class Model:
        trainable_weights: list[Any] = []

    for kwargs, message in [
        ({"interval": 0}, "interval must be a positive integer"),
        ({"interval": True}, "interval must be a positive integer"),
        ({"planned_steps": -1}, "planned_steps must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            Recorder(tmp_path, Model(), **kwargs)
    with pytest.raises(ValueError, match="model must be a Keras model"):
        Recorder(tmp_path, None)


# ---- FitDiagCallback outside model.fit's usual shape ----


@pytest.mark.slow
def test_callback_records_train_on_batch_driven_through_a_callback_list(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(LR), "mse")
    callbacks = keras.callbacks.CallbackList(
        [FitDiagCallback(tmp_path, interval=2, lint_script=False, live=False)], model=model
    )
    callbacks.on_train_begin()
    for step in range(6):
        batch = slice((step % 4) * 16, (step % 4 + 1) * 16)
        callbacks.on_train_batch_begin(step)
        logs = model.train_on_batch(x[batch], y[batch], return_dict=True)
        callbacks.on_train_batch_end(step, logs)
    callbacks.on_epoch_end(0, logs)
    callbacks.on_train_end()
    run = cb_load_run(str(tmp_path / "train"))
    assert sorted(run.series(metadata.global_tag("global_grad_norm"))) == [0, 2, 4]
    assert sorted(run.series(metadata.global_tag("batch_loss"))) == [0, 2, 4]
    assert sorted(run.series(metadata.layer_tag("update_ratio", "net/hidden"))) == [0, 2, 4]
    assert run.series("epoch_loss")[0] == pytest.approx(logs["loss"])
    # Keras's own train function is back: train_on_batch afterwards records nothing.
    assert "apply" not in vars(model.optimizer)


@pytest.mark.slow
@pytest.mark.parametrize("scale_loss", [True, False], ids=["scale_loss", "no_scale_loss"])
def test_callback_records_an_overridden_train_step(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, scale_loss: bool
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    class Custom(keras.Model):  # type: ignore[misc]
        def train_step(self, data: Any) -> Any:
            x, y = data
            with tf.GradientTape() as tape:
                pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=pred)
                if scale_loss:
                    loss = self.optimizer.scale_loss(loss)  # as Keras's own train_step does
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
            return {m.name: m.result() for m in self.metrics}

    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = Custom(inputs, keras.layers.Dense(1, name="out")(hidden), name="custom")
    model.compile(keras.optimizers.SGD(LR), "mse")
    callback = FitDiagCallback(tmp_path, interval=1, lint_script=False, live=False)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    run = cb_load_run(str(tmp_path / "train"))
    for stat in ("grad_norm", "weight_norm", "update_ratio", "zero_fraction", "nonfinite"):
        assert sorted(run.series(metadata.layer_tag(stat, "hidden"))) == [0, 1, 2, 3], stat
    assert sorted(run.series(metadata.global_tag("global_grad_norm"))) == [0, 1, 2, 3]
    # The batch loss is what the optimizer's scale_loss sees.
    assert (metadata.global_tag("batch_loss") in run.values) == scale_loss
