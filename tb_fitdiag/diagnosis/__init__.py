"""Convergence diagnosis: scalar series in, findings out.

Pure numpy: this package imports neither TensorFlow nor TensorBoard, so the TensorBoard plugin,
the ``fitdiag diagnose`` command and tests share it without loading either.
"""

from __future__ import annotations

from tb_fitdiag.diagnosis.catalog import FINDING_KINDS, FindingKind
from tb_fitdiag.diagnosis.causes import CAUSES, Cause, Headline, explain
from tb_fitdiag.diagnosis.config import DiagnosisConfig, TagMapping, threshold_docs
from tb_fitdiag.diagnosis.engine import Diagnosis, coverage_notes, diagnose, diagnose_run
from tb_fitdiag.diagnosis.model import (
    ERROR,
    INFO,
    SEVERITIES,
    WARNING,
    Finding,
    RunData,
    Series,
    severity_rank,
)

__all__ = [
    "CAUSES",
    "ERROR",
    "FINDING_KINDS",
    "INFO",
    "SEVERITIES",
    "WARNING",
    "Cause",
    "Diagnosis",
    "DiagnosisConfig",
    "Finding",
    "FindingKind",
    "Headline",
    "RunData",
    "Series",
    "TagMapping",
    "coverage_notes",
    "diagnose",
    "diagnose_run",
    "explain",
    "severity_rank",
    "threshold_docs",
]
