"""The gradient probe of the JAX backend: two jitted train steps beside Keras's own.

Keras's JAX trainer keeps the model state in its jitted loop and attaches it to the variables
only when asked (``jax_state_sync``), so the probe never reads the model. It builds two train
steps with the signature of Keras's (``(state, data) -> (logs, state)``), jitted as Keras jits
its own, each also taking and returning the ring of per-step rows:

* the light step (every ordinary step) writes one row ``[step, batch loss, global gradient norm,
  has loss]`` of a ring (:class:`tb_fitdiag.probes.Ring`), inside the same compiled program as
  the update; the reads fold the new rows in numpy;
* the recording step (an armed step) also returns the per-layer statistics as one array.

The global norm of a light step is a reduction over every gradient, which XLA's CPU code runs
beside the update: on a small model with sub-millisecond steps it can cost a tenth of the step.
So the light steps measure it only where it costs at most ``NORM_BUDGET`` of a step: the probe
times the norm on the weights and the recording steps (which synchronize anyway) once it has a
few, and until then, and where it costs more, a light step writes ``UNMEASURED`` for its norm.
The recording steps always measure it; the loss of every step is kept either way.

Both call the model's own ``train_step`` with the optimizer's ``stateless_apply`` (which
receives the gradients, the weights before the update and returns them after it) and the
model's ``_update_metrics_variables`` (which receives the unscaled batch loss) wrapped while
they are traced. The outputs stay on the device until the callback reads a record or the
aggregates: a read waits for that step, and for nothing else.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tb_fitdiag.probes import (
    RING_ROWS,
    UNMEASURED,
    BackendProbe,
    record_values,
    same_groups,
    warn,
)

# The light steps compute the global gradient norm where it costs at most this share of a step.
NORM_BUDGET = 0.01

# Recording steps timed (after the first, which compiles) before the norm is decided on.
_TIMED_RECORDS = 3


class JaxProbe(BackendProbe):
    """Records the callback's statistics on the JAX backend (see the module's docstring)."""

    backend = "JAX"

    def __init__(
        self,
        model: Any,
        groups: list[tuple[str, list[Any]]],
        on_error: Callable[[BaseException], None],
    ) -> None:
        super().__init__(model, groups, on_error)
        # The layer of each entry of the state's trainable variables (None: no layer's).
        self.layer_of = [self.layer_index.get(id(v)) for v in model.trainable_variables]
        self.plain: Any = None  # Keras's train function, put back at uninstall
        self.function: Any = None
        self.carry = jnp.asarray(np.full((RING_ROWS, 4), -1.0), dtype=jnp.float32)
        self._saw_gradients = True  # until a traced step shows otherwise
        self._warned = False
        compiled = bool(model.jit_compile) and not model.run_eagerly
        jit: Callable[..., Any] = (
            functools.partial(jax.jit, donate_argnums=(0, 2)) if compiled else (lambda f: f)
        )
        self._light = jit(functools.partial(self._step, False, False))
        self._light_norm = jit(functools.partial(self._step, False, True))
        self._recording = jit(functools.partial(self._step, True, True))
        # Whether light steps compute the global norm: None until decided (they do not).
        self.per_step_norm: bool | None = None
        # (step, when it was done, seconds from its dispatch) of the recording steps while the
        # norm is undecided.
        self._timed: list[tuple[int, float, float]] = []

    @staticmethod
    def unsupported(model: Any) -> str | None:
        """Why this probe cannot record the model's training, or None."""
        from keras.src.distribution import distribution_lib

        if distribution_lib.distribution() is not None:
            return "gradient statistics are not recorded under a keras.distribution on JAX"
        if not callable(getattr(model, "_make_function", None)):
            return "this Keras version builds its JAX train function differently"
        return None

    def fits(self, model: Any, groups: list[tuple[str, list[Any]]]) -> bool:
        """Whether this probe still matches the model (same train function and variables)."""
        return bool(
            self.model is model
            and self.outer is model.optimizer
            and self.plain is not None
            and self.plain is model.train_function
            and same_groups(self.groups, groups)
        )

    def install(self) -> None:
        """Puts the probe's train function in place of Keras's (disarmed)."""
        model = self.model
        if model.train_function is None:
            model.make_train_function()
        self.plain = model.train_function
        if self.function is None:
            self.function = model._make_function(self._run)
        object.__setattr__(model, "train_function", self.function)
        self._armed = None

    def uninstall(self) -> None:
        """Puts Keras's train function back."""
        if self.plain is not None and self.model.train_function is self.function:
            object.__setattr__(self.model, "train_function", self.plain)
        self._armed = None

    def read(self, step: int, layers: Sequence[str]) -> dict[str, tuple[float, str]]:
        """What the armed step ``step`` recorded, and the aggregates: ``tag -> (value, kind)``."""
        record, self._record = self._record, None
        values: dict[str, tuple[float, str]] = {}
        if not self._saw_gradients and not self._warned:
            self._warned = True
            warn(
                f"the train step does not apply gradients through {type(self.outer).__name__}"
                ".stateless_apply; gradient norms are not recorded"
            )
        packed = None if record is None or record[0] != step else np.asarray(record[1])
        if packed is not None and not packed[0] < 0:  # a negative norm: no gradients seen
            values, self.rate = record_values(layers, packed)
        values.update(self.read_aggregates())
        return values

    def wait(self) -> None:
        """Waits until the steps dispatched so far have run (each one writes the ring)."""
        self.carry.block_until_ready()

    def read_aggregates(self) -> dict[str, tuple[float, str]]:
        """The running aggregates of the steps since the last read: ``tag -> (value, kind)``."""
        return self.folded.fold(np.asarray(self.carry))

    # -- the train function (Python, every step) --

    def _run(self, state: Any, data: Any) -> tuple[Any, Any]:
        step, self._armed = self._armed, None  # one record per arming
        try:
            if step is None:
                if self.per_step_norm is None and len(self._timed) > _TIMED_RECORDS:
                    self.per_step_norm = self._norm_fits(state[0])
                light = self._light_norm if self.per_step_norm else self._light
                logs, state, self.carry = light(state, data, self.carry)
            else:
                begin = time.perf_counter()
                logs, state, self.carry, record = self._recording(state, data, self.carry)
                if self.per_step_norm is None:
                    # Timed while undecided: the wait is the step's own work (and what was
                    # queued before it), paid by a few records only.
                    record.block_until_ready()
                    done = time.perf_counter()
                    self._timed.append((step, done, done - begin))
                self._record = (step, record)
            return logs, state
        except Exception as err:
            # Tracing the wrapped step failed (before any buffer was donated): stop recording
            # and run Keras's own step.
            self.on_error(err)
            return self._keras_step(state, data)

    def _norm_fits(self, trainable: Any) -> bool:
        """Whether the global norm of tensors shaped as the gradients (the weights) costs at
        most ``NORM_BUDGET`` of a step.

        A step's time is the least of two upper bounds, over the recording steps timed (the
        first, which compiled, left out): a recording step's time from its dispatch to its
        end (its own time where nothing was queued before it, as in the first dense steps), and
        the time per step between the ends of two (the wall time of a step, where light steps
        queue up between records). Both count more than a light step's work: the share is if
        anything underestimated."""
        arrays = list(trainable)
        if not arrays:
            return False
        norm = jax.jit(lambda xs: _norm([_squares(x) for x in xs]))
        nothing = jax.jit(lambda xs: jnp.float32(0.0))

        def seconds(function: Any) -> float:
            float(function(arrays))  # compiles (a scalar: its read waits for it)
            runs = []
            for _ in range(5):
                begin = time.perf_counter()
                float(function(arrays))
                runs.append(time.perf_counter() - begin)
            return min(runs)

        cost = max(0.0, seconds(norm) - seconds(nothing))
        timed = self._timed[1:]
        spans = [took for _, _, took in timed] + [
            (t2 - t1) / (s2 - s1)
            for (s1, t1, _), (s2, t2, _) in itertools.pairwise(timed)
            if s2 > s1
        ]
        step = min(spans)
        return cost <= NORM_BUDGET * step

    def _keras_step(self, state: Any, data: Any) -> tuple[Any, Any]:
        model = self.model
        if model.jit_compile and not model.run_eagerly:
            return jax.jit(model.train_step, donate_argnums=0)(state, data)  # type: ignore[no-any-return]
        return model.train_step(state, data)  # type: ignore[no-any-return]

    # -- the jitted step (traced once per kind) --

    def _step(self, record: bool, norm: bool, state: Any, data: Any, carry: Any) -> tuple[Any, ...]:
        seen: dict[str, Any] = {}
        model, outer, inner = self.model, self.outer, self.inner
        apply = outer.stateless_apply
        update = getattr(model, "_update_metrics_variables", None)

        def stateless_apply(optimizer_variables: Any, grads: Any, trainable: Any) -> Any:
            mapping = list(zip(outer.variables, optimizer_variables, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                seen["step"] = jnp.asarray(inner.iterations.value, jnp.float32)
                seen["rate"] = jnp.asarray(
                    keras.ops.convert_to_tensor(inner.learning_rate), jnp.float32
                )
                scale = getattr(outer, "dynamic_scale", None)  # a LossScaleOptimizer's
                seen["scale"] = None if scale is None else jnp.asarray(scale.value, jnp.float32)
            seen["grads"], seen["before"] = list(grads), list(trainable)
            new_trainable, new_optimizer = apply(optimizer_variables, grads, trainable)
            seen["after"] = list(new_trainable)
            return new_trainable, new_optimizer

        def update_metrics_variables(
            metrics_variables: Any, loss: Any, *args: Any, **kw: Any
        ) -> Any:
            seen["loss"] = loss
            return update(metrics_variables, loss, *args, **kw)  # type: ignore[misc]

        object.__setattr__(outer, "stateless_apply", stateless_apply)
        if update is not None:
            object.__setattr__(model, "_update_metrics_variables", update_metrics_variables)
        try:
            logs, state = model.train_step(state, data)
        finally:
            vars(outer).pop("stateless_apply", None)
            vars(model).pop("_update_metrics_variables", None)

        grads = seen.get("grads")
        self._saw_gradients = grads is not None
        loss = seen.get("loss")
        loss = None if loss is None else jnp.reshape(jnp.asarray(loss, jnp.float32), ())
        if grads is None:  # a train step that applies no gradients: nothing to record
            packed = jnp.full((4 + 5 * len(self.groups),), -1.0, jnp.float32)
            return (logs, state, carry, packed) if record else (logs, state, carry)
        if seen["scale"] is not None:
            grads = [g / seen["scale"] for g in grads]
        squares = [_squares(g) for g in grads] if norm else []
        total = _norm(squares) if norm else jnp.float32(UNMEASURED)
        row = jnp.stack(
            [
                seen["step"],
                jnp.float32(0.0) if loss is None else loss,
                total,
                jnp.float32(0.0 if loss is None else 1.0),
            ]
        )
        slot = jnp.mod(seen["step"], RING_ROWS).astype(jnp.int32)
        carry = jax.lax.dynamic_update_slice(carry, row[None, :], (slot, jnp.int32(0)))
        if not record:
            return logs, state, carry
        return logs, state, carry, self._packed(seen, grads, squares, total, loss)

    def _packed(
        self, seen: dict[str, Any], grads: list[Any], squares: list[Any], total: Any, loss: Any
    ) -> Any:
        n = len(self.groups)
        per_layer: list[list[int]] = [[] for _ in range(n)]
        for index, layer in enumerate(self.layer_of):
            if layer is not None and index < len(grads):
                per_layer[layer].append(index)
        entries: list[Any] = []
        for members in per_layer:
            if not members:
                entries.extend([jnp.float32(-1.0)] * 3)
                continue
            size = float(max(sum(int(np.prod(grads[i].shape)) for i in members), 1))
            entries.append(_norm([squares[i] for i in members]))
            entries.append(sum((jnp.sum(grads[i] == 0) for i in members), 0) / size)
            entries.append(sum((jnp.sum(~jnp.isfinite(grads[i])) for i in members), 0))
        weights: list[Any] = []
        before, after = seen["before"], seen["after"]
        for members in per_layer:
            old = [jnp.asarray(before[i], jnp.float32) for i in members]
            delta = [
                jnp.asarray(after[i], jnp.float32) - o for i, o in zip(members, old, strict=True)
            ]
            for part in (old, delta):
                weights.append(_norm([_squares(p) for p in part]))
        tail = [jnp.float32(0.0), jnp.float32(0.0)] if loss is None else [loss, jnp.float32(1.0)]
        values = [total, *entries, seen["rate"], *weights, *tail]
        return jnp.stack([jnp.asarray(v, jnp.float32) for v in values])


def _norm(squares: Sequence[Any]) -> Any:
    """The global norm from the tensors' sums of squares (:func:`_squares`)."""
    return jnp.sqrt(sum(squares, jnp.float32(0.0)))


def _squares(tensor: Any) -> Any:
    """The sum of squares, in float32 (as a contraction: XLA's CPU code for it is faster than
    for a product and a sum)."""
    value = jnp.asarray(tensor, jnp.float32)
    return jnp.einsum("...,...->", value, value)
