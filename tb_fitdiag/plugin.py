"""The TensorBoard "Fit Diagnosis" tab: serves the diagnosis, the gradient statistics and the page.

Every route parses its request and calls a ``*_impl`` method returning ``(body, mime_type)``;
the ``*_impl`` methods read only through ``context.data_provider`` (with a run filter on every
read), so the tab works under TensorBoard's fast loader and under ``--load_fast=false``.
Routes are documented, with example answers, in ``http_api.md`` next to this file.

This module imports TensorBoard and :mod:`tb_fitdiag.metadata` only. numpy, the reader and the
diagnosis engine load on the first request that needs them; if they cannot be imported the
tab still loads and each data route answers 503 with the reason, so TensorBoard always starts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_fitdiag import metadata

if TYPE_CHECKING:
    from tb_fitdiag.diagnosis import Diagnosis, DiagnosisConfig, RunData
    from tb_fitdiag.reading import Retention, SampleLimits, TrainingRun

_STATIC_DIR = Path(__file__).resolve().parent / "static"
_MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
}
# The plugin that ordinary scalars (Keras' epoch_loss) are written with.
_SCALARS_PLUGIN = "scalars"
# The heatmap's "exploding" mark: a layer gradient norm above this is drawn red. The diagnosis
# judges explosion by ratios and growth (DiagnosisConfig), not by one absolute value; this is
# only where the colour scale turns, and is reported in /gradients so the legend can say so.
EXPLODING_GRAD_NORM = 1e2
# The typical update-to-weight ratio per step: a decade either side of the ~1e-3 rule of thumb
# (CS231n notes, "ratio of weights:updates"). The page shades it as the healthy band; the
# diagnosis flags only ratios far outside it (DiagnosisConfig.update_ratio_low/high).
UPDATE_RATIO_TYPICAL = (1e-4, 1e-2)
_DEFAULT_STATS = ("grad_norm",)
# What every route serves; anything else is a 405.
_ALLOWED_METHODS = ("GET", "HEAD")
_MATRIX_FORMATS = ("lists", "base64")
_SIGNIFICANT_DIGITS = 6
_CACHE_SIZE = 8
# How long a listing of runs and tags is reused (TensorBoard reloads data every 5 s by default).
_LISTING_TTL_S = 1.0
# Set to "0" to turn off reading the listed runs in the background.
PREFETCH_ENV = "FITDIAG_PREFETCH"
_PREFETCH_DELAY_S = 0.3

logger = logging.getLogger(__name__)


class EngineUnavailableError(errors.PublicError):  # type: ignore[misc]
    """The diagnosis engine (numpy, tb_fitdiag.diagnosis) could not be imported: HTTP 503."""

    http_code = 503

    def __init__(self, reason: str) -> None:
        super().__init__(
            "fitdiag's diagnosis is unavailable: "
            + reason
            + " (install it with: pip install 'fitdiag[tensorboard]')"
        )


@dataclass
class _Engine:
    """The lazily imported reader and diagnosis."""

    list_training_runs: Callable[..., list[TrainingRun]]
    read_run: Callable[..., tuple[RunData, Retention]]
    layout_tags: Callable[..., dict[tuple[str, str], list[str]]]
    sample_limits: Callable[..., SampleLimits]
    diagnose: Callable[..., Diagnosis]
    coverage_notes: Callable[..., list[str]]
    config: DiagnosisConfig
    finding_kinds: Mapping[str, Any]
    loss_series: Callable[[RunData, DiagnosisConfig], dict[str, Any]]
    metric_series: Callable[[RunData, DiagnosisConfig], list[dict[str, Any]]]


@dataclass
class _CachedRun:
    fingerprint: tuple[Any, ...]
    data: RunData
    retention: Retention
    diagnosis: Diagnosis | None = None
    # Serialised answers, by route and arguments: a page that selects the run again gets them
    # without any work.
    bodies: dict[tuple[Any, ...], str] = field(default_factory=dict)
    # The /gradients matrices, by (statistic, format).
    matrices: dict[tuple[str, str], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _load_engine() -> _Engine:
    try:
        from tb_fitdiag.diagnosis import (
            FINDING_KINDS,
            DiagnosisConfig,
            coverage_notes,
            diagnose_run,
        )
        from tb_fitdiag.diagnosis.context import CheckContext
        from tb_fitdiag.reading import SampleLimits, layout_tags, list_training_runs, read_run
    except ImportError as err:  # numpy missing, or a broken install
        raise EngineUnavailableError(str(err)) from err

    def loss_series(data: RunData, config: DiagnosisConfig) -> dict[str, Any]:
        ctx = CheckContext.build(data, config)
        picked = {"train": ctx.train_loss, "validation": ctx.validation_loss}
        batch = [
            b for b in ctx.batch_losses if ctx.train_loss is None or b.tag != ctx.train_loss.tag
        ]
        if batch:
            picked["batch"] = batch[-1]
        out: dict[str, Any] = {}
        for key, named in picked.items():
            if named is None:
                continue
            out[key] = {
                "tag": named.tag,
                "unit": named.unit,
                "steps": named.series.steps.tolist(),
                "values": _floats(named.series.values.tolist()),
            }
        return out

    return _Engine(
        list_training_runs=list_training_runs,
        read_run=read_run,
        layout_tags=layout_tags,
        sample_limits=SampleLimits,
        diagnose=diagnose_run,
        coverage_notes=coverage_notes,
        config=DiagnosisConfig(),
        finding_kinds=FINDING_KINDS,
        loss_series=loss_series,
        metric_series=_metric_series,
    )


# A validation twin's own marker, dropped from its name so that it pairs with the training tag
# (``epoch_val_accuracy`` and the validation run's ``epoch_accuracy`` are both ``accuracy``).
_VALIDATION_MARK = re.compile(r"^(?:val|valid|validation|eval|test)[_/]", re.IGNORECASE)


def _metric_series(data: RunData, config: DiagnosisConfig) -> list[dict[str, Any]]:
    """The run's other scalars (accuracy, the learning rate, ...): every plain scalar tag that
    is not a loss, paired by name across training and validation, sorted by name."""
    tags = config.tags
    losses = set(tags.train_loss) | set(tags.batch_loss) | set(tags.validation_loss)
    out: dict[str, dict[str, Any]] = {}
    for role, by_tag in (("train", data.train), ("validation", data.validation)):
        for tag in sorted(by_tag):
            if tag in losses or "loss" in tag.lower():
                continue
            epoch = tag.startswith(tags.epoch_prefix)
            name = tag[len(tags.epoch_prefix) :] if epoch else tag
            if role == "validation":
                name = _VALIDATION_MARK.sub("", name) or name
            entry = out.setdefault(
                name,
                {
                    "name": name,
                    "learning_rate": tag in tags.learning_rate or name in ("learning_rate", "lr"),
                    "train": None,
                    "validation": None,
                },
            )
            if entry[role] is not None:
                continue
            series = by_tag[tag]
            entry[role] = {
                "tag": tag,
                "unit": "epoch" if epoch else "step",
                "steps": series.steps.tolist(),
                "values": _floats(series.values.tolist()),
            }
    return [out[name] for name in sorted(out)]


def _float(value: float) -> float | str:
    """A float as TensorBoard's JSON responder writes it: non-finite values become strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _floats(values: Iterable[float]) -> list[float | str]:
    return [_float(v) for v in values]


def _significant(grid: Any) -> Any:
    """Rounds finite values to ``_SIGNIFICANT_DIGITS`` significant digits (vectorised), so that
    they serialise short: the events hold float32, about 7 significant digits, anyway."""
    import numpy as np

    out = np.array(grid, dtype=np.float64, copy=True)
    ok = np.isfinite(out) & (out != 0)
    if not ok.any():
        return out
    vals = out[ok]
    exp = (_SIGNIFICANT_DIGITS - 1 - np.floor(np.log10(np.abs(vals)))).astype(np.int64)
    exp = np.clip(exp, -300, 300)
    rounded = np.empty_like(vals)
    up = exp >= 0
    # Dividing a whole number by an exact power of ten gives the double nearest the decimal.
    scale_up = np.power(10.0, exp[up])
    rounded[up] = np.round(vals[up] * scale_up) / scale_up
    scale_down = np.power(10.0, -exp[~up])
    rounded[~up] = np.round(vals[~up] / scale_down) * scale_down
    out[ok] = rounded
    return out


def _cleanse(obj: Any) -> Any:
    """Makes a structure JSON-safe the way ``json_util.Cleanse`` does (NaN -> "NaN", ...)."""
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, Mapping):
        return {str(k): _cleanse(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_cleanse(v) for v in obj]
    return obj


def _json(body: Any) -> tuple[str, str]:
    """Serialises a cleansed body; raises if a non-finite float slipped through."""
    return json.dumps(body, allow_nan=False, separators=(",", ":")), "application/json"


def _respond(request: wrappers.Request, body: str | bytes, mime: str) -> wrappers.Response:
    response: wrappers.Response = http_util.Respond(request, body, mime)
    return response


class _MethodNotAllowedError(errors.PublicError):  # type: ignore[misc]
    """A method the route does not serve: TensorBoard answers it as a 405 with ``Allow``."""

    http_code = 405

    def __init__(self, method: str) -> None:
        allowed = ", ".join(_ALLOWED_METHODS)
        super().__init__(f"Method not allowed: {method}; this route serves {allowed}")
        self.headers.append(("Allow", allowed))


def _application(handler: Callable[[wrappers.Request], wrappers.Response]) -> Any:
    """Turns a request handler into the WSGI application TensorBoard routes to.

    Every route is read-only: GET and HEAD (the same answer without its body) are served, any
    other method is a 405 before the handler runs.
    """

    def serve(request: wrappers.Request) -> wrappers.Response:
        if request.method not in _ALLOWED_METHODS:
            raise _MethodNotAllowedError(request.method)
        return handler(request)

    return wrappers.Request.application(serve)


def _single_arg(request: wrappers.Request, name: str) -> str:
    values = request.args.getlist(name)
    if not values or not values[0].strip():
        raise errors.InvalidArgumentError(f"missing required query parameter {name!r}")
    if len(values) > 1:
        raise errors.InvalidArgumentError(f"query parameter {name!r} given {len(values)} times")
    return values[0]


def _stat_args(request: wrappers.Request) -> list[str]:
    stats: list[str] = []
    for raw in request.args.getlist("stat"):
        for stat in raw.split(","):
            stat = stat.strip()
            if not stat:
                continue
            if stat not in metadata.LAYER_STATS:
                raise errors.InvalidArgumentError(
                    f"unknown stat {stat!r}; expected one of {', '.join(metadata.LAYER_STATS)}"
                )
            if stat not in stats:
                stats.append(stat)
    return stats or list(_DEFAULT_STATS)


class FitDiagPlugin(base_plugin.TBPlugin):  # type: ignore[misc]
    """Serves the "Fit Diagnosis" tab."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        """Creates the plugin.

        Args:
            context: TensorBoard's plugin context; only ``data_provider`` is used.
        """
        self._provider = context.data_provider
        self._engine: _Engine | None = None
        self._engine_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], _CachedRun] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._run_locks: dict[tuple[str, str], threading.Lock] = {}
        self._memo: dict[tuple[Any, ...], tuple[float, Any]] = {}
        # Background reads of the listed runs, so that selecting one later answers at once.
        self._prefetch_enabled = os.environ.get(PREFETCH_ENV, "1").strip() != "0"
        self._prefetch_queue: list[tuple[Any, str, str]] = []
        self._prefetch_wakeup = threading.Event()
        self._prefetch_thread: threading.Thread | None = None
        self._foreground = 0  # data requests being answered; the prefetch waits for 0
        self._last_listed: dict[str, tuple[Any, ...]] = {}  # the last /runs answer, by experiment
        # The tags of each layout read so far: (experiment, run, layout id) -> tags. A layout's
        # id is the hash of its tags, so an entry never goes stale.
        self._layout_memo: dict[tuple[str, str, str], list[str]] = {}
        # How many values of a tag TensorBoard's loader keeps (None in a bare test harness).
        self._sampling_hints: Mapping[str, int | None] | None = getattr(
            context, "sampling_hints", None
        )

    # --- TensorBoard's plugin interface ---------------------------------------------------

    def get_plugin_apps(self) -> dict[str, Callable[..., Any]]:
        """Returns the routes, relative to ``data/plugin/fitdiag``."""
        return {
            "/runs": _application(self._serve_runs),
            "/diagnosis": _application(self._serve_diagnosis),
            "/gradients": _application(self._serve_gradients),
            "/static_findings": _application(self._serve_static_findings),
            "/index.js": _application(self._serve_index_js),
            "/static/*": _application(self._serve_static),
        }

    def is_active(self) -> bool:
        """Cheap: the tab is offered through :meth:`data_plugin_names` (any scalars)."""
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        """The tab is offered for logdirs with fitdiag data or ordinary scalars (Keras logs)."""
        return (metadata.PLUGIN_NAME, _SCALARS_PLUGIN)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """The page is the ES module ``/index.js``, loaded in TensorBoard's plugin iframe."""
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Fit Diagnosis")

    # --- routes ---------------------------------------------------------------------------

    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        with self._foreground_request():
            body, mime = self.runs_impl(ctx, experiment)
        return _respond(request, body, mime)

    def _serve_diagnosis(self, request: wrappers.Request) -> wrappers.Response:
        run = _single_arg(request, "run")
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        with self._foreground_request():
            body, mime = self.diagnosis_impl(ctx, experiment, run)
        return _respond(request, body, mime)

    def _serve_gradients(self, request: wrappers.Request) -> wrappers.Response:
        run = _single_arg(request, "run")
        stats = _stat_args(request)
        matrix_format = request.args.get("format", "lists")
        if matrix_format not in _MATRIX_FORMATS:
            raise errors.InvalidArgumentError(
                f"unknown format {matrix_format!r}; expected one of {', '.join(_MATRIX_FORMATS)}"
            )
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        with self._foreground_request():
            body, mime = self.gradients_impl(ctx, experiment, run, stats, matrix_format)
        return _respond(request, body, mime)

    def _serve_static_findings(self, request: wrappers.Request) -> wrappers.Response:
        run = _single_arg(request, "run")
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        with self._foreground_request():
            body, mime = self.static_findings_impl(ctx, experiment, run)
        return _respond(request, body, mime)

    def _serve_index_js(self, request: wrappers.Request) -> wrappers.Response:
        body, mime = self.static_impl("index.js")
        return _respond(request, body, mime)

    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        marker = f"/plugin/{metadata.PLUGIN_NAME}/static/"
        _, found, name = request.path.partition(marker)
        if not found:
            raise errors.NotFoundError("no static file named")
        body, mime = self.static_impl(name)
        return _respond(request, body, mime)

    # --- implementations ------------------------------------------------------------------

    def runs_impl(self, ctx: Any, experiment: str) -> tuple[str, str]:
        """The training runs and what data each holds.

        Returns:
            ``({"runs": [...]}, "application/json")`` serialised; see ``http_api.md``.
        """
        engine = self._get_engine()
        runs = engine.list_training_runs(self._provider, ctx, experiment)
        names = sorted({r for run in runs for r in (run.train_run, run.validation_run) if r})
        run_filter = provider.RunTagFilter(runs=names) if names else None
        fitdiag_scalars: Mapping[str, Mapping[str, Any]] = {}
        plain_scalars: Mapping[str, Mapping[str, Any]] = {}
        tensors: Mapping[str, Mapping[str, Any]] = {}
        if names:
            fitdiag_scalars = self._provider.list_scalars(
                ctx,
                experiment_id=experiment,
                plugin_name=metadata.PLUGIN_NAME,
                run_tag_filter=run_filter,
            )
            plain_scalars = self._provider.list_scalars(
                ctx,
                experiment_id=experiment,
                plugin_name=_SCALARS_PLUGIN,
                run_tag_filter=run_filter,
            )
            tensors = self._provider.list_tensors(
                ctx,
                experiment_id=experiment,
                plugin_name=metadata.PLUGIN_NAME,
                run_tag_filter=run_filter,
            )
        with self._cache_lock:
            cached = set(self._cache)
        layouts = self._layouts(ctx, experiment, tensors)
        tags = engine.config.tags
        loss_tags = set(tags.train_loss) | set(tags.batch_loss) | set(tags.validation_loss)
        out: list[dict[str, Any]] = []
        for run in sorted(runs, key=lambda r: r.name):
            parts = [r for r in (run.train_run, run.validation_run) if r]
            stats: set[str] = set()
            layers: set[str] = set()
            has_losses = False
            max_step = -1
            stat_tags: set[str] = set()
            used: set[tuple[str, str]] = set()  # (run, layout id) of the records listed
            for part in parts:
                for tag, meta in fitdiag_scalars.get(part, {}).items():  # schema 1
                    if metadata.parse_tag(tag) is not None:
                        stat_tags.add(tag)
                        max_step = max(max_step, int(meta.max_step))
                for tag, meta in tensors.get(part, {}).items():  # schema 2
                    records = metadata.parse_records_tag(tag)
                    if records is not None:
                        used.add((part, records[0]))
                        max_step = max(max_step, int(meta.max_step))
            for key in used:
                stat_tags.update(layouts.get(key, ()))
            for tag in stat_tags:
                parsed = metadata.parse_tag(tag)
                if parsed is None:
                    continue
                stat, layer = parsed
                if layer is not None:
                    stats.add(stat)
                    layers.add(layer)
                elif stat == "batch_loss":
                    has_losses = True
            for part in parts:
                for tag in plain_scalars.get(part, {}):
                    if tag in loss_tags or (tags.is_validation_twin(tag) and "loss" in tag.lower()):
                        has_losses = True
            doc_tags = {tag for part in parts for tag in tensors.get(part, {})}
            # The same key as _fingerprint, so /diagnosis can say which data it read.
            fingerprint = _digest(
                (
                    tuple(parts),
                    *(
                        _listing_key({part: listing.get(part, {}) for part in parts})
                        for listing in (fitdiag_scalars, plain_scalars, tensors)
                    ),
                )
            )
            out.append(
                {
                    "name": run.name,
                    "train_run": run.train_run,
                    "validation_run": run.validation_run,
                    "has_losses": has_losses,
                    "has_gradients": "grad_norm" in stats,
                    "has_run_info": metadata.RUN_INFO_TAG in doc_tags,
                    "has_static_findings": metadata.STATIC_FINDINGS_TAG in doc_tags,
                    "gradient_stats": [s for s in metadata.LAYER_STATS if s in stats],
                    "layer_count": len(layers),
                    "max_step": max_step if max_step >= 0 else None,
                    "fingerprint": fingerprint,
                    "loaded": (experiment, run.name) in cached,
                }
            )
        # A page polls this route while a run trains: read in the background only when the
        # listed runs or their data changed since the last time.
        listed = (experiment, tuple((r["name"], r["fingerprint"]) for r in out))
        with self._cache_lock:
            changed = listed != self._last_listed.get(experiment)
            self._last_listed[experiment] = listed
        if changed:
            self._schedule_prefetch(ctx, experiment, sorted(r.name for r in runs))
        return _json({"runs": out})

    def diagnosis_impl(self, ctx: Any, experiment: str, run: str) -> tuple[str, str]:
        """The findings of one run (the engine of ``fitdiag diagnose``) and its loss series.

        Raises:
            errors.NotFoundError: No training run has this name.
        """
        engine = self._get_engine()
        name, cached = self._load(ctx, experiment, run)
        with cached.lock:
            text = cached.bodies.get(("diagnosis",))
            if text is None:
                if cached.diagnosis is None:
                    cached.diagnosis = engine.diagnose(cached.data, engine.config)
                text = self._diagnosis_body(name, cached, cached.diagnosis)
                cached.bodies[("diagnosis",)] = text
        return text, "application/json"

    def _diagnosis_body(self, name: str, cached: _CachedRun, diagnosis: Diagnosis) -> str:
        engine = self._get_engine()
        data = cached.data
        kinds = engine.finding_kinds
        served = diagnosis.to_json()
        body = {
            "run": name,
            "fingerprint": _digest(cached.fingerprint),
            "headline": served["headline"],
            "live": served["live"],
            "findings": [
                {**entry, "summary": getattr(kinds.get(entry["name"]), "summary", None)}
                for entry in served["findings"]
            ],
            "notes": engine.coverage_notes(data, engine.config),
            "skipped": list(data.skipped),
            "retention": cached.retention.to_json(),
            "losses": engine.loss_series(data, engine.config),
            "metrics": engine.metric_series(data, engine.config),
            "has_gradients": bool(data.layer_stats.get("grad_norm")),
            "layers": list(data.layers),
            "run_info": data.run_info,
        }
        return _json(_cleanse(body))[0]

    def gradients_impl(
        self, ctx: Any, experiment: str, run: str, stats: list[str], matrix_format: str = "lists"
    ) -> tuple[str, str]:
        """Per-layer statistics as layer-by-step matrices (``null`` where not recorded).

        Args:
            ctx: The request context.
            experiment: The experiment id.
            run: The training run's name.
            stats: Statistics from ``metadata.LAYER_STATS``.
            matrix_format: ``lists`` (nested JSON lists, ``null`` where not recorded, values
                rounded to 6 significant digits) or ``base64`` (little-endian float32 cells and
                a uint8 ``present`` mask, row-major: what the page reads, 4 bytes a cell).

        Raises:
            errors.NotFoundError: No training run has this name.
        """
        name, cached = self._load(ctx, experiment, run)
        key = ("gradients", tuple(stats), matrix_format)
        with cached.lock:
            text = cached.bodies.get(key)
            if text is None:
                text = self._gradients_body(name, cached, stats, matrix_format)
                cached.bodies[key] = text
        return text, "application/json"

    def _gradients_body(
        self, name: str, cached: _CachedRun, stats: list[str], matrix_format: str
    ) -> str:
        engine = self._get_engine()
        data = cached.data
        layers = _matrix_layers(data)
        matrices: dict[str, Any] = {}
        for stat in stats:
            matrix = cached.matrices.get((stat, matrix_format))
            if matrix is None:
                matrix = cached.matrices[(stat, matrix_format)] = _matrix(
                    data, layers, stat, matrix_format
                )
            matrices[stat] = matrix
        cfg = engine.config
        body = {
            "run": name,
            "layers": layers,
            "available": [s for s in metadata.LAYER_STATS if data.layer_stats.get(s)],
            "stats": matrices,
            "thresholds": {
                "vanishing_grad_norm": cfg.vanish_first_layer_norm,
                "exploding_grad_norm": EXPLODING_GRAD_NORM,
                "update_ratio_low": cfg.update_ratio_low,
                "update_ratio_high": cfg.update_ratio_high,
                "update_ratio_typical_low": UPDATE_RATIO_TYPICAL[0],
                "update_ratio_typical_high": UPDATE_RATIO_TYPICAL[1],
                "dead_fraction": cfg.dead_fraction,
            },
        }
        return _json(body)[0]

    def static_findings_impl(self, ctx: Any, experiment: str, run: str) -> tuple[str, str]:
        """The fitlint findings recorded at train start (``null`` when none were recorded).

        Raises:
            errors.NotFoundError: No training run has this name.
        """
        name, cached = self._load(ctx, experiment, run)
        return _json(_cleanse({"run": name, "static_findings": cached.data.static_findings}))

    def static_impl(self, name: str) -> tuple[bytes, str]:
        """A file of the built frontend; only plain files directly inside ``static/``.

        Raises:
            errors.NotFoundError: The name is not such a file (traversal attempts included).
        """
        allowed = (
            {p.name: p for p in _STATIC_DIR.iterdir() if p.is_file()}
            if _STATIC_DIR.is_dir()
            else {}
        )
        path = allowed.get(name)
        if path is None or name.startswith("."):
            raise errors.NotFoundError(f"no static file {name!r}")
        mime = _MIME_TYPES.get(path.suffix, "application/octet-stream")
        return path.read_bytes(), mime

    # --- helpers --------------------------------------------------------------------------

    def _get_engine(self) -> _Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = _load_engine()
            return self._engine

    @contextlib.contextmanager
    def _foreground_request(self) -> Iterator[None]:
        with self._cache_lock:
            self._foreground += 1
        try:
            yield
        finally:
            with self._cache_lock:
                self._foreground -= 1

    def _schedule_prefetch(self, ctx: Any, experiment: str, names: list[str]) -> None:
        """Queues background reads of the first runs the page lists (as many as the cache
        holds), replacing any earlier queue. A no-op when ``FITDIAG_PREFETCH=0``."""
        if not self._prefetch_enabled:
            return
        with self._cache_lock:
            self._prefetch_queue = [(ctx, experiment, n) for n in names[:_CACHE_SIZE]]
            if self._prefetch_thread is None:
                self._prefetch_thread = threading.Thread(
                    target=self._prefetch_loop, name="fitdiag-prefetch", daemon=True
                )
                self._prefetch_thread.start()
            self._prefetch_wakeup.set()

    def _prefetch_loop(self) -> None:
        """Reads queued runs one at a time, only while no data request is being answered."""
        while True:
            self._prefetch_wakeup.wait()
            time.sleep(_PREFETCH_DELAY_S)  # let the page's own first requests start first
            while True:
                with self._cache_lock:
                    if not self._prefetch_queue:
                        self._prefetch_wakeup.clear()
                        break
                    busy = self._foreground > 0
                    item = None if busy else self._prefetch_queue.pop(0)
                if item is None:
                    time.sleep(0.05)
                    continue
                ctx, experiment, name = item
                try:
                    self._load(ctx, experiment, name)
                except Exception:  # a run that vanished, a provider error: the page will say
                    logger.debug("fitdiag: prefetching %r failed", name, exc_info=True)

    def _memoized(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, reused for ``_LISTING_TTL_S``: the requests of one page selection
        arrive together and would otherwise each list the same runs and tags."""
        now = time.monotonic()
        with self._cache_lock:
            hit = self._memo.get(key)
            if hit is not None and now - hit[0] < _LISTING_TTL_S:
                return hit[1]
        value = compute()
        with self._cache_lock:
            self._memo[key] = (now, value)
            if len(self._memo) > 4 * _CACHE_SIZE:
                for stale in [k for k, (t, _) in self._memo.items() if now - t >= _LISTING_TTL_S]:
                    del self._memo[stale]
        return value

    def _layouts(
        self, ctx: Any, experiment: str, tensors: Mapping[str, Mapping[str, Any]]
    ) -> dict[tuple[str, str], list[str]]:
        """``(run, layout id) -> tags`` of every layout in a listing of fitdiag tensors; reads
        only the layout documents it has not read before."""
        wanted: dict[str, list[str]] = {}
        out: dict[tuple[str, str], list[str]] = {}
        with self._cache_lock:
            for run, by_tag in tensors.items():
                for tag in by_tag:
                    layout = metadata.parse_layout_tag(tag)
                    if layout is None:
                        continue
                    known = self._layout_memo.get((experiment, run, layout))
                    if known is None:
                        wanted.setdefault(run, []).append(tag)
                    else:
                        out[(run, layout)] = known
        if wanted:
            read = self._get_engine().layout_tags(self._provider, ctx, experiment, wanted)
            with self._cache_lock:
                if len(self._layout_memo) > 4096:
                    self._layout_memo.clear()
                for (run, layout), layout_list in read.items():
                    self._layout_memo[(experiment, run, layout)] = layout_list
                    out[(run, layout)] = layout_list
        return out

    def _sample_limits(self) -> SampleLimits | None:
        """How many values of a tag TensorBoard's loader keeps, from its flags; None when this
        is not known (a data provider other than TensorBoard's two)."""
        hints = self._sampling_hints
        if hints is None:
            return None
        kind = type(self._provider)
        name = f"{kind.__module__}.{kind.__qualname__}"

        def hint(plugin: str, default: int) -> int | None:
            value = hints.get(plugin)
            if value is None:
                return default
            return int(value) or None  # 0: every value

        limits = self._get_engine().sample_limits
        if name == "tensorboard.data.grpc_provider.GrpcDataProvider":
            # The Rust data server keeps, per tag, 1,000 scalars and 100 tensors by default.
            return limits(
                loader="TensorBoard's default loader (its Rust data server)",
                fitdiag_scalar=hint(metadata.PLUGIN_NAME, 1000),
                fitdiag_tensor=hint(metadata.PLUGIN_NAME, 100),
                scalars=hint(_SCALARS_PLUGIN, 1000),
            )
        if name.endswith("event_processing.data_provider.MultiplexerDataProvider"):
            # TensorBoard's Python loader keeps 10 values of a tag of a plugin it does not know.
            return limits(
                loader="TensorBoard's Python loader (--load_fast=false)",
                fitdiag_scalar=hint(metadata.PLUGIN_NAME, 10),
                fitdiag_tensor=hint(metadata.PLUGIN_NAME, 10),
                scalars=hint(_SCALARS_PLUGIN, 1000),
            )
        return None

    def _find_run(self, ctx: Any, experiment: str, run: str) -> TrainingRun:
        engine = self._get_engine()
        runs: list[TrainingRun] = self._memoized(
            ("runs", experiment),
            lambda: engine.list_training_runs(self._provider, ctx, experiment),
        )
        for candidate in runs:
            if candidate.name == run:
                return candidate
        known = sorted(r.name for r in runs)
        shown = ", ".join(repr(n) for n in known[:10]) + (", ..." if len(known) > 10 else "")
        raise errors.NotFoundError(
            f"no training run named {run!r}" + (f"; runs: {shown}" if known else "; no runs")
        )

    def _fingerprint(self, ctx: Any, experiment: str, run: TrainingRun) -> tuple[Any, ...]:
        """Changes whenever new data arrives for the run (max step and wall time of every tag)."""
        parts = [r for r in (run.train_run, run.validation_run) if r]
        run_filter = provider.RunTagFilter(runs=parts)
        key: list[Any] = [tuple(parts)]
        for plugin in (metadata.PLUGIN_NAME, _SCALARS_PLUGIN):
            listing = self._provider.list_scalars(
                ctx, experiment_id=experiment, plugin_name=plugin, run_tag_filter=run_filter
            )
            key.append(_listing_key(listing))
        listing = self._provider.list_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=run_filter,
        )
        key.append(_listing_key(listing))
        return tuple(key)

    def _load(self, ctx: Any, experiment: str, run: str) -> tuple[str, _CachedRun]:
        """Reads a run through the data provider, reusing the last read while nothing changed."""
        engine = self._get_engine()
        training_run = self._find_run(ctx, experiment, run)
        key = (experiment, training_run.name)
        fingerprint = self._memoized(
            ("fingerprint", *key), lambda: self._fingerprint(ctx, experiment, training_run)
        )
        with self._cache_lock:
            lock = self._run_locks.setdefault(key, threading.Lock())
        # One read per run at a time: concurrent requests for the same run wait for it.
        with lock:
            with self._cache_lock:
                cached = self._cache.get(key)
            if cached is None or cached.fingerprint != fingerprint:
                data, retention = engine.read_run(
                    self._provider,
                    ctx,
                    experiment,
                    training_run,
                    engine.config,
                    self._sample_limits(),
                )
                cached = _CachedRun(fingerprint=fingerprint, data=data, retention=retention)
                with self._cache_lock:
                    self._cache[key] = cached
                    self._cache.move_to_end(key)
                    while len(self._cache) > _CACHE_SIZE:
                        self._cache.popitem(last=False)
        return training_run.name, cached


def _matrix_layers(data: RunData) -> list[str]:
    """The rows of every /gradients matrix: the run's layers, then any others, sorted."""
    layers = list(data.layers)
    for by_layer in data.layer_stats.values():
        layers.extend(sorted(layer for layer in by_layer if layer not in layers))
    return layers


def _matrix(data: RunData, layers: list[str], stat: str, matrix_format: str) -> Any:
    """One statistic as a layer-by-step matrix in a /gradients format; None when not recorded."""
    import numpy as np

    by_layer = data.layer_stats.get(stat) or {}
    if not by_layer:
        return None
    steps = np.unique(np.concatenate([s.steps for s in by_layer.values()]))
    grid = np.full((len(layers), steps.size), np.nan)
    present = np.zeros((len(layers), steps.size), dtype=bool)
    for row, layer in enumerate(layers):
        series = by_layer.get(layer)
        if series is None or not len(series):
            continue
        cols = np.searchsorted(steps, series.steps)
        grid[row, cols] = series.values
        present[row, cols] = True
    if matrix_format == "base64":
        return {
            "steps": steps.tolist(),
            "format": "base64",
            "values": base64.b64encode(grid.astype("<f4").tobytes()).decode("ascii"),
            # Omitted (null) when every cell was recorded, as in most runs.
            "present": None
            if present.all()
            else base64.b64encode(present.astype(np.uint8).tobytes()).decode("ascii"),
        }
    cells = _significant(grid).astype(object)
    cells[np.isnan(grid)] = "NaN"
    cells[np.isposinf(grid)] = "Infinity"
    cells[np.isneginf(grid)] = "-Infinity"
    cells[~present] = None
    return {"steps": steps.tolist(), "format": "lists", "values": cells.tolist()}


def _digest(parts: Any) -> str:
    """A short stable hex digest of a structure of plain values (a run's data fingerprint)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _listing_key(listing: Mapping[str, Mapping[str, Any]]) -> tuple[Any, ...]:
    return tuple(
        (run, tag, int(meta.max_step), float(meta.max_wall_time))
        for run in sorted(listing)
        for tag, meta in sorted(listing[run].items())
    )
