"""The live diagnosis: FitDiagCallback says what goes wrong while Keras trains.

Real fits of small models that diverge, plateau, overfit and go NaN, with the lines they print
(content, once only), ``stop_on``, ``verbose=0``, a logger handler, the event the findings are
written to; and the bookkeeping of ``tb_fitdiag.live`` on synthetic series.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tb_fitdiag import metadata
from tb_fitdiag.live import LiveDiagnosis, LiveRun

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning"),
]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("fitdiag:")]


def _binary(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x @ rng.normal(size=(d,)) + noise * rng.normal(size=n) > 0).astype("float32")
    return x, y


def _mlp(keras: Any, d: int, width: int, out: int = 1, activation: str = "sigmoid") -> Any:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(out, activation=activation),
        ]
    )


def _too_high_rate(keras: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """Adam at a learning rate of 1 on a ReLU MLP: the loss blows up in the first steps."""
    x, y = _binary(2000, 20, 0.5, seed=0)
    model = _mlp(keras, 20, 64)
    model.compile(keras.optimizers.Adam(learning_rate=1.0), "binary_crossentropy")
    return model, x, y


def _fit(keras: Any, model: Any, x: Any, y: Any, callback: Any, **kwargs: Any) -> Any:
    options = {"batch_size": 64, "epochs": 5, "validation_split": 0.2, "verbose": 2}
    options.update(kwargs)
    return model.fit(x, y, callbacks=[callback], **options)


@pytest.mark.slow
def test_a_diverging_run_says_so_once_with_its_cause(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    model, x, y = _too_high_rate(keras)
    history = _fit(keras, model, x, y, FitDiagCallback(tmp_path, lint_script=False))
    assert len(history.history["loss"]) == 5  # nothing stops without stop_on
    lines = _lines(capsys.readouterr().out)
    diverging = [line for line in lines if "diverging-loss (error)" in line]
    assert len(diverging) == 1, lines  # said once, not at every epoch end
    (line,) = diverging
    assert line.startswith("fitdiag: epoch 1: diverging-loss (error): training loss")
    assert "most likely learning-rate-too-high" in line
    assert "try: Lower the learning rate for Adam from 1 to about 0.001" in line
    assert len(lines) == len({line.split(":")[2] for line in lines}), "a finding said twice"
    # The findings are written as an event: what was said, and at which step and epoch.
    run = cb_load_run(str(tmp_path / "train"))
    documents = run.series(metadata.LIVE_FINDINGS_TAG)
    latest = json.loads(documents[max(documents)])
    said = {f["name"]: f for f in latest["findings"]}
    assert said["diverging-loss"]["severity"] == "error"
    assert said["diverging-loss"]["epoch"] == 0
    assert said["diverging-loss"]["line"] == line
    # fitdiag diagnose says it too: in the text under the finding, and in the JSON.
    from tb_fitdiag import cli
    from tb_fitdiag.diagnosis import DiagnosisConfig

    reports, _ = cli.diagnose_logdir(str(tmp_path), None, DiagnosisConfig())
    step = said["diverging-loss"]["step"]
    text = cli.render_text(reports, [])
    assert f"said while training: at step {step} (Keras's epoch 1), as error" in text
    live = json.loads(cli.render_json(reports, []))["runs"][0]["live"]
    assert {"name": "diverging-loss", "severity": "error", "step": step, "epoch": 0} in live


@pytest.mark.slow
def test_stop_on_error_stops_at_the_epoch_that_raised_it(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    model, x, y = _too_high_rate(keras)
    callback = FitDiagCallback(tmp_path, lint_script=False, stop_on="error")
    history = _fit(keras, model, x, y, callback, epochs=20)
    assert len(history.history["loss"]) == 1
    lines = _lines(capsys.readouterr().out)
    assert lines[-1] == (
        "fitdiag: stopping training at epoch 1 (stop_on='error'): diverging-loss (error)"
    )
    # The events keep everything up to the stop.
    run = cb_load_run(str(tmp_path / "train"))
    assert sorted(run.series("epoch_loss")) == [0]


@pytest.mark.slow
def test_a_nan_is_said_and_stops_training_before_the_epoch_ends(
    tmp_path: Path, cb_clean_keras: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _binary(6400, 20, 0.5, seed=1)
    model = _mlp(keras, 20, 64)
    model.compile(keras.optimizers.SGD(learning_rate=1e6), "binary_crossentropy")
    callback = FitDiagCallback(tmp_path, lint_script=False, stop_on="error", interval=5)
    _fit(keras, model, x, y, callback, epochs=3, validation_split=0.0)
    steps = int(np.asarray(model.optimizer.iterations))
    assert steps < 100, steps  # 100 steps per epoch: it stopped within the first one
    lines = _lines(capsys.readouterr().out)
    assert any("non-finite-loss (error)" in line for line in lines), lines
    assert lines[-1].startswith("fitdiag: stopping training at epoch 1 (stop_on='error')")


@pytest.mark.slow
def test_a_plateau_and_an_overfit_are_said(
    tmp_path: Path, cb_clean_keras: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    rng = np.random.default_rng(61)
    x = rng.normal(size=(3000, 12)).astype("float32")
    y = rng.integers(0, 5, size=3000)  # labels that carry no signal
    model = _mlp(keras, 12, 8, out=5, activation="softmax")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["acc"])
    _fit(keras, model, x, y, FitDiagCallback(tmp_path / "plateau", lint_script=False), epochs=8)
    lines = _lines(capsys.readouterr().out)
    assert any("loss-plateau (warning)" in line for line in lines), lines

    x, y = _binary(80, 20, 2.0, seed=71)
    model = _mlp(keras, 20, 256)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    callback = FitDiagCallback(tmp_path / "overfit", lint_script=False)
    _fit(keras, model, x, y, callback, epochs=40, batch_size=8, validation_split=0.5)
    lines = _lines(capsys.readouterr().out)
    assert [line for line in lines if "overfitting" in line], lines
    assert len([line for line in lines if "overfitting" in line]) == 1


@pytest.mark.slow
def test_a_healthy_run_and_verbose_0_print_nothing(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _binary(2000, 20, 0.5, seed=0)
    model = _mlp(keras, 20, 32)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    _fit(keras, model, x, y, FitDiagCallback(tmp_path / "healthy", lint_script=False))
    assert _lines(capsys.readouterr().out) == []

    model, x, y = _too_high_rate(keras)
    callback = FitDiagCallback(tmp_path / "quiet", lint_script=False)
    _fit(keras, model, x, y, callback, verbose=0)
    captured = capsys.readouterr()
    assert _lines(captured.out) == [] and _lines(captured.err) == []
    # Silent, but still written.
    run = cb_load_run(str(tmp_path / "quiet" / "train"))
    assert metadata.LIVE_FINDINGS_TAG in run.values


@pytest.mark.slow
def test_a_handler_on_the_fitdiag_logger_gets_the_lines(
    tmp_path: Path, cb_clean_keras: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("fitdiag")
    logger.addHandler(handler)
    try:
        model, x, y = _too_high_rate(keras)
        _fit(keras, model, x, y, FitDiagCallback(tmp_path, lint_script=False), epochs=2)
    finally:
        logger.removeHandler(handler)
    assert any("diverging-loss (error)" in r for r in records), records
    assert _lines(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stop_on": "fatal"}, "stop_on must be None, 'error' or 'warning'"),
        ({"stop_on": "error", "live": False}, "stop_on needs live=True"),
    ],
)
def test_bad_live_options_raise_one_line_errors(kwargs: dict[str, Any], message: str) -> None:
    from tb_fitdiag import FitDiagCallback

    with pytest.raises(ValueError, match=message):
        FitDiagCallback(**kwargs)


# ---- the bookkeeping, on synthetic series (no training) ----


def _diverging(live: LiveDiagnosis, upto: int, peak: float) -> None:
    for step in range(upto):
        loss = 0.7 if step == 0 else (peak if step < 10 else 0.69)
        live.run.add_stats({metadata.global_tag("batch_loss"): (loss, "global_stat")}, step)


def test_a_finding_is_reported_once_then_again_only_when_its_severity_rises() -> None:
    live = LiveDiagnosis()
    _diverging(live, 40, peak=50.0)
    first = live.check(epoch=0, step=39)
    names = [r.name for r in first.raised]
    assert "diverging-loss" in names
    again = live.check(epoch=1, step=39)
    assert again.raised == []
    # A lower severity of a reported finding is not news either.
    before = live.reported["diverging-loss"]
    live.reported["diverging-loss"] = type(before)(
        before.name, "warning", before.step, before.epoch, before.line
    )
    rose = live.check(epoch=2, step=39)
    assert [r.name for r in rose.raised] == ["diverging-loss"]
    assert rose.raised[0].severity == "error"


def test_forget_takes_back_a_check() -> None:
    live = LiveDiagnosis(stop_on="error")
    _diverging(live, 40, peak=50.0)
    check = live.check(epoch=0, step=39)
    assert check.stop is not None and live.stopped
    live.forget(check)
    assert live.reported == {} and not live.stopped
    assert live.check(epoch=0, step=39).raised == check.raised


def test_live_run_builds_series_the_engine_reads() -> None:
    run = LiveRun()
    run.run_info = {"layers": ["b", "a"]}
    for step in range(100):
        run.add_stats(
            {
                metadata.layer_tag("grad_norm", "a"): (1.0, "layer_stat"),
                metadata.layer_tag("grad_norm", "b"): (2.0, "layer_stat"),
            },
            step,
        )
    run.add_stats({metadata.global_tag("batch_loss_max"): (3.0, "global_stat")}, 99)
    run.add_stats({metadata.global_tag("batch_loss_max"): (4.0, "global_stat")}, 99)
    run.add_epoch({"loss": 1.0, "val_loss": 2.0, "accuracy": 0.5}, 0)
    data = run.data()
    assert data.layers == ["b", "a"]
    assert data.layer_stats["grad_norm"]["a"].steps.tolist() == list(range(100))
    assert data.global_stats["batch_loss_max"].values.tolist() == [4.0]  # the last one wins
    assert set(data.train) == {"epoch_loss", "epoch_accuracy"}
    assert set(data.validation) == {"epoch_loss"}


class _Written(LiveRun):
    """A live copy that also keeps every value written, one list per tag, for a reference
    built without its tables."""

    def __init__(self) -> None:
        super().__init__()
        self.written: dict[str, list[tuple[int, float]]] = {}
        self.epochs: dict[str, list[tuple[int, float]]] = {}

    def add_stats(self, values: Any, step: int) -> None:
        super().add_stats(values, step)
        for tag, (value, _) in values.items():
            self.written.setdefault(tag, []).append((step, value))

    def add_epoch(self, logs: Any, epoch: int) -> None:
        super().add_epoch(logs, epoch)
        for name, value in logs.items():
            self.epochs.setdefault(name, []).append((epoch, value))

    def reference(self) -> Any:
        """The run as the event-file reader builds it: one series per tag."""
        from tb_fitdiag.diagnosis import RunData, Series
        from tb_fitdiag.reading import layer_order, put_stat

        def series(points: list[tuple[int, float]]) -> Series:
            return Series.from_points([p[0] for p in points], [p[1] for p in points])

        data = RunData(run_info=self.run_info)
        for name, points in self.epochs.items():
            side = data.validation if name.startswith("val_") else data.train
            side[f"epoch_{name.removeprefix('val_')}"] = series(points)
        for tag, points in self.written.items():
            parsed = metadata.parse_tag(tag)
            if parsed is not None:
                put_stat(data, *parsed, series(points))
        data.layers = layer_order(data)
        return data


def _write_awkward(run: _Written, kind: str, begin: int, end: int) -> None:
    """Writes steps ``begin`` to ``end`` of a run whose layout exercises every path of
    ``LiveRun.data``: a table whose layers are not in ``run_info`` order (and one layer not
    in it at all), a layer without one statistic (its rows unevenly spaced), a tag written in
    two tables, a statistic split over two tables at the same steps, and in ``"nan"`` a
    layer's gradient gone NaN."""
    run.run_info = {"layers": ["in", "mid", "out"], "optimizer": "SGD", "loss": "mse"}
    written = ["out", "in", "mid", "extra"]
    rng = np.random.default_rng(begin)
    for step in range(begin, end, 4):
        noise = 1 + 0.05 * rng.random()
        grad = {"in": 1.0, "mid": 0.5, "out": 0.2, "extra": 0.3}
        zero = {"in": 0.01, "mid": 0.02, "out": 0.0, "extra": 0.0}
        ratio = {"mid": 1e-3, "out": 1e-3, "extra": 1e-3}  # none for "in"
        if kind == "nan":
            zero["in"] = 0.95
            if step >= 120:
                grad["mid"] = float("nan")
        else:
            grad["in"] = 1e-9
            ratio["mid"] = 0.5
        values: dict[str, tuple[float, str]] = {}
        for layer in written:
            values[metadata.layer_tag("grad_norm", layer)] = (grad[layer] * noise, "layer_stat")
            values[metadata.layer_tag("zero_fraction", layer)] = (zero[layer], "layer_stat")
            if layer in ratio:
                values[metadata.layer_tag("update_ratio", layer)] = (ratio[layer], "layer_stat")
        values[metadata.global_tag("batch_loss")] = (1.0 / (1 + step), "global_stat")
        values[metadata.global_tag("global_grad_norm")] = (1.0 * noise, "global_stat")
        run.add_stats(values, step)
        if step % 40 == 0:
            grad_extra = metadata.layer_tag("grad_norm", "extra")
            run.add_stats({grad_extra: (0.3 * noise, "layer_stat")}, step + 2)
        dead = {"out": 0.0, "in": 0.1, "mid": 0.9 if kind == "nan" else 0.0}
        bad = 1.0 if kind == "nan" and step >= 120 else 0.0
        # Split at the same steps, interleaved in layer order ("in", "out" | "mid").
        for part in (("out", "in"), ("mid",)):
            split = {metadata.layer_tag("dead_fraction", k): (dead[k], "layer_stat") for k in part}
            split |= {metadata.layer_tag("nonfinite", k): (bad, "layer_stat") for k in part}
            run.add_stats(split, step)
        run.add_stats(
            {metadata.layer_tag("weight_norm", layer): (10.0, "layer_stat") for layer in written},
            step + 1,
        )
    for epoch in range(begin // 40, end // 40):
        run.add_epoch({"loss": 1.0 / (1 + epoch), "val_loss": 1.2 / (1 + epoch)}, epoch)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("nan", {"exploding-gradients", "dead-units"}),
        ("vanish", {"vanishing-gradients", "update-ratio-too-high"}),
    ],
)
def test_the_live_tables_diagnose_as_the_series_read_one_by_one(
    kind: str, expected: set[str]
) -> None:
    from tb_fitdiag.diagnosis import diagnose_run
    from tb_fitdiag.diagnosis.model import LayerSeries

    run = _Written()
    _write_awkward(run, kind, 0, 200)
    assert diagnose_run(run.data()).to_json() == diagnose_run(run.reference()).to_json()
    _write_awkward(run, kind, 200, 400)
    # Steps written out of order, after a diagnosis: the plan of the tables is made again.
    layers = ("out", "in", "mid", "extra")  # the weight norms' table, no new one
    weights = {metadata.layer_tag("weight_norm", k): (10.0, "layer_stat") for k in layers}
    tables = len(run.tables)
    run.add_stats(weights, 3)
    run.add_stats(weights, 0)
    assert len(run.tables) == tables
    data = run.data()
    grad = data.layer_stats["grad_norm"]
    assert isinstance(grad, LayerSeries)
    assert set(grad.others) == {"extra"}  # in two tables: merged, not a table row
    assert data.layers == ["in", "mid", "out", "extra"]
    steps = data.layer_stats["weight_norm"]["in"].steps
    assert steps[0] == 0 and np.all(np.diff(steps) > 0)  # sorted back
    live, reference = diagnose_run(data).to_json(), diagnose_run(run.reference()).to_json()
    assert expected <= {f["name"] for f in live["findings"]}
    assert live == reference
    if kind == "nan":  # every layer named in layer order, whichever table it is in
        exploding = next(f for f in live["findings"] if f["name"] == "exploding-gradients")
        assert exploding["evidence"]["layers"] == ["in", "mid", "out"]


def test_layer_series_is_a_read_only_mapping_of_its_tables_rows() -> None:
    from tb_fitdiag.diagnosis import Series
    from tb_fitdiag.diagnosis.model import LayerSeries, Table

    steps = np.arange(3, dtype=np.int64)
    table = Table(steps, ("a", "b"), np.arange(6.0).reshape(2, 3))
    empty = Series(np.empty(0, dtype=np.int64), np.empty(0))
    by_layer = LayerSeries([table], {"c": empty})
    assert list(by_layer) == ["a", "b", "c"] and len(by_layer) == 3
    assert by_layer["b"].values.tolist() == [3.0, 4.0, 5.0]
    assert by_layer["b"] is by_layer["b"]  # made once
    assert by_layer["c"] is empty and "c" in by_layer and "d" not in by_layer
    assert by_layer.get("d") is None
    with pytest.raises(KeyError):
        by_layer["d"]
    assert by_layer.longest() == 3 and LayerSeries([]).longest() == 0
    with pytest.raises(TypeError):
        by_layer["a"] = empty  # type: ignore[index]
    with pytest.raises(ValueError, match="more than one table"):
        LayerSeries([table, table])
    with pytest.raises(ValueError, match="more than one table"):
        LayerSeries([table], {"a": empty})
    with pytest.raises(ValueError, match="cannot hold"):
        Table(steps, ("a",), np.zeros((2, 3)))


def test_a_long_series_is_thinned_evenly_and_keeps_its_first_and_latest_points() -> None:
    from tb_fitdiag.live import MAX_POINTS

    run = LiveRun()
    tag = metadata.global_tag("batch_loss")
    total = 10 * MAX_POINTS + 7
    for step in range(total):
        run.add_stats({tag: (float(step), "global_stat")}, step)
    series = run.data().global_stats["batch_loss"]
    assert len(series.steps) <= MAX_POINTS
    assert series.steps[0] == 0 and series.steps[-1] == total - 1
    gaps = np.diff(series.steps[:-1])
    assert gaps.min() == gaps.max()  # evenly thinned
    assert series.values.tolist() == series.steps.astype(float).tolist()


def test_a_malformed_live_document_is_left_out() -> None:
    from tb_fitdiag.diagnosis import RunData, diagnose_run

    good = {"name": "diverging-loss", "severity": "error", "step": 3, "epoch": 0}
    data = RunData(
        live_findings={
            "version": 1,
            "findings": [good, {"name": 5}, "x", {**good, "step": True}, {**good, "epoch": 1.5}],
        }
    )
    assert diagnose_run(data).live == (good,)
    assert diagnose_run(RunData(live_findings={"findings": "abc"})).live == ()
    assert diagnose_run(RunData()).to_json()["live"] == []
