"""What a name refers to: the one place where a name is resolved to the assignment that binds it.

Every analysis asks :meth:`Bindings.resolve`, with its policy spelled out in arguments:

* ``before``: flow-sensitive. Only assignments before this source order count in the scope
  of the use, and the latest of them wins; enclosing scopes count whatever their order
  (a function runs after the module has bound its globals). ``None``: every assignment of the
  scope counts.
* ``after``: only assignments at or after this order count in the scope of the use (the body
  of a loop being unrolled).
* ``enclosing``: look in the enclosing scopes (class bodies skipped, as Python does) when
  the scope of the use does not bind the name.
* ``unique``: the scope that binds the name must bind it exactly once, by a plain
  ``name = value`` outside any loop; otherwise the binding is unknown.
* ``plain``: the binding found must be a plain ``name = value`` (no ``+=``, no unpacking).
* ``members``: ``self.<attr>`` resolves through the class and its base classes of the file.

Whatever the policy, a name that a ``for`` loop of the scope rebinds, or that is a parameter
of the function, has no known binding: unknown means the rules stay silent.

Tables are built once per module, so each question costs a dictionary lookup and a binary
search, whatever the size of the file.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from fitlint.analysis.names import dotted, param_names, target_names

if TYPE_CHECKING:
    from fitlint.analysis.index import AssignSite, CallSite, ModuleIndex, Scope

_MAX_DEPTH = 40


def _order(site: AssignSite) -> int:
    return site.order


class Bindings:
    """The assignments of one module, by scope and name. Built by :func:`build_index`."""

    def __init__(self, index: ModuleIndex) -> None:
        # The index's tables, not the index: the index holds this object, and no reference
        # cycle may keep a module's tree alive after its lint.
        self._assigns = index.assigns_by_name
        self._call_of_node = index.call_of_node
        self._classes = index.classes
        by_scope: dict[tuple[Scope, str], list[AssignSite]] = defaultdict(list)
        for name, sites in index.assigns_by_name.items():
            for s in sites:
                by_scope[(s.scope, name)].append(s)
        for sites in by_scope.values():
            sites.sort(key=_order)
        self._by_scope: dict[tuple[Scope, str], list[AssignSite]] = dict(by_scope)
        self._loop_names: dict[Scope, set[str]] = {}
        for loop in index.loops:
            names, _ = target_names(loop.node.target)
            self._loop_names.setdefault(loop.scope, set()).update(names)
        self._params: dict[Scope, frozenset[str]] = {}
        self._members: dict[tuple[str, str], list[AssignSite]] | None = None
        self._calls_by_func = index.calls_by_func

    # -- tables ------------------------------------------------------------------------------

    def in_scope(self, name: str, scope: Scope) -> Sequence[AssignSite]:
        """The assignments of ``name`` in ``scope`` (not in enclosing ones), in source order."""
        return self._by_scope.get((scope, name), ())

    def everywhere(self, name: str) -> Sequence[AssignSite]:
        """The assignments of ``name`` in any scope, in source order."""
        return self._assigns.get(name, ())

    def assigned_between(self, name: str, scope: Scope, after: int, before: int) -> bool:
        """Whether ``scope`` assigns ``name`` strictly between two source orders."""
        sites = self.in_scope(name, scope)
        i = bisect.bisect_right(sites, after, key=_order)
        return i < len(sites) and sites[i].order < before

    def next_assignment(self, name: str, scope: Scope, after: int) -> int | None:
        """The order of the first assignment of ``name`` in ``scope`` after ``after``."""
        sites = self.in_scope(name, scope)
        i = bisect.bisect_right(sites, after, key=_order)
        return sites[i].order if i < len(sites) else None

    def loop_binds(self, name: str, scope: Scope) -> bool:
        """Whether a ``for`` loop of ``scope`` binds ``name`` (a target or part of one)."""
        return name in self._loop_names.get(scope, ())

    def parameters(self, scope: Scope) -> frozenset[str]:
        """The parameter names of a function scope (empty for other scopes)."""
        found = self._params.get(scope)
        if found is None:
            node = scope.node
            found = param_names(node) if isinstance(node, cst.FunctionDef) else frozenset()
            self._params[scope] = found
        return found

    def arguments(self, name: str, scope: Scope) -> list[tuple[cst.BaseExpression, CallSite]]:
        """What the calls of a module-level function pass for its parameter ``name``: one
        ``(argument, call)`` per call of the function by its name elsewhere in the file.

        Empty (unknown) when ``name`` is not a positional parameter of the function ``scope``,
        the function rebinds it or is not defined at module level, no call passes it, or
        one call passes it out of sight (``*args``, ``**kwargs``, or not at all).
        """
        fn = scope.node
        if scope.kind != "function" or not isinstance(fn, cst.FunctionDef):
            return []
        if scope.parent is None or scope.parent.kind != "module":
            return []
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if name not in params or self.in_scope(name, scope) or self.loop_binds(name, scope):
            return []
        position = params.index(name)
        out: list[tuple[cst.BaseExpression, CallSite]] = []
        for site in self._calls_by_func.get(scope.name, ()):
            if site.scope is scope:
                continue  # a recursive call passes what the function already has
            if any(a.star for a in site.node.args):
                return []
            arg = site.arg(name, position)
            if arg is None:
                return []
            out.append((arg, site))
        return out

    # -- the one resolution --------------------------------------------------------------------

    def resolve(
        self,
        name: str,
        scope: Scope,
        *,
        before: int | None = None,
        after: int = -1,
        enclosing: bool = True,
        unique: bool = False,
        plain: bool = False,
        members: bool = False,
    ) -> AssignSite | None:
        """The assignment that gives ``name`` its value as seen from ``scope``, if known.

        Args:
            name: A name or dotted name (``x``, ``self.fc``).
            scope: The scope of the use.
            before: Only assignments before this order count in ``scope`` (the latest wins).
            after: Only assignments at or after this order count in ``scope``.
            enclosing: Look in enclosing scopes when ``scope`` does not bind the name.
            unique: The binding scope must bind the name exactly once, plainly, outside loops.
            plain: The binding found must be a plain ``name = value``.
            members: Resolve ``self.<attr>`` through the class and its bases of the file.

        Returns:
            The assignment, or None when the name has no single known binding.
        """
        if members and name.startswith("self."):
            return self._member(name, scope)
        head = name.split(".", 1)[0]
        current: Scope | None = scope
        first = True
        while current is not None:
            if name in self._loop_names.get(current, ()):
                return None  # a `for` target rebinds the name on every iteration
            sites: Sequence[AssignSite] = self._by_scope.get((current, name), ())
            if sites and first and (before is not None or after >= 0):
                lo = bisect.bisect_left(sites, after, key=_order) if after >= 0 else 0
                hi = bisect.bisect_left(sites, before, key=_order) if before is not None else None
                sites = sites[lo:hi]
            if sites:
                if unique:
                    return _single(sites)
                found = sites[-1]
                if plain and (found.augmented is not None or found.unpacked):
                    return None
                return found
            if current.kind == "function" and head in self.parameters(current):
                return None  # parameters shadow outer names: the value is unknown
            if not enclosing:
                return None
            current = current.parent
            while current is not None and current.kind == "class":
                current = current.parent  # class bodies do not enclose their methods' names
            first = False
        return None

    def origin_call(
        self, expr: cst.BaseExpression, scope: Scope, before: int, depth: int = 0
    ) -> CallSite | None:
        """The call whose result ``expr`` refers to at ``before``, through plain bindings.

        ``est.fit(X)`` returns ``est``: the call is followed to the estimator.
        """
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            site = self._call_of_node.get(id(expr))
            if site is None:
                return None
            if site.method == "fit" and isinstance(expr.func, cst.Attribute):
                return self.origin_call(expr.func.value, scope, before, depth + 1)
            return site
        name = dotted(expr)
        if name is None:
            return None
        b = self.resolve(name, scope, before=before, plain=True)
        if b is None:
            return None
        return self.origin_call(b.value, b.scope, b.order, depth + 1)

    # -- self.<attr> ---------------------------------------------------------------------------

    def _member(self, name: str, scope: Scope) -> AssignSite | None:
        cls: Scope | None = scope
        while cls is not None and cls.kind != "class":
            cls = cls.parent
        if cls is None:
            return None
        members = self._member_table()
        for qual in self.class_lineage(cls.name):
            here = members.get((qual, name))
            if here:
                return _single(here)
        return None

    def _member_table(self) -> dict[tuple[str, str], list[AssignSite]]:
        """``self.<attr>`` assignments by every class (qualified name) whose body holds them."""
        if self._members is None:
            table: dict[tuple[str, str], list[AssignSite]] = defaultdict(list)
            for name, sites in self._assigns.items():
                if not name.startswith("self."):
                    continue
                for s in sites:
                    parts = s.scope.name.split(".")
                    for i in range(1, len(parts)):
                        table[(".".join(parts[:i]), name)].append(s)
            self._members = dict(table)
        return self._members

    def class_lineage(self, qual: str) -> list[str]:
        """The class and its base classes defined in the module, most derived first."""
        classes = self._classes
        out: list[str] = []
        current: str | None = qual
        while current is not None and current not in out and len(out) < 16:
            out.append(current)
            cls = classes.get(current)
            current = None
            if cls is not None:
                for base in cls.bases:
                    base_name = dotted(base.value)
                    if base_name is not None and base_name in classes:
                        current = base_name
                        break
        return out


def _single(sites: Sequence[AssignSite]) -> AssignSite | None:
    if len(sites) != 1:
        return None
    site = sites[0]
    if site.augmented is not None or site.unpacked or site.loops:
        return None
    return site


def unpacked_path(site: AssignSite, name: str) -> tuple[int, ...] | None:
    """Where an unpacking assignment binds ``name``: ``(1, 0)`` for ``b`` in
    ``a, (b, c) = value``; None when no target binds it (or a starred one hides it)."""
    node = site.node
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        targets = [node.target]
    else:
        return None
    for target in targets:
        path = _target_path(target, name)
        if path is not None:
            return path
    return None


def _target_path(target: cst.BaseExpression, name: str) -> tuple[int, ...] | None:
    if isinstance(target, (cst.Tuple, cst.List)):
        for i, el in enumerate(target.elements):
            if isinstance(el, cst.StarredElement):
                return None
            sub = _target_path(el.value, name)
            if sub is not None:
                return (i, *sub)
        return None
    return () if dotted(target) == name else None
