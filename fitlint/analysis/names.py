"""Resolve names through a module's imports, and give Keras names one canonical spelling.

Real code imports Keras every way: ``tf.keras.layers.Dense``, ``keras.layers.Dense``,
``from tensorflow.keras.layers import Dense``, ``import tensorflow.keras as K``,
``keras.src.layers.core.dense.Dense``. Rules compare canonical names only: ``keras.layers.Dense``,
``keras.optimizers.Adam``, ``keras.Sequential``, ``keras.Model``, ``keras.losses.X``...
"""

from __future__ import annotations

import libcst as cst

# Prefixes that all mean "the Keras package".
_KERAS_ROOTS = (
    "tensorflow.keras",
    "tensorflow.python.keras",
    "tensorflow.compat.v2.keras",
    "tensorflow.compat.v1.keras",
    "tf_keras",
    "keras.src",
    "keras.api._v2.keras",
    "keras.api",
    "keras._tf_keras.keras",
)

# Submodules whose members are re-exported flat:
# keras.layers.core.dense.Dense -> keras.layers.Dense.
_FLAT_SUBMODULES = frozenset(
    {
        "layers",
        "optimizers",
        "losses",
        "metrics",
        "callbacks",
        "activations",
        "datasets",
        "initializers",
        "regularizers",
        "applications",
        "utils",
        "preprocessing",
        "mixed_precision",
    }
)

# scikit-learn modules merged into sklearn.model_selection in 0.18 (removed in 0.20).
_SKLEARN_OLD = ("sklearn.cross_validation", "sklearn.grid_search", "sklearn.learning_curve")

_MISSING: str | None = "\0missing"  # not looked up yet

# Names of the model classes, wherever they are imported from.
_MODEL_CLASSES = {"Sequential": "keras.Sequential", "Model": "keras.Model"}


def canonical(qualified: str) -> str:
    """Returns the canonical spelling of a fully qualified name.

    Non-Keras names are returned unchanged (``numpy.random.rand`` stays as is).

    >>> canonical("tensorflow.keras.layers.Dense")
    'keras.layers.Dense'
    >>> canonical("keras.src.optimizers.adam.Adam")
    'keras.optimizers.Adam'
    >>> canonical("tensorflow.keras.models.Sequential")
    'keras.Sequential'
    """
    name = qualified
    if name.startswith("tf."):
        name = "tensorflow." + name[3:]
    if name.startswith(_SKLEARN_OLD):
        # scikit-learn before 0.20: sklearn.cross_validation.train_test_split...
        rest = name[8:].partition(".")[2]
        return f"sklearn.model_selection.{rest}" if rest else "sklearn.model_selection"
    for root in _KERAS_ROOTS:
        if name == root:
            return "keras"
        if name.startswith(root + "."):
            name = "keras." + name[len(root) + 1 :]
            break
    if not name.startswith("keras."):
        return name
    parts = name.split(".")
    last = parts[-1]
    if last in _MODEL_CLASSES and len(parts) <= 4 and parts[1] in ("models", "engine", last):
        return _MODEL_CLASSES[last]
    if len(parts) >= 3 and parts[1] in _FLAT_SUBMODULES:
        sub = parts[1]
        # Keep the schedules namespace: keras.optimizers.schedules.ExponentialDecay.
        if sub == "optimizers" and "schedules" in parts[2:-1]:
            return "keras.optimizers.schedules." + last
        if sub == "optimizers" and len(parts) == 3:
            return name
        if sub == "datasets" and len(parts) >= 4:
            # keras.datasets.mnist.load_data keeps its dataset module.
            return "keras.datasets." + ".".join(parts[-2:])
        if sub == "preprocessing" and len(parts) >= 4 and parts[2] != "image":
            return "keras.layers." + last
        return f"keras.{sub}.{last}"
    return name


def dotted(node: cst.BaseExpression) -> str | None:
    """Returns ``a.b.c`` for a Name/Attribute chain, None for anything else."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def target_names(target: cst.BaseExpression) -> tuple[tuple[str, ...], bool]:
    """Flattens an assignment or loop target into dotted names; the bool says it was unpacked.

    ``x`` gives ``("x",)``, ``self.w`` ``("self.w",)``, ``a, (b, c)`` ``("a", "b", "c")``,
    ``x[i]`` ``("x[]",)``; an element that is no name chain gives ``""``.
    """
    if isinstance(target, (cst.Tuple, cst.List)):
        out: list[str] = []
        for el in target.elements:
            names, _ = target_names(el.value)
            out.extend(names or ("",))
        return tuple(out), True
    name = dotted(target)
    if name is not None:
        return (name,), False
    if isinstance(target, cst.Subscript):
        base = dotted(target.value)
        return ((base + "[]",) if base else ()), False
    return (), False


def param_names(fn: cst.FunctionDef) -> frozenset[str]:
    """The names a function's parameters bind (``*args`` and ``**kwargs`` included)."""
    p = fn.params
    names = {x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)}
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return frozenset(names)


def _module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    name = dotted(node)
    return name or ""


class ImportMap:
    """Maps the names bound by a module's imports to fully qualified names.

    Bindings are collected from every import in the module, at any depth: a name imported in
    a function is resolvable everywhere, which errs towards resolving (imports of the same
    name to different things are rare in training scripts; the last one wins).
    """

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self.star_modules: list[str] = []
        self._keras: bool | None = None
        self._qualified: dict[str, str | None] = {}

    def add_import(self, node: cst.Import) -> None:
        self._keras = None
        self._qualified.clear()
        for alias in node.names:
            full = _module_name(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._names[alias.asname.name.value] = full
            else:
                top = full.split(".", 1)[0]
                self._names[top] = top

    def add_import_from(self, node: cst.ImportFrom) -> None:
        self._keras = None
        self._qualified.clear()
        if node.relative:
            return
        module = _module_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(module)
            return
        for alias in node.names:
            imported = _module_name(alias.name)
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self._names[local] = f"{module}.{imported}" if module else imported

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """Returns the canonical qualified name of a Name/Attribute chain, if imported."""
        name = dotted(node)
        return None if name is None else self.qualify_name(name)

    def qualify_name(self, name: str) -> str | None:
        """Like :meth:`qualify` for a plain dotted string."""
        found = self._qualified.get(name, _MISSING)
        if found is _MISSING:
            head, _, rest = name.partition(".")
            base = self._names.get(head)
            found = None if base is None else canonical(f"{base}.{rest}" if rest else base)
            self._qualified[name] = found
        return found

    def imports_keras(self) -> bool:
        """True when anything Keras (or TensorFlow) is imported."""
        if self._keras is None:
            self._keras = any(
                v.split(".", 1)[0] in ("keras", "tensorflow", "tf_keras")
                for v in self._names.values()
            ) or any(m.split(".", 1)[0] in ("keras", "tensorflow") for m in self.star_modules)
        return self._keras
