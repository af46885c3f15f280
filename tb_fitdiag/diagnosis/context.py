"""What every check reads: the run, the config, and the loss series picked by the tag mapping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tb_fitdiag.diagnosis.config import DiagnosisConfig
from tb_fitdiag.diagnosis.model import RunData, Series
from tb_fitdiag.diagnosis.robust import median
from tb_fitdiag.metadata import TAG_PREFIX

STEP: str = "step"
EPOCH: str = "epoch"


@dataclass(frozen=True)
class NamedSeries:
    """A series with where it came from.

    Attributes:
        tag: The scalar tag (``epoch_loss``, ``fitdiag/batch_loss``, ...).
        series: The points.
        unit: ``epoch`` when one point is one epoch, else ``step``.
        role: ``training loss`` or ``validation loss``: how messages name it.
    """

    tag: str
    series: Series
    unit: str
    role: str

    def label(self) -> str:
        """How a message names the series, e.g. ``training loss (epoch_loss)``."""
        return f"{self.role} ({self.tag})"

    def at(self, step: int) -> str:
        """How a message names a step, e.g. ``epoch 12``."""
        return f"{self.unit} {step}"


@dataclass
class CheckContext:
    """The inputs of every check, computed once per diagnosis."""

    data: RunData
    config: DiagnosisConfig
    train_loss: NamedSeries | None
    validation_loss: NamedSeries | None
    batch_losses: list[NamedSeries] = field(default_factory=list)
    learning_rate: float | None = None
    # References every loss is judged against (None when the run does not tell).
    initial_loss: float | None = None  # the loss of the first steps, before training moved
    chance_loss: float | None = None  # the loss of a prediction at chance level (ln C)
    optimizer: str = ""
    accuracy: NamedSeries | None = None
    # What the checks derive from the run once and share (per-statistic layer matrices).
    derived: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def aggregate(self, stat: str) -> Series | None:
        """A running aggregate of the callback (``batch_loss_max``, ...), if recorded."""
        series = self.data.global_stats.get(stat)
        return series if series is not None and len(series) else None

    @classmethod
    def build(cls, data: RunData, config: DiagnosisConfig) -> CheckContext:
        """Picks the loss series named by ``config.tags`` from ``data``."""
        tags = config.tags
        batch: list[NamedSeries] = []
        for tag in tags.batch_loss:
            if len(data.train.get(tag, ())):
                batch.append(_named(tag, data.train[tag], "training loss", config))
                break
        fitdiag_batch = data.global_stats.get("batch_loss")
        if fitdiag_batch is not None and len(fitdiag_batch):
            batch.append(
                NamedSeries(TAG_PREFIX + "batch_loss", fitdiag_batch, STEP, "training loss")
            )
        train = _first(data.train, tags.train_loss, "training loss", config)
        if train is None and batch:
            train = batch[0]
        validation = _first(data.validation, tags.validation_loss, "validation loss", config)
        info = data.run_info or {}
        chance = info.get("chance_loss")
        optimizer = info.get("optimizer")
        return cls(
            data=data,
            config=config,
            train_loss=train,
            validation_loss=validation,
            batch_losses=batch,
            learning_rate=_learning_rate(data, config),
            initial_loss=_initial_loss(batch, config),
            chance_loss=(
                float(chance)
                if isinstance(chance, (int, float)) and math.isfinite(chance) and chance > 0
                else None
            ),
            optimizer=optimizer if isinstance(optimizer, str) else "",
            accuracy=_first(data.train, tags.accuracy, "training accuracy", config),
        )


def _initial_loss(batch: list[NamedSeries], config: DiagnosisConfig) -> float | None:
    """The median of the first ``initial_points`` per-step losses, when they were recorded at
    nearly consecutive steps (within ``2 * initial_points``), so they show the untrained model."""
    k = config.initial_points
    for named in batch:
        steps, values = named.series.steps, named.series.values
        if steps.size < k or int(steps[k - 1]) - int(steps[0]) >= 2 * k:
            continue
        first = values[:k]
        first = first[np.isfinite(first)]
        if first.size:
            return median(first)
    return None


def _named(tag: str, series: Series, role: str, config: DiagnosisConfig) -> NamedSeries:
    unit = EPOCH if tag.startswith(config.tags.epoch_prefix) else STEP
    return NamedSeries(tag, series, unit, role)


def _first(
    scalars: dict[str, Series], candidates: tuple[str, ...], role: str, config: DiagnosisConfig
) -> NamedSeries | None:
    for tag in candidates:
        series = scalars.get(tag)
        if series is not None and len(series):
            return _named(tag, series, role, config)
    return None


def _learning_rate(data: RunData, config: DiagnosisConfig) -> float | None:
    candidates = [data.global_stats.get("learning_rate")]
    candidates += [data.train.get(tag) for tag in config.tags.learning_rate]
    for series in candidates:
        if series is None:
            continue
        finite = series.values[np.isfinite(series.values)]
        if finite.size:
            return float(finite[-1])
    return None
