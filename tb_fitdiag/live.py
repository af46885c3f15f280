"""The diagnosis while training runs: what FitDiagCallback has written, diagnosed as it goes.

``LiveRun`` keeps every value the callback writes (gradient statistics, aggregates, epoch
scalars, the run info and fitlint's findings) in growable numpy arrays, so that the diagnosis
engine can run on it at an epoch end without reading event files back. ``LiveDiagnosis`` runs
the engine, decides which findings are new (a finding is reported once, and again only when
its severity rises) and says each in one line that fits under Keras's progress bar::

    fitdiag: epoch 3: diverging-loss (error): training loss (...) blew up ...; most likely
    learning-rate-too-high at train.py:22; try: Lower the learning rate for Adam from 1 to ...

The callback decides when to ask (epoch ends, and a record that saw the first non-finite loss),
prints the lines and writes the findings as an event; this module never prints.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tb_fitdiag import metadata
from tb_fitdiag.diagnosis import DiagnosisConfig, RunData, Series, diagnose_run, severity_rank
from tb_fitdiag.diagnosis.model import Finding, LayerSeries, Table
from tb_fitdiag.reading import layer_order, put_stat

# Values of FitDiagCallback(stop_on=...).
STOP_ON = (None, "error", "warning")


# Points kept per series: beyond it a series is thinned to every other point (the first one
# and the latest always kept), so memory and the diagnosis' cost stay bounded however long the
# run (200 layers x 8 statistics x 512 points is about 13 MB). The event files keep all.
MAX_POINTS = 512


class _Growing:
    """Series that grow together by appending: one steps array, one row of values per series;
    amortized O(1), compact.

    It keeps the points whose index (counting distinct steps) is a multiple of a stride that
    doubles each time ``MAX_POINTS`` are kept, plus the latest point: evenly thinned, first
    and latest always there. The arrays keep one spare slot for that latest point.
    """

    __slots__ = ("_seen", "_size", "_sorted", "_steps", "_stride", "_tail", "_values")

    def __init__(self, width: int = 1) -> None:
        self._steps = np.empty(17, dtype=np.int64)
        self._values = np.empty((width, 17), dtype=np.float64)
        self._size = 0
        self._seen = 0  # distinct steps appended
        self._stride = 1
        self._tail: tuple[int, np.ndarray] | None = None  # the latest point, when not kept
        self._sorted = True  # steps arrive ascending (the callback's step only moves on)

    def append(self, step: int, values: np.ndarray | float) -> None:
        """Adds the point of every series at ``step`` (a step written again: the last wins)."""
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if self._tail is not None and step == self._tail[0]:
            self._tail = (step, row)
            return
        last = (
            self._tail[0]
            if self._tail is not None
            else (int(self._steps[self._size - 1]) if self._size else None)
        )
        if self._tail is None and last is not None and step == last:
            # A step written again (the aggregates at an epoch end after a record at the same
            # step): the last value wins, as TensorBoard's readers have it.
            self._values[:, self._size - 1] = row
            return
        if last is not None and step < last:
            self._sorted = False
        index, self._seen = self._seen, self._seen + 1
        if index % self._stride:
            self._tail = (step, row)
            return
        self._tail = None
        if self._size == MAX_POINTS:
            half = self._size // 2
            self._steps[:half] = self._steps[: self._size : 2]
            self._values[:, :half] = self._values[:, : self._size : 2]
            self._size = half
            self._stride *= 2
            if index % self._stride:
                self._tail = (step, row)
                return
        elif self._size + 1 == self._steps.size:
            capacity = min(2 * self._size, MAX_POINTS) + 1
            self._steps = np.resize(self._steps, capacity)
            values = np.empty((self._values.shape[0], capacity), dtype=np.float64)
            values[:, : self._size] = self._values[:, : self._size]
            self._values = values
        self._steps[self._size] = step
        self._values[:, self._size] = row
        self._size += 1

    @property
    def ordered(self) -> bool:
        """Whether the steps arrived ascending (the callback's step only moves on)."""
        return self._sorted

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)``: read-only views, values one row per series, valid until the
        next append."""
        n = self._size
        if self._tail is not None:
            self._steps[n] = self._tail[0]
            self._values[:, n] = self._tail[1]
            n += 1
        steps, values = self._steps[:n], self._values[:, :n]
        steps.flags.writeable = False
        values.flags.writeable = False
        return steps, values

    def series(self) -> Series:
        """The first (for a single series, the only) series."""
        return _series(*self.points(), 0, self.ordered)


def _series(steps: np.ndarray, values: np.ndarray, row: int, ordered: bool) -> Series:
    if ordered:
        return Series(steps, values[row])
    return Series.from_points(steps, values[row])


@dataclass
class LiveRun:
    """Everything the callback wrote for one run, as the diagnosis reads it.

    The statistics of one write (a record: every layer's at one step) grow together in one
    table, keyed by the write's tags, so that :meth:`data` hands the diagnosis series that
    share their steps and copies nothing.
    """

    train: dict[str, _Growing] = field(default_factory=dict)
    validation: dict[str, _Growing] = field(default_factory=dict)
    tables: dict[tuple[str, ...], _Growing] = field(default_factory=dict)
    run_info: dict[str, Any] | None = None
    static_findings: dict[str, Any] | None = None
    nonfinite_origin: dict[str, Any] | None = None
    _plan_cache: tuple[tuple[Any, ...], _Plan] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def add_stats(self, values: Mapping[str, tuple[float, str]], step: int) -> None:
        """Adds what the callback wrote with ``RunWriter.stats`` (``tag -> (value, kind)``)."""
        tags = tuple(values)
        table = self.tables.get(tags)
        if table is None:
            table = self.tables[tags] = _Growing(len(tags))
        table.append(step, np.fromiter((v for v, _ in values.values()), np.float64, len(tags)))

    def add_epoch(self, logs: Mapping[str, float], epoch: int) -> None:
        """Adds an epoch's Keras logs (``loss``, ``val_loss``, metrics) as ``epoch_*`` scalars."""
        for name, value in logs.items():
            if name.startswith("val_"):
                self.validation.setdefault(f"epoch_{name[4:]}", _Growing()).append(epoch, value)
            else:
                self.train.setdefault(f"epoch_{name}", _Growing()).append(epoch, value)

    def data(self) -> RunData:
        """The run as the diagnosis engine takes it: read-only views, valid until the next
        write. A layer statistic whose layers share a table reaches the diagnosis as that
        table's rows (a :class:`LayerSeries`); a tag written in more than one table is merged
        into one series."""
        data = RunData(
            train={tag: g.series() for tag, g in self.train.items()},
            validation={tag: g.series() for tag, g in self.validation.items()},
            run_info=self.run_info,
            static_findings=self.static_findings,
            nonfinite_origin=self.nonfinite_origin,
        )
        plan = self._plan()
        tables = list(self.tables.values())
        points = [table.points() for table in tables]
        for stat in dict.fromkeys([*plan.rows, *plan.merged]):
            made = [
                Table(points[index][0], layers, points[index][1][rows])
                for index, layers, rows in plan.rows.get(stat, ())
            ]
            others = {
                layer: _merged(tables, points, sources)
                for layer, sources in plan.merged.get(stat, {}).items()
            }
            data.layer_stats[stat] = LayerSeries(made, others)
        for stat, sources in plan.global_sources.items():
            put_stat(data, stat, None, _merged(tables, points, sources))
        data.layers = layer_order(data)
        return data

    def _plan(self) -> _Plan:
        """Where each statistic's series are in the tables, worked out again only when the
        tables change (one is added, replaced or stops being ordered; a table's tags never
        change)."""
        # The tags tuples compare by identity first: cheap while the tables stay the same.
        key = tuple((tags, table.ordered) for tags, table in self.tables.items())
        if self._plan_cache is not None and self._plan_cache[0] == key:
            return self._plan_cache[1]
        ordered = [table.ordered for table in self.tables.values()]
        sources: dict[tuple[str, str | None], list[tuple[int, int]]] = {}
        for index, tags in enumerate(self.tables):
            for row, tag in enumerate(tags):
                parsed = _parsed_tag(tag)
                if parsed is not None:
                    sources.setdefault(parsed, []).append((index, row))
        plan = _Plan()
        by_table: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for (stat, layer), places in sources.items():
            if layer is None:
                plan.global_sources[stat] = places
            elif len(places) == 1 and ordered[places[0][0]]:
                index, row = places[0]
                by_table.setdefault((stat, index), []).append((layer, row))
            else:
                plan.merged.setdefault(stat, {})[layer] = places
        for (stat, index), members in by_table.items():
            layers = tuple(layer for layer, _ in members)
            plan.rows.setdefault(stat, []).append(
                (index, layers, _rows([row for _, row in members]))
            )
        self._plan_cache = (key, plan)
        return plan


@dataclass
class _Plan:
    """Where the diagnosis' series are in a run's tables.

    Attributes:
        rows: Layer statistic -> ``(table index, layers, their rows)`` for the layers whose
            series is one ordered table's row.
        merged: Layer statistic -> layer -> ``(table index, row)`` of each piece, for the
            others (written in several tables, or in one whose steps came out of order).
        global_sources: Whole-model statistic -> its pieces, likewise.
    """

    rows: dict[str, list[tuple[int, tuple[str, ...], slice | np.ndarray]]] = field(
        default_factory=dict
    )
    merged: dict[str, dict[str, list[tuple[int, int]]]] = field(default_factory=dict)
    global_sources: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def _rows(rows: list[int]) -> slice | np.ndarray:
    """The rows as a slice where they are evenly spaced (a view, no copy: the callback writes
    each layer's statistics together, so one statistic's rows are), else as an index array."""
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    if step > 0 and all(b - a == step for a, b in itertools.pairwise(rows)):
        return slice(rows[0], rows[-1] + 1, step)
    return np.asarray(rows, dtype=np.intp)


def _merged(
    tables: list[_Growing],
    points: list[tuple[np.ndarray, np.ndarray]],
    sources: list[tuple[int, int]],
) -> Series:
    """One series from its pieces in ``tables`` (one piece: a view of it)."""
    pieces = [_series(*points[index], row, tables[index].ordered) for index, row in sources]
    if len(pieces) == 1:
        return pieces[0]
    return Series.from_points(
        np.concatenate([p.steps for p in pieces]), np.concatenate([p.values for p in pieces])
    )


@functools.lru_cache(maxsize=65536)
def _parsed_tag(tag: str) -> tuple[str, str | None] | None:
    return metadata.parse_tag(tag)


@dataclass(frozen=True)
class Raised:
    """A finding the live diagnosis reported: when it was first raised, and at what severity."""

    name: str
    severity: str
    step: int
    epoch: int
    line: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "step": self.step,
            "epoch": self.epoch,
            "line": self.line,
        }


@dataclass(frozen=True)
class Check:
    """What one live diagnosis found new.

    Attributes:
        raised: The findings reported now (new, or at a higher severity than before).
        stop: The line that says why training stops (``stop_on``), or None.
        seconds: How long the diagnosis took.
    """

    raised: list[Raised]
    stop: str | None
    seconds: float


class LiveDiagnosis:
    """Diagnoses a ``LiveRun`` on request and remembers what it has already reported.

    Args:
        config: Thresholds and tag mapping (the defaults when None).
        stop_on: ``"error"`` or ``"warning"`` to ask training to stop at the first finding of
            that severity or worse; None never asks.
    """

    def __init__(self, config: DiagnosisConfig | None = None, stop_on: str | None = None):
        if stop_on not in STOP_ON:
            raise ValueError(f"stop_on must be one of None, 'error', 'warning'; got {stop_on!r}")
        self.config = config or DiagnosisConfig()
        self.stop_on = stop_on
        self.run = LiveRun()
        self.reported: dict[str, Raised] = {}
        self.stopped = False

    def check(self, *, epoch: int, step: int) -> Check:
        """Diagnoses what has been written so far; ``epoch`` and ``step`` say where training is."""
        begin = time.perf_counter()
        diagnosis = diagnose_run(self.run.data(), self.config)
        raised: list[Raised] = []
        headline = diagnosis.headline
        cause_said = False
        for finding in diagnosis.findings:
            if finding.severity == "info":
                continue
            before = self.reported.get(finding.name)
            if before is not None and severity_rank(finding.severity) >= severity_rank(
                before.severity
            ):
                continue  # already said, at this severity or a higher one
            explained = headline is not None and finding.name in headline.explains
            line = _line(finding, epoch, headline if explained else None, cause_said)
            cause_said = cause_said or explained
            record = Raised(finding.name, finding.severity, step, epoch, line)
            self.reported[finding.name] = record
            raised.append(record)
        stop = None
        if self.stop_on is not None and not self.stopped:
            limit = severity_rank(self.stop_on)
            trigger = next((r for r in raised if severity_rank(r.severity) <= limit), None)
            if trigger is not None:
                self.stopped = True
                stop = (
                    f"fitdiag: stopping training at epoch {epoch + 1} "
                    f"(stop_on={self.stop_on!r}): {trigger.name} ({trigger.severity})"
                )
        return Check(raised, stop, time.perf_counter() - begin)

    def forget(self, check: Check) -> None:
        """Takes back what ``check`` reported (to check again with more to go on)."""
        for record in check.raised:
            self.reported.pop(record.name, None)
        if check.stop is not None:
            self.stopped = False

    def document(self) -> dict[str, Any]:
        """Every finding reported so far, for the ``fitdiag/live_findings`` event."""
        return {
            "version": metadata.SCHEMA_VERSION,
            "findings": [r.to_json() for r in self.reported.values()],
        }


def _line(finding: Finding, epoch: int, headline: Any, cause_said: bool) -> str:
    """One line: ``fitdiag: epoch E: name (severity): message; most likely CAUSE at
    path:line; try: FIX`` (the epoch counted from 1, as Keras's progress output counts it).

    The cause and its fix are said once per check; a later finding that the same cause
    explains says so in a word."""
    parts = [f"fitdiag: epoch {epoch + 1}: {finding.name} ({finding.severity}): {finding.message}"]
    if headline is not None and cause_said:
        parts.append(f"also explained by {headline.cause}")
    elif headline is not None:
        where = f" at {headline.location}" if headline.location else ""
        parts.append(f"most likely {headline.cause}{where}")
        parts.append(f"try: {_first_clause(headline.fix)}")
    elif finding.remedy:
        parts.append(f"try: {_first_clause(finding.remedy)}")
    return "; ".join(parts)


def _first_clause(text: str) -> str:
    """The first clause of a fix (``"Lower the rate to 1e-3; add a warm-up"`` -> the first)."""
    return text.split("; ")[0].rstrip(".")
