"""Recording gradient health in a custom training loop: :class:`Recorder`.

``FitDiagCallback`` captures the gradients inside ``model.fit``; a custom loop (a
``tf.GradientTape`` and ``optimizer.apply_gradients``, a GAN, an RL agent) already holds them, and
hands them to :meth:`Recorder.record`. The statistics, the schedule, the records and the run info
are those of the callback (:mod:`tb_fitdiag.gradient_stats`), written by :mod:`tb_fitdiag.summary`
into ``<log_dir>/train``, so ``fitdiag diagnose`` and the TensorBoard tab read both alike.

The statistics are TensorFlow ops in compiled functions: on a recorded step one function computes
them and one read brings them back; on any other step one function folds the step's loss and
global gradient norm into the running aggregates, and nothing is read back.
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_fitdiag import metadata
from tb_fitdiag.gradient_stats import (
    AGG_START,
    DENSE_STEPS,
    FLUSH_SECONDS,
    RecordCost,
    aggregate_values,
    auto_interval,
    current_learning_rate,
    dense,
    epoch_scalars,
    fold_into,
    global_norm,
    grad_entries,
    group_norms,
    interval_cap,
    is_chief,
    layer_groups,
    next_record_after,
    read_and_restart,
    run_info,
    statistics,
    untracked_variable,
    warn,
)
from tb_fitdiag.summary import RunWriters


@dataclass
class _Pending:
    """A recorded step whose record waits for the update it applied to be measured."""

    step: int
    packed: np.ndarray  # [global norm, (norm, zero, nonfinite) per layer, weight norms, loss, agg]
    learning_rate: float | None
    has_loss: bool
    snapshot: list[list[Any]] | None  # the layers' weights before the update (then dropped)
    delta: Any = None  # the update norms per layer (a tensor, read when the record is written)


class Recorder:
    """Records per-layer gradient health from a custom training loop, as ``FitDiagCallback``
    does inside ``model.fit``.

    Example::

        rec = Recorder("logs/run1", model, optimizer)
        for step, (x, y) in enumerate(dataset):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            rec.record(step, grads, model.trainable_variables, loss=loss)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        rec.close()

    Args:
        log_dir: The run's log directory; events go to ``<log_dir>/train`` (and the epoch
            scalars of :meth:`epoch_end` to ``<log_dir>/validation``), as the callback writes
            them. Give each model of a GAN its own ``log_dir`` (``logs/gan/generator``,
            ``logs/gan/discriminator``): each is then a run of its own.
        model: The Keras model (or layer) whose layers the statistics are grouped by.
        optimizer: The optimizer that applies the gradients, for ``learning_rate`` and the run
            info; None: the model's (``model.optimizer``), if any.
        interval: Record every ``interval`` steps. None (the default) chooses as the callback
            does: every one of the first ``DENSE_STEPS`` (32) steps, then every
            ``planned_steps / 10`` steps, at most every 100, more sparsely where a record
            costs the loop more than 0.5% of the steps between two (timed at the ``record``
            calls around it; at most every 1,000 steps, and ``planned_steps / 10`` at most).
        planned_steps: How many steps the loop will run, for the automatic interval (None:
            unknown, every 100 steps after the first 32, or the record cost's interval).
        loss_fn: The loss, for the run info (its name and the loss at chance level, which the
            diagnosis compares with); None: the model's compiled loss, if any.

    Raises:
        ValueError: On an invalid option.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        model: Any,
        optimizer: Any = None,
        *,
        interval: int | None = None,
        planned_steps: int | None = None,
        loss_fn: Any = None,
    ) -> None:
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
        ):
            raise ValueError(f"interval must be a positive integer or None, got {interval!r}")
        if planned_steps is not None and (
            isinstance(planned_steps, bool)
            or not isinstance(planned_steps, int)
            or planned_steps < 1
        ):
            raise ValueError(
                f"planned_steps must be a positive integer or None, got {planned_steps!r}"
            )
        if model is None or not hasattr(model, "trainable_weights"):
            raise ValueError(f"model must be a Keras model or layer, got {model!r}")
        self.log_dir = os.fspath(log_dir)
        self.model = model
        self.optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
        self.interval = interval
        self.planned_steps = planned_steps
        self.loss_fn = loss_fn
        self._interval = interval or auto_interval(planned_steps)
        self._base_interval = self._interval
        self._interval_cap = interval_cap(planned_steps)
        self._cost = RecordCost()  # what a record costs the loop (the automatic interval's)
        self._epochs = 0  # epoch_end calls: a record's timing never spans one
        self._epoch_start: int | None = None  # the first step after the last epoch_end
        self._failed = False
        self._closed = False
        self._set_up = False
        self._next_record = 0
        self._last_step: int | None = None
        self._first_step = 0
        self._agg_steps = 0  # steps folded into the aggregates since the last read
        self._pending: _Pending | None = None
        self._last_flush = 0.0
        self._layers: list[str] = []
        self._groups: list[tuple[str, list[Any]]] = []
        self._layer_of: dict[int, int] = {}
        self._agg: Any = None
        self._folds_itself = False  # the loop's compiled step calls fold(): record() does not
        self._fold_count: Any = None  # fold()'s own step counter, without an optimizer
        self._writers: RunWriters | None = None
        self._finalizer: Any = None
        self._fold_fn = tf.function(self._fold_step, autograph=False)
        self._fold_concrete: dict[Any, Any] = {}
        self._stats_fn = tf.function(self._stats_step, autograph=False, reduce_retracing=True)
        self._delta_fn = tf.function(self._delta_step, autograph=False, reduce_retracing=True)
        self._read_agg_fn = tf.function(self._read_aggregates, autograph=False)

    # ---- the public methods: each is guarded, so an internal error never reaches the loop ----

    @property
    def enabled(self) -> bool:
        """False once recording stopped (after an internal error, or :meth:`close`)."""
        return not (self._failed or self._closed)

    def will_record(self, step: int) -> bool:
        """Whether :meth:`record` at ``step`` records the gradient statistics."""
        return self.enabled and int(step) >= self._next_record

    def record(
        self,
        step: Any,
        grads: Sequence[Any],
        variables: Sequence[Any] | None = None,
        *,
        loss: Any = None,
    ) -> bool:
        """Hands over one step's gradients; call it before the optimizer applies them.

        On a recorded step (see ``interval``) it computes the statistics of the gradients and
        of the weights and keeps the weights; the next call (or :meth:`close`) measures the
        update the optimizer applied in between and writes the step's record. On any other
        step it only folds the loss and the global gradient norm into the running aggregates.

        Never raises: the first internal error (a broken input included) is reported once as a
        ``RuntimeWarning`` and recording stops; training goes on.

        Args:
            step: The global step (a Python int, or a scalar tensor such as
                ``optimizer.iterations``), never decreasing from call to call.
            grads: The gradients, one per variable; None for a variable that got none (Keras
                and TensorFlow give None for a variable the loss does not depend on).
            variables: The variables of ``grads``, in the same order; None:
                ``model.trainable_variables``.
            loss: The batch loss the gradients are of (a scalar, or per-example losses, which
                are averaged); None records no ``batch_loss``.

        Returns:
            True when this step's statistics were recorded.
        """
        if not self.enabled:
            return False
        try:
            return self._record(step, grads, variables, loss)
        except Exception as err:
            self._fail(err)
            return False

    def fold(self, grads: Sequence[Any], loss: Any = None, *, step: Any = None) -> None:
        """Folds one step's loss and global gradient norm into the running aggregates from
        inside the loop's compiled step (``tf.function``), before the optimizer applies the
        gradients: the few operations join the step's own graph, and :meth:`record` then does
        nothing on the steps it does not record (no call into TensorFlow at all). Without it,
        :meth:`record` folds each step in a call of its own, which costs a small model's step
        about a tenth.

        Never raises: an error is reported once and recording stops, the step is unchanged.

        Args:
            grads: The gradients (None entries are skipped).
            loss: The batch loss (a scalar, or per-example losses, which are averaged); None
                folds no loss.
            step: The step (a scalar tensor); None: the optimizer's ``iterations``, read
                before the update (else a counter of the folds).
        """
        if not self.enabled:
            return
        try:
            self._fold_in_graph(grads, loss, step)
        except Exception as err:
            self._fail(err)

    def epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Writes epoch scalars as the callback does: ``epoch_<name>`` in ``train``, a
        ``val_<name>`` as ``epoch_<name>`` in ``validation``, and ``epoch_learning_rate``;
        also writes the running aggregates of the steps since the last record.

        Args:
            epoch: The epoch index.
            logs: ``name -> value``, e.g. ``{"loss": 0.31, "val_loss": 0.35}``.
        """
        if not self.enabled:
            return
        try:
            self._epoch_end(int(epoch), dict(logs or {}))
        except Exception as err:
            self._fail(err)

    def flush(self) -> None:
        """Writes what is pending and flushes the event files."""
        if not self.enabled:
            return
        try:
            self._write_pending()
            self._write_aggregates()
            if self._writers is not None:
                self._writers.flush()
                self._last_flush = time.monotonic()
        except Exception as err:
            self._fail(err)

    def close(self) -> None:
        """Writes what is pending and closes the event files; later calls record nothing."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._pending = None
        writers, self._writers = self._writers, None
        if writers is not None:
            try:
                writers.close()
            except Exception as err:
                _warn(f"closing the event files failed: {type(err).__name__}: {err}")

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the bodies ----

    def _record(self, step: Any, grads: Any, variables: Any, loss: Any) -> bool:
        if tf.inside_function():
            raise RuntimeError(
                "Recorder.record() runs eagerly: call it outside tf.function (return the "
                "gradients from the compiled step)"
            )
        now = time.perf_counter()
        step = int(step) if isinstance(step, int) else int(np.asarray(step))
        if self._last_step is not None and step < self._last_step:
            raise ValueError(f"steps must not decrease: step {step} after {self._last_step}")
        recording = step >= self._next_record
        if self._cost.watching:
            self._cost.saw(step, now, self._epochs, recording=recording)
        if self._pending is not None and self._pending.snapshot is not None:
            # The update of the recorded step was applied since: measure it (no read yet).
            self._pending.delta = self._delta_fn(self._pending.snapshot)
            self._pending.snapshot = None
        if variables is None:
            variables = self.model.trainable_variables
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"record() got {len(grads)} gradients for {len(variables)} variables")
        if not self._set_up:
            self._setup(step)
            self._first_step = step
        if self._epoch_start is None:
            self._epoch_start = step
        self._last_step = step
        if step < self._next_record and self._folds_itself:
            # The compiled step folded this step itself: nothing to do until the next record.
            self._agg_steps += 1
            return False
        pairs = [(dense(g), v) for g, v in zip(grads, variables, strict=True) if g is not None]
        loss_t = None if loss is None else tf.reduce_mean(tf.cast(loss, tf.float64))
        step_t = tf.constant(float(step), tf.float64)
        if step < self._next_record:
            if pairs:
                self._fold(loss_t, [tf.convert_to_tensor(g) for g, _ in pairs], step_t)
                self._agg_steps += 1
            return False
        if self.interval is None:
            # The loop's first steps trace (its step and this one's functions), an epoch's
            # start its data.
            since = max(self._first_step, self._epoch_start)
            self._cost.started(step, now, self._epochs, since=since)
            self._interval = self._cost.interval(self._base_interval, self._interval_cap)
        self._next_record = next_record_after(step, self._interval, dense=self.interval is None)
        self._write_pending()  # the previous record (its update measured at the last call)
        per_layer: list[list[Any]] = [[] for _ in self._groups]
        unowned: list[Any] = []
        for grad, variable in pairs:
            index = self._layer_of.get(id(variable), self._layer_of.get(_value_id(variable)))
            (unowned if index is None else per_layer[index]).append(grad)
        learning_rate = current_learning_rate(self.optimizer)
        packed, snapshot = self._stats_fn(
            per_layer, unowned, loss_t, step_t, bool(pairs) and not self._folds_itself
        )
        self._agg_steps = 0
        self._pending = _Pending(
            step=step,
            packed=np.asarray(packed),  # the one read of a recorded step
            learning_rate=learning_rate,
            has_loss=loss_t is not None,
            snapshot=snapshot,
        )
        return True

    def _setup(self, step: int) -> None:
        """Groups the variables by layer (the model is built by now) and writes the run info."""
        self._set_up = True
        self._groups = layer_groups(self.model)
        self._layers = [path for path, _ in self._groups]
        for index, (_, group) in enumerate(self._groups):
            for variable in group:
                self._layer_of[id(variable)] = index
                self._layer_of[_value_id(variable)] = index
        self._aggregates()
        strategy = tf.distribute.get_strategy()
        if not is_chief(strategy):
            return
        writers = self._writers = RunWriters(self.log_dir)
        self._finalizer = weakref.finalize(self, writers.close)
        info = run_info(
            self.model,
            self.optimizer,
            strategy,
            layers=self._layers,
            interval=self._interval,
            dense_steps=DENSE_STEPS if self.interval is None else 0,
            activation_interval=0,
            script=None,
            loss=self.loss_fn,
        )
        writers.train.document(metadata.RUN_INFO_TAG, info, step, metadata.KIND_RUN_INFO)
        writers.train.flush()
        self._last_flush = time.monotonic()

    def _write_pending(self) -> None:
        """Writes the pending record, its update measured (now, if no call measured it yet)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if pending.delta is None and pending.snapshot is not None:
            pending.delta = self._delta_fn(pending.snapshot)
        n = len(self._layers)
        packed = pending.packed
        grads = packed[: 1 + 3 * n]
        weight_norms = packed[1 + 3 * n : 1 + 4 * n]
        loss = float(packed[1 + 4 * n]) if pending.has_loss else None
        aggregates = packed[2 + 4 * n :]
        deltas = np.asarray(pending.delta) if pending.delta is not None else np.zeros(n)
        weights = np.stack([weight_norms, deltas], axis=1).reshape(-1) if n else None
        values = statistics(
            self._layers,
            grads=grads,
            learning_rate=pending.learning_rate,
            weights=weights,
            loss=loss,
        )
        values.update(aggregate_values(aggregates))
        writers = self._writers
        if writers is not None and values:
            writers.train.stats(values, pending.step)
            now = time.monotonic()
            if now - self._last_flush >= FLUSH_SECONDS:
                self._last_flush = now
                writers.flush()

    def _write_aggregates(self) -> None:
        """Writes the running aggregates of the steps since the last read, at the last step."""
        if self._agg is None or self._agg_steps == 0 or self._last_step is None:
            return
        self._agg_steps = 0
        values = aggregate_values(np.asarray(self._read_agg_fn()))
        if self._writers is not None and values:
            self._writers.train.stats(values, self._last_step)

    def _epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self._epochs += 1
        self._epoch_start = None
        self._write_pending()
        self._write_aggregates()
        writers = self._writers
        if writers is None:
            return
        train, validation = epoch_scalars(logs, self.optimizer)
        for name, number in train.items():
            writers.train.scalar(f"epoch_{name}", number, epoch)
        for name, number in validation.items():
            writers.validation.scalar(f"epoch_{name}", number, epoch)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_SECONDS:
            self._last_flush = now
            writers.flush()

    def _fail(self, err: BaseException) -> None:
        """Reports the first internal error once, then stops recording."""
        if self._failed:
            return
        self._failed = True
        self._pending = None
        _warn(f"recording stopped after an internal error: {type(err).__name__}: {err}")
        if self._writers is not None:
            with contextlib.suppress(Exception):
                self._writers.flush()

    # ---- graph side: compiled once per structure of the gradients ----

    def _aggregates(self) -> Any:
        """The running aggregates' variable, made at first use (maybe while the loop's step
        is traced: made so that the trace does not run twice)."""
        if self._agg is None:
            with tf.init_scope():
                self._agg = untracked_variable(
                    tf.constant(AGG_START, tf.float64), name="fitdiag_agg"
                )
                self._fold_count = untracked_variable(
                    tf.constant(0, tf.int64), name="fitdiag_folds"
                )
        return self._agg

    def _fold_in_graph(self, grads: Sequence[Any], loss: Any, step: Any) -> None:
        tensors = [tf.convert_to_tensor(dense(g)) for g in grads if g is not None]
        if not tensors:
            return
        agg = self._aggregates()
        if step is None:
            iterations = getattr(self.optimizer, "iterations", None)
            step = iterations if iterations is not None else self._fold_count.assign_add(1) - 1
        step_t = tf.cast(tf.convert_to_tensor(step), tf.float64)
        loss_t = None if loss is None else tf.reduce_mean(tf.cast(loss, tf.float64))
        fold_into(agg, loss_t, global_norm(tensors), step_t)
        self._folds_itself = True

    def _fold(self, loss: Any, grads: list[Any], step: Any) -> None:
        """Folds a step that records nothing into the aggregates, through the concrete
        function of its signature (a call without tf.function's argument matching costs
        half as much: this is the cost of every step of the loop)."""
        key = (loss is None, tuple((g.dtype, tuple(g.shape)) for g in grads))
        concrete = self._fold_concrete.get(key)
        if concrete is None:
            concrete = self._fold_concrete[key] = self._fold_fn.get_concrete_function(
                loss, grads, step
            )
        concrete(loss, grads, step)

    def _fold_step(self, loss: Any, grads: list[Any], step: Any) -> None:
        fold_into(self._agg, loss, global_norm(grads), step)

    def _stats_step(
        self,
        per_layer: list[list[Any]],
        unowned: list[Any],
        loss: Any,
        step: Any,
        has_grads: bool,
    ) -> tuple[Any, list[list[Any]]]:
        total, entries = grad_entries(per_layer, unowned)
        if has_grads:
            fold_into(self._agg, loss, total, step)
        snapshot = [[tf.identity(_tensor(v)) for v in group] for _, group in self._groups]
        weight_norms = group_norms(snapshot)
        tail = tf.stack([tf.constant(np.nan, tf.float64) if loss is None else loss])
        packed = tf.concat([tf.stack([total]), entries, weight_norms, tail], axis=0)
        return tf.concat([packed, self._read_aggregates()], axis=0), snapshot

    def _delta_step(self, snapshot: list[list[Any]]) -> Any:
        return group_norms(
            [
                [_tensor(v) - old for v, old in zip(group, olds, strict=True)]
                for (_, group), olds in zip(self._groups, snapshot, strict=True)
            ]
        )

    def _read_aggregates(self) -> Any:
        """The running aggregates, restarted (the first non-finite steps are kept)."""
        return read_and_restart(self._agg)


def _tensor(variable: Any) -> Any:
    """A variable's current value as a tensor (a Keras variable's backing tf.Variable)."""
    return tf.convert_to_tensor(
        variable.value if isinstance(variable, keras.Variable) else variable
    )


def _value_id(variable: Any) -> int:
    """The id of a Keras variable's backing tf.Variable (a loop may pass either)."""
    try:
        return id(variable.value) if isinstance(variable, keras.Variable) else id(variable)
    except Exception:
        return id(variable)


def _warn(message: str) -> None:
    warn(message, stacklevel=4)
