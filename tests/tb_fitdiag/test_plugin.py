"""Route tests of the Fit Diagnosis tab on real logdirs, through ``werkzeug.test.Client``.

The logdirs are written as TensorBoard event files with the summary metadata of
``tb_fitdiag.metadata`` (the contract the callback writes by), and read back by TensorBoard's
own multiplexer data provider, exactly as ``tensorboard --load_fast=false`` does.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend import application, json_util
from tensorboard.backend.event_processing import data_provider as mux_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.context import RequestContext
from tensorboard.plugins import base_plugin
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from werkzeug.test import Client

from tb_fitdiag import metadata
from tb_fitdiag.plugin import FitDiagPlugin

try:
    from labelled_runs import LONG_RUN_BURST, LONG_RUN_LAYERS, LONG_RUN_STEPS, write_long_run
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag.labelled_runs import (
        LONG_RUN_BURST,
        LONG_RUN_LAYERS,
        LONG_RUN_STEPS,
        write_long_run,
    )

PREFIX = "/data/plugin/fitdiag"
LAYERS = ["sequential/dense", "sequential/dense_1", "sequential/dense_2"]
STATIC_DOC = {
    "version": 1,
    "script": "train.py",
    "sha256": "0" * 64,
    "fitlint_version": "0.1.0",
    "error": None,
    "findings": [
        {
            "code": "FL201",
            "name": "learning-rate-too-high",
            "severity": "warning",
            "path": "train.py",
            "line": 12,
            "column": 4,
            "message": "learning_rate=5.0 is far above the usual range for Adam",
        }
    ],
}
HOSTILE_RUN = "<img src=x onerror=alert(1)>"


# --- writing real logdirs --------------------------------------------------------------------


class _RunWriter:
    """Writes one TensorBoard run (a folder of event files) the way Keras and fitdiag do."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(path))
        self._wall = 1_700_000_000.0

    def _write(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
        self._wall += 1.0
        event = event_pb2.Event(
            step=step, wall_time=self._wall, summary=summary_pb2.Summary(value=values)
        )
        self._writer.add_event(event)

    def scalar(self, tag: str, step: int, value: float) -> None:
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
            data_class=summary_pb2.DATA_CLASS_SCALAR,
        )
        tensor = tensor_util.make_tensor_proto(value, dtype="float32")
        self._write(step, [summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])

    def fitdiag_stats(self, step: int, stats: dict[str, float]) -> None:
        values = []
        for tag, value in stats.items():
            _stat, layer = metadata.parse_tag(tag) or ("", None)
            kind = metadata.KIND_GLOBAL_STAT if layer is None else metadata.KIND_LAYER_STAT
            values.append(
                summary_pb2.Summary.Value(
                    tag=tag,
                    metadata=metadata.create_summary_metadata(kind),
                    tensor=tensor_util.make_tensor_proto(value, dtype="float32"),
                )
            )
        self._write(step, values)

    def document(self, tag: str, kind: str, doc: dict[str, Any]) -> None:
        tensor = tensor_util.make_tensor_proto(json.dumps(doc).encode(), dtype="string")
        meta = metadata.create_summary_metadata(kind, tensor=True)
        self._write(0, [summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])

    def close(self) -> None:
        self._writer.close()


def _write_healthy(root: Path, name: str = "healthy") -> None:
    train, val = _RunWriter(root / name / "train"), _RunWriter(root / name / "validation")
    train.document(
        metadata.RUN_INFO_TAG,
        metadata.KIND_RUN_INFO,
        {
            "version": 1,
            "layers": LAYERS,
            "interval": 10,
            "activation_interval": 20,
            "optimizer": "Adam",
            "strategy": "default",
            "mixed_precision": False,
            "script": "train.py",
        },
    )
    train.document(metadata.STATIC_FINDINGS_TAG, metadata.KIND_STATIC_FINDINGS, STATIC_DOC)
    for epoch in range(12):
        train.scalar("epoch_loss", epoch, 1.0 / (1 + epoch))
        val.scalar("epoch_loss", epoch, 1.1 / (1 + epoch) + 0.01)
    for step in range(0, 120, 10):
        stats = {metadata.global_tag("batch_loss"): 1.0 / (1 + step / 10)}
        for i, layer in enumerate(LAYERS):
            stats[metadata.layer_tag("grad_norm", layer)] = 0.1 * (i + 1) * (1 + 0.01 * step)
            stats[metadata.layer_tag("update_ratio", layer)] = 1e-3
            if step % 20 == 0 and i < 2:  # activations are recorded less often, not on the last
                stats[metadata.layer_tag("dead_fraction", layer)] = 0.05 * i
        train.fitdiag_stats(step, stats)
    train.close()
    val.close()


def _write_diverging(root: Path) -> None:
    train, val = (
        _RunWriter(root / "diverging" / "train"),
        _RunWriter(root / "diverging" / "validation"),
    )
    for epoch in range(10):
        loss = 0.5 * 10**epoch if epoch < 8 else math.nan
        train.scalar("epoch_loss", epoch, loss)
        val.scalar("epoch_loss", epoch, loss * 1.1)
    for step in range(0, 100, 10):
        norm = 10 ** (step / 10) if step < 80 else math.inf
        stats = {metadata.global_tag("batch_loss"): norm if step < 90 else math.nan}
        for layer in LAYERS:
            stats[metadata.layer_tag("grad_norm", layer)] = norm if step < 90 else math.nan
        train.fitdiag_stats(step, stats)
    train.close()
    val.close()


def _write_keras_only(root: Path, name: str = "keras_only") -> None:
    train, val = _RunWriter(root / name / "train"), _RunWriter(root / name / "validation")
    for epoch in range(10):
        train.scalar("epoch_loss", epoch, 2.0 - 0.1 * epoch)
        val.scalar("epoch_loss", epoch, 2.1 - 0.1 * epoch)
    train.close()
    val.close()


# --- the app under test ----------------------------------------------------------------------


def _app(logdir: Path, *, defaults: bool = False) -> tuple[Client, FitDiagPlugin, Any]:
    """The plugin in a TensorBoard app; ``defaults``: TensorBoard's Python loader at its default
    flags, as ``tensorboard --load_fast=false`` builds it (else one that keeps everything)."""
    from tensorboard.backend.event_processing import data_ingester

    if defaults:
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
            tensor_size_guidance=data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE,
        )
    else:
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={metadata.PLUGIN_NAME: 0, "scalars": 0}
        )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = mux_data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(
        logdir=str(logdir),
        data_provider=provider,
        # What TensorBoard passes from --samples_per_plugin (none given: {}).
        sampling_hints={} if defaults else None,
    )
    plugin = FitDiagPlugin(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return Client(app), plugin, provider


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    _write_healthy(root)
    _write_diverging(root)
    _write_keras_only(root)
    _write_keras_only(root, HOSTILE_RUN)
    return root


@pytest.fixture(scope="module")
def client(logdir: Path) -> Iterator[Client]:
    c, _, _ = _app(logdir)
    yield c


def _get_json(client: Client, path: str) -> Any:
    response = client.get(PREFIX + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.get_data(as_text=True))


# --- plugin registration ---------------------------------------------------------------------


def test_tab_is_offered_for_plain_keras_logs(tmp_path: Path) -> None:
    _write_keras_only(tmp_path, "run1")
    client, plugin, _ = _app(tmp_path)
    listing = json.loads(client.get("/data/plugins_listing").get_data(as_text=True))
    entry = listing["fitdiag"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Fit Diagnosis"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/fitdiag/index.js",
    }
    assert plugin.is_active() is False  # cheap: the listing relies on data_plugin_names


def test_tab_is_not_offered_for_an_empty_logdir(tmp_path: Path) -> None:
    client, _, _ = _app(tmp_path)
    listing = json.loads(client.get("/data/plugins_listing").get_data(as_text=True))
    assert listing["fitdiag"]["enabled"] is False


def test_plugin_is_registered_through_the_entry_point() -> None:
    from tensorboard import default

    assert FitDiagPlugin in default.get_dynamic_plugins()


def test_entry_module_imports_neither_tensorflow_nor_the_engine() -> None:
    code = textwrap.dedent(
        """
        import sys
        import tb_fitdiag.plugin
        loaded = [m for m in ("tensorflow", "keras", "tb_fitdiag.diagnosis", "tb_fitdiag.reading")
                  if m in sys.modules]
        print(",".join(loaded))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_a_missing_engine_gives_a_clear_503_and_the_page_still_loads(logdir: Path) -> None:
    # Simulates a broken optional dependency: importing tb_fitdiag.diagnosis fails.
    code = textwrap.dedent(
        f"""
        import json, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tb_fitdiag.diagnosis" or name.startswith("tb_fitdiag.diagnosis."):
                    raise ImportError("No module named 'numpy' (simulated)")
                return None
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_plugin import _app
        from pathlib import Path
        client, _, _ = _app(Path({str(logdir)!r}))
        runs = client.get("/data/plugin/fitdiag/runs")
        page = client.get("/data/plugin/fitdiag/index.js")
        print(json.dumps([runs.status_code, runs.get_data(as_text=True), page.status_code]))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    status, message, page_status = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503
    assert "numpy" in message and "pip install" in message
    assert page_status == 200


# --- /runs -----------------------------------------------------------------------------------


def test_runs_lists_training_runs_and_what_each_holds(client: Client) -> None:
    body = _get_json(client, "/runs")
    runs = {r["name"]: r for r in body["runs"]}
    assert sorted(runs) == sorted(["healthy", "diverging", "keras_only", HOSTILE_RUN])
    healthy = runs["healthy"]
    assert healthy["train_run"] == "healthy/train"
    assert healthy["validation_run"] == "healthy/validation"
    assert healthy["has_losses"] is True
    assert healthy["has_gradients"] is True
    assert healthy["has_static_findings"] is True
    assert healthy["has_run_info"] is True
    assert healthy["layer_count"] == 3
    assert healthy["gradient_stats"] == ["grad_norm", "update_ratio", "dead_fraction"]
    assert healthy["max_step"] == 110
    keras = runs["keras_only"]
    assert keras["has_losses"] is True
    assert keras["has_gradients"] is False
    assert keras["has_static_findings"] is False
    assert keras["layer_count"] == 0
    assert keras["gradient_stats"] == []


def test_listed_runs_are_read_in_the_background(logdir: Path) -> None:
    client, _, _ = _app(logdir)
    deadline = time.monotonic() + 120
    while True:
        runs = _get_json(client, "/runs")["runs"]
        if all(r["loaded"] for r in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    assert len(runs) == 4


def test_background_reads_can_be_turned_off(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITDIAG_PREFETCH", "0")
    client, _, _ = _app(logdir)
    assert not any(r["loaded"] for r in _get_json(client, "/runs")["runs"])
    _get_json(client, "/diagnosis?run=healthy")
    loaded = {r["name"]: r["loaded"] for r in _get_json(client, "/runs")["runs"]}
    assert loaded == {"healthy": True, "diverging": False, "keras_only": False, HOSTILE_RUN: False}


def test_runs_fingerprint_changes_when_new_data_arrives(tmp_path: Path) -> None:
    _write_healthy(tmp_path)
    _write_keras_only(tmp_path)
    client, _, provider = _app(tmp_path)
    before = {r["name"]: r["fingerprint"] for r in _get_json(client, "/runs")["runs"]}
    assert all(isinstance(f, str) and len(f) == 16 for f in before.values())
    assert _get_json(client, "/diagnosis?run=healthy")["fingerprint"] == before["healthy"]
    assert before["healthy"] != before["keras_only"]
    again = {r["name"]: r["fingerprint"] for r in _get_json(client, "/runs")["runs"]}
    assert again == before  # nothing new: a poll sees the same fingerprints

    # Training goes on: a new event file in healthy/train, picked up by TensorBoard's reload.
    more = _RunWriter(tmp_path / "healthy" / "train")
    more._wall = 1_800_000_000.0
    more.fitdiag_stats(120, {metadata.layer_tag("grad_norm", layer): 0.5 for layer in LAYERS})
    more.close()
    provider._multiplexer.Reload()
    after = {r["name"]: r for r in _get_json(client, "/runs")["runs"]}
    assert after["healthy"]["fingerprint"] != before["healthy"]
    assert after["healthy"]["max_step"] == 120
    assert after["keras_only"]["fingerprint"] == before["keras_only"]
    time.sleep(1.1)  # past the listing's reuse time: the next read sees the new step
    grad = _get_json(client, "/gradients?run=healthy")["stats"]["grad_norm"]
    assert grad["steps"][-1] == 120
    # The diagnosis says which data it was read from, in the same digits.
    assert (
        _get_json(client, "/diagnosis?run=healthy")["fingerprint"]
        == after["healthy"]["fingerprint"]
    )


def test_polling_runs_does_not_restart_background_reads(
    logdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, plugin, _ = _app(logdir)
    scheduled: list[list[str]] = []
    monkeypatch.setattr(plugin, "_schedule_prefetch", lambda _c, _e, names: scheduled.append(names))
    for _ in range(3):
        _get_json(client, "/runs")
    assert len(scheduled) == 1  # only the first answer queues reads; the listing did not change


# --- /diagnosis ------------------------------------------------------------------------------


def test_diagnosis_of_a_diverging_run(client: Client) -> None:
    body = _get_json(client, "/diagnosis?run=diverging")
    assert body["run"] == "diverging"
    names = [f["name"] for f in body["findings"]]
    assert "non-finite-loss" in names
    first = body["findings"][0]
    assert first["severity"] == "error"
    assert first["step_start"] <= first["step_end"]
    assert first["evidence"]  # the numbers behind the message
    assert first["remedy"]  # the suggested fix from the engine's catalog
    severities = [f["severity"] for f in body["findings"]]
    order = {"error": 0, "warning": 1, "info": 2}
    assert severities == sorted(severities, key=order.__getitem__)
    train = body["losses"]["train"]
    assert train["tag"] == "epoch_loss"
    assert train["unit"] == "epoch"
    assert train["steps"] == list(range(10))
    # NaN survives the round trip as TensorBoard's string form.
    assert train["values"][8:] == ["NaN", "NaN"]
    assert body["losses"]["batch"]["values"][-1] == "NaN"
    assert body["has_gradients"] is True


def test_diagnosis_is_the_engine_of_the_cli(client: Client, logdir: Path) -> None:
    from tb_fitdiag.diagnosis import diagnose_run
    from tb_fitdiag.reading import list_training_runs, load_run

    _, _, provider = _app(logdir)
    ctx = RequestContext()
    for name in ("healthy", "diverging", "keras_only"):
        run = next(r for r in list_training_runs(provider, ctx, "") if r.name == name)
        expected = diagnose_run(load_run(provider, ctx, "", run)).to_json()
        body = _get_json(client, f"/diagnosis?run={name}")
        strip = [{k: v for k, v in f.items() if k != "summary"} for f in body["findings"]]
        assert strip == json.loads(json.dumps(json_util.Cleanse(expected["findings"])))
        assert body["headline"] == json.loads(json.dumps(json_util.Cleanse(expected["headline"])))
        alarms = [f for f in expected["findings"] if f["severity"] in ("error", "warning")]
        assert (body["headline"] is None) == (not alarms)


def test_diagnosis_of_a_run_without_gradients_still_diagnoses_losses(client: Client) -> None:
    body = _get_json(client, "/diagnosis?run=keras_only")
    assert body["has_gradients"] is False
    assert body["losses"]["train"]["values"][0] == pytest.approx(2.0)
    assert body["losses"]["validation"]["values"][-1] == pytest.approx(1.2)
    assert any("gradient" in note for note in body["notes"])


def test_diagnosis_serves_the_other_metrics_paired_by_name(tmp_path: Path) -> None:
    train, val = _RunWriter(tmp_path / "r" / "train"), _RunWriter(tmp_path / "r" / "validation")
    for epoch in range(6):
        train.scalar("epoch_loss", epoch, 1.0 / (1 + epoch))
        train.scalar("epoch_accuracy", epoch, 0.5 + 0.05 * epoch)
        train.scalar("epoch_learning_rate", epoch, 0.01)
        val.scalar("epoch_loss", epoch, 1.1 / (1 + epoch))
        val.scalar("epoch_accuracy", epoch, 0.45 + 0.05 * epoch)
        val.scalar("evaluation_loss_vs_iterations", epoch * 10, 1.0)
    train.close()
    val.close()
    client, _, _ = _app(tmp_path)
    metrics = _get_json(client, "/diagnosis?run=r")["metrics"]
    assert [m["name"] for m in metrics] == ["accuracy", "learning_rate"]
    accuracy, rate = metrics
    assert accuracy["learning_rate"] is False
    assert accuracy["train"]["tag"] == "epoch_accuracy"
    assert accuracy["train"]["unit"] == "epoch"
    assert accuracy["train"]["steps"] == list(range(6))
    assert accuracy["validation"]["values"][0] == pytest.approx(0.45)
    assert rate["learning_rate"] is True
    assert rate["validation"] is None
    assert rate["train"]["values"] == [pytest.approx(0.01)] * 6


def test_diagnosis_without_other_metrics(client: Client) -> None:
    assert _get_json(client, "/diagnosis?run=keras_only")["metrics"] == []


def test_hostile_run_names_come_back_verbatim(client: Client) -> None:
    body = _get_json(client, "/diagnosis?" + _query(run=HOSTILE_RUN))
    assert body["run"] == HOSTILE_RUN


# --- /gradients ------------------------------------------------------------------------------


def test_gradients_are_layer_by_step_matrices(client: Client) -> None:
    body = _get_json(client, "/gradients?run=healthy&stat=grad_norm&stat=dead_fraction")
    assert body["layers"] == LAYERS
    grad = body["stats"]["grad_norm"]
    assert grad["steps"] == list(range(0, 120, 10))
    assert len(grad["values"]) == 3
    assert all(len(row) == 12 for row in grad["values"])
    assert grad["values"][1][0] == pytest.approx(0.2)
    dead = body["stats"]["dead_fraction"]
    assert dead["steps"] == list(range(0, 120, 20))
    assert dead["values"][2] == [None] * 6  # not recorded for the last layer
    assert dead["values"][1][0] == pytest.approx(0.05)
    assert body["available"] == ["grad_norm", "update_ratio", "dead_fraction"]
    t = body["thresholds"]
    assert t["update_ratio_low"] < t["update_ratio_typical_low"] < 1e-3
    assert 1e-3 < t["update_ratio_typical_high"] < t["update_ratio_high"]


def test_gradients_default_to_grad_norm_and_accept_comma_lists(client: Client) -> None:
    assert list(_get_json(client, "/gradients?run=healthy")["stats"]) == ["grad_norm"]
    body = _get_json(client, "/gradients?run=healthy&stat=update_ratio,grad_norm")
    assert list(body["stats"]) == ["update_ratio", "grad_norm"]


def test_gradients_keep_nan_and_inf(client: Client) -> None:
    body = _get_json(client, "/gradients?run=diverging")
    row = body["stats"]["grad_norm"]["values"][0]
    assert row[0] == pytest.approx(1.0)
    assert row[8] == "Infinity"
    assert row[9] == "NaN"


@pytest.mark.parametrize(
    ("run", "stat", "dense"),
    [
        pytest.param("diverging", "grad_norm", True, id="every-cell-recorded"),
        pytest.param("healthy", "dead_fraction", False, id="a-layer-not-recorded"),
    ],
)
def test_gradients_in_base64_match_the_lists(
    client: Client, run: str, stat: str, dense: bool
) -> None:
    import numpy as np

    lists = _get_json(client, f"/gradients?run={run}&stat={stat}")["stats"][stat]
    packed = _get_json(client, f"/gradients?run={run}&stat={stat}&format=base64")
    matrix = packed["stats"][stat]
    assert matrix["format"] == "base64"
    assert matrix["steps"] == lists["steps"]
    shape = (len(packed["layers"]), len(matrix["steps"]))
    values = np.frombuffer(base64.b64decode(matrix["values"]), dtype="<f4").reshape(shape)
    # No mask when every cell was recorded.
    assert (matrix["present"] is None) == dense
    present = (
        np.ones(shape, dtype=np.uint8)
        if dense
        else np.frombuffer(base64.b64decode(matrix["present"]), dtype=np.uint8).reshape(shape)
    )
    for r, row in enumerate(lists["values"]):
        for c, cell in enumerate(row):
            assert bool(present[r, c]) == (cell is not None)
            if cell == "NaN":
                assert np.isnan(values[r, c])
            elif cell == "Infinity":
                assert values[r, c] == np.inf
            elif cell is not None:
                assert values[r, c] == pytest.approx(cell, rel=1e-6)


def test_gradients_lists_are_rounded_to_six_significant_digits(tmp_path: Path) -> None:
    writer = _RunWriter(tmp_path / "r" / "train")
    writer.fitdiag_stats(0, {metadata.layer_tag("grad_norm", "d"): 0.001234567891})
    writer.fitdiag_stats(1, {metadata.layer_tag("grad_norm", "d"): 98765432.1})
    writer.close()
    client, _, _ = _app(tmp_path)
    body = client.get(PREFIX + "/gradients?run=r").get_data(as_text=True)
    assert json.loads(body)["stats"]["grad_norm"]["values"] == [[0.00123457, 98765400.0]]
    assert "0.00123457," in body


def test_gradients_of_a_run_without_them(client: Client) -> None:
    body = _get_json(client, "/gradients?run=keras_only&stat=grad_norm")
    assert body["stats"] == {"grad_norm": None}
    assert body["layers"] == []


# --- schema 2 (what the callback writes) and TensorBoard's retention -------------------------


def _write_healthy_packed(root: Path, name: str) -> None:
    """The healthy run again, written by ``tb_fitdiag.summary`` (schema 2) as the callback does."""
    from tb_fitdiag.summary import RunWriters

    writers = RunWriters(str(root / name))
    writers.train.document(
        metadata.RUN_INFO_TAG,
        {"version": 2, "layers": LAYERS, "interval": 10, "activation_interval": 20},
        0,
        metadata.KIND_RUN_INFO,
    )
    for epoch in range(12):
        writers.train.scalar("epoch_loss", 1.0 / (1 + epoch), epoch)
        writers.validation.scalar("epoch_loss", 1.1 / (1 + epoch) + 0.01, epoch)
    for step in range(0, 120, 10):
        stats = {metadata.global_tag("batch_loss"): (1.0 / (1 + step / 10), "global_stat")}
        for i, layer in enumerate(LAYERS):
            stats[metadata.layer_tag("grad_norm", layer)] = (
                0.1 * (i + 1) * (1 + 0.01 * step),
                "layer_stat",
            )
            stats[metadata.layer_tag("update_ratio", layer)] = (1e-3, "layer_stat")
        writers.train.stats(stats, step)
        if step % 20 == 0:
            writers.train.stats(
                {
                    metadata.layer_tag("dead_fraction", LAYERS[i]): (0.05 * i, "layer_stat")
                    for i in range(2)
                },
                step,
            )
    writers.close()


def test_schema_2_is_served_as_schema_1_was(tmp_path: Path) -> None:
    _write_healthy(tmp_path, "old")
    _write_healthy_packed(tmp_path, "new")
    client, _, _ = _app(tmp_path)
    runs = {r["name"]: r for r in _get_json(client, "/runs")["runs"]}
    for key in ("has_losses", "has_gradients", "gradient_stats", "layer_count", "max_step"):
        assert runs["new"][key] == runs["old"][key], key
    query = "&stat=grad_norm&stat=update_ratio&stat=dead_fraction"
    old = _get_json(client, "/gradients?run=old" + query)
    new = _get_json(client, "/gradients?run=new" + query)
    assert new["stats"] == old["stats"]
    assert new["layers"] == old["layers"] == LAYERS
    old_diag = _get_json(client, "/diagnosis?run=old")
    new_diag = _get_json(client, "/diagnosis?run=new")
    assert new_diag["findings"] == old_diag["findings"]
    assert new_diag["losses"] == old_diag["losses"]
    assert new_diag["retention"] is None


@pytest.fixture(scope="module")
def long_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long")
    write_long_run(root / "long")
    write_long_run(root / "long_schema1", schema=1)
    return root


def test_a_10000_step_run_is_whole_at_tensorboards_default_flags(long_logdir: Path) -> None:
    """Through TensorBoard's Python loader at its defaults (10 values a tag of a plugin it does
    not know): every one of the 10,000 records is on the page and in the diagnosis."""
    client, _, _ = _app(long_logdir, defaults=True)
    (run,) = [r for r in _get_json(client, "/runs")["runs"] if r["name"] == "long"]
    assert run["max_step"] == LONG_RUN_STEPS - 1
    assert run["layer_count"] == len(LONG_RUN_LAYERS)
    body = _get_json(client, "/gradients?run=long&stat=grad_norm&format=base64")
    assert body["stats"]["grad_norm"]["steps"] == list(range(LONG_RUN_STEPS))
    diagnosis = _get_json(client, "/diagnosis?run=long")
    assert diagnosis["retention"] is None
    assert diagnosis["losses"]["batch"]["steps"] == list(range(LONG_RUN_STEPS))
    exploding = [f for f in diagnosis["findings"] if f["name"] == "exploding-gradients"]
    assert exploding and exploding[0]["step_start"] == LONG_RUN_BURST[0]


def test_what_tensorboard_dropped_is_said_with_the_flag_that_keeps_it(long_logdir: Path) -> None:
    """A run of schema 1 (one tag per statistic) loses records at TensorBoard's defaults."""
    client, _, _ = _app(long_logdir, defaults=True)
    diagnosis = _get_json(client, "/diagnosis?run=long_schema1")
    retention = diagnosis["retention"]
    assert retention["flag"] == "--samples_per_plugin=fitdiag=0"
    assert retention["series_at_limit"] == 3 * len(LONG_RUN_LAYERS) + 1
    assert "--load_fast=false" in retention["message"]
    assert "--samples_per_plugin=fitdiag=0" in retention["message"]
    grads = _get_json(client, "/gradients?run=long_schema1")["stats"]["grad_norm"]
    assert len(grads["steps"]) == 10  # what TensorBoard kept
    # Without the sampling hints TensorBoard passes, the plugin cannot know the loader's limit
    # and says nothing about schema 1 (schema 2's records count themselves).
    client, _, _ = _app(long_logdir)
    assert _get_json(client, "/diagnosis?run=long_schema1")["retention"] is None


# --- /static_findings ------------------------------------------------------------------------


def test_static_findings_recorded_at_train_start(client: Client) -> None:
    body = _get_json(client, "/static_findings?run=healthy")
    assert body == {"run": "healthy", "static_findings": STATIC_DOC}
    assert _get_json(client, "/static_findings?run=keras_only")["static_findings"] is None


# --- errors ----------------------------------------------------------------------------------


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        pytest.param("/diagnosis", 400, "run", id="diagnosis-missing-run"),
        pytest.param("/diagnosis?run=", 400, "run", id="diagnosis-empty-run"),
        pytest.param("/diagnosis?run=a&run=b", 400, "2 times", id="diagnosis-repeated-run"),
        pytest.param("/gradients", 400, "run", id="gradients-missing-run"),
        pytest.param("/gradients?run=healthy&stat=bogus", 400, "bogus", id="gradients-bad-stat"),
        pytest.param("/gradients?run=healthy&format=xml", 400, "xml", id="gradients-bad-format"),
        pytest.param("/static_findings", 400, "run", id="static-findings-missing-run"),
        pytest.param("/diagnosis?run=nope", 404, "nope", id="diagnosis-unknown-run"),
        pytest.param("/gradients?run=nope", 404, "nope", id="gradients-unknown-run"),
        pytest.param("/static_findings?run=nope", 404, "nope", id="static-unknown-run"),
        pytest.param(
            "/diagnosis?run=healthy/train", 404, "healthy/train", id="tb-run-not-training-run"
        ),
    ],
)
def test_bad_requests(client: Client, path: str, status: int, fragment: str) -> None:
    response = client.get(PREFIX + path)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert fragment in text
    assert "Traceback" not in text


# --- methods ---------------------------------------------------------------------------------

# Every route the plugin serves, with a query it answers 200 to.
ROUTES = [
    "/runs",
    "/diagnosis?run=healthy",
    "/gradients?run=healthy",
    "/static_findings?run=healthy",
    "/index.js",
    "/static/style.css",
]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
@pytest.mark.parametrize("path", [*ROUTES, "/diagnosis", "/static/missing.js"])
def test_methods_other_than_get_and_head_are_405(client: Client, path: str, method: str) -> None:
    """405 with Allow, before the route reads anything (so before its 400 or 404 as well)."""
    response = client.open(PREFIX + path, method=method, data=b'{"x": 1}')
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    assert method in text
    assert "GET, HEAD" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("path", ROUTES)
def test_head_is_get_without_the_body(client: Client, path: str) -> None:
    get = client.get(PREFIX + path)
    head = client.head(PREFIX + path)
    assert get.status_code == head.status_code == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert "Allow" not in head.headers
    assert head.get_data() == b""
    assert get.get_data() != b""


# --- static assets ---------------------------------------------------------------------------

STATIC = Path(__file__).resolve().parents[2] / "tb_fitdiag" / "static"


def test_index_js_is_served(client: Client) -> None:
    response = client.get(PREFIX + "/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.get_data() == (STATIC / "index.js").read_bytes()
    assert b"render" in response.get_data()


def test_stylesheet_is_served(client: Client) -> None:
    response = client.get(PREFIX + "/static/style.css")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.get_data() == (STATIC / "style.css").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../plugin.py",
        "/static/..%2fplugin.py",
        "/static/%2e%2e/plugin.py",
        "/static/%2e%2e%2fmetadata.py",
        "/static/..%5cplugin.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/",
        "/static/missing.js",
        "/static/.",
    ],
)
def test_static_paths_are_guarded_against_traversal(client: Client, path: str) -> None:
    response = client.get(PREFIX + path)
    assert response.status_code == 404
    assert b"FitDiagPlugin" not in response.get_data()
    assert b"root:" not in response.get_data()


def test_plugin_entry_page_loads_the_module(client: Client) -> None:
    response = client.get("/data/plugin_entry.html?name=fitdiag")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<base href="plugin/fitdiag/" />' in html
    assert 'import("./index.js")' in html
