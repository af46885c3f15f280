"""The gradient probe of the PyTorch backend: the optimizer's ``apply`` wrapped (eager).

Keras's torch trainer runs ``train_step`` eagerly: the loss goes through the outer optimizer's
``scale_loss``, the gradients through the innermost optimizer's ``apply`` (after a
``LossScaleOptimizer`` unscaled them). The probe wraps both methods for the callback's
``fit()`` (restored at train end). Every step computes its global gradient norm (three small
kernels) and keeps it and its batch loss, as device tensors, in one slot of a ring of Python
references (no device write); the step and whether it had a loss are kept in numpy beside
it. An armed step also measures the per-layer statistics, copying the weights before the
update. Nothing is read back (``.cpu()``) before a record or an aggregates read, which stacks
the ring's tensors once; the callback reads at least every half ring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import torch

from tb_fitdiag.probes import RING_ROWS, BackendProbe, record_values, same_groups, warn


class TorchProbe(BackendProbe):
    """Records the callback's statistics on the PyTorch backend (see the module's docstring)."""

    backend = "PyTorch"

    def __init__(
        self,
        model: Any,
        groups: list[tuple[str, list[Any]]],
        on_error: Callable[[BaseException], None],
    ) -> None:
        super().__init__(model, groups, on_error)
        # Slot -> (batch loss, global norm), 0-d device tensors (the norm twice without a loss).
        self.ring: list[tuple[Any, Any] | None] = [None] * RING_ROWS
        self.steps = np.full(RING_ROWS, -1.0)
        self.has_loss = np.zeros(RING_ROWS, dtype=bool)
        self.step = 0  # the optimizer's iterations at the next apply
        self._installed: list[tuple[Any, str]] = []
        self._loss: Any = None
        self._applied = False

    @staticmethod
    def unsupported(model: Any) -> str | None:
        """Why this probe cannot record the model's training, or None."""
        if model.jit_compile is True:
            return "gradient statistics are not recorded under jit_compile=True on PyTorch"
        return None

    def fits(self, model: Any, groups: list[tuple[str, list[Any]]]) -> bool:
        """Whether this probe still matches the model (same optimizer and variables)."""
        return bool(
            self.model is model
            and self.outer is model.optimizer
            and same_groups(self.groups, groups)
        )

    def install(self) -> None:
        """Wraps ``scale_loss`` and ``apply`` (until :meth:`uninstall`), disarmed."""
        self.uninstall()
        self.step = int(np.asarray(self.inner.iterations))
        self._patch(self.inner, "apply", self._wrap_apply(self.inner.apply))
        self._patch(self.outer, "scale_loss", self._wrap_scale_loss(self.outer.scale_loss))

    def uninstall(self) -> None:
        """Restores the optimizer's methods."""
        for owner, name in reversed(self._installed):
            vars(owner).pop(name, None)
        self._installed = []
        self._armed = None

    def read(self, step: int, layers: Sequence[str]) -> dict[str, tuple[float, str]]:
        """What the armed step ``step`` recorded, and the aggregates: ``tag -> (value, kind)``."""
        record, self._record = self._record, None
        values: dict[str, tuple[float, str]] = {}
        if record is not None and record[0] == step:
            values, self.rate = record_values(layers, record[1].detach().cpu().numpy())
        elif not self._applied:
            warn(
                f"optimizer {type(self.inner).__name__} was not applied through "
                "Optimizer.apply; gradient norms are not recorded"
            )
            self._applied = True  # said once
        values.update(self.read_aggregates())
        return values

    def read_aggregates(self) -> dict[str, tuple[float, str]]:
        """The running aggregates of the steps since the last read: ``tag -> (value, kind)``."""
        slots = [i for i, pair in enumerate(self.ring) if pair is not None]
        if not slots:
            return self.folded.fold(np.empty((0, 4)))
        tensors = [t for i in slots for t in self.ring[i]]  # type: ignore[union-attr]
        # torch.stack promotes a loss of another dtype (float16, float64) with the norms.
        values = torch.stack(tensors).detach().double().cpu().numpy().reshape(-1, 2)
        rows = np.column_stack(
            [self.steps[slots], values[:, 0], values[:, 1], self.has_loss[slots]]
        )
        return self.folded.fold(rows)

    def wait(self) -> None:
        """Waits until the steps so far have run where they run on a CUDA device's queue."""
        pair = self.ring[(self.step - 1) % RING_ROWS]
        if pair is not None and pair[1].device.type == "cuda":
            torch.cuda.synchronize(pair[1].device)

    # -- the wrappers (every step of the callback's fit) --

    def _patch(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        object.__setattr__(owner, name, wrapper)
        self._installed.append((owner, name))

    def _wrap_scale_loss(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def scale_loss(loss: Any) -> Any:
            self._loss = loss.detach() if isinstance(loss, torch.Tensor) else None
            return original(loss)

        return scale_loss

    def _wrap_apply(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def apply(grads: Any, trainable_variables: Any = None) -> Any:
            if trainable_variables is None:
                return original(grads, trainable_variables)
            try:
                before = self._before(list(grads), list(trainable_variables))
            except Exception as err:  # the probe must never break the user's train step
                self.on_error(err)
                return original(grads, trainable_variables)
            result = original(grads, trainable_variables)
            if before is not None:
                try:
                    self._after(before, list(trainable_variables))
                except Exception as err:
                    self.on_error(err)
            return result

        return apply

    def _before(self, grads: list[Any], variables: list[Any]) -> Any:
        """Writes the step's ring row; on an armed step, measures the gradients and copies the
        weights (returns what :meth:`_after` needs, else None)."""
        self._applied = True
        present = [g for g in grads if g is not None]
        loss, self._loss = self._loss, None
        step, self.step = self.step, self.step + 1
        if not present:
            return None
        norms = torch.stack(torch._foreach_norm(present)).float()
        total = torch.linalg.vector_norm(norms)
        slot = step % RING_ROWS
        self.ring[slot] = (total if loss is None else loss.reshape(()), total)
        self.steps[slot], self.has_loss[slot] = float(step), loss is not None
        armed, self._armed = self._armed, None
        if armed is None:
            return None
        return self._measure(armed, grads, variables, norms * norms, total, loss)

    def _measure(
        self,
        armed: int,
        grads: list[Any],
        variables: list[Any],
        squares: Any,
        total: Any,
        loss: Any,
    ) -> Any:
        n = len(self.groups)
        owned: list[list[int]] = [[] for _ in range(n)]  # each layer's entries of variables
        for index, variable in enumerate(variables):
            layer = self.layer_index.get(id(variable))
            if layer is not None:
                owned[layer].append(index)
        # squares holds the present gradients' entries: map each gradient to its entry.
        entry: dict[int, int] = {}
        for index, grad in enumerate(grads):
            if grad is not None:
                entry[index] = len(entry)
        minus = total.new_full((3,), -1.0)
        parts: list[Any] = [total.reshape(1)]
        for entries in owned:
            members = [i for i in entries if grads[i] is not None]
            if not members:
                parts.append(minus)  # no gradient reached this layer
                continue
            size = float(max(sum(grads[i].numel() for i in members), 1))
            square = squares[[entry[i] for i in members]].sum()
            zeros = torch.stack([(grads[i] == 0).sum() for i in members]).sum()
            bad = torch.stack([(~torch.isfinite(grads[i])).sum() for i in members]).sum()
            parts.append(torch.stack([torch.sqrt(square), zeros.float() / size, bad.float()]))
        rate = keras.ops.convert_to_tensor(self.inner.learning_rate).detach().float().reshape(1)
        rate = rate.clone()
        copies = [[variables[i].value.detach().float().clone() for i in m] for m in owned]
        tail = (
            total.new_zeros(2)
            if loss is None
            else torch.stack([loss.reshape(()).float(), total.new_ones(())])
        )
        return armed, parts, rate, owned, copies, tail

    def _after(self, before: Any, variables: list[Any]) -> None:
        """Measures the update of an armed step and keeps its record (read at :meth:`read`)."""
        armed, parts, rate, owned, copies, tail = before
        weights: list[Any] = []
        for members, old in zip(owned, copies, strict=True):
            if not members:
                weights.append(rate.new_zeros(2))
                continue
            delta = [
                variables[i].value.detach().float() - o for i, o in zip(members, old, strict=True)
            ]
            weights.append(torch.stack([_norm(old), _norm(delta)]))
        self._record = (armed, torch.cat([*parts, rate, *weights, tail]))


def _norm(tensors: list[Any]) -> Any:
    """The L2 norm over several float32 tensors."""
    return torch.sqrt(torch.stack([(t * t).sum() for t in tensors]).sum())
