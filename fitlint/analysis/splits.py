"""Train/test splits, preprocessors fitted on data, and the leaks between them.

A split is a ``train_test_split`` call or a pair of ``X[:n]`` / ``X[n:]`` slices; a fitted
preprocessor is a scaler, imputer, selector, oversampler or Keras ``adapt()`` that learns
statistics (:mod:`fitlint.analysis.sources`). :meth:`SplitAnalysis.lineage` says which
assignments feed a value, :meth:`SplitAnalysis.split_part` which part of a split a value is,
and :meth:`SplitAnalysis.leaks` pairs each preprocessor with the first later split of the data
it was fitted on, from a table built once (each split's lineage, inverted).
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import libcst as cst

from fitlint.analysis.bindings import unpacked_path
from fitlint.analysis.index import AssignSite, CallSite, ModuleIndex, Scope
from fitlint.analysis.layers import class_name
from fitlint.analysis.models import unique_sites
from fitlint.analysis.names import dotted
from fitlint.analysis.provenance import ProvenanceResolver
from fitlint.analysis.sources import (
    ADAPT_LAYERS,
    EXPAND_FUNCTIONS,
    FIT_METHODS,
    HARMLESS,
    LEAKY_CLASSES,
    LEAKY_MODULES,
    PASS_ATTRIBUTES,
    PASS_FUNCTIONS,
    PASS_METHODS,
    RESHAPE_FUNCTIONS,
    SCALING_FUNCTIONS,
    SPLIT,
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
        how: ``"train_test_split"`` or ``"slicing"``.
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
        site: The fitting call.
        estimator: The canonical class name (``sklearn.preprocessing.StandardScaler``).
        data: The data it is fitted on.
    """

    site: CallSite
    estimator: str
    data: cst.BaseExpression

    @property
    def short_name(self) -> str:
        """The class name without its module (``StandardScaler``)."""
        return self.estimator.rsplit(".", 1)[-1]


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
            heads = self.lineage(prep.data, prep.site.scope, prep.site.order, transitive=False)
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
                    if not isinstance(value, cst.Ellipsis) and not is_columns(
                        self.index.const_value(value, scope)
                    ):
                        return True
                expr = expr.value
            elif isinstance(expr, cst.Attribute) and expr.attr.value in PASS_ATTRIBUTES:
                expr = expr.value
            else:
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
        out.extend(self._slice_splits())
        out.sort(key=lambda s: s.order)
        return out

    def _slice_splits(self) -> list[SplitCall]:
        """``X_train, X_test = X[:n], X[n:]`` (or two statements): a split by slicing."""
        halves: dict[tuple[int, str, str], dict[str, tuple[cst.Subscript, AssignSite]]] = {}
        for site in self.index.assigns:
            if site.augmented is not None:
                continue
            values: Iterable[cst.BaseExpression]
            if isinstance(site.value, cst.Tuple) and site.unpacked:
                values = [el.value for el in site.value.elements]
            else:
                values = [site.value]
            for value in values:
                if not isinstance(value, cst.Subscript) or len(value.slice) != 1:
                    continue
                sl = _first_slice(value)
                base = dotted(value.value)
                if sl is None or base is None or sl.step is not None:
                    continue
                if sl.lower is None and sl.upper is not None:
                    side, bound = "head", sl.upper
                elif sl.upper is None and sl.lower is not None:
                    side, bound = "tail", sl.lower
                else:
                    continue
                key = (id(site.scope), base, self.index.module.code_for_node(bound))
                halves.setdefault(key, {}).setdefault(side, (value, site))
        out = []
        for sides in halves.values():
            if len(sides) != 2:
                continue
            (head, head_site), (tail, tail_site) = sides["head"], sides["tail"]
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
                else:
                    short = q.rsplit(".", 1)[-1]
                    leaky = (
                        q.startswith(LEAKY_MODULES) or q in LEAKY_CLASSES
                    ) and short not in HARMLESS
                if leaky:
                    out.append(FittedPreprocessor(site=site, estimator=q, data=data))
        out.sort(key=lambda p: p.site.order)
        return out


def _first_slice(sub: cst.Subscript) -> cst.Slice | None:
    if sub.slice and isinstance(sub.slice[0].slice, cst.Slice):
        return sub.slice[0].slice
    return None
