"""Runs every check on a run and links the findings to fitlint's static findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tb_fitdiag.diagnosis import gradients, loss
from tb_fitdiag.diagnosis.causes import (
    NON_FINITE_FROM_START,
    NON_FINITE_NUMERICAL,
    Headline,
    References,
    explain,
    symptom,
    with_remedies,
)
from tb_fitdiag.diagnosis.config import DiagnosisConfig
from tb_fitdiag.diagnosis.context import CheckContext
from tb_fitdiag.diagnosis.model import Finding, LayerSeries, RunData, severity_rank
from tb_fitdiag.diagnosis.origin import Origin, describe

Check = Callable[[CheckContext], "Finding | None"]

CHECKS: tuple[Check, ...] = (
    loss.check_non_finite,
    loss.check_diverging,
    loss.check_oscillating,
    loss.check_plateau,
    loss.check_overfitting,
    gradients.check_exploding,
    gradients.check_vanishing,
    gradients.check_dead_units,
    gradients.check_update_ratio,
)

# Verdicts that make other verdicts meaningless: once the loss is NaN, or the loss diverges,
# "it plateaued" or "it oscillates" adds nothing.
# A network whose units died, or that blew up, also shows tiny updates and no gradient at its
# first layer; reporting those as "learning rate too low" or "saturating activations" would
# point away from the cause.
_SUPERSEDED_BY = {
    loss.LOSS_PLATEAU: {loss.NON_FINITE_LOSS, loss.DIVERGING_LOSS},
    loss.OSCILLATING_LOSS: {loss.NON_FINITE_LOSS, loss.DIVERGING_LOSS},
    loss.OVERFITTING: {loss.NON_FINITE_LOSS, loss.DIVERGING_LOSS},
    gradients.UPDATE_RATIO_TOO_LOW: {
        loss.NON_FINITE_LOSS,
        loss.DIVERGING_LOSS,
        gradients.EXPLODING_GRADIENTS,
        gradients.DEAD_UNITS,
    },
}


def _superseded(finding: Finding, found: list[Finding]) -> bool:
    names = {f.name for f in found}
    if _SUPERSEDED_BY.get(finding.name, set()) & names:
        return True
    from_start = any(symptom(f) == NON_FINITE_FROM_START for f in found)
    if from_start and finding.name in (gradients.EXPLODING_GRADIENTS, loss.DIVERGING_LOSS):
        # The loss was NaN before any update: NaN gradients follow from it, they explain nothing.
        return finding.name == loss.DIVERGING_LOSS or finding.evidence.get("kind") == "non-finite"
    numerical = any(symptom(f) == NON_FINITE_NUMERICAL for f in found)
    if numerical and finding.name == gradients.EXPLODING_GRADIENTS:
        # The replay found a numerical bug behind the NaN loss: the NaN gradients follow from it.
        return finding.evidence.get("kind") == "non-finite"
    if finding.name == gradients.VANISHING_GRADIENTS:
        # No gradient at the first layer because its units are dead is not vanishing.
        dead = [f for f in found if f.name == gradients.DEAD_UNITS]
        return bool(dead) and finding.evidence.get("first_layer") in dead[0].evidence["layers"]
    return False


@dataclass(frozen=True)
class Diagnosis:
    """The diagnosis of one run: its headline and its findings.

    Attributes:
        findings: Most severe first, each with its remedy.
        headline: The most likely cause and its fix; None when nothing was raised.
        live: What the callback said while the run trained (``fitdiag/live_findings``): one
            entry per finding, ``{"name", "severity", "step", "epoch"}``, in the order said.
    """

    findings: list[Finding]
    headline: Headline | None
    live: tuple[dict[str, Any], ...] = ()

    def said_live(self, name: str) -> dict[str, Any] | None:
        """When the callback said finding ``name`` while training, or None."""
        return next((entry for entry in self.live if entry["name"] == name), None)

    def to_json(self) -> dict[str, Any]:
        """The diagnosis as a JSON-ready dict (the shape the CLI and the plugin both serve)."""
        return {
            "headline": self.headline.to_json() if self.headline else None,
            "findings": [f.to_json() for f in self.findings],
            "live": [dict(entry) for entry in self.live],
        }


def diagnose_run(data: RunData, config: DiagnosisConfig | None = None) -> Diagnosis:
    """Diagnoses one run and names the most likely cause.

    Args:
        data: The run's series.
        config: Thresholds and tag mapping; the defaults when None.

    Returns:
        The headline and the findings.
    """
    cfg = config or DiagnosisConfig()
    ctx = CheckContext.build(data, cfg)
    found = _findings(ctx)
    references = References(
        initial_loss=ctx.initial_loss,
        chance_loss=ctx.chance_loss,
        untrained_factor=cfg.untrained_loss_factor,
        low_rate=cfg.low_learning_rate,
    )
    headline = explain(found, data.static_findings, references)
    return Diagnosis(with_remedies(found, headline), headline, _live(data.live_findings))


def _live(document: dict[str, Any] | None) -> tuple[dict[str, Any], ...]:
    """The well-formed entries of a ``fitdiag/live_findings`` document (others are dropped:
    the document is a record of what was printed, not evidence)."""
    entries = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return ()
    kept = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, severity = entry.get("name"), entry.get("severity")
        step, epoch = entry.get("step"), entry.get("epoch")
        if (
            isinstance(name, str)
            and isinstance(severity, str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in (step, epoch))
        ):
            kept.append({"name": name, "severity": severity, "step": step, "epoch": epoch})
    return tuple(kept)


def diagnose(data: RunData, config: DiagnosisConfig | None = None) -> list[Finding]:
    """Diagnoses one run.

    Args:
        data: The run's series.
        config: Thresholds and tag mapping; the defaults when None.

    Returns:
        The findings, most severe first (then by first step, then by name), each with its
        remedy (consistent with :func:`diagnose_run`'s headline).
    """
    return diagnose_run(data, config).findings


def _findings(ctx: CheckContext) -> list[Finding]:
    data = ctx.data
    found: list[Finding] = []
    for check in CHECKS:
        finding = check(ctx)
        if finding is not None:
            found.append(finding)
    origin = describe(data, ctx.config)
    if origin is not None:
        found = _with_origin(found, origin)
    found = [f for f in found if not _superseded(f, found)]
    found = [_rank_suggestions(_link_static_causes(f, data.static_findings)) for f in found]
    found.sort(key=lambda f: (severity_rank(f.severity), f.step_start, f.name))
    return found


def _with_origin(found: list[Finding], origin: Origin) -> list[Finding]:
    """Tells where the first NaN came from (the replay's story) in the non-finite-loss finding,
    or, when the loss stayed finite, in the exploding-gradients finding of NaN gradients."""
    target = next((f for f in found if f.name == loss.NON_FINITE_LOSS), None)
    if target is None:
        target = next(
            (
                f
                for f in found
                if f.name == gradients.EXPLODING_GRADIENTS
                and f.evidence.get("kind") == "non-finite"
            ),
            None,
        )
    if target is None:
        return found
    suggestions = target.suggestions
    if origin.numerical and target.name == loss.NON_FINITE_LOSS:
        suggestions = ("output-activation-loss-mismatch", "missing-input-normalization")
    told = replace(
        target,
        message=f"{target.message}; {origin.text}",
        evidence={**target.evidence, **origin.evidence},
        suggestions=suggestions,
    )
    return [told if f is target else f for f in found]


def _link_static_causes(finding: Finding, static: dict[str, Any] | None) -> Finding:
    """Adds ``evidence["static_causes"]``: fitlint findings whose rule is a suggested cause."""
    if not static or not finding.suggestions:
        return finding
    entries = static.get("findings")
    if not isinstance(entries, list):
        return finding
    causes = [
        {
            "path": entry.get("path"),
            "line": entry.get("line"),
            "name": entry.get("name"),
            "message": entry.get("message"),
        }
        for entry in entries
        if isinstance(entry, dict) and entry.get("name") in finding.suggestions
    ]
    if not causes:
        return finding
    rank = {name: i for i, name in enumerate(finding.suggestions)}
    causes.sort(key=lambda c: (rank.get(str(c["name"]), 99), str(c["path"]), c["line"] or 0))
    return replace(finding, evidence={**finding.evidence, "static_causes": causes})


def _rank_suggestions(finding: Finding) -> Finding:
    """Puts the suggested rules that fitlint flagged in the script first."""
    flagged = [str(c.get("name")) for c in finding.evidence.get("static_causes", [])]
    if not flagged:
        return finding
    first = [s for s in finding.suggestions if s in flagged]
    rest = [s for s in finding.suggestions if s not in flagged]
    return replace(finding, suggestions=tuple(first + rest))


def coverage_notes(data: RunData, config: DiagnosisConfig | None = None) -> list[str]:
    """Explains which checks could not run on this run and why (missing or short series).

    Args:
        data: The run's series.
        config: Thresholds and tag mapping; the defaults when None.

    Returns:
        Human-readable notes, empty when every check had the data it needs.
    """
    cfg = config or DiagnosisConfig()
    ctx = CheckContext.build(data, cfg)
    notes: list[str] = []
    if data.is_empty():
        return ["the run holds no scalar data"]
    if ctx.train_loss is None:
        looked = ", ".join(cfg.tags.train_loss + cfg.tags.batch_loss)
        notes.append(f"no training loss found (looked for {looked}): loss checks skipped")
    else:
        n = int(np.count_nonzero(np.isfinite(ctx.train_loss.series.values)))
        if n < cfg.min_points:
            notes.append(
                f"training loss ({ctx.train_loss.tag}) has {n} finite point(s); trend verdicts "
                f"need {cfg.min_points}"
            )
    if ctx.validation_loss is None:
        notes.append("no validation loss found: overfitting not checked")
    else:
        n = int(np.count_nonzero(np.isfinite(ctx.validation_loss.series.values)))
        if n < cfg.min_points:
            notes.append(
                f"validation loss ({ctx.validation_loss.tag}) has {n} finite point(s); "
                f"overfitting needs {cfg.min_points}"
            )
    grad = data.layer_stats.get("grad_norm", {})
    if not grad and not data.global_stats.get("global_grad_norm"):
        notes.append(
            "no fitdiag gradient statistics: gradient checks skipped (record them with "
            "tb_fitdiag.FitDiagCallback)"
        )
    elif grad:
        longest = (
            grad.longest() if isinstance(grad, LayerSeries) else max(len(s) for s in grad.values())
        )
        if longest < cfg.min_records:
            notes.append(
                f"gradient statistics have {longest} record(s); gradient verdicts need "
                f"{cfg.min_records}"
            )
    return notes
