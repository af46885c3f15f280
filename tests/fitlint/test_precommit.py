"""The pre-commit hook, run by pre-commit itself against a temporary git repository.

The repository under test is copied (its working tree, uncommitted files included) into a
temporary git repository, so the test exercises the ``.pre-commit-hooks.yaml`` of this
checkout; pre-commit then installs the hook's environment from it with pip, which needs
PyPI (for libcst and the build backend). PRE_COMMIT_HOME is a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def _hook_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "hook-repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(
        ROOT / "fitlint", repo / "fitlint", ignore=shutil.ignore_patterns("__pycache__")
    )
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "fitlint under test")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_hooks_file_declares_fitlint() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: fitlint\n" in text
    assert "entry: fitlint --force-exclude\n" in text
    assert "language: python\n" in text
    assert "types_or: [python, jupyter]\n" in text
    assert "require_serial: false\n" in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or not PRE_COMMIT.exists(), reason="no git")
def test_pre_commit_runs_the_hook(tmp_path: Path) -> None:
    hook_repo, rev = _hook_repo(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "train.py").write_text(
        "import keras\nopt = keras.optimizers.Adam(lr=0.001)\nmodel.fit(x, y, epochs=10\n",
        encoding="utf-8",
    )
    (project / "clean.py").write_text("import keras\nx = 1\n", encoding="utf-8")
    (project / "pyproject.toml").write_text(
        "[tool.fitlint]\nextend-exclude = ['vendored/']\n", encoding="utf-8"
    )
    (project / "vendored").mkdir()
    (project / "vendored" / "lib.py").write_text("import keras\nf(\n", encoding="utf-8")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: fitlint\n",
        encoding="utf-8",
    )
    _git(project, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pc-home"), "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(PRE_COMMIT), "run", "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "fitlint" in output and "Failed" in output
    assert "train.py:3:10: error: FL000 syntax-error" in output
    assert "vendored/lib.py" not in output  # --force-exclude honours the project's excludes
    assert "clean.py" not in output
    # Fixing the file makes the hook pass.
    (project / "train.py").write_text("import keras\nx = 1\n", encoding="utf-8")
    proc = subprocess.run(
        [str(PRE_COMMIT), "run", "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def _documented_local_hook() -> str:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    after = text.split("<!-- pre-commit: local -->\n", 1)[1]
    assert after.startswith("```yaml\n")
    return after.removeprefix("```yaml\n").split("```\n", 1)[0]


def test_documented_local_hook_is_a_system_hook() -> None:
    config = _documented_local_hook()
    assert "repo: local" in config and "entry: fitlint --force-exclude" in config


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or not PRE_COMMIT.exists(), reason="no git")
def test_documented_local_hook_runs_as_written(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "train.py").write_text(
        "import keras\nopt = keras.optimizers.Adam(lr=0.001)\n", encoding="utf-8"
    )
    (project / ".pre-commit-config.yaml").write_text(_documented_local_hook(), encoding="utf-8")
    _git(project, "add", ".")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pc-home"),
        "NO_COLOR": "1",
        "PATH": str(PRE_COMMIT.parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    run = [str(PRE_COMMIT), "run", "--all-files", "--color", "never"]
    proc = subprocess.run(run, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "train.py:2:29: error: FL402 removed-keras-argument" in proc.stdout
    (project / "train.py").write_text("import keras\nx = 1\n", encoding="utf-8")
    proc = subprocess.run(run, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout
