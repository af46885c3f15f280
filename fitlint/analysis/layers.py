"""What a layer is: its role, class, units, activation and flags, read from its constructor.

A :class:`Layer` is one item of a model's layer stack (:mod:`fitlint.analysis.models` builds
the stacks). :class:`LayerReader` reads the layer that a constructor call, or a name bound
once to one, creates; anything it cannot resolve is a :attr:`Role.UNKNOWN` layer, a barrier
the architecture rules stay silent across. The module also knows what the first layers of a
model do to its inputs (:func:`input_verdict`).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import libcst as cst

from fitlint.analysis.index import UNKNOWN, AssignSite, CallSite, ModuleIndex, Scope
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


# What a model's first layers do to its inputs (``Models.input_handling``), by class name.
# Layers that put the inputs on a sane scale when they come first.
NORMALIZING_LAYERS = frozenset(
    {
        "Rescaling",
        "Normalization",
        "BatchNormalization",
        "LayerNormalization",
        "UnitNormalization",
        "GroupNormalization",
        "Lambda",
    }
)
# Activations whose output is bounded: large pre-activations (raw inputs) saturate them.
SATURATING = frozenset({"sigmoid", "tanh", "hard_sigmoid", "softsign"})
# Layers that, right after the first Dense or convolution (activations between them
# allowed), put what it computes back on a sane scale: raw inputs then train too.
RENORMALIZING_LAYERS = frozenset(
    {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}
)
# Layers that commute with a positive rescaling of their input (relu(a*x) = a*relu(x), the same
# for pooling): between the first Dense/convolution and a normalization they leave the input
# scale for the normalization to remove.
SCALE_EQUIVARIANT_LAYERS = frozenset(
    {"Activation", "ReLU", "LeakyReLU", "PReLU"}
    | {
        f"{kind}Pooling{dim}D"
        for kind in ("Max", "Average", "GlobalMax", "GlobalAverage")
        for dim in (1, 2, 3)
    }
    | {
        f"{kind}Pool{dim}D"
        for kind in ("Max", "Avg", "GlobalMax", "GlobalAvg")
        for dim in (1, 2, 3)
    }
)
# Layers whose inputs are ids, not magnitudes.
EMBEDDING_LAYERS = frozenset(
    {
        "Embedding",
        "CategoryEncoding",
        "StringLookup",
        "IntegerLookup",
        "Hashing",
        "TextVectorization",
        "Discretization",
    }
)
# Layers that pass values through unchanged in scale.
PASS_LAYERS = frozenset(
    {
        "Input",
        "InputLayer",
        "Flatten",
        "Reshape",
        "Permute",
        "Resizing",
        "CenterCrop",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "Masking",
    }
)


def class_name(qualname: str | None) -> str | None:
    """``Dense`` for ``keras.layers.Dense`` / ``keras.Input``, None for non-Keras names."""
    if qualname is None or not qualname.startswith("keras."):
        return None
    return qualname.rsplit(".", 1)[-1]


def input_verdict(layer: str | None) -> str | None:
    """What a first layer (by class name) does to the model's inputs.

    Returns:
        ``"normalizes"``, ``"embeds"`` (ids, not magnitudes), ``"pass"`` (the next layer
        decides), ``"raw"`` (another known layer computes on them), or None when unknown.
    """
    if layer is None:
        return None
    if layer in NORMALIZING_LAYERS:
        return "normalizes"
    if layer in EMBEDDING_LAYERS:
        return "embeds"
    if layer in PASS_LAYERS or layer.startswith("Random"):
        return "pass"
    if layer in ("Sequential", "Model", "Functional"):
        return None
    return "raw"


def is_dense_or_conv(layer: str | None) -> bool:
    """Whether a class name is ``Dense`` or a convolution (``Conv2D``, ``Conv1DTranspose``...):
    a linear map, not a recurrent one (``ConvLSTM2D``'s gates are sigmoids whatever its
    ``activation``)."""
    return layer is not None and (
        layer in ("Dense", "EinsumDense")
        or (layer.startswith("Conv") and not layer.startswith("ConvLSTM"))
    )


def unknown_layer(node: cst.CSTNode) -> Layer:
    """An item of a stack that is not statically known."""
    return Layer(Role.UNKNOWN, None, node)


class LayerReader:
    """Reads the layers that constructor calls create, with the module's name resolution."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.imports = index.imports
        self.bindings = index.bindings

    def _assign_once(self, name: str, scope: Scope) -> AssignSite | None:
        return self.bindings.resolve(name, scope, unique=True, members=True)

    def layer_from_expr(
        self, expr: cst.BaseExpression | None, scope: Scope, depth: int = 0
    ) -> Layer:
        """The layer an expression creates: a constructor call, or a name bound to one."""
        if expr is None:
            return unknown_layer(cst.Name("None"))
        if depth > _MAX_DEPTH:
            return unknown_layer(expr)
        if isinstance(expr, cst.Call):
            return self.layer_from_call(expr, scope, depth)
        name = dotted(expr)
        if name is not None:
            site = self._assign_once(name, scope)
            if site is not None and not site.unpacked and isinstance(site.value, cst.Call):
                layer = self.layer_from_call(site.value, site.scope, depth + 1)
                if layer.role is not Role.UNKNOWN:
                    return layer
        return unknown_layer(expr)

    def layer_from_call(self, call: cst.Call, scope: Scope, depth: int = 0) -> Layer:
        """The layer a constructor call creates (wrappers read through to the wrapped layer)."""
        q = self.imports.qualify(call.func)
        if q is None:
            return unknown_layer(call)
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
            return unknown_layer(call)
        layer = Layer(_role_of(q), q, call, call=call)
        if site is None:
            return layer
        if layer.role in (Role.AFFINE, Role.RECURRENT):
            if q in _ACTIVATION_POSITION or q in RECURRENT_LAYERS:
                layer.units = as_int(self.index.const_value(site.arg("units", 0), scope))
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
            if position is not None and positional_count(site.node) > position:
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
            return function_activation(q)
        name = dotted(expr)
        if name is not None:
            site = self._assign_once(name, scope)
            if site is not None and not site.unpacked:
                return self.activation_of(site.value, site.scope, depth + 1)
        return None

    def applied_class(
        self, func: cst.BaseExpression, scope: Scope, before: int, depth: int = 0
    ) -> str | None:
        """The Keras class name of a layer applied to data at ``before``: ``Rescaling`` for
        ``Rescaling(1 / 255)(x)``, or for ``norm(x)`` after ``norm = Normalization()``."""
        if isinstance(func, cst.Call):
            site = self.index.site_of(func)
            return class_name(site.qualname if site else None)
        if isinstance(func, cst.Name):
            ctor = self.bindings.origin_call(func, scope, before, depth)
            if ctor is not None:
                return class_name(ctor.qualname)
        return None

    def function_layer(self, call: cst.Call, q: str, scope: Scope) -> Layer:
        """The activation layer that an activation function applied to a tensor stands for."""
        name = function_activation(q)
        site = self.index.site_of(call)
        if name == "softmax" and site is not None:
            axis = site.arg("axis", 1)
            if not self._last_axis(axis, scope):
                name = None
        return Layer(Role.ACTIVATION, q, call, call=call, activation=name)

    # -- subclassed ------------------------------------------------------------------


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


def function_activation(q: str) -> str | None:
    """``relu`` for ``tensorflow.nn.relu`` and the other activation functions, else None."""
    for prefix in _FUNCTION_PREFIXES:
        if q.startswith(prefix):
            rest = q[len(prefix) :]
            if rest in ACTIVATION_NAMES:
                return rest
    return None


def as_int(value: object) -> int | None:
    """The value when it is an int (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def first_input(call: cst.Call) -> cst.BaseExpression | None:
    """The tensor a layer is applied to: the first positional or ``inputs=`` argument."""
    for a in call.args:
        if a.star:
            return None
        if a.keyword is None:
            return a.value
        if a.keyword.value == "inputs":
            return a.value
    return None


def positional_count(call: cst.Call) -> int:
    """The number of plain positional arguments."""
    return sum(1 for a in call.args if a.keyword is None and not a.star)


def repeat(body: list[Layer], count: int | None, node: cst.CSTNode) -> list[Layer]:
    """A loop body of layers repeated ``count`` times (unknown count: an unknown item)."""
    if count is None:
        return [Layer(Role.UNKNOWN, None, node)]
    if count <= 0 or not body:
        return []
    if len(body) == 1:
        return [dataclasses.replace(body[0], repeat=body[0].repeat * count)]
    if len(body) * count > _MAX_EXPANDED:
        return [*body, Layer(Role.UNKNOWN, None, node)]
    return body * count
