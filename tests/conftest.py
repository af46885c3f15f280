"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING_EXAMPLES = sorted((ROOT / "examples").glob("train_*.py"))


@pytest.fixture(scope="session")
def trained_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log directory with every ``examples/train_*.py`` trained into it, as ``make demo``
    does (``examples/train_healthy.py`` -> ``<logdir>/healthy``).

    Trained once per test process: tests that use it carry ``xdist_group("examples")`` so that
    one worker runs them all.
    """
    logdir = tmp_path_factory.mktemp("demo_logs")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    for example in TRAINING_EXAMPLES:
        run = logdir / example.stem.removeprefix("train_")
        done = subprocess.run(
            [sys.executable, str(example), "--log-dir", str(run)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            cwd=ROOT,
        )
        assert done.returncode == 0, f"{example.name}: {done.stderr[-3000:]}"
    return logdir
