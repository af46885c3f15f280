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
    from labelled_runs import write_events
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag.labelled_runs import write_events


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
    return root


@pytest.fixture(scope="module")
def loaded(logdir: Path) -> tuple[Any, Any, list[TrainingRun]]:
    provider, ctx, skipped = cli.load_logdir(str(logdir))
    assert skipped == {}
    return provider, ctx, reading.list_training_runs(provider, ctx, "")


def test_lists_runs_with_scalars_grouped(loaded: tuple[Any, Any, list[TrainingRun]]) -> None:
    _, _, runs = loaded
    assert [r.name for r in runs] == ["badjson", "future", "run1", "torch"]
    assert runs[2] == TrainingRun("run1", "run1/train", "run1/validation")


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
    def series(s: Any) -> tuple[list[int], list[float]]:
        return s.steps.tolist(), s.values.tolist()

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
