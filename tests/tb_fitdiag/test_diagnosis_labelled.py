"""Accuracy on the labelled set of real training runs (tiny Keras models, FitDiagCallback)."""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    from labelled_runs import LABELS, evaluate, labelled_logdir, summary
except ImportError:  # tests/ imported as a package
    from tests.tb_fitdiag.labelled_runs import LABELS, evaluate, labelled_logdir, summary

__all__ = ["labelled_logdir"]  # the session fixture, imported so pytest finds it here

pytestmark = pytest.mark.slow


def test_every_labelled_run_is_diagnosed_right(labelled_logdir: Path) -> None:
    verdicts = evaluate(labelled_logdir)
    report = summary(verdicts)
    print("\n" + report)  # the accuracy figure, shown with pytest -s
    assert [v.label.name for v in verdicts] == [label.name for label in LABELS]
    assert all(v.present for v in verdicts), report
    wrong = [v.label.name for v in verdicts if not v.right]
    assert wrong == [], report


def test_no_false_alarms_on_healthy_runs(labelled_logdir: Path) -> None:
    healthy = [v for v in evaluate(labelled_logdir) if not v.label.expected_any]
    assert len(healthy) >= 4
    assert [(v.label.name, sorted(v.alarms)) for v in healthy if v.alarms] == []


def test_labelled_runs_cover_every_fault_of_the_issue() -> None:
    faults = " ".join(label.name for label in LABELS)
    for fault in (
        "healthy",
        "lr_too_high",
        "deep_sigmoid",
        "dead_relu",
        "overfitting",
        "lr_too_low",
        "unnormalized",
    ):
        assert fault in faults
