"""The built wheel, installed into fresh virtual environments, does what the README says.

The wheel is built from this checkout with ``pip wheel --no-deps``. One environment installs it
alone (the linter: no TensorFlow, TensorBoard or numpy may come with it) and lints a file;
another installs it with the ``tensorboard`` extra, diagnoses a log directory and serves the
tab's files through a real ``tensorboard`` process. Installing needs the package index (PyPI),
as the pre-commit test does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs
    )  # type: ignore[call-overload, no-any-return]


def _environment(path: Path, requirement: str) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    python = path / "bin" / "python"
    done = _run(
        python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return python


def _installed(python: Path) -> set[str]:
    done = _run(python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check")
    assert done.returncode == 0, done.stderr
    return {entry["name"].lower() for entry in json.loads(done.stdout)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = dist.glob("fitdiag-*.whl")
    return built


def test_linter_only_install_lints_without_heavy_dependencies(wheel: Path, tmp_path: Path) -> None:
    python = _environment(tmp_path / "env", str(wheel))
    assert not _installed(python) & {"tensorflow", "tensorflow-cpu", "tensorboard", "numpy"}
    fitlint = python.parent / "fitlint"
    done = _run(fitlint, ROOT / "examples" / "broken_optimizer.py", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FL201 learning-rate-too-high" in done.stdout
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_tensorboard_install_diagnoses_and_serves_the_tab(wheel: Path, tmp_path: Path) -> None:
    # The log directory is written by this checkout's environment (which has TensorFlow).
    logs = tmp_path / "logs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    example = ROOT / "examples" / "train_lr_too_high.py"
    done = _run(sys.executable, example, "--log-dir", logs / "lr", "--epochs", "3", env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    python = _environment(tmp_path / "env", f"{wheel}[tensorboard]")
    bin_dir = python.parent
    done = _run(bin_dir / "fitdiag", "diagnose", logs, "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    assert run["run"] == "lr"
    assert "diverging-loss" in {finding["name"] for finding in run["findings"]}

    port = _free_port()
    log_path = tmp_path / "tensorboard.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [bin_dir / "tensorboard", "--logdir", logs, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}/data/plugin/fitdiag"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    status, body = _get(base + "/runs")
                    if any(r["name"] == "lr" for r in json.loads(body)["runs"]):
                        break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            status, body = _get(base + "/index.js")
            assert status == 200 and len(body) > 1000
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
