"""``fitdiag diagnose``: exit codes, output formats and bad input, on real event files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tb_fitdiag import __version__, cli, metadata

try:
    from labelled_runs import LONG_RUN_BURST, LONG_RUN_STEPS, write_events, write_long_run
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag.labelled_runs import (
        LONG_RUN_BURST,
        LONG_RUN_STEPS,
        write_events,
        write_long_run,
    )

E = np.arange(30)


def _pts(values: np.ndarray | list[float]) -> list[tuple[int, float]]:
    return [(i, float(v)) for i, v in enumerate(values)]


HEALTHY_TRAIN = 0.3 + 2.0 * np.exp(-E / 4)
HEALTHY_VAL = 0.35 + 2.0 * np.exp(-E / 4)
PLATEAU = 0.693 - 0.0002 * E
NAN_LOSS = np.r_[1.0, 0.9, 3.0, 1e5, np.nan, np.nan]


def _keras_run(root: Path, name: str, train: np.ndarray, val: np.ndarray | None = None) -> None:
    write_events(root / name / "train", {"epoch_loss": _pts(train)})
    if val is not None:
        write_events(root / name / "validation", {"epoch_loss": _pts(val)})


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    _keras_run(tmp_path, "healthy", HEALTHY_TRAIN, HEALTHY_VAL)
    _keras_run(tmp_path, "group/plateau", PLATEAU, PLATEAU + 0.01)
    _keras_run(tmp_path, "group/nan", NAN_LOSS)
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_json_shape_and_exit_code(logdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["diagnose", str(logdir), "--format", "json"], capsys)
    assert code == 1  # the NaN run has an error
    doc = json.loads(out)  # strict JSON: NaN evidence is written as a string
    assert [r["run"] for r in doc["runs"]] == ["group/nan", "group/plateau", "healthy"]
    nan_run, plateau_run, healthy_run = doc["runs"]
    (finding,) = nan_run["findings"]
    assert set(finding) == {
        "name",
        "severity",
        "step_start",
        "step_end",
        "message",
        "evidence",
        "suggestions",
        "remedy",
    }
    assert (finding["name"], finding["severity"], finding["step_start"]) == (
        "non-finite-loss",
        "error",
        4,
    )
    assert finding["evidence"]["first_non_finite_value"] == "nan"
    assert "learning-rate-too-high" in finding["suggestions"]
    assert [f["name"] for f in plateau_run["findings"]] == ["loss-plateau"]
    assert healthy_run["findings"] == []
    assert doc["skipped"] == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--run", "healthy"], 0, id="healthy-only"),
        pytest.param(["--run", "group/plateau"], 0, id="warning-below-fail-on-error"),
        pytest.param(["--run", "group/plateau", "--fail-on", "warning"], 1, id="fail-on-warning"),
        pytest.param(["--run", "group/*"], 1, id="glob-with-error"),
        pytest.param(["--run", "healthy", "--fail-on", "warning"], 0, id="healthy-fail-on-warning"),
        pytest.param(["--run", "group/plateau", "--set", "min_points=100"], 0, id="set-threshold"),
    ],
)
def test_exit_codes(
    logdir: Path, argv: list[str], expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = _run(["diagnose", str(logdir), *argv], capsys)
    assert code == expected


def test_set_threshold_changes_the_verdict(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["diagnose", str(logdir), "--run", "group/plateau", "--fail-on", "warning"]
    assert _run(argv, capsys)[0] == 1
    assert _run([*argv, "--set", "plateau_min_improvement=0.001"], capsys)[0] == 0


def test_text_output(logdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["diagnose", str(logdir)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "group/nan: 1 error"
    assert "  ERROR   non-finite-loss  (epochs 4-5)" in lines
    assert any(line.strip().startswith("evidence: tag=epoch_loss") for line in lines)
    assert any("likely causes (fitlint): learning-rate-too-high" in line for line in lines)
    assert any(line.strip().startswith("fix: Lower the learning rate") for line in lines)
    assert "healthy: no findings" in lines
    assert lines[-1] == "3 runs: 1 error, 1 warning"


def _deep_run(root: Path) -> None:
    """20 layers whose gradient norms shrink toward the input (vanishing), the third of them
    with every gradient exactly 0 (dead)."""
    layers = [f"model/layer_{i:02d}" for i in range(20)]
    steps = range(0, 300, 10)
    write_events(
        root / "deep" / "train",
        {"epoch_loss": _pts(HEALTHY_TRAIN)},
        layer_stats={
            "grad_norm": {
                layer: [(s, 10.0 ** (-7 + 7 * i / 19)) for s in steps]
                for i, layer in enumerate(layers)
            },
            "zero_fraction": {
                layer: [(s, 1.0 if i == 2 else 0.0) for s in steps]
                for i, layer in enumerate(layers)
            },
        },
    )


def test_text_output_prints_per_layer_evidence_as_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _deep_run(tmp_path)
    code, out, _ = _run(["diagnose", str(tmp_path), "--fail-on", "warning"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert "entries>" not in out
    # A long per-layer table: a header line, then "layer: value" lines, the first and the last
    # layers kept (the verdict compares them), the middle ones counted.
    table = lines.index("          grad_norm_by_layer:")
    assert lines[table + 1] == "            model/layer_00: 1e-07"
    assert lines[table + 2] == "            model/layer_01: 2.336e-07"
    assert lines[table + 7] == "            ... 10 more (--format json lists every one)"
    assert lines[table + 11] == "            model/layer_19: 1"
    assert not any("model/layer_08:" in line for line in lines)
    # A table of several values per layer, and the single values on the evidence line.
    assert "            model/layer_02: zero_gradient_fraction=1" in lines
    assert any(line.startswith("          evidence: first_layer=model/layer_00") for line in lines)
    # Everything but the messages, the headline and the fixes stays within 100 columns.
    prose = ("MOST LIKELY", "Most likely", "fix:", "likely causes", "found by", "the ", "1 layer")
    long = [line for line in lines if len(line) > 100 and not line.strip().startswith(prose)]
    assert long == []


def test_json_output_keeps_the_whole_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _deep_run(tmp_path)
    _, out, _ = _run(["diagnose", str(tmp_path), "--format", "json"], capsys)
    findings = {f["name"]: f for f in json.loads(out)["runs"][0]["findings"]}
    by_layer = findings["vanishing-gradients"]["evidence"]["grad_norm_by_layer"]
    assert len(by_layer) == 20
    assert findings["vanishing-gradients"]["evidence"]["step_unit"] == "step"
    dead = findings["dead-units"]["evidence"]["layers"]
    assert dead == {"model/layer_02": {"zero_gradient_fraction": 1.0}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["diagnose", "{missing}"], "no such directory", id="missing-dir"),
        pytest.param(["diagnose", "{file}"], "not a directory", id="file"),
        pytest.param(["diagnose", "{empty}"], "no TensorBoard runs with scalar data", id="empty"),
        pytest.param(["diagnose", "{logs}", "--run", "nope*"], "no run matches", id="no-match"),
        pytest.param(["diagnose", "{logs}", "--set", "nope=1"], "unknown diagnosis", id="set"),
        pytest.param(["diagnose", "{logs}", "--set", "min_points=x"], "not an integer", id="nan"),
        pytest.param(
            ["diagnose", "{logs}", "--set", "trend_alpha=x"], "not a number", id="not-float"
        ),
        pytest.param(["diagnose", "{logs}", "--set", "min_points"], "NAME=VALUE", id="no-eq"),
        pytest.param(["diagnose", "{logs}", "--format", "xml"], "invalid choice", id="format"),
        pytest.param([], "a command is required", id="no-command"),
    ],
)
def test_errors_exit_2_with_one_line(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    _keras_run(tmp_path / "logs", "r", HEALTHY_TRAIN)
    paths = {k: str(tmp_path / k) for k in ("missing", "file", "empty", "logs")}
    code, out, err = _run([a.format(**paths) for a in argv], capsys)
    assert code == 2
    assert message in err
    assert out == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and out.strip() == f"fitdiag {__version__}"


def test_validation_only_and_short_runs_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(tmp_path / "valonly" / "validation", {"epoch_loss": _pts(HEALTHY_VAL)})
    write_events(tmp_path / "short" / "train", {"epoch_loss": _pts([0.9, 0.5, 3.0])})
    code, out, _ = _run(["diagnose", str(tmp_path), "--format", "json"], capsys)
    assert code == 0
    runs = {r["run"]: r for r in json.loads(out)["runs"]}
    assert runs["valonly"]["findings"] == [] and runs["short"]["findings"] == []
    assert any("no training loss found" in n for n in runs["valonly"]["notes"])
    assert any("3 finite point(s)" in n for n in runs["short"]["notes"])


def test_truncated_event_file_uses_what_is_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_events(tmp_path / "r" / "train", {"epoch_loss": _pts(NAN_LOSS)})
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 10)  # cut into the last record
    code, out, _ = _run(["diagnose", str(tmp_path), "--format", "json"], capsys)
    (run,) = json.loads(out)["runs"]
    assert run["findings"][0]["name"] == "non-finite-loss"  # the NaN before the cut was read
    assert code == 1
    (note,) = run["skipped"]
    assert note.startswith("r/train: stopped reading ") and "truncated or corrupt" in note


def test_corrupt_only_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "events.out.tfevents.1.host").write_bytes(os.urandom(300))
    code, _, err = _run(["diagnose", str(tmp_path)], capsys)
    assert code == 2
    assert "no TensorBoard runs with scalar data" in err and "truncated or corrupt" in err


def test_static_causes_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(
        tmp_path / "r" / "train",
        {"epoch_loss": _pts(NAN_LOSS)},
        documents={
            metadata.STATIC_FINDINGS_TAG: {
                "version": 1,
                "findings": [
                    {
                        "code": "FL101",
                        "name": "learning-rate-too-high",
                        "severity": "warning",
                        "path": "train.py",
                        "line": 7,
                        "column": 1,
                        "message": "SGD learning rate 20 is far above 1e-1",
                    }
                ],
            }
        },
    )
    code, out, _ = _run(["diagnose", str(tmp_path)], capsys)
    assert code == 1
    assert (
        "found by fitlint: train.py:7 learning-rate-too-high: SGD learning rate 20 is far above "
        "1e-1" in out
    )


def test_custom_train_loss_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(tmp_path / "r", {"my/objective": _pts(NAN_LOSS)})
    assert _run(["diagnose", str(tmp_path)], capsys)[0] == 0
    assert _run(["diagnose", str(tmp_path), "--train-loss-tag", "my/objective"], capsys)[0] == 1


def _console() -> list[str]:
    script = Path(sys.executable).with_name("fitdiag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tb_fitdiag.cli"]


def test_a_10000_step_run_is_read_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``fitdiag diagnose`` reads the event files itself and keeps every value: a burst of Inf
    gradients in 3 of 10,000 records is found in both event formats."""
    write_long_run(tmp_path / "schema2")
    write_long_run(tmp_path / "schema1", schema=1)
    code, out, _ = _run(["diagnose", str(tmp_path), "--format", "json"], capsys)
    assert code == 1
    runs = {r["run"]: r for r in json.loads(out)["runs"]}
    assert sorted(runs) == ["schema1", "schema2"]
    for run in runs.values():
        (exploding,) = [f for f in run["findings"] if f["name"] == "exploding-gradients"]
        assert exploding["step_start"] == LONG_RUN_BURST[0]
        assert exploding["evidence"]["first_step"] == LONG_RUN_BURST[0]
    from tb_fitdiag import reading

    provider, ctx, _ = cli.load_logdir(str(tmp_path))
    for run in reading.list_training_runs(provider, ctx, ""):
        data = reading.load_run(provider, ctx, "", run)
        assert len(data.global_stats["batch_loss"]) == LONG_RUN_STEPS


@pytest.mark.slow
def test_console_script_stays_clean_and_tensorflow_free(tmp_path: Path) -> None:
    path = write_events(tmp_path / "r" / "train", {"epoch_loss": _pts(NAN_LOSS)})
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 10)
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:tb_fitdiag"}
    result = subprocess.run(
        [*_console(), "diagnose", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert result.stderr == ""  # no TensorFlow/absl/TensorBoard log lines
    assert "skipped: r/train: stopped reading" in result.stdout


@pytest.mark.slow
def test_plain_keras_tensorboard_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Logs of the plain keras.callbacks.TensorBoard, written in a subprocess."""
    code = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(60, 20)).astype("float32")
y = (x[:, 0] + 2 * rng.normal(size=60) > 0).astype("float32")
m = keras.Sequential([keras.Input((20,)), keras.layers.Dense(128, activation="relu"),
                      keras.layers.Dense(1, activation="sigmoid")])
m.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
m.fit(x, y, validation_split=0.5, epochs=40, batch_size=10, verbose=0,
      callbacks=[keras.callbacks.TensorBoard(sys.argv[1])])
"""
    target = tmp_path / "experiments" / "tiny"
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, capture_output=True)
    status, out, _ = _run(["diagnose", str(tmp_path / "experiments"), "--format", "json"], capsys)
    (run,) = json.loads(out)["runs"]
    assert run["run"] == "tiny"
    assert [f["name"] for f in run["findings"]] == ["overfitting"]
    assert status == 0  # a warning is below the default --fail-on error
    assert any("no fitdiag gradient statistics" in n for n in run["notes"])
    shutil.rmtree(tmp_path)


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough runs that either output format overflows a pipe's buffer (64 KiB on Linux)."""
    root = tmp_path_factory.mktemp("many")
    for i in range(100):
        _keras_run(root, f"run{i:03d}", NAN_LOSS)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["closes-at-once", "reads-one-line"])
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--format", "text"], id="text"),
        pytest.param(["--format", "json"], id="json"),
        pytest.param(["--help"], id="help"),
    ],
)
def test_a_reader_that_stops_early_ends_the_output_quietly(
    many_runs: Path, args: list[str], reader: str
) -> None:
    """``fitdiag diagnose LOGDIR | head``: no BrokenPipeError traceback, the usual status."""
    command = [*_console(), "diagnose", str(many_runs), *args]
    if args == ["--help"]:
        command = [*_console(), "--help"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        if reader == "reads-one-line":
            assert proc.stdout.readline()
        proc.stdout.close()  # the reader goes away while the output is still being written
        stderr = proc.stderr.read().decode()
        status = proc.wait(timeout=120)
    assert stderr == ""
    assert status == (0 if args == ["--help"] else 1)  # 1: the NaN runs have errors
