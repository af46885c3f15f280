"""Gradient probes for the JAX and PyTorch backends of Keras 3.

``FitDiagCallback`` records the same statistics on every backend; how it gets at the applied
gradients depends on the backend. On TensorFlow, its own ``_GradientProbe`` traces a second
train function. Here:

* :mod:`tb_fitdiag.probes.jax_probe` jits two train steps beside Keras's own (a light one, with
  the running aggregates, and a recording one) that call the model's ``train_step`` with the
  optimizer's ``stateless_apply`` wrapped, and carries the statistics out as extra outputs;
* :mod:`tb_fitdiag.probes.torch_probe` wraps the optimizer's ``apply`` (eager), measuring every
  step's global norm into a ring and the per-layer statistics on recording steps only.

Both keep the callback's probe interface (``arm``, ``disarm``, ``read``, ``read_aggregates``,
``uninstall``, ``nan``, ``rate``) and read device values only at a record or an aggregates
read. Neither imports TensorFlow; the NaN-origin replay (TensorFlow only) says it is
unavailable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from tb_fitdiag.gradient_stats import AGG_START, aggregate_values, statistics
from tb_fitdiag.gradient_stats import warn as stats_warn

# Rows of every probe's per-step ring (the TensorFlow probe's too): the callback reads the
# aggregates at least every RING_ROWS // 2 steps.
RING_ROWS = 256

# The norm column of a ring row whose step did not compute its global gradient norm.
UNMEASURED = -1.0

# How the callback's fitdiag/nonfinite_origin document ends on these backends.
NAN_NOTE = "the replay of a failing batch needs the TensorFlow backend"


def backend_probe(
    model: Any,
    groups: list[tuple[str, list[Any]]],
    previous: Any,
    *,
    on_error: Callable[[BaseException], None],
) -> Any:
    """The installed (and disarmed) gradient probe of this backend, or None with a warning.

    Args:
        model: The compiled model.
        groups: Its layers' trainable variables (:func:`tb_fitdiag.gradient_stats.layer_groups`).
        previous: The probe of the model's last ``fit()``, reused when it still fits the model.
        on_error: Called with an internal error; the probe then does nothing more.
    """
    backend = keras.backend.backend()
    probe_class: Any
    if backend == "jax":
        from tb_fitdiag.probes.jax_probe import JaxProbe

        probe_class = JaxProbe
    elif backend == "torch":
        from tb_fitdiag.probes.torch_probe import TorchProbe

        probe_class = TorchProbe
    else:
        warn(
            f"gradient statistics are not recorded on the {backend} backend; recording scalars only"
        )
        return None
    if isinstance(previous, probe_class) and previous.fits(model, groups):
        previous.on_error = on_error
        previous.restart_firsts()
        previous.install()
        return previous
    reason = probe_class.unsupported(model)
    if reason is not None:
        warn(f"{reason}; recording scalars only")
        return None
    probe = probe_class(model, groups, on_error)
    probe.install()
    return probe


def record_values(
    layers: Sequence[str], packed: Any
) -> tuple[dict[str, tuple[float, str]], float | None]:
    """A recording step's values, ``tag -> (value, kind)``, and its learning rate.

    ``packed`` is ``[global norm, (norm, zero fraction, non-finite) per layer, learning rate,
    (weight norm, update norm) per layer, batch loss, has loss]``, as both probes write it.
    """
    n = len(layers)
    packed = np.asarray(packed, dtype=np.float64)
    grads = packed[: 1 + 3 * n]
    rate = float(packed[1 + 3 * n])
    weights = packed[2 + 3 * n : 2 + 5 * n]
    loss, has_loss = float(packed[2 + 5 * n]), bool(packed[3 + 5 * n] > 0)
    values = statistics(
        layers,
        grads=grads,
        learning_rate=rate,
        weights=weights,
        loss=loss if has_loss else None,
    )
    return values, rate if math.isfinite(rate) else None


class Ring:
    """The running aggregates from a ring of per-step rows ``[step, batch loss, global norm,
    has loss]`` that the train step writes on the device (one small write per step); each read
    folds the rows written since the last one, in numpy. A norm of ``UNMEASURED`` marks a step
    whose norm was not computed (a light JAX step where it would cost too much): it counts in
    neither the largest norm nor the non-finite gradients.

    Attributes:
        seen: The last step folded.
        firsts: The first non-finite loss and gradient steps (kept across reads: facts of the
            whole run).
    """

    def __init__(self) -> None:
        self.seen = -1.0
        self.firsts = np.array([np.inf, np.inf])

    def restart(self) -> None:
        """Forgets the first non-finite steps (a later fit() of the model tells its own)."""
        self.firsts = np.array([np.inf, np.inf])

    def fold(self, rows: Any) -> dict[str, tuple[float, str]]:
        """The aggregates of the new rows as ``tag -> (value, kind)`` (nothing without rows);
        a row's step below 0 marks a row never written."""
        return aggregate_values(self.fold_packed(rows))

    def fold_packed(self, rows: Any, *, halves: bool = False) -> Any:
        """The aggregates of the new rows in the layout of ``AGG_START``.

        Args:
            rows: The ring, ``[step, loss, norm, has loss]`` rows in any order.
            halves: The third column holds half the squared global norm (the TensorFlow
                probe's ring: two operations fewer a step), not the norm.
        """
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        rows = rows[rows[:, 0] > self.seen]
        packed = AGG_START.copy()
        packed[6:] = self.firsts
        if rows.size == 0:
            return packed
        steps, loss, norm, has_loss = rows.T
        self.seen = float(steps.max())
        packed[5] = float(rows.shape[0])
        if has_loss.min() > 0 and np.isfinite(rows[:, 1:3]).all():
            # Every step had a finite loss and gradient (almost every read): a few reductions.
            packed[0], packed[1] = loss.max(), -loss.min()
            top = float(norm.max())
            if top >= 0:  # else no step of these measured its norm
                packed[2] = math.sqrt(2.0 * top) if halves else top
            return packed
        measured = ~(norm < 0)  # NaN is measured (and non-finite)
        if halves:
            norm = np.sqrt(2.0 * np.where(measured, norm, 0.0))
        with_loss = has_loss > 0
        loss_ok = with_loss & np.isfinite(loss)
        norm_ok = np.isfinite(norm) & measured
        if loss_ok.any():
            packed[0] = loss[loss_ok].max()
            packed[1] = -loss[loss_ok].min()
        if norm_ok.any():
            packed[2] = norm[norm_ok].max()
        packed[3] = float(np.count_nonzero(with_loss & ~loss_ok))
        norm_bad = measured & ~norm_ok
        packed[4] = float(np.count_nonzero(norm_bad))
        for slot, bad in ((0, with_loss & ~loss_ok), (1, norm_bad)):
            if bad.any():
                self.firsts[slot] = min(self.firsts[slot], steps[bad].min())
        packed[6:] = self.firsts
        return packed


class BackendProbe:
    """What the JAX and PyTorch probes share: the model and its optimizers, the arming, the
    folding of the per-step rows (``folded``), and no NaN-origin replay.

    Subclasses set ``backend`` (its name in the origin document) and record ``_record =
    (step, packed)`` at an armed step.
    """

    nan: Any = None  # no NaN-origin replay on this backend
    nan_note = NAN_NOTE
    backend = ""

    def __init__(
        self,
        model: Any,
        groups: list[tuple[str, list[Any]]],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.model = model
        self.groups = groups
        self.on_error = on_error
        self.outer = model.optimizer
        self.inner = innermost(self.outer)
        self.nan_unavailable = f"this run uses the {self.backend} backend"
        # Variable id -> the index of the layer (group) that owns it.
        self.layer_index = {id(v): i for i, (_, variables) in enumerate(groups) for v in variables}
        self.rate: float | None = None
        self.folded = Ring()
        self._armed: int | None = None
        self._record: tuple[int, Any] | None = None

    def arm(self, step: int) -> None:
        """Makes the next train step the recording one."""
        self._armed = step

    def disarm(self) -> None:
        """Makes the following train steps the light ones."""
        self._armed = None

    def restart_firsts(self) -> None:
        """Forgets the first non-finite steps of an earlier fit (a later fit() reuses it)."""
        self.folded.restart()

    def wait(self) -> None:
        """Waits until the steps dispatched so far have run (the callback's clock of what a
        record costs); nothing where steps run as they are called."""


def innermost(optimizer: Any) -> Any:
    """The optimizer inside any wrappers (a ``LossScaleOptimizer``'s inner optimizer)."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def same_groups(a: list[tuple[str, list[Any]]], b: list[tuple[str, list[Any]]]) -> bool:
    """Whether two layer groupings hold the same variables under the same paths."""
    return [(path, [id(v) for v in vs]) for path, vs in a] == [
        (path, [id(v) for v in vs]) for path, vs in b
    ]


def warn(message: str) -> None:
    """The one warning of a probe (the callback's form: ``fitdiag: ...``)."""
    stats_warn(message, stacklevel=4)
