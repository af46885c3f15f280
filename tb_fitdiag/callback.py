"""The Keras callback that records gradient health while ``model.fit`` runs.

The callback computes statistics and hands them to :mod:`tb_fitdiag.summary`; it never
diagnoses. This module imports Keras at import time (the class must subclass
``keras.callbacks.Callback``), and TensorFlow only when the TensorFlow backend's probe first
uses it; on the JAX and PyTorch backends the probes of :mod:`tb_fitdiag.probes` record instead,
and TensorFlow need not be installed. ``tb_fitdiag`` imports this module only when
``FitDiagCallback`` is used.

How the applied gradients are captured without a second backward pass: at train begin the
callback wraps three methods of the model's optimizer (restored at train end) and builds a second
train function beside Keras's own; only its trace contains the wrappers:

* ``scale_loss`` of the outer optimizer receives the batch loss;
* ``apply`` of the innermost optimizer (inside a ``LossScaleOptimizer``, so gradients are
  unscaled) brackets the real update, to measure ``|w_after - w_before|``;
* ``_all_reduce_sum_gradients`` of the innermost optimizer returns the gradients after clipping
  and after the cross-replica sum, exactly as the update step receives them.

Before a recording step the callback puts the recording function in ``model.train_function``
(Keras looks it up for every batch); it runs the same update as Keras's function and also writes
the statistics into a few non-trainable variables, which the callback reads before the next
batch. Every other step runs Keras's own function, untouched.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from tb_fitdiag import metadata, sites  # noqa: F401 (sites: layers note where they are built)
from tb_fitdiag.deferred import tensorflow as tf
from tb_fitdiag.gradient_stats import (
    AGG_START,
    DEFAULT_INTERVAL,
    DENSE_STEPS,
    FLUSH_SECONDS,
    MIN_RECORDS,  # noqa: F401 (the callback's schedule: read here by tests and benchmarks)
    START_STEPS,
    RecordCost,
    aggregate_values,
    as_float,
    auto_interval,
    dense,
    epoch_scalars,
    fold_into,
    grad_entries,
    group_norms,
    half_squares,
    interval_cap,
    is_chief,
    layer_groups,
    multi_worker,
    next_record_after,
    read_and_restart,
    run_info,
    statistics,
    warn,
)
from tb_fitdiag.live import STOP_ON, LiveDiagnosis
from tb_fitdiag.metadata import unlocated
from tb_fitdiag.probes import RING_ROWS, Ring, backend_probe, innermost, same_groups
from tb_fitdiag.summary import RunWriters

if TYPE_CHECKING:  # the replay is TensorFlow's: imported where the TensorFlow probe uses it
    from tb_fitdiag.origin import NanStash

_is_chief = is_chief  # its name before gradient_stats held it (tests read it here)

# The live diagnosis at epoch ends takes at most this share of the training time so far, and
# at most LIVE_EPOCH_SECONDS per epoch on average (it is skipped at an epoch end that would
# exceed either; the first non-finite loss and train end always get one). A small model's
# diagnosis takes a few milliseconds and runs at every epoch end; one of 200 layers with
# thousands of records takes ~20 ms and runs every few epochs.
LIVE_BUDGET = 0.005
# The light train step of ordinary steps keeps a failing batch (one conditional, ~20 us a
# step on a CPU) only where a step takes this long or longer: where the conditional costs at
# most LIVE_BUDGET of it. On faster steps a failing batch is kept at record steps only.
KEEP_EVERY_STEP_FROM = 20e-6 / LIVE_BUDGET
# Batch begins, a step apart or more within an epoch, whose median time per step decides it.
_TIMED_GAPS = 8
LIVE_EPOCH_SECONDS = 0.005

_ACTIVATION_KINDS = ("relu", "sigmoid", "tanh")
# A sigmoid output within this distance of 0 or 1 (a tanh output within it of -1 or 1, scaled)
# counts as saturated: its local derivative is below ~1% of the maximum.
_SATURATION_MARGIN = 0.01


@dataclass
class _ModelState:
    """What must survive between ``fit()`` calls on one model."""

    next_step: int = 0
    next_epoch: int = 0
    next_record: int = 0
    next_activation: int = 0
    # The recording train function of the last fit(), reused while Keras's own stays the same,
    # so that repeated fit() calls do not retrace it.
    probe: Any = None
    # On TensorFlow, the probe of each locate_nonfinite setting: fits that alternate callbacks
    # of both settings retrace neither.
    probes: dict[bool, Any] = field(default_factory=dict)
    # What a record costs this model on this machine (the automatic interval's measure).
    record_cost: RecordCost = field(default_factory=RecordCost)


# The attribute that keeps a model's _ModelState, so that a second fit() (even with a new
# callback) continues both axes. On the model itself, not in a weak dictionary: the state's
# recording function refers to the model, which would keep a weak key alive forever.
_STATE_ATTRIBUTE = "_fitdiag_state"


def _model_state(model: Any) -> _ModelState:
    """The model's fitdiag state, created on first use (set around Keras's attribute tracking)."""
    state = vars(model).get(_STATE_ATTRIBUTE)
    if not isinstance(state, _ModelState):
        state = _ModelState()
        object.__setattr__(model, _STATE_ATTRIBUTE, state)
    return state


class FitDiagCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Records per-layer gradient health, losses and metrics for the fitdiag TensorBoard tab.

    Example::

        model.fit(x, y, validation_split=0.2, epochs=20,
                  callbacks=[FitDiagCallback(log_dir="logs/run1")])

    Args:
        log_dir: The run's log directory; events go to ``<log_dir>/train`` and
            ``<log_dir>/validation``, the layout of ``keras.callbacks.TensorBoard``.
        interval: Record gradient statistics every ``interval`` optimizer steps. None (the
            default) chooses it: every step for the first ``DENSE_STEPS`` steps, then every
            ``planned steps / MIN_RECORDS`` steps, at most every ``DEFAULT_INTERVAL``, or
            more sparsely where a record costs more than ``RECORD_BUDGET`` of the steps between
            two (timed while training; at most every ``MAX_INTERVAL``, and never fewer than
            ``MIN_RECORDS`` records in the planned steps). Whatever
            the interval, running aggregates kept inside every train step (largest and
            smallest batch loss, largest global gradient norm, counts of non-finite losses and
            gradients, the first non-finite step) are written with each record and at each
            epoch end, so no extreme between two records is lost.
        activation_interval: Record activation statistics on ``probe_data`` every this many
            steps; 0 (the default) turns them off.
        probe_data: One fixed batch of model inputs for the activation statistics (an array, a
            list or dict of arrays for multi-input models, or an ``(x, y)`` tuple whose ``y`` is
            ignored).
        write_scalars: Also write ``epoch_loss``, ``epoch_<metric>`` and
            ``epoch_learning_rate`` (skipped when a ``keras.callbacks.TensorBoard`` writes to
            the same ``log_dir`` in the same ``fit``).
        lint_script: True to lint the training script (``sys.argv[0]``) with fitlint at train
            begin, a path to lint that file instead, False or None to skip linting.
        lint_timeout: Seconds after which a lint that has not finished is recorded as an error.
        live: Diagnose what has been recorded at every epoch end (and at the first record that
            sees a non-finite loss) and print each new finding once, as one line under Keras's
            progress bar (``verbose=0`` silences it; a handler on the ``fitdiag`` logger gets
            the lines instead of standard output). The findings are also written as the
            ``fitdiag/live_findings`` event.
        stop_on: ``"error"`` or ``"warning"``: stop training (``model.stop_training``) at the
            end of the epoch or record where the live diagnosis first raises a finding of that
            severity or worse, and say why. None (the default) never stops.
        locate_nonfinite: Keep the first batch whose loss or gradient is NaN/Inf, with the
            weights it ran with (one extra copy of the trainable weights), and replay it once
            to find the layer, op and source line where the first non-finite value came from;
            written as the ``fitdiag/nonfinite_origin`` event. Single device and TensorFlow
            backend only (under a replicated strategy, or on JAX or PyTorch, the event says it
            could not locate). False turns it off.

    Raises:
        ValueError: On an invalid option.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        interval: int | None = None,
        activation_interval: int = 0,
        probe_data: Any = None,
        write_scalars: bool = True,
        lint_script: bool | str | os.PathLike[str] | None = True,
        lint_timeout: float = 10.0,
        live: bool = True,
        stop_on: str | None = None,
        locate_nonfinite: bool = True,
    ) -> None:
        super().__init__()
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
        ):
            raise ValueError(f"interval must be a positive integer or None, got {interval!r}")
        if (
            isinstance(activation_interval, bool)
            or not isinstance(activation_interval, int)
            or activation_interval < 0
        ):
            raise ValueError(
                f"activation_interval must be a non-negative integer, got {activation_interval!r}"
            )
        if activation_interval > 0 and probe_data is None:
            raise ValueError("activation_interval > 0 needs probe_data (one batch of inputs)")
        if isinstance(lint_timeout, bool) or not isinstance(lint_timeout, (int, float)):
            raise ValueError(f"lint_timeout must be a number of seconds, got {lint_timeout!r}")
        if not lint_timeout > 0:
            raise ValueError(f"lint_timeout must be positive, got {lint_timeout!r}")
        if stop_on not in STOP_ON:
            raise ValueError(f"stop_on must be None, 'error' or 'warning', got {stop_on!r}")
        if stop_on is not None and not live:
            raise ValueError("stop_on needs live=True (the live diagnosis decides when to stop)")
        self.log_dir = os.fspath(log_dir)
        self.interval = interval
        self._interval = interval or DEFAULT_INTERVAL  # the interval of the current fit()
        self.activation_interval = activation_interval
        self.probe_data = probe_data
        self.write_scalars = bool(write_scalars)
        self.lint_script = lint_script
        self.lint_timeout = float(lint_timeout)
        self.live = bool(live)
        self.stop_on = stop_on
        self.locate_nonfinite = bool(locate_nonfinite)

        self._failed = False
        self._live: LiveDiagnosis | None = None
        self._live_seconds = 0.0
        self._live_pending: list[str] = []
        self._live_nonfinite = False
        self._train_clock = 0.0  # when the current fit() began
        self._trained_seconds = 0.0  # the time of this callback's earlier fit() calls
        self._live_epochs = 0  # epoch ends seen by the live diagnosis
        self._epoch = 0
        self._aggregates_read_at = 0
        self._quiet_until = -1  # batch begins before this step have nothing to do
        self._writers: RunWriters | None = None
        self._probe: _GradientProbe | None = None
        self._activations: _ActivationProbe | None = None
        self._lint: _LintJob | None = None
        self._linted = False
        self._state = _ModelState()
        self._is_writer = True
        self._keras_tensorboard_beside = False
        self._epoch_start = 0
        self._last_batch = -1
        self._pending: int | None = None
        self._armed = False
        self._layers: list[str] = []
        self._start_step = 0
        self._setup_done = False
        self._last_flush = 0.0
        self._groups: list[tuple[str, list[Any]]] = []
        self._origin_said = False  # the fitdiag/nonfinite_origin document was written
        self._step_clock: tuple[int, float, int] | None = None  # (step, time, epoch)
        self._step_times: list[float] = []  # seconds per step between timed batch begins
        self._base_interval = self._interval  # the interval before the record cost widens it
        self._interval_cap = self._interval
        # The step made a record after a failure not kept (once), None until one is asked.
        self._record_asked: int | None = None
        self._first_failure: tuple[int, str] | None = None  # (step, what) the reads showed

    # ---- Keras hooks: each body is guarded, so an internal error never reaches training. ----

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Installs the gradient probe, writes the run info and starts linting."""
        self._failed = False
        self._guard(self._train_begin)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Notes the global step at which the epoch starts."""
        self._guard(self._epoch_begin, epoch)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Reads the previous recording step's statistics and arms the next one."""
        step = self._epoch_start + batch
        if step < self._quiet_until:
            # Nothing to read, arm or measure at this step (most steps): only count it.
            self._last_batch = batch
            self._state.next_step = step + 1
            return
        self._guard(self._batch_begin, batch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Writes the pending statistics and the epoch scalars, then flushes."""
        self._guard(self._epoch_end, epoch, dict(logs or {}))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Writes what is pending, restores the optimizer and closes the event files."""
        self._trained_seconds += time.monotonic() - self._train_clock
        if not self._failed:
            self._guard(self._train_end)
        self._teardown()

    # ---- the bodies ----

    def _train_begin(self) -> None:
        siblings = _sibling_callbacks(self)
        first = next((cb for cb in siblings if isinstance(cb, FitDiagCallback)), self)
        if first is not self:
            # Two recorders would share the model's step counter and optimizer patches and
            # write each other's steps; the first one records, this one stands down.
            self._failed = True
            _warn(
                f"a second FitDiagCallback in one fit() records nothing (log_dir="
                f"{self.log_dir!r}); the first one (log_dir={first.log_dir!r}) records the run"
            )
            return
        model = self.model
        strategy = _strategy(model)
        self._is_writer = is_chief(strategy)
        self._state = _model_state(model)
        optimizer = model.optimizer
        iterations = int(np.asarray(optimizer.iterations)) if optimizer is not None else 0
        self._start_step = max(iterations, self._state.next_step)
        self._state.next_step = self._start_step
        self._state.next_record = max(self._state.next_record, self._start_step)
        self._state.next_activation = max(self._state.next_activation, self._start_step)
        self._epoch_start = self._start_step
        self._aggregates_read_at = self._start_step
        self._quiet_until = -1
        self._last_batch = -1
        self._pending = None
        self._armed = False
        self._origin_said = False
        self._step_clock = None
        self._step_times = []
        self._record_asked = None
        self._first_failure = None
        self._interval = self.interval or _auto_interval(self.params)
        self._base_interval = self._interval
        # Workers of a multi-worker strategy keep the planned schedule: one that followed each
        # worker's own timings could make them run different train functions at one step.
        planned = _planned_steps(self.params)
        self._interval_cap = self._interval if multi_worker(strategy) else interval_cap(planned)
        self._state.record_cost.stop()
        if self.interval is None:
            # An earlier, longer fit() may have widened the interval beyond what this one's
            # plan allows: its next record comes at the latest at this fit's widest interval.
            latest = next_record_after(self._start_step - 1, self._interval_cap, dense=False)
            self._state.next_record = min(self._state.next_record, latest)
        self._keras_tensorboard_beside = any(
            isinstance(cb, keras.callbacks.TensorBoard) and _same_dir(cb.log_dir, self.log_dir)
            for cb in siblings
            if cb is not self
        )
        if self._is_writer:
            self._writers = RunWriters(self.log_dir)
            if self.live and self._live is None:
                self._live = LiveDiagnosis(stop_on=self.stop_on)
        self._train_clock = time.monotonic()

        self._setup_done = False
        self._try_setup()
        if self._writers is not None:
            script = _script_to_lint(self.lint_script)
            if script is not None and not self._linted:
                self._linted = True
                self._lint = _LintJob(script, self.lint_timeout)

    def _try_setup(self) -> None:
        """Installs the probes and writes the run info, once the model has its weights.

        A subclassed model is built by its first train step, so this runs again before each
        batch until the model is built.
        """
        model = self.model
        groups = layer_groups(model)
        if not groups and not model.built:
            return
        self._setup_done = True
        self._layers = [path for path, _ in groups]
        self._groups = groups
        if groups and model.optimizer is not None:
            if keras.backend.backend() != "tensorflow":
                self._probe = self._state.probe = backend_probe(
                    model, groups, self._state.probe, on_error=self._fail
                )
            else:
                probe = self._state.probes.get(self.locate_nonfinite)
                if isinstance(probe, _GradientProbe) and probe.fits(
                    model, groups, locate=self.locate_nonfinite
                ):
                    probe.on_error = self._fail
                    probe.patch()
                    probe.disarm()  # the light function, from the first step of this fit()
                    if probe.nan is not None:
                        probe.nan.rearm(self._start_step - 1)
                    # The first non-finite steps the reads show are this fit's: an earlier
                    # fit's (kept by the minimum) would hide every later one.
                    probe.restart_firsts()
                else:
                    probe = _GradientProbe(
                        model, groups, on_error=self._fail, locate=self.locate_nonfinite
                    )
                    probe.install()
                self._probe = self._state.probe = probe
                self._state.probes[self.locate_nonfinite] = probe
        if self.activation_interval > 0:
            self._activations = _ActivationProbe.create(model, self.probe_data)
        if self._writers is not None:
            info = self._run_info(model, _strategy(model))
            self._writers.train.document(
                metadata.RUN_INFO_TAG, info, self._start_step, metadata.KIND_RUN_INFO
            )
            self._writers.train.flush()
            if self._live is not None:
                self._live.run.run_info = dict(info)

    def _epoch_begin(self, epoch: int) -> None:
        self._say_pending()
        self._epoch = epoch
        self._collect()
        self._epoch_start = self._state.next_step
        self._last_batch = -1
        if self._probe is not None:
            self._probe.rate = None  # this epoch's reads bring its learning rate

    def _batch_begin(self, batch: int) -> None:
        step = self._epoch_start + batch
        probe = self._probe
        costing = self.interval is None and probe is not None
        due = self._due(batch, step)
        cost = self._state.record_cost
        if probe is not None and costing and (cost.watching or due):
            probe.wait()  # on JAX, the steps dispatched before are not this clock's
        begin = time.perf_counter()
        self._last_batch = batch
        if cost.watching:
            cost.saw(step, begin, self._epoch, recording=due)
        self._collect()
        if step - self._aggregates_read_at >= RING_ROWS // 2:
            # The per-step ring holds RING_ROWS steps: read it before it wraps (only when
            # records are further apart than half a ring).
            self._collect_aggregates()
        due = self._due(batch, step)  # the reads may have asked for one (a failure they found)
        if not self._setup_done:
            self._try_setup()
        probe = self._probe
        if probe is not None:
            timing = probe.nan is not None and probe.every_step is None
            if timing:
                self._time_step(probe, step, begin)
            if due:
                probe.arm(step)
                self._armed = True
                self._pending = step
                self._state.next_record = self._next_record_after(step)
                if costing:
                    since = max(self._start_step, self._epoch_start)
                    cost.started(step, begin, self._epoch, since=since)
            elif self._armed:
                probe.disarm()
                self._armed = False
        self._state.next_step = step + 1
        activations = self._activations
        if activations is not None and step >= self._state.next_activation:
            self._state.next_activation = (
                step // self.activation_interval + 1
            ) * self.activation_interval
            _sync_jax_state(self.model)  # the probe batch runs on the trained weights
            # A record timed across this measurement would count its cost as the record's.
            self._state.record_cost.stop()
            values = activations.measure()
            if self._writers is not None and values:
                self._writers.train.stats(values, step)
                if self._live is not None:
                    self._live.run.add_stats(values, step)
        self._quiet_until = self._quiet_horizon()
        if probe is not None and timing and probe.every_step is None and not self._armed:
            # The clock starts when this batch begin's own work is done, and only before light
            # steps: what is decided is whether they keep a failing batch, and a recording
            # step (every one of the first dense steps) does far more than they do.
            self._step_clock = (step, time.perf_counter(), self._epoch)

    def _due(self, batch: int, step: int) -> bool:
        """Whether this batch records: a record is due, and not moved past the epoch's first
        ``START_STEPS`` steps, where the record cost may widen the interval, so that the
        record is timed (an epoch's first steps start its data, a fit's first ones trace)."""
        if step < self._state.next_record:
            return False
        steps = (self.params or {}).get("steps")
        per_call = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        return not (
            batch < START_STEPS
            and step >= DENSE_STEPS
            and self.interval is None
            and self._interval_cap > self._base_interval
            and self._record_asked is None  # a record asked after a failure runs at once
            and isinstance(steps, int)
            and batch + per_call < steps  # this epoch has a later batch begin to run it at
        )

    def _time_step(self, probe: _GradientProbe, step: int, begin: float) -> None:
        """Times the light steps since the last timed batch begin (from the end of its work to
        the start of this one's: the callback's own reads and writes are not the steps'); once
        enough are timed, decides whether the light step keeps a failing batch (steps of
        KEEP_EVERY_STEP_FROM or more)."""
        last, self._step_clock = self._step_clock, None
        # The first two steps trace; a gap across an epoch end holds its work (validation).
        if last is None or last[2] != self._epoch or last[0] < self._start_step + 2:
            return
        if step > last[0]:
            self._step_times.append((begin - last[1]) / (step - last[0]))
        if len(self._step_times) >= _TIMED_GAPS:
            probe.every_step = float(np.median(self._step_times)) >= KEEP_EVERY_STEP_FROM

    def _quiet_horizon(self) -> int:
        """The first step from which a batch begin has work again (a record to arm, the ring
        to read, activations to measure, a step to time); -1 while a record is pending, its
        read is being timed, or set-up is not done."""
        if self._failed or self._pending is not None or self._armed or not self._setup_done:
            return -1
        cost = self._state.record_cost
        light_end = cost.light_end
        if cost.watching and light_end is None:
            return -1
        horizon = self._aggregates_read_at + RING_ROWS // 2
        if light_end is not None:
            horizon = min(horizon, light_end)
        if self._probe is not None:
            horizon = min(horizon, self._state.next_record)
        if self._activations is not None:
            horizon = min(horizon, self._state.next_activation)
        return horizon

    def _next_record_after(self, step: int) -> int:
        """The first step after ``step`` whose gradient statistics are recorded."""
        if self.interval is None:
            self._interval = self._state.record_cost.interval(
                self._base_interval, self._interval_cap
            )
        return next_record_after(step, self._interval, dense=self.interval is None)

    def _epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self._collect()
        if self._last_batch >= 0:
            executed = self._last_batch + max(1, int(getattr(self.model, "steps_per_execution", 1)))
            steps = (self.params or {}).get("steps")
            if isinstance(steps, int) and steps > 0:
                executed = min(executed, steps)
            self._state.next_step = max(self._state.next_step, self._epoch_start + executed)
        epoch_step = max(epoch, self._state.next_epoch)
        self._state.next_epoch = epoch_step + 1
        self._epoch = epoch_step
        if not (self._aggregates_read_at >= self._epoch_start and _finite_loss(logs)):
            # An epoch with a read (a record) in it and a finite loss leaves the running
            # aggregates of its last steps to the next read: one read of the graph less per
            # epoch. A non-finite loss is read (and located) now.
            self._collect_aggregates()
            self._quiet_until = -1  # a record may have been asked for
        writers = self._writers
        if writers is None:
            return
        # Under a replicated strategy and on JAX and PyTorch, the last read's rate (reading
        # it now would wait for the replicas or the device); otherwise (one device: reads
        # carry no rate) epoch_scalars reads the optimizer's now, a schedule's resolved.
        rate = self._probe.rate if self._probe is not None else None
        train, validation = epoch_scalars(logs, self.model.optimizer, learning_rate=rate)
        if self.write_scalars and not self._keras_tensorboard_beside:
            for name, number in train.items():
                writers.train.scalar(f"epoch_{name}", number, epoch_step)
            for name, number in validation.items():
                writers.validation.scalar(f"epoch_{name}", number, epoch_step)
        self._poll_lint(wait=False)
        if self._live is not None:
            self._live.run.add_epoch(
                {**train, **{f"val_{name}": v for name, v in validation.items()}}, epoch_step
            )
            trained = self._trained_seconds + time.monotonic() - self._train_clock
            budget = min(LIVE_BUDGET * trained, LIVE_EPOCH_SECONDS * (self._live_epochs + 1))
            self._live_epochs += 1
            if self._live_seconds <= budget:
                self._diagnose_live(writers)
        self._flush_now_and_then(writers)

    def _train_end(self) -> None:
        self._collect()
        self._collect_aggregates(final=True)
        self._poll_lint(wait=True)
        if self._live is not None and self._writers is not None:
            self._diagnose_live(self._writers)
        self._say_pending()

    # ---- helpers ----

    def _collect(self) -> None:
        """Reads the statistics of the pending recording step and writes them."""
        step, self._pending = self._pending, None
        probe, writers = self._probe, self._writers
        if step is None or probe is None or writers is None:
            return
        values = probe.read(step, self._layers)
        self._aggregates_read_at = step
        self._locate_nonfinite(probe, writers, values)
        if values:
            writers.train.stats(values, step)
            live = self._live
            if live is not None:
                live.run.add_stats(values, step)
                if not self._live_nonfinite and _saw_nonfinite_loss(values):
                    # The first non-finite loss: say it now, not at the epoch end.
                    self._live_nonfinite = True
                    self._diagnose_live(writers, mid_epoch=True)
            self._flush_now_and_then(writers)

    def _flush_now_and_then(self, writers: RunWriters) -> None:
        """Flushes the event files if the last flush is FLUSH_SECONDS old.

        Flushing waits for the writer thread: at most once a second, so that short epochs and
        frequent records do not pay for it every time (TensorBoard reloads every few seconds
        anyway). Train end always flushes and closes.
        """
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_SECONDS:
            self._last_flush = now
            writers.flush()

    def _collect_aggregates(self, *, final: bool = False) -> None:
        """Writes the running aggregates of the steps since the last read, at the last step
        (``final``: at train end)."""
        probe, writers = self._probe, self._writers
        if probe is None or writers is None or self._state.next_step <= self._start_step:
            return
        values = probe.read_aggregates()
        self._aggregates_read_at = self._state.next_step - 1
        self._locate_nonfinite(probe, writers, values, final=final)
        if values:
            writers.train.stats(values, self._state.next_step - 1)
            if self._live is not None:
                self._live.run.add_stats(values, self._state.next_step - 1)

    def _locate_nonfinite(
        self,
        probe: _GradientProbe,
        writers: RunWriters,
        values: dict[str, tuple[float, str]],
        *,
        final: bool = False,
    ) -> None:
        """Writes where the first non-finite loss or gradient came from, once: the replay of
        the kept batch when the probe kept one, else (a replicated strategy) why it could not.

        A failing light step that kept no batch makes the next step a record (which keeps its
        batch if it fails too); at train end (``final``) with nothing kept, says so."""
        if self._origin_said or not self.locate_nonfinite:
            return
        stash = probe.nan
        document: metadata.NonfiniteOrigin | None = None
        first = _first_nonfinite(values)
        if first is not None and first[0] < self._start_step:
            first = None  # an earlier fit's
        first = self._first_failure = first or self._first_failure  # a read without new rows
        if stash is not None and not stash.pending:
            if first is None:
                return
            asked = self._record_asked
            ran = asked is not None and self._aggregates_read_at >= asked
            if not final and not ran:
                if asked is None:
                    # Its batch was not kept: the next step's is, if it fails too.
                    self._record_asked = self._state.next_step
                    self._state.next_record = min(self._state.next_record, self._state.next_step)
                    self._quiet_until = -1
                return
            # The record asked for ran finite (the failure did not last), or the fit ended
            # first: said now, so that the weights copy, frozen by the failed ring row, moves
            # on (as after a located step) instead of staying frozen until the ring wraps.
            document = unlocated(
                first[0],
                first[1],
                "not located: the failing step ran between two records, where its batch is not "
                "kept at this step time, and "
                + ("the record after it did not fail" if ran else "no later record failed"),
            )
            stash.done()
        elif stash is not None:
            try:
                from tb_fitdiag.origin import locate

                document = locate(self.model, stash, self._groups, first)
            except Exception as err:  # the replay must never break training
                document = unlocated(
                    stash.step,
                    "loss" if float(stash.state[2]) > 0 else "gradient",
                    f"the replay failed: {type(err).__name__}: {err}".splitlines()[0],
                )
            stash.done()
        else:
            if first is None:
                return
            strategy = type(_strategy(self.model)).__name__
            document = unlocated(
                first[0],
                first[1],
                f"not located: {probe.nan_unavailable or strategy} "
                f"({getattr(probe, 'nan_note', _NAN_NOTE)})",
            )
        self._origin_said = True
        writers.train.document(
            metadata.NONFINITE_ORIGIN_TAG,
            document,
            int(document["step"]),
            metadata.KIND_NONFINITE_ORIGIN,
        )
        if self._live is not None:
            self._live.run.nonfinite_origin = dict(document)

    def _diagnose_live(self, writers: RunWriters, *, mid_epoch: bool = False) -> None:
        """Runs the live diagnosis; queues (or, mid-epoch, prints) the lines of what is new,
        writes them as the ``fitdiag/live_findings`` event, and stops training if asked."""
        live = self._live
        if live is None:
            return
        step = max(self._state.next_step - 1, self._start_step)
        check = live.check(epoch=self._epoch, step=step)
        self._live_seconds += check.seconds
        if not check.raised:
            return
        if self._lint is not None:
            # Something to say, and fitlint's findings (the likely causes, with their lines)
            # are still coming: wait for them (at most lint_timeout), then say it with them.
            live.forget(check)
            self._poll_lint(wait=True)
            check = live.check(epoch=self._epoch, step=step)
            self._live_seconds += check.seconds
        writers.train.document(
            metadata.LIVE_FINDINGS_TAG, live.document(), step, metadata.KIND_LIVE_FINDINGS
        )
        self._live_pending.extend(r.line for r in check.raised)
        if check.stop is not None:
            self._live_pending.append(check.stop)
            self.model.stop_training = True
        if mid_epoch:
            self._say_pending(mid_line=True)

    def _say_pending(self, *, mid_line: bool = False) -> None:
        """Prints the queued live lines: at an epoch begin or train end, after Keras's progress
        bar has ended its line; mid-epoch (``mid_line``) on a line of their own."""
        lines, self._live_pending = self._live_pending, []
        if not lines or (self.params or {}).get("verbose", 1) == 0:
            return
        logger = logging.getLogger("fitdiag")
        for line in lines:
            if logger.handlers:
                logger.warning(line)
            else:
                prefix = "\n" if mid_line and (self.params or {}).get("verbose") == 1 else ""
                sys.stdout.write(prefix + line + "\n")
                sys.stdout.flush()
                mid_line = False

    def _run_info(self, model: Any, strategy: Any) -> metadata.RunInfo:
        return run_info(
            model,
            model.optimizer,
            strategy,
            layers=self._layers,
            interval=self._interval if self._probe is not None else 0,
            dense_steps=DENSE_STEPS if self._probe is not None and not self.interval else 0,
            activation_interval=self.activation_interval if self._activations else 0,
            script=_script_to_lint(self.lint_script),
        )

    def _poll_lint(self, *, wait: bool) -> None:
        job = self._lint
        if job is None or self._writers is None:
            return
        result = job.poll(wait=wait)
        if result is None:
            return
        self._lint = None
        self._writers.train.document(
            metadata.STATIC_FINDINGS_TAG, result, self._start_step, metadata.KIND_STATIC_FINDINGS
        )
        if self._live is not None:
            self._live.run.static_findings = dict(result)

    def _guard(self, body: Callable[..., None], *args: Any) -> None:
        if self._failed:
            return
        try:
            body(*args)
        except Exception as err:
            self._fail(err)

    def _fail(self, err: BaseException) -> None:
        """Reports the first internal error once, then stops recording safely."""
        if self._failed:
            return
        self._failed = True
        _warn(f"recording stopped after an internal error: {type(err).__name__}: {err}")
        probe, self._probe = self._probe, None
        self._state.probe = None
        self._state.probes.clear()
        if probe is not None:
            with contextlib.suppress(Exception):
                probe.uninstall()
        if self._writers is not None:
            with contextlib.suppress(Exception):
                self._writers.flush()

    def _teardown(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            with contextlib.suppress(Exception):
                probe.uninstall()
        self._activations = None
        self._lint = None
        writers, self._writers = self._writers, None
        if writers is not None:
            with contextlib.suppress(Exception):
                writers.close()


# ------------------------------------------------------------------------------------------
# The graph side: variables written inside the compiled train step on recording steps.
# ------------------------------------------------------------------------------------------


class _GradientProbe:
    """A second train function, traced with the optimizer wrapped, that records statistics.

    Variable layouts (float64, slot 0 holds the stamp ``step + 1`` of the step that wrote them,
    so a stale read is recognized):

    * ``grads``: ``[stamp, global_norm, (norm, zero_fraction, nonfinite) per layer]``;
      ``-1`` marks a layer that got no gradient in that step;
    * ``updates``: ``[stamp, learning_rate, (weight_norm, update_norm) per layer]``;
    * ``loss``: ``[stamp, batch_loss]`` (averaged over replicas).

    And the running aggregates, updated by every train step that this probe traced (the light
    function of ordinary steps and the recording one), reset by each read:

    * ``agg``: ``[loss_max, -loss_min, grad_norm_max]`` (folded by maximum, over finite
      values), ``[nonfinite_losses, nonfinite_grads, steps]`` (by sum) and
      ``[first_nonfinite_loss_step, first_nonfinite_grad_step]`` (by minimum, +inf until there
      is one, and never reset): one variable, one read and one write per step.
    """

    def __init__(
        self,
        model: Any,
        groups: list[tuple[str, list[Any]]],
        on_error: Callable[[BaseException], None],
        locate: bool = True,
    ) -> None:
        self.model = model
        self.groups = groups
        self.on_error = on_error
        self.locate = locate
        self.strategy = model.distribute_strategy
        self.outer = model.optimizer
        self.inner = innermost(self.outer)
        self.replicas = int(self.strategy.num_replicas_in_sync)
        self.traced: set[str] = set()
        self._installed: list[tuple[Any, str]] = []
        self._reported_missing = False
        # Variable key (as the optimizer computes it) -> layer index.
        self.layer_of: dict[Any, int] = {}
        for index, (_, variables) in enumerate(groups):
            for variable in variables:
                self.layer_of[self.inner._var_key(variable)] = index
        n = len(groups)
        on_read = tf.VariableSynchronization.ON_READ
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        # What a train function traced now contains: "full" (the recording function), "light"
        # (the aggregates only: every other step of our fit()), None (Keras's own function).
        self.mode: str | None = None
        self.plain: Any = None
        self.light: Any = None
        self.light_keeping: Any = None  # the light function that keeps a failing batch
        self.recording: Any = None
        # Whether ordinary steps keep a failing batch (the callback decides from the step
        # time; None until it has, and they do not).
        self.every_step: bool | None = None
        with self.strategy.scope():
            self.stamp = tf.Variable(
                0.0,
                dtype=tf.float64,
                trainable=False,
                name="fitdiag_stamp",
                synchronization=tf.VariableSynchronization.ON_WRITE,
                aggregation=first,
            )
            self.grads = _sync_on_read(np.zeros(2 + 3 * n), "fitdiag_grads", first)
            self.updates = _sync_on_read(np.zeros(2 + 2 * n), "fitdiag_updates", first)
            self.loss = _sync_on_read(np.zeros(2), "fitdiag_loss", tf.VariableAggregation.MEAN)
            self.agg = _sync_on_read(AGG_START, "fitdiag_aggregates", first)
            # On one device, each step writes one row [step, loss, half the squared global
            # norm, has loss] of a ring instead of folding into `agg` (one scatter instead of
            # ~20 operations); the reads fold the new rows in numpy. A replicated strategy
            # folds `agg` per replica.
            self.ring: Any = None
            if _single_device(self.strategy):
                self.ring = tf.Variable(
                    np.full((RING_ROWS, 4), -1.0),
                    dtype=tf.float64,
                    trainable=False,
                    name="fitdiag_ring",
                )
            self._ring_folder = Ring()  # folds the rows of each read, keeps the first NaN steps
            # Under a replicated strategy one call reads everything (aggregated across
            # replicas) and restarts the aggregates, through its concrete function (traced at
            # the first read: a third of the cost of tf.function's call). On one device the
            # variables are plain and the ring needs no restart: each is read by the raw op
            # (a third of the concrete function's cost, and no trace at all).
            self._read_concrete: Any = None
            self.rate: float | None = None  # the learning rate, as of the last read
            self.snapshots = [
                [
                    tf.Variable(
                        tf.zeros(tuple(v.shape), dtype=v.dtype),
                        trainable=False,
                        name="fitdiag_snapshot",
                        synchronization=on_read,
                        aggregation=first,
                    )
                    for v in variables
                ]
                for _, variables in groups
            ]
            # The first failing step's batch, kept for a replay on the last finite weights (the
            # snapshots, frozen until it is located): one device only.
            self.nan: NanStash | None = None
            self.nan_unavailable: str | None = None
            if locate and self.ring is not None:
                from tb_fitdiag.origin import NanStash

                self.nan = NanStash(
                    [v for _, variables in groups for v in variables],
                    [b for buffers in self.snapshots for b in buffers],
                )
            elif locate:
                self.nan_unavailable = (
                    f"{type(self.strategy).__name__} runs each batch on several replicas"
                )
        if self.nan is not None and self.outer is not self.inner:
            # Under loss scaling a non-finite step is skipped before the ring sees it (the
            # inner optimizer never runs): only the step itself can keep its batch, or tell.
            self.every_step = True
        self._traced_loss: Any = None
        self._traced_copied: Any = None  # the trace's weight copy (whether it copied)

    def _read_and_restart(self) -> Any:
        """Everything in one vector, aggregated across replicas; restarts the aggregates (a
        replicated strategy: one device reads by :meth:`_read_once`'s raw ops)."""
        rate = tf.reshape(tf.cast(self.inner.learning_rate, tf.float64), [1])
        packed = tf.concat(
            [self.grads.read_value(), self.updates.read_value(), self.loss.read_value(), rate],
            axis=0,
        )
        return tf.concat([packed, read_and_restart(self.agg)], axis=0)

    # -- Python side --

    def install(self) -> None:
        """Wraps the optimizer methods and builds the light and the recording train functions.

        Keras's own train function is kept aside and put back at train end; the wrappers act
        only while one of ours is traced, so Keras's function never contains them.
        """
        model = self.model
        self.patch()
        optimizer = self.outer
        if not getattr(optimizer, "built", True):
            # Built here, as Keras builds it under a distribution strategy: a first trace that
            # creates the optimizer's variables is traced twice, and ours are the heavier ones.
            with self.strategy.scope():
                optimizer.build(model.trainable_variables)
        if model.train_function is None:
            model.make_train_function()
        self.plain = model.train_function
        with self._keeping_batches():
            model.make_train_function(force=True)
            self.light = model.train_function
            if self.nan is not None:  # traced only if chosen
                model.make_train_function(force=True)
                self.light_keeping = model.train_function
            model.make_train_function(force=True)
            self.recording = model.train_function
        self.disarm()

    @contextlib.contextmanager
    def _keeping_batches(self) -> Any:
        """While Keras builds our train functions, wraps what gets the batch so that a failing
        step's batch is kept: without XLA the train step itself (its one conditional notes the
        step and keeps the batch), under XLA Keras's one-step function around the compiled
        step."""
        nan, model = self.nan, self.model
        if nan is not None and getattr(model, "jit_compile", None) is False:
            # One graph: the train step keeps its batch in the conditional that notes the
            # failing step. Keras takes the bound train_step when it makes the function.
            had = vars(model).get("train_step")
            object.__setattr__(model, "train_step", nan.wrap_train_step(model.train_step))
            try:
                yield
            finally:
                if had is None:
                    vars(model).pop("train_step", None)
                else:
                    object.__setattr__(model, "train_step", had)
            return
        convert = getattr(model, "_autoconvert_optionals", None)
        if nan is None or convert is None:
            if nan is not None:
                self.nan_unavailable = "this Keras version builds its train step differently"
                self.nan = None
            yield
            return
        object.__setattr__(model, "_autoconvert_optionals", lambda f: nan.wrap_step(convert(f)))
        try:
            yield
        finally:
            vars(model).pop("_autoconvert_optionals", None)

    def fits(self, model: Any, groups: list[tuple[str, list[Any]]], *, locate: bool) -> bool:
        """Whether this probe's functions still match the model (no recompile) and the
        callback (whether it keeps a failing batch)."""
        return bool(
            self.model is model
            and self.locate == locate
            and self.outer is model.optimizer
            and self.plain is not None
            and self.plain is model.train_function
            and same_groups(self.groups, groups)
        )

    def patch(self) -> None:
        """Replaces the optimizer methods with the recording wrappers (for any retrace)."""
        inner, outer = self.inner, self.outer
        self._patch(inner, "apply", self._wrap_apply(inner.apply))
        self._patch(
            inner,
            "_all_reduce_sum_gradients",
            self._wrap_reduce(inner._all_reduce_sum_gradients),
        )
        self._patch(outer, "scale_loss", self._wrap_scale_loss(outer.scale_loss))

    def uninstall(self) -> None:
        """Restores the optimizer methods and Keras's own train function."""
        self.mode = None
        if self.plain is not None:
            self.model.train_function = self.plain
        for owner, name in reversed(self._installed):
            owner.__dict__.pop(name, None)
        self._installed = []

    def arm(self, step: int) -> None:
        """Makes the next train step the recording one, its statistics stamped ``step + 1``."""
        if self.ring is not None:  # one device: a plain variable, no strategy scope needed
            # The raw op: a third of `assign`'s cost, paid at every record between two steps.
            tf.raw_ops.AssignVariableOp(resource=self.stamp.handle, value=np.float64(step + 1))
        else:
            with self.strategy.scope():
                self.stamp.assign(float(step + 1), read_value=False)
        self.mode = "full"
        if self.nan is not None:
            self.nan.keeping = True
        _set_train_function(self.model, self.recording)

    def disarm(self) -> None:
        """Makes the following train steps the light ones (aggregates only, and the failing
        batch kept where steps are slow enough)."""
        self.mode = "light"
        light = self.light
        if self.nan is not None:
            self.nan.keeping = bool(self.every_step)
            if self.every_step and self.light_keeping is not None:
                light = self.light_keeping
        if light is not None:
            _set_train_function(self.model, light)

    def restart_firsts(self) -> None:
        """Forgets the first non-finite steps of an earlier fit (a later fit() reuses the
        probe)."""
        self._ring_folder.restart()

    def wait(self) -> None:
        """Nothing: a TensorFlow step has run when the next batch begins (on an accelerator
        that queues steps, a record's read then waits for them, and its cost reads larger)."""

    def _read(self) -> tuple[Any, Any, Any, Any]:
        """One read of everything: ``(grads, updates, loss, aggregates)``; restarts the
        aggregates."""
        if self.ring is not None:
            packed = np.asarray(self._read_once())
        else:
            with self.strategy.scope():
                packed = np.asarray(self._read_once())
        a = int(self.grads.shape[0])
        b = a + int(self.updates.shape[0])
        c = b + int(self.loss.shape[0])
        if self.nan is not None:
            self.nan.note(packed[-3:])
            packed = packed[:-3]
        rate = float(packed[c])  # the learning rate, between the loss and the aggregates
        self.rate = rate if math.isfinite(rate) else None
        rest = packed[c + 1 :]
        aggregates = (
            self._ring_folder.fold_packed(rest, halves=True) if self.ring is not None else rest
        )
        return packed[:a], packed[a:b], packed[b:c], aggregates

    def _read_once(self) -> Any:
        if self.ring is not None:
            parts = [_raw_read(v) for v in (self.grads, self.updates, self.loss)]
            # No rate: the epoch end reads the optimizer's own (epoch_scalars).
            parts.append(np.array([np.nan]))
            parts.append(_raw_read(self.ring).reshape(-1))
            if self.nan is not None:
                parts.append(_raw_read(self.nan.meta))
            return np.concatenate(parts)
        if self._read_concrete is None:
            self._read_concrete = tf.function(
                self._read_and_restart, autograph=False
            ).get_concrete_function()
        return self._read_concrete()

    def read_aggregates(self) -> dict[str, tuple[float, str]]:
        """Reads and restarts the running aggregates: ``tag -> (value, kind)``."""
        return aggregate_values(self._read()[3])

    def read(self, step: int, layers: Sequence[str]) -> dict[str, tuple[float, str]]:
        """Reads what the armed step ``step`` wrote: ``tag -> (value, kind)``."""
        grads, updates, loss, aggregates = self._read()
        if "reduce" not in self.traced and not self._reported_missing:
            self._reported_missing = True
            _warn(
                f"optimizer {type(self.inner).__name__} does not aggregate gradients through "
                "Keras's _all_reduce_sum_gradients; gradient norms are not recorded"
            )
        stamp = float(step + 1)
        fresh = updates[0] == stamp
        values = statistics(
            layers,
            grads=grads[1:] if grads[0] == stamp else None,
            learning_rate=float(updates[1]) if fresh else None,
            weights=updates[2:] if fresh else None,
            loss=float(loss[1]) if loss[0] == stamp else None,
        )
        values.update(aggregate_values(aggregates))
        return values

    def _patch(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        object.__setattr__(owner, name, wrapper)
        self._installed.append((owner, name))

    # -- graph side: these run while the recording train function is traced --

    def _guarded(self, what: str, build: Callable[[], None], *, light: bool = False) -> None:
        if self.mode is None or (self.mode == "light" and not light):
            return  # Keras's own train function (or the light one) is being traced
        try:
            build()
            self.traced.add(what)
        except Exception as err:  # a tracing problem must not break the user's train step
            self.on_error(err)

    def _wrap_scale_loss(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def scale_loss(loss: Any) -> Any:
            def stash() -> None:
                # Keras divides the loss by the replica count before scale_loss; undo it.
                value = tf.cast(loss, tf.float64)
                if value.shape.rank != 0:
                    value = tf.reshape(value, [])
                self._traced_loss = value * float(self.replicas) if self.replicas > 1 else value
                if self.nan is not None and self.outer is not self.inner:
                    # Under loss scaling a non-finite step never reaches the inner optimizer:
                    # watch the loss here.
                    self.nan.in_step(
                        self._traced_loss, None, tf.cast(self.inner.iterations, tf.float64)
                    )

            def build() -> None:
                self.loss.assign(tf.stack([self.stamp.read_value(), self._traced_loss]))

            def copy_weights() -> None:
                # Before the gradients: under loss scaling a non-finite step never reaches the
                # inner optimizer's apply, and its weights are the ones a replay needs.
                self._traced_copied = self._snapshot()

            self._traced_loss = None
            self._traced_copied = None
            self._guarded("loss_aggregates", stash, light=True)
            if self._traced_loss is not None:
                self._guarded("loss", build)
            self._guarded("snapshot", copy_weights)
            return original(loss)

        return scale_loss

    # What every train step runs, then what only the recording one runs: all built inline (a
    # nested function would cost a trace of its own, and a call at each record).

    def _fold(self, loss: Any, *, norm: Any = None, halves: Any = None) -> None:
        """Folds one step's batch loss (None when the step had none) and global gradient norm
        (given as the norm, or as half its square) into the running aggregates: a row of the
        ring on one device (half the square: two operations fewer a step), else a handful of
        vector operations on ``agg``."""
        # Read once, before the update advances it.
        iterations = tf.convert_to_tensor(self.inner.iterations)
        step = tf.cast(iterations, tf.float64)
        if self.ring is not None:
            if halves is None:
                halves = 0.5 * tf.square(norm)
            if self.nan is not None and self.outer is self.inner:
                self.nan.in_step(loss, halves, step)  # non-finite exactly when the norm is
            row = tf.stack(
                [step, 0.0 if loss is None else loss, halves, 0.0 if loss is None else 1.0]
            )
            tf.raw_ops.ResourceScatterUpdate(
                resource=self.ring.handle,
                indices=tf.math.floormod(iterations, RING_ROWS),
                updates=row,
            )
            return
        if norm is None:
            norm = tf.sqrt(2.0 * halves)
        fold_into(self.agg, loss, norm, step)

    def _record_grads(self, per_layer: list[list[Any]], unowned: list[Any]) -> Any:
        """Writes ``grads`` (per-layer norm, zero fraction, non-finite count) and returns the
        global norm. Sums of squares in float32, one ``l2_loss`` per gradient (a norm beyond
        1e19 shows as infinite); the counts are exact."""

        total, entries = grad_entries(per_layer, unowned)
        self.grads.assign(tf.concat([tf.stack([self.stamp.read_value(), total]), entries], 0))
        return total

    def _snapshot(self) -> Any:
        """Copies the weights before the update; returns whether it did (a boolean tensor):
        the copy stays frozen while a failing step waits to be replayed on it (each buffer
        then takes its own value again: a selection per tensor traces far faster than a
        conditional, and a recording step copies the weights anyway)."""
        pairs = [
            (buffer, tf.cast(variable.value, buffer.dtype))
            for buffers, (_, variables) in zip(self.snapshots, self.groups, strict=True)
            for buffer, variable in zip(buffers, variables, strict=True)
        ]
        nan = self.nan
        if nan is None:
            copies = [buffer.assign(value, read_value=False) for buffer, value in pairs]
            with tf.control_dependencies(copies):
                return tf.constant(True)
        step = tf.cast(self.inner.iterations, tf.float64)
        # Under loss scaling a failing step is skipped: the weights stay finite.
        ring = self.ring if self.outer is self.inner else None
        may = nan.may_copy_weights(step, ring)
        pairs.append((nan.weights_step, step))
        copies = [
            buffer.assign(tf.where(may, value, buffer.read_value()), read_value=False)
            for buffer, value in pairs
        ]
        with tf.control_dependencies(copies):
            return tf.identity(may)

    def _record_updates(self, rate: Any, copied: Any) -> None:
        # A step whose weights were not copied has no update to measure: its stamp says so.
        head = tf.stack([tf.where(copied, self.stamp.read_value(), -1.0), rate])
        parts: list[list[Any]] = []  # per layer: the weights before the update, the update
        for buffers, (_, variables) in zip(self.snapshots, self.groups, strict=True):
            old = [b.read_value() for b in buffers]
            parts += [old, [v.value - b for v, b in zip(variables, old, strict=True)]]
        self.updates.assign(tf.concat([head, group_norms(parts)], 0))

    def _wrap_apply(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def apply(grads: Any, trainable_variables: Any = None) -> Any:
            rates: list[Any] = []

            def before() -> None:
                # The learning rate of this step: read before the update advances iterations.
                rates.append(tf.cast(self.inner.learning_rate, tf.float64))
                # Copied at scale_loss, or here for a train step that does not call it.
                copied, self._traced_copied = self._traced_copied, None
                rates.append(self._snapshot() if copied is None else copied)

            def after() -> None:
                self._record_updates(*rates)

            self._guarded("apply", before)
            result = original(grads, trainable_variables)
            if rates:
                self._guarded("apply", after)
            return result

        return apply

    def _wrap_reduce(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def all_reduce_sum_gradients(grads_and_vars: Any) -> Any:
            reduced = original(grads_and_vars)
            loss, self._traced_loss = self._traced_loss, None

            def light() -> None:
                grads = [dense(grad) for grad, _ in list(reduced) if grad is not None]
                if grads:
                    self._fold(loss, halves=half_squares(grads))

            def build() -> None:
                per_layer: list[list[Any]] = [[] for _ in self.groups]
                unowned: list[Any] = []
                for grad, variable in list(reduced):
                    if grad is None:
                        continue
                    index = self.layer_of.get(self.inner._var_key(variable))
                    (unowned if index is None else per_layer[index]).append(dense(grad))
                self._fold(loss, norm=self._record_grads(per_layer, unowned))

            if self.mode == "light":
                self._guarded("reduce_aggregates", light, light=True)
            self._guarded("reduce", build)
            return reduced

        return all_reduce_sum_gradients


# Why a non-finite step was not located, after the reason (a backend probe says its own).
_NAN_NOTE = "fitdiag replays a failing batch only on a single device"


def _strategy(model: Any) -> Any:
    """The model's ``tf.distribute`` strategy; None on the JAX and PyTorch backends."""
    return getattr(model, "distribute_strategy", None)


def _sync_jax_state(model: Any) -> None:
    """On JAX, attaches the state that Keras's jitted loop carries to the model's variables (a
    device sync: only at a step that reads the model); elsewhere nothing."""
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        sync()


def _set_train_function(model: Any, function: Any) -> None:
    """``model.train_function = function``, past Keras's attribute tracking (which costs more
    than the rest of a switch, and has nothing to track in a function)."""
    object.__setattr__(model, "train_function", function)


def _saw_nonfinite_loss(values: dict[str, tuple[float, str]]) -> bool:
    """Whether a record's values show a non-finite loss (its batch loss or the aggregates)."""
    count = values.get(metadata.global_tag("nonfinite_loss_count"))
    if count is not None and count[0] > 0:
        return True
    loss = values.get(metadata.global_tag("batch_loss"))
    return loss is not None and not math.isfinite(loss[0])


def _finite_loss(logs: dict[str, Any]) -> bool:
    """Whether an epoch's logs hold a finite ``loss``."""
    loss = as_float(logs.get("loss"))
    return loss is not None and math.isfinite(loss)


def _first_nonfinite(values: dict[str, tuple[float, str]]) -> tuple[int, str] | None:
    """``(step, "loss" or "gradient")`` of the first non-finite step the aggregates show."""
    found = []
    for stat, trigger in (
        ("first_nonfinite_loss_step", "loss"),
        ("first_nonfinite_grad_step", "gradient"),
    ):
        entry = values.get(metadata.global_tag(stat))
        if entry is not None and math.isfinite(entry[0]):
            found.append((int(entry[0]), trigger))
    # On the same step the loss comes first: a non-finite loss makes the gradient non-finite.
    return min(found, key=lambda f: (f[0], f[1] != "loss")) if found else None


def _raw_read(variable: Any) -> Any:
    """A plain variable's value as a numpy array, by the raw read op (eager)."""
    return tf.raw_ops.ReadVariableOp(resource=variable.handle, dtype=variable.dtype).numpy()


def _single_device(strategy: Any) -> bool:
    """Whether the strategy runs one replica on one device (the default strategy, or
    OneDeviceStrategy): its variables are plain, so the ring's scatter applies."""
    return type(strategy).__name__ in ("_DefaultDistributionStrategy", "OneDeviceStrategy")


def _planned_steps(params: dict[str, Any] | None) -> int | None:
    """The ``epochs * steps`` a fit() plans, or None where Keras does not know them."""
    params = params or {}
    epochs, steps = params.get("epochs"), params.get("steps")
    if not (isinstance(epochs, int) and isinstance(steps, int) and epochs > 0 and steps > 0):
        return None
    return epochs * steps


def _auto_interval(params: dict[str, Any] | None) -> int:
    """The regular recording interval for a fit() of ``epochs * steps`` planned steps."""
    return auto_interval(_planned_steps(params))


def _sync_on_read(initial: Any, name: str, aggregation: Any) -> Any:
    return tf.Variable(
        initial,
        dtype=tf.float64,
        trainable=False,
        name=name,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=aggregation,
    )


# ------------------------------------------------------------------------------------------
# Activation statistics on a fixed probe batch.
# ------------------------------------------------------------------------------------------


class _ActivationProbe:
    """Runs the probe batch through the model and measures dead and saturated units."""

    def __init__(self, extractor: Any, targets: list[tuple[str, str]], inputs: Any) -> None:
        self.extractor = extractor
        self.targets = targets
        self.inputs = inputs

    @classmethod
    def create(cls, model: Any, probe_data: Any) -> _ActivationProbe | None:
        """Builds the probe, or warns and returns None when the model does not allow one."""
        inputs = probe_data
        if isinstance(inputs, tuple) and len(inputs) in (2, 3):
            inputs = inputs[0]
        layers = [
            (layer, kind)
            for layer in getattr(model, "layers", [])
            if (kind := _activation_kind(layer)) is not None
        ]
        if not layers:
            _warn("no relu, sigmoid or tanh layers to probe; activation statistics are off")
            return None
        try:
            model_inputs = model.inputs
            if isinstance(model_inputs, list) and len(model_inputs) == 1:
                model_inputs = model_inputs[0]
            extractor = keras.Model(model_inputs, [layer.output for layer, _ in layers])
        except Exception:
            _warn(
                "activation statistics need a functional or Sequential model with known inputs; "
                "they are off"
            )
            return None
        targets = [(getattr(layer, "path", None) or layer.name, kind) for layer, kind in layers]
        return cls(extractor, targets, inputs)

    def measure(self) -> dict[str, tuple[float, str]]:
        """Returns ``tag -> (value, kind)`` for the probed layers."""
        outputs = self.extractor(self.inputs, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        values: dict[str, tuple[float, str]] = {}
        for (path, kind), output in zip(self.targets, outputs, strict=True):
            array = np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float64)
            units = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array.reshape(-1, 1)
            if kind == "relu":
                dead = float(np.mean(np.all(units <= 0.0, axis=0)))
                values[metadata.layer_tag("dead_fraction", path)] = (
                    dead,
                    metadata.KIND_LAYER_STAT,
                )
            else:
                unit_interval = units if kind == "sigmoid" else (units + 1.0) / 2.0
                saturated = np.logical_or(
                    unit_interval < _SATURATION_MARGIN, unit_interval > 1.0 - _SATURATION_MARGIN
                )
                values[metadata.layer_tag("saturated_fraction", path)] = (
                    float(np.mean(saturated)),
                    metadata.KIND_LAYER_STAT,
                )
        return values


def _activation_kind(layer: Any) -> str | None:
    if hasattr(layer, "cell"):
        return None  # recurrent layers keep their gate activations inside
    if isinstance(layer, keras.layers.ReLU):
        plain = layer.max_value is None and not layer.negative_slope and not layer.threshold
        return "relu" if plain else None
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return name if name in _ACTIVATION_KINDS else None


# ------------------------------------------------------------------------------------------
# Linting the training script at train begin.
# ------------------------------------------------------------------------------------------


# The lint subprocess: fitlint's own command line, at a lower priority.
_LINT_MAIN = (
    "import os, sys\n"
    "try:\n    os.nice(10)\nexcept (AttributeError, OSError):\n    pass\n"
    "from fitlint.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


class _LintJob:
    """Lints one file with fitlint in a low-priority subprocess; never raises.

    A subprocess, not a thread: parsing holds the GIL, and a thread would take it from the
    training loop for milliseconds at a time; the subprocess also runs at a lower priority
    (nice 10), so on a small machine it yields the cores to training.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.result: metadata.StaticFindings | None = None
        self.thread = threading.Thread(target=self._run, name="fitdiag-lint", daemon=True)
        self.thread.start()

    def poll(self, *, wait: bool) -> metadata.StaticFindings | None:
        """The findings document, a timeout document past the deadline, or None (not yet)."""
        if wait:
            self.thread.join(max(0.0, self.deadline - time.monotonic()))
        if self.result is not None:
            return self.result
        if time.monotonic() >= self.deadline:
            return self._document("", f"fitlint did not finish within {self.timeout:g} s", [])
        return None

    def _run(self) -> None:
        digest = ""
        try:
            with open(self.path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            command = [
                sys.executable,
                "-c",
                _LINT_MAIN,
                "--format",
                "json",
                "--no-cache",
                "--exit-zero",
                "--",
                self.path,
            ]
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                check=False,
            )
            if done.returncode != 0:
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                reason = lines[-1] if lines else f"fitlint exited with {done.returncode}"
                self.result = self._document(digest, reason, [])
                return
            entries = json.loads(done.stdout or "[]")
            findings: list[metadata.StaticFinding] = [
                {
                    "code": str(entry["code"]),
                    "name": str(entry["name"]),
                    "severity": str(entry["severity"]),
                    "path": str(entry["path"]),
                    "line": int(entry["line"]),
                    "column": int(entry["column"]),
                    "message": str(entry["message"]),
                }
                for entry in entries
            ]
            self.result = self._document(digest, None, findings)
        except subprocess.TimeoutExpired:
            self.result = self._document(
                digest, f"fitlint did not finish within {self.timeout:g} s", []
            )
        except Exception as err:
            self.result = self._document(digest, f"{type(err).__name__}: {err}", [])

    def _document(
        self, digest: str, error: str | None, findings: list[metadata.StaticFinding]
    ) -> metadata.StaticFindings:
        try:
            from fitlint import __version__ as fitlint_version
        except Exception:
            fitlint_version = ""
        return {
            "version": metadata.SCHEMA_VERSION,
            "script": self.path,
            "sha256": digest,
            "fitlint_version": str(fitlint_version),
            "error": error,
            "findings": findings,
        }


def _script_to_lint(option: bool | str | os.PathLike[str] | None) -> str | None:
    if option is None or option is False:
        return None
    if option is not True:
        return os.path.abspath(os.fspath(option))
    main = sys.modules.get("__main__")
    for candidate in (sys.argv[0] if sys.argv else None, getattr(main, "__file__", None)):
        if candidate and str(candidate).endswith(".py") and os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


# ------------------------------------------------------------------------------------------
# Model inspection.
# ------------------------------------------------------------------------------------------


def _sibling_callbacks(callback: Any) -> list[Any]:
    """The callbacks of the same ``fit`` (the ``CallbackList`` that called this hook)."""
    frame: Any = sys._getframe(1)
    for _ in range(16):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        members = getattr(owner, "callbacks", None)
        if (
            isinstance(owner, keras.callbacks.CallbackList)
            and isinstance(members, list)
            and any(member is callback for member in members)
        ):
            return list(members)
        frame = frame.f_back
    for referrer in gc.get_referrers(callback):
        if isinstance(referrer, list) and any(member is callback for member in referrer):
            return list(referrer)
    return []


def _same_dir(a: Any, b: Any) -> bool:
    try:
        return bool(os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b)))
    except TypeError:
        return False


def _warn(message: str) -> None:
    warn(message, stacklevel=3)
