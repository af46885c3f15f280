"""The models of a module and their layer stacks.

Three ways of building a Keras model are recognised:

* **Sequential**: ``Sequential([...])``, ``Sequential(layers=[...])``, a list bound once to a
  name, list comprehensions over ``range(N)``, and ``model.add(...)`` calls after the
  construction, including inside ``for`` loops with a constant trip count (``range(N)`` or a
  literal list/tuple): a loop body is repeated N times.
* **Functional**: ``keras.Model(inputs, outputs)``; each output is traced back through the
  layer applications that produced it (``x = Dense(4)(x)``, ``h = LSTM(8)(x)``, a layer bound
  to a name and applied later, activation functions such as ``tf.nn.relu(x)``) up to an
  ``Input(...)``. Loops that re-assign the traced tensor (``for _ in range(3): x = ...(x)``)
  are unrolled the same way.
* **Subclassed**: a class deriving from ``keras.Model`` (through the imports, or from another
  model class of the file): the layers bound to ``self.<attr>`` anywhere in the class are
  followed through ``call()``, from its single final ``return`` back to its input parameter.

Every stack is a tuple of :class:`Layer`. What cannot be resolved statically (a helper
returning layers, a ``*layers`` splat, a custom layer class, a layer added under an ``if``, a
loop with an unknown trip count, a merge of several tensors) becomes an item whose
:attr:`Layer.known` is False: rules must treat it as a barrier and stay silent across it.

Models also carry their ``compile()`` calls: on the model's variable after its construction,
``self.compile(...)`` inside a model class, on instances of a model class, and on the result
of a function that builds and returns the model.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from fitlint.analysis.index import UNKNOWN, AssignSite, CallSite, Loop, ModuleIndex, Scope
from fitlint.analysis.names import dotted


class Role(str, enum.Enum):
    """What a layer does, as far as the architecture rules care."""

    INPUT = "input"  # keras.Input, InputLayer
    RECURRENT = "recurrent"  # LSTM, GRU, SimpleRNN, ConvLSTM*, RNN (also inside Bidirectional)
    AFFINE = "affine"  # Dense, Conv1D/2D/3D: a linear map followed by `activation`
    ACTIVATION = "activation"  # Activation, ReLU, Softmax..., and tf.nn.relu(x)-style calls
    NORMALIZATION = "normalization"  # BatchNormalization, LayerNormalization, ...
    DROPOUT = "dropout"  # Dropout, SpatialDropout*, AlphaDropout, GaussianDropout/Noise
    RESHAPE = "reshape"  # Flatten, Reshape, Permute
    OTHER = "other"  # any other Keras layer (pooling, Embedding, RepeatVector, merges...)
    UNKNOWN = "unknown"  # not statically known


_L = "keras.layers."
RECURRENT_LAYERS = frozenset(
    _L + n
    for n in (
        "LSTM",
        "GRU",
        "SimpleRNN",
        "CuDNNLSTM",
        "CuDNNGRU",
        "RNN",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
    )
)
AFFINE_LAYERS = frozenset(
    _L + n
    for n in (
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Convolution1D",
        "Convolution2D",
        "Convolution3D",
    )
)
NORMALIZATION_LAYERS = frozenset(
    _L + n
    for n in (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "SyncBatchNormalization",
        "RMSNormalization",
    )
)
DROPOUT_LAYERS = frozenset(
    _L + n
    for n in (
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "AlphaDropout",
        "GaussianDropout",
        "GaussianNoise",
    )
)
RESHAPE_LAYERS = frozenset(_L + n for n in ("Flatten", "Reshape", "Permute"))
INPUT_LAYERS = frozenset({"keras.Input", _L + "Input", _L + "InputLayer"})
# Layers whose only job is an activation, and the activation they apply.
ACTIVATION_LAYERS = {
    _L + "ReLU": "relu",
    _L + "LeakyReLU": "leaky_relu",
    _L + "PReLU": "prelu",
    _L + "ELU": "elu",
    _L + "Softmax": "softmax",
    _L + "ThresholdedReLU": "thresholded_relu",
}
_BIDIRECTIONAL = _L + "Bidirectional"
_TIME_DISTRIBUTED = _L + "TimeDistributed"

# Activation functions recognised by name, in Keras, TensorFlow and keras.ops spellings.
ACTIVATION_NAMES = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "swish",
        "mish",
        "softplus",
        "softsign",
        "sigmoid",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "tanh",
        "softmax",
        "log_softmax",
        "exponential",
    }
)
_FUNCTION_PREFIXES = (
    "keras.activations.",
    "keras.ops.",
    "keras.ops.nn.",
    "tensorflow.nn.",
    "tensorflow.math.",
    "tensorflow.",
)

# Positional index of `activation` in the constructors that take it that way.
_ACTIVATION_POSITION = {_L + "Dense": 1, **{q: 1 for q in RECURRENT_LAYERS if "Conv" not in q}}
_CONV_ACTIVATION_POSITION = 7
_DEFAULT_ACTIVATION = {q: "tanh" for q in RECURRENT_LAYERS if q != _L + "RNN"}

# Unrolling limit: a loop body repeated beyond this many layers ends in an unknown item.
_MAX_EXPANDED = 512
# Resolution limit: names bound to names bound to layers...
_MAX_DEPTH = 8
# Tracing limit: the longest functional chain followed.
_MAX_CHAIN = 1000


@dataclass(eq=False)
class Layer:
    """One item of a layer stack.

    Attributes:
        role: What the layer does; :attr:`Role.UNKNOWN` when it cannot be resolved.
        qualname: Canonical class of the layer (``keras.layers.LSTM``); for a wrapper, the
            wrapped layer's class. An activation function applied to a tensor keeps its
            own name (``tensorflow.nn.relu``). None when unknown.
        node: The node a finding about this layer covers: the constructor call (the outer
            call for wrappers), or the expression that could not be resolved.
        call: The constructor call whose arguments were read (the inner call for wrappers).
        wrapper: ``keras.layers.Bidirectional`` or ``keras.layers.TimeDistributed``, else None.
        units: Constant ``units`` of a Dense or recurrent layer, else None.
        activation: The activation the layer applies, by name (``"sigmoid"``, ``"linear"`` when
            unspecified or None on a Dense/Conv layer, the default ``"tanh"`` of recurrent
            layers). None when not statically known or not applicable to the role.
        return_sequences: For recurrent layers: the constant flag (False when absent), None
            when unknown.
        rate: Constant dropout rate of a dropout layer, else None.
        repeat: How many identical copies of the layer follow each other (loops).
        conditional: The layer may or may not be there (added under an ``if``/``while``/
            ``except``): it is not :attr:`known`.
    """

    role: Role
    qualname: str | None
    node: cst.CSTNode
    call: cst.Call | None = None
    wrapper: str | None = None
    units: int | None = None
    activation: str | None = None
    return_sequences: bool | None = None
    rate: float | None = None
    repeat: int = 1
    conditional: bool = False

    @property
    def known(self) -> bool:
        """True when the layer is certainly there and its class is resolved."""
        return self.role is not Role.UNKNOWN and not self.conditional

    @property
    def short_name(self) -> str:
        """The class name without its module (``LSTM``), for messages."""
        if self.qualname is None:
            return "layer"
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Output:
    """The statically known output layer of a stack.

    Attributes:
        activation: The activation applied last (a final ``Activation("softmax")`` layer counts).
        units: Units of the final Dense layer, None when not known.
        layer: The layer that applies ``activation``.
    """

    activation: str
    units: int | None
    layer: Layer


@dataclass(eq=False)
class Stack:
    """A chain of layers, from the input to one output of a model."""

    layers: tuple[Layer, ...]

    @property
    def complete(self) -> bool:
        """True when every item is known (no unresolved layer, start or end)."""
        return all(layer.known for layer in self.layers)

    def output(self) -> Output | None:
        """The output layer, when its activation is statically known.

        A final activation layer supplies the activation; the units then come from the
        Dense layer right before it.
        """
        if not self.layers:
            return None
        last = self.layers[-1]
        if not last.known or last.activation is None:
            return None
        if last.role is Role.AFFINE:
            return Output(last.activation, last.units, last)
        if last.role is Role.ACTIVATION:
            units = None
            if len(self.layers) >= 2:
                prev = self.layers[-2]
                if prev.known and prev.role is Role.AFFINE:
                    units = prev.units
            return Output(last.activation, units, last)
        return None


@dataclass(eq=False)
class Model:
    """A model built in the module.

    Attributes:
        kind: ``"sequential"``, ``"functional"`` or ``"subclassed"``.
        node: The construction call, or the ClassDef of a subclassed model.
        name: The variable the model is bound to (``model``, ``self.net``), or the class name.
        scope: Where the model is built.
        stacks: One stack per output (Sequential and subclassed models have one).
        compiles: The ``compile()`` calls applied to this model, in source order.
    """

    kind: str
    node: cst.CSTNode
    name: str | None
    scope: Scope
    stacks: list[Stack] = field(default_factory=list)
    compiles: list[CallSite] = field(default_factory=list)

    @property
    def stack(self) -> Stack | None:
        """The only stack of a single-output model, else None."""
        return self.stacks[0] if len(self.stacks) == 1 else None


@dataclass(eq=False)
class Models:
    """Every model of a module. Build it with :func:`build`."""

    models: list[Model] = field(default_factory=list)
    _builder: _Builder | None = field(default=None, repr=False)

    def stacks(self) -> Iterator[Stack]:
        """Every stack of every model."""
        for model in self.models:
            yield from model.stacks

    def layer_at(self, site: CallSite) -> Layer:
        """The layer a constructor call creates, read the same way as in stacks.

        Works for any call of the module, inside a model or not (``Dropout(0.8)`` applied in
        a custom training loop); an unresolved callee gives a :attr:`Role.UNKNOWN` layer.
        """
        assert self._builder is not None
        return self._builder.layer_from_expr(site.node, site.scope)


def build(index: ModuleIndex) -> Models:
    """Finds the models of a module and their layer stacks.

    Args:
        index: The module's index.

    Returns:
        The models, in source order of their construction.
    """
    return _Builder(index).run()


# --------------------------------------------------------------------------------------
# Statement structure: which statements are conditional, and what functions return.


@dataclass
class _Body:
    """Per scope: the conditional blocks enclosing each small statement, and the returns."""

    blocks: dict[int, tuple[int, ...]] = field(default_factory=dict)
    returns: list[cst.Return] = field(default_factory=list)


def _suite_statements(suite: cst.BaseSuite) -> Sequence[cst.BaseStatement | cst.BaseSmallStatement]:
    return suite.body


def _scan(
    statements: Sequence[cst.BaseStatement | cst.BaseSmallStatement],
    blocks: tuple[int, ...],
    out: _Body,
) -> None:
    for stmt in statements:
        if isinstance(stmt, cst.SimpleStatementLine):
            _scan(stmt.body, blocks, out)
        elif isinstance(stmt, cst.BaseSmallStatement):
            out.blocks[id(stmt)] = blocks
            value = getattr(stmt, "value", None)
            if isinstance(value, cst.BaseExpression):
                out.blocks[id(value)] = blocks
            if isinstance(stmt, cst.Return):
                out.returns.append(stmt)
        elif isinstance(stmt, cst.If):
            _scan(_suite_statements(stmt.body), (*blocks, id(stmt.body)), out)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                _scan([orelse], (*blocks, id(stmt)), out)
            elif isinstance(orelse, cst.Else):
                _scan(_suite_statements(orelse.body), (*blocks, id(orelse)), out)
        elif isinstance(stmt, cst.For):
            _scan(_suite_statements(stmt.body), blocks, out)
            if stmt.orelse is not None:
                _scan(_suite_statements(stmt.orelse.body), (*blocks, id(stmt.orelse)), out)
        elif isinstance(stmt, cst.While):
            _scan(_suite_statements(stmt.body), (*blocks, id(stmt.body)), out)
            if stmt.orelse is not None:
                _scan(_suite_statements(stmt.orelse.body), (*blocks, id(stmt.orelse)), out)
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            _scan(_suite_statements(stmt.body), blocks, out)
            for handler in stmt.handlers:
                _scan(_suite_statements(handler.body), (*blocks, id(handler)), out)
            if stmt.orelse is not None:
                _scan(_suite_statements(stmt.orelse.body), (*blocks, id(stmt.orelse)), out)
            if stmt.finalbody is not None:
                _scan(_suite_statements(stmt.finalbody.body), blocks, out)
        elif isinstance(stmt, cst.With):
            _scan(_suite_statements(stmt.body), blocks, out)
        elif isinstance(stmt, cst.Match):
            for case in stmt.cases:
                _scan(_suite_statements(case.body), (*blocks, id(case)), out)
        # Function and class definitions are scopes of their own.


# --------------------------------------------------------------------------------------


@dataclass
class _Trace:
    """The result of tracing a tensor back: layers in forward order and how the chain starts."""

    layers: list[Layer]
    start: str  # "input" | "unknown" | "name"
    name: str | None = None  # for start == "name": the loop-carried name reached


class _Builder:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.imports = index.imports
        self.bodies: dict[int, _Body] = {}
        self._loop_starts: dict[int, int] | None = None
        self.model_classes: dict[str, cst.ClassDef] = {}

    # -- entry -----------------------------------------------------------------------

    def run(self) -> Models:
        models: list[Model] = []
        for site in unique_sites(self.index.calls_to("keras.Sequential")):
            models.append(self._sequential(site))
        for site in unique_sites(self.index.calls_to("keras.Model")):
            model = self._functional(site)
            if model is not None:
                models.append(model)
        self._find_model_classes()
        for qual, cls in self.model_classes.items():
            model = self._subclassed(qual, cls)
            if model is not None:
                models.append(model)
        return Models(models, self)

    # -- statement structure ---------------------------------------------------------

    def _body(self, scope: Scope) -> _Body:
        body = self.bodies.get(id(scope.node))
        if body is None:
            body = _Body()
            node = scope.node
            if isinstance(node, cst.Module):
                _scan(node.body, (), body)
            elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                _scan(_suite_statements(node.body), (), body)
            self.bodies[id(scope.node)] = body
        return body

    def _blocks(self, node: cst.CSTNode, scope: Scope) -> tuple[int, ...] | None:
        return self._body(scope).blocks.get(id(node))

    def _conditional(self, node: cst.CSTNode, scope: Scope, reference: tuple[int, ...]) -> bool:
        """True when ``node`` sits in a conditional block that does not enclose ``reference``."""
        blocks = self._blocks(node, scope)
        if blocks is None:
            return True
        return not set(blocks) <= set(reference)

    def _loop_start(self, loop: Loop) -> int:
        if self._loop_starts is None:
            starts: dict[int, int] = {}
            for sites in (self.index.assigns, self.index.calls):
                for s in sites:
                    for lp in s.loops:
                        key = id(lp)
                        if key not in starts or s.order < starts[key]:
                            starts[key] = s.order
            self._loop_starts = starts
        return self._loop_starts.get(id(loop), 0)

    def _loop_count(self, loop: Loop) -> int | None:
        if loop.count is not None:
            return loop.count
        it = loop.node.iter
        if isinstance(it, (cst.List, cst.Tuple)):
            if any(isinstance(el, cst.StarredElement) for el in it.elements):
                return None
            return len(it.elements)
        value = self.index.const_value(it, loop.scope)
        if isinstance(value, tuple):
            return len(value)
        return None

    # -- names -----------------------------------------------------------------------

    def _assign_once(self, name: str, scope: Scope) -> AssignSite | None:
        """The single assignment of ``name`` visible from ``scope``, if there is exactly one."""
        sites = self.index.assigns_by_name.get(name, [])
        if name.startswith("self."):
            cls = _class_of(scope)
            if cls is None:
                return None
            for qual in self._class_lineage(cls.name):
                prefix = qual + "."
                here = [s for s in sites if s.scope.name.startswith(prefix)]
                if here:
                    return _single(here)
            return None
        current: Scope | None = scope
        while current is not None:
            here = [s for s in sites if s.scope is current]
            if here:
                return _single(here)
            current = current.parent
            while current is not None and current.kind == "class":
                current = current.parent
        return None

    def _class_lineage(self, qual: str) -> list[str]:
        """The class and its base classes defined in the module, most derived first."""
        out: list[str] = []
        current: str | None = qual
        while current is not None and current not in out and len(out) < 16:
            out.append(current)
            cls = self.index.classes.get(current)
            current = None
            if cls is not None:
                for base in cls.bases:
                    name = dotted(base.value)
                    if name is not None and name in self.index.classes:
                        current = name
                        break
        return out

    # -- layers ----------------------------------------------------------------------

    def _unknown(self, node: cst.CSTNode) -> Layer:
        return Layer(Role.UNKNOWN, None, node)

    def layer_from_expr(
        self, expr: cst.BaseExpression | None, scope: Scope, depth: int = 0
    ) -> Layer:
        """The layer an expression creates: a constructor call, or a name bound to one."""
        if expr is None:
            return self._unknown(cst.Name("None"))
        if depth > _MAX_DEPTH:
            return self._unknown(expr)
        if isinstance(expr, cst.Call):
            return self._layer_from_call(expr, scope, depth)
        name = dotted(expr)
        if name is not None:
            site = self._assign_once(name, scope)
            if site is not None and not site.unpacked and isinstance(site.value, cst.Call):
                layer = self._layer_from_call(site.value, site.scope, depth + 1)
                if layer.role is not Role.UNKNOWN:
                    return layer
        return self._unknown(expr)

    def _layer_from_call(self, call: cst.Call, scope: Scope, depth: int = 0) -> Layer:
        q = self.imports.qualify(call.func)
        if q is None:
            return self._unknown(call)
        site = self.index.site_of(call)
        if q in (_BIDIRECTIONAL, _TIME_DISTRIBUTED):
            inner_expr = site.arg("layer", 0) if site is not None else None
            inner = self.layer_from_expr(inner_expr, scope, depth + 1)
            allowed = (
                (Role.RECURRENT,)
                if q == _BIDIRECTIONAL
                else (Role.AFFINE, Role.ACTIVATION, Role.DROPOUT, Role.NORMALIZATION)
            )
            if inner.known and inner.role in allowed:
                return dataclasses.replace(inner, node=call, wrapper=q)
            return Layer(Role.OTHER, q, call, call=call)
        if q in INPUT_LAYERS:
            return Layer(Role.INPUT, q, call, call=call)
        if not q.startswith(_L):
            return self._unknown(call)
        layer = Layer(_role_of(q), q, call, call=call)
        if site is None:
            return layer
        if layer.role in (Role.AFFINE, Role.RECURRENT):
            if q in _ACTIVATION_POSITION or q in RECURRENT_LAYERS:
                layer.units = _int(self.index.const_value(site.arg("units", 0), scope))
            layer.activation = self._layer_activation(site, q, scope)
        if layer.role is Role.RECURRENT:
            arg = site.arg("return_sequences")
            if arg is None:
                layer.return_sequences = None if site.has_star_args() else False
            else:
                value = self.index.const_value(arg, scope)
                layer.return_sequences = value if isinstance(value, bool) else None
        elif layer.role is Role.ACTIVATION:
            layer.activation = self._activation_layer(site, q, scope)
        elif layer.role is Role.DROPOUT:
            value = self.index.const_value(site.arg("rate", 0), scope)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                layer.rate = float(value)
        return layer

    def _layer_activation(self, site: CallSite, q: str, scope: Scope) -> str | None:
        position = _ACTIVATION_POSITION.get(q)
        if position is None and q in AFFINE_LAYERS:
            position = _CONV_ACTIVATION_POSITION
        arg = site.arg("activation", position)
        if arg is None:
            if site.has_star_args():
                return None
            if position is not None and _positional_count(site.node) > position:
                return None  # a positional argument we could not place
            if q in RECURRENT_LAYERS:
                return _DEFAULT_ACTIVATION.get(q)
            return "linear"
        return self.activation_of(arg, scope)

    def _activation_layer(self, site: CallSite, q: str, scope: Scope) -> str | None:
        if q == _L + "Activation":
            return self.activation_of(site.arg("activation", 0), scope)
        name = ACTIVATION_LAYERS.get(q)
        if name == "softmax" and not self._last_axis(site.arg("axis", 0), scope):
            return None
        return name

    def _last_axis(self, arg: cst.BaseExpression | None, scope: Scope) -> bool:
        return arg is None or self.index.const_value(arg, scope) == -1

    def activation_of(
        self, expr: cst.BaseExpression | None, scope: Scope, depth: int = 0
    ) -> str | None:
        """Resolves an ``activation=`` argument to a name; None when not statically known."""
        if expr is None or depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name) and expr.value == "None":
            return "linear"
        value = self.index.const_value(expr, scope)
        if isinstance(value, str):
            return value
        if value is None:
            return "linear"
        if value is not UNKNOWN:
            return None
        if isinstance(expr, cst.Call):  # a layer used as activation: LeakyReLU(0.1)
            q = self.imports.qualify(expr.func)
            return ACTIVATION_LAYERS.get(q or "")
        q = self.imports.qualify(expr)
        if q is not None:
            return _function_activation(q)
        name = dotted(expr)
        if name is not None:
            site = self._assign_once(name, scope)
            if site is not None and not site.unpacked:
                return self.activation_of(site.value, site.scope, depth + 1)
        return None

    # -- Sequential ------------------------------------------------------------------

    def _sequential(self, site: CallSite) -> Model:
        scope = site.scope
        var = site.targets[0] if len(site.targets) == 1 else None
        model = Model("sequential", site.node, var, scope)
        layers: list[Layer] = []
        arg = site.arg("layers", 0)
        if arg is not None:
            layers.extend(self._list_items(arg, scope, depth=0))
        elif site.has_star_args():
            layers.append(self._unknown(site.node))
        if var is not None:
            layers.extend(self._added_layers(site, var))
            model.compiles = self._compiles_of_var(var, scope, site)
            model.compiles.extend(self._compiles_via_builder(site, var))
        else:
            model.compiles = self._compiles_via_builder(site, None)
        model.stacks = [Stack(tuple(layers))]
        return model

    def _list_items(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> list[Layer]:
        if depth > 8:
            return [self._unknown(expr)]
        if isinstance(expr, (cst.List, cst.Tuple)):
            out: list[Layer] = []
            for el in expr.elements:
                if isinstance(el, cst.StarredElement):
                    out.extend(self._list_items(el.value, scope, depth + 1))
                else:
                    out.append(self.layer_from_expr(el.value, scope))
            return out
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            return self._list_items(expr.left, scope, depth + 1) + self._list_items(
                expr.right, scope, depth + 1
            )
        if isinstance(expr, cst.ListComp):
            return self._list_comp(expr, scope)
        name = dotted(expr)
        if name is not None and "." not in name:
            site = self._assign_once(name, scope)
            mutated = any(
                c.receiver == name and c.scope is (site.scope if site else None)
                for c in self.index.calls
                if c.method is not None
            )
            if site is not None and not site.unpacked and not mutated:
                return self._list_items(site.value, site.scope, depth + 1)
        return [self._unknown(expr)]

    def _list_comp(self, comp: cst.ListComp, scope: Scope) -> list[Layer]:
        loop = comp.for_in
        if loop.inner_for_in is not None or loop.ifs or not isinstance(loop.iter, cst.Call):
            return [self._unknown(comp)]
        it = loop.iter
        if not (isinstance(it.func, cst.Name) and it.func.value == "range"):
            return [self._unknown(comp)]
        values = [self.index.const_value(a.value, scope) for a in it.args]
        if not values or len(values) > 3 or not all(_int(v) is not None for v in values):
            return [self._unknown(comp)]
        count = len(range(*values))
        layer = self.layer_from_expr(comp.elt, scope)
        return _repeat([layer], count, comp)

    def _added_layers(self, ctor: CallSite, var: str) -> list[Layer]:
        scope = ctor.scope
        end = self._next_rebinding(var, scope, ctor.order)
        reference = self._blocks(ctor.node, scope) or ()
        found: list[tuple[int, tuple[Loop, ...], Layer]] = []
        adds = unique_sites((*self.index.calls_by_method.get("add", ()), *self._pops(var)))
        for site in adds:
            if site.receiver != var or site.scope is not scope:
                continue
            if not ctor.order < site.order < end:
                continue
            if site.method == "pop" or site.has_star_args():
                layer = self._unknown(site.node)
            else:
                layer = self.layer_from_expr(site.arg("layer", 0), scope)
            if self._conditional(site.node, scope, reference):
                layer = dataclasses.replace(layer, conditional=True)
            loops = tuple(lp for lp in site.loops if lp not in ctor.loops)
            found.append((site.order, loops, layer))
        found.sort(key=lambda e: e[0])
        return self._expand([(loops, layer) for _, loops, layer in found], 0)

    def _pops(self, var: str) -> list[CallSite]:
        return [s for s in self.index.calls_by_method.get("pop", ()) if s.receiver == var]

    def _expand(self, entries: list[tuple[tuple[Loop, ...], Layer]], depth: int) -> list[Layer]:
        out: list[Layer] = []
        i = 0
        while i < len(entries):
            loops, layer = entries[i]
            if len(loops) <= depth:
                out.append(layer)
                i += 1
                continue
            loop = loops[depth]
            j = i
            while j < len(entries) and len(entries[j][0]) > depth and entries[j][0][depth] is loop:
                j += 1
            body = self._expand(entries[i:j], depth + 1)
            out.extend(_repeat(body, self._loop_count(loop), loop.node))
            i = j
        return out

    def _next_rebinding(self, var: str, scope: Scope, after: int) -> int:
        later = [
            s.order
            for s in self.index.assigns_by_name.get(var, ())
            if s.scope is scope and s.order > after
        ]
        return min(later, default=1 << 62)

    # -- compile() -------------------------------------------------------------------

    def _compiles_of_var(self, var: str, scope: Scope, ctor: CallSite | None) -> list[CallSite]:
        after = ctor.order if ctor is not None else -1
        end = self._next_rebinding(var, scope, after)
        return [
            s
            for s in unique_sites(self.index.calls_by_method.get("compile", ()))
            if s.receiver == var and s.scope is scope and after < s.order < end
        ]

    def _compiles_via_builder(self, ctor: CallSite, var: str | None) -> list[CallSite]:
        """compile() calls on the result of a function that builds and returns the model."""
        scope = ctor.scope
        if scope.kind != "function" or scope.parent is None or scope.parent.kind != "module":
            return []
        returned = False
        for ret in self._body(scope).returns:
            if ret.value is ctor.node or (
                var is not None and ret.value is not None and dotted(ret.value) == var
            ):
                returned = True
        if not returned:
            return []
        out: list[CallSite] = []
        for site in self.index.calls:
            if site.func == scope.name and len(site.targets) == 1:
                out.extend(self._compiles_of_var(site.targets[0], site.scope, site))
        return out

    # -- functional ------------------------------------------------------------------

    def _functional(self, site: CallSite) -> Model | None:
        outputs = site.arg("outputs", 1)
        if outputs is None:
            return None  # Model() with no outputs: a subclass call or a stub
        scope = site.scope
        var = site.targets[0] if len(site.targets) == 1 else None
        model = Model("functional", site.node, var, scope)
        reference = self._blocks(site.node, scope) or ()
        exprs: list[cst.BaseExpression]
        if isinstance(outputs, (cst.List, cst.Tuple)):
            exprs = [el.value for el in outputs.elements if not isinstance(el, cst.StarredElement)]
        elif isinstance(outputs, cst.Dict):
            exprs = [el.value for el in outputs.elements if isinstance(el, cst.DictElement)]
        else:
            exprs = [outputs]
        for expr in exprs:
            trace = self._trace(expr, scope, site.order, -1, site.loops, reference, None)
            model.stacks.append(Stack(tuple(self._finish(trace, expr))))
        if var is not None:
            model.compiles = self._compiles_of_var(var, scope, site)
            model.compiles.extend(self._compiles_via_builder(site, var))
        else:
            model.compiles = self._compiles_via_builder(site, None)
        return model

    def _finish(self, trace: _Trace, expr: cst.CSTNode) -> list[Layer]:
        if trace.start == "input":
            return trace.layers
        return [self._unknown(expr), *trace.layers]

    def _trace(
        self,
        expr: cst.BaseExpression,
        scope: Scope,
        before: int,
        floor: int,
        loops: tuple[Loop, ...],
        reference: tuple[int, ...],
        input_name: str | None,
    ) -> _Trace:
        """Follows a tensor back to where it comes from.

        Args:
            expr: The tensor expression.
            scope: Where it is evaluated.
            before: Only assignments before this order can have produced it.
            floor: Only assignments at or after this order are followed (a loop body);
                -1 for no floor.
            loops: The loops enclosing the consumer.
            reference: Conditional blocks enclosing the consumer.
            input_name: The parameter that is the model input (subclassed ``call``).
        """
        rev: list[Layer] = []
        cur: cst.BaseExpression = expr
        conditional = False
        for _ in range(_MAX_CHAIN):
            if isinstance(cur, cst.Call):
                q = self.imports.qualify(cur.func) if dotted(cur.func) else None
                if q in INPUT_LAYERS:
                    return _Trace(rev[::-1], "input")
                first = _first_arg(cur)
                layer: Layer | None = None
                if isinstance(cur.func, cst.Call):
                    layer = self._layer_from_call(cur.func, scope)
                elif q is not None and _function_activation(q) is not None:
                    layer = self._function_layer(cur, q, scope)
                elif dotted(cur.func) is not None and q is None:
                    candidate = self.layer_from_expr(cur.func, scope)
                    if candidate.role is not Role.UNKNOWN:
                        layer = candidate
                if layer is None or layer.role is Role.UNKNOWN:
                    return _Trace(rev[::-1], "unknown")
                if conditional:
                    layer = dataclasses.replace(layer, conditional=True)
                    conditional = False
                rev.append(layer)
                if first is None or isinstance(first, (cst.List, cst.Tuple)):
                    return _Trace(rev[::-1], "unknown")  # a merge of several tensors
                cur = first
                continue
            if not isinstance(cur, cst.Name):
                return _Trace(rev[::-1], "unknown")
            name = cur.value
            candidates = [
                s
                for s in self.index.assigns_by_name.get(name, ())
                if s.scope is scope and floor <= s.order < before
            ]
            if not candidates:
                if floor >= 0:
                    return _Trace(rev[::-1], "name", name)
                if input_name is not None and name == input_name:
                    return _Trace(rev[::-1], "input")
                return _Trace(rev[::-1], "unknown")
            assign = max(candidates, key=lambda s: s.order)
            if assign.unpacked or assign.augmented is not None or len(assign.targets) != 1:
                return _Trace(rev[::-1], "unknown")
            if self._conditional(assign.node, scope, reference):
                conditional = True
            extra = assign.loops[len(loops) :]
            if assign.loops[: len(loops)] != loops or len(extra) > 1:
                return _Trace(rev[::-1], "unknown")
            if extra:
                loop = extra[0]
                start = self._loop_start(loop)
                body = self._trace(
                    assign.value, scope, assign.order, start, assign.loops, reference, None
                )
                if body.start != "name" or body.name is None:
                    return _Trace(rev[::-1], "unknown")
                count = self._loop_count(loop) if body.name == name else 1
                expanded = _repeat(body.layers, count, loop.node)
                if conditional:
                    expanded = [dataclasses.replace(x, conditional=True) for x in expanded]
                    conditional = False
                rev.extend(expanded[::-1])
                cur = cst.Name(body.name)
                before = start
                continue
            cur = assign.value
            before = assign.order
        return _Trace(rev[::-1], "unknown")

    def _function_layer(self, call: cst.Call, q: str, scope: Scope) -> Layer:
        name = _function_activation(q)
        site = self.index.site_of(call)
        if name == "softmax" and site is not None:
            axis = site.arg("axis", 1)
            if not self._last_axis(axis, scope):
                name = None
        return Layer(Role.ACTIVATION, q, call, call=call, activation=name)

    # -- subclassed ------------------------------------------------------------------

    def _find_model_classes(self) -> None:
        pending = dict(self.index.classes)
        changed = True
        while changed:
            changed = False
            for qual, cls in list(pending.items()):
                for base in cls.bases:
                    q = self.imports.qualify(base.value)
                    local = dotted(base.value)
                    if q in ("keras.Model", "keras.Sequential") or local in self.model_classes:
                        self.model_classes[qual] = cls
                        del pending[qual]
                        changed = True
                        break

    def _subclassed(self, qual: str, cls: cst.ClassDef) -> Model | None:
        class_scope = None
        call_scope = self.index.function_scopes.get(f"{qual}.call")
        if call_scope is not None:
            class_scope = call_scope.parent
        if class_scope is None:
            init = self.index.function_scopes.get(f"{qual}.__init__")
            class_scope = init.parent if init is not None else None
        if class_scope is None:
            return None
        model = Model("subclassed", cls, qual, class_scope)
        if call_scope is not None:
            model.stacks.append(Stack(tuple(self._call_stack(call_scope))))
        prefix = qual + "."
        model.compiles = [
            s
            for s in unique_sites(self.index.calls_by_method.get("compile", ()))
            if s.receiver == "self" and s.scope.name.startswith(prefix)
        ]
        if "." not in qual:
            for site in self.index.calls:
                if site.func == qual and len(site.targets) == 1:
                    model.compiles.extend(self._compiles_of_var(site.targets[0], site.scope, site))
        model.compiles.sort(key=lambda s: s.order)
        return model

    def _call_stack(self, scope: Scope) -> list[Layer]:
        fn = scope.node
        assert isinstance(fn, cst.FunctionDef)
        params = [*fn.params.posonly_params, *fn.params.params]
        input_name = params[1].name.value if len(params) >= 2 else None
        body = self._body(scope)
        stmts = fn.body.body
        last = stmts[-1] if stmts else None
        ret = None
        if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return):
            ret = last.body[-1]
        if ret is None or ret.value is None or len(body.returns) != 1:
            return [self._unknown(fn.name)]
        trace = self._trace(ret.value, scope, 1 << 62, -1, (), (), input_name)
        return self._finish(trace, ret.value)


# --------------------------------------------------------------------------------------


def unique_sites(sites: Iterable[CallSite]) -> list[CallSite]:
    """The sites of distinct call nodes, first occurrence kept, in the given order.

    The index may record a call twice (once with the assignment's targets); rules and this
    module work on one site per call.
    """
    seen: set[int] = set()
    out: list[CallSite] = []
    for site in sites:
        if id(site.node) not in seen:
            seen.add(id(site.node))
            out.append(site)
    return out


def _role_of(q: str) -> Role:
    if q in RECURRENT_LAYERS:
        return Role.RECURRENT
    if q in AFFINE_LAYERS:
        return Role.AFFINE
    if q in ACTIVATION_LAYERS or q == _L + "Activation":
        return Role.ACTIVATION
    if q in NORMALIZATION_LAYERS:
        return Role.NORMALIZATION
    if q in DROPOUT_LAYERS:
        return Role.DROPOUT
    if q in RESHAPE_LAYERS:
        return Role.RESHAPE
    return Role.OTHER


def _function_activation(q: str) -> str | None:
    for prefix in _FUNCTION_PREFIXES:
        if q.startswith(prefix):
            rest = q[len(prefix) :]
            if rest in ACTIVATION_NAMES:
                return rest
    return None


def _class_of(scope: Scope) -> Scope | None:
    current: Scope | None = scope
    while current is not None and current.kind != "class":
        current = current.parent
    return current


def _single(sites: list[AssignSite]) -> AssignSite | None:
    if len(sites) != 1:
        return None
    site = sites[0]
    if site.loops or site.augmented is not None:
        return None
    return site


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _first_arg(call: cst.Call) -> cst.BaseExpression | None:
    for a in call.args:
        if a.star:
            return None
        if a.keyword is None:
            return a.value
        if a.keyword.value == "inputs":
            return a.value
    return None


def _positional_count(call: cst.Call) -> int:
    return sum(1 for a in call.args if a.keyword is None and not a.star)


def _repeat(body: list[Layer], count: int | None, node: cst.CSTNode) -> list[Layer]:
    if count is None:
        return [Layer(Role.UNKNOWN, None, node)]
    if count <= 0 or not body:
        return []
    if len(body) == 1:
        return [dataclasses.replace(body[0], repeat=body[0].repeat * count)]
    if len(body) * count > _MAX_EXPANDED:
        return [*body, Layer(Role.UNKNOWN, None, node)]
    return body * count
