"""Every threshold of the diagnosis, named, documented with its source, and configurable.

Each field of :class:`DiagnosisConfig` and :class:`TagMapping` carries ``metadata`` with a
``doc`` (what it controls) and, for thresholds, a ``source`` (where the value comes from).
``docs/diagnose.md`` lists them, and a test fails when a field lacks either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

# Sources, cited by the thresholds below.
AUTOTRAINER = (
    "AUTOTRAINER (Zhang et al., ICSE 2021), default parameters of its issue monitor "
    "(github.com/shiningrain/AUTOTRAINER, utils/monitor.py)"
)
RULE_OF_THUMB = (
    "the common ~1e-3 update-to-weight rule of thumb (CS231n notes, 'ratio of weights:updates'); "
    "TheDeepChecker (Ben Braiek & Khomh) checks parameter updates in the same spirit"
)
PRECHELT = 'Prechelt, "Early Stopping - But When?" (1998): criteria GL, PQ and UP'
MANN_KENDALL = "Mann-Kendall trend test (Mann 1945, Kendall 1975), normal approximation"
FITDIAG = "fitdiag's own choice, validated on the labelled runs in tests/tb_fitdiag"


def _t(default: Any, doc: str, source: str) -> Any:
    """A documented threshold field."""
    return field(default=default, metadata={"doc": doc, "source": source})


def _d(default: Any, doc: str) -> Any:
    """A documented field that is not a threshold (tags, switches)."""
    return field(default=default, metadata={"doc": doc, "source": ""})


@dataclass(frozen=True)
class TagMapping:
    """Which scalar tags hold the losses and the learning rate.

    The defaults cover the Keras TensorBoard callback (``epoch_loss`` in the ``train`` and
    ``validation`` runs, ``batch_loss``), and the common names of other frameworks
    (``loss``, ``train/loss``, ``Loss/train``, ``val_loss``, ``Loss/val``, ...). The first
    tag of each list that a run holds wins.
    """

    train_loss: tuple[str, ...] = _d(
        ("epoch_loss", "loss", "train/loss", "Loss/train", "train_loss", "training/loss"),
        "Tags of the training loss, one value per epoch or per logging interval.",
    )
    batch_loss: tuple[str, ...] = _d(
        ("batch_loss", "train/batch_loss", "Loss/train_batch"),
        "Tags of the per-batch training loss (used when no per-epoch loss exists, and for "
        "non-finite values).",
    )
    validation_loss: tuple[str, ...] = _d(
        (
            "epoch_loss",
            "loss",
            "val_loss",
            "epoch_val_loss",
            "val/loss",
            "valid/loss",
            "validation/loss",
            "eval/loss",
            "Loss/val",
            "Loss/valid",
            "Loss/validation",
            "Loss/test",
            "test/loss",
        ),
        "Tags of the validation loss: looked up in the validation run and among the "
        "training run's validation twins.",
    )
    validation_pattern: str = _d(
        r"(?:^|[/_])(?:val|valid|validation|eval|test)(?:[/_]|$)",
        "Regular expression (searched, case-insensitive) that marks a tag of the training run "
        "as a validation twin (``val_loss``, ``Loss/val``, ``epoch_val_accuracy``).",
    )
    learning_rate: tuple[str, ...] = _d(
        ("epoch_learning_rate", "learning_rate", "lr", "train/lr", "train/learning_rate"),
        "Tags of the learning rate (``fitdiag/learning_rate`` is used first when present).",
    )
    accuracy: tuple[str, ...] = _d(
        (
            "epoch_accuracy",
            "epoch_acc",
            "epoch_binary_accuracy",
            "epoch_sparse_categorical_accuracy",
            "epoch_categorical_accuracy",
            "accuracy",
            "acc",
            "train/accuracy",
        ),
        "Tags of the training accuracy (a prediction that never changes shows as an accuracy "
        "that is exactly constant).",
    )
    epoch_prefix: str = _d(
        "epoch_",
        "Tags starting with this prefix count one step per epoch (Keras' ``epoch_*``).",
    )

    def is_validation_twin(self, tag: str) -> bool:
        """True when a training-run tag holds validation data (``val_loss``, ``Loss/val``)."""
        return re.search(self.validation_pattern, tag, flags=re.IGNORECASE) is not None


@dataclass(frozen=True)
class DiagnosisConfig:
    """The thresholds of every check. Override any of them with :meth:`with_overrides`."""

    tags: TagMapping = field(
        default_factory=TagMapping,
        metadata={"doc": "Where the losses and the learning rate are found.", "source": ""},
    )

    # --- how much data a verdict needs -------------------------------------------------
    min_points: int = _t(
        8,
        "Fewest finite points of a loss series for any trend verdict (diverging, oscillating, "
        "plateau, overfitting); shorter runs get no verdict.",
        MANN_KENDALL + ": below about 8 points the test cannot reach significance reliably",
    )
    min_records: int = _t(
        5,
        "Fewest gradient records of a layer statistic for any gradient verdict.",
        FITDIAG,
    )
    max_trend_points: int = _t(
        1000,
        "Longer series are reduced to this many bins (bin medians) before trend tests, which "
        "are quadratic in the number of points.",
        FITDIAG,
    )
    smoothing_window: int = _t(
        5,
        "Width (points) of the running median that smooths a series before levels are read.",
        FITDIAG,
    )
    trend_alpha: float = _t(
        0.01,
        "Significance level of the one-sided Mann-Kendall test behind every trend verdict.",
        MANN_KENDALL,
    )

    # --- references ----------------------------------------------------------------------
    initial_points: int = _t(
        1,
        "The initial loss (the reference of the untrained model) is the median of the first "
        "this many per-step losses, when they were recorded at consecutive early steps "
        "(FitDiagCallback records every one of the first 32 steps). Only the first step's loss "
        "is computed before any update: a too-high rate can multiply the loss by 1000 in the "
        "next two steps, so 1 is the default.",
        FITDIAG,
    )

    # --- diverging-loss ------------------------------------------------------------------
    divergence_rise: float = _t(
        0.5,
        "diverging-loss: the smoothed training loss ends at least this fraction above its "
        "minimum (0.5 = 50% higher) after a significant upward trend.",
        AUTOTRAINER + " treats a loss that grows without bound as an 'explode' symptom; the "
        "50% margin is " + FITDIAG,
    )

    divergence_spike: float = _t(
        10.0,
        "diverging-loss: the running median of the training loss (window smoothing_window, so "
        "a single bad batch does not count) rises to at least this many times its earlier "
        "minimum, even if it later comes back down.",
        AUTOTRAINER + " flags a loss of 1e5 or more as 'explode'; a loss that grows 10x over "
        "its best level is the scale-free version: " + FITDIAG,
    )

    divergence_initial_factor: float = _t(
        10.0,
        "diverging-loss: the running median of the per-step loss rises to at least this many "
        "times the initial loss.",
        AUTOTRAINER + " flags a loss of 1e5 or more as 'explode'; 10x the untrained model's "
        "loss is the scale-free version: " + FITDIAG,
    )
    divergence_peak_factor: float = _t(
        100.0,
        "diverging-loss: the largest batch loss between two records (the callback's running "
        "maximum) reaches at least this many times the initial loss in at least "
        "divergence_peak_windows windows; a cross-entropy of a healthy model never gets there "
        "(Keras clips probabilities at 1e-7, so a sample's loss stays below 16.2).",
        FITDIAG,
    )
    divergence_peak_windows: int = _t(
        1,
        "diverging-loss: how many windows must reach divergence_peak_factor.",
        FITDIAG,
    )

    # --- oscillating-loss ----------------------------------------------------------------
    oscillation_amplitude: float = _t(
        0.25,
        "oscillating-loss: a swing between a local maximum and the next local minimum counts "
        "when it is at least this fraction of the loss level.",
        AUTOTRAINER + " (zeta = 0.03 on accuracy); on a loss, 25% of its level, so that "
        "epoch-to-epoch noise of a healthy run (a few %) never counts: " + FITDIAG,
    )
    oscillation_rate: float = _t(
        0.2,
        "oscillating-loss: flagged when the counted swings number at least this fraction of "
        "the points.",
        AUTOTRAINER + " (eta = 0.2)",
    )

    # --- loss-plateau --------------------------------------------------------------------
    plateau_min_improvement: float = _t(
        0.05,
        "loss-plateau: flagged when the training loss improved by less than this fraction "
        "of its starting level over the whole run.",
        AUTOTRAINER + " flags slow convergence when accuracy improves by less than "
        "delta = 0.01 per epoch; on a loss, over the run, " + FITDIAG,
    )

    plateau_chance_fraction: float = _t(
        0.95,
        "loss-plateau (at chance): the training loss ends at or above this fraction of the "
        "chance-level loss (ln C for C classes, ln 2 for binary cross-entropy), so the model "
        "predicts no better than a uniform guess, whatever it started from.",
        "the cross-entropy of a uniform prediction is ln C (Goodfellow et al., Deep Learning, "
        "8.2); the 5% margin is " + FITDIAG,
    )

    ordinary_learning_rate: float = _t(
        0.01,
        "non-finite-loss: a training loss that is NaN/Inf from its first epoch, with no finite "
        "value ever, at a learning rate at or below this, is told as a numerical error in the "
        "loss or the data (epoch-level logs cannot show whether the first step was finite).",
        "the Keras defaults (1e-3 for Adam/RMSprop, 1e-2 for SGD): rates that train stably on "
        "normalized data; " + FITDIAG,
    )
    untrained_loss_factor: float = _t(
        10.0,
        "The headline blames a divergence on the inputs, not the learning rate, when the "
        "untrained model's loss (the first step's) is at least this many times the chance-level "
        "loss: the trouble is there before any update.",
        "an untrained classifier with small initial weights predicts close to uniform, so its "
        "loss is close to ln C (Glorot & Bengio 2010 on initialization scales); " + FITDIAG,
    )
    origin_weight_growth: float = _t(
        10.0,
        "non-finite-loss: the replay of the first failing batch (fitdiag/nonfinite_origin) is "
        "told as exploding, not as a numerical bug, when some layer's weight norm at that step "
        "is at least this many times its first recorded norm: the weights grew there.",
        "ordinary training moves a layer's weight norm by tens of percent, a learning rate that "
        "blows up multiplies it by orders of magnitude (the labelled runs in tests/tb_fitdiag); "
        + FITDIAG,
    )
    low_learning_rate: float = _t(
        1e-5,
        "The headline blames a plateau on the learning rate only when the updates are tiny "
        "(update-ratio-too-low) or the rate is at or below this.",
        "two orders of magnitude below the Keras defaults: " + FITDIAG,
    )

    # --- overfitting ---------------------------------------------------------------------
    overfit_generalization_loss: float = _t(
        0.10,
        "overfitting (warning): the smoothed validation loss ends at least this fraction above "
        "its minimum (Prechelt's generalization loss GL, as a fraction) while its rise is a "
        "significant trend and the training loss does not rise.",
        PRECHELT + "; GL > 10% is a conservative member of his GL family",
    )
    overfit_generalization_loss_info: float = _t(
        0.05,
        "overfitting (info): the same with a smaller generalization loss.",
        PRECHELT + " (GL5)",
    )
    overfit_min_points_after_min: int = _t(
        5,
        "overfitting: fewest validation points after the validation minimum (Prechelt's UP "
        "criterion needs successive increases, not one point; 5 is also the fewest with which "
        "a monotone rise reaches Mann-Kendall p < 0.01).",
        PRECHELT + " (UP_s)",
    )
    overfit_train_drop: float = _t(
        0.05,
        "overfitting: the training loss must have fallen by at least this fraction over the "
        "stretch where validation loss rose (or fallen with a significant trend); otherwise "
        "the model is not learning the training set either, and it is not overfitting.",
        PRECHELT + ": his PQ criterion relates the generalization loss to training progress",
    )
    progress_strip: int = _t(
        5,
        "Strip length k of Prechelt's training progress P_k, reported in the evidence.",
        PRECHELT + " (k = 5)",
    )

    # --- gradients -----------------------------------------------------------------------
    explode_ratio: float = _t(
        70.0,
        "exploding-gradients: the gradient norm of the first layer is at least this many "
        "times that of the last layer.",
        AUTOTRAINER + " (beta_3 = 70)",
    )
    explode_growth: float = _t(
        100.0,
        "exploding-gradients: the global gradient norm grows by at least this factor "
        "(smoothed end over smoothed start) with a significant upward trend.",
        FITDIAG,
    )
    large_gradient_norm: float = _t(
        100.0,
        "exploding-gradients (large): the median global gradient norm over the recorded steps "
        "is at least this, even if it stays finite (an adaptive optimizer normalizes such "
        "gradients away, but the weights then move by the full step at every update).",
        "the 'exploding > 100' band of the tab's heatmap; gradient clipping defaults are 1-10 "
        "(Pascanu et al. 2013 clip at a norm of about 1-10): " + FITDIAG,
    )
    vanish_ratio: float = _t(
        1e-3,
        "vanishing-gradients: the gradient norm of the first layer is at most this fraction "
        "of that of the last layer.",
        AUTOTRAINER + " (beta_1 = 1e-3)",
    )
    vanish_first_layer_norm: float = _t(
        1e-4,
        "vanishing-gradients: and the first layer's gradient norm is below this value.",
        AUTOTRAINER + " (beta_2 = 1e-4)",
    )
    dead_fraction: float = _t(
        0.7,
        "dead-units: a layer has at least this fraction of ReLU units that never activate on "
        "the probe batch, or of gradient entries exactly zero.",
        AUTOTRAINER + " (gamma = 0.7, on the fraction of zero gradients)",
    )
    update_ratio_high: float = _t(
        1e-1,
        "update-ratio-too-high: a layer's median update-to-weight ratio per step is above "
        "this (100x the rule of thumb).",
        RULE_OF_THUMB,
    )
    update_ratio_low: float = _t(
        1e-5,
        "update-ratio-too-low: the median over layers of the per-layer median update-to-weight "
        "ratio is below this (1/100 of the rule of thumb).",
        RULE_OF_THUMB,
    )
    tail_fraction: float = _t(
        0.5,
        "Gradient verdicts on levels (vanishing, exploding ratio, dead units) read the median "
        "of the last fraction of the records, so a transient at initialisation does not count.",
        FITDIAG,
    )

    def with_overrides(self, **overrides: Any) -> DiagnosisConfig:
        """Returns a copy with the named thresholds replaced.

        Raises:
            ValueError: For a name that is not a field.
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown diagnosis setting(s): {', '.join(unknown)}")
        return replace(self, **overrides)


def threshold_docs() -> list[tuple[str, Any, str, str]]:
    """``(name, default, doc, source)`` of every threshold, in declaration order."""
    default = DiagnosisConfig()
    return [
        (f.name, getattr(default, f.name), f.metadata["doc"], f.metadata["source"])
        for f in fields(DiagnosisConfig)
        if f.name != "tags"
    ]


def threshold_table() -> str:
    """The Markdown table of every threshold, as ``docs/diagnose.md`` shows it."""
    rows = [
        "| Setting | Default | What it controls | Source |",
        "|---|---|---|---|",
    ]
    for name, default, doc, source in threshold_docs():
        rows.append(f"| `{name}` | `{default!r}` | {doc} | {source} |")
    return "\n".join(rows)
