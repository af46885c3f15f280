"""Root causes and the headline: which cause most likely explains a run's findings.

A runtime finding is a symptom; a cause is what to change. Causes are fitlint rules (the script
says it: ``learning-rate-too-high`` at ``train.py:22``) and a few causes that only the run can
show (``numerical-error``: the loss was NaN before any update). The headline is one cause per
run, ranked from what fitlint flagged in that script, with one fix; every finding it explains
carries that fix, so no suggestion contradicts the headline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from tb_fitdiag.diagnosis.model import Finding, severity_rank

# Symptoms: a finding's name, or ``name:kind`` where its evidence kind tells a different story.
NON_FINITE_FROM_START: Final = "non-finite-loss:from-start"
# The replay of the first failing batch found a numerical bug, bad data or a float16 overflow
# (fitdiag/nonfinite_origin): no learning rate explains it.
NON_FINITE_NUMERICAL: Final = "non-finite-loss:numerical"
NON_FINITE_GRADIENT_NUMERICAL: Final = "exploding-gradients:numerical"
_NUMERICAL_STORIES = ("data", "numerical", "overflow")
LARGE_GRADIENTS: Final = "exploding-gradients:large"
PLATEAU_AT_CHANCE: Final = "loss-plateau:at-chance"
ZERO_LOSS: Final = "loss-plateau:zero-loss"
FROZEN_PREDICTIONS: Final = "loss-plateau:constant-accuracy"

_KINDED = {
    NON_FINITE_FROM_START,
    NON_FINITE_NUMERICAL,
    NON_FINITE_GRADIENT_NUMERICAL,
    LARGE_GRADIENTS,
    PLATEAU_AT_CHANCE,
    ZERO_LOSS,
    FROZEN_PREDICTIONS,
}
# Kinded symptoms that only the causes naming them explain (not every cause of the plain name).
_STRICT = {
    NON_FINITE_FROM_START,
    NON_FINITE_NUMERICAL,
    NON_FINITE_GRADIENT_NUMERICAL,
    ZERO_LOSS,
    FROZEN_PREDICTIONS,
}

# Adaptive optimizers train at about 1e-3; SGD at about 1e-2.
_ADAPTIVE = ("adam", "adamw", "nadam", "adamax", "rmsprop", "adagrad", "adadelta", "lion", "ftrl")


@dataclass(frozen=True)
class Cause:
    """A root cause: what it is, which symptoms it explains, and its one fix.

    Attributes:
        name: A fitlint rule name, or a cause only the run can show.
        summary: The cause in a few words, for the headline.
        fix: What to change.
        explains: The symptoms it explains, the likeliest first.
    """

    name: str
    summary: str
    fix: str
    explains: tuple[str, ...]


CAUSES: Final[dict[str, Cause]] = {
    c.name: c
    for c in (
        Cause(
            "learning-rate-too-high",
            "the learning rate is too high",
            "Lower the learning rate: about 1e-3 for Adam, AdamW or RMSprop, 1e-2 for SGD; "
            "add a warm-up or decay schedule, or clip gradients (clipnorm=1.0).",
            (
                "non-finite-loss",
                "diverging-loss",
                "oscillating-loss",
                "update-ratio-too-high",
                "exploding-gradients",
                LARGE_GRADIENTS,
                "dead-units",
                "overfitting",
            ),
        ),
        Cause(
            "missing-input-normalization",
            "the inputs are not normalized",
            "Scale the inputs before fit(): divide pixel values by 255, standardize features "
            "(StandardScaler fitted on the training split), or put a Normalization layer first.",
            (
                "non-finite-loss",
                "diverging-loss",
                "exploding-gradients",
                LARGE_GRADIENTS,
                "oscillating-loss",
                "dead-units",
                "update-ratio-too-high",
                "loss-plateau",
                NON_FINITE_NUMERICAL,
            ),
        ),
        Cause(
            "learning-rate-too-low",
            "the learning rate is too low",
            "Raise the learning rate: about 1e-3 for Adam, AdamW or RMSprop, 1e-2 for SGD.",
            ("update-ratio-too-low", "loss-plateau", PLATEAU_AT_CHANCE),
        ),
        Cause(
            "deep-saturating-activations",
            "a deep stack of sigmoid/tanh layers saturates",
            "Use ReLU-family activations with He initialization in the hidden layers, or put "
            "BatchNormalization between them; keep sigmoid/softmax for the output only.",
            (
                "vanishing-gradients",
                "loss-plateau",
                PLATEAU_AT_CHANCE,
                "update-ratio-too-low",
                "dead-units",
            ),
        ),
        Cause(
            "deep-stacked-rnn",
            "too many recurrent layers are stacked",
            "Use one or two recurrent layers, or add residual connections with layer "
            "normalization between them.",
            ("vanishing-gradients", "loss-plateau", PLATEAU_AT_CHANCE, "exploding-gradients"),
        ),
        Cause(
            "single-unit-softmax",
            "the output is a softmax over one unit, which is always 1",
            "Use Dense(1, activation='sigmoid') with binary_crossentropy, or Dense(C, "
            "activation='softmax') with one unit per class.",
            (
                FROZEN_PREDICTIONS,
                "loss-plateau",
                PLATEAU_AT_CHANCE,
                "vanishing-gradients",
                "update-ratio-too-low",
            ),
        ),
        Cause(
            "output-activation-loss-mismatch",
            "the output activation does not match the loss",
            "Match the output to the loss: sigmoid with binary_crossentropy, softmax with "
            "categorical_crossentropy, or a linear output with from_logits=True.",
            (
                ZERO_LOSS,
                NON_FINITE_FROM_START,
                FROZEN_PREDICTIONS,
                "loss-plateau",
                PLATEAU_AT_CHANCE,
                "non-finite-loss",
                "diverging-loss",
                NON_FINITE_NUMERICAL,
            ),
        ),
        Cause(
            "missing-hidden-activation",
            "hidden layers have no activation, so the network is linear",
            "Give the hidden Dense/Conv layers a nonlinear activation (activation='relu').",
            ("loss-plateau", PLATEAU_AT_CHANCE),
        ),
        Cause(
            "numerical-error",
            "the loss, a layer or the data computes NaN or Inf (a numerical error)",
            "Fix the computation, not the learning rate: look for the log of zero or of a "
            "negative number, a division by zero or a square root of a negative in the loss "
            "(clip predictions, e.g. keras.ops.clip(y_pred, 1e-7, 1.0)), and for NaN or Inf in "
            "the inputs and labels (np.isfinite(x).all()).",
            (
                NON_FINITE_FROM_START,
                NON_FINITE_NUMERICAL,
                NON_FINITE_GRADIENT_NUMERICAL,
                "non-finite-loss",
                "exploding-gradients",
                "loss-plateau",
            ),
        ),
        Cause(
            "bad-initialization",
            "the initial weights are too large",
            "Use Keras's default initializers (glorot_uniform, or he_normal for ReLU) instead "
            "of large fixed ones, add BatchNormalization, or clip gradients (clipnorm=1.0).",
            (LARGE_GRADIENTS, "exploding-gradients", "dead-units"),
        ),
        Cause(
            "vanishing-gradients",
            "the first layers receive almost no gradient",
            "Use ReLU-family activations and He initialization, add normalization layers or "
            "residual connections.",
            ("vanishing-gradients", "loss-plateau", "update-ratio-too-low"),
        ),
        Cause(
            "dead-units",
            "most ReLU units of a layer never activate",
            "Initialize biases at zero (or a small positive value) with He initialization, or "
            "use LeakyReLU/ELU.",
            ("dead-units", "loss-plateau", PLATEAU_AT_CHANCE),
        ),
        Cause(
            "no-signal",
            "the model learns nothing: the loss stays at chance level",
            "Check that the labels belong to the inputs (shuffled separately, the wrong label "
            "column, a bad encoding) and that the task is learnable from these features.",
            (PLATEAU_AT_CHANCE, FROZEN_PREDICTIONS, "loss-plateau"),
        ),
        Cause(
            "overfitting",
            "the model fits the training set and stops generalizing",
            "Stop earlier (EarlyStopping(monitor='val_loss', restore_best_weights=True)), add "
            "dropout or weight decay, augment or get more data, or use a smaller model.",
            ("overfitting",),
        ),
    )
}

# When several findings are raised, the one most upstream in what goes wrong comes first.
_PRIORITY: Final = (
    "non-finite-loss",
    "diverging-loss",
    "exploding-gradients",
    "oscillating-loss",
    "update-ratio-too-high",
    "vanishing-gradients",
    "loss-plateau",
    "dead-units",
    "update-ratio-too-low",
    "overfitting",
)


@dataclass(frozen=True)
class Headline:
    """The most likely cause of a run's trouble, and its fix.

    Attributes:
        cause: The cause's name (a fitlint rule name, or a runtime cause such as
            ``numerical-error``).
        finding: The finding it explains first (the primary symptom).
        explains: Every raised finding it explains.
        summary: The cause in words, with what fitlint said where it found it.
        message: The summary and the evidence of the primary finding, one sentence.
        fix: What to change.
        static: The fitlint finding behind it (path, line, name, message), when one.
    """

    cause: str
    finding: str
    explains: tuple[str, ...]
    summary: str
    message: str
    fix: str
    static: dict[str, Any] | None = field(default=None)

    @property
    def location(self) -> str | None:
        """``path:line`` of the fitlint finding behind the headline, None when there is none."""
        return _location(self.static) if self.static else None

    def to_json(self) -> dict[str, Any]:
        """The headline as a JSON-ready dict."""
        return {
            "cause": self.cause,
            "finding": self.finding,
            "explains": list(self.explains),
            "summary": self.summary,
            "message": self.message,
            "fix": self.fix,
            "static": dict(self.static) if self.static else None,
        }


def symptom(finding: Finding) -> str:
    """The symptom a finding shows: its name, or ``name:kind`` for the kinds that tell a
    different story (non-finite from the start, large gradients, a plateau at chance)."""
    if finding.evidence.get("origin_story") in _NUMERICAL_STORIES:
        numerical = f"{finding.name}:numerical"
        if numerical in _KINDED:
            return numerical
    kinded = f"{finding.name}:{finding.evidence.get('kind')}"
    return kinded if kinded in _KINDED else finding.name


def _explains(cause: Cause, finding: Finding) -> bool:
    s = symptom(finding)
    # A kinded symptom is explained only by causes that name that kind or, for the kinds that
    # are a special case of the plain finding, the plain name too (except non-finite from the
    # start, which no learning rate explains).
    if s in cause.explains:
        return True
    return s not in _STRICT and finding.name in cause.explains


def _static_findings(static: dict[str, Any] | None) -> list[dict[str, Any]]:
    entries = static.get("findings") if isinstance(static, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        e
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"] in CAUSES
    ]


@dataclass(frozen=True)
class References:
    """What the run says about its own scale, for the causes only the run can show.

    Attributes:
        initial_loss: The untrained model's loss (the first step's), when recorded.
        chance_loss: The loss of a uniform prediction (ln C), when known.
        untrained_factor: An initial loss this many times the chance level is off scale.
        low_rate: A plateau is blamed on the learning rate at or below this rate.
    """

    initial_loss: float | None = None
    chance_loss: float | None = None
    untrained_factor: float = 10.0
    low_rate: float = 1e-5

    def off_scale_at_start(self) -> bool:
        """True when the untrained model's loss is far above chance: before any update."""
        return (
            self.initial_loss is not None
            and self.chance_loss is not None
            and self.initial_loss >= self.untrained_factor * self.chance_loss
        )


def _runtime_cause(primary: Finding, alarms: Sequence[Finding], refs: References) -> str:
    """The cause the run's evidence alone points to, when fitlint flagged none that fits."""
    names = {f.name for f in alarms}
    s = symptom(primary)
    if s in (NON_FINITE_FROM_START, NON_FINITE_NUMERICAL, NON_FINITE_GRADIENT_NUMERICAL):
        return "numerical-error"
    if s == LARGE_GRADIENTS:
        return "bad-initialization"
    if primary.name in ("loss-plateau", "vanishing-gradients", "update-ratio-too-low"):
        lr = primary.evidence.get("learning_rate")
        if "vanishing-gradients" in names:
            return "vanishing-gradients"
        if "dead-units" in names:
            return "dead-units"
        if "update-ratio-too-low" in names or (
            isinstance(lr, (int, float)) and 0 < lr <= refs.low_rate
        ):
            return "learning-rate-too-low"
        if s == ZERO_LOSS:
            return "output-activation-loss-mismatch"
        if s == FROZEN_PREDICTIONS:
            # The predictions never change while the loss moves: the loss is computed from
            # something the prediction does not depend on, as with a softmax over one unit.
            start, end = primary.evidence.get("start_level"), primary.evidence.get("end_level")
            moved = isinstance(start, float) and isinstance(end, float) and end < 0.95 * start
            return "single-unit-softmax" if moved else "no-signal"
        return "no-signal"
    if refs.off_scale_at_start() and primary.name != "overfitting":
        return "missing-input-normalization"
    if primary.name == "dead-units":
        return "dead-units"
    if primary.name == "overfitting":
        return "overfitting"
    return "learning-rate-too-high"


def explain(
    findings: Sequence[Finding],
    static: dict[str, Any] | None,
    references: References | None = None,
) -> Headline | None:
    """The headline of a run: the cause that best explains its warning and error findings.

    The primary symptom is the most severe finding, the most upstream first. A cause fitlint
    flagged in the script wins when it explains that symptom (the more severe static finding
    first, then the order of the finding's suggestions); otherwise the run's evidence names
    the cause.

    Args:
        findings: The run's findings (as :func:`diagnose` returns them).
        static: The ``fitdiag/static_findings`` document, if any.
        references: The run's initial and chance-level losses and the thresholds that read
            them; defaults when None.

    Returns:
        The headline, or None when nothing was raised at warning or error.
    """
    alarms = [f for f in findings if f.severity in ("error", "warning")]
    if not alarms:
        return None
    order = {name: i for i, name in enumerate(_PRIORITY)}
    primary = min(alarms, key=lambda f: (severity_rank(f.severity), order.get(f.name, 99)))
    flagged = _static_findings(static)
    suggested = {name: i for i, name in enumerate(primary.suggestions)}
    candidates = [e for e in flagged if _explains(CAUSES[e["name"]], primary)]
    chosen: dict[str, Any] | None = None
    if candidates:
        chosen = min(
            candidates,
            key=lambda e: (
                _static_rank(e.get("severity")),
                suggested.get(e["name"], len(suggested)),
                CAUSES[e["name"]].explains.index(symptom(primary))
                if symptom(primary) in CAUSES[e["name"]].explains
                else 99,
            ),
        )
        cause = CAUSES[chosen["name"]]
    else:
        cause = CAUSES[_runtime_cause(primary, alarms, references or References())]
    explained = tuple(f.name for f in alarms if _explains(cause, f))
    if primary.name not in explained:
        explained = (primary.name, *explained)
    static_ref = None
    if chosen is not None:
        static_ref = {k: chosen.get(k) for k in ("path", "line", "name", "message")}
    summary = _summary(cause, static_ref)
    return Headline(
        cause=cause.name,
        finding=primary.name,
        explains=explained,
        summary=summary,
        message=f"{summary}; {primary.name}: {primary.message}",
        fix=_fix(cause, primary),
        static=static_ref,
    )


def _static_rank(severity: Any) -> int:
    try:
        return severity_rank(str(severity))
    except ValueError:
        return len(("error", "warning", "info"))


def _summary(cause: Cause, static: dict[str, Any] | None) -> str:
    where = ""
    if static is not None:
        where = f" ({_location(static)}: {static.get('message')})"
    return f"Most likely {cause.summary}{where}"


def _location(static: dict[str, Any]) -> str:
    path, line = static.get("path"), static.get("line")
    return f"{path}:{line}" if line else str(path)


def _fix(cause: Cause, primary: Finding) -> str:
    """The cause's fix, with the run's own learning rate where the fix is about the rate."""
    lr = primary.evidence.get("learning_rate")
    if cause.name not in ("learning-rate-too-high", "learning-rate-too-low"):
        return cause.fix
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        return cause.fix
    optimizer = str(primary.evidence.get("optimizer") or "")
    adaptive = any(optimizer.lower().startswith(a) for a in _ADAPTIVE)
    typical = 1e-3 if adaptive or not optimizer else 1e-2
    named = f" for {optimizer}" if optimizer else ""
    if cause.name == "learning-rate-too-high":
        target = min(typical, lr / 10)
        return (
            f"Lower the learning rate{named} from {lr:.3g} to about {target:.1g}; add a warm-up "
            "or decay schedule, or clip gradients (clipnorm=1.0)."
        )
    target = max(typical, lr * 10)
    return f"Raise the learning rate{named} from {lr:.3g} to about {target:.1g}."


def with_remedies(findings: Sequence[Finding], headline: Headline | None) -> list[Finding]:
    """Each finding with its remedy: the headline's fix for the findings the headline explains,
    the finding's own remedy for the others."""
    from tb_fitdiag.diagnosis.catalog import FINDING_KINDS

    out = []
    for f in findings:
        kind = FINDING_KINDS.get(f.name)
        remedy = kind.remedy if kind is not None else ""
        if headline is not None and f.name in headline.explains:
            remedy = headline.fix
        out.append(replace(f, remedy=remedy))
    return out
