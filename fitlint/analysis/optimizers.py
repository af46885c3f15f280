"""Which calls build Keras optimizers and learning-rate schedules, and the rates they use.

Rates are followed through keyword, positional and legacy ``lr=`` arguments, constants and
names bound once (see :meth:`ModuleIndex.const_value` and :mod:`fitlint.analysis.bindings`),
and schedule objects passed inline or through a variable. Rates set after construction
(``opt.learning_rate.assign(0.5)``, ``K.set_value(model.optimizer.lr, 0.5)``,
``model.optimizer.learning_rate = 0.5``) are resolved too when the optimizer behind them is
known.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from fitlint.analysis.index import UNKNOWN, CallSite, ModuleIndex, Scope
from fitlint.analysis.layers import Role
from fitlint.analysis.names import dotted

if TYPE_CHECKING:
    from fitlint.analysis.layers import Stack
    from fitlint.analysis.models import Models

# Optimizers whose per-parameter step is normalised: their defaults are around 1e-3.
ADAPTIVE = frozenset({"Adam", "AdamW", "Nadam", "Adamax", "RMSprop", "Adagrad", "Lion", "Ftrl"})
SGD = "SGD"

# Classes under keras.optimizers that are not optimizers taking a learning rate first.
_NOT_RATE_OPTIMIZERS = frozenset({"LossScaleOptimizer", "MultiOptimizer"})

# compile(optimizer="adam") spellings; keras.optimizers.get() maps them to these classes.
_STRING_OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "adamax": "Adamax",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "lion": "Lion",
    "ftrl": "Ftrl",
    "adafactor": "Adafactor",
    "lamb": "Lamb",
}

SCHEDULES = frozenset(
    {
        "ExponentialDecay",
        "PiecewiseConstantDecay",
        "CosineDecay",
        "CosineDecayRestarts",
        "InverseTimeDecay",
        "PolynomialDecay",
    }
)

# Keras's default end_learning_rate of PolynomialDecay: the schedule may rise to it.
_POLYNOMIAL_DEFAULT_END = 0.0001

_TF_OPTIMIZER_PREFIXES = (
    "tensorflow.optimizers.legacy.",
    "tensorflow.optimizers.experimental.",
    "tensorflow.optimizers.",
    "keras.optimizers.",
)
_SCHEDULE_PREFIXES = (
    "keras.optimizers.schedules.",
    "tensorflow.optimizers.schedules.",
    "keras.experimental.",
)


def optimizer_name(qualname: str | None) -> str | None:
    """Returns the optimizer class name when ``qualname`` is a Keras optimizer class.

    ``tf.optimizers.Adam`` (which :func:`names.canonical` leaves alone) counts as Keras.

    >>> optimizer_name("keras.optimizers.Adam")
    'Adam'
    >>> optimizer_name("tensorflow.optimizers.SGD")
    'SGD'
    >>> optimizer_name("keras.optimizers.get") is None
    True
    """
    if qualname is None:
        return None
    for prefix in _TF_OPTIMIZER_PREFIXES:
        if qualname.startswith(prefix):
            rest = qualname[len(prefix) :]
            if "." in rest or not rest[:1].isupper() or rest in _NOT_RATE_OPTIMIZERS:
                return None
            return rest
    return None


def schedule_name(qualname: str | None) -> str | None:
    """Returns the schedule class name when ``qualname`` is a built-in learning-rate schedule."""
    if qualname is None:
        return None
    for prefix in _SCHEDULE_PREFIXES:
        if qualname.startswith(prefix):
            rest = qualname[len(prefix) :]
            return rest if rest in SCHEDULES else None
    return None


@dataclass(frozen=True)
class Rate:
    """One learning rate an optimizer will use.

    Attributes:
        node: Where the value is written (the node a finding points at).
        value: The value, or None when it is not statically known.
    """

    node: cst.CSTNode
    value: float | None


@dataclass(frozen=True)
class RateSetting:
    """The learning rates given to one optimizer at one place.

    Attributes:
        optimizer: The optimizer class name (``Adam``).
        rates: Every rate the optimizer will use that the source sets here: one for a
            constant, the initial and peak values of a schedule. Empty when the default
            rate is used.
        site: The constructor call, or None for a rate set after construction.
    """

    optimizer: str
    rates: tuple[Rate, ...]
    site: CallSite | None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _call_value(
    index: ModuleIndex, expr: cst.BaseExpression, scope: Scope
) -> tuple[CallSite, Scope] | None:
    """The call that ``expr`` is, or that the name ``expr`` is bound to once."""
    if isinstance(expr, cst.Call):
        site = index.site_of(expr)
        return (site, scope) if site is not None else None
    if isinstance(expr, cst.Name):
        bound = index.bindings.resolve(expr.value, scope, unique=True)
        if bound is not None and isinstance(bound.value, cst.Call):
            site = index.site_of(bound.value)
            return (site, bound.scope) if site is not None else None
    return None


def _rate(index: ModuleIndex, expr: cst.BaseExpression, scope: Scope) -> Rate:
    value = index.const_value(expr, scope)
    return Rate(expr, float(value) if _is_number(value) else None)


def rates_of(index: ModuleIndex, expr: cst.BaseExpression, scope: Scope) -> tuple[Rate, ...]:
    """The rates that a ``learning_rate`` argument sets: a number, or a schedule's values."""
    value = index.const_value(expr, scope)
    if _is_number(value):
        return (Rate(expr, float(value)),)
    if value is not UNKNOWN:
        return (Rate(expr, None),)
    found = _call_value(index, expr, scope)
    if found is not None:
        site, where = found
        kind = schedule_name(site.qualname)
        if kind is not None and not site.has_star_args():
            return _schedule_rates(index, site, kind, where)
    return (Rate(expr, None),)


def _schedule_rates(
    index: ModuleIndex, site: CallSite, kind: str, scope: Scope
) -> tuple[Rate, ...]:
    if kind == "PiecewiseConstantDecay":
        values = site.arg("values", 1)
        if values is None:
            return (Rate(site.node, None),)
        if isinstance(values, (cst.List, cst.Tuple)):
            if any(isinstance(el, cst.StarredElement) for el in values.elements):
                return (Rate(values, None),)
            return tuple(_rate(index, el.value, scope) for el in values.elements)
        known = index.const_value(values, scope)
        if isinstance(known, tuple) and known and all(_is_number(v) for v in known):
            return tuple(Rate(values, float(v)) for v in known)
        return (Rate(values, None),)
    initial = site.arg("initial_learning_rate", 0)
    if initial is None:
        return (Rate(site.node, None),)
    rates = [_rate(index, initial, scope)]
    if kind == "CosineDecay":
        # With warm-up the rate climbs from the initial value to warmup_target.
        target = site.arg("warmup_target", 4)
        if target is not None and index.const_value(target, scope) is not None:
            rates.append(_rate(index, target, scope))
    elif kind == "PolynomialDecay":
        end = site.arg("end_learning_rate", 2)
        rates.append(
            _rate(index, end, scope)
            if end is not None
            else Rate(site.node, _POLYNOMIAL_DEFAULT_END)
        )
    return tuple(rates)


def _constructor_setting(index: ModuleIndex, site: CallSite) -> RateSetting | None:
    name = optimizer_name(site.qualname)
    if name is None:
        return None
    expr = site.arg("learning_rate", 0)
    if expr is None:
        expr = site.arg("lr")
    if expr is None:
        if site.has_star_args():
            return None  # **config may carry the rate
        return RateSetting(name, (), site)
    return RateSetting(name, rates_of(index, expr, site.scope), site)


def _optimizer_of(
    index: ModuleIndex, owner: str, scope: Scope, compiled: dict[str, str | None]
) -> str | None:
    """The optimizer class behind ``owner`` (``opt`` or ``model.optimizer``), when known.

    ``compiled`` caches the answer for ``model.optimizer`` by model name.
    """
    if "." not in owner:
        found = _call_value(index, cst.Name(owner), scope)
        return optimizer_name(found[0].qualname) if found is not None else None
    model, _, attr = owner.rpartition(".")
    if attr != "optimizer":
        return None
    if model not in compiled:
        compiled[model] = _compiled_optimizer(index, model)
    return compiled[model]


def _compiled_optimizer(index: ModuleIndex, model: str) -> str | None:
    """The one optimizer class that every ``model.compile()`` of the file gives, if known."""
    kinds: set[str | None] = set()
    for call in index.method_calls.get(("compile", model), ()):
        arg = call.arg("optimizer", 0)
        if arg is None:
            kinds.add(None if call.has_star_args() else "RMSprop")  # compile()'s default
            continue
        text = index.const_value(arg, call.scope)
        if isinstance(text, str):
            kinds.add(_STRING_OPTIMIZERS.get(text.lower()))
            continue
        found = _call_value(index, arg, call.scope)
        kinds.add(optimizer_name(found[0].qualname) if found is not None else None)
    if len(kinds) != 1:
        return None
    return kinds.pop()


def _rate_owner(expr: cst.BaseExpression | None) -> str | None:
    """``model.optimizer`` for ``model.optimizer.learning_rate`` (or ``.lr``), else None."""
    if expr is None:
        return None
    text = dotted(expr)
    if text is None:
        return None
    owner, _, attr = text.rpartition(".")
    return owner if owner and attr in ("learning_rate", "lr") else None


def _later_settings(index: ModuleIndex) -> Iterator[RateSetting]:
    """Rates set on an existing optimizer: ``assign``, ``set_value`` and attribute writes."""
    compiled: dict[str, str | None] = {}
    for call in index.calls_by_method.get("assign", ()):
        owner = (
            _rate_owner(call.node.func.value) if isinstance(call.node.func, cst.Attribute) else None
        )
        value = call.arg("value", 0)
        if owner is not None and value is not None:
            name = _optimizer_of(index, owner, call.scope, compiled)
            if name is not None:
                yield RateSetting(name, (_rate(index, value, call.scope),), None)
    for call in index.calls_to("keras.backend.set_value"):
        owner = _rate_owner(call.arg("x", 0))
        value = call.arg("value", 1)
        if owner is not None and value is not None:
            name = _optimizer_of(index, owner, call.scope, compiled)
            if name is not None:
                yield RateSetting(name, (_rate(index, value, call.scope),), None)
    for assign in index.assigns:
        if assign.augmented is not None or assign.unpacked or len(assign.targets) != 1:
            continue
        owner, _, attr = assign.targets[0].rpartition(".")
        if owner and attr in ("learning_rate", "lr"):
            name = _optimizer_of(index, owner, assign.scope, compiled)
            if name is not None:
                yield RateSetting(name, (_rate(index, assign.value, assign.scope),), None)


def rate_settings(index: ModuleIndex) -> list[RateSetting]:
    """Every place the module gives a Keras optimizer its learning rate.

    Rules read it as ``RuleContext.rates``, computed once per module.
    """
    out: list[RateSetting] = []
    for site in index.calls:
        if site.qualname is not None:
            setting = _constructor_setting(index, site)
            if setting is not None:
                out.append(setting)
    out.extend(_later_settings(index))
    return out


# -- what an optimizer trains ----------------------------------------------------------------

VARIABLES = "variables"
"""The optimizer updates raw ``tf.Variable`` objects only (image pixels, a weight tensor)."""
LINEAR = "linear"
"""The optimizer trains a model without a hidden nonlinear layer (linear or logistic regression)."""

_VARIABLE_CONSTRUCTORS = frozenset(
    {"tensorflow.Variable", "keras.Variable", "keras.backend.variable"}
)
# Layers of a linear model other than its one Dense layer: they add no hidden nonlinearity.
_LINEAR_PASSTHROUGH = frozenset({Role.INPUT, Role.NORMALIZATION, Role.DROPOUT, Role.RESHAPE})
# Preprocessing layers (role OTHER): fixed or adapted maps of the input, with no weights trained.
_PREPROCESSING = frozenset(
    "keras.layers." + n
    for n in (
        "Normalization",
        "Rescaling",
        "CategoryEncoding",
        "Discretization",
        "Hashing",
        "IntegerLookup",
        "StringLookup",
        "TextVectorization",
    )
)


def trained_by(index: ModuleIndex, models: Models, site: CallSite) -> str | None:
    """What the optimizer built at ``site`` trains, when the module says so for every use.

    :data:`VARIABLES` when it is used only through ``apply_gradients``/``minimize`` on names
    bound to ``tf.Variable(...)``; :data:`LINEAR` when it is used only by the ``compile()`` of
    models whose stack has one Dense/Conv layer, the output, and nothing nonlinear before it.
    None when unknown, unused, or used any other way: unknown means the rule stays silent on
    nothing, so only positive evidence answers.
    """
    compiles = [
        c for c in index.calls_by_method.get("compile", ()) if c.arg("optimizer", 0) is site.node
    ]
    steps: list[CallSite] = []
    if len(site.targets) == 1 and site.targets[0] != "_":
        name = site.targets[0]
        uses = _name_uses(index, name, site)
        if uses is None:
            return None
        compiles += uses[0]
        steps = uses[1]
    if compiles and steps:
        return None
    if steps:
        return VARIABLES if all(_updates_variables(index, s) for s in steps) else None
    if compiles:
        stacks = [_compiled_stack(models, c) for c in compiles]
        return LINEAR if all(s is not None and _is_linear(s) for s in stacks) else None
    return None


def _name_uses(
    index: ModuleIndex, name: str, site: CallSite
) -> tuple[list[CallSite], list[CallSite]] | None:
    """The ``compile()`` calls given ``name`` and the update calls on ``name``; None when the
    name is rebound or used in any other way (passed to a function, stored, returned)."""
    bound = index.bindings.resolve(name, site.scope, unique=True)
    if bound is None or bound.value is not site.node:
        return None
    compiles: list[CallSite] = []
    steps: list[CallSite] = []
    for call in index.calls:
        if call.receiver == name:
            if call.method in ("apply_gradients", "minimize"):
                steps.append(call)
                continue
            if call.method in ("get_config", "build", "get_weights", "variables"):
                continue
            return None
        for a in call.node.args:
            if isinstance(a.value, cst.Name) and a.value.value == name:
                if call.method == "compile" and a is _optimizer_arg(call):
                    compiles.append(call)
                else:
                    return None
    return compiles, steps


def _optimizer_arg(call: CallSite) -> cst.Arg | None:
    expr = call.arg("optimizer", 0)
    return next((a for a in call.node.args if a.value is expr), None) if expr is not None else None


def _updates_variables(index: ModuleIndex, step: CallSite) -> bool:
    """Whether an ``apply_gradients``/``minimize`` call updates only ``tf.Variable`` names."""
    if step.method == "apply_gradients":
        pairs = step.arg("grads_and_vars", 0)
        variables = _pair_variables(pairs) if pairs is not None else None
    else:
        listed = step.arg("var_list", 1)
        variables = _listed(listed) if listed is not None else None
    if not variables:
        return False
    return all(_is_variable(index, v, step.scope) for v in variables)


def _listed(expr: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    if isinstance(expr, (cst.List, cst.Tuple)):
        return [e.value for e in expr.elements if not isinstance(e, cst.StarredElement)]
    return [expr] if isinstance(expr, cst.Name) else None


def _pair_variables(expr: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """The variables of ``[(g, v), ...]`` or ``zip(grads, [v, ...])``."""
    if isinstance(expr, cst.Call) and dotted(expr.func) == "zip" and len(expr.args) == 2:
        return _listed(expr.args[1].value)
    if not isinstance(expr, (cst.List, cst.Tuple)):
        return None
    out: list[cst.BaseExpression] = []
    for element in expr.elements:
        pair = element.value
        if not isinstance(pair, cst.Tuple) or len(pair.elements) != 2:
            return None
        out.append(pair.elements[1].value)
    return out


def _is_variable(index: ModuleIndex, expr: cst.BaseExpression, scope: Scope) -> bool:
    found = _call_value(index, expr, scope)
    return found is not None and found[0].qualname in _VARIABLE_CONSTRUCTORS


def _compiled_stack(models: Models, call: CallSite) -> Stack | None:
    for model in models.models:
        if any(c is call for c in model.compiles):
            return model.stack
    return None


def _is_linear(stack: Stack) -> bool:
    """One Dense/Conv layer, the last one with weights, and nothing nonlinear before it."""
    layers = stack.layers
    affine = [i for i, layer in enumerate(layers) if layer.role is Role.AFFINE]
    if len(affine) != 1 or not stack.complete:
        return False
    for layer in layers[: affine[0]]:
        if layer.role not in _LINEAR_PASSTHROUGH and layer.qualname not in _PREPROCESSING:
            return False
    return all(layer.role is Role.ACTIVATION for layer in layers[affine[0] + 1 :])
