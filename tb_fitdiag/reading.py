"""TensorBoard data provider -> :class:`~tb_fitdiag.diagnosis.RunData`.

Shared by the TensorBoard plugin and ``fitdiag diagnose``. Only the ``DataProvider`` methods
(``list_runs``, ``list_scalars``, ``read_scalars``, ``list_tensors``, ``read_tensors``) are used,
so it works with TensorBoard's Python multiplexer provider and its Rust-backed gRPC provider
alike. It never imports TensorFlow.

A *training run* groups the TensorBoard runs ``<name>/train`` and ``<name>/validation`` that a
Keras ``fit()`` writes into one log directory; any other run stands alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    """Lists the training runs that hold any scalar data (ordinary or fitdiag), sorted by name.

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The ``tensorboard.context.RequestContext`` of the request.
        experiment_id: The experiment to read (``""`` for a local logdir).
    """
    with_scalars: set[str] = set()
    for plugin in (SCALARS_PLUGIN, metadata.PLUGIN_NAME):
        listed = provider.list_scalars(ctx, experiment_id=experiment_id, plugin_name=plugin)
        with_scalars.update(run for run, tags in listed.items() if tags)
    return group_runs(with_scalars)


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


def _read_documents(
    provider: Any, ctx: Any, experiment_id: str, run: str, skipped: list[str]
) -> dict[str, dict[str, Any]]:
    tags = [metadata.RUN_INFO_TAG, metadata.STATIC_FINDINGS_TAG, metadata.LIVE_FINDINGS_TAG]
    result = provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        downsample=FULL_DOWNSAMPLE,
        run_tag_filter=_run_filter([run], tags),
    )
    docs: dict[str, dict[str, Any]] = {}
    for tag, data in result.get(run, {}).items():
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
    listed = provider.list_scalars(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        run_tag_filter=_run_filter([run]),
    )
    for time_series in listed.get(run, {}).values():
        try:
            metadata.parse_plugin_content(time_series.plugin_content)
        except ValueError as err:
            skipped.append(f"{run}: fitdiag statistics skipped: {err}")
            return False
    return True


def load_run(
    provider: Any,
    ctx: Any,
    experiment_id: str,
    run: TrainingRun,
    config: DiagnosisConfig | None = None,
) -> RunData:
    """Reads every series of one training run.

    Args:
        provider: A ``tensorboard.data.provider.DataProvider``.
        ctx: The ``tensorboard.context.RequestContext`` of the request.
        experiment_id: The experiment to read (``""`` for a local logdir).
        run: The training run, from :func:`list_training_runs`.
        config: Supplies the tag mapping that recognises validation twins.

    Returns:
        The run's data; what could not be read is described in ``RunData.skipped``.
    """
    cfg = config or DiagnosisConfig()
    data = RunData()
    if run.train_run is not None:
        for tag, points in _read_scalars(
            provider, ctx, experiment_id, SCALARS_PLUGIN, run.train_run
        ).items():
            target = data.validation if cfg.tags.is_validation_twin(tag) else data.train
            target[tag] = _to_series(points)
    if run.validation_run is not None:
        for tag, points in _read_scalars(
            provider, ctx, experiment_id, SCALARS_PLUGIN, run.validation_run
        ).items():
            data.validation[tag] = _to_series(points)
    for tb_run in run.runs():
        if not _schema_ok(provider, ctx, experiment_id, tb_run, data.skipped):
            continue
        for tag, points in _read_scalars(
            provider, ctx, experiment_id, metadata.PLUGIN_NAME, tb_run
        ).items():
            parsed = metadata.parse_tag(tag)
            if parsed is None:
                continue
            stat, layer = parsed
            if layer is None:
                data.global_stats[stat] = _to_series(points)
            else:
                data.layer_stats.setdefault(stat, {})[layer] = _to_series(points)
        docs = _read_documents(provider, ctx, experiment_id, tb_run, data.skipped)
        if metadata.RUN_INFO_TAG in docs and data.run_info is None:
            data.run_info = docs[metadata.RUN_INFO_TAG]
        if metadata.STATIC_FINDINGS_TAG in docs and data.static_findings is None:
            data.static_findings = docs[metadata.STATIC_FINDINGS_TAG]
        if metadata.LIVE_FINDINGS_TAG in docs and data.live_findings is None:
            data.live_findings = docs[metadata.LIVE_FINDINGS_TAG]
    data.layers = _layer_order(data)
    return data


def _layer_order(data: RunData) -> list[str]:
    known = sorted({layer for by_layer in data.layer_stats.values() for layer in by_layer})
    declared = data.run_info.get("layers") if data.run_info else None
    if not isinstance(declared, list):
        return known
    ordered = [layer for layer in declared if isinstance(layer, str)]
    seen = set(ordered)
    return ordered + [layer for layer in known if layer not in seen]
