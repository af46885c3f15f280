"""What every check reads: the run, the config, and the loss series picked by the tag mapping."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tb_fitdiag.diagnosis.config import DiagnosisConfig
from tb_fitdiag.diagnosis.model import RunData, Series
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
        return cls(
            data=data,
            config=config,
            train_loss=train,
            validation_loss=validation,
            batch_losses=batch,
            learning_rate=_learning_rate(data, config),
        )


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
