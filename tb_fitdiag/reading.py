"""TensorBoard data provider -> :class:`~tb_fitdiag.diagnosis.RunData`.

Shared by the TensorBoard plugin and ``fitdiag diagnose``. Only the ``DataProvider`` methods
(``list_scalars``, ``read_scalars``, ``list_tensors``, ``read_tensors``) are used, so it works
with TensorBoard's Python multiplexer provider and its Rust-backed gRPC provider alike. It never
imports TensorFlow. It reads the statistics of both schemas (:mod:`tb_fitdiag.metadata`): the
records of schema 2, a few large tensors per run, and the one scalar tag per statistic and layer
of schema 1.

A *training run* groups the TensorBoard runs ``<name>/train`` and ``<name>/validation`` that a
Keras ``fit()`` writes into one log directory; any other run stands alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tb_fitdiag import metadata
from tb_fitdiag.diagnosis import DiagnosisConfig, RunData, Series

SCALARS_PLUGIN = "scalars"
# "Read every point": the data provider returns min(downsample, available) points.
FULL_DOWNSAMPLE = 1_000_000_000
ROOT_RUN = "."


@dataclass(frozen=True)
class TrainingRun:
    """One training run: the TensorBoard runs that hold its training and validation data.

    Attributes:
        name: The training run's path relative to the logdir: ``run1`` for ``run1/train`` and
            ``run1/validation``; a plain TensorBoard run's own name otherwise (``.`` for a root
            run).
        train_run: TensorBoard run name with the training data, e.g. ``run1/train``.
        validation_run: TensorBoard run name with the validation data, e.g. ``run1/validation``.
    """

    name: str
    train_run: str | None
    validation_run: str | None

    def runs(self) -> list[str]:
        """The TensorBoard run names of this training run."""
        return [r for r in (self.train_run, self.validation_run) if r is not None]


def _split_run(run: str) -> tuple[str, str | None]:
    """``"a/b/train"`` -> ``("a/b", "train")``; ``"a/b"`` -> ``("a/b", None)``."""
    head, sep, last = run.replace("\\", "/").rpartition("/")
    if last in (metadata.TRAIN_RUN, metadata.VALIDATION_RUN):
        return (head if sep else ROOT_RUN) or ROOT_RUN, last
    return run, None


def group_runs(run_names: Iterable[str]) -> list[TrainingRun]:
    """Groups TensorBoard run names into training runs, sorted by name.

    Args:
        run_names: TensorBoard run names (``run1/train``, ``run1/validation``, ``other``).

    Returns:
        One :class:`TrainingRun` per group.
    """
    groups: dict[str, dict[str, str]] = {}
    plain: dict[str, str] = {}
    for run in sorted(set(run_names)):
        parent, kind = _split_run(run)
        if kind is None:
            plain[run] = run
        else:
            groups.setdefault(parent, {})[kind] = run
    out: dict[str, TrainingRun] = {}
    for parent, kinds in groups.items():
        out[parent] = TrainingRun(
            name=parent,
            train_run=kinds.get(metadata.TRAIN_RUN),
            validation_run=kinds.get(metadata.VALIDATION_RUN),
        )
    for name, run in plain.items():
        if name in out:  # "a" holds events next to "a/train": fold them into the training side
            group = out[name]
            if group.train_run is None:
                out[name] = TrainingRun(name, run, group.validation_run)
            continue
        out[name] = TrainingRun(name=name, train_run=run, validation_run=None)
    return [out[k] for k in sorted(out)]


def list_training_runs(provider: Any, ctx: Any, experiment_id: str) -> list[TrainingRun]:
    """Lists the training runs that hold any scalar data (ordinary scalars, fitdiag records or
    schema-1 fitdiag scalars), sorted by name.

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The ``tensorboard.context.RequestContext`` of the request.
        experiment_id: The experiment to read (``""`` for a local logdir).
    """
    with_scalars: set[str] = set()
    for plugin in (SCALARS_PLUGIN, metadata.PLUGIN_NAME):
        listed = provider.list_scalars(ctx, experiment_id=experiment_id, plugin_name=plugin)
        with_scalars.update(run for run, tags in listed.items() if tags)
    tensors = provider.list_tensors(
        ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME
    )
    with_scalars.update(
        run
        for run, tags in tensors.items()
        if any(metadata.parse_records_tag(tag) is not None for tag in tags)
    )
    return group_runs(with_scalars)


@dataclass(frozen=True)
class SampleLimits:
    """How many values of one tag TensorBoard's loader keeps (None: every value).

    Attributes:
        loader: The loader in words, as the page names it.
        fitdiag_scalar: A schema-1 fitdiag statistic (``DATA_CLASS_SCALAR``).
        fitdiag_tensor: A fitdiag tensor (records, documents).
        scalars: An ordinary scalar of the ``scalars`` plugin (``epoch_loss``).
    """

    loader: str
    fitdiag_scalar: int | None
    fitdiag_tensor: int | None
    scalars: int | None


@dataclass
class Retention:
    """What TensorBoard's loader kept of a training run, where it did not keep everything.

    Attributes:
        records_written: Records (schema 2) that the run's records tags were written with.
        records_kept: Of those, the records the loader kept.
        at_limit: ``(plugin, tag, kept)`` of each series that holds exactly as many values as
            the loader keeps of a tag (schema-1 fitdiag statistics, ordinary scalars): more
            were probably written, and the loader kept a sample.
        limits: The loader's limits, when known.
    """

    records_written: int = 0
    records_kept: int = 0
    at_limit: list[tuple[str, str, int]] = field(default_factory=list)
    limits: SampleLimits | None = None

    @property
    def complete(self) -> bool:
        """True when nothing was (probably) dropped."""
        return self.records_kept >= self.records_written and not self.at_limit

    def plugins(self) -> list[str]:
        """The plugins whose samples ``--samples_per_plugin`` must raise, sorted."""
        out = {plugin for plugin, _, _ in self.at_limit}
        if self.records_kept < self.records_written:
            out.add(metadata.PLUGIN_NAME)
        return sorted(out)

    def flag(self) -> str:
        """The TensorBoard flag that keeps every value: ``--samples_per_plugin=fitdiag=0``."""
        return "--samples_per_plugin=" + ",".join(f"{p}=0" for p in self.plugins())

    def message(self) -> str:
        """What was dropped and the flag that keeps it, in one paragraph ("" when complete)."""
        if self.complete:
            return ""
        loader = self.limits.loader if self.limits else "TensorBoard's loader"
        parts = []
        if self.records_kept < self.records_written:
            dropped = self.records_written - self.records_kept
            parts.append(
                f"{loader} kept {self.records_kept:,} of the {self.records_written:,} records "
                f"of gradient statistics of this run ({dropped:,} dropped)"
            )
        legacy = [(tag, kept) for plugin, tag, kept in self.at_limit if plugin != SCALARS_PLUGIN]
        if legacy:
            kept = max(k for _, k in legacy)
            parts.append(
                "this run was recorded by an older fitdiag (event schema 1: one tag per "
                f"statistic and layer), and {loader} keeps {kept:,} values of such a tag: "
                f"{len(legacy):,} of its series {'holds' if len(legacy) == 1 else 'hold'} "
                f"exactly {kept:,}, so the records between them were dropped"
            )
        plain = [(tag, kept) for plugin, tag, kept in self.at_limit if plugin == SCALARS_PLUGIN]
        if plain:
            names = ", ".join(tag for tag, _ in plain[:3]) + (", ..." if len(plain) > 3 else "")
            kept = max(k for _, k in plain)
            parts.append(
                f"{loader} keeps {kept:,} values of a scalar, and {names} "
                f"{'holds' if len(plain) == 1 else 'hold'} exactly {kept:,}: the values "
                "between them were dropped"
            )
        text = "; ".join(parts)
        return (
            text[:1].upper()
            + text[1:]
            + ". The charts and the diagnosis here see only what was kept (fitdiag diagnose "
            "LOGDIR reads everything). To keep every value, restart TensorBoard with "
            + self.flag()
            + "."
        )

    def to_json(self) -> dict[str, Any] | None:
        """The ``retention`` of ``/diagnosis``: None when nothing was dropped."""
        if self.complete:
            return None
        return {
            "records_written": self.records_written,
            "records_kept": self.records_kept,
            "series_at_limit": len(self.at_limit),
            "flag": self.flag(),
            "message": self.message(),
        }


def _to_series(data: Iterable[Any]) -> Series:
    points = list(data)
    steps = np.fromiter((p.step for p in points), dtype=np.int64, count=len(points))
    values = np.fromiter((p.value for p in points), dtype=np.float64, count=len(points))
    return Series.from_points(steps, values)


def _run_filter(runs: list[str], tags: list[str] | None = None) -> Any:
    from tensorboard.data import provider as tb_provider

    return tb_provider.RunTagFilter(runs=runs, tags=tags)


def _read_scalars(
    provider: Any, ctx: Any, experiment_id: str, plugin: str, run: str
) -> Mapping[str, Any]:
    result = provider.read_scalars(
        ctx,
        experiment_id=experiment_id,
        plugin_name=plugin,
        downsample=FULL_DOWNSAMPLE,
        run_tag_filter=_run_filter([run]),
    )
    tags: Mapping[str, Any] = result.get(run, {})
    return tags


def _decode_document(value: Any) -> dict[str, Any]:
    """A JSON document stored as a string tensor: numpy array of bytes (or str) -> dict."""
    arr = np.asarray(value)
    item = arr.reshape(-1)[0] if arr.size else b""
    if isinstance(item, np.ndarray):  # pragma: no cover - defensive for nested arrays
        item = item.tolist()
    text = item.decode("utf-8") if isinstance(item, bytes) else str(item)
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    return parsed


_DOCUMENT_TAGS = (
    metadata.RUN_INFO_TAG,
    metadata.STATIC_FINDINGS_TAG,
    metadata.LIVE_FINDINGS_TAG,
    metadata.NONFINITE_ORIGIN_TAG,
)


def _documents(run: str, tensors: Mapping[str, Any], skipped: list[str]) -> dict[str, Any]:
    """The latest value of each document tag (TensorBoard always keeps a tag's latest)."""
    docs: dict[str, dict[str, Any]] = {}
    for tag in _DOCUMENT_TAGS:
        data = tensors.get(tag)
        if not data:
            continue
        latest = max(data, key=lambda d: d.step)
        try:
            docs[tag] = _decode_document(latest.numpy)
        except (ValueError, UnicodeDecodeError) as err:
            skipped.append(f"{run}: the {tag} document is not valid JSON ({err}); ignored")
    return docs


def _schema_ok(provider: Any, ctx: Any, experiment_id: str, run: str, skipped: list[str]) -> bool:
    """False (with a note) when the run's fitdiag summaries use a newer schema than ours."""
    run_filter = _run_filter([run])
    for listing in (
        provider.list_scalars(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=run_filter,
        ),
        provider.list_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=run_filter,
        ),
    ):
        for time_series in listing.get(run, {}).values():
            try:
                metadata.parse_plugin_content(time_series.plugin_content)
            except ValueError as err:
                skipped.append(f"{run}: fitdiag statistics skipped: {err}")
                return False
    return True


class _Pieces:
    """Parts of each fitdiag series, from any number of layouts and schema-1 tags, merged into
    one :class:`Series` each (ordered by step, the latest written value of a repeated step)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str | None], list[tuple[Any, Any, Any]]] = {}

    def add(self, tag: str, steps: Any, values: Any, walls: Any) -> None:
        parsed = metadata.parse_tag(tag)
        if parsed is not None:
            self._parts.setdefault(parsed, []).append((steps, values, walls))

    def into(self, data: RunData) -> None:
        for (stat, layer), parts in self._parts.items():
            if len(parts) == 1:
                steps, values, _ = parts[0]
            else:
                steps = np.concatenate([p[0] for p in parts])
                values = np.concatenate([p[1] for p in parts])
                walls = np.concatenate([p[2] for p in parts])
                order = np.lexsort((walls, steps))
                steps, values = steps[order], values[order]
            put_stat(data, stat, layer, Series.from_points(steps, values))


def put_stat(data: RunData, stat: str, layer: str | None, series: Series) -> None:
    """Files one fitdiag statistic's series where the diagnosis reads it: ``global_stats`` for
    a whole-model statistic (``layer`` None), else ``layer_stats[stat][layer]``."""
    if layer is None:
        data.global_stats[stat] = series
        return
    by_layer = data.layer_stats.get(stat)
    if not isinstance(by_layer, dict):
        # None, or a read-only mapping (a LayerSeries): a dict of the series so far.
        by_layer = data.layer_stats[stat] = dict(by_layer or {})
    by_layer[layer] = series


def _read_layouts(run: str, tensors: Mapping[str, Any], skipped: list[str]) -> dict[str, list[str]]:
    layouts: dict[str, list[str]] = {}
    for tag, data in tensors.items():
        layout = metadata.parse_layout_tag(tag)
        if layout is None or not data:
            continue
        try:
            doc = _decode_document(max(data, key=lambda d: d.step).numpy)
        except (ValueError, UnicodeDecodeError) as err:
            skipped.append(f"{run}: the {tag} document is not valid JSON ({err}); ignored")
            continue
        tags = doc.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            skipped.append(f"{run}: the {tag} document lists no tags; its records are ignored")
            continue
        layouts[layout] = tags
    return layouts


def _read_records(
    run: str,
    tensors: Mapping[str, Any],
    pieces: _Pieces,
    retention: Retention,
    skipped: list[str],
) -> None:
    """Unpacks the records of schema 2 into ``pieces``, and counts what the loader kept."""
    layouts = _read_layouts(run, tensors, skipped)
    rows: dict[str, list[Any]] = {}
    steps: dict[str, list[int]] = {}
    walls: dict[str, list[float]] = {}
    unknown = malformed = 0
    for tag, data in tensors.items():
        parsed = metadata.parse_records_tag(tag)
        if parsed is None or not data:
            continue
        layout = parsed[0]
        tags = layouts.get(layout)
        if tags is None:
            unknown += len(data)
            continue
        highest = -1
        for datum in data:
            row = np.asarray(datum.numpy, dtype=np.float32).reshape(-1)
            if row.size != len(tags) + 1:
                malformed += 1
                continue
            rows.setdefault(layout, []).append(row)
            steps.setdefault(layout, []).append(int(datum.step))
            walls.setdefault(layout, []).append(float(datum.wall_time))
            highest = max(highest, int(row[0]) if np.isfinite(row[0]) else -1)
        # TensorBoard keeps a tag's latest value, which holds the highest position.
        kept = len(data)
        retention.records_kept += kept
        retention.records_written += max(kept, highest + 1)
    if unknown:
        skipped.append(f"{run}: {unknown} fitdiag records without their layout document; ignored")
    if malformed:
        skipped.append(f"{run}: {malformed} fitdiag records of the wrong size; ignored")
    for layout, layout_rows in rows.items():
        matrix = np.stack(layout_rows)
        at = np.asarray(steps[layout], dtype=np.int64)
        wall = np.asarray(walls[layout], dtype=np.float64)
        order = np.lexsort((wall, at))
        at, wall = at[order], wall[order]
        columns = np.ascontiguousarray(matrix[order, 1:].T, dtype=np.float64)
        for tag, column in zip(layouts[layout], columns, strict=True):
            pieces.add(tag, at, column, wall)


def _at_limit(
    plugin: str, series: Mapping[str, Any], limit: int | None, retention: Retention
) -> None:
    if not limit:
        return
    for tag, points in series.items():
        kept = len(points)
        if kept >= limit:
            retention.at_limit.append((plugin, tag, kept))


def read_run(
    provider: Any,
    ctx: Any,
    experiment_id: str,
    run: TrainingRun,
    config: DiagnosisConfig | None = None,
    limits: SampleLimits | None = None,
) -> tuple[RunData, Retention]:
    """Reads every series of one training run, and what TensorBoard's loader dropped of it.

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The ``tensorboard.context.RequestContext`` of the request.
        experiment_id: The experiment to read (``""`` for a local logdir).
        run: The training run, from :func:`list_training_runs`.
        config: Supplies the tag mapping that recognises validation twins.
        limits: How many values of a tag the loader keeps, when known: series that hold exactly
            that many are reported in :attr:`Retention.at_limit`. The records of schema 2 say
            themselves how many were written, so their count needs no limits.

    Returns:
        ``(data, retention)``: the run's data (what could not be read is described in
        ``RunData.skipped``) and what the loader kept of it.
    """
    cfg = config or DiagnosisConfig()
    data = RunData()
    retention = Retention(limits=limits)
    scalar_limit = limits.scalars if limits else None
    if run.train_run is not None:
        series = _read_scalars(provider, ctx, experiment_id, SCALARS_PLUGIN, run.train_run)
        _at_limit(SCALARS_PLUGIN, series, scalar_limit, retention)
        for tag, points in series.items():
            target = data.validation if cfg.tags.is_validation_twin(tag) else data.train
            target[tag] = _to_series(points)
    if run.validation_run is not None:
        series = _read_scalars(provider, ctx, experiment_id, SCALARS_PLUGIN, run.validation_run)
        _at_limit(SCALARS_PLUGIN, series, scalar_limit, retention)
        for tag, points in series.items():
            data.validation[tag] = _to_series(points)
    pieces = _Pieces()
    for tb_run in run.runs():
        if not _schema_ok(provider, ctx, experiment_id, tb_run, data.skipped):
            continue
        legacy = _read_scalars(provider, ctx, experiment_id, metadata.PLUGIN_NAME, tb_run)
        _at_limit(
            metadata.PLUGIN_NAME, legacy, limits.fitdiag_scalar if limits else None, retention
        )
        for tag, points in legacy.items():
            points = list(points)
            steps = np.fromiter((p.step for p in points), dtype=np.int64, count=len(points))
            values = np.fromiter((p.value for p in points), dtype=np.float64, count=len(points))
            walls = np.fromiter((p.wall_time for p in points), dtype=np.float64, count=len(points))
            pieces.add(tag, steps, values, walls)
        tensors: Mapping[str, Any] = provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=FULL_DOWNSAMPLE,
            run_tag_filter=_run_filter([tb_run]),
        ).get(tb_run, {})
        _read_records(tb_run, tensors, pieces, retention, data.skipped)
        docs = _documents(tb_run, tensors, data.skipped)
        if metadata.RUN_INFO_TAG in docs and data.run_info is None:
            data.run_info = docs[metadata.RUN_INFO_TAG]
        if metadata.STATIC_FINDINGS_TAG in docs and data.static_findings is None:
            data.static_findings = docs[metadata.STATIC_FINDINGS_TAG]
        if metadata.LIVE_FINDINGS_TAG in docs and data.live_findings is None:
            data.live_findings = docs[metadata.LIVE_FINDINGS_TAG]
        if metadata.NONFINITE_ORIGIN_TAG in docs and data.nonfinite_origin is None:
            data.nonfinite_origin = docs[metadata.NONFINITE_ORIGIN_TAG]
    pieces.into(data)
    data.layers = layer_order(data)
    return data, retention


def load_run(
    provider: Any,
    ctx: Any,
    experiment_id: str,
    run: TrainingRun,
    config: DiagnosisConfig | None = None,
) -> RunData:
    """Reads every series of one training run (:func:`read_run` without the retention).

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The ``tensorboard.context.RequestContext`` of the request.
        experiment_id: The experiment to read (``""`` for a local logdir).
        run: The training run, from :func:`list_training_runs`.
        config: Supplies the tag mapping that recognises validation twins.

    Returns:
        The run's data; what could not be read is described in ``RunData.skipped``.
    """
    return read_run(provider, ctx, experiment_id, run, config)[0]


def layout_tags(
    provider: Any, ctx: Any, experiment_id: str, tags: Mapping[str, Iterable[str]]
) -> dict[tuple[str, str], list[str]]:
    """Reads the layout documents named in a listing: ``(run, layout id) -> tags``.

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The request context.
        experiment_id: The experiment.
        tags: Run -> the ``fitdiag/layout/<id>`` tags to read.
    """
    out: dict[tuple[str, str], list[str]] = {}
    wanted = {run: list(run_tags) for run, run_tags in tags.items() if run_tags}
    if not wanted:
        return out
    result = provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        downsample=FULL_DOWNSAMPLE,
        run_tag_filter=_run_filter(
            sorted(wanted), sorted({tag for run_tags in wanted.values() for tag in run_tags})
        ),
    )
    for run, by_tag in result.items():
        for layout, layout_list in _read_layouts(run, by_tag, []).items():
            out[(run, layout)] = layout_list
    return out


def layer_order(data: RunData) -> list[str]:
    """The run's layers, input to output: those ``run_info`` declares, then any other one
    that has statistics, sorted."""

    known = sorted({layer for by_layer in data.layer_stats.values() for layer in by_layer})
    declared = data.run_info.get("layers") if data.run_info else None
    if not isinstance(declared, list):
        return known
    ordered = [layer for layer in declared if isinstance(layer, str)]
    seen = set(ordered)
    return ordered + [layer for layer in known if layer not in seen]
