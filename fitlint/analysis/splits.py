"""Train/test splits, preprocessors fitted on data, and the leaks between them.

A split is a ``train_test_split`` call, a pair of ``X[:n]`` / ``X[n:]`` slices, a
cross-validation splitter's ``split(X)`` or ``cross_val_score(est, X, y)``, or a call of a
function (or class) of the file that splits its parameter in one of these ways. A fitted
preprocessor is a scaler, imputer, selector, vectorizer, oversampler or Keras ``adapt()`` that
learns statistics (:mod:`fitlint.analysis.sources`), alone or inside a pipeline or
``DataFrameMapper``; the function forms (``scale(X)``); a standardization by the data's own
statistics (``(X - X.mean()) / X.std()``, also inside ``DataFrame.apply``); or a call of a
function of the file that fits one of these on its parameter.

:meth:`SplitAnalysis.lineage` says which assignments feed a value,
:meth:`SplitAnalysis.split_part` which part of a split a value is,
and :meth:`SplitAnalysis.leaks` pairs each preprocessor with the first later split of the data
it was fitted on, from a table built once (each split's lineage, inverted).
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import libcst as cst

from fitlint.analysis.bindings import unpacked_path
from fitlint.analysis.index import AssignSite, CallSite, ModuleIndex, Scope, code_fields
from fitlint.analysis.layers import class_name
from fitlint.analysis.models import unique_sites
from fitlint.analysis.names import dotted
from fitlint.analysis.provenance import ProvenanceResolver
from fitlint.analysis.sources import (
    ADAPT_LAYERS,
    CV_FUNCTIONS,
    EXPAND_FUNCTIONS,
    FIT_METHODS,
    HARMLESS,
    LEAKY_CLASSES,
    LEAKY_MODULES,
    PASS_ATTRIBUTES,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PIPELINES,
    RESHAPE_FUNCTIONS,
    SCALING_FUNCTIONS,
    SPLIT,
    SPLITTERS,
    STATISTIC_FUNCTIONS,
    STATISTIC_METHODS,
    VALUE_METHODS,
    is_columns,
)

_MAX_DEPTH = 40


@dataclass(eq=False)
class SplitCall:
    """A train/test split: a ``train_test_split`` call, or ``X[:n]`` / ``X[n:]`` slices.

    Attributes:
        node: The call, or the first of the two slices.
        scope: Where the split happens.
        order: Source order of the split.
        arrays: The arrays that are split, in order.
        how: ``"train_test_split"``, ``"slicing"``, or how else, for messages
            (``"KFold.split()"``, ``"cross_val_score()"``, ``"split_data()"``).
    """

    node: cst.CSTNode
    scope: Scope
    order: int
    arrays: tuple[cst.BaseExpression, ...]
    how: str


@dataclass(eq=False)
class FittedPreprocessor:
    """A preprocessor fitted on data: ``.fit``/``.fit_transform``/``.fit_resample``/``.adapt``.

    Attributes:
        site: The fitting call (for a standardization by hand, its first statistic; for a
            function of the file, the call of that function).
        estimator: The canonical class or function name
            (``sklearn.preprocessing.StandardScaler``).
        data: The data it is fitted on.
        label: How messages name it, when not by the class name (``scale()``).
        node: The node a finding covers, when not the fitting call.
        output: The assignment that holds what it returns (``Z = scaler.fit_transform(X)``).
    """

    site: CallSite
    estimator: str
    data: cst.BaseExpression
    label: str | None = None
    node: cst.CSTNode | None = None
    output: AssignSite | None = None

    @property
    def short_name(self) -> str:
        """The class name without its module (``StandardScaler``), or the label."""
        return self.label or self.estimator.rsplit(".", 1)[-1]


def _split_order(split: SplitCall) -> int:
    return split.order


class SplitAnalysis:
    """The splits, fitted preprocessors and lineage queries of one module."""

    def __init__(self, index: ModuleIndex, provenance: ProvenanceResolver) -> None:
        self.index = index
        self.bindings = index.bindings
        self._provenance = provenance

    @functools.cached_property
    def splits(self) -> list[SplitCall]:
        """The train/test splits, in source order."""
        return self._find_splits()

    @functools.cached_property
    def preprocessors(self) -> list[FittedPreprocessor]:
        """The preprocessors fitted on data, in source order."""
        return self._find_preprocessors()

    def lineage(
        self, expr: cst.BaseExpression, scope: Scope, order: int, *, transitive: bool = True
    ) -> frozenset[AssignSite]:
        """The assignments whose data flows into ``expr``.

        Follows data-preserving operations only (names, slicing, dtype and shape changes,
        arithmetic, ``transform``/``fit_transform``/``fit_resample`` arguments, numpy
        conversions and concatenations); unknown calls end the chain. With
        ``transitive=False``, only the bindings of the names ``expr`` reads directly.
        """
        out: set[AssignSite] = set()
        self._lineage(expr, scope, order, out, transitive, 0)
        return frozenset(out)

    def split_part(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int = 0
    ) -> str | None:
        """``"train"``/``"test"`` when ``expr`` is one part of a train/test split.

        Knows the outputs of ``train_test_split`` and of ``keras.datasets`` loaders, followed
        through names, unpacking, slicing, arithmetic and dtype/shape changes.
        """
        if depth > _MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(expr, cst.Attribute) and expr.attr.value in PASS_ATTRIBUTES:
            return self.split_part(expr.value, scope, order, d)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            name = dotted(expr)
            b = None if name is None else self.bindings.resolve(name, scope, before=order)
            if b is None or name is None:
                return None
            if b.augmented is not None:
                return self.split_part(expr, b.scope, b.order, d)
            if not b.unpacked:
                return self.split_part(b.value, b.scope, b.order, d)
            path = unpacked_path(b, name)
            value = b.value
            if path is None:
                return None
            if isinstance(value, (cst.Tuple, cst.List)):
                if len(path) == 1 and path[0] < len(value.elements):
                    return self.split_part(value.elements[path[0]].value, b.scope, b.order, d)
                return None
            site = self.index.site_of(value) if isinstance(value, cst.Call) else None
            q = site.qualname if site else None
            if q == SPLIT and path:
                return "train" if path[0] % 2 == 0 else "test"
            loaded = self._provenance.dataset_loaded(value, b.scope, b.order) if site else None
            if loaded is not None and path and path[0] in (0, 1):
                return "train" if path[0] == 0 else "test"
            return None
        if isinstance(expr, cst.Subscript):
            return self.split_part(expr.value, scope, order, d)
        if isinstance(expr, cst.BinaryOperation):
            return self.split_part(expr.left, scope, order, d)
        if isinstance(expr, cst.Call):
            site = self.index.site_of(expr)
            if site is None:
                return None
            if site.qualname in PASS_FUNCTIONS or site.qualname in SCALING_FUNCTIONS:
                first = site.arg(None, 0)
                return None if first is None else self.split_part(first, scope, order, d)
            if (
                site.qualname is None
                and isinstance(expr.func, cst.Attribute)
                and site.method in (*PASS_METHODS, "reshape")
            ):
                return self.split_part(expr.func.value, scope, order, d)
        return None

    def leaks(self) -> Iterator[tuple[FittedPreprocessor, SplitCall]]:
        """Preprocessors fitted on data that is split into train/test afterwards.

        Each preprocessor is paired with the first split after it, in its scope, whose first
        array derives from the data it was fitted on.
        """
        for prep in self.preprocessors:
            if self._row_subset(prep.data, prep.site.scope):
                continue
            # Fitted on a training split: re-splitting it for validation is the usual workflow.
            if self.split_part(prep.data, prep.site.scope, prep.site.order) == "train":
                continue
            heads = set(self.lineage(prep.data, prep.site.scope, prep.site.order, transitive=False))
            if prep.output is not None:
                heads.add(prep.output)  # Z = scaler.fit_transform(X), X of unknown origin
            first: SplitCall | None = None
            for head in heads:
                later = self._splits_reading.get((prep.site.scope, head), ())
                i = bisect.bisect_right(later, prep.site.order, key=_split_order)
                if i < len(later) and (first is None or later[i].order < first.order):
                    first = later[i]
            if first is not None:
                yield prep, first

    @functools.cached_property
    def _splits_reading(self) -> dict[tuple[Scope, AssignSite], list[SplitCall]]:
        """The splits whose first array derives from each assignment, by (scope, assignment),
        in source order."""
        out: dict[tuple[Scope, AssignSite], list[SplitCall]] = defaultdict(list)
        for split in self.splits:
            if split.arrays:
                for b in self.lineage(split.arrays[0], split.scope, split.order):
                    out[(split.scope, b)].append(split)
        return out

    def _lineage(
        self,
        expr: cst.BaseExpression,
        scope: Scope,
        order: int,
        out: set[AssignSite],
        transitive: bool,
        depth: int,
    ) -> None:
        if depth > _MAX_DEPTH:
            return
        d = depth + 1
        if isinstance(expr, cst.Attribute) and expr.attr.value in (*PASS_ATTRIBUTES, "T"):
            self._lineage(expr.value, scope, order, out, transitive, d)
            return
        if isinstance(expr, (cst.Name, cst.Attribute)):
            name = dotted(expr)
            if name is not None:
                self._lineage_name(name, scope, order, out, transitive, d)
            return
        if isinstance(expr, cst.Subscript):
            self._lineage(expr.value, scope, order, out, transitive, d)
            return
        if isinstance(expr, (cst.Tuple, cst.List)):
            for el in expr.elements:
                self._lineage(el.value, scope, order, out, transitive, d)
            return
        if isinstance(expr, cst.BinaryOperation):
            self._lineage(expr.left, scope, order, out, transitive, d)
            self._lineage(expr.right, scope, order, out, transitive, d)
            return
        if isinstance(expr, cst.Call):
            site = self.index.site_of(expr)
            if site is None:
                return
            method = site.method
            q = site.qualname
            if q is not None and (
                q in PASS_FUNCTIONS
                or q in EXPAND_FUNCTIONS
                or q in RESHAPE_FUNCTIONS
                or q in ("numpy.concatenate", "numpy.vstack", "numpy.hstack", "numpy.column_stack")
            ):
                first = site.arg(None, 0)
                if first is not None:
                    self._lineage(first, scope, order, out, transitive, d)
                return
            if q is not None and q != SPLIT:
                return
            if q == SPLIT or method in ("transform", "fit_transform", "fit_resample"):
                for a in expr.args:
                    if a.keyword is None:
                        self._lineage(a.value, scope, order, out, transitive, d)
                return
            if (
                method in PASS_METHODS
                or method in VALUE_METHODS
                or method in ("reshape", "fillna", "replace", "apply", "map")
            ) and isinstance(expr.func, cst.Attribute):
                self._lineage(expr.func.value, scope, order, out, transitive, d)

    def _lineage_name(
        self,
        name: str,
        scope: Scope,
        order: int,
        out: set[AssignSite],
        transitive: bool,
        depth: int,
    ) -> None:
        b = self.bindings.resolve(name, scope, before=order)
        if b is None or b in out or depth > _MAX_DEPTH:
            return
        out.add(b)
        if not transitive:
            return
        if b.augmented is not None:  # x /= 255 also reads the previous x
            self._lineage_name(name, b.scope, b.order, out, True, depth + 1)
        self._lineage(b.value, b.scope, b.order, out, True, depth + 1)

    def _row_subset(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        """True when ``expr`` selects rows (``X[:800]``): fitting on a subset is deliberate."""
        while True:
            if isinstance(expr, cst.Subscript):
                first = _first_slice(expr)
                if first is not None and (first.lower is not None or first.upper is not None):
                    return True
                if expr.slice and isinstance(expr.slice[0].slice, cst.Index):
                    value = expr.slice[0].slice.value
                    if not isinstance(value, cst.Ellipsis) and not self._column_key(
                        value, scope, 0
                    ):
                        return True
                expr = expr.value
            elif isinstance(expr, cst.Attribute) and expr.attr.value in PASS_ATTRIBUTES:
                expr = expr.value
            else:
                return False

    def _column_key(self, key: cst.BaseExpression, scope: Scope, depth: int) -> bool:
        """Whether a subscript key selects pandas columns: names (``df[["a", "b"]]``), the
        frame's columns (``df[df.columns[:-1]]``), or a loop over either (``df[[c]]`` in
        ``for c in ["a", "b"]``)."""
        if depth > 3:
            return False
        if is_columns(self.index.const_value(key, scope)):
            return True
        if isinstance(key, cst.List) and key.elements:
            return all(
                isinstance(el, cst.Element) and self._column_key(el.value, scope, depth + 1)
                for el in key.elements
            )
        if isinstance(key, cst.Subscript):
            key = key.value  # df.columns[:-1]
        if isinstance(key, cst.Attribute):
            return key.attr.value == "columns"
        if isinstance(key, cst.Name):
            if self.bindings.loop_binds(key.value, scope):
                loops = [lp for lp in self.index.loops if lp.scope is scope]
                iters = [lp.node.iter for lp in loops if lp.target == key.value]
                return bool(iters) and all(self._column_key(it, scope, depth + 1) for it in iters)
            b = self.bindings.resolve(key.value, scope, unique=True)
            return b is not None and self._column_key(b.value, b.scope, depth + 1)
        return False

    # -- splits and preprocessors ------------------------------------------------------------

    def _find_splits(self) -> list[SplitCall]:
        out = [
            SplitCall(
                node=site.node,
                scope=site.scope,
                order=site.order,
                arrays=tuple(a.value for a in site.node.args if a.keyword is None and not a.star),
                how="train_test_split",
            )
            for site in unique_sites(self.index.calls_to(SPLIT))
        ]
        out.extend(self._fold_splits())
        out.extend(self._slice_splits())
        out.extend(self._calls_splitting(out))
        out.sort(key=_split_order)
        return out

    def _fold_splits(self) -> Iterator[SplitCall]:
        """``KFold(5).split(X)`` and ``cross_val_score(est, X, y)``: X is cut into folds."""
        for site in unique_sites(self.index.calls_by_method.get("split", ())):
            func = site.node.func
            data = site.arg("X", 0)
            if not isinstance(func, cst.Attribute) or data is None:
                continue
            ctor = self.bindings.origin_call(func.value, site.scope, site.order)
            if ctor is not None and ctor.qualname in SPLITTERS:
                how = f"{_short(ctor.qualname)}.split()"
                yield SplitCall(site.node, site.scope, site.order, (data,), how)
        for site in unique_sites(self.index.calls_to(*CV_FUNCTIONS)):
            data = site.arg("X", 1)
            if data is not None and site.qualname is not None:
                how = f"{_short(site.qualname)}()"
                yield SplitCall(site.node, site.scope, site.order, (data,), how)

    def _slice_splits(self) -> list[SplitCall]:
        """``X_train, X_test = X[:n], X[n:]`` (or two statements, ``X[0:n]``, ``X[:n, :]``,
        ``X[n:len(X)]``, three ways ``X[:a]``, ``X[a:b]``, ``X[b:]``): a split by slicing."""
        halves: dict[tuple[int, str, str], dict[str, tuple[cst.Subscript, _Where]]] = {}
        code = self.index.module.code_for_node
        for site in self._sliced_values():
            values: Iterable[cst.BaseExpression]
            if isinstance(site.value, cst.Tuple) and site.unpacked:
                values = [el.value for el in site.value.elements]
            else:
                values = [site.value]
            for value in values:
                if not isinstance(value, cst.Subscript):
                    continue
                sl = _first_slice(value)
                base = dotted(value.value)
                if sl is None or base is None or sl.step is not None:
                    continue
                lower = None if self._is_zero(sl.lower, site.scope) else sl.lower
                upper = None if _is_length_of(sl.upper, base) else sl.upper
                sides: list[tuple[str, cst.BaseExpression]] = []
                if lower is None and upper is not None:
                    sides.append(("head", upper))
                elif upper is None and lower is not None:
                    sides.append(("tail", lower))
                elif lower is not None and upper is not None and not site.loops:
                    sides += [("tail", lower), ("head", upper)]  # the middle of three
                for side, bound in sides:
                    key = (id(site.scope), base, code(bound))
                    halves.setdefault(key, {}).setdefault(side, (value, site))
        out = []
        for pair in halves.values():
            if len(pair) != 2:
                continue
            (head, head_site), (tail, tail_site) = pair["head"], pair["tail"]
            first_node, first_site = (
                (head, head_site) if head_site.order <= tail_site.order else (tail, tail_site)
            )
            out.append(
                SplitCall(
                    node=first_node,
                    scope=first_site.scope,
                    order=first_site.order,
                    arrays=(first_node.value,),
                    how="slicing",
                )
            )
        return out

    def _sliced_values(self) -> Iterator[_Where]:
        """The assigned values, and the returned ones (``return X[:n], X[n:]``)."""
        for site in self.index.assigns:
            if site.augmented is None:
                yield _Where(site.value, site.scope, site.order, bool(site.loops), site.unpacked)
        for scope, returns in self.index.returns.items():
            for ret in returns:
                if isinstance(ret.value, cst.Tuple):  # ordered after the function's statements
                    yield _Where(ret.value, scope, _END, False, True)

    def _is_zero(self, expr: cst.BaseExpression | None, scope: Scope) -> bool:
        return expr is not None and self.index.const_value(expr, scope) == 0

    def _calls_splitting(self, splits: list[SplitCall]) -> list[SplitCall]:
        """Calls of the file's functions (methods, classes) that split a parameter: the call
        splits what it is passed there (``X_train, X_test = split_data(X)``)."""
        out: list[SplitCall] = []
        seen: set[tuple[int, int]] = set()
        for split in splits:
            if not split.arrays:
                continue
            param = self._parameter(split.arrays[0], split.scope)
            if param is None:
                continue
            name, position = param
            for caller, offset in self._callers(split.scope):
                arg = caller.site.arg(name, position - offset)
                key = (id(caller.site.node), id(split.scope))
                if arg is None or key in seen:
                    continue
                seen.add(key)
                site = caller.site
                out.append(SplitCall(site.node, site.scope, site.order, (arg,), f"{caller.name}()"))
        return out

    def _parameter(self, expr: cst.BaseExpression, scope: Scope) -> tuple[str, int] | None:
        """``(name, position)`` when ``expr`` is (columns or a view of) a positional parameter
        of the function ``scope`` that it does not rebind."""
        fn = scope.node
        if scope.kind != "function" or not isinstance(fn, cst.FunctionDef):
            return None
        while True:
            view = isinstance(expr, cst.Attribute) and expr.attr.value in PASS_ATTRIBUTES
            columns = isinstance(expr, cst.Subscript) and not self._row_subset(expr, scope)
            if not (view or columns):
                break
            expr = cast("cst.Attribute | cst.Subscript", expr).value
        if not isinstance(expr, cst.Name):
            return None
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if expr.value not in params or self.bindings.in_scope(expr.value, scope):
            return None
        return expr.value, params.index(expr.value)

    def _callers(self, scope: Scope) -> list[tuple[_Caller, int]]:
        """The calls of the function ``scope`` from other scopes, with the number of leading
        parameters they do not pass (1 for ``self``)."""
        parent = scope.parent
        fn = scope.node
        if parent is None or not isinstance(fn, cst.FunctionDef):
            return []
        method = fn.name.value
        found: list[tuple[_Caller, int]] = []
        if parent.kind == "module":
            for site in self.index.calls_by_func.get(scope.name, ()):
                found.append((_Caller(site, method), 0))
        elif parent.kind == "class" and parent.parent is not None:
            if parent.parent.kind != "module":
                return []
            if method == "__init__":  # Data(X) runs Data.__init__(self, X)
                for site in self.index.calls_by_func.get(parent.name, ()):
                    found.append((_Caller(site, parent.name), 1))
            elif self._method_owners.get(method) == 1:
                for site in self.index.calls_by_method.get(method, ()):
                    if site.qualname is None:  # obj.split_data(X), self.split_data(X)
                        found.append((_Caller(site, method), 1))
        return [(c, k) for c, k in found if c.site.scope is not scope]

    @functools.cached_property
    def _method_owners(self) -> dict[str, int]:
        """How many classes of the file define each method name."""
        counts: dict[str, int] = defaultdict(int)
        for qual, fn_scope in self.index.function_scopes.items():
            if fn_scope.parent is not None and fn_scope.parent.kind == "class":
                counts[qual.rsplit(".", 1)[-1]] += 1
        return dict(counts)

    def _find_preprocessors(self) -> list[FittedPreprocessor]:
        out = []
        for method in FIT_METHODS:
            for site in unique_sites(self.index.calls_by_method.get(method, ())):
                func = site.node.func
                if not isinstance(func, cst.Attribute):
                    continue
                data = site.arg("data" if method == "adapt" else "X", 0)
                if data is None:
                    continue
                ctor = self.bindings.origin_call(func.value, site.scope, site.order)
                if ctor is None or ctor.qualname is None:
                    continue
                q = ctor.qualname
                if method == "adapt":
                    leaky = class_name(q) in ADAPT_LAYERS
                elif q in PIPELINES:
                    # A pipeline's fit() also trains its model (cross-validation clones it);
                    # what it transforms, or a container of transformers, is preprocessed.
                    classes = self._provenance.estimator_classes(func.value, site.scope, site.order)
                    leaky = (method != "fit" or q not in _MODEL_PIPELINES) and any(
                        _learns(c) for c in classes or ()
                    )
                else:
                    leaky = _learns(q)
                if leaky:
                    out.append(
                        FittedPreprocessor(
                            site=site, estimator=q, data=data, output=self._output(site)
                        )
                    )
        for site in unique_sites(self.index.calls_to(*STATISTIC_FUNCTIONS)):
            data = site.arg("X", 0) or site.arg("a", 0)
            if data is not None and site.qualname is not None:
                label = f"{_short(site.qualname)}()"
                prep = FittedPreprocessor(
                    site, site.qualname, data, label, output=self._output(site)
                )
                out.append(prep)
        out.extend(self._applied_statistics())
        out.extend(self._standardizations())
        out.extend(self._calls_fitting(out))
        out.sort(key=lambda p: p.site.order)
        return out

    def _output(self, site: CallSite) -> AssignSite | None:
        """The assignment that binds the result of a call (also wrapped in ``pd.DataFrame``
        or ``np.array``)."""
        b = self._wrapped_results.get(id(site.node))
        if b is not None:
            return b
        for target in site.targets:
            b = self.bindings.resolve(target, site.scope, before=site.order)
            if b is not None and b.value is site.node:
                return b
        return None

    @functools.cached_property
    def _wrapped_results(self) -> dict[int, AssignSite]:
        """``X = pd.DataFrame(scaler.fit_transform(X))``: the inner call's id -> the assignment."""
        out: dict[int, AssignSite] = {}
        for b in self.index.assigns:
            value = b.value
            if b.augmented is None and isinstance(value, cst.Call) and value.args:
                site = self.index.site_of(value)
                inner = value.args[0].value
                if (
                    site is not None
                    and site.qualname in PASS_FUNCTIONS
                    and isinstance(inner, cst.Call)
                ):
                    out[id(inner)] = b
        return out

    def _applied_statistics(self) -> Iterator[FittedPreprocessor]:
        """``df.apply(lambda c: (c - c.mean()) / c.std())``, ``df.apply(zscore)``, a scaler's
        ``fit_transform`` inside the applied function: statistics of every row."""
        for site in unique_sites(self.index.calls_by_method.get("apply", ())):
            func = site.node.func
            fn = site.arg("func", 0)
            if not isinstance(func, cst.Attribute) or fn is None:
                continue
            what = self._statistic_in(fn, site.scope, site.order)
            if what is not None:
                label = f"DataFrame.apply({what})"
                yield FittedPreprocessor(
                    site, "pandas.DataFrame.apply", func.value, label, output=self._output(site)
                )

    def _statistic_in(self, fn: cst.BaseExpression, scope: Scope, order: int) -> str | None:
        """What statistic of all rows a function passed to ``apply`` learns, if any."""
        if not isinstance(fn, cst.Lambda):
            q = self.index.imports.qualify(fn)
            return f"{_short(q)}" if q in STATISTIC_FUNCTIONS else None
        params = {p.name.value for p in fn.params.params}
        stack: list[cst.CSTNode] = [fn.body]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Call):
                site = self.index.site_of(node)
                if site is not None and site.qualname in STATISTIC_FUNCTIONS:
                    return _short(site.qualname)
                f = node.func
                if isinstance(f, cst.Attribute) and site is not None:
                    if f.attr.value in STATISTIC_METHODS and dotted(f.value) in params:
                        return f"a {f.attr.value}() of each column"
                    if f.attr.value in ("fit", "fit_transform"):
                        ctor = self.bindings.origin_call(f.value, scope, order)
                        if ctor is not None and ctor.qualname and _learns(ctor.qualname):
                            return _short(ctor.qualname)
            stack.extend(
                child
                for name in code_fields(type(node))
                for child in _children(getattr(node, name))
            )
        return None

    def _standardizations(self) -> Iterator[FittedPreprocessor]:
        """``X = (X - X.mean(axis=0)) / X.std(axis=0)`` (also with ``mean = X.mean(0)`` bound
        first, ``np.mean(X, 0)``, ``X.min()``): standardized by statistics of every row."""
        for b in self.index.assigns:
            value = b.value
            if b.augmented is not None or not isinstance(value, cst.BinaryOperation):
                continue
            if not isinstance(value.operator, cst.Divide):
                continue
            centred = value.left
            if not (
                isinstance(centred, cst.BinaryOperation)
                and isinstance(centred.operator, cst.Subtract)
            ):
                continue
            data = centred.left
            stat = self._statistic_of(centred.right, dotted(data), b.scope, b.order, 0)
            if stat is not None:
                site, method = stat
                yield FittedPreprocessor(
                    site, "numpy." + method, data, f"a standardization by {method}()", value, b
                )

    def _statistic_of(
        self, expr: cst.BaseExpression, data: str | None, scope: Scope, order: int, depth: int
    ) -> tuple[CallSite, str] | None:
        """The call and method when ``expr`` is a statistic over the rows of ``data``."""
        if data is None or depth > 2:
            return None
        if isinstance(expr, cst.Name):
            b = self.bindings.resolve(expr.value, scope, before=order, plain=True)
            return (
                None
                if b is None
                else self._statistic_of(b.value, data, b.scope, b.order, depth + 1)
            )
        if not isinstance(expr, cst.Call):
            return None
        site = self.index.site_of(expr)
        if site is None:
            return None
        q = site.qualname
        if q is not None and q.startswith("numpy.") and _short(q) in STATISTIC_METHODS:
            first = site.arg("a", 0)
            return (site, _short(q)) if first is not None and dotted(first) == data else None
        f = expr.func
        if (
            q is None
            and isinstance(f, cst.Attribute)
            and f.attr.value in STATISTIC_METHODS
            and dotted(f.value) == data
        ):
            return site, f.attr.value
        return None

    def _calls_fitting(self, preps: list[FittedPreprocessor]) -> list[FittedPreprocessor]:
        """Calls of the file's functions that fit a preprocessor on a parameter: the call
        fits it on what it is passed there (``X = preprocess(df)``)."""
        out: list[FittedPreprocessor] = []
        seen: set[int] = set()
        for prep in preps:
            scope = prep.site.scope
            param = self._parameter(prep.data, scope)
            if param is None:
                continue
            name, position = param
            for caller, offset in self._callers(scope):
                arg = caller.site.arg(name, position - offset)
                if arg is None or id(caller.site.node) in seen:
                    continue
                seen.add(id(caller.site.node))
                out.append(
                    FittedPreprocessor(
                        caller.site,
                        prep.estimator,
                        arg,
                        f"{prep.short_name} (in {caller.name}())",
                        output=self._output(caller.site),
                    )
                )
        return out


_END = 1 << 62


@dataclass(frozen=True)
class _Where:
    """A value that may hold slices, where it is bound or returned."""

    value: cst.BaseExpression
    scope: Scope
    order: int
    loops: bool
    unpacked: bool


@dataclass(frozen=True)
class _Caller:
    site: CallSite
    name: str


# Pipelines whose last step may be a model: their fit() trains it.
_MODEL_PIPELINES = frozenset(
    {
        "sklearn.pipeline.make_pipeline",
        "sklearn.pipeline.Pipeline",
        "imblearn.pipeline.make_pipeline",
        "imblearn.pipeline.Pipeline",
    }
)


def _learns(q: str) -> bool:
    """Whether fitting the estimator class ``q`` learns statistics of the data."""
    return (q.startswith(LEAKY_MODULES) or q in LEAKY_CLASSES) and _short(q) not in HARMLESS


def _short(q: str) -> str:
    return q.rsplit(".", 1)[-1]


def _children(value: object) -> Iterator[cst.CSTNode]:
    if isinstance(value, cst.CSTNode):
        yield value
    elif isinstance(value, (tuple, list)):
        yield from (v for v in value if isinstance(v, cst.CSTNode))


def _is_length_of(expr: cst.BaseExpression | None, base: str) -> bool:
    """``len(X)`` or ``X.shape[0]`` for the array ``X``: a slice bound that is its end."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "len":
        return len(expr.args) == 1 and dotted(expr.args[0].value) == base
    if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Attribute):
        return expr.value.attr.value == "shape" and dotted(expr.value.value) == base
    return False


def _first_slice(sub: cst.Subscript) -> cst.Slice | None:
    if sub.slice and isinstance(sub.slice[0].slice, cst.Slice):
        return sub.slice[0].slice
    return None
