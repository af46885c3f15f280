"""Where the values of an expression come from: its :class:`~fitlint.analysis.sources.Provenance`.

A value is followed backwards through the assignments of its scope (then of the enclosing
ones), through tuple unpacking, ``train_test_split`` outputs, slicing, dtype and shape
changes, pandas column selection and arithmetic, to a *source* it knows
(:mod:`fitlint.analysis.sources`): a ``keras.datasets`` loader, a CSV reader, a literal array,
a ``numpy.random`` call. Anything else is unknown, and unknown means the rules stay silent.
Every answer is cached by expression, tuple path and order, so each is computed once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import libcst as cst

from fitlint.analysis.bindings import unpacked_path
from fitlint.analysis.index import UNKNOWN, CallSite, ModuleIndex, Scope
from fitlint.analysis.layers import NORMALIZING_LAYERS, LayerReader
from fitlint.analysis.names import dotted
from fitlint.analysis.sources import (
    ARGMAX_FUNCTIONS,
    CLASS_DATASETS,
    CSV,
    DATASETS,
    EXPAND_FUNCTIONS,
    FILE_READERS,
    GENERATED,
    INTEGER,
    LABEL_ENCODERS,
    LABEL_FUNCTIONS,
    LABELS,
    LARGE_COLUMN_WORDS,
    ONE_HOT,
    ONE_HOT_FUNCTIONS,
    PASS_ATTRIBUTES,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PIPELINES,
    RESHAPE_FUNCTIONS,
    SCALED,
    SCALING_FUNCTIONS,
    SKLEARN_SCALERS,
    SPLIT,
    TOKENS,
    VALUE_METHODS,
    Provenance,
    is_columns,
    is_number,
)

_MAX_DEPTH = 40
# The words of a name: lower-case runs, capitalized words and acronyms of CamelCase
# ("SalePrice" -> Sale, Price; "HTTPStatus" -> HTTP, Status), digits and separators between.
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


class ProvenanceResolver:
    """Answers :meth:`provenance` for the expressions of one module."""

    def __init__(self, index: ModuleIndex, layers: LayerReader) -> None:
        self.index = index
        self.bindings = index.bindings
        self.layers = layers
        self._cache: dict[tuple[int, tuple[int, ...], int], Provenance | None] = {}

    def provenance(
        self, expr: cst.BaseExpression | None, scope: Scope, order: int
    ) -> Provenance | None:
        """Where the values of ``expr`` come from, or None when unknown.

        Args:
            expr: The expression.
            scope: The scope it is evaluated in.
            order: The source order of the statement that evaluates it (bindings before it
                are visible).
        """
        if expr is None:
            return None
        try:
            return self._resolve(expr, scope, order, (), 0)
        except (OverflowError, ValueError):  # absurd constants: 1e400, range(10**30)
            return None

    def dataset_loaded(self, expr: cst.BaseExpression, scope: Scope, order: int) -> str | None:
        """``mnist`` for ``keras.datasets.mnist.load_data()``, also through a module alias
        (``mnist = tf.keras.datasets.mnist`` then ``mnist.load_data()``)."""
        if not isinstance(expr, cst.Call):
            return None
        site = self.index.site_of(expr)
        if site is None:
            return None
        q = site.qualname
        if q is None and site.method == "load_data" and isinstance(expr.func, cst.Attribute):
            module = expr.func.value
            name = dotted(module)
            b = None if name is None else self.bindings.resolve(name, scope, before=order)
            if b is not None and b.augmented is None and not b.unpacked:
                target = self.index.imports.qualify(b.value)
                q = None if target is None else target + ".load_data"
        if q is None:
            return None
        parts = q.split(".")
        if len(parts) == 4 and parts[:2] == ["keras", "datasets"] and parts[3] == "load_data":
            return parts[2]
        return None

    def estimator_classes(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int = 0
    ) -> list[str] | None:
        """The canonical class names an estimator expression is made of (pipelines expanded)."""
        ctor = self.bindings.origin_call(expr, scope, order, depth)
        if ctor is None or ctor.qualname is None:
            return None
        if ctor.qualname not in PIPELINES:
            return [ctor.qualname]
        out: list[str] = []
        for node in self._walk_calls(ctor.node):
            site = self.index.site_of(node)
            if site is not None and site.qualname is not None and node is not ctor.node:
                out.append(site.qualname)
        return out

    def _walk_calls(self, node: cst.CSTNode) -> Iterator[cst.Call]:
        """The calls nested in the arguments of a call (steps of a pipeline)."""
        stack: list[cst.CSTNode] = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, cst.Call):
                yield cur
                stack.extend(a.value for a in cur.args)
            elif isinstance(cur, (cst.List, cst.Tuple)):
                stack.extend(el.value for el in cur.elements)

    def _resolve(
        self,
        expr: cst.BaseExpression,
        scope: Scope,
        order: int,
        path: tuple[int, ...],
        depth: int,
    ) -> Provenance | None:
        if depth > _MAX_DEPTH:
            return None
        key = (id(expr), path, order)
        if key in self._cache:
            return self._cache[key]
        self._cache[key] = None  # guards against cycles
        result = self._resolve_uncached(expr, scope, order, path, depth)
        self._cache[key] = result
        return result

    def _resolve_uncached(
        self,
        expr: cst.BaseExpression,
        scope: Scope,
        order: int,
        path: tuple[int, ...],
        depth: int,
    ) -> Provenance | None:
        d = depth + 1
        if isinstance(expr, cst.Attribute) and expr.attr.value in PASS_ATTRIBUTES:
            return self._resolve(expr.value, scope, order, path, d)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            name = dotted(expr)
            if name is None:
                return None
            return self._resolve_name(name, scope, order, path, d)
        if isinstance(expr, cst.Call):
            return self._resolve_call(expr, scope, order, path, d)
        if isinstance(expr, cst.Subscript):
            return self._resolve_subscript(expr, scope, order, path, d)
        if isinstance(expr, (cst.Tuple, cst.List)):
            if path:
                i = path[0]
                if i >= len(expr.elements) or any(
                    isinstance(el, cst.StarredElement) for el in expr.elements
                ):
                    return None
                return self._resolve(expr.elements[i].value, scope, order, path[1:], d)
            return self._literal(expr, scope)
        if path:
            return None
        if isinstance(expr, cst.BinaryOperation):
            op = _binop_kind(expr.operator)
            if op is None:
                return None
            return self._arith(op, expr.left, expr.right, scope, order, d)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            return self._resolve(expr.expression, scope, order, (), d)
        return None

    def _resolve_name(
        self, name: str, scope: Scope, order: int, path: tuple[int, ...], depth: int
    ) -> Provenance | None:
        b = self.bindings.resolve(name, scope, before=order)
        if b is None:
            return self._parameter(name, scope, path, depth)
        # df["a"] = scaler.fit_transform(df[["a"]]), x[:, 0] /= 100: changed in place.
        until = order if b.scope is scope else 1 << 62
        if self.bindings.assigned_between(name + "[]", b.scope, b.order, until):
            return None
        if b.augmented is not None:
            op = _binop_kind(b.augmented)
            if op is None or path:
                return None
            prev = self._resolve_name(name, b.scope, b.order, (), depth + 1)
            return self._apply(op, prev, b.value, b.scope, b.order, depth + 1)
        if b.unpacked:
            sub = unpacked_path(b, name)
            if sub is None:
                return None
            return self._resolve(b.value, b.scope, b.order, sub + path, depth + 1)
        return self._resolve(b.value, b.scope, b.order, path, depth + 1)

    def _parameter(
        self, name: str, scope: Scope, path: tuple[int, ...], depth: int
    ) -> Provenance | None:
        """A parameter of a function of the file: what every call passes for it, when all
        calls agree on where it comes from (``def train(x): model.fit(x)`` on raw data)."""
        found = [
            self._resolve(arg, site.scope, site.order, path, depth + 1)
            for arg, site in self.bindings.arguments(name, scope)
        ]
        if not found or found[0] is None:
            return None
        first = found[0]
        if any(p is None or (p.kind, p.origin) != (first.kind, first.origin) for p in found):
            return None
        return first

    def _literal(self, expr: cst.BaseExpression, scope: Scope) -> Provenance | None:
        if not _is_literal_array(expr):
            return None  # [x1, x2] is a list of inputs, not an array
        value = self.index.const_value(expr, scope)
        if value is UNKNOWN or not isinstance(value, tuple):
            return None
        mag = _max_abs(value)
        if mag is None:
            return None
        return Provenance(
            kind=GENERATED,
            detail=f"literal values up to {_fmt(mag)}",
            origin="a literal array",
            origin_node=expr,
            magnitude=mag,
            samples=len(value),
        )

    def _resolve_subscript(
        self,
        expr: cst.Subscript,
        scope: Scope,
        order: int,
        path: tuple[int, ...],
        depth: int,
    ) -> Provenance | None:
        elems = expr.slice
        if not elems:
            return None
        first = elems[0].slice
        if isinstance(first, cst.Index) and len(elems) == 1:
            k = self.index.const_value(first.value, scope)
            if isinstance(k, int) and not isinstance(k, bool) and k >= 0:
                structured = self._resolve(expr.value, scope, order, (k, *path), depth)
                if structured is not None:
                    return structured
        if path:
            return None
        if isinstance(first, cst.Index) and isinstance(expr.value, cst.Call):
            eye = self.index.site_of(expr.value)
            if eye is not None and eye.qualname in ("numpy.eye", "numpy.identity"):
                # np.eye(10)[y]: row y of the identity, one-hot
                return self._labels(
                    ONE_HOT, f"{eye.qualname}()[...]", expr, first.value, scope, order, depth
                )
        base = self._resolve(expr.value, scope, order, (), depth)
        if base is None:
            return None
        if isinstance(first, cst.Slice):
            return replace(base, samples=self._slice_len(first, base.samples, scope))
        if isinstance(first, cst.Index):
            value = first.value
            if isinstance(value, cst.Ellipsis):
                return base
            if is_columns(self.index.const_value(value, scope)):
                return base  # pandas column selection: rows unchanged
            return replace(base, samples=None)
        return None

    def _slice_len(self, sl: cst.Slice, n: int | None, scope: Scope) -> int | None:
        bounds: list[int | None] = []
        for part in (sl.lower, sl.upper, sl.step):
            if part is None:
                bounds.append(None)
                continue
            v = self.index.const_value(part, scope)
            if not (isinstance(v, int) and not isinstance(v, bool)):
                return None
            bounds.append(v)
        if bounds == [None, None, None]:
            return n
        if n is None:
            return None
        if bounds[2] == 0:
            return None
        return len(range(n)[slice(bounds[0], bounds[1], bounds[2])])

    def _resolve_call(
        self,
        expr: cst.Call,
        scope: Scope,
        order: int,
        path: tuple[int, ...],
        depth: int,
    ) -> Provenance | None:
        site = self.index.site_of(expr)
        q = site.qualname if site is not None else None
        dataset = self.dataset_loaded(expr, scope, order)
        if dataset is not None:
            return self._dataset(dataset, expr, path)
        if q == SPLIT:
            return self._split_output(expr, scope, order, path, depth)
        if path:
            return None
        if q is not None:
            known = self._resolve_known_function(q, expr, scope, order, depth)
            if known is not _NOT_KNOWN:
                return known
        # A layer applied to data: Rescaling(1 / 255)(x), or norm(x) with norm = Normalization().
        layer = self.layers.applied_class(expr.func, scope, order, depth)
        if layer is not None and layer in NORMALIZING_LAYERS:
            return _scaled(expr, self._first_arg(expr, scope, order, depth))
        if isinstance(expr.func, cst.Attribute) and site is not None:
            return self._resolve_method(expr, site, scope, order, depth)
        return None

    def _labels(
        self,
        encoding: str,
        origin: str,
        node: cst.CSTNode,
        source: cst.BaseExpression | None,
        scope: Scope,
        order: int,
        depth: int,
    ) -> Provenance:
        """Class labels in ``encoding``, made from ``source`` (whose samples and split part
        they keep)."""
        base = None if source is None else self._resolve(source, scope, order, (), depth)
        return Provenance(
            kind=LABELS,
            detail=f"{encoding} labels",
            origin=origin,
            origin_node=node,
            samples=base.samples if base else None,
            split=base.split if base else None,
            encoding=encoding,
        )

    def _first_arg(self, expr: cst.Call, scope: Scope, order: int, depth: int) -> Provenance | None:
        for a in expr.args:
            if a.keyword is None and not a.star:
                return self._resolve(a.value, scope, order, (), depth)
        return None

    def _large_columns(self, site: CallSite, scope: Scope) -> bool:
        """Whether the file a reader reads, or the columns it names, say the values are
        large (:data:`LARGE_COLUMN_WORDS`); an unknown name counts as large."""
        texts: list[str] = []
        for expr in (site.arg(None, 0), site.arg("names"), site.arg("usecols")):
            if expr is None:
                continue
            value = self.index.const_value(expr, scope)
            if value is UNKNOWN:
                return True
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, (list, tuple)):
                texts.extend(v for v in value if isinstance(v, str))
        if not texts:
            return True
        words = {w.lower() for t in texts for w in _WORD.findall(t)}
        return bool(words & LARGE_COLUMN_WORDS)

    def _resolve_known_function(
        self, q: str, expr: cst.Call, scope: Scope, order: int, depth: int
    ) -> Provenance | None:
        """Provenance of a call to a known function; ``_NOT_KNOWN`` when ``q`` is not one."""
        site = self.index.site_of(expr)
        assert site is not None
        if q in SCALING_FUNCTIONS:
            return _scaled(expr, self._first_arg(expr, scope, order, depth))
        if q in FILE_READERS:
            return Provenance(
                kind=CSV,
                detail="raw columns",
                origin=FILE_READERS[q],
                origin_node=expr,
                large=self._large_columns(site, scope),
            )
        if q in LABEL_FUNCTIONS or q in ONE_HOT_FUNCTIONS:
            return self._labels(ONE_HOT, f"{q}()", expr, site.arg(None, 0), scope, order, depth)
        if q in ARGMAX_FUNCTIONS:
            if site.arg("axis", 1) is None:
                return None  # the index of the largest value of all: one number
            first = site.arg(None, 0)
            return self._labels(INTEGER, f"{q}()", expr, first, scope, order, depth)
        data = site.arg(None, 0)
        if q in PASS_FUNCTIONS:
            return None if data is None else self._resolve(data, scope, order, (), depth)
        if q in EXPAND_FUNCTIONS:
            base = None if data is None else self._resolve(data, scope, order, (), depth)
            if base is None:
                return None
            axis = self.index.const_value(site.arg("axis", 1), scope)
            if axis == 0:
                return replace(base, samples=1)
            return base if is_number(axis) else replace(base, samples=None)
        if q in RESHAPE_FUNCTIONS:
            base = None if data is None else self._resolve(data, scope, order, (), depth)
            if base is None:
                return None
            shape = site.arg("newshape", 1) or site.arg("shape", 1)
            flat = self._flat(data, scope, order)
            samples = self._reshaped_samples(shape, [], base.samples, scope, flat=flat)
            return replace(base, samples=samples)
        generated = self._generated(q, site, scope)
        if generated is not None:
            return generated
        return _NOT_KNOWN

    def _generated(self, q: str, site: CallSite, scope: Scope) -> Provenance | None:
        """numpy/tensorflow array constructors and random generators."""
        if q.startswith("numpy.random.") and q.count(".") == 2 and q != "numpy.random.permutation":
            return self._random(_last(q), site, scope, f"{q}()")
        if q in ("numpy.zeros", "numpy.ones", "numpy.full", "numpy.empty"):
            shape = self.index.const_value(site.arg("shape", 0), scope)
            mag: float | None = {"numpy.zeros": 0.0, "numpy.ones": 1.0}.get(q)
            if q == "numpy.full":
                fill = self.index.const_value(site.arg("fill_value", 1), scope)
                mag = float(abs(fill)) if is_number(fill) else None
            if mag is None:
                return None
            return self._gen(q, site, mag, _first_of_size(shape))
        if q == "numpy.arange":
            args = [self.index.const_value(a.value, scope) for a in site.node.args if not a.keyword]
            if not args or not all(isinstance(a, int) for a in args) or len(args) > 3:
                return None
            r = range(*args)
            mag = float(max(abs(r[0]), abs(r[-1]))) if len(r) else 0.0
            return self._gen(q, site, mag, len(r))
        if q in ("numpy.linspace", "numpy.logspace", "numpy.geomspace"):
            lo = self.index.const_value(site.arg("start", 0), scope)
            hi = self.index.const_value(site.arg("stop", 1), scope)
            num = self.index.const_value(site.arg("num", 2), scope)
            if site.arg("num", 2) is None:
                num = 50
            if not (is_number(lo) and is_number(hi) and isinstance(num, int)):
                return None
            top = float(max(abs(lo), abs(hi)))
            if q == "numpy.logspace":
                base = self.index.const_value(site.arg("base", 4), scope)
                base = 10.0 if site.arg("base", 4) is None else base
                if not is_number(base) or top > 300:
                    return None
                top = float(abs(base)) ** top
            return self._gen(q, site, top, num)
        if q in ("numpy.eye", "numpy.identity"):
            n = self.index.const_value(site.arg("N" if q == "numpy.eye" else "n", 0), scope)
            return self._gen(q, site, 1.0, n) if isinstance(n, int) and n >= 0 else None
        if q == "numpy.random.permutation":
            n = self.index.const_value(site.arg("x", 0), scope)
            if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
                return self._gen(q, site, float(max(n - 1, 0)), n)
            return None
        if q in ("tensorflow.random.uniform", "tensorflow.random.normal"):
            shape = self.index.const_value(site.arg("shape", 0), scope)
            if q.endswith("uniform"):
                lo = self.index.const_value(site.arg("minval", 1), scope)
                hi = self.index.const_value(site.arg("maxval", 2), scope)
                lo = 0 if site.arg("minval", 1) is None else lo
                hi = 1 if site.arg("maxval", 2) is None else hi
                if not (is_number(lo) and is_number(hi)):
                    return None
                return self._gen(q, site, float(max(abs(lo), abs(hi))), _first_of_size(shape))
            mean = self.index.const_value(site.arg("mean", 1), scope)
            std = self.index.const_value(site.arg("stddev", 2), scope)
            mean = 0 if site.arg("mean", 1) is None else mean
            std = 1 if site.arg("stddev", 2) is None else std
            if not (is_number(mean) and is_number(std)):
                return None
            return self._gen(q, site, float(abs(mean) + 4 * abs(std)), _first_of_size(shape))
        return None

    def _gen(self, q: str, site: CallSite, mag: float, samples: int | None) -> Provenance:
        return Provenance(
            kind=GENERATED,
            detail=f"values up to {_fmt(mag)}",
            origin=f"{q}()",
            origin_node=site.node,
            magnitude=mag,
            samples=samples,
        )

    def _random(self, fn: str, site: CallSite, scope: Scope, origin: str) -> Provenance | None:
        """numpy.random.* functions and the methods of numpy Generators/RandomStates."""
        cv = self.index.const_value

        def arg(kw: str, pos: int | None, default: Any = UNKNOWN) -> Any:
            node = site.arg(kw, pos)
            if node is None:
                return default
            return cv(node, scope)

        mag: float | None = None
        size: Any = UNKNOWN
        if fn in ("rand", "randn"):
            dims = [cv(a.value, scope) for a in site.node.args if not a.keyword]
            if not dims:
                return None
            size = tuple(dims)
            mag = 1.0 if fn == "rand" else 4.0
        elif fn in ("random", "random_sample", "sample", "ranf"):
            size = arg("size", 0, None)
            mag = 1.0
        elif fn == "standard_normal":
            size = arg("size", 0, None)
            mag = 4.0
        elif fn in ("randint", "integers"):
            low = arg("low", 0)
            high = arg("high", 1, None)
            size = arg("size", 2, None)
            if not is_number(low):
                return None
            if high is None:
                low, high = 0, low
            if not is_number(high):
                return None
            top = high - 1 if fn == "randint" or not _truthy(arg("endpoint", None, False)) else high
            mag = float(max(abs(low), abs(top)))
        elif fn == "uniform":
            low = arg("low", 0, 0.0)
            high = arg("high", 1, 1.0)
            size = arg("size", 2, None)
            if not (is_number(low) and is_number(high)):
                return None
            mag = float(max(abs(low), abs(high)))
        elif fn == "normal":
            loc = arg("loc", 0, 0.0)
            sd = arg("scale", 1, 1.0)
            size = arg("size", 2, None)
            if not (is_number(loc) and is_number(sd)):
                return None
            mag = float(abs(loc) + 4 * abs(sd))
        else:
            return None
        if size is UNKNOWN:
            return None
        return Provenance(
            kind=GENERATED,
            detail=f"values up to {_fmt(mag)}",
            origin=origin,
            origin_node=site.node,
            magnitude=mag,
            samples=_first_of_size(size),
        )

    def _resolve_method(
        self, expr: cst.Call, site: CallSite, scope: Scope, order: int, depth: int
    ) -> Provenance | None:
        assert isinstance(expr.func, cst.Attribute)
        method = expr.func.attr.value
        receiver = expr.func.value
        if method in ("transform", "fit_transform"):
            classes = self.estimator_classes(receiver, scope, order, depth)
            if classes and len(classes) == 1 and classes[0] in LABEL_ENCODERS:
                first = expr.args[0].value if expr.args and not expr.args[0].star else None
                origin = f"{_last(classes[0])}().{method}()"
                encoding = LABEL_ENCODERS[classes[0]]
                return self._labels(encoding, origin, expr, first, scope, order, depth)
            if classes and any(
                c.startswith("sklearn.preprocessing.") and _last(c) in SKLEARN_SCALERS
                for c in classes
            ):
                return _scaled(expr, self._first_arg(expr, scope, order, depth))
            return None
        # Methods of numpy random generators: rng.integers(...), rs.rand(...).
        ctor = None
        if isinstance(receiver, cst.Name):
            ctor = self.bindings.origin_call(receiver, scope, order, depth)
        if ctor is not None and ctor.qualname in (
            "numpy.random.default_rng",
            "numpy.random.RandomState",
            "numpy.random.Generator",
        ):
            return self._random(method, site, scope, f"{ctor.qualname}().{method}()")
        if method in PASS_METHODS:
            return self._resolve(receiver, scope, order, (), depth)
        if method == "argmax" and site.arg("axis", 0) is not None:
            return self._labels(INTEGER, "argmax()", expr, receiver, scope, order, depth)
        if method in VALUE_METHODS:
            base = self._resolve(receiver, scope, order, (), depth)
            return None if base is None else replace(base, samples=None)
        if method == "reshape":
            base = self._resolve(receiver, scope, order, (), depth)
            if base is None:
                return None
            args = [a.value for a in expr.args if a.keyword is None]
            shape = args[0] if len(args) == 1 else None
            rest = args if len(args) > 1 else []
            flat = self._flat(receiver, scope, order)
            samples = self._reshaped_samples(shape, rest, base.samples, scope, flat=flat)
            return replace(base, samples=samples)
        return None

    def _flat(self, expr: cst.BaseExpression | None, scope: Scope, order: int) -> bool:
        """Whether ``expr`` is a 1-D array constructor's result (``np.linspace(0, 1, 200)``),
        directly or through a name bound to it: its samples are all its values."""
        if isinstance(expr, cst.Name):
            b = self.bindings.resolve(expr.value, scope, before=order, plain=True)
            expr = None if b is None else b.value
        if not isinstance(expr, cst.Call):
            return False
        site = self.index.site_of(expr)
        return site is not None and site.qualname in _FLAT_CONSTRUCTORS

    def _reshaped_samples(
        self,
        shape: cst.BaseExpression | None,
        dims: list[cst.BaseExpression],
        n: int | None,
        scope: Scope,
        *,
        flat: bool = False,
    ) -> int | None:
        first: cst.BaseExpression | None
        if dims:
            first = dims[0]
        elif isinstance(shape, (cst.Tuple, cst.List)) and shape.elements:
            first = shape.elements[0].value
        else:
            return None
        # x.reshape(x.shape[0], ...) / x.reshape(len(x), ...) keep the samples.
        if (
            isinstance(first, cst.Subscript)
            and isinstance(first.value, cst.Attribute)
            and first.value.attr.value == "shape"
        ) or (
            isinstance(first, cst.Call)
            and isinstance(first.func, cst.Name)
            and first.func.value == "len"
        ):
            return n
        v = self.index.const_value(first, scope)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
        if v == -1 and n is not None and flat:  # x.reshape(-1, 1) of a 1-D x of n values
            rest = dims[1:] if dims else list(_elements(shape))[1:]
            sizes = [self.index.const_value(d, scope) for d in rest]
            if all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in sizes):
                inner = math.prod(sizes)
                return n // inner if n % inner == 0 else None
        return None

    def _dataset(self, name: str, expr: cst.Call, path: tuple[int, ...]) -> Provenance | None:
        info = DATASETS.get(name)
        if info is None or len(path) != 2 or path[0] not in (0, 1) or path[1] not in (0, 1):
            return None
        kind, mag, detail, n_train, n_test, fixed = info
        samples: int | None = n_train if path[0] == 0 else n_test
        if not fixed and expr.args:
            samples = None
        split = "train" if path[0] == 0 else "test"
        origin = f"keras.datasets.{name}.load_data()"
        if path[1] == 1:
            return Provenance(
                kind=LABELS,
                detail="labels",
                origin=origin,
                origin_node=expr,
                samples=samples,
                split=split,
                encoding=INTEGER if name in CLASS_DATASETS else None,
            )
        return Provenance(
            kind=kind,
            detail=detail,
            origin=origin,
            origin_node=expr,
            magnitude=mag,
            samples=samples,
            split=split,
        )

    def _split_output(
        self,
        expr: cst.Call,
        scope: Scope,
        order: int,
        path: tuple[int, ...],
        depth: int,
    ) -> Provenance | None:
        if not path:
            return None
        arrays = [a.value for a in expr.args if a.keyword is None]
        if any(a.star for a in expr.args):
            return None
        k = path[0]
        if k >= 2 * len(arrays):
            return None
        base = self._resolve(arrays[k // 2], scope, order, path[1:], depth)
        if base is None:
            return None
        n = base.samples
        if n is None:
            for other in arrays:
                p = self._resolve(other, scope, order, (), depth)
                if p is not None and p.samples is not None:
                    n = p.samples
                    break
        sizes = None if n is None else self._split_sizes(expr, n, scope)
        part = "train" if k % 2 == 0 else "test"
        samples = None if sizes is None else sizes[0 if part == "train" else 1]
        return replace(base, samples=samples, split=part)

    def _split_sizes(self, expr: cst.Call, n: int, scope: Scope) -> tuple[int, int] | None:
        """(n_train, n_test) as sklearn's ``_validate_shuffle_split`` computes them."""
        kw = {a.keyword.value: a.value for a in expr.args if a.keyword is not None}
        test = self.index.const_value(kw["test_size"], scope) if "test_size" in kw else None
        train = self.index.const_value(kw["train_size"], scope) if "train_size" in kw else None
        if test is UNKNOWN or train is UNKNOWN:
            return None
        if test is None and train is None:
            test = 0.25
        n_test: float | None = None
        n_train: float | None = None
        if (isinstance(test, float) and not 0 < test < 1) or (
            isinstance(train, float) and not (0 < train < 1)
        ):
            return None
        if isinstance(test, float):
            n_test = math.ceil(test * n)
        elif isinstance(test, int) and not isinstance(test, bool):
            n_test = test
        elif test is not None:
            return None
        if isinstance(train, float):
            n_train = math.floor(train * n)
        elif isinstance(train, int) and not isinstance(train, bool):
            n_train = train
        elif train is not None:
            return None
        if n_train is None and n_test is not None:
            n_train = n - n_test
        elif n_test is None and n_train is not None:
            n_test = n - n_train
        if n_train is None or n_test is None or n_train <= 0 or n_test < 0:
            return None
        if n_train + n_test > n:
            return None
        return int(n_train), int(n_test)

    def _arith(
        self,
        op: str,
        left: cst.BaseExpression,
        right: cst.BaseExpression,
        scope: Scope,
        order: int,
        depth: int,
    ) -> Provenance | None:
        lc = self.index.const_value(left, scope)
        if is_number(lc) and op in ("*", "+"):
            return self._apply(
                op, self._resolve(right, scope, order, (), depth), left, scope, order, depth
            )
        if is_number(lc):
            return None  # 255 - x, 1 / x: nothing sensible is known
        return self._apply(
            op, self._resolve(left, scope, order, (), depth), right, scope, order, depth
        )

    def _apply(
        self,
        op: str,
        data: Provenance | None,
        other: cst.BaseExpression,
        scope: Scope,
        order: int,
        depth: int,
    ) -> Provenance | None:
        """The provenance of ``data <op> other``."""
        if data is None or data.kind in (SCALED, TOKENS, LABELS):
            return data if data is not None and data.kind == SCALED else None
        c = self.index.const_value(other, scope)
        if is_number(c):
            c = abs(float(c))
            if data.kind == CSV:
                return _scaled(other, data) if op == "/" and c >= 2 else None
            mag = data.magnitude
            if data.kind != GENERATED:
                # Datasets: dividing or shrinking is scaling; anything else is unknown.
                if (op == "/" and c >= 2) or (op == "*" and c <= 0.5) or op == "-":
                    return _scaled(other, data)
                if (op == "/" and c == 1) or (op == "*" and c == 1) or (op == "+" and c == 0):
                    return data
                return None
            if mag is None:
                return None
            if op == "/":
                if c == 0:
                    return None
                mag = mag / c
            elif op == "*":
                mag = mag * c
            else:
                mag = mag + c
            return replace(data, magnitude=mag, detail=f"values up to {_fmt(mag)}")
        # A non-constant operand: (x - mean) / std, x / x.max(), x - x.mean().
        if data.kind != GENERATED or op in ("/", "-"):
            return _scaled(other, data) if op in ("/", "-") else None
        other_p = self._resolve(other, scope, order, (), depth)
        if (
            other_p is None
            or other_p.kind != GENERATED
            or other_p.magnitude is None
            or data.magnitude is None
        ):
            return None
        mag = (
            data.magnitude * other_p.magnitude if op == "*" else data.magnitude + other_p.magnitude
        )
        samples = data.samples if data.samples is not None else other_p.samples
        return replace(data, magnitude=mag, samples=samples, detail=f"values up to {_fmt(mag)}")


def _max_abs(v: Any) -> float | None:
    """Max absolute value in a nested tuple of numbers, None if any element is not a number."""
    if is_number(v):
        return float(abs(v))
    if isinstance(v, tuple):
        best = 0.0
        for el in v:
            m = _max_abs(el)
            if m is None:
                return None
            best = max(best, m)
        return best
    return None


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _binop_kind(op: cst.CSTNode) -> str | None:
    if isinstance(op, (cst.Divide, cst.DivideAssign)):
        return "/"
    if isinstance(op, (cst.Multiply, cst.MultiplyAssign)):
        return "*"
    if isinstance(op, (cst.Add, cst.AddAssign)):
        return "+"
    if isinstance(op, (cst.Subtract, cst.SubtractAssign)):
        return "-"
    return None


def _is_literal_array(expr: cst.BaseExpression, depth: int = 0) -> bool:
    """A (nested) list or tuple display of number literals."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, (cst.List, cst.Tuple)):
        return all(
            isinstance(el, cst.Element) and _is_literal_array(el.value, depth + 1)
            for el in expr.elements
        )
    if isinstance(expr, cst.UnaryOperation):
        return _is_literal_array(expr.expression, depth + 1)
    return isinstance(expr, (cst.Integer, cst.Float))


_FLAT_CONSTRUCTORS = frozenset(
    {
        "numpy.linspace",
        "numpy.logspace",
        "numpy.geomspace",
        "numpy.arange",
        "numpy.random.permutation",
    }
)


def _elements(shape: cst.BaseExpression | None) -> Iterator[cst.BaseExpression]:
    if isinstance(shape, (cst.Tuple, cst.List)):
        yield from (el.value for el in shape.elements)


def _first_of_size(size: Any) -> int | None:
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    if isinstance(size, tuple) and size and isinstance(size[0], int):
        return int(size[0])
    return None


def _truthy(v: Any) -> bool:
    return v is True


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


_NOT_KNOWN = Provenance(kind="", detail="", origin="", origin_node=None)
"""Returned by ``_resolve_known_function`` for a function it does not know."""


def _scaled(node: cst.CSTNode, base: Provenance | None = None) -> Provenance:
    """Scaled values; samples and split part are kept from ``base``."""
    return Provenance(
        kind=SCALED,
        detail="scaled values",
        origin="a scaling step",
        origin_node=node,
        samples=base.samples if base else None,
        split=base.split if base else None,
    )
