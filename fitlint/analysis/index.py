"""One walk over a module that records what every rule needs: imports, calls, assignments,
scopes, loops and constant values.

The walk is hand-written rather than a libcst visitor: it follows only the fields that can hold
code (never whitespace, commas or brackets) and rebuilds nothing, so it costs a few percent of
the parse instead of half of it. Every recorded site carries ``order``, its position in a
pre-order walk, which is source order: rules compare orders to ask "before or after?".
"""

from __future__ import annotations

import dataclasses
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst

from fitlint.analysis.bindings import Bindings
from fitlint.analysis.names import ImportMap, dotted, target_names
from fitlint.analysis.positions import Positions

_UNKNOWN: Any = object()
"""Returned by :meth:`ModuleIndex.const_value` for values that cannot be known statically."""
UNKNOWN = _UNKNOWN


@dataclass(eq=False)
class Scope:
    """A module, class or function body."""

    name: str  # "<module>", "Model", "Model.call", "train"
    kind: str  # "module" | "class" | "function"
    node: cst.CSTNode
    parent: Scope | None


@dataclass(eq=False)
class Loop:
    """An enclosing ``for`` loop; ``count`` is N for ``for _ in range(N)`` with constant N.

    The nodes of its body have orders in ``(start, end]``.
    """

    node: cst.For
    target: str | None
    scope: Scope
    count: int | None = None
    start: int = 0
    end: int = 0


@dataclass(eq=False)
class CallSite:
    """A call expression.

    Attributes:
        node: The call.
        qualname: Canonical qualified name of the callee when it resolves through imports
            (``keras.layers.Dense``), else None.
        func: Dotted text of the callee (``model.fit``, ``Dense``, ``self.fc1``), or None when
            the callee is not a name chain (``Dense(4)(x)``'s outer call).
        method: The last attribute of an attribute call (``fit``), else None.
        receiver: Dotted text of what the method is called on (``model``), else None.
        targets: Names bound by the statement when this call is the whole right-hand side
            of an assignment (``x_tr, x_te = ...`` gives ``("x_tr", "x_te")``).
    """

    node: cst.Call
    qualname: str | None
    func: str | None
    method: str | None
    receiver: str | None
    scope: Scope
    order: int
    loops: tuple[Loop, ...]
    targets: tuple[str, ...] = ()

    def arg(self, keyword: str | None, position: int | None = None) -> cst.BaseExpression | None:
        """Returns the argument passed by ``keyword`` or at ``position`` (0-based)."""
        positional = 0
        for a in self.node.args:
            if a.keyword is not None:
                if keyword is not None and a.keyword.value == keyword:
                    return a.value
            elif a.star:
                return None  # *args: later positions are unknown
            elif position is not None and positional == position:
                return a.value
            else:
                positional += 1
        return None

    def keywords(self) -> dict[str, cst.Arg]:
        """The keyword arguments by name."""
        return {a.keyword.value: a for a in self.node.args if a.keyword is not None}

    def has_star_args(self) -> bool:
        """True when ``*args`` or ``**kwargs`` may pass arguments we cannot see."""
        return any(a.star for a in self.node.args)


@dataclass(eq=False)
class AssignSite:
    """An assignment ``targets = value`` (also ``x += v``: ``augmented`` holds the operator)."""

    node: cst.CSTNode
    targets: tuple[str, ...]
    value: cst.BaseExpression
    scope: Scope
    order: int
    loops: tuple[Loop, ...]
    augmented: cst.BaseAugOp | None = None
    unpacked: bool = False  # the target was a tuple/list: value is not the value of one name


@dataclass(eq=False)
class WhileLoop:
    """A ``while`` statement: its nodes have orders in ``(start, end]``."""

    node: cst.While
    scope: Scope
    start: int
    end: int


@dataclass(eq=False)
class ModuleIndex:
    """What the walk saw. Build it with :func:`build_index`.

    Attributes:
        calls_by_func: Calls by the dotted text of their callee (``build_model``, ``m.add``).
        method_calls: Method calls by ``(method, receiver)``: ``("compile", "model")``.
        returns: The ``return`` statements of each function scope (nested ones excluded).
        statement_of: For each node walked (by id), the top-level statement that holds it
            (its position in the module's body).
        bindings: What each name refers to (:mod:`fitlint.analysis.bindings`).
    """

    module: cst.Module
    imports: ImportMap
    calls: list[CallSite] = field(default_factory=list)
    assigns: list[AssignSite] = field(default_factory=list)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    function_scopes: dict[str, Scope] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    calls_by_method: dict[str, list[CallSite]] = field(default_factory=lambda: defaultdict(list))
    calls_by_qualname: dict[str, list[CallSite]] = field(default_factory=lambda: defaultdict(list))
    calls_by_func: dict[str, list[CallSite]] = field(default_factory=lambda: defaultdict(list))
    method_calls: dict[tuple[str, str], list[CallSite]] = field(
        default_factory=lambda: defaultdict(list)
    )
    assigns_by_name: dict[str, list[AssignSite]] = field(default_factory=lambda: defaultdict(list))
    call_of_node: dict[int, CallSite] = field(default_factory=dict)
    loops: list[Loop] = field(default_factory=list)
    whiles: list[WhileLoop] = field(default_factory=list)
    returns: dict[Scope, list[cst.Return]] = field(default_factory=lambda: defaultdict(list))
    module_scope: Scope | None = None
    _bindings: Bindings | None = None
    source: str | None = None
    statement_of: dict[int, int] = field(default_factory=dict)
    _positions: Positions | None = None

    @property
    def bindings(self) -> Bindings:
        """What each name refers to: the module's one name resolution."""
        if self._bindings is None:
            self._bindings = Bindings(self)
        return self._bindings

    def positions(self) -> Positions:
        """Every node's source range (libcst's ``PositionProvider`` ranges, node for node),
        shared by the rules and the engine and computed for the statements asked about
        (:mod:`fitlint.analysis.positions`)."""
        if self._positions is None:
            self._positions = Positions(self.module, self.source, self.statement_of)
        return self._positions

    def calls_to(self, *qualnames: str) -> Iterator[CallSite]:
        """Calls whose callee resolves to one of ``qualnames``, in source order."""
        sites = [s for q in qualnames for s in self.calls_by_qualname.get(q, ())]
        sites.sort(key=lambda s: s.order)
        yield from sites

    def site_of(self, call: cst.Call) -> CallSite | None:
        """The recorded site of a call node."""
        return self.call_of_node.get(id(call))

    def const_value(self, expr: cst.BaseExpression | None, scope: Scope | None = None) -> Any:
        """Evaluates a constant expression, following names bound once to constants.

        Returns :data:`UNKNOWN` for anything that is not statically known.
        """
        if expr is None:
            return UNKNOWN
        return self._eval(expr, scope, depth=0)

    def _eval(self, expr: cst.BaseExpression, scope: Scope | None, depth: int) -> Any:
        if depth > 20:
            return UNKNOWN
        if isinstance(expr, cst.Integer):
            return int(expr.value, 0)  # Python's own literal forms: 0x1F, 1_000, 0o17
        if isinstance(expr, cst.Float):
            return float(expr.value)
        if isinstance(expr, cst.SimpleString):
            raw = expr.value
            if raw[0] in "'\"" and "\\" not in raw and "\r" not in raw:
                # No prefix, no escape, no newline to normalize: the value is the text.
                quotes = 3 if raw[:3] in ('"""', "'''") else 1
                return raw[quotes:-quotes]
            try:
                return expr.evaluated_value
            except Exception:
                return UNKNOWN
        if isinstance(expr, cst.ConcatenatedString):
            return UNKNOWN
        if isinstance(expr, cst.UnaryOperation):
            inner = self._eval(expr.expression, scope, depth + 1)
            if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                if isinstance(expr.operator, cst.Minus):
                    return -inner
                if isinstance(expr.operator, cst.Plus):
                    return inner
            return UNKNOWN
        if isinstance(expr, cst.BinaryOperation):
            left = self._eval(expr.left, scope, depth + 1)
            right = self._eval(expr.right, scope, depth + 1)
            if not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)
            ):
                return UNKNOWN
            return _binop(expr.operator, left, right)
        if isinstance(expr, (cst.Tuple, cst.List)):
            values = []
            for el in expr.elements:
                if isinstance(el, cst.StarredElement):
                    return UNKNOWN
                v = self._eval(el.value, scope, depth + 1)
                if v is UNKNOWN:
                    return UNKNOWN
                values.append(v)
            return tuple(values)
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[expr.value]
            return self._name_value(expr.value, scope, depth)
        return UNKNOWN

    def _name_value(self, name: str, scope: Scope | None, depth: int) -> Any:
        if scope is None:
            return UNKNOWN
        site = self.bindings.resolve(name, scope, unique=True)
        if site is None:
            return UNKNOWN
        return self._eval(site.value, site.scope, depth + 1)


def _binop(op: cst.BaseBinaryOp, left: float, right: float) -> Any:
    try:
        if isinstance(op, cst.Add):
            return left + right
        if isinstance(op, cst.Subtract):
            return left - right
        if isinstance(op, cst.Multiply):
            return left * right
        if isinstance(op, cst.Divide):
            return left / right
        if isinstance(op, cst.FloorDivide):
            return left // right
        if isinstance(op, cst.Power):
            if abs(right) > 64:
                return UNKNOWN
            return left**right
    except (ZeroDivisionError, OverflowError, ValueError):
        return UNKNOWN
    return UNKNOWN


# Fields that never hold code: skipping them keeps the walk cheap.
_SKIP_PREFIXES = (
    "whitespace",
    "lpar",
    "rpar",
    "comma",
    "semicolon",
    "newline",
    "header",
    "footer",
    "leading_lines",
    "lines_after_decorators",
    "equal",
    "colon",
    "lbracket",
    "rbracket",
    "lbrace",
    "rbrace",
    "trailing_whitespace",
    "default_indent",
    "default_newline",
    "encoding",
    "has_trailing_newline",
    "indent",
    "value_text",
    "quote",
    "prefix",
    "raw_value",
    "asynchronous",
)
_FIELDS: dict[type, tuple[str, ...]] = {}


def code_fields(tp: type) -> tuple[str, ...]:
    """The fields of a node type that can hold code (no whitespace, commas or brackets)."""
    names = _FIELDS.get(tp)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(tp)
            if not f.name.startswith(_SKIP_PREFIXES) and f.name not in ("operator", "star", "dot")
        )
        _FIELDS[tp] = names
    return names


def _range_count(index: ModuleIndex, it: cst.BaseExpression, scope: Scope) -> int | None:
    if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Name)):
        return None
    if it.func.value != "range" or not 1 <= len(it.args) <= 3:
        return None
    values = [index.const_value(a.value, scope) for a in it.args]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    r = range(*values)
    return len(r)


# Nodes that hold no code worth analysing; long implicit string concatenations nest deeply.
_LEAVES = (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float, cst.Imaginary)
# Nodes without code inside: walking their fields finds nothing.
_EMPTY = (cst.Name, cst.Ellipsis, cst.Pass, cst.Break, cst.Continue)


_KIND: dict[type, str] = {
    **{leaf: "leaf" for leaf in (*_LEAVES, *_EMPTY)},
    cst.Call: "call",
    cst.Assign: "assign",
    cst.AnnAssign: "assign",
    cst.AugAssign: "assign",
    cst.FunctionDef: "function",
    cst.ClassDef: "class",
    cst.For: "for",
    cst.While: "while",
    cst.Return: "return",
    cst.Import: "import",
    cst.ImportFrom: "import_from",
}


class _Walker:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.order = 0
        self.loops: tuple[Loop, ...] = ()
        self.statement = 0
        self.where = index.statement_of

    def walk(self, node: cst.CSTNode, scope: Scope) -> None:
        self.order += 1
        self.where[id(node)] = self.statement
        # Dispatch on the exact type: one dict lookup per node instead of a chain of
        # isinstance checks (libcst node classes are final in practice).
        kind = _KIND.get(type(node))
        if kind is None:
            self._children(node, scope)
        elif kind == "leaf":
            return
        elif kind == "call":
            self._call(cast(cst.Call, node), scope)
            self._children(node, scope)
        elif kind == "assign":
            self._assign(cast("cst.Assign | cst.AnnAssign | cst.AugAssign", node), scope)
        elif kind == "function":
            self._function(cast(cst.FunctionDef, node), scope)
        elif kind == "class":
            self._class(cast(cst.ClassDef, node), scope)
        elif kind == "for":
            self._for(cast(cst.For, node), scope)
        elif kind == "while":
            start = self.order
            self._children(node, scope)
            self.index.whiles.append(WhileLoop(cast(cst.While, node), scope, start, self.order))
        elif kind == "return":
            self.index.returns[scope].append(cast(cst.Return, node))
            self._children(node, scope)
        elif kind == "import":
            self.index.imports.add_import(cast(cst.Import, node))
        elif kind == "import_from":
            self.index.imports.add_import_from(cast(cst.ImportFrom, node))

    def _children(self, node: cst.CSTNode, scope: Scope) -> None:
        fields = _FIELDS.get(type(node))
        if fields is None:
            fields = code_fields(type(node))
        walk = self.walk
        for name in fields:
            value = getattr(node, name)
            kind = type(value)
            if kind is tuple or kind is list:
                for child in value:
                    if isinstance(child, cst.CSTNode):
                        walk(child, scope)
            elif value is not None and kind is not str and isinstance(value, cst.CSTNode):
                walk(value, scope)

    def _call(self, node: cst.Call, scope: Scope) -> None:
        func = dotted(node.func)
        method = receiver = None
        if isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            # `a.b.c(...)`: the receiver is `a.b`; no name chain in the callee, none in it.
            receiver = func.rpartition(".")[0] if func is not None else None
        site = CallSite(
            node=node,
            qualname=None,  # resolved after the walk, once every import is known
            func=func,
            method=method,
            receiver=receiver,
            scope=scope,
            order=self.order,
            loops=self.loops,
        )
        self.index.calls.append(site)
        self.index.call_of_node[id(node)] = site

    def _assign(self, node: cst.Assign | cst.AnnAssign | cst.AugAssign, scope: Scope) -> None:
        order = self.order
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
            value: cst.BaseExpression | None = node.value
        else:
            targets = [node.target]
            value = node.value
        # Walk the value first so calls inside it are recorded, then the targets.
        if value is not None:
            self.walk(value, scope)
        for t in targets:
            self.walk(t, scope)
        if value is None:
            return
        aug = node.operator if isinstance(node, cst.AugAssign) else None
        for t in targets:
            names, unpacked = target_names(t)
            site = AssignSite(
                node=node,
                targets=names,
                value=value,
                scope=scope,
                order=order,
                loops=self.loops,
                augmented=aug,
                unpacked=unpacked,
            )
            self.index.assigns.append(site)
            for n in names:
                if n:
                    self.index.assigns_by_name[n].append(site)
            if isinstance(value, cst.Call) and aug is None:
                call_site = self.index.call_of_node.get(id(value))
                if call_site is not None:
                    call_site.targets = call_site.targets + names

    def _function(self, node: cst.FunctionDef, scope: Scope) -> None:
        for d in node.decorators:
            self.walk(d, scope)
        self.walk(node.params, scope)
        self.where[id(node.name)] = self.statement  # reported, never walked
        qual = node.name.value if scope.kind == "module" else f"{scope.name}.{node.name.value}"
        inner = Scope(name=qual, kind="function", node=node, parent=scope)
        self.index.functions.setdefault(qual, node)
        self.index.function_scopes.setdefault(qual, inner)
        saved = self.loops
        self.loops = ()
        self.walk(node.body, inner)
        self.loops = saved

    def _class(self, node: cst.ClassDef, scope: Scope) -> None:
        for d in node.decorators:
            self.walk(d, scope)
        for b in (*node.bases, *node.keywords):
            self.walk(b, scope)
        qual = node.name.value if scope.kind == "module" else f"{scope.name}.{node.name.value}"
        self.index.classes.setdefault(qual, node)
        inner = Scope(name=qual, kind="class", node=node, parent=scope)
        self.walk(node.body, inner)

    def _for(self, node: cst.For, scope: Scope) -> None:
        self.walk(node.iter, scope)
        self.walk(node.target, scope)
        target = dotted(node.target)
        loop = Loop(node=node, target=target, scope=scope, start=self.order)
        self.index.loops.append(loop)
        saved = self.loops
        self.loops = (*saved, loop)
        self.walk(node.body, scope)
        loop.end = self.order
        self.loops = saved
        if node.orelse is not None:
            self.walk(node.orelse, scope)


def build_index(module: cst.Module, source: str | None = None) -> ModuleIndex:
    """Walks ``module`` once and returns what it saw.

    Args:
        module: The parsed module.
        source: The text it was parsed from, when known: positions are then computed for
            the statements asked about only.
    """
    index = ModuleIndex(module=module, imports=ImportMap(), source=source)
    scope = Scope(name="<module>", kind="module", node=module, parent=None)
    index.module_scope = scope
    walker = _Walker(index)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4000))  # deeply nested expressions are legal Python
    try:
        walker.order += 1  # the module itself
        for k, stmt in enumerate(module.body):
            walker.statement = k
            walker.walk(stmt, scope)
    finally:
        sys.setrecursionlimit(limit)
    for loop in index.loops:
        loop.count = _range_count(index, loop.node.iter, loop.scope)
    for site in index.calls:
        site.qualname = index.imports.qualify_name(site.func) if site.func else None
        if site.qualname is not None:
            index.calls_by_qualname[site.qualname].append(site)
        if site.func is not None:
            index.calls_by_func[site.func].append(site)
        if site.method is not None:
            index.calls_by_method[site.method].append(site)
            if site.receiver is not None:
                index.method_calls[(site.method, site.receiver)].append(site)
    return index
