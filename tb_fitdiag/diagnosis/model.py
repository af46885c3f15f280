"""What the diagnosis reads (:class:`Series`, :class:`RunData`) and writes (:class:`Finding`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"
# Most severe first; the rank of a severity is its index here.
SEVERITIES: Final = (ERROR, WARNING, INFO)


def severity_rank(severity: str) -> int:
    """Returns 0 for error, 1 for warning, 2 for info (lower is more severe).

    Raises:
        ValueError: For an unknown severity.
    """
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


@dataclass(frozen=True)
class Series:
    """One scalar time series: ``steps`` (int64, strictly ascending) and ``values`` (float64).

    Build it with :meth:`from_points` unless the steps are already sorted and unique.
    """

    steps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.steps.shape != self.values.shape or self.steps.ndim != 1:
            raise ValueError(
                f"steps {self.steps.shape} and values {self.values.shape} must be equal-length 1-D"
            )

    @classmethod
    def from_points(
        cls, steps: Sequence[int] | npt.ArrayLike, values: Sequence[float] | npt.ArrayLike
    ) -> Series:
        """Builds a series from unordered points: sorts by step and keeps the last value
        written for a repeated step (as TensorBoard does when a run is restarted)."""
        s = np.asarray(steps, dtype=np.int64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if s.shape != v.shape:
            raise ValueError(f"{s.size} steps but {v.size} values")
        if s.size and np.any(np.diff(s) <= 0):
            order = np.argsort(s, kind="stable")
            s, v = s[order], v[order]
            keep = np.ones(s.size, dtype=bool)
            keep[:-1] = s[1:] != s[:-1]  # the last of equal steps survives
            s, v = s[keep], v[keep]
        return cls(s, v)

    def __len__(self) -> int:
        return int(self.steps.size)

    def finite(self) -> Series:
        """The points whose value is finite."""
        mask = np.isfinite(self.values)
        if mask.all():
            return self
        return Series(self.steps[mask], self.values[mask])


@dataclass(frozen=True)
class Table:
    """One statistic of several layers recorded at the same steps: a row of ``values`` per
    layer (the layout the callback writes, every layer at once), so that the checks that
    look at every layer take one matrix instead of stacking a series per layer.

    Attributes:
        steps: The shared steps (int64, strictly ascending).
        layers: The layer of each row.
        values: ``(len(layers), len(steps))`` float64.
    """

    steps: npt.NDArray[np.int64]
    layers: tuple[str, ...]
    values: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.steps.ndim != 1 or self.values.shape != (len(self.layers), self.steps.size):
            raise ValueError(
                f"a table of {len(self.layers)} layers at {self.steps.size} steps cannot hold "
                f"values of shape {self.values.shape}"
            )


class LayerSeries(Mapping[str, Series]):
    """Layer -> series of one statistic, held as :class:`Table` rows (plus any series that
    fit no table); a layer's :class:`Series` is made when it is read, so handing a run of
    hundreds of layers to the diagnosis costs nothing per layer.

    Args:
        tables: Tables of disjoint layers.
        others: Series of layers in no table.
    """

    __slots__ = ("_made", "_others", "_rows", "tables")

    def __init__(self, tables: Sequence[Table], others: Mapping[str, Series] | None = None):
        self.tables = tuple(tables)
        self._others = dict(others or {})
        self._rows: dict[str, tuple[int, int]] = {}
        for index, table in enumerate(self.tables):
            for row, layer in enumerate(table.layers):
                if layer in self._rows or layer in self._others:
                    raise ValueError(f"layer {layer!r} is in more than one table")
                self._rows[layer] = (index, row)
        self._made: dict[str, Series] = {}

    @property
    def others(self) -> Mapping[str, Series]:
        """The series of the layers in no table."""
        return self._others

    def __getitem__(self, layer: str) -> Series:
        series = self._made.get(layer)
        if series is None:
            series = self._others.get(layer)
        if series is not None:
            return series
        index, row = self._rows[layer]  # KeyError for an unknown layer, as a dict has it
        table = self.tables[index]
        series = self._made[layer] = Series(table.steps, table.values[row])
        return series

    def __contains__(self, layer: object) -> bool:
        return layer in self._rows or layer in self._others

    def __iter__(self) -> Iterator[str]:
        yield from self._rows
        yield from self._others

    def __len__(self) -> int:
        return len(self._rows) + len(self._others)

    def longest(self) -> int:
        """The number of points of the longest series (0 when there is none)."""
        lengths = [t.steps.size for t in self.tables if t.layers]
        lengths += [len(s) for s in self._others.values()]
        return max(lengths, default=0)


@dataclass
class RunData:
    """Everything the diagnosis knows about one training run.

    Attributes:
        train: Ordinary scalar tag -> series, from the training run.
        validation: Scalar tag -> series from the validation run (Keras layout) or from the
            training run's validation-twin tags (``val_loss``, ``Loss/val``, ...).
        layer_stats: Statistic (``metadata.LAYER_STATS``) -> layer path -> series (a
            :class:`LayerSeries` where the writer kept the layers' series as tables).
        global_stats: Statistic (``metadata.GLOBAL_STATS``) -> series.
        layers: Layer paths, input to output (``run_info["layers"]``, else sorted).
        run_info: The ``fitdiag/run_info`` JSON document, if any.
        static_findings: The ``fitdiag/static_findings`` JSON document, if any.
        live_findings: The ``fitdiag/live_findings`` JSON document (what the callback said
            while training ran), if any.
        nonfinite_origin: The ``fitdiag/nonfinite_origin`` JSON document (where the first
            NaN/Inf came from, found by replaying its batch), if any.
        skipped: Human-readable notes on what could not be read.
    """

    train: dict[str, Series] = field(default_factory=dict)
    validation: dict[str, Series] = field(default_factory=dict)
    layer_stats: dict[str, Mapping[str, Series]] = field(default_factory=dict)
    global_stats: dict[str, Series] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    run_info: dict[str, Any] | None = None
    static_findings: dict[str, Any] | None = None
    live_findings: dict[str, Any] | None = None
    nonfinite_origin: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when the run holds no series at all."""
        return not (
            any(len(s) for s in self.train.values())
            or any(len(s) for s in self.validation.values())
            or any(len(s) for s in self.global_stats.values())
            or any(len(s) for by_layer in self.layer_stats.values() for s in by_layer.values())
        )


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem of a run.

    Attributes:
        name: Stable identifier, e.g. ``overfitting``.
        severity: ``error``, ``warning`` or ``info``.
        step_start: First step (or epoch, see ``evidence["step_unit"]``) of the evidence.
        step_end: Last step (or epoch) of the evidence.
        message: The evidence in numbers, one sentence.
        evidence: The numbers behind the message (JSON-serialisable).
        suggestions: fitlint rule names of the likely static causes.
        remedy: What to change: the headline's fix when the headline explains this finding,
            else the finding's own remedy (set by the engine).
    """

    name: str
    severity: str
    step_start: int
    step_end: int
    message: str
    evidence: dict[str, Any]
    suggestions: tuple[str, ...] = ()
    remedy: str = ""

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict (numpy scalars and arrays become Python values;
        NaN and Inf stay floats, which ``json.dumps`` writes by default)."""
        return {
            "name": self.name,
            "severity": self.severity,
            "step_start": int(self.step_start),
            "step_end": int(self.step_end),
            "message": self.message,
            "evidence": _jsonable(self.evidence),
            "suggestions": list(self.suggestions),
            "remedy": self.remedy,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value
