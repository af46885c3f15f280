"""Where the first NaN came from: the failing batch kept inside the train step, replayed once.

:class:`NanStash` keeps what a replay needs, single device only, at no cost while everything
stays finite beyond one small conditional per step, and only in the train functions that keep
a batch (the recording one always, the light one of ordinary steps where steps are slow enough
for it not to show; the callback decides):

* the last finite weights: the callback's copy of the weights at its record steps (the copy
  it keeps anyway for the update ratio, the one extra copy of the weights this needs), frozen
  from the first failing step until the failure is located. At the dense start of a fit every
  step is recorded, so an early failure is replayed on the very weights it ran with; a later
  one on those of the last record before it;
* the failing batch and its step: inside the train step, where the batch loss and the global
  gradient norm are already computed for the running aggregates, one conditional copies the
  batch if either is non-finite and nothing is kept yet. The conditional takes only the batch,
  never the weights: its cost does not grow with the model. Under XLA the compiled step notes
  the step, and Keras's one-step function around it (``_autoconvert_optionals``, which
  receives the batch) copies the batch.

A light step that keeps nothing and fails freezes the weights copy all the same: a record
step copies only while the per-step ring shows no failure since the last record. The callback
then makes the next step a record, which keeps its batch if it fails too; the replay runs that
batch (``batch_step`` in the document) on the frozen weights.

The callback reads the stash's state with its ordinary reads; the first read that finds a kept
batch calls :func:`locate`, which replays that batch eagerly on the kept weights (inside a
``keras.StatelessScope``: the model's own variables are never touched), layer by layer:

1. the inputs, labels and sample weights: non-finite values there are the data's;
2. the forward pass, each layer's output captured: the first layer whose output is non-finite
   while its inputs are finite;
3. the loss on a finite prediction;
4. the backward pass: the gradients with respect to each layer's output and weights, to find
   the layer whose backward turned a finite gradient non-finite;

and then re-runs only the guilty layer (or loss) with ``tf.debugging.enable_check_numerics``,
scoped to that call and disabled after, to name the op and the Python line of the user's code
that ran it. A batch that is finite on weights kept some steps before the failure says that
the weights of those steps made it fail. The answer is a
:class:`tb_fitdiag.metadata.NonfiniteOrigin` document of facts; the diagnosis
(``tb_fitdiag.diagnosis.origin``) tells the story from them.

Where each layer was constructed comes from :mod:`tb_fitdiag.sites`.
"""

from __future__ import annotations

import contextlib
import math
import re
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_fitdiag import metadata
from tb_fitdiag.gradient_stats import untracked_variable
from tb_fitdiag.metadata import unlocated
from tb_fitdiag.sites import construction_site, is_user_file, site_of

# The states of NanStash.meta[0].
_ARMED = 0.0  # nothing kept yet
_NOTED = 1.0  # the failing step is noted (under XLA); its batch is next
_KEPT = 2.0  # the failing step and its batch are kept: the weights stay frozen
_DONE = 3.0  # located: nothing more is kept in this fit, the weights copy moves on

# At most this many layer calls are kept while replaying (a recurrent cell is called once per
# time step); beyond it the replay names the layers seen so far.
_MAX_CALLS = 20_000

# ------------------------------------------------------------------------------------------
# The graph side.
# ------------------------------------------------------------------------------------------


class NanStash:
    """The conditional that keeps the first failing step's batch, and the guard that freezes
    the last finite weights until that step is located.

    Args:
        variables: The trainable variables (Keras variables), in a fixed order.
        kept: The buffers that the recording function copies them into at record steps, in
            the same order (the callback's snapshots): the last finite weights.
    """

    def __init__(self, variables: Sequence[Any], kept: Sequence[Any]) -> None:
        self.variables = list(variables)
        self.weights = list(kept)
        # The batch of the train step being traced, when the step keeps it itself (no XLA:
        # the step and its batch are one graph, and one conditional keeps it).
        self._batch: list[Any] | None = None
        with tf.init_scope():
            # [state, step, loss was non-finite]
            self.meta = tf.Variable(
                np.array([_ARMED, -1.0, 0.0]), dtype=tf.float64, trainable=False, name="fitdiag_nan"
            )
            # The step whose weights (before its update) the buffers hold; -1: none yet.
            self.weights_step = tf.Variable(
                -1.0, dtype=tf.float64, trainable=False, name="fitdiag_nan_weights_step"
            )
        self.data: list[Any] = []  # one variable per tensor leaf of the batch
        self._signature: list[tuple[Any, Any]] | None = None  # (dtype, rank) of each leaf
        self.structure: Any = None  # the batch's structure, tensor leaves as their index
        self.unsupported: str | None = None  # why the batch cannot be kept, when it cannot
        self.wrapped = False  # the batch hook is in the traced train function
        self.handled = False  # the callback has located (or given up on) the kept step
        self.state = np.array([_ARMED, -1.0, 0.0])
        # Whether the train function traced next keeps its failing batch: the recording one
        # always does, the light one of ordinary steps only where steps are slow enough for
        # its conditional to cost nothing that shows (the callback decides).
        self.keeping = True

    def in_step(self, loss: Any, norm: Any, step: Any) -> None:
        """Builds the in-step conditional: note the first non-finite step (and, without XLA,
        keep its batch). A finite step runs one addition, one test and the conditional, whose
        inputs are the batch and a few scalars, never the weights.

        Args:
            loss: The batch loss (float64 scalar), or None when the step has none.
            norm: The global gradient norm, or any float64 scalar that is non-finite exactly
                when it is (half its square); None where not computed.
            step: The step (float64 scalar), read before the update.
        """
        values = [v for v in (loss, norm) if v is not None]
        if not values or not self.keeping:
            return
        # NaN or Inf in either makes the sum non-finite (Inf - Inf is NaN).
        finite = tf.math.is_finite(values[0] + values[1] if len(values) == 2 else values[0])
        batch = self._batch

        def keep() -> Any:
            loss_bad = (
                tf.constant(0.0, tf.float64)
                if loss is None
                else tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float64)
            )
            copies = []
            state = _NOTED
            if batch is not None:
                copies = [
                    kept.assign(tensor, read_value=False)
                    for kept, tensor in zip(self.data, batch, strict=True)
                ]
                state = _KEPT
            with tf.control_dependencies(copies):
                self.meta.assign(
                    tf.stack([tf.constant(state, tf.float64), step, loss_bad]),
                    read_value=False,
                )
            return tf.constant(True)

        def keep_the_first() -> Any:
            armed = tf.equal(tf.unstack(self.meta.read_value())[0], _ARMED)
            return tf.cond(armed, keep, lambda: tf.constant(False))

        # A finite step runs only the test: the state is read in the failing branch.
        tf.cond(finite, lambda: tf.constant(False), keep_the_first)

    def may_copy_weights(self, step: Any, ring: Any = None) -> Any:
        """Whether the recording step ``step`` (float64 scalar) may refresh the weights copy
        (a boolean tensor): not while an earlier failing step waits to be located.

        Args:
            step: The recording step.
            ring: The callback's ring of per-step rows ``[step, loss, half the squared
                gradient norm, has loss]``, or None. Given, an earlier step of the ring that
                failed where nothing kept its batch (a light step that keeps nothing) freezes
                the copy too: the weights before this step already went through that update.
                While armed, ``meta[1]`` is the last step of an earlier fit, whose rows are
                stale.
        """
        # Unstacked, not sliced: a slice is a handful of operations to trace, this is one.
        state, last, _ = tf.unstack(self.meta.read_value())
        armed = tf.equal(state, _ARMED)
        if ring is not None:
            steps, losses, halves, _ = tf.unstack(ring.read_value(), axis=1)
            earlier = tf.logical_and(tf.less(steps, step), tf.greater(steps, last))
            failed = tf.logical_not(tf.math.is_finite(losses + halves))
            armed = tf.logical_and(
                armed, tf.logical_not(tf.reduce_any(tf.logical_and(earlier, failed)))
            )
        return tf.logical_or(tf.logical_or(armed, tf.equal(state, _DONE)), tf.equal(last, step))

    def wrap_train_step(self, train_step: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Wraps the model's train step (without XLA): the step's own conditional keeps the
        batch as it notes the failing step, so a finite step runs one conditional, not two."""

        def train_step_keeping_the_batch(data: Any) -> Any:
            try:
                self._batch = self._batch_variables(data) if self.keeping else None
            except Exception as err:  # a tracing problem must not break the train step
                self.unsupported = f"the batch could not be kept ({type(err).__name__}: {err})"
            try:
                return train_step(data)
            finally:
                self._batch = None

        self.wrapped = True
        return train_step_keeping_the_batch

    def wrap_step(self, step_function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Wraps Keras's one-step function: after the step, keep the batch if it failed."""

        def one_step_keeping_the_batch(data: Any) -> Any:
            result = step_function(data)
            try:
                if self.keeping:
                    self._keep_batch(data)
            except Exception as err:  # a tracing problem must not break the train step
                self.unsupported = f"the batch could not be kept ({type(err).__name__}: {err})"
            return result

        self.wrapped = True
        return one_step_keeping_the_batch

    def _batch_variables(self, data: Any) -> list[Any] | None:
        """The batch's tensors, once the variables that keep them exist (None: not kept)."""
        leaves = tf.nest.flatten(data)
        tensors = [leaf for leaf in leaves if isinstance(leaf, (tf.Tensor, tf.Variable))]
        if (
            any(isinstance(leaf, (tf.SparseTensor, tf.RaggedTensor)) for leaf in leaves)
            or not tensors
        ):
            self.unsupported = "the batch holds sparse or ragged tensors, which are not kept"
            return None
        signature = [(t.dtype, t.shape.rank) for t in tensors]
        if signature != self._signature:
            with tf.init_scope():
                self.data = [
                    untracked_variable(
                        tf.zeros([0] * (rank or 0), dtype=dtype)
                        if dtype != tf.string
                        else tf.constant("", shape=[0] * (rank or 0)),
                        name="fitdiag_nan_batch",
                        shape=tf.TensorShape(None),
                    )
                    for dtype, rank in signature
                ]
            self._signature = signature
        index = iter(range(len(tensors)))
        self.structure = tf.nest.pack_sequence_as(
            data,
            [
                next(index) if isinstance(leaf, (tf.Tensor, tf.Variable)) else None
                for leaf in leaves
            ],
        )
        return tensors

    def _keep_batch(self, data: Any) -> None:
        tensors = self._batch_variables(data)
        if tensors is None:
            return
        meta = self.meta.read_value()

        def keep() -> Any:
            copies = [
                kept.assign(tensor, read_value=False)
                for kept, tensor in zip(self.data, tensors, strict=True)
            ]
            with tf.control_dependencies(copies):
                self.meta.assign(
                    tf.stack([tf.constant(_KEPT, tf.float64), meta[1], meta[2]]),
                    read_value=False,
                )
            return tf.constant(True)

        tf.cond(tf.equal(meta[0], _NOTED), keep, lambda: tf.constant(False))

    # -- Python side --

    def rearm(self, last_step: int) -> None:
        """Keeps the next failing step (a later fit() of the same model, which continues
        after ``last_step``: the ring's rows up to it are an earlier fit's)."""
        state = np.array([_ARMED, float(last_step), 0.0])
        self.meta.assign(state)
        self.state = state
        self.handled = False

    def done(self) -> None:
        """Marks the kept step located: the weights copy moves on, nothing more is kept."""
        self.handled = True
        self.meta.assign(np.array([_DONE, self.state[1], self.state[2]]))

    def note(self, meta: Any) -> None:
        """Takes the state read with the callback's packed read."""
        self.state = np.asarray(meta, dtype=np.float64)

    @property
    def pending(self) -> bool:
        """True when a failing step was kept and not yet located."""
        return not self.handled and float(self.state[0]) in (_NOTED, _KEPT)

    @property
    def step(self) -> int:
        return int(self.state[1])

    def batch(self) -> Any:
        """The kept batch, in its structure (None where the batch had no tensor)."""
        values = [tf.convert_to_tensor(v.read_value()) for v in self.data]
        return tf.nest.map_structure(lambda i: None if i is None else values[i], self.structure)


# ------------------------------------------------------------------------------------------
# The replay.
# ------------------------------------------------------------------------------------------


class _Call:
    """One layer call seen while replaying: the layer, its tensor inputs and its outputs."""

    __slots__ = ("args", "kwargs", "layer", "original", "outputs")

    def __init__(self, layer: Any, original: Any, args: Any, kwargs: Any, outputs: Any):
        self.layer = layer
        self.original = original
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    def inputs(self) -> list[Any]:
        return _tensors((self.args, self.kwargs))

    def rerun(self) -> Any:
        """The same call again, through ``__call__`` (inside the layer's autocast scope, so
        that its variables are read in its compute dtype, as in training)."""
        return self.layer(*self.args, **self.kwargs)

    def outs(self) -> list[Any]:
        return _tensors(self.outputs)


def _tensors(structure: Any) -> list[Any]:
    return [t for t in tf.nest.flatten(structure) if isinstance(t, tf.Tensor)]


def _nonfinite(tensor: Any) -> int:
    if not tensor.dtype.is_floating:
        return 0
    return int(tf.math.count_nonzero(tf.logical_not(tf.math.is_finite(tensor))))


def _any_nonfinite(tensors: Sequence[Any]) -> bool:
    return any(_nonfinite(t) for t in tensors if t is not None)


def _largest(tensors: Sequence[Any]) -> float | None:
    values = [
        float(tf.reduce_max(tf.abs(tf.where(tf.math.is_finite(t), t, tf.zeros_like(t)))))
        for t in tensors
        if t is not None and t.dtype.is_floating and int(tf.size(t)) > 0
    ]
    return max(values) if values else None


def _kind_of(tensors: Sequence[Any]) -> str:
    """``"NaN"`` when any of the tensors holds a NaN, else ``"Inf"``."""
    for t in tensors:
        if t is not None and t.dtype.is_floating and bool(tf.reduce_any(tf.math.is_nan(t))):
            return "NaN"
    return "Inf"


def _layer_name(layer: Any) -> str:
    return str(getattr(layer, "path", None) or layer.name)


@contextlib.contextmanager
def _capturing(model: Any, calls: list[_Call]) -> Any:
    """Records every layer call of ``model`` (its own excluded) while the block runs."""
    patched = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if "call" in vars(layer):
            continue
        original = layer.call

        def call(
            *args: Any, __original: Any = original, __layer: Any = layer, **kwargs: Any
        ) -> Any:
            outputs = __original(*args, **kwargs)
            if len(calls) < _MAX_CALLS:
                calls.append(_Call(__layer, __original, args, kwargs, outputs))
            return outputs

        vars(layer)["call"] = call
        patched.append(layer)
    try:
        yield
    finally:
        for layer in patched:
            vars(layer).pop("call", None)


@contextlib.contextmanager
def _check_numerics() -> Any:
    tf.debugging.enable_check_numerics()
    try:
        yield
    finally:
        tf.debugging.disable_check_numerics()


_OP_PATTERN = re.compile(r'(?:eagerly-executing|graph) op "([^"]+)"')
_DTYPE_PATTERN = re.compile(r"dtype: <dtype: '([^']+)'>")
_GRAPH_LINE = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _numerics_error(run: Callable[[], Any]) -> dict[str, Any] | None:
    """Runs ``run`` with check_numerics on; the op, dtype and user line of the first NaN/Inf."""
    try:
        with _check_numerics():
            run()
    except tf.errors.InvalidArgumentError as err:
        message = str(err.message if hasattr(err, "message") else err)
        op = _OP_PATTERN.search(message)
        if op is None:
            return None
        dtype = _DTYPE_PATTERN.search(message)
        found: dict[str, Any] = {
            "op": op.group(1),
            "dtype": dtype.group(1) if dtype else None,
            "site": None,
            "function": None,
        }
        frames = [
            (f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(err.__traceback__)
        ]
        # An op of a graph (a tf.function inside the layer) names its creation's stack.
        frames += [(m.group(1), int(m.group(2)), m.group(3)) for m in _GRAPH_LINE.finditer(message)]
        users = [f for f in frames if is_user_file(f[0])]
        if users:
            filename, line, function = users[-1]
            found["site"] = site_of(filename, line)
            found["function"] = function
        return found
    return None


def _loss_name(model: Any) -> str:
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, str):
        return loss
    return str(
        getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    )


def _compute_loss(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> Any:
    compute = getattr(model, "_compute_loss", None) or model.compute_loss
    return compute(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)


def _forward(model: Any, x: Any) -> Any:
    if getattr(model, "_call_has_training_arg", True):
        return model(x, training=True)
    return model(x)


def _input_name(path: Sequence[Any], role: str) -> str:
    inner = "".join(f"[{p!r}]" for p in path)
    return f"{role}{inner}"


def _data_check(x: Any, y: Any, sample_weight: Any) -> dict[str, Any] | None:
    """The first input, label or sample weight tensor with non-finite values."""
    for role, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if part is None:
            continue
        for path, tensor in _flatten_with_paths(part):
            if not isinstance(tensor, tf.Tensor):
                continue
            bad = _nonfinite(tensor)
            if bad:
                return {
                    "input": _input_name(path, role),
                    "input_nonfinite": bad,
                    "input_size": int(tf.size(tensor)),
                    "value": _kind_of([tensor]),
                }
    return None


def _flatten_with_paths(structure: Any) -> list[tuple[tuple[Any, ...], Any]]:
    with contextlib.suppress(Exception):
        return list(tf.nest.flatten_with_tuple_paths(structure))
    return [((), t) for t in tf.nest.flatten(structure)]


def _layer_facts(layer: Any, weights_of: dict[int, Any]) -> dict[str, Any]:
    return {
        "layer": _layer_name(layer),
        "layer_class": type(layer).__name__,
        "layer_site": construction_site(layer),
    }


def locate(
    model: Any,
    stash: NanStash,
    groups: Sequence[tuple[str, Sequence[Any]]],
    first: tuple[int, str] | None = None,
) -> metadata.NonfiniteOrigin:
    """Replays the kept step and says where its first non-finite value came from.

    Args:
        model: The Keras model (its variables are not changed).
        stash: The stash holding the failing step's weights and batch.
        groups: The model's trainable variables by layer path (the callback's layer groups).
        first: The first non-finite step and what was non-finite (``"loss"`` or
            ``"gradient"``) as the running aggregates saw it, or None. Earlier than the kept
            step, it failed on a light step that kept nothing: the document is about it, and
            the kept batch (``batch_step``), the next to fail, is what is replayed.

    Returns:
        The facts, as the ``fitdiag/nonfinite_origin`` document.
    """
    doc = unlocated(stash.step, "loss" if float(stash.state[2]) > 0 else "gradient", None)
    if first is not None and first[0] < stash.step:
        doc["step"], doc["trigger"] = first
        doc["batch_step"] = stash.step
    if float(stash.state[0]) != _KEPT:
        doc["error"] = stash.unsupported or "the failing batch could not be kept for a replay"
        return doc
    weights_step = int(stash.weights_step.numpy())
    doc["weights_step"] = weights_step if weights_step >= 0 else None
    if weights_step < 0 or weights_step > doc["step"]:
        doc["error"] = "no finite weights were kept before the failing step"
        return doc
    values = [tf.convert_to_tensor(w.read_value()) for w in stash.weights]
    by_variable = {id(v): value for v, value in zip(stash.variables, values, strict=True)}
    norms: dict[str, float] = {}
    for path, variables in groups:
        kept = [by_variable[id(v)] for v in variables if id(v) in by_variable]
        if kept:
            norms[path] = math.sqrt(
                sum(float(tf.reduce_sum(tf.square(tf.cast(t, tf.float64)))) for t in kept)
            )
    doc["weight_norms"] = norms
    doc["weights_finite"] = not _any_nonfinite(values)
    mapping = list(zip(stash.variables, values, strict=True))

    data = stash.batch()
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    bad_data = _data_check(x, y, sample_weight)
    if bad_data is not None:
        doc.update(bad_data)  # type: ignore[typeddict-item]
        doc.update({"phase": "input", "located": True, "reproduced": True})
        return doc
    if not doc["weights_finite"]:
        doc.update(
            {"phase": "weights", "located": True, "reproduced": True, "value": _kind_of(values)}
        )
        return doc

    calls: list[_Call] = []
    with keras.StatelessScope(state_mapping=mapping), tf.GradientTape(persistent=True) as tape:
        tape.watch(values)
        with _capturing(model, calls):
            y_pred = _forward(model, x)
        loss = _compute_loss(model, x, y, y_pred, sample_weight)
    try:
        culprit = next(
            (c for c in calls if _any_nonfinite(c.outs()) and not _any_nonfinite(c.inputs())),
            None,
        )
        if culprit is not None:
            doc.update(_layer_facts(culprit.layer, by_variable))  # type: ignore[typeddict-item]
            doc.update(
                {
                    "phase": "forward",
                    "located": True,
                    "reproduced": True,
                    "value": _kind_of(culprit.outs()),
                    "input_max": _largest(culprit.inputs()),
                }
            )
            with keras.StatelessScope(state_mapping=mapping):
                found = _numerics_error(lambda: culprit.rerun())
            _add_op(doc, found)
            return doc
        overflowed = _half_precision_cast(calls, x)
        if overflowed is not None:
            call, dtype, largest = overflowed
            doc.update(_layer_facts(call.layer, by_variable))  # type: ignore[typeddict-item]
            doc.update(
                {
                    "phase": "forward",
                    "located": True,
                    "reproduced": True,
                    "value": _kind_of(call.inputs()),
                    "op": "Cast",
                    "dtype": dtype,
                    "input_max": largest,
                }
            )
            return doc
        predictions = _tensors(y_pred)
        if _any_nonfinite(predictions):
            # Non-finite outputs with no layer to blame: the model's own call computed them.
            doc.update(
                {
                    "phase": "forward",
                    "located": True,
                    "reproduced": True,
                    "layer": _layer_name(model),
                    "layer_class": type(model).__name__,
                    "value": _kind_of(predictions),
                }
            )
            return doc
        if not math.isfinite(float(loss)):
            doc.update(
                {
                    "phase": "loss",
                    "located": True,
                    "reproduced": True,
                    "loss": _loss_name(model),
                    "value": _kind_of([tf.convert_to_tensor(loss)]),
                    "input_max": _largest(predictions),
                }
            )
            with keras.StatelessScope(state_mapping=mapping):
                found = _numerics_error(lambda: _compute_loss(model, x, y, y_pred, sample_weight))
            _add_op(doc, found)
            if found is not None and found.get("function") and found.get("site"):
                doc["loss"] = str(found["function"])
            return doc
        _backward(doc, model, tape, loss, values, calls, mapping, groups, by_variable)
        return doc
    finally:
        del tape


_HALF = (tf.float16, tf.bfloat16)


def _half_precision_cast(calls: list[_Call], x: Any) -> tuple[_Call, str, float | None] | None:
    """The first layer whose input became non-finite in Keras's cast to its float16 (or
    bfloat16) compute dtype, before its ``call`` (mixed precision): the call, the dtype and
    the largest |value| before the cast (the batch's, or the previous layer's output)."""
    for index, call in enumerate(calls):
        if not _any_nonfinite(call.outs()):
            continue
        half = [t for t in call.inputs() if t.dtype in _HALF and _nonfinite(t)]
        if not half:
            return None
        before = calls[index - 1].outs() if index else _tensors(x)
        if _any_nonfinite(before):
            return None  # already non-finite before the cast
        return call, half[0].dtype.name, _largest(before)
    return None


def _add_op(doc: metadata.NonfiniteOrigin, found: dict[str, Any] | None) -> None:
    if found is None:
        return
    doc["op"] = found["op"]
    doc["dtype"] = found["dtype"]
    doc["op_site"] = found["site"]
    doc["function"] = found["function"]


# A gradient entry this large has a square beyond float32's range (3.4e38): the global norm
# that the callback computes in float32 overflows.
_NORM_OVERFLOW = 1.8e19


def _grads_by_layer(
    groups: Sequence[tuple[str, Sequence[Any]]],
    mapping: list[tuple[Any, Any]],
    weight_grads: Sequence[Any],
) -> list[tuple[str, list[Any]]]:
    index = {id(variable): i for i, (variable, _) in enumerate(mapping)}
    return [
        (path, [weight_grads[index[id(v)]] for v in variables if id(v) in index])
        for path, variables in groups
    ]


def _backward(
    doc: metadata.NonfiniteOrigin,
    model: Any,
    tape: Any,
    loss: Any,
    values: list[Any],
    calls: list[_Call],
    mapping: list[tuple[Any, Any]],
    groups: Sequence[tuple[str, Sequence[Any]]],
    by_variable: dict[int, Any],
) -> None:
    """Finds the layer whose backward pass turned a finite gradient non-finite."""
    outputs = [c.outs() for c in calls]
    flat = [t for outs in outputs for t in outs]
    grads = tape.gradient(loss, values + flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    weight_grads, output_grads = grads[: len(values)], grads[len(values) :]
    by_call: list[list[Any]] = []
    at = 0
    for outs in outputs:
        by_call.append(output_grads[at : at + len(outs)])
        at += len(outs)
    bad_weights = {
        path for path, g in _grads_by_layer(groups, mapping, weight_grads) if _any_nonfinite(g)
    }
    if not bad_weights and not any(_any_nonfinite(g) for g in by_call):
        largest = [
            (_largest(g) or 0.0, path) for path, g in _grads_by_layer(groups, mapping, weight_grads)
        ]
        top, path = max(largest, default=(0.0, None))
        if top >= _NORM_OVERFLOW and path is not None:
            # Every entry is finite, but their sum of squares (float32) is not: the recorded
            # global norm overflowed.
            owner = next((c.layer for c in calls if _layer_name(c.layer) == path), None)
            if owner is not None:
                doc.update(_layer_facts(owner, by_variable))  # type: ignore[typeddict-item]
            else:
                doc["layer"] = path
            doc.update(
                {
                    "phase": "gradient-norm",
                    "located": True,
                    "reproduced": True,
                    "value": "Inf",
                    "input_max": top,
                }
            )
            return
        doc["reproduced"] = False
        weights_step = doc.get("weights_step")
        if isinstance(weights_step, int) and weights_step < doc["step"]:
            # Finite on weights kept some steps before: those steps' updates made it fail.
            doc.update({"phase": "later-weights", "located": True, "error": None})
            return
        doc["located"] = False
        doc["error"] = (
            "the kept batch gave a finite loss and finite gradients on replay (a random layer "
            "such as Dropout, or a nondeterministic op)"
        )
        return
    doc["reproduced"] = True
    # The gradient reaching the model's output (from the loss) first.
    last_bad = max((i for i, g in enumerate(by_call) if _any_nonfinite(g)), default=None)
    culprit: _Call | None = None
    upstream: list[Any] | None = None
    if last_bad is not None:
        produced = {id(t) for t in outputs[last_bad]}
        consumers = [c for c in calls[last_bad + 1 :] if any(id(t) in produced for t in c.inputs())]
        if consumers:
            culprit = consumers[0]
            upstream = by_call[calls.index(culprit)]
        else:
            doc.update({"phase": "loss-gradient", "located": True, "loss": _loss_name(model)})
            doc["value"] = _kind_of(by_call[last_bad])
            return
    else:
        # Every layer's output gradient is finite: a weight gradient went bad inside its layer.
        owners = [c for c in calls if _layer_name(c.layer) in bad_weights]
        culprit = owners[-1] if owners else None
        if culprit is not None:
            upstream = by_call[calls.index(culprit)]
    if culprit is None:
        doc.update({"phase": "backward", "located": True})
        doc["layer"] = sorted(bad_weights)[-1] if bad_weights else None
        return
    doc.update(_layer_facts(culprit.layer, by_variable))  # type: ignore[typeddict-item]
    doc.update({"phase": "backward", "located": True})
    own = [by_variable[id(v)] for v in culprit.layer.trainable_weights if id(v) in by_variable]
    inputs = culprit.inputs()
    doc["input_max"] = _largest(inputs + own)
    doc["value"] = "NaN"

    def backward() -> None:
        with keras.StatelessScope(state_mapping=mapping), tf.GradientTape() as inner:
            inner.watch(inputs + own)
            out = culprit.rerun()
        targets = _tensors(out)
        inner.gradient(
            targets,
            inputs + own,
            output_gradients=[
                g if g is not None else tf.zeros_like(t)
                for g, t in zip(upstream or [None] * len(targets), targets, strict=False)
            ],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    found = _numerics_error(backward)
    _add_op(doc, found)
