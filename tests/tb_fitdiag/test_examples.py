"""Every training example says in its docstring what ``fitdiag diagnose`` reports on it; this
trains each one (as the README tells a user to) and checks that statement."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tb_fitdiag import cli
from tb_fitdiag.diagnosis import DiagnosisConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("train_*.py"))

pytestmark = pytest.mark.slow


def _statement(path: Path) -> tuple[str | None, set[tuple[str, str]]]:
    """``(headline cause or None, {(finding, severity)})`` from the example's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    headline = re.search(r"^\s*headline: (\S+)\s*$", doc, flags=re.MULTILINE)
    findings = re.search(r"^\s*findings: (.+)$", doc, flags=re.MULTILINE)
    assert headline and findings, f"{path.name}: the docstring does not say what is reported"
    cause = None if headline.group(1) == "none" else headline.group(1)
    listed: set[tuple[str, str]] = set()
    if findings.group(1).strip() != "none":
        for item in findings.group(1).split(","):
            match = re.fullmatch(r"\s*([a-z-]+) \((error|warning|info)\)\s*", item)
            assert match, f"{path.name}: cannot read {item!r}"
            listed.add((match.group(1), match.group(2)))
    return cause, listed


def test_every_training_example_states_its_diagnosis() -> None:
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        _statement(path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_diagnosis_is_what_the_example_says(example: Path, tmp_path: Path) -> None:
    cause, listed = _statement(example)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(example), "--log-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports, _ = cli.diagnose_logdir(str(tmp_path), None, DiagnosisConfig())
    (report,) = reports
    got = {(f.name, f.severity) for f in report.findings}
    assert got == listed, cli.render_text(reports, [])
    assert (report.headline.cause if report.headline else None) == cause
