"""Where the arrays that reach ``fit()`` come from, and what was fitted on them.

The analysis follows a value backwards through the assignments of its scope (then of the
module), through tuple unpacking, ``train_test_split`` outputs, slicing, dtype and shape
changes, pandas column selection and arithmetic, to a *source* it knows: a
``keras.datasets`` loader, a CSV reader, a literal array, a ``numpy.random`` call. Anything
else is unknown, and unknown means the rules stay silent.

A :class:`Provenance` records what kind of values the source gives, a bound on their
magnitude, whether a scaling step was seen on the way, the number of samples when it is
statically known, and which part of a train/test split the value is.

Besides provenance, the module records the ``fit()`` calls of Keras models, the train/test
splits, and the preprocessors fitted on data (scalers, imputers, selectors, oversamplers,
Keras ``adapt()``), with a *lineage* query telling whether one value is derived from another.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import libcst as cst

from fitlint.analysis.index import UNKNOWN, AssignSite, CallSite, ModuleIndex, Scope
from fitlint.analysis.names import dotted

# Kinds of values.
IMAGE = "image"  # uint8 pixels 0-255
FEATURES = "features"  # raw numeric features of a dataset (boston_housing)
TOKENS = "tokens"  # integer token ids meant for an Embedding
LABELS = "labels"  # targets
CSV = "csv"  # raw columns read from a file
GENERATED = "generated"  # literals, numpy.random, numpy.zeros...: magnitude tracked exactly
SCALED = "scaled"  # a scaling step was seen: nothing more is known

_MAX_DEPTH = 40


@dataclass(frozen=True, eq=False)
class Provenance:
    """What is known of the values of an expression.

    Attributes:
        kind: One of ``image``, ``features``, ``tokens``, ``labels``, ``csv``, ``generated``,
            ``scaled``.
        detail: What the values are, for messages ("uint8 pixel values 0-255").
        origin: The source call, for messages ("keras.datasets.mnist.load_data()").
        origin_node: The node of the source, to locate it.
        magnitude: An upper bound of the absolute values, when known.
        samples: The number of samples (first dimension), when statically known.
        split: ``"train"`` or ``"test"`` when the value is one part of a train/test split.
    """

    kind: str
    detail: str
    origin: str
    origin_node: cst.CSTNode | None
    magnitude: float | None = None
    samples: int | None = None
    split: str | None = None

    @property
    def scaled(self) -> bool:
        """True when a scaling step was seen on the value's path."""
        return self.kind == SCALED

    def unscaled(self, min_magnitude: float) -> bool:
        """True when the values are known to be raw and large.

        Args:
            min_magnitude: The magnitude from which literal, random and dataset values count
                as unscaled.
        """
        if self.kind == CSV:
            return True
        if self.kind in (IMAGE, FEATURES, GENERATED):
            return self.magnitude is not None and self.magnitude >= min_magnitude
        return False


@dataclass(eq=False)
class FitCall:
    """A ``fit()`` call on a Keras model.

    Attributes:
        site: The call.
        x: The inputs (first positional or ``x=``).
        y: The targets (second positional or ``y=``).
        validation_data: The ``validation_data`` argument.
        validation_split: The ``validation_split`` argument.
        batch_size: The ``batch_size`` argument (the ``cst.Arg``).
    """

    site: CallSite
    x: cst.BaseExpression | None
    y: cst.BaseExpression | None
    validation_data: cst.Arg | None
    validation_split: cst.Arg | None
    batch_size: cst.Arg | None


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


# ---------------------------------------------------------------------------------------------
# Knowledge tables.

# name: (kind of x, magnitude, detail, train samples, test samples, counts fixed whatever args)
_DATASETS: dict[str, tuple[str, float | None, str, int, int, bool]] = {
    "mnist": (IMAGE, 255.0, "uint8 pixel values 0-255", 60000, 10000, True),
    "fashion_mnist": (IMAGE, 255.0, "uint8 pixel values 0-255", 60000, 10000, True),
    "cifar10": (IMAGE, 255.0, "uint8 pixel values 0-255", 50000, 10000, True),
    "cifar100": (IMAGE, 255.0, "uint8 pixel values 0-255", 50000, 10000, True),
    "boston_housing": (FEATURES, 711.0, "raw features up to ~711", 404, 102, False),
    "california_housing": (
        FEATURES,
        35682.0,
        "raw features in the tens of thousands",
        16512,
        4128,
        False,
    ),
    "imdb": (TOKENS, None, "integer token ids", 25000, 25000, False),
    "reuters": (TOKENS, None, "integer token ids", 8982, 2246, False),
}

_SPLIT = "sklearn.model_selection.train_test_split"

_SKLEARN_SCALERS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "RobustScaler",
        "MaxAbsScaler",
        "Normalizer",
        "QuantileTransformer",
        "PowerTransformer",
    }
)

# Functions whose result is scaled data.
_SCALING_FUNCTIONS = frozenset(
    {
        "sklearn.preprocessing.scale",
        "sklearn.preprocessing.normalize",
        "sklearn.preprocessing.minmax_scale",
        "sklearn.preprocessing.robust_scale",
        "sklearn.preprocessing.maxabs_scale",
        "sklearn.preprocessing.quantile_transform",
        "sklearn.preprocessing.power_transform",
        "keras.utils.normalize",
        "keras.applications.preprocess_input",
        "tensorflow.image.per_image_standardization",
        "tensorflow.math.l2_normalize",
        "tensorflow.nn.l2_normalize",
        "tensorflow.linalg.normalize",
        "keras.ops.normalize",
    }
)

# Functions that keep the values and the samples of their first argument.
_PASS_FUNCTIONS = frozenset(
    {
        "numpy.array",
        "numpy.asarray",
        "numpy.asanyarray",
        "numpy.ascontiguousarray",
        "numpy.copy",
        "numpy.float32",
        "numpy.float64",
        "numpy.float16",
        "numpy.squeeze",
        "tensorflow.cast",
        "tensorflow.constant",
        "tensorflow.convert_to_tensor",
        "tensorflow.squeeze",
        "keras.ops.cast",
        "keras.ops.convert_to_tensor",
        "keras.ops.array",
        "pandas.DataFrame",
        "pandas.Series",
    }
)
_EXPAND_FUNCTIONS = frozenset(
    {"numpy.expand_dims", "tensorflow.expand_dims", "keras.ops.expand_dims"}
)
_RESHAPE_FUNCTIONS = frozenset({"numpy.reshape", "tensorflow.reshape", "keras.ops.reshape"})

# Methods that keep the values and the samples of their receiver.
_PASS_METHODS = frozenset({"astype", "copy", "to_numpy", "numpy", "fillna", "squeeze", "to_frame"})
# Methods that keep the values of their receiver but may change the number of samples.
_VALUE_METHODS = frozenset(
    {"drop", "dropna", "select_dtypes", "sample", "pop", "flatten", "ravel", "head", "tail"}
)
_PASS_ATTRIBUTES = frozenset({"values", "iloc", "loc"})

_FILE_READERS = {
    "pandas.read_csv": "pandas.read_csv()",
    "pandas.read_table": "pandas.read_table()",
    "pandas.read_excel": "pandas.read_excel()",
    "numpy.loadtxt": "numpy.loadtxt()",
    "numpy.genfromtxt": "numpy.genfromtxt()",
}

_LABEL_FUNCTIONS = frozenset({"keras.utils.to_categorical"})

# Layers that put the inputs on a sane scale when they come first.
_NORMALIZING_LAYERS = frozenset(
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
# Layers whose inputs are ids, not magnitudes.
_EMBEDDING_LAYERS = frozenset(
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
_PASS_LAYERS = frozenset(
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

# Preprocessors whose fitting learns statistics of the data (leak when fitted before a split).
_LEAKY_MODULES = (
    "sklearn.preprocessing.",
    "sklearn.impute.",
    "sklearn.feature_selection.",
    "sklearn.decomposition.",
    "imblearn.over_sampling.",
    "imblearn.under_sampling.",
    "imblearn.combine.",
    "category_encoders.",
)
_LEAKY_CLASSES = frozenset(
    {
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
    }
)
# Stateless or label-only: fitting them before a split leaks nothing that matters.
_HARMLESS = frozenset(
    {
        "LabelEncoder",
        "LabelBinarizer",
        "MultiLabelBinarizer",
        "FunctionTransformer",
        "Normalizer",
        "Binarizer",
        "PolynomialFeatures",
        "MissingIndicator",
    }
)
_ADAPT_LAYERS = frozenset(
    {"Normalization", "TextVectorization", "StringLookup", "IntegerLookup", "Discretization"}
)
_FIT_METHODS = frozenset({"fit", "fit_transform", "fit_resample", "adapt"})

_PIPELINES = frozenset(
    {
        "sklearn.pipeline.make_pipeline",
        "sklearn.pipeline.Pipeline",
        "imblearn.pipeline.make_pipeline",
        "imblearn.pipeline.Pipeline",
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
    }
)

_KERAS_MODEL_FACTORIES = frozenset(
    {"keras.Sequential", "keras.Model", "keras.models.load_model", "keras.saving.load_model"}
)

_FIT_POSITIONS = {"x": 0, "y": 1, "batch_size": 2, "validation_split": 6, "validation_data": 7}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _max_abs(v: Any) -> float | None:
    """Max absolute value in a nested tuple of numbers, None if any element is not a number."""
    if _is_number(v):
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


def _layer_name(qualname: str | None) -> str | None:
    """``Dense`` for ``keras.layers.Dense`` / ``keras.Input``, None for non-Keras names."""
    if qualname is None or not qualname.startswith("keras."):
        return None
    return _last(qualname)


def _target_path(target: cst.BaseExpression, name: str) -> tuple[int, ...] | None:
    """The position of ``name`` inside a (nested) tuple target."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for i, el in enumerate(target.elements):
            if isinstance(el, cst.StarredElement):
                return None
            sub = _target_path(el.value, name)
            if sub is not None:
                return (i, *sub)
        return None
    return () if dotted(target) == name else None


def _assign_targets(node: cst.CSTNode) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Assign):
        return [t.target for t in node.targets]
    if isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        return [node.target]
    return []


def _flat_names(target: cst.BaseExpression) -> Iterator[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from _flat_names(el.value)
    else:
        name = dotted(target)
        if name is not None:
            yield name


def _param_names(fn: cst.FunctionDef) -> set[str]:
    p = fn.params
    names = {x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)}
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def _returns(body: cst.CSTNode) -> Iterator[cst.Return]:
    """The return statements of a function body (not of nested functions or classes)."""
    if isinstance(body, cst.Return):
        yield body
        return
    if isinstance(body, (cst.FunctionDef, cst.ClassDef)):
        return
    if isinstance(body, cst.SimpleStatementLine):
        for stmt in body.body:
            if isinstance(stmt, cst.Return):
                yield stmt
        return
    for name in ("body", "orelse", "handlers", "finalbody"):
        child = getattr(body, name, None)
        if isinstance(child, cst.CSTNode):
            yield from _returns(child)
        elif isinstance(child, (tuple, list)):
            for c in child:
                if isinstance(c, cst.CSTNode):
                    yield from _returns(c)


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


def _first_slice(sub: cst.Subscript) -> cst.Slice | None:
    if sub.slice and isinstance(sub.slice[0].slice, cst.Slice):
        return sub.slice[0].slice
    return None


class DataFlow:
    """The data-flow facts of one module. Build it with :func:`build`."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._cache: dict[tuple[int, tuple[int, ...], int], Provenance | None] = {}
        self._loop_names: dict[int, set[str]] = {}
        for loop in index.loops:
            self._loop_names.setdefault(id(loop.scope), set()).update(_flat_names(loop.node.target))
        self._value_targets: dict[int, tuple[str, ...]] | None = None
        self.fits: list[FitCall] = [
            self._fit_call(site)
            for site in self._unique(index.calls_by_method.get("fit", ()))
            if self._is_keras_fit(site)
        ]
        self.fits.sort(key=lambda f: f.site.order)
        self.splits: list[SplitCall] = self._find_splits()
        self.preprocessors: list[FittedPreprocessor] = self._find_preprocessors()

    def _targets_of(self, call: cst.Call) -> tuple[str, ...]:
        """The names bound by the assignment whose whole value is ``call``."""
        if self._value_targets is None:
            self._value_targets = {}
            for a in self.index.assigns:
                if a.augmented is None:
                    self._value_targets[id(a.value)] = (
                        self._value_targets.get(id(a.value), ()) + a.targets
                    )
        return self._value_targets.get(id(call), ())

    def _unique(self, sites: Iterable[CallSite]) -> list[CallSite]:
        """One site per call node (the index may record a call twice)."""
        return [s for s in sites if self.index.site_of(s.node) is s]

    # -- public queries ----------------------------------------------------------------------

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

    def provenance_at(self, expr: cst.BaseExpression | None, site: CallSite) -> Provenance | None:
        """:meth:`provenance` of an argument of a call."""
        return self.provenance(expr, site.scope, site.order)

    def samples_seen_by_fit(self, fit: FitCall) -> int | None:
        """The number of training samples a fit call iterates over, when statically known.

        ``validation_split`` (without ``validation_data``, which overrides it) removes the
        last part of the arrays, as Keras does: ``floor(n * (1 - split))`` samples remain.
        """
        n = None
        for expr in (fit.x, fit.y):
            prov = self.provenance_at(expr, fit.site)
            if prov is not None and prov.samples is not None:
                n = prov.samples
                break
        if n is None:
            return None
        if fit.validation_split is not None and fit.validation_data is None:
            split = self.index.const_value(fit.validation_split.value, fit.site.scope)
            if not _is_number(split):
                return None
            if 0 < split < 1:
                n = math.floor(n * (1.0 - float(split)))
        return n

    def plain_binding(self, name: str, scope: Scope, order: int | None) -> AssignSite | None:
        """Like :meth:`binding`, but only a plain ``name = value`` (no ``+=``, no unpacking)."""
        b = self.binding(name, scope, order)
        if b is None or b.augmented is not None or b.unpacked:
            return None
        return b

    def binding(self, name: str, scope: Scope, order: int | None) -> AssignSite | None:
        """The assignment that gives ``name`` its value at ``order`` in ``scope``.

        Follows the scope chain (module bindings are taken last-wins from functions); names
        bound by ``for`` loops or parameters give None.
        """
        sites = self.index.assigns_by_name.get(name, ())
        current: Scope | None = scope
        cur_order = order
        while current is not None:
            if name in self._loop_names.get(id(current), ()):
                return None
            here = [
                s
                for s in sites
                if s.scope is current and (cur_order is None or s.order < cur_order)
            ]
            if here:
                return max(here, key=lambda s: s.order)
            if (
                current.kind == "function"
                and isinstance(current.node, cst.FunctionDef)
                and name.split(".", 1)[0] in _param_names(current.node)
            ):
                return None
            current = current.parent
            while current is not None and current.kind == "class":
                current = current.parent
            cur_order = None
        return None

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
        if isinstance(expr, cst.Attribute) and expr.attr.value in _PASS_ATTRIBUTES:
            return self.split_part(expr.value, scope, order, d)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            name = dotted(expr)
            b = None if name is None else self.binding(name, scope, order)
            if b is None or name is None:
                return None
            if b.augmented is not None:
                return self.split_part(expr, b.scope, b.order, d)
            if not b.unpacked:
                return self.split_part(b.value, b.scope, b.order, d)
            path = next(
                (p for t in _assign_targets(b.node) if (p := _target_path(t, name)) is not None),
                None,
            )
            value = b.value
            if path is None:
                return None
            if isinstance(value, (cst.Tuple, cst.List)):
                if len(path) == 1 and path[0] < len(value.elements):
                    return self.split_part(value.elements[path[0]].value, b.scope, b.order, d)
                return None
            site = self.index.site_of(value) if isinstance(value, cst.Call) else None
            q = site.qualname if site else None
            if q == _SPLIT and path:
                return "train" if path[0] % 2 == 0 else "test"
            loaded = self._dataset_loaded(value, b.scope, b.order) if site else None
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
            if site.qualname in _PASS_FUNCTIONS or site.qualname in _SCALING_FUNCTIONS:
                first = site.arg(None, 0)
                return None if first is None else self.split_part(first, scope, order, d)
            if (
                site.qualname is None
                and isinstance(expr.func, cst.Attribute)
                and site.method in (*_PASS_METHODS, "reshape")
            ):
                return self.split_part(expr.func.value, scope, order, d)
        return None

    def input_handling(self, fit: FitCall) -> str | None:
        """How the fitted model treats its inputs.

        Returns:
            ``"normalizes"`` when a normalization/rescaling layer comes first, ``"embeds"`` when
            the first layer takes ids (Embedding, lookups), ``"raw"`` when the first layer that
            computes is another known layer, None when the model cannot be resolved.
        """
        receiver = fit.site.node.func
        if not isinstance(receiver, cst.Attribute):
            return None
        return self._model_inputs(receiver.value, fit.site.scope, fit.site.order, 0)

    def leaks(self) -> Iterator[tuple[FittedPreprocessor, SplitCall]]:
        """Preprocessors fitted on data that is split into train/test afterwards."""
        for prep in self.preprocessors:
            if self._row_subset(prep.data, prep.site.scope):
                continue
            # Fitted on a training split: re-splitting it for validation is the usual workflow.
            if self.split_part(prep.data, prep.site.scope, prep.site.order) == "train":
                continue
            heads = self.lineage(prep.data, prep.site.scope, prep.site.order, transitive=False)
            if not heads:
                continue
            for split in self.splits:
                if split.scope is not prep.site.scope or split.order <= prep.site.order:
                    continue
                if not split.arrays:
                    continue
                if heads & self.lineage(split.arrays[0], split.scope, split.order):
                    yield prep, split
                    break

    def line_of(self, node: cst.CSTNode) -> int | None:
        """The 1-based line of a node (positions are shared with the engine, computed once)."""
        rng = self.index.positions().get(node)
        return None if rng is None else int(rng.start.line)

    # -- fit calls ---------------------------------------------------------------------------

    def _fit_call(self, site: CallSite) -> FitCall:
        def arg(name: str) -> cst.Arg | None:
            pos = _FIT_POSITIONS[name]
            positional: int | None = 0  # None once *args hides the positions
            for a in site.node.args:
                if a.keyword is not None:
                    if a.keyword.value == name:
                        return a
                elif a.star == "*":
                    positional = None
                elif a.star:
                    continue
                elif positional is not None:
                    if positional == pos:
                        return a
                    positional += 1
            return None

        x, y = arg("x"), arg("y")
        return FitCall(
            site=site,
            x=x.value if x else None,
            y=y.value if y else None,
            validation_data=arg("validation_data"),
            validation_split=arg("validation_split"),
            batch_size=arg("batch_size"),
        )

    def _is_keras_fit(self, site: CallSite) -> bool:
        if site.receiver is None or not self.index.imports.imports_keras():
            return False
        receiver = site.node.func.value if isinstance(site.node.func, cst.Attribute) else None
        if receiver is None:
            return False
        ctor = self._constructor(receiver, site.scope, site.order, 0)
        if ctor is not None:
            q = ctor.qualname
            if q is not None and (
                q in _KERAS_MODEL_FACTORIES or q.startswith("keras.applications.")
            ):
                return True
            if q is not None and not q.startswith("keras"):
                return False  # an sklearn estimator, a pipeline...
            if ctor.func is not None and self._keras_class_or_factory(ctor.func):
                return True
        keywords = site.keywords()
        if {"epochs", "validation_split", "validation_data", "steps_per_epoch"} & set(keywords):
            return True
        return any(
            c.receiver == site.receiver for c in self.index.calls_by_method.get("compile", ())
        )

    def _keras_class_or_factory(self, func: str) -> bool:
        cls = self.index.classes.get(func)
        if cls is not None:
            return any(
                (q := self.index.imports.qualify(b.value)) is not None and q == "keras.Model"
                for b in cls.bases
            )
        return False

    # -- bindings and constructors -----------------------------------------------------------

    def _constructor(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int
    ) -> CallSite | None:
        """The call that created the object ``expr`` refers to (through names and ``.fit()``)."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            site = self.index.site_of(expr)
            if site is None:
                return None
            # est.fit(X) returns est: follow to the estimator.
            if site.method == "fit" and isinstance(expr.func, cst.Attribute):
                return self._constructor(expr.func.value, scope, order, depth + 1)
            return site
        name = dotted(expr)
        if name is None:
            return None
        b = self.plain_binding(name, scope, order)
        if b is None:
            return None
        return self._constructor(b.value, b.scope, b.order, depth + 1)

    def _estimator_classes(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int = 0
    ) -> list[str] | None:
        """The canonical class names an estimator expression is made of (pipelines expanded)."""
        ctor = self._constructor(expr, scope, order, depth)
        if ctor is None or ctor.qualname is None:
            return None
        if ctor.qualname not in _PIPELINES:
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

    # -- provenance --------------------------------------------------------------------------

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
        if isinstance(expr, cst.Attribute) and expr.attr.value in _PASS_ATTRIBUTES:
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
        b = self.binding(name, scope, order)
        if b is None:
            return None
        # df["a"] = scaler.fit_transform(df[["a"]]), x[:, 0] /= 100: changed in place.
        if any(
            s.scope is b.scope and b.order < s.order and (s.scope is not scope or s.order < order)
            for s in self.index.assigns_by_name.get(name + "[]", ())
        ):
            return None
        if b.augmented is not None:
            op = _binop_kind(b.augmented)
            if op is None or path:
                return None
            prev = self._resolve_name(name, b.scope, b.order, (), depth + 1)
            return self._apply(op, prev, b.value, b.scope, b.order, depth + 1)
        if b.unpacked:
            for target in _assign_targets(b.node):
                sub = _target_path(target, name)
                if sub is not None:
                    return self._resolve(b.value, b.scope, b.order, sub + path, depth + 1)
            return None
        return self._resolve(b.value, b.scope, b.order, path, depth + 1)

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
        base = self._resolve(expr.value, scope, order, (), depth)
        if base is None:
            return None
        if isinstance(first, cst.Slice):
            return replace(base, samples=self._slice_len(first, base.samples, scope))
        if isinstance(first, cst.Index):
            value = first.value
            if isinstance(value, cst.Ellipsis):
                return base
            if _is_columns(self.index.const_value(value, scope)):
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
        dataset = self._dataset_loaded(expr, scope, order)
        if dataset is not None:
            return self._dataset(dataset, expr, path)
        if q == _SPLIT:
            return self._split_output(expr, scope, order, path, depth)
        if path:
            return None
        if q is not None:
            known = self._resolve_known_function(q, expr, scope, order, depth)
            if known is not _NOT_KNOWN:
                return known
        # A layer applied to data: Rescaling(1 / 255)(x), or norm(x) with norm = Normalization().
        layer = self._layer_of(expr.func, scope, order, depth)
        if layer is not None and layer in _NORMALIZING_LAYERS:
            return _scaled(expr, self._first_arg(expr, scope, order, depth))
        if isinstance(expr.func, cst.Attribute) and site is not None:
            return self._resolve_method(expr, site, scope, order, depth)
        return None

    def _first_arg(self, expr: cst.Call, scope: Scope, order: int, depth: int) -> Provenance | None:
        for a in expr.args:
            if a.keyword is None and not a.star:
                return self._resolve(a.value, scope, order, (), depth)
        return None

    def _layer_of(
        self, func: cst.BaseExpression, scope: Scope, order: int, depth: int
    ) -> str | None:
        if isinstance(func, cst.Call):
            site = self.index.site_of(func)
            return _layer_name(site.qualname if site else None)
        if isinstance(func, cst.Name):
            ctor = self._constructor(func, scope, order, depth)
            if ctor is not None:
                return _layer_name(ctor.qualname)
        return None

    def _resolve_known_function(
        self, q: str, expr: cst.Call, scope: Scope, order: int, depth: int
    ) -> Provenance | None:
        """Provenance of a call to a known function; ``_NOT_KNOWN`` when ``q`` is not one."""
        site = self.index.site_of(expr)
        assert site is not None
        if q in _SCALING_FUNCTIONS:
            return _scaled(expr, self._first_arg(expr, scope, order, depth))
        if q in _FILE_READERS:
            return Provenance(
                kind=CSV,
                detail="raw columns",
                origin=_FILE_READERS[q],
                origin_node=expr,
            )
        if q in _LABEL_FUNCTIONS:
            labels = site.arg("y", 0)
            base = None if labels is None else self._resolve(labels, scope, order, (), depth)
            return Provenance(
                kind=LABELS,
                detail="one-hot labels",
                origin=f"{q}()",
                origin_node=expr,
                samples=base.samples if base else None,
                split=base.split if base else None,
            )
        data = site.arg(None, 0)
        if q in _PASS_FUNCTIONS:
            return None if data is None else self._resolve(data, scope, order, (), depth)
        if q in _EXPAND_FUNCTIONS:
            base = None if data is None else self._resolve(data, scope, order, (), depth)
            if base is None:
                return None
            axis = self.index.const_value(site.arg("axis", 1), scope)
            if axis == 0:
                return replace(base, samples=1)
            return base if _is_number(axis) else replace(base, samples=None)
        if q in _RESHAPE_FUNCTIONS:
            base = None if data is None else self._resolve(data, scope, order, (), depth)
            if base is None:
                return None
            shape = site.arg("newshape", 1) or site.arg("shape", 1)
            return replace(base, samples=self._reshaped_samples(shape, [], base.samples, scope))
        generated = self._generated(q, site, scope)
        if generated is not None:
            return generated
        return _NOT_KNOWN

    def _generated(self, q: str, site: CallSite, scope: Scope) -> Provenance | None:
        """numpy/tensorflow array constructors and random generators."""
        if q.startswith("numpy.random.") and q.count(".") == 2:
            return self._random(_last(q), site, scope, f"{q}()")
        if q in ("numpy.zeros", "numpy.ones", "numpy.full", "numpy.empty"):
            shape = self.index.const_value(site.arg("shape", 0), scope)
            mag: float | None = {"numpy.zeros": 0.0, "numpy.ones": 1.0}.get(q)
            if q == "numpy.full":
                fill = self.index.const_value(site.arg("fill_value", 1), scope)
                mag = float(abs(fill)) if _is_number(fill) else None
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
        if q == "numpy.linspace":
            lo = self.index.const_value(site.arg("start", 0), scope)
            hi = self.index.const_value(site.arg("stop", 1), scope)
            num = self.index.const_value(site.arg("num", 2), scope)
            if site.arg("num", 2) is None:
                num = 50
            if not (_is_number(lo) and _is_number(hi) and isinstance(num, int)):
                return None
            return self._gen(q, site, float(max(abs(lo), abs(hi))), num)
        if q in ("tensorflow.random.uniform", "tensorflow.random.normal"):
            shape = self.index.const_value(site.arg("shape", 0), scope)
            if q.endswith("uniform"):
                lo = self.index.const_value(site.arg("minval", 1), scope)
                hi = self.index.const_value(site.arg("maxval", 2), scope)
                lo = 0 if site.arg("minval", 1) is None else lo
                hi = 1 if site.arg("maxval", 2) is None else hi
                if not (_is_number(lo) and _is_number(hi)):
                    return None
                return self._gen(q, site, float(max(abs(lo), abs(hi))), _first_of_size(shape))
            mean = self.index.const_value(site.arg("mean", 1), scope)
            std = self.index.const_value(site.arg("stddev", 2), scope)
            mean = 0 if site.arg("mean", 1) is None else mean
            std = 1 if site.arg("stddev", 2) is None else std
            if not (_is_number(mean) and _is_number(std)):
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
            if not _is_number(low):
                return None
            if high is None:
                low, high = 0, low
            if not _is_number(high):
                return None
            top = high - 1 if fn == "randint" or not _truthy(arg("endpoint", None, False)) else high
            mag = float(max(abs(low), abs(top)))
        elif fn == "uniform":
            low = arg("low", 0, 0.0)
            high = arg("high", 1, 1.0)
            size = arg("size", 2, None)
            if not (_is_number(low) and _is_number(high)):
                return None
            mag = float(max(abs(low), abs(high)))
        elif fn == "normal":
            loc = arg("loc", 0, 0.0)
            sd = arg("scale", 1, 1.0)
            size = arg("size", 2, None)
            if not (_is_number(loc) and _is_number(sd)):
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
            classes = self._estimator_classes(receiver, scope, order, depth)
            if classes and any(
                c.startswith("sklearn.preprocessing.") and _last(c) in _SKLEARN_SCALERS
                for c in classes
            ):
                return _scaled(expr, self._first_arg(expr, scope, order, depth))
            return None
        # Methods of numpy random generators: rng.integers(...), rs.rand(...).
        ctor = None
        if isinstance(receiver, cst.Name):
            ctor = self._constructor(receiver, scope, order, depth)
        if ctor is not None and ctor.qualname in (
            "numpy.random.default_rng",
            "numpy.random.RandomState",
            "numpy.random.Generator",
        ):
            return self._random(method, site, scope, f"{ctor.qualname}().{method}()")
        if method in _PASS_METHODS:
            return self._resolve(receiver, scope, order, (), depth)
        if method in _VALUE_METHODS:
            base = self._resolve(receiver, scope, order, (), depth)
            return None if base is None else replace(base, samples=None)
        if method == "reshape":
            base = self._resolve(receiver, scope, order, (), depth)
            if base is None:
                return None
            args = [a.value for a in expr.args if a.keyword is None]
            shape = args[0] if len(args) == 1 else None
            rest = args if len(args) > 1 else []
            return replace(base, samples=self._reshaped_samples(shape, rest, base.samples, scope))
        return None

    def _reshaped_samples(
        self,
        shape: cst.BaseExpression | None,
        dims: list[cst.BaseExpression],
        n: int | None,
        scope: Scope,
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
        return None

    def _dataset_loaded(self, expr: cst.BaseExpression, scope: Scope, order: int) -> str | None:
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
            b = None if name is None else self.binding(name, scope, order)
            if b is not None and b.augmented is None and not b.unpacked:
                target = self.index.imports.qualify(b.value)
                q = None if target is None else target + ".load_data"
        if q is None:
            return None
        parts = q.split(".")
        if len(parts) == 4 and parts[:2] == ["keras", "datasets"] and parts[3] == "load_data":
            return parts[2]
        return None

    def _dataset(self, name: str, expr: cst.Call, path: tuple[int, ...]) -> Provenance | None:
        info = _DATASETS.get(name)
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
        if _is_number(lc) and op in ("*", "+"):
            return self._apply(
                op, self._resolve(right, scope, order, (), depth), left, scope, order, depth
            )
        if _is_number(lc):
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
        if _is_number(c):
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

    # -- lineage -----------------------------------------------------------------------------

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
        if isinstance(expr, cst.Attribute) and expr.attr.value in (*_PASS_ATTRIBUTES, "T"):
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
                q in _PASS_FUNCTIONS
                or q in _EXPAND_FUNCTIONS
                or q in _RESHAPE_FUNCTIONS
                or q in ("numpy.concatenate", "numpy.vstack", "numpy.hstack", "numpy.column_stack")
            ):
                first = site.arg(None, 0)
                if first is not None:
                    self._lineage(first, scope, order, out, transitive, d)
                return
            if q is not None and q != _SPLIT:
                return
            if q == _SPLIT or method in ("transform", "fit_transform", "fit_resample"):
                for a in expr.args:
                    if a.keyword is None:
                        self._lineage(a.value, scope, order, out, transitive, d)
                return
            if (
                method in _PASS_METHODS
                or method in _VALUE_METHODS
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
        b = self.binding(name, scope, order)
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
                    if not isinstance(value, cst.Ellipsis) and not _is_columns(
                        self.index.const_value(value, scope)
                    ):
                        return True
                expr = expr.value
            elif isinstance(expr, cst.Attribute) and expr.attr.value in _PASS_ATTRIBUTES:
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
            for site in self._unique(self.index.calls_to(_SPLIT))
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
        for method in _FIT_METHODS:
            for site in self._unique(self.index.calls_by_method.get(method, ())):
                func = site.node.func
                if not isinstance(func, cst.Attribute):
                    continue
                data = site.arg("data" if method == "adapt" else "X", 0)
                if data is None:
                    continue
                ctor = self._constructor(func.value, site.scope, site.order, 0)
                if ctor is None or ctor.qualname is None:
                    continue
                q = ctor.qualname
                if method == "adapt":
                    leaky = _layer_name(q) in _ADAPT_LAYERS
                else:
                    leaky = (q.startswith(_LEAKY_MODULES) or q in _LEAKY_CLASSES) and _last(
                        q
                    ) not in _HARMLESS
                if leaky:
                    out.append(FittedPreprocessor(site=site, estimator=q, data=data))
        out.sort(key=lambda p: p.site.order)
        return out

    # -- model inputs ------------------------------------------------------------------------

    def _model_inputs(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int
    ) -> str | None:
        if depth > 8:
            return None
        name = dotted(expr)
        if name is None:
            return None
        b = self.plain_binding(name, scope, order)
        if b is None:
            return None
        value = b.value
        if not isinstance(value, cst.Call):
            return None
        site = self.index.site_of(value)
        if site is None:
            return None
        if site.qualname == "keras.Sequential":
            layers = self._sequential_layers(site, name, b, order)
            verdict = None if layers is None else self._first_layers(layers, b.scope, order, 0)
            return None if verdict == "pass" else verdict
        if site.qualname == "keras.Model":
            return self._functional_inputs(site, depth)
        # model = build_model(): look at what the local function returns.
        if site.qualname is None and site.func in self.index.functions:
            fn = self.index.functions[site.func]
            fn_scope = self.index.function_scopes[site.func]
            results = {
                self._model_inputs(r.value, fn_scope, 1 << 60, depth + 1)
                for r in _returns(fn.body)
                if r.value is not None
            }
            if len(results) == 1:
                return results.pop()
        return None

    def _sequential_layers(
        self, site: CallSite, name: str, binding: AssignSite, order: int
    ) -> list[cst.BaseExpression] | None:
        layers: list[cst.BaseExpression] = []
        arg = site.arg("layers", 0)
        if arg is not None:
            if not isinstance(arg, (cst.List, cst.Tuple)):
                return None
            if any(isinstance(el, cst.StarredElement) for el in arg.elements):
                return None
            layers.extend(el.value for el in arg.elements)
        adds = [
            c
            for c in self._unique(self.index.calls_by_method.get("add", ()))
            if c.receiver == name and c.scope is binding.scope and binding.order < c.order < order
        ]
        adds.sort(key=lambda c: c.order)
        for c in adds:
            layer = c.arg("layer", 0)
            if layer is None:
                return None
            layers.append(layer)
        return layers

    def _first_layers(
        self, layers: list[cst.BaseExpression], scope: Scope, order: int, depth: int
    ) -> str | None:
        """The verdict of the first layer that is not a pass-through; ``"pass"`` if none is."""
        if depth > 8:
            return None
        for layer in layers:
            if isinstance(layer, cst.Name):
                b = self.plain_binding(layer.value, scope, order)
                if b is None:
                    return None
                layer = b.value
            if not isinstance(layer, cst.Call):
                return None
            site = self.index.site_of(layer)
            q = site.qualname if site else None
            if q == "keras.Sequential" and site is not None:
                inner = site.arg("layers", 0)
                if not isinstance(inner, (cst.List, cst.Tuple)):
                    return None
                got = self._first_layers(
                    [el.value for el in inner.elements], scope, order, depth + 1
                )
                if got == "pass":
                    continue
                return got
            verdict = _layer_verdict(_layer_name(q))
            if verdict == "pass":
                continue
            return verdict
        return "pass"

    def _functional_inputs(self, model: CallSite, depth: int) -> str | None:
        inputs = model.arg("inputs", 0)
        if inputs is None:
            return None
        names: set[str] = set()
        for el in inputs.elements if isinstance(inputs, (cst.List, cst.Tuple)) else [inputs]:
            value = el.value if isinstance(el, cst.Element) else el
            if not isinstance(value, cst.Name):
                return None
            names.add(value.value)
        scope = model.scope
        verdicts: set[str] = set()
        frontier = set(names)
        seen: set[str] = set()
        while frontier:
            current = frontier.pop()
            seen.add(current)
            found = False
            for site in self._unique(self.index.calls):
                if site.scope is not scope or site.order > model.order:
                    continue
                args = [a.value for a in site.node.args]
                if not any(isinstance(a, cst.Name) and a.value == current for a in args):
                    continue
                if site.node is model.node:
                    continue
                found = True
                layer = self._layer_of(site.node.func, scope, site.order, depth)
                verdict = _layer_verdict(layer)
                if verdict is None:
                    return None
                if verdict == "pass":
                    for t in self._targets_of(site.node):
                        if t and t not in seen:
                            frontier.add(t)
                    continue
                verdicts.add(verdict)
            # `inputs / 255` and other arithmetic on the input: not known.
            for a in self.index.assigns:
                if a.scope is scope and _mentions_in_arith(a.value, current):
                    return None
            if not found and current in names:
                return None
        if len(verdicts) == 1:
            return verdicts.pop()
        if "normalizes" in verdicts or "embeds" in verdicts:
            return None
        return "raw" if verdicts else None


def _layer_verdict(layer: str | None) -> str | None:
    if layer is None:
        return None
    if layer in _NORMALIZING_LAYERS:
        return "normalizes"
    if layer in _EMBEDDING_LAYERS:
        return "embeds"
    if layer in _PASS_LAYERS or layer.startswith("Random"):
        return "pass"
    if layer in ("Sequential", "Model", "Functional"):
        return None
    return "raw"


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


def _mentions_in_arith(expr: cst.BaseExpression, name: str, depth: int = 0) -> bool:
    if isinstance(expr, cst.BinaryOperation):
        if depth > _MAX_DEPTH:
            return True  # too deep to tell: treat as mentioned (the caller then stays silent)
        return any(
            (isinstance(side, cst.Name) and side.value == name)
            or _mentions_in_arith(side, name, depth + 1)
            for side in (expr.left, expr.right)
        )
    return False


def _is_columns(key: Any) -> bool:
    """A pandas column key: a name or a list of names."""
    return isinstance(key, str) or (
        isinstance(key, tuple) and bool(key) and all(isinstance(k, str) for k in key)
    )


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


def build(index: ModuleIndex) -> DataFlow:
    """Analyses the data flow of a module.

    Args:
        index: The module's index.

    Returns:
        The fit calls, splits and fitted preprocessors of the module, with provenance and
        lineage queries.
    """
    return DataFlow(index)
