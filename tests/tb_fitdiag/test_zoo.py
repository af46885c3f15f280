"""The run zoo: its catalogue covers what it must, and its fast subset is diagnosed right.

The whole zoo (86 real Keras runs, about four minutes) runs in ``benchmarks/diagnosis_accuracy.py``;
the fast subset here trains 13 runs of both halves with ``FitDiagCallback()`` at its defaults or
``keras.callbacks.TensorBoard`` alone, as the scripts of a user would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    import zoo
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag import zoo


def test_the_catalogue_covers_every_finding_architecture_and_healthy_hard_case() -> None:
    assert zoo.coverage_problems() == []
    assert len(zoo.ZOO) >= 60
    halves = {run.half for run in zoo.FAST}
    assert halves == {"tune", "report"}


@pytest.mark.slow
def test_the_fast_subset_is_diagnosed_right_with_the_right_headline(tmp_path: Path) -> None:
    runs = zoo.FAST
    log = zoo.generate(tmp_path, [run.name for run in runs])
    assert log.count("\n") >= len(runs)
    verdicts = zoo.evaluate(tmp_path, runs)
    wrong = [
        (v.run.name, v.findings, v.headline)
        for v in verdicts
        if not (v.present and v.right and v.headline_right)
    ]
    assert wrong == []
