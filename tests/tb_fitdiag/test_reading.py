"""reading.py: TensorBoard's data provider -> RunData, on logs written by TensorBoard's writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tb_fitdiag import cli, metadata, reading
from tb_fitdiag.reading import TrainingRun, group_runs

try:
    from labelled_runs import LONG_RUN_LAYERS, LONG_RUN_STEPS, write_events, write_long_run
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag.labelled_runs import (
        LONG_RUN_LAYERS,
        LONG_RUN_STEPS,
        write_events,
        write_long_run,
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(
            ["run1/train", "run1/validation"],
            [TrainingRun("run1", "run1/train", "run1/validation")],
            id="keras-layout",
        ),
        pytest.param(
            ["train", "validation"], [TrainingRun(".", "train", "validation")], id="root-run"
        ),
        pytest.param(["exp/a"], [TrainingRun("exp/a", "exp/a", None)], id="plain-run"),
        pytest.param(["."], [TrainingRun(".", ".", None)], id="plain-root"),
        pytest.param(
            ["b/validation", "a/train"],
            [TrainingRun("a", "a/train", None), TrainingRun("b", None, "b/validation")],
            id="sorted-and-partial",
        ),
        pytest.param(
            ["x/y/train", "x/y/validation", "x"],
            [TrainingRun("x", "x", None), TrainingRun("x/y", "x/y/train", "x/y/validation")],
            id="nested",
        ),
        pytest.param(
            ["a", "a/validation"], [TrainingRun("a", "a", "a/validation")], id="events-beside"
        ),
    ],
)
def test_group_runs(names: list[str], expected: list[TrainingRun]) -> None:
    assert group_runs(names) == expected


def _pts(values: list[float], start: int = 0) -> list[tuple[int, float]]:
    return [(start + i, v) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    write_events(
        root / "run1" / "train",
        {
            "epoch_loss": [(0, 0.9), (1, 0.7), (1, 0.6), (2, 0.5)],  # step 1 written twice
            "epoch_val_accuracy": _pts([0.5, 0.6, 0.7]),
        },
        layer_stats={
            "grad_norm": {"seq/dense": _pts([0.1, 0.2]), "seq/dense_1": _pts([0.3, 0.4])},
            "dead_fraction": {"seq/dense": _pts([0.0, 0.5])},
        },
        global_stats={"global_grad_norm": _pts([1.0, 2.0]), "learning_rate": _pts([0.01, 0.01])},
        documents={
            metadata.RUN_INFO_TAG: {
                "version": 1,
                "layers": ["seq/dense_1", "seq/dense"],
                "interval": 5,
            },
            metadata.STATIC_FINDINGS_TAG: {"version": 1, "findings": []},
        },
    )
    write_events(root / "run1" / "validation", {"epoch_loss": _pts([1.0, 0.8, 0.9])})
    write_events(root / "torch", {"Loss/train": _pts([2.0, 1.0]), "Loss/val": _pts([2.5, 1.5])})
    write_events(root / "docs_only", documents={metadata.RUN_INFO_TAG: {"layers": []}})
    write_events(
        root / "future" / "train",
        {"epoch_loss": _pts([1.0])},
        global_stats={"batch_loss": _pts([1.0])},
        schema_version=99,
    )
    write_events(
        root / "badjson" / "train",
        {"epoch_loss": _pts([1.0])},
        documents={metadata.RUN_INFO_TAG: "{not json"},
    )
    _write_packed(root / "packed")
    return root


def _write_packed(log_dir: Path) -> None:
    """Schema 2, as the callback writes it: 23 gradient records, activations every 5th step,
    then a second fit() (a new event file) that goes on from step 23."""
    from tb_fitdiag.summary import RunWriters

    layer, glob = metadata.KIND_LAYER_STAT, metadata.KIND_GLOBAL_STAT
    for steps in (range(0, 23), range(23, 30)):
        writers = RunWriters(str(log_dir))
        writers.train.document(
            metadata.RUN_INFO_TAG,
            {"version": 2, "layers": ["seq/dense", "seq/dense_1"], "interval": 1},
            steps[0],
            metadata.KIND_RUN_INFO,
        )
        for step in steps:
            values = {
                metadata.layer_tag("grad_norm", "seq/dense"): (0.5 * step, layer),
                metadata.layer_tag("grad_norm", "seq/dense_1"): (
                    float("nan") if step == 7 else 1.0 + step,
                    layer,
                ),
                metadata.global_tag("batch_loss"): (1.0 / (1 + step), glob),
            }
            writers.train.stats(values, step)
            if step % 5 == 0:
                writers.train.stats(
                    {metadata.layer_tag("dead_fraction", "seq/dense"): (0.25, layer)}, step
                )
        writers.train.scalar("epoch_loss", 1.0 / (1 + steps[0]), steps[0])
        writers.close()


@pytest.fixture(scope="module")
def loaded(logdir: Path) -> tuple[Any, Any, list[TrainingRun]]:
    provider, ctx, skipped = cli.load_logdir(str(logdir))
    assert skipped == {}
    return provider, ctx, reading.list_training_runs(provider, ctx, "")


def test_lists_runs_with_scalars_grouped(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    _, _, runs = loaded
    assert [r.name for r in runs] == ["badjson", "future", "packed", "run1", "torch"]
    assert runs[3] == TrainingRun("run1", "run1/train", "run1/validation")


def _load(loaded: tuple[Any, Any, list[TrainingRun]], name: str) -> Any:
    provider, ctx, runs = loaded
    (run,) = [r for r in runs if r.name == name]
    return reading.load_run(provider, ctx, "", run)


def test_load_keras_layout(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    data = _load(loaded, "run1")
    loss = data.train["epoch_loss"]
    assert loss.steps.tolist() == [0, 1, 2]
    assert loss.values.tolist() == pytest.approx([0.9, 0.6, 0.5])  # last write of step 1 wins
    assert loss.steps.dtype == np.int64 and loss.values.dtype == np.float64
    assert set(data.validation) == {"epoch_loss", "epoch_val_accuracy"}
    assert data.validation["epoch_loss"].values.tolist() == pytest.approx([1.0, 0.8, 0.9])
    assert data.layer_stats["grad_norm"]["seq/dense_1"].values.tolist() == pytest.approx([0.3, 0.4])
    assert set(data.layer_stats) == {"grad_norm", "dead_fraction"}
    assert set(data.global_stats) == {"global_grad_norm", "learning_rate"}
    assert data.layers == ["seq/dense_1", "seq/dense"]  # run_info's order
    assert data.run_info is not None and data.run_info["interval"] == 5
    assert data.static_findings == {"version": 1, "findings": []}
    assert data.skipped == []


def test_load_packed_records(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    data, retention = reading.read_run(*loaded[:2], "", TrainingRun("packed", "packed/train", None))
    grad = data.layer_stats["grad_norm"]
    assert grad["seq/dense"].steps.tolist() == list(range(30))
    assert grad["seq/dense"].values.tolist() == [0.5 * s for s in range(30)]
    assert np.isnan(grad["seq/dense_1"].values[7])
    assert grad["seq/dense_1"].values[8] == 9.0
    assert data.layer_stats["dead_fraction"]["seq/dense"].steps.tolist() == [0, 5, 10, 15, 20, 25]
    assert data.global_stats["batch_loss"].values.tolist() == pytest.approx(
        [1.0 / (1 + s) for s in range(30)]
    )
    assert data.layers == ["seq/dense", "seq/dense_1"]
    assert data.run_info is not None and data.run_info["version"] == 2
    assert data.train["epoch_loss"].steps.tolist() == [0, 23]
    assert data.skipped == []
    # 30 gradient records and 6 activation records, every one kept.
    assert (retention.records_written, retention.records_kept) == (36, 36)
    assert retention.complete and retention.to_json() is None


def test_old_and_new_schema_in_one_run_merge(tmp_path: Path) -> None:
    """A run recorded by an older fitdiag and then continued by this one."""
    from tb_fitdiag.summary import RunWriters

    write_events(
        tmp_path / "r" / "train",
        layer_stats={"grad_norm": {"d": [(0, 1.0), (1, 2.0), (2, 3.0)]}},
        schema_version=1,
    )
    writers = RunWriters(str(tmp_path / "r"))
    for step in (2, 3):  # step 2 again: the later write wins, as in TensorBoard
        writers.train.stats(
            {metadata.layer_tag("grad_norm", "d"): (10.0 * step, "layer_stat")}, step
        )
    writers.close()
    provider, ctx, _ = cli.load_logdir(str(tmp_path))
    (run,) = reading.list_training_runs(provider, ctx, "")
    series = reading.load_run(provider, ctx, "", run).layer_stats["grad_norm"]["d"]
    assert series.steps.tolist() == [0, 1, 2, 3]
    assert series.values.tolist() == [1.0, 2.0, 20.0, 30.0]


def _default_python_loader(logdir: Path, **samples: int) -> Any:
    """TensorBoard's Python loader as ``tensorboard --load_fast=false`` builds it, with
    ``--samples_per_plugin`` given as keyword arguments."""
    from tensorboard import context
    from tensorboard.backend.event_processing import (
        data_ingester,
        data_provider,
        plugin_event_multiplexer,
    )

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={**data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE, **samples},
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, str(logdir)), context.RequestContext()


PYTHON_DEFAULTS = reading.SampleLimits(
    "TensorBoard's Python loader (--load_fast=false)", 10, 10, 1000
)


@pytest.fixture(scope="module")
def long_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long")
    write_long_run(root / "schema2")
    write_long_run(root / "schema1", schema=1)
    return root


def test_a_10000_step_run_is_read_whole_at_tensorboards_defaults(long_logdir: Path) -> None:
    provider, ctx = _default_python_loader(long_logdir)
    run = TrainingRun("schema2", "schema2/train", "schema2/validation")
    data, retention = reading.read_run(provider, ctx, "", run, limits=PYTHON_DEFAULTS)
    for layer in LONG_RUN_LAYERS:
        assert data.layer_stats["grad_norm"][layer].steps.tolist() == list(range(LONG_RUN_STEPS))
    assert len(data.global_stats["batch_loss"]) == LONG_RUN_STEPS
    assert retention.complete
    assert retention.records_written == retention.records_kept == LONG_RUN_STEPS


def test_schema_1_at_tensorboards_defaults_says_what_was_dropped(long_logdir: Path) -> None:
    provider, ctx = _default_python_loader(long_logdir)
    run = TrainingRun("schema1", "schema1/train", "schema1/validation")
    data, retention = reading.read_run(provider, ctx, "", run, limits=PYTHON_DEFAULTS)
    assert len(data.layer_stats["grad_norm"]["seq/dense"]) == 10  # TensorBoard kept 10
    assert not retention.complete
    assert len(retention.at_limit) == 10  # 3 statistics x 3 layers and the batch loss
    assert retention.flag() == "--samples_per_plugin=fitdiag=0"
    message = retention.message()
    assert "--load_fast=false" in message and "--samples_per_plugin=fitdiag=0" in message
    assert "10 values" in message
    # ... and with the flag, nothing is missing any more.
    provider, ctx = _default_python_loader(long_logdir, fitdiag=0)
    limits = reading.SampleLimits("TensorBoard's Python loader", None, None, 1000)
    data, retention = reading.read_run(provider, ctx, "", run, limits=limits)
    assert len(data.layer_stats["grad_norm"]["seq/dense"]) == LONG_RUN_STEPS
    assert retention.complete


def test_fewer_samples_than_a_records_tag_holds_are_counted_exactly(long_logdir: Path) -> None:
    provider, ctx = _default_python_loader(long_logdir, fitdiag=4)
    run = TrainingRun("schema2", "schema2/train", "schema2/validation")
    data, retention = reading.read_run(provider, ctx, "", run)
    kept = 4 * LONG_RUN_STEPS // metadata.RECORDS_PER_TAG
    assert (retention.records_written, retention.records_kept) == (LONG_RUN_STEPS, kept)
    assert len(data.global_stats["batch_loss"]) == kept
    assert retention.to_json() == {
        "records_written": LONG_RUN_STEPS,
        "records_kept": kept,
        "series_at_limit": 0,
        "flag": "--samples_per_plugin=fitdiag=0",
        "message": retention.message(),
    }
    assert retention.message().startswith(
        f"TensorBoard's loader kept {kept:,} of the {LONG_RUN_STEPS:,} records of gradient"
    )


def test_the_cli_loader_keeps_every_record(long_logdir: Path) -> None:
    provider, ctx, _ = cli.load_logdir(str(long_logdir))
    for name in ("schema1", "schema2"):
        run = TrainingRun(name, f"{name}/train", f"{name}/validation")
        data = reading.load_run(provider, ctx, "", run)
        assert len(data.layer_stats["zero_fraction"]["seq/dense_2"]) == LONG_RUN_STEPS


def test_newer_records_are_skipped_with_a_note(tmp_path: Path) -> None:
    from tensorboard.compat.proto import summary_pb2

    from tb_fitdiag.summary import RunWriters

    writers = RunWriters(str(tmp_path / "r"))
    writers.train.stats({metadata.global_tag("batch_loss"): (1.0, "global_stat")}, 0)
    writers.train.scalar("epoch_loss", 1.0, 0)
    writers.close()
    # Rewrite the file with a newer version in the records' metadata.
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    (path,) = (tmp_path / "r" / "train").iterdir()
    events = list(event_file_loader.EventFileLoader(str(path)).Load())
    path.unlink()
    writer = EventFileWriter(str(tmp_path / "r" / "train"))
    for event in events:
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                value.metadata.plugin_data.content = b'{"version": 3, "kind": "records"}'
                value.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
        writer.add_event(event)
    writer.close()
    provider, ctx, _ = cli.load_logdir(str(tmp_path))
    (run,) = reading.list_training_runs(provider, ctx, "")
    data = reading.load_run(provider, ctx, "", run)
    assert data.global_stats == {}
    assert len(data.skipped) == 1 and "newer than this reader" in data.skipped[0]


def test_load_other_framework_twins(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    data = _load(loaded, "torch")
    assert set(data.train) == {"Loss/train"}
    assert set(data.validation) == {"Loss/val"}
    assert data.layers == [] and data.run_info is None


def test_newer_schema_is_skipped_with_a_note(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    data = _load(loaded, "future")
    assert data.global_stats == {}
    assert set(data.train) == {"epoch_loss"}
    assert len(data.skipped) == 1 and "newer than this reader" in data.skipped[0]


def test_bad_document_is_skipped_with_a_note(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    data = _load(loaded, "badjson")
    assert data.run_info is None
    assert len(data.skipped) == 1 and "not valid JSON" in data.skipped[0]


@pytest.mark.slow
def test_reading_does_not_import_tensorflow() -> None:
    code = (
        "import sys, tb_fitdiag.reading, tb_fitdiag.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _snapshot(data: Any) -> dict[str, Any]:
    def series(s: Any) -> tuple[list[int], list[float | str]]:
        # NaN as a string: NaN != NaN would make equal snapshots differ.
        return s.steps.tolist(), [v if v == v else "nan" for v in s.values.tolist()]

    return {
        "train": {k: series(v) for k, v in data.train.items()},
        "validation": {k: series(v) for k, v in data.validation.items()},
        "layer_stats": {
            stat: {layer: series(s) for layer, s in by.items()}
            for stat, by in data.layer_stats.items()
        },
        "global_stats": {k: series(v) for k, v in data.global_stats.items()},
        "layers": data.layers,
        "run_info": data.run_info,
        "static_findings": data.static_findings,
        "skipped": data.skipped,
    }


@pytest.mark.slow
def test_rust_data_server_gives_the_same_run_data(
    logdir: Path, loaded: tuple[Any, Any, list[TrainingRun]]
) -> None:
    """The gRPC provider of TensorBoard's Rust data server (``--load_fast``) reads the same."""
    import time

    from tensorboard import context
    from tensorboard.data import server_ingester
    from tensorboard.util import grpc_util

    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError as err:
        pytest.skip(f"no TensorBoard data server: {err}")
    ingester = server_ingester.SubprocessServerDataIngester(
        binary,
        str(logdir),
        reload_interval=0,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={"scalars": 0},
    )
    ingester.start()
    try:
        provider, ctx = ingester.data_provider, context.RequestContext()
        expected_runs = loaded[2]
        expected = {run.name: _snapshot(_load(loaded, run.name)) for run in expected_runs}
        deadline = time.monotonic() + 30
        while True:  # the server loads in the background
            runs = reading.list_training_runs(provider, ctx, "")
            got = {run.name: _snapshot(reading.load_run(provider, ctx, "", run)) for run in runs}
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert runs == expected_runs
        assert got == expected
    finally:
        stdin = getattr(ingester, "_stdin_handle", None)  # closing it stops the server
        if stdin is not None:
            stdin.close()
