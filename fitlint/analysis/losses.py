"""Which cross-entropy a loss expression computes: a string (``"categorical_crossentropy"``), a
loss class (``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``) or a loss
function (``keras.losses.binary_crossentropy``), also through a name bound once to one.

Anything else (a custom function, a dict of losses, an unknown name) is unknown: None.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from fitlint.analysis.index import UNKNOWN, ModuleIndex, Scope

KINDS = {
    "categorical_crossentropy": "categorical",
    "CategoricalCrossentropy": "categorical",
    "binary_crossentropy": "binary",
    "BinaryCrossentropy": "binary",
    "sparse_categorical_crossentropy": "sparse",
    "SparseCategoricalCrossentropy": "sparse",
}
TITLES = {
    "categorical": "categorical cross-entropy",
    "binary": "binary cross-entropy",
    "sparse": "sparse categorical cross-entropy",
}

_MAX_DEPTH = 4


@dataclass(frozen=True)
class Loss:
    """A cross-entropy loss.

    Attributes:
        kind: ``"categorical"``, ``"binary"`` or ``"sparse"``.
        from_logits: The constant ``from_logits`` flag (False when not given), None when
            not known.
        node: The expression that names the loss (the string, the call, the name).
    """

    kind: str
    from_logits: bool | None
    node: cst.BaseExpression


def loss_of(
    index: ModuleIndex, expr: cst.BaseExpression, scope: Scope, depth: int = 0
) -> Loss | None:
    """The cross-entropy ``expr`` computes, or None when it is not a known one.

    Args:
        index: The module's index.
        expr: The ``loss`` argument of ``compile()`` (or a name bound to it).
        scope: The scope it is evaluated in.
        depth: Names followed so far.
    """
    value = index.const_value(expr, scope)
    if isinstance(value, str):
        kind = KINDS.get(value)
        return Loss(kind, False, expr) if kind else None
    if value is not UNKNOWN or depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Call):
        q = index.imports.qualify(expr.func)
        if q is None or not q.startswith("keras.losses."):
            return None
        kind = KINDS.get(q.rsplit(".", 1)[-1])
        if kind is None:
            return None
        site = index.site_of(expr)
        if site is None or not q.rsplit(".", 1)[-1][0].isupper():
            return None
        arg = site.arg("from_logits", 0)
        if arg is None:
            return Loss(kind, None if site.has_star_args() else False, expr)
        flag = index.const_value(arg, scope)
        return Loss(kind, flag if isinstance(flag, bool) else None, expr)
    q = index.imports.qualify(expr)
    if q is not None:
        if q.startswith("keras.losses.") and q.rsplit(".", 1)[-1].islower():
            kind = KINDS.get(q.rsplit(".", 1)[-1])
            return Loss(kind, False, expr) if kind else None
        return None
    if isinstance(expr, cst.Name):
        bound = index.bindings.resolve(expr.value, scope, unique=True)
        if bound is not None:
            return loss_of(index, bound.value, bound.scope, depth + 1)
    return None
