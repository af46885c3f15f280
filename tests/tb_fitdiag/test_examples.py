"""Every training example says in its docstring what ``fitdiag diagnose`` reports on it; this
trains each one (as ``make demo`` does: the ``trained_examples`` fixture) and checks that
statement."""

from __future__ import annotations

import ast
import re
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


@pytest.mark.xdist_group("examples")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_diagnosis_is_what_the_example_says(example: Path, trained_examples: Path) -> None:
    cause, listed = _statement(example)
    run = example.stem.removeprefix("train_")
    reports, _ = cli.diagnose_logdir(str(trained_examples), run, DiagnosisConfig())
    (report,) = reports
    got = {(f.name, f.severity) for f in report.findings}
    assert got == listed, cli.render_text(reports, [])
    assert (report.headline.cause if report.headline else None) == cause
