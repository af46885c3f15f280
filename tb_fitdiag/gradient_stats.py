"""What the two recorders share: ``FitDiagCallback`` (inside ``model.fit``) and ``Recorder``
(custom training loops) compute the same statistics, on the same schedule, into the same
records.

* the schedule: which steps are recorded (:func:`auto_interval`, :func:`next_record_after`,
  :class:`RecordCost`);
* the model: its layers with trainable weights (:func:`layer_groups`), the run info document
  (:func:`run_info`);
* the statistics, as TensorFlow ops: per-layer gradient statistics (:func:`grad_entries`), norms
  (:func:`group_norms`, :func:`global_norm`), the running aggregates (:func:`fold_aggregates`);
* the record: the values read back, as ``tag -> (value, kind)`` (:func:`statistics`,
  :func:`aggregate_values`), which :mod:`tb_fitdiag.summary` writes;
* their one warning form (:func:`warn`).

This module imports Keras at import time, and TensorFlow only when one of its TensorFlow ops is
first built (so that the JAX and PyTorch backends run without it); the callback, the backend
probes and the Recorder import it, ``tb_fitdiag`` itself only when one of them is used.
"""

from __future__ import annotations

import collections
import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import keras
import numpy as np

from tb_fitdiag import metadata
from tb_fitdiag.deferred import tensorflow as tf

# At most this many optimizer steps between two records of the gradient statistics when the
# interval is chosen automatically: chosen with benchmarks/callback_overhead.py to keep the
# overhead at or below 5% on small models.
DEFAULT_INTERVAL = 100
# With the automatic interval, every one of the first DENSE_STEPS steps is recorded (a blow-up
# in the first steps is the commonest failure of all), and a run gets at least about
# MIN_RECORDS regular records however short it is.
DENSE_STEPS = 32
MIN_RECORDS = 10
# The first steps of a fit (tracing) and of an epoch (its data starting up): a record there is
# not timed for the record cost.
START_STEPS = 2
# The automatic interval also keeps the records' own cost (a recording step's extra work and
# the callback's read and write of it, measured while training) at most RECORD_BUDGET of the
# training time: a fast small model, whose record costs more than its step, is recorded more
# sparsely than every DEFAULT_INTERVAL steps, at most every MAX_INTERVAL steps (and still
# MIN_RECORDS times a run). The running aggregates keep every step's extremes either way.
RECORD_BUDGET = 0.005
MAX_INTERVAL = 1000
# Records and epoch ends flush the event files at most this often: a process killed outright
# (kill -9, out of memory) loses at most the records of the last second, or the last record.
FLUSH_SECONDS = 1.0

# The running aggregates, one float64 vector: [loss_max, -loss_min, grad_norm_max] (folded by
# maximum, over finite values), [nonfinite_losses, nonfinite_grads, steps] (by sum) and
# [first_nonfinite_loss_step, first_nonfinite_grad_step] (by minimum, +inf until there is one,
# and never reset). How each entry folds, starts, and restarts:
AGG_START = np.array([-np.inf, -np.inf, -np.inf, 0.0, 0.0, 0.0, np.inf, np.inf])
AGG_BY_MAX = np.array([True, True, True, False, False, False, False, False])
AGG_BY_SUM = np.array([False, False, False, True, True, True, False, False])
AGG_KEEP = np.array([False] * 6 + [True, True])
_AGG_SIGNS = np.array([1.0, -1.0, 1.0])  # the smallest loss is kept as the largest -loss
_NAN = np.float64(np.nan)
_INF = np.float64(np.inf)


def warn(message: str, *, stacklevel: int = 2) -> None:
    """The warning of the recorders and probes: ``fitdiag: message``, a ``RuntimeWarning``
    (``stacklevel`` counts from the caller of this function)."""
    warnings.warn(f"fitdiag: {message}", RuntimeWarning, stacklevel=stacklevel + 1)


# ---- the schedule ----


def auto_interval(planned_steps: int | None) -> int:
    """The regular recording interval of a run of ``planned_steps`` steps (None: unknown)."""
    return _at_most(DEFAULT_INTERVAL, planned_steps)


def interval_cap(planned_steps: int | None) -> int:
    """The widest regular interval the record cost may choose for a run of ``planned_steps``."""
    return _at_most(MAX_INTERVAL, planned_steps)


def _at_most(widest: int, planned_steps: int | None) -> int:
    """Every ``planned_steps / MIN_RECORDS`` steps, at most every ``widest`` (unknown: that)."""
    if isinstance(planned_steps, bool) or not isinstance(planned_steps, int) or planned_steps <= 0:
        return widest
    return max(1, min(widest, planned_steps // MIN_RECORDS))


class RecordCost:
    """What one record costs beyond the steps it spans, and what an ordinary step takes, timed
    at the calls that begin steps (the callback's batch begins, the Recorder's ``record``).

    A record's sample spans from the call that begins it to the call after the one that read
    its statistics: ``(seconds, steps)``; a record followed by another (the first dense steps)
    is none, as they run one build of the step after another without the switch that costs
    most. Then one light sample times ``LIGHT_SPAN`` ordinary steps.
    The cost of a record is the median of ``seconds - steps * step`` over the spans, with
    ``step`` the median light sample. A span that crosses an epoch end (validation) is
    dropped, and one that starts in the first ``START_STEPS`` steps of a fit or an epoch
    (tracing, the data's start-up) is not a sample.

    The caller starts the clock with :meth:`started` when a record begins and, while
    :meth:`watching` says so, hands every step's begin to :meth:`saw`; where steps are
    skipped, it must see the one at :attr:`light_end`.
    """

    SPANS = 16
    LIGHT = 16
    LIGHT_SPAN = 8
    _LEAST = 3  # samples of each kind before the cost widens the interval

    def __init__(self) -> None:
        self.spans: collections.deque[tuple[float, int]] = collections.deque(maxlen=self.SPANS)
        self.light: collections.deque[float] = collections.deque(maxlen=self.LIGHT)
        self._record: _Timing | None = None  # the record being timed
        # The light sample's (start step, time), once the record's span is taken.
        self._light_from: tuple[int, float] | None = None
        self._chosen: int | None = None  # the last interval chosen

    def seconds(self) -> tuple[float, float] | None:
        """``(record cost, light step)`` in seconds, or None before enough samples."""
        if len(self.spans) < self._LEAST or len(self.light) < self._LEAST:
            return None
        # A few floats each: Python's median is a tenth of numpy's call here.
        step = median(self.light)
        cost = median([took - steps * step for took, steps in self.spans])
        return cost, step

    def interval(self, base: int, cap: int) -> int:
        """The regular interval: ``base``, widened in whole multiples of it until one record
        costs at most ``RECORD_BUDGET`` of the steps between two (never beyond ``cap``).

        The last interval chosen (in an earlier fit() too) is kept unless the cost rose above
        it or fell well below it (by one and a half ``base``): the noise of the timings does
        not move it to and fro, and the records stay on multiples of the interval.
        """
        measured = self.seconds()
        if measured is None:
            return base
        cost, step = measured
        if not (step > 0 and cost > 0 and math.isfinite(cost / step)):
            return base
        needed = cost / (RECORD_BUDGET * step)
        chosen = base * max(1, math.ceil(needed / base))
        last = self._chosen
        if last is not None and chosen < last and needed > last - 1.5 * base:
            chosen = last
        chosen = max(base, min(chosen, cap))
        self._chosen = chosen
        return chosen

    # -- the clock --

    @property
    def watching(self) -> bool:
        """Whether the next step's begin must be handed to :meth:`saw`."""
        return self._record is not None

    @property
    def light_end(self) -> int | None:
        """The step whose begin ends the light sample, once only that one is awaited."""
        if self._record is None or self._light_from is None:
            return None
        return self._light_from[0] + self.LIGHT_SPAN

    def stop(self) -> None:
        """Forgets the record being timed (a new fit, or a loop's new start)."""
        self._record = self._light_from = None

    def started(self, step: int, now: float, epoch: int, *, since: int) -> None:
        """A record begins at ``step`` of ``epoch``; ``since`` is the first step of the fit or
        the epoch, whichever came later (its span counts from ``START_STEPS`` steps on)."""
        self._record = _Timing(step, now, epoch, sample=step >= since + START_STEPS, last=step)
        self._light_from = None

    def saw(self, step: int, now: float, epoch: int, *, recording: bool) -> None:
        """The begin of ``step`` at ``now``, before its own work (``recording``: it begins a
        record, which :meth:`started` then times)."""
        record = self._record
        if record is None:
            return
        if record.epoch != epoch or step <= record.last:
            self.stop()  # an epoch end or a new fit() came between
            return
        light = self._light_from
        if light is not None:
            self.light.append((now - light[1]) / (step - light[0]))
            self.stop()
            return
        if recording:
            self.stop()  # the new record is timed instead
            return
        record.last = step
        if not record.read:
            record.read = True  # this begin reads the record
            return
        if record.sample:
            self.spans.append((now - record.begin, step - record.step))
        self._light_from = (step, now)


@dataclass
class _Timing:
    """A record being timed: its step, its begin's time and epoch, whether its span is a
    sample, the last step seen since, and whether a begin read it yet."""

    step: int
    begin: float
    epoch: int
    sample: bool
    last: int
    read: bool = False


def next_record_after(step: int, interval: int, *, dense: bool) -> int:
    """The first step after ``step`` whose gradient statistics are recorded.

    Args:
        step: A recorded step.
        interval: The regular interval.
        dense: True for the automatic schedule: every one of the first ``DENSE_STEPS`` steps.
    """
    if dense and step + 1 < DENSE_STEPS:
        return step + 1
    return (step // interval + 1) * interval


# ---- the model ----


def layer_groups(model: Any) -> list[tuple[str, list[Any]]]:
    """The model's trainable variables grouped by owning layer, input to output.

    Models nested in the model are walked into; any other layer is a leaf that owns all the
    variables of its sublayers (an LSTM owns its cell's). Layers without trainable variables
    are left out.
    """
    groups: list[tuple[str, list[Any]]] = []
    seen: set[int] = set()

    def take(layer: Any) -> list[Any]:
        fresh = [v for v in layer.trainable_weights if id(v) not in seen]
        seen.update(id(v) for v in fresh)
        return fresh

    def visit(layer: Any) -> None:
        if isinstance(layer, keras.Model):
            for sublayer in layer.layers:
                visit(sublayer)
        own = take(layer)
        if own:
            groups.append((getattr(layer, "path", None) or layer.name, own))

    visit(model)
    return groups


def loss_summary(model: Any, loss: Any = None) -> tuple[str, int | None, float | None]:
    """The loss by name, the units of the output, and the loss at chance level.

    The chance level is the cross-entropy of a uniform prediction: ln C for C classes
    (categorical cross-entropies), ln 2 for binary cross-entropy; None when the model has
    several outputs or losses, or a loss without a chance level (regression losses).

    Args:
        model: The model.
        loss: The loss (a name, a ``keras.losses.Loss``, a function); None: the model's
            compiled loss.
    """
    if loss is None:
        loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple, dict)):
        values = list(loss.values()) if isinstance(loss, dict) else list(loss)
        loss = values[0] if len(values) == 1 else None
    if isinstance(loss, str):
        name = loss
    elif loss is None:
        name = ""
    else:
        name = str(getattr(loss, "name", None) or getattr(loss, "__name__", "") or "")
        if not name:
            name = type(loss).__name__
    key = name.lower().replace("_", "")
    units: int | None = None
    with contextlib.suppress(Exception):
        outputs = model.outputs
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            last = outputs[0].shape[-1]
            units = int(last) if last is not None else None
    if units is None:
        with contextlib.suppress(Exception):
            layer_units = getattr(model.layers[-1], "units", None)
            units = int(layer_units) if isinstance(layer_units, int) else None
    chance: float | None = None
    if key in ("binarycrossentropy", "bce") or key.endswith("binarycrossentropy"):
        chance = math.log(2.0)
    elif key.endswith("categoricalcrossentropy") and units is not None and units >= 2:
        chance = math.log(float(units))
    return name, units, chance


def run_info(
    model: Any,
    optimizer: Any,
    strategy: Any,
    *,
    layers: Sequence[str],
    interval: int,
    dense_steps: int,
    activation_interval: int,
    script: str | None,
    loss: Any = None,
) -> metadata.RunInfo:
    """The ``fitdiag/run_info`` document of a run.

    Args:
        model: The model.
        optimizer: Its optimizer (None when unknown).
        strategy: The distribution strategy it trains under (None: the default, and on the JAX
            and PyTorch backends).
        layers: The layer paths, input to output.
        interval: The regular recording interval (0: gradient statistics are off).
        dense_steps: How many first steps are all recorded.
        activation_interval: The activation statistics' interval (0: off).
        script: The linted script, or None.
        loss: The loss; None: the model's compiled loss.
    """
    names = []
    while optimizer is not None:
        names.append(type(optimizer).__name__)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    optimizer_name = ""
    if names:
        optimizer_name = names[0] if len(names) == 1 else f"{names[0]}({', '.join(names[1:])})"
    strategy_name = type(strategy).__name__
    if strategy is None or strategy_name.startswith("_Default"):
        strategy_name = "default"
    policy = getattr(model, "dtype_policy", None)
    mixed = "LossScaleOptimizer" in names or str(getattr(policy, "name", "")).startswith("mixed")
    loss_name, units, chance = loss_summary(model, loss)
    return {
        "version": metadata.SCHEMA_VERSION,
        "layers": list(layers),
        "interval": interval,
        "dense_steps": dense_steps,
        "activation_interval": activation_interval,
        "optimizer": optimizer_name,
        "strategy": strategy_name,
        "mixed_precision": mixed,
        "script": script,
        "loss": loss_name,
        "output_units": units,
        "chance_loss": chance,
    }


def multi_worker(strategy: Any) -> bool:
    """Whether the strategy runs replicas in several processes (workers), which must run the
    same train function at every step: their schedule cannot depend on their own timings."""
    extended = getattr(strategy, "extended", None)
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    return bool(in_multi_worker is not None and in_multi_worker())


def is_chief(strategy: Any) -> bool:
    """True unless a multi-worker strategy says this worker is not the chief."""
    if not multi_worker(strategy):
        return True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return bool(
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


def current_learning_rate(optimizer: Any) -> float | None:
    """The optimizer's learning rate now (schedules resolved), or None."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    if optimizer is None or not isinstance(optimizer, keras.optimizers.Optimizer):
        return None
    return as_float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def epoch_scalars(
    logs: dict[str, Any], optimizer: Any, *, learning_rate: float | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """``(train, validation)`` epoch scalars from an epoch's logs (numbers or scalar
    tensors; ``val_*`` to validation, without the prefix), the learning rate added: the one
    given (read already), else the optimizer's now."""
    train: dict[str, float] = {}
    validation: dict[str, float] = {}
    for name, value in logs.items():
        number = as_float(keras.ops.convert_to_numpy(value))
        if number is None:
            continue
        if name.startswith("val_"):
            validation[name[4:]] = number
        else:
            train[name] = number
    rate = learning_rate if learning_rate is not None else current_learning_rate(optimizer)
    if rate is not None and "learning_rate" not in train:
        train["learning_rate"] = rate
    return train, validation


def as_float(value: Any) -> float | None:
    """A scalar as a float; None for anything else."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(array) if array.shape == () else None


# ---- the statistics, as TensorFlow ops ----


def dense(grad: Any) -> Any:
    """A gradient as a dense tensor (``IndexedSlices`` of an ``Embedding`` made dense)."""
    return tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices) else grad


def untracked_variable(initial: Any, name: str, shape: Any = None) -> Any:
    """A non-trainable variable that can be created while a function is traced without that
    function noticing: ``tf.function`` traces a function twice when its first trace creates a
    ``tf.Variable`` (a tenth of a second and more at the first step). The class itself, unlike
    ``tf.Variable``, does not pass through the tracing's variable creator scopes. Create it
    under ``tf.init_scope()``.

    Args:
        initial: The initial value.
        name: The variable's name.
        shape: Its shape; None: the initial value's (``tf.TensorShape(None)``: any shape).
    """
    try:
        from tensorflow.python.ops.resource_variable_ops import ResourceVariable
    except ImportError:  # pragma: no cover - a TensorFlow without the module: traced twice
        ResourceVariable = tf.Variable
    return ResourceVariable(initial, shape=shape, trainable=False, name=name)


def half_squares(grads: Sequence[Any]) -> Any:
    """Half the global sum of squares of every step (float64): one ``l2_loss`` op per
    gradient in float32, so a norm beyond float32's range (1e19) shows as non-finite, as good
    as infinite for the diagnosis. ``sqrt(2 * x)`` is the global norm."""
    halves = [tf.nn.l2_loss(tf.cast(g, tf.float32)) for g in grads]
    return tf.cast(tf.add_n(halves), tf.float64)


def global_norm(grads: Sequence[Any]) -> Any:
    """The global gradient norm (float64), from :func:`half_squares`."""
    return tf.sqrt(2.0 * half_squares(grads))


def _size(tensor: Any) -> int:
    return int(np.prod(tensor.shape))


def grad_entries(per_layer: Sequence[Sequence[Any]], unowned: Sequence[Any]) -> tuple[Any, Any]:
    """Per-layer gradient statistics: ``(global norm, [norm, zero fraction, non-finite count]
    per layer)``, the second a float64 vector of ``3 * len(per_layer)``, ``-1`` three times for
    a layer that got no gradient.

    Sums of squares in float32, one ``l2_loss`` per gradient (a norm beyond 1e19 shows as
    infinite); the counts are exact. ``unowned`` gradients count in the global norm only. A few
    operations per gradient and a handful in all (one segment sum gathers the layers): the
    trace and the graph grow with the number of tensors, not with three times it.
    """
    owned = [g for grads in per_layer for g in grads]
    n = len(per_layer)
    if not owned and not unowned:
        return tf.constant(0.0, tf.float64), tf.fill([3 * n], tf.constant(-1.0, tf.float64))
    # Each tensor's sum in float32, their total in float64 (as the layers' sums are).
    halves = [
        tf.cast(tf.stack([tf.nn.l2_loss(tf.cast(g, tf.float32)) for g in part]), tf.float64)
        for part in (owned, unowned)
        if part
    ]
    total = tf.sqrt(2.0 * tf.add_n([tf.reduce_sum(h) for h in halves]))
    if not owned:
        return total, tf.fill([3 * n], tf.constant(-1.0, tf.float64))
    wide = max(_size(g) for g in owned) >= 2**31
    count = tf.int64 if wide else tf.int32
    nonzero = [tf.math.count_nonzero(g, dtype=count) for g in owned]
    finite = [tf.reduce_sum(tf.cast(tf.math.is_finite(g), count)) for g in owned]
    # Slot 3 * layer + (0: half the squares, 1: non-zero count, 2: finite count).
    ids = [3 * i + k for k in range(3) for i, grads in enumerate(per_layer) for _ in grads]
    data = tf.concat(
        [
            halves[0],
            tf.cast(tf.stack(nonzero), tf.float64),
            tf.cast(tf.stack(finite), tf.float64),
        ],
        axis=0,
    )
    sums = tf.math.unsorted_segment_sum(data, ids, 3 * n)
    sizes = np.repeat([float(sum(_size(g) for g in grads)) for grads in per_layer], 3)
    column = np.tile(np.arange(3), n)
    has = np.repeat([bool(grads) for grads in per_layer], 3)
    # zeros = size - non-zero (NaN is non-zero, as it is not equal to zero); non-finite =
    # size - finite; both exact in float64.
    missing = sizes - sums
    values = tf.where(
        column == 0,
        tf.sqrt(2.0 * sums),
        tf.where(column == 1, missing / np.maximum(sizes, 1.0), missing),
    )
    return total, tf.where(has, values, tf.constant(-1.0, tf.float64))


def group_norms(groups: Sequence[Sequence[Any]]) -> Any:
    """The L2 norm of each group of tensors (float64 vector of ``len(groups)``, 0 for an empty
    group; sums of squares in float32 per tensor): one ``l2_loss`` per tensor and one segment
    sum in all."""
    tensors = [t for group in groups for t in group]
    if not tensors:
        return tf.zeros([len(groups)], tf.float64)
    halves = tf.stack([tf.nn.l2_loss(tf.cast(t, tf.float32)) for t in tensors])
    slots = [i for i, group in enumerate(groups) for _ in group]
    sums = tf.math.unsorted_segment_sum(tf.cast(halves, tf.float64), slots, len(groups))
    return tf.sqrt(2.0 * sums)


def fold_into(agg: Any, loss: Any, total: Any, step: Any) -> None:
    """Folds one step into the running aggregates' variable ``agg`` (see
    :func:`fold_aggregates`)."""
    agg.assign(fold_aggregates(agg.read_value(), loss, total, step))


def read_and_restart(agg: Any) -> Any:
    """The running aggregates in ``agg`` (the layout of :data:`AGG_START`), which then start
    again; the first non-finite steps are kept: they are facts of the whole run."""
    values = agg.read_value()
    with tf.control_dependencies([values]):
        restart = agg.assign(tf.where(AGG_KEEP, values, AGG_START))
    with tf.control_dependencies([restart]):
        return tf.identity(values)


def fold_aggregates(old: Any, loss: Any, total: Any, step: Any) -> Any:
    """The running aggregates ``old`` (the layout of :data:`AGG_START`) with one more step
    folded in: its batch loss (None when the step had none), global gradient norm and step."""
    values = tf.stack([_NAN if loss is None else loss, total])
    finite = tf.math.is_finite(values)
    bad = tf.cast(tf.logical_not(finite), tf.float64)
    extremes = tf.where(
        tf.gather(finite, [0, 0, 1]), tf.gather(values, [0, 0, 1]) * _AGG_SIGNS, -_INF
    )
    firsts = tf.where(finite, _INF, step)
    if loss is None:  # no loss seen in this train step: nothing to count for it
        bad = bad * np.array([0.0, 1.0])
        firsts = tf.where(np.array([True, False]), _INF, firsts)
    counts = tf.concat([bad, np.array([1.0])], axis=0)
    current = tf.concat([extremes, counts, firsts], axis=0)
    return tf.where(
        AGG_BY_MAX,
        tf.maximum(old, current),
        tf.where(AGG_BY_SUM, old + current, tf.minimum(old, current)),
    )


# ---- the record ----


def statistics(
    layers: Sequence[str],
    *,
    grads: Any = None,
    learning_rate: float | None = None,
    weights: Any = None,
    loss: float | None = None,
) -> dict[str, tuple[float, str]]:
    """The values of one record, ``tag -> (value, kind)``, in the order every recorder writes
    them (so that their records share a layout).

    Args:
        layers: The layer paths, in the order of the entries below.
        grads: ``[global norm, (norm, zero fraction, non-finite count) per layer]``; a negative
            norm marks a layer that got no gradient. None: no gradient statistics.
        learning_rate: The step's learning rate, or None.
        weights: ``[(weight norm, update norm) per layer]``, or None.
        loss: The batch loss, or None.
    """
    layer = metadata.KIND_LAYER_STAT
    glob = metadata.KIND_GLOBAL_STAT
    values: dict[str, tuple[float, str]] = {}
    if grads is not None:
        values[metadata.global_tag("global_grad_norm")] = (float(grads[0]), glob)
        for i, path in enumerate(layers):
            norm, zero, nonfinite = grads[1 + 3 * i : 4 + 3 * i]
            if norm < 0:
                continue  # no gradient reached this layer in that step
            values[metadata.layer_tag("grad_norm", path)] = (float(norm), layer)
            values[metadata.layer_tag("zero_fraction", path)] = (float(zero), layer)
            values[metadata.layer_tag("nonfinite", path)] = (float(nonfinite), layer)
    if learning_rate is not None:
        values[metadata.global_tag("learning_rate")] = (float(learning_rate), glob)
    if weights is not None:
        for i, path in enumerate(layers):
            weight, delta = weights[2 * i : 2 + 2 * i]
            values[metadata.layer_tag("weight_norm", path)] = (float(weight), layer)
            if weight > 0 or not math.isfinite(weight):
                values[metadata.layer_tag("update_ratio", path)] = (
                    float(delta) / float(weight),  # Inf / Inf is NaN, without a warning
                    layer,
                )
    if loss is not None:
        values[metadata.global_tag("batch_loss")] = (float(loss), glob)
    return values


def aggregate_values(packed: Any) -> dict[str, tuple[float, str]]:
    """The running aggregates (the layout of :data:`AGG_START`) as ``tag -> (value, kind)``.

    A window without steps writes nothing; extremes are written only when some value of the
    window was finite, the first non-finite steps only once there is one.
    """
    glob = metadata.KIND_GLOBAL_STAT
    loss_max, neg_min, grad_max, loss_bad, grad_bad, steps, loss_first, grad_first = (
        float(v) for v in packed[:8]
    )
    loss_min = -neg_min
    if steps <= 0:
        return {}
    values: dict[str, tuple[float, str]] = {
        metadata.global_tag("nonfinite_loss_count"): (loss_bad, glob),
        metadata.global_tag("nonfinite_grad_count"): (grad_bad, glob),
    }
    if math.isfinite(loss_max):
        values[metadata.global_tag("batch_loss_max")] = (loss_max, glob)
        values[metadata.global_tag("batch_loss_min")] = (loss_min, glob)
    if math.isfinite(grad_max):
        values[metadata.global_tag("grad_norm_max")] = (grad_max, glob)
    if math.isfinite(loss_first):
        values[metadata.global_tag("first_nonfinite_loss_step")] = (loss_first, glob)
    if math.isfinite(grad_first):
        values[metadata.global_tag("first_nonfinite_grad_step")] = (grad_first, glob)
    return values
