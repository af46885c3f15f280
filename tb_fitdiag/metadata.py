"""The one contract between the writer (callback, summary) and the readers (CLI, plugin).

Everything the callback records lives in the run ``<log_dir>/train`` (the same layout as
``keras.callbacks.TensorBoard``), as summaries whose ``SummaryMetadata`` carries:

* ``plugin_data.plugin_name = "fitdiag"``;
* ``plugin_data.content``: the JSON bytes ``{"version": SCHEMA_VERSION, "kind": <kind>}``;
* an explicit ``data_class`` (``DATA_CLASS_SCALAR`` for statistics, ``DATA_CLASS_TENSOR`` for
  the JSON documents), without which TensorBoard's fast loader drops the data.

Tags (``<layer>`` is the layer's path, e.g. ``sequential/dense_1``):

============================  ======  =========================================================
tag                           class   value
============================  ======  =========================================================
``fitdiag/grad_norm/<layer>``  scalar  L2 norm of the layer's applied gradient
``fitdiag/weight_norm/<layer>``  scalar  L2 norm of the layer's trainable weights
``fitdiag/update_ratio/<layer>``  scalar  ``|w_after - w_before| / |w_before|`` of one step
``fitdiag/zero_fraction/<layer>``  scalar  fraction of gradient entries exactly 0
``fitdiag/nonfinite/<layer>``  scalar  count of NaN/Inf gradient entries
``fitdiag/dead_fraction/<layer>``  scalar  fraction of ReLU units never active on the probe batch
``fitdiag/saturated_fraction/<layer>``  scalar  fraction of sigmoid/tanh units saturated
``fitdiag/global_grad_norm``  scalar  L2 norm over every applied gradient
``fitdiag/batch_loss``        scalar  the training loss of the recorded batch
``fitdiag/learning_rate``     scalar  the optimizer's current learning rate (schedules resolved)
``fitdiag/batch_loss_max``    scalar  largest finite batch loss since the previous write [*]
``fitdiag/batch_loss_min``    scalar  smallest finite batch loss since the previous write [*]
``fitdiag/nonfinite_loss_count``  scalar  batches with a NaN/Inf loss since the previous write [*]
``fitdiag/grad_norm_max``     scalar  largest finite global gradient norm since then [*]
``fitdiag/nonfinite_grad_count``  scalar  steps with a NaN/Inf gradient since the previous write [*]
``fitdiag/first_nonfinite_loss_step``  scalar  the first step whose loss was NaN/Inf [*]
``fitdiag/first_nonfinite_grad_step``  scalar  the first step whose gradient was NaN/Inf [*]
``fitdiag/run_info``          tensor  JSON document :class:`RunInfo` (layer order, interval, ...)
``fitdiag/static_findings``   tensor  JSON document :class:`StaticFindings` (fitlint at train begin)
============================  ======  =========================================================

[*] Running aggregates, kept inside every train step and written with each record and at each
epoch end (at the last step run), so that no extreme between two records is lost.

Steps are global optimizer steps (batches), continuing across ``fit()`` calls. Epoch-level
scalars (``epoch_loss``, ``epoch_<metric>``, ``epoch_learning_rate``) are written by the callback
with the ordinary ``scalars`` plugin metadata, at the epoch index, into ``train`` and
``validation``, unless a ``keras.callbacks.TensorBoard`` on the same ``log_dir`` writes them.
"""

from __future__ import annotations

import json
from typing import Any, Final, TypedDict

PLUGIN_NAME: Final = "fitdiag"
SCHEMA_VERSION: Final = 1
TAG_PREFIX: Final = "fitdiag/"

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

# The metadata "kind" of each summary, carried in plugin_data.content.
KIND_LAYER_STAT: Final = "layer_stat"
KIND_GLOBAL_STAT: Final = "global_stat"
KIND_RUN_INFO: Final = "run_info"
KIND_STATIC_FINDINGS: Final = "static_findings"
KIND_LIVE_FINDINGS: Final = "live_findings"

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
        tensor: True for the JSON documents (``DATA_CLASS_TENSOR``), False for scalars.
    """
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=plugin_content(kind)
        ),
        data_class=(summary_pb2.DATA_CLASS_TENSOR if tensor else summary_pb2.DATA_CLASS_SCALAR),
    )
