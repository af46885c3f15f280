"""The one contract between the writer (callback, summary) and the readers (CLI, plugin).

Everything the callback records lives in the run ``<log_dir>/train`` (the same layout as
``keras.callbacks.TensorBoard``), as summaries whose ``SummaryMetadata`` carries:

* ``plugin_data.plugin_name = "fitdiag"``;
* ``plugin_data.content``: the JSON bytes ``{"version": SCHEMA_VERSION, "kind": <kind>}``;
* an explicit ``data_class``, without which TensorBoard's fast loader drops the data.

The statistics (schema 2)
-------------------------

The statistics the callback hands over at one step (``{tag: (value, kind)}``, the tags below)
are one *record*. Records are written packed, so that TensorBoard keeps every one of them at its
default flags: TensorBoard keeps a sample of at most N values of each tag (N = 10 for a
third-party plugin under ``--load_fast=false``, 100 for a tensor and 1,000 for a scalar under
the default Rust data server), so no tag holds more than :data:`RECORDS_PER_TAG` (10) values:

``fitdiag/layout/<id>``
    ``DATA_CLASS_TENSOR``, a rank-0 ``DT_STRING`` tensor: the JSON :class:`Layout`
    ``{"version": 2, "tags": [...]}``, the tags of the records of this layout in order. ``<id>``
    is :func:`layout_id` of the tags (a content hash, so every writer names the same layout
    alike). Written in the event of the layout's first record of each event file.
``fitdiag/records/<id>/<first step>``
    ``DATA_CLASS_TENSOR``, a rank-1 ``DT_FLOAT`` tensor of ``1 + len(tags)`` values per record:
    element 0 is the record's position in this tag (0, 1, ... up to ``RECORDS_PER_TAG - 1``),
    elements 1.. are the values of the layout's tags. One tag holds the next
    ``RECORDS_PER_TAG`` records of a layout and is named after the step of its first one.
    Since TensorBoard always keeps the latest value of a tag, ``1 + `` the largest position a
    reader sees is the number of records the tag was written with: a reader knows exactly how
    many records a loader dropped (none at TensorBoard's defaults).

Schema 1 (fitdiag's first event format) wrote each statistic below as its own tag, a rank-0
``DT_FLOAT`` ``DATA_CLASS_SCALAR`` (kinds ``layer_stat``/``global_stat``); readers still read
those, but TensorBoard keeps only a sample of them (10 values a tag under ``--load_fast=false``,
1,000 under the default loader).

Tags (``<layer>`` is the layer's path, e.g. ``sequential/dense_1``):

============================  ======  =========================================================
tag                           class   value
============================  ======  =========================================================
``fitdiag/grad_norm/<layer>``  record  L2 norm of the layer's applied gradient
``fitdiag/weight_norm/<layer>``  record  L2 norm of the layer's trainable weights
``fitdiag/update_ratio/<layer>``  record  ``|w_after - w_before| / |w_before|`` of one step
``fitdiag/zero_fraction/<layer>``  record  fraction of gradient entries exactly 0
``fitdiag/nonfinite/<layer>``  record  count of NaN/Inf gradient entries
``fitdiag/dead_fraction/<layer>``  record  fraction of ReLU units never active on the probe batch
``fitdiag/saturated_fraction/<layer>``  record  fraction of sigmoid/tanh units saturated
``fitdiag/global_grad_norm``  record  L2 norm over every applied gradient
``fitdiag/batch_loss``        record  the training loss of the recorded batch
``fitdiag/learning_rate``     record  the optimizer's current learning rate (schedules resolved)
``fitdiag/batch_loss_max``    record  largest finite batch loss since the previous write [*]
``fitdiag/batch_loss_min``    record  smallest finite batch loss since the previous write [*]
``fitdiag/nonfinite_loss_count``  record  batches with a NaN/Inf loss since the previous write [*]
``fitdiag/grad_norm_max``     record  largest finite global gradient norm since then [*]
``fitdiag/nonfinite_grad_count``  record  steps with a NaN/Inf gradient since the previous write [*]
``fitdiag/first_nonfinite_loss_step``  record  the first step whose loss was NaN/Inf [*]
``fitdiag/first_nonfinite_grad_step``  record  the first step whose gradient was NaN/Inf [*]
``fitdiag/run_info``          tensor  JSON document :class:`RunInfo` (layer order, interval, ...)
``fitdiag/static_findings``   tensor  JSON document :class:`StaticFindings` (fitlint at train begin)
``fitdiag/live_findings``     tensor  JSON document :class:`LiveFindings` (said while training)
``fitdiag/nonfinite_origin``  tensor  JSON :class:`NonfiniteOrigin` (the first NaN's origin)
============================  ======  =========================================================

"record": a value of a record (above); "tensor": a rank-0 ``DT_STRING`` tensor of its own tag,
``DATA_CLASS_TENSOR``; readers use its latest value, which TensorBoard always keeps.

[*] Running aggregates, kept inside every train step and written with each record and at each
epoch end (at the last step run), so that no extreme between two records is lost. On JAX, a
light step computes its global norm only where that costs at most 1% of a step: elsewhere the
gradient aggregates cover the recorded steps only (the loss ones still cover every step).

Steps are global optimizer steps (batches), continuing across ``fit()`` calls. Epoch-level
scalars (``epoch_loss``, ``epoch_<metric>``, ``epoch_learning_rate``) are written by the callback
with the ordinary ``scalars`` plugin metadata, at the epoch index, into ``train`` and
``validation``, unless a ``keras.callbacks.TensorBoard`` on the same ``log_dir`` writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final, TypedDict

PLUGIN_NAME: Final = "fitdiag"
# 2: statistics packed into records (fitdiag/layout/<id>, fitdiag/records/<id>/<step>);
# 1: one scalar tag per statistic. Readers read both.
SCHEMA_VERSION: Final = 2
TAG_PREFIX: Final = "fitdiag/"
# The most values any fitdiag tag of records holds: TensorBoard's smallest default sample per
# tag (10, a third-party plugin under --load_fast=false), so that it never drops a record.
RECORDS_PER_TAG: Final = 10
LAYOUT_TAG_PREFIX: Final = TAG_PREFIX + "layout/"
RECORDS_TAG_PREFIX: Final = TAG_PREFIX + "records/"

# Per-layer statistics: the tag is f"{TAG_PREFIX}{stat}/{layer}".
LAYER_STATS: Final = (
    "grad_norm",
    "weight_norm",
    "update_ratio",
    "zero_fraction",
    "nonfinite",
    "dead_fraction",
    "saturated_fraction",
)
# Whole-model statistics: the tag is f"{TAG_PREFIX}{stat}".
GLOBAL_STATS: Final = (
    "global_grad_norm",
    "batch_loss",
    "learning_rate",
    # Running aggregates over every step since the previous write.
    "batch_loss_max",
    "batch_loss_min",
    "nonfinite_loss_count",
    "grad_norm_max",
    "nonfinite_grad_count",
    "first_nonfinite_loss_step",
    "first_nonfinite_grad_step",
)

RUN_INFO_TAG: Final = TAG_PREFIX + "run_info"
STATIC_FINDINGS_TAG: Final = TAG_PREFIX + "static_findings"
LIVE_FINDINGS_TAG: Final = TAG_PREFIX + "live_findings"
# Added within schema 2: a document tag that older readers of schema 2 do not read (they read
# only the tags they know), so its summaries keep version 2.
NONFINITE_ORIGIN_TAG: Final = TAG_PREFIX + "nonfinite_origin"

# The metadata "kind" of each summary, carried in plugin_data.content.
KIND_LAYER_STAT: Final = "layer_stat"  # also what the callback hands a writer per value
KIND_GLOBAL_STAT: Final = "global_stat"
KIND_LAYOUT: Final = "layout"
KIND_RECORDS: Final = "records"
KIND_RUN_INFO: Final = "run_info"
KIND_STATIC_FINDINGS: Final = "static_findings"
KIND_LIVE_FINDINGS: Final = "live_findings"
KIND_NONFINITE_ORIGIN: Final = "nonfinite_origin"

TRAIN_RUN: Final = "train"
VALIDATION_RUN: Final = "validation"


class RunInfo(TypedDict):
    """The JSON document at ``fitdiag/run_info``: written at train begin."""

    version: int
    layers: list[str]  # layer paths, input to output: the order of the heatmap's rows
    interval: int  # gradient statistics are recorded every `interval` steps
    dense_steps: int  # ... and at every one of the first `dense_steps` steps
    activation_interval: int  # 0 when activation statistics are off
    optimizer: str
    strategy: str
    mixed_precision: bool
    script: str | None
    loss: str  # the compiled loss, by name ("" when unknown)
    output_units: int | None  # units of the (single) output, when known
    chance_loss: float | None  # the loss of a prediction at chance level (ln C), when known


class LiveFinding(TypedDict):
    name: str  # a diagnosis finding, e.g. "diverging-loss"
    severity: str  # the severity it was last reported at
    step: int  # the global step at which it was (last) reported
    epoch: int
    line: str  # the line the callback printed


class LiveFindings(TypedDict):
    """The JSON document at ``fitdiag/live_findings``: what the diagnosis said while training
    ran, written (whole, so the latest document has everything) each time it says more."""

    version: int
    findings: list[LiveFinding]


class SourceSite(TypedDict):
    path: str  # relative to the working directory when under it, else absolute
    line: int


class NonfiniteOrigin(TypedDict):
    """The JSON document at ``fitdiag/nonfinite_origin``: where the first non-finite loss or
    gradient of the run came from, found by replaying its batch on the last finite weights kept.
    Written once, at the first read of the statistics after that step. Facts only: the
    diagnosis tells the story (numerical bug, bad data, overflow, exploding) from them."""

    version: int
    step: int  # the global step whose loss or gradient was first non-finite
    trigger: str  # "loss" (the batch loss was non-finite) or "gradient" (only the gradient)
    located: bool  # False when the replay could not say where (see error)
    error: str | None  # one line: why there is no answer (no replay, did not reproduce, ...)
    # Where: "input" (the batch's data), "weights" (already non-finite before the step),
    # "forward" (a layer's output), "loss" (the loss on a finite prediction), "loss-gradient"
    # (the loss's backward), "backward" (a layer's backward), "gradient-norm" (every gradient
    # entry finite, their float32 sum of squares not: input_max is the largest),
    # "later-weights" (finite on the weights of weights_step, some steps before the failing
    # one: the updates in between made it fail); None when not located.
    phase: str | None
    layer: str | None  # the layer's path
    layer_class: str | None
    layer_site: SourceSite | None  # where the layer was constructed
    op: str | None  # the op type that first produced NaN/Inf, e.g. "Log"
    op_site: SourceSite | None  # the line of the user's code that ran the op
    function: str | None  # the user's function that ran it (a custom loss, a layer's call)
    loss: str | None  # the loss's name, when the loss computed it
    input: str | None  # phase "input": "x", "y", "sample_weight", "x['age']", ...
    input_nonfinite: int | None  # ... its count of NaN/Inf values in the batch
    input_size: int | None  # ... and its size
    value: str | None  # "NaN" or "Inf": what the first non-finite value was
    dtype: str | None  # the op's dtype ("float16" under mixed precision)
    input_max: float | None  # the largest finite |value| going into the op's layer or loss
    reproduced: bool | None  # whether the replay on the kept weights was non-finite too
    weights_finite: bool | None  # whether the kept weights were all finite
    # The step whose weights (before its update) the replay ran on: the failing step itself,
    # or the last record step before it (the kept weights are refreshed at record steps).
    weights_step: int | None
    # The step whose batch was replayed when it is not ``step``: the failing step ran between
    # two records on a light step that keeps no batch, and this is the first later step that
    # failed and was kept; None when the replay ran on the failing step's own batch.
    batch_step: int | None
    weight_norms: dict[str, float]  # layer path -> L2 norm of its kept weights


def unlocated(step: int, trigger: str, error: str | None) -> NonfiniteOrigin:
    """The document of a step not (yet) located: ``error`` says why."""
    return {
        "version": SCHEMA_VERSION,
        "step": int(step),
        "trigger": trigger,
        "located": False,
        "error": error,
        "phase": None,
        "layer": None,
        "layer_class": None,
        "layer_site": None,
        "op": None,
        "op_site": None,
        "function": None,
        "loss": None,
        "input": None,
        "input_nonfinite": None,
        "input_size": None,
        "value": None,
        "dtype": None,
        "input_max": None,
        "reproduced": None,
        "weights_finite": None,
        "weights_step": None,
        "batch_step": None,
        "weight_norms": {},
    }


class Layout(TypedDict):
    """The JSON document at ``fitdiag/layout/<id>``: the tags of the records of one layout."""

    version: int
    tags: list[str]


class StaticFinding(TypedDict):
    code: str
    name: str
    severity: str
    path: str
    line: int
    column: int
    message: str


class StaticFindings(TypedDict):
    """The JSON document at ``fitdiag/static_findings``: fitlint's findings on the script."""

    version: int
    script: str
    sha256: str
    fitlint_version: str
    error: str | None  # set when the script could not be linted; findings is then empty
    findings: list[StaticFinding]


def layer_tag(stat: str, layer: str) -> str:
    """Returns the tag of a per-layer statistic."""
    if stat not in LAYER_STATS:
        raise ValueError(f"unknown layer statistic {stat!r}")
    return f"{TAG_PREFIX}{stat}/{layer}"


def global_tag(stat: str) -> str:
    """Returns the tag of a whole-model statistic."""
    if stat not in GLOBAL_STATS:
        raise ValueError(f"unknown global statistic {stat!r}")
    return TAG_PREFIX + stat


def parse_tag(tag: str) -> tuple[str, str | None] | None:
    """Splits a fitdiag tag into ``(stat, layer)``; ``layer`` is None for global statistics.

    Returns None for tags that are not fitdiag statistics (documents included).
    """
    if not tag.startswith(TAG_PREFIX):
        return None
    rest = tag[len(TAG_PREFIX) :]
    if rest in GLOBAL_STATS:
        return rest, None
    stat, sep, layer = rest.partition("/")
    if sep and layer and stat in LAYER_STATS:
        return stat, layer
    return None


def layout_id(tags: Sequence[str]) -> str:
    """The id of the layout of these tags (in this order): 16 hex digits of their SHA-256."""
    return hashlib.sha256("\n".join(tags).encode("utf-8")).hexdigest()[:16]


def layout_tag(layout: str) -> str:
    """The tag of a layout's document."""
    return LAYOUT_TAG_PREFIX + layout


def records_tag(layout: str, first_step: int) -> str:
    """The tag of the records of ``layout`` from the one at ``first_step`` on."""
    return f"{RECORDS_TAG_PREFIX}{layout}/{int(first_step)}"


def parse_layout_tag(tag: str) -> str | None:
    """``fitdiag/layout/<id>`` -> ``<id>``; None for any other tag."""
    if not tag.startswith(LAYOUT_TAG_PREFIX):
        return None
    layout = tag[len(LAYOUT_TAG_PREFIX) :]
    return layout if layout and "/" not in layout else None


def parse_records_tag(tag: str) -> tuple[str, int] | None:
    """``fitdiag/records/<id>/<step>`` -> ``(<id>, <step>)``; None for any other tag."""
    if not tag.startswith(RECORDS_TAG_PREFIX):
        return None
    layout, sep, first = tag[len(RECORDS_TAG_PREFIX) :].partition("/")
    if not (layout and sep and first.lstrip("-").isdigit()):
        return None
    return layout, int(first)


def plugin_content(kind: str) -> bytes:
    """The bytes stored in ``plugin_data.content`` of every fitdiag summary."""
    return json.dumps({"version": SCHEMA_VERSION, "kind": kind}, sort_keys=True).encode()


def parse_plugin_content(content: bytes) -> dict[str, Any]:
    """Parses ``plugin_data.content``; raises ValueError on a newer or malformed schema."""
    try:
        parsed = json.loads(content.decode("utf-8")) if content else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"malformed fitdiag plugin content: {err}") from err
    if not isinstance(parsed, dict):
        raise ValueError("malformed fitdiag plugin content: not an object")
    version = parsed.get("version", 0)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"fitdiag schema version {version!r} is newer than this reader's {SCHEMA_VERSION}"
        )
    return parsed


def create_summary_metadata(kind: str, *, tensor: bool = False) -> Any:
    """Builds the ``SummaryMetadata`` proto for a fitdiag summary.

    Args:
        kind: One of the ``KIND_*`` constants.
        tensor: True for the documents and the records (``DATA_CLASS_TENSOR``), False for the
            scalars of schema 1.
    """
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=plugin_content(kind)
        ),
        data_class=(summary_pb2.DATA_CLASS_TENSOR if tensor else summary_pb2.DATA_CLASS_SCALAR),
    )
