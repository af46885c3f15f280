"""Every question about the Keras models of a module: which variables and calls are models,
how they are built (their layer stacks), whether they are compiled, and what they do to
their inputs.

Three ways of building a Keras model are recognised:

* **Sequential**: ``Sequential([...])``, ``Sequential(layers=[...])``, a list bound once to a
  name, list comprehensions over ``range(N)``, and ``model.add(...)`` calls after the
  construction, including inside ``for`` loops with a constant trip count (``range(N)`` or a
  literal list/tuple): a loop body is repeated N times.
* **Functional**: ``keras.Model(inputs, outputs)``; each output is traced back through the
  layer applications that produced it (``x = Dense(4)(x)``, ``h = LSTM(8)(x)``, a layer bound
  to a name and applied later, activation functions such as ``tf.nn.relu(x)``) up to an
  ``Input(...)``. Loops that re-assign the traced tensor (``for _ in range(3): x = ...(x)``)
  are unrolled the same way.
* **Subclassed**: a class deriving from ``keras.Model`` (through the imports, or from another
  model class of the file): the layers bound to ``self.<attr>`` anywhere in the class are
  followed through ``call()``, from its single final ``return`` back to its input parameter.

Every stack is a tuple of :class:`~fitlint.analysis.layers.Layer`. What cannot be resolved
statically (a helper returning layers, a ``*layers`` splat, a custom layer class, a layer
added under an ``if``, a loop with an unknown trip count, a merge of several tensors) becomes
an item whose :attr:`Layer.known` is False: rules must treat it as a barrier and stay silent
across it.

Models also carry their ``compile()`` calls: on the model's variable after its construction,
``self.compile(...)`` inside a model class, on instances of a model class, and on the result
of a function that builds and returns the model.

Besides the stacks, :class:`Models` answers, per call site: is this receiver a Keras model
(:meth:`Models.receiver_is_model`, :meth:`Models.is_keras_fit`), where does this value's model
come from and is it compiled already (:meth:`Models.origin`), is the model not compiled when
this ``fit()`` runs (:meth:`Models.uncompiled_at`), and what do its first layers do to the
inputs (:meth:`Models.input_handling`). Every fact is computed once per module, on first use,
from tables of the index: no question searches all the statements of the file.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from fitlint.analysis.index import AssignSite, CallSite, Loop, ModuleIndex, Scope
from fitlint.analysis.layers import (
    INPUT_LAYERS,
    RENORMALIZING_LAYERS,
    SATURATING,
    SCALE_EQUIVARIANT_LAYERS,
    Layer,
    LayerReader,
    Output,
    Role,
    Stack,
    as_int,
    class_name,
    first_input,
    function_activation,
    input_verdict,
    is_dense_or_conv,
    repeat,
    unknown_layer,
)
from fitlint.analysis.names import dotted

__all__ = [
    "COMPILED",
    "FRESH",
    "Layer",
    "Model",
    "Models",
    "Output",
    "Role",
    "Stack",
    "build",
    "unique_sites",
]

FRESH = "fresh"
"""A new model that is not compiled (:meth:`Models.origin`)."""
COMPILED = "compiled"
"""A model that is (or may be) compiled already: loaded, or compiling itself."""

# Tracing limit: the longest functional chain followed.
_MAX_CHAIN = 1000
_FOREVER = 1 << 62

_MODEL_CONSTRUCTORS = frozenset({"keras.Sequential", "keras.Model", "keras.models.clone_model"})
_MODEL_LOADERS = frozenset({"keras.models.load_model", "keras.saving.load_model"})
_MODEL_BASES = frozenset({"keras.Model", "keras.Sequential"})
_KERAS_MODEL_FACTORIES = frozenset({"keras.Sequential", "keras.Model", *_MODEL_LOADERS})
# Methods whose definition in a model class means fit() may not need compile().
_TRAINING_OVERRIDES = frozenset({"compile", "fit", "train_on_batch", "train_step"})
# Callables that read a model without compiling it.
_HARMLESS_CALLEES = frozenset(
    {"print", "len", "isinstance", "type", "id", "repr", "str", "hasattr", "getattr", "vars"}
)
# fit() keywords that say the receiver is a Keras model.
_KERAS_FIT_KEYWORDS = frozenset(
    {"epochs", "validation_split", "validation_data", "steps_per_epoch"}
)


@dataclass(eq=False)
class Model:
    """A model built in the module.

    Attributes:
        kind: ``"sequential"``, ``"functional"`` or ``"subclassed"``.
        node: The construction call, or the ClassDef of a subclassed model.
        name: The variable the model is bound to (``model``, ``self.net``), or the class name.
        scope: Where the model is built.
        stacks: One stack per output (Sequential and subclassed models have one).
        compiles: The ``compile()`` calls applied to this model, in source order.
    """

    kind: str
    node: cst.CSTNode
    name: str | None
    scope: Scope
    stacks: list[Stack] = field(default_factory=list)
    compiles: list[CallSite] = field(default_factory=list)

    @property
    def stack(self) -> Stack | None:
        """The only stack of a single-output model, else None."""
        return self.stacks[0] if len(self.stacks) == 1 else None


def _order(site: CallSite | AssignSite) -> int:
    return site.order


class Models:
    """The Keras-model facts of one module, each computed on first use. See the module doc."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.bindings = index.bindings
        self.layers = LayerReader(index)
        self._by_scope: dict[tuple[str, str], dict[Scope, list[CallSite]]] = {}
        self._receivers: dict[tuple[str, Scope | None], bool | None] = {}
        self._builders: dict[str, str | None] = {}
        self._assignment_facts: dict[tuple[str, Scope], tuple[list[bool], bool]] = {}

    # -- the models and their stacks ---------------------------------------------------------

    @functools.cached_property
    def models(self) -> list[Model]:
        """The models built in the module: Sequential, then functional, then subclassed, each
        in source order."""
        return _Builder(self).run()

    def stacks(self) -> Iterator[Stack]:
        """Every stack of every model."""
        for model in self.models:
            yield from model.stacks

    def layer_at(self, site: CallSite) -> Layer:
        """The layer a constructor call creates, read the same way as in stacks.

        Works for any call of the module, inside a model or not (``Dropout(0.8)`` applied in
        a custom training loop); an unresolved callee gives a :attr:`Role.UNKNOWN` layer.
        """
        return self.layers.layer_from_expr(site.node, site.scope)

    # -- model classes -----------------------------------------------------------------------

    @functools.cached_property
    def classes(self) -> dict[str, cst.ClassDef]:
        """The model classes of the file, by qualified name in source order: classes deriving
        from ``keras.Model`` or ``keras.Sequential``, directly or through classes of the file."""
        classes = self.index.classes
        derived: dict[str, list[str]] = defaultdict(list)
        found: set[str] = set()
        for qual, cls in classes.items():
            for base in cls.bases:
                if self.index.imports.qualify(base.value) in _MODEL_BASES:
                    found.add(qual)
                local = dotted(base.value)
                if local is not None and local in classes:
                    derived[local].append(qual)
        _close(found, derived)
        return {qual: cls for qual, cls in classes.items() if qual in found}

    @functools.cached_property
    def _self_compiling(self) -> set[str]:
        """Model classes that compile themselves or override training (or whose model-class
        bases do): ``fit()`` on an instance may not need a ``compile()``."""
        compiling = self._compiling_scopes
        found: set[str] = set()
        derived: dict[str, list[str]] = defaultdict(list)
        for qual, node in self.classes.items():
            overrides = any(
                isinstance(stmt, cst.FunctionDef) and stmt.name.value in _TRAINING_OVERRIDES
                for stmt in node.body.body
            )
            if overrides or id(node) in compiling:
                found.add(qual)
            for b in node.bases:
                if isinstance(b.value, cst.Name) and b.value.value in self.classes:
                    derived[b.value.value].append(qual)
        _close(found, derived)
        return found

    @functools.cached_property
    def _compiling_scopes(self) -> set[int]:
        """The nodes (by id) of every scope that holds a ``compile()`` call, nested ones too."""
        out: set[int] = set()
        for call in self.index.calls_by_method.get("compile", ()):
            scope: Scope | None = call.scope
            while scope is not None:
                out.add(id(scope.node))
                scope = scope.parent
        return out

    # -- where a model comes from ------------------------------------------------------------

    def origin(self, value: cst.BaseExpression, depth: int = 0) -> str | None:
        """:data:`FRESH`, :data:`COMPILED`, or None when ``value`` is not known to create a
        Keras model.

        Fresh: a model constructor, a ``keras.applications`` network, ``clone_model``, an
        instance of a model class of the file, a function of the file that returns only fresh
        models and compiles nothing. Compiled: ``load_model``, an instance of a class that
        compiles itself, a builder function that calls ``compile()``.
        """
        if not isinstance(value, cst.Call) or depth > 5:
            return None
        site = self.index.site_of(value)
        if site is None:
            return None
        q = site.qualname
        if q in _MODEL_CONSTRUCTORS:
            return FRESH
        if (
            q is not None
            and q.startswith("keras.applications.")
            and q.rsplit(".", 1)[1][:1].isupper()
        ):
            return FRESH
        if q in _MODEL_LOADERS:
            return COMPILED
        func = site.func
        if func in self.classes:
            return COMPILED if func in self._self_compiling else FRESH
        if func is not None and func in self.index.functions and "." not in func:
            return self._builder(func, depth)
        return None

    def _builder(self, name: str, depth: int) -> str | None:
        if name in self._builders:
            return self._builders[name]
        self._builders[name] = None  # recursion guard
        fn = self.index.functions[name]
        scope = self.index.function_scopes[name]
        origins: list[str | None] = []
        for ret in self.index.returns.get(scope, ()):
            value = ret.value
            if isinstance(value, cst.Name):
                bound = self.bindings.resolve(value.value, scope, unique=True, enclosing=False)
                if bound is None:
                    origins.append(None)
                    continue
                value = bound.value
            origins.append(self.origin(value, depth + 1) if value is not None else None)
        result: str | None = None
        if origins and all(o is not None for o in origins):
            compiles = id(fn) in self._compiling_scopes
            result = FRESH if not compiles and all(o == FRESH for o in origins) else COMPILED
        self._builders[name] = result
        return result

    # -- is this receiver a Keras model? -----------------------------------------------------

    def receiver_is_model(self, site: CallSite) -> bool | None:
        """Whether the receiver of a method call is a Keras model, from file-wide evidence.

        True for ``self`` in a model class and for a name that some assignment of the file
        binds to a model (:meth:`origin`); False for an imported module or object
        (``re.compile``) and for a name only ever bound to calls of other libraries; None when
        nothing is known.
        """
        recv = site.receiver
        if recv is None:
            return None
        cls = _class_of(site.scope) if recv == "self" else None
        key = (recv, cls)
        if key not in self._receivers:
            self._receivers[key] = self._receiver_is_model(recv, cls)
        return self._receivers[key]

    def _receiver_is_model(self, recv: str, cls: Scope | None) -> bool | None:
        if recv == "self":
            return True if cls is not None and cls.name in self.classes else None
        head = recv.split(".", 1)[0]
        if self.index.imports.qualify_name(head) is not None:
            return False  # a module or an imported object: re.compile, torch.compile
        other = False
        for a in self.bindings.everywhere(recv):
            if a.unpacked or a.augmented is not None:
                continue
            if self.origin(a.value) is not None:
                return True
            if isinstance(a.value, cst.Call):
                callee = self.index.site_of(a.value)
                if callee is not None and callee.qualname is not None:
                    other = other or callee.qualname.split(".", 1)[0] not in ("keras", "tensorflow")
        return False if other else None

    def is_keras_fit(self, site: CallSite) -> bool:
        """Whether a ``.fit()`` call trains a Keras model, as seen where it runs.

        The receiver's value at the call is followed to its constructor: a Keras model
        factory or network, or a model class of the file, says yes; a call of another
        library (an sklearn estimator, a pipeline) says no. Otherwise Keras-only keywords
        (``epochs=``, ``validation_data=``...) or a ``compile()`` on the same name say yes.
        """
        if site.receiver is None or not self.index.imports.imports_keras():
            return False
        if not isinstance(site.node.func, cst.Attribute):
            return False
        ctor = self.bindings.origin_call(site.node.func.value, site.scope, site.order)
        if ctor is not None:
            q = ctor.qualname
            if q is not None and (
                q in _KERAS_MODEL_FACTORIES or q.startswith("keras.applications.")
            ):
                return True
            if q is not None and not q.startswith("keras"):
                return False  # an sklearn estimator, a pipeline...
            if ctor.func is not None and ctor.func in self.classes:
                return True
        if _KERAS_FIT_KEYWORDS & set(site.keywords()):
            return True
        return bool(self.index.method_calls.get(("compile", site.receiver)))

    # -- is the model compiled? --------------------------------------------------------------

    def uncompiled_at(self, site: CallSite) -> bool:
        """True when ``site`` (``model.fit()``, ``model.train_on_batch()``) certainly runs on
        a fresh model that no ``compile()`` has reached.

        The receiver must be bound in the call's scope, before it, only to fresh models
        (:meth:`origin`), never unpacked, augmented or rebound by a loop. Then nothing may
        compile it out of sight between its first binding and the call: a ``compile()`` on
        the name, a call of a function of the file that compiles, passing the model to a call
        that may compile it, an alias; nor a ``compile()`` or rebinding later in a loop that
        encloses the call (the next iteration may see it).
        """
        name = site.receiver
        if name is None or "." in name:
            return False
        scope = site.scope
        assigns = self.bindings.in_scope(name, scope)
        n_before = bisect.bisect_left(assigns, site.order, key=_order)
        if n_before == 0 or self.bindings.loop_binds(name, scope):
            return False
        fresh, unplain = self._assigned_fresh(name, scope)
        if unplain or not fresh[n_before - 1]:
            return False
        start = assigns[0].order
        loops = site.loops[:1]
        if loops and n_before < len(assigns) and assigns[n_before].loops[:1] == loops:
            return False  # rebound later in the loop: the next iteration is another model
        compiles = self.index.method_calls.get(("compile", name), [])
        if _any_between(compiles, start, site.order):
            return False
        later = bisect.bisect_right(compiles, site.order, key=_order)
        if loops:
            for call in compiles[later:]:
                if call.order > loops[0].end:
                    break
                if call.loops[:1] == loops:
                    return False  # a compile() later in the loop may run before the next fit()
        while_end = self._while_end(site)
        if while_end is not None and later < len(compiles) and compiles[later].order <= while_end:
            return False
        if _any_order_between(self._compiling_call_orders, start, site.order):
            return False
        if _any_order_between(self._passing.get(name, ()), start, site.order):
            return False
        return not _any_order_between(self._aliasing.get(name, ()), start, site.order)

    def _assigned_fresh(self, name: str, scope: Scope) -> tuple[list[bool], bool]:
        """For the assignments of ``name`` in ``scope``: whether all up to each are fresh
        models, and whether any is unpacked or augmented."""
        key = (name, scope)
        facts = self._assignment_facts.get(key)
        if facts is None:
            prefix: list[bool] = []
            ok = True
            unplain = False
            for a in self.bindings.in_scope(name, scope):
                unplain = unplain or a.unpacked or a.augmented is not None
                ok = ok and self.origin(a.value) == FRESH
                prefix.append(ok)
            facts = self._assignment_facts[key] = (prefix, unplain)
        return facts

    @functools.cached_property
    def _outer_whiles(self) -> dict[Scope, tuple[list[int], list[int]]]:
        """Per scope, the outermost ``while`` loops as sorted (starts, ends)."""
        by_scope: dict[Scope, list[tuple[int, int]]] = defaultdict(list)
        for w in self.index.whiles:
            by_scope[w.scope].append((w.start, w.end))
        out: dict[Scope, tuple[list[int], list[int]]] = {}
        for scope, spans in by_scope.items():
            spans.sort()
            starts: list[int] = []
            ends: list[int] = []
            for start, end in spans:
                if not ends or start > ends[-1]:
                    starts.append(start)
                    ends.append(end)
            out[scope] = (starts, ends)
        return out

    def _while_end(self, site: CallSite) -> int | None:
        """The last order inside the outermost ``while`` of the call's scope that holds it."""
        found = self._outer_whiles.get(site.scope)
        if found is None:
            return None
        starts, ends = found
        i = bisect.bisect_left(starts, site.order) - 1
        if i >= 0 and site.order <= ends[i]:
            return ends[i]
        return None

    @functools.cached_property
    def compiling_functions(self) -> set[str]:
        """Short names of the file's functions that call ``compile()``, directly or not."""
        index = self.index
        by_short: set[str] = {qual.rsplit(".", 1)[-1] for qual in index.functions}
        direct: set[str] = set()
        callers: dict[str, set[str]] = defaultdict(set)  # callee short name -> caller quals
        for call in index.calls:
            short = _callee_name(call)
            scope: Scope | None = call.scope
            while scope is not None:
                if scope.kind == "function":
                    if call.method == "compile":
                        direct.add(scope.name)
                    if short in by_short:
                        assert short is not None
                        callers[short].add(scope.name)
                scope = scope.parent
        out: set[str] = {q.rsplit(".", 1)[-1] for q in direct}
        queue = list(out)
        while queue:
            for caller in callers.get(queue.pop(), ()):
                short = caller.rsplit(".", 1)[-1]
                if short not in out:
                    out.add(short)
                    queue.append(short)
        return out

    @functools.cached_property
    def _compiling_call_orders(self) -> list[int]:
        compiling = self.compiling_functions
        return [c.order for c in self.index.calls if _callee_name(c) in compiling]

    @functools.cached_property
    def _passing(self) -> dict[str, list[int]]:
        """Per name, the orders of the calls that are given it (or a list/dict holding it) and
        may compile it: not a method of the name itself, not a known harmless callee."""
        out: dict[str, list[int]] = defaultdict(list)
        for call in self.index.calls:
            names: set[str] = set()
            for a in call.node.args:
                value = a.value
                if type(value) is cst.Name:
                    names.add(value.value)
                elif type(value) in _DISPLAYS:
                    _shallow_names(value, names)
            names.discard(call.receiver or "")
            if names and not self._harmless(call):
                for n in names:
                    out[n].append(call.order)
        return out

    @functools.cached_property
    def _aliasing(self) -> dict[str, list[int]]:
        """Per name, the orders of the assignments whose value is it (or holds it): aliases."""
        out: dict[str, list[int]] = defaultdict(list)
        for a in self.index.assigns:
            names: set[str] = set()
            _shallow_names(a.value, names)
            for n in names:
                out[n].append(a.order)
        return out

    def _harmless(self, call: CallSite) -> bool:
        """True when a call that receives the model certainly does not compile it."""
        index = self.index
        if call.func in _HARMLESS_CALLEES and call.func not in index.functions:
            return True
        if call.qualname is not None and call.qualname.split(".", 1)[0] == "keras":
            return True  # keras.utils.plot_model(model), layers called on models...
        if call.receiver is None and call.func in index.functions:
            return _callee_name(call) not in self.compiling_functions
        return False

    # -- what the model does to its inputs ---------------------------------------------------

    def input_handling(self, model: cst.BaseExpression, scope: Scope, order: int) -> str | None:
        """How the model that ``model`` refers to at ``order`` treats its inputs.

        A model passed to a function of the file is the one its calls pass (all must agree).

        Returns:
            ``"normalizes"`` when a normalization/rescaling layer comes first, or a batch or
            layer normalization right after the first Dense or convolution; ``"embeds"`` when
            the first layer takes ids (Embedding, lookups); ``"raw"`` when the first layer
            that computes is another known layer; ``"unseen"`` when the model is a bare name
            that the file never binds, imports or takes as a parameter (a snippet, or a
            notebook cell whose model was built in another file); None when the model
            cannot be resolved.
        """
        name = dotted(model)
        if name is not None and "." not in name and self._never_bound(name, scope):
            return "unseen"
        return self._model_inputs(model, scope, order, 0)

    def _never_bound(self, name: str, scope: Scope) -> bool:
        if self.bindings.everywhere(name) or self.index.imports.qualify(cst.Name(name)):
            return False
        current: Scope | None = scope
        while current is not None:
            if name in self.bindings.parameters(current) or self.bindings.loop_binds(name, current):
                return False
            current = current.parent
        return name not in self.index.functions and name not in self.classes

    def _model_inputs(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int
    ) -> str | None:
        if depth > 8:
            return None
        if isinstance(expr, cst.Call):  # train(build_model(), x)
            site = self.index.site_of(expr)
            return None if site is None else self._built_by(site, depth)
        name = dotted(expr)
        if name is None:
            return None
        b = self.bindings.resolve(name, scope, before=order, plain=True)
        if b is None:
            verdicts = {
                self._model_inputs(arg, call.scope, call.order, depth + 1)
                for arg, call in self.bindings.arguments(name, scope)
            }
            return verdicts.pop() if len(verdicts) == 1 else None
        if not isinstance(b.value, cst.Call):
            return None
        site = self.index.site_of(b.value)
        if site is None:
            return None
        if site.qualname == "keras.Sequential":
            layers = self._sequential_inputs(site, name, b, order)
            verdict = None if layers is None else self._first_layers(layers, b.scope, order, 0)
            return None if verdict == "pass" else verdict
        return self._built_by(site, depth)

    def _built_by(self, site: CallSite, depth: int) -> str | None:
        """:meth:`input_handling` of the model a call builds (a functional model, or a
        function of the file that returns one)."""
        if site.qualname == "keras.Model":
            return self._functional_inputs(site, depth)
        # model = build_model(): look at what the local function returns.
        if site.qualname is None and site.func in self.index.functions:
            fn_scope = self.index.function_scopes[site.func]
            results = {
                self._model_inputs(r.value, fn_scope, 1 << 60, depth + 1)
                for r in self.index.returns.get(fn_scope, ())
                if r.value is not None
            }
            if len(results) == 1:
                return results.pop()
        return None

    def _sequential_inputs(
        self, site: CallSite, name: str, binding: AssignSite, order: int
    ) -> list[cst.BaseExpression] | None:
        """The layer expressions of a Sequential model when ``order`` runs: its list, then the
        ``add()`` calls in between."""
        layers: list[cst.BaseExpression] = []
        arg = site.arg("layers", 0)
        if arg is not None:
            if not isinstance(arg, (cst.List, cst.Tuple)):
                return None
            if any(isinstance(el, cst.StarredElement) for el in arg.elements):
                return None
            layers.extend(el.value for el in arg.elements)
        for c in self.calls_between("add", name, binding.scope, binding.order, order):
            layer = c.arg("layer", 0)
            if layer is None:
                return None
            layers.append(layer)
        return layers

    def _first_layers(
        self, layers: list[cst.BaseExpression], scope: Scope, order: int, depth: int
    ) -> str | None:
        """The verdict of the first layer that is not a pass-through; ``"pass"`` if none is.
        A Dense or convolution first, then (activations and pooling between) a batch or layer
        normalization, says ``"normalizes"``."""
        if depth > 8:
            return None
        first_computes = False
        for layer in layers:
            if isinstance(layer, cst.Name):
                b = self.bindings.resolve(layer.value, scope, before=order, plain=True)
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
                if got == "pass" and not first_computes:
                    continue
                return "raw" if first_computes and got != "normalizes" else got
            cls = class_name(q)
            if first_computes:
                if cls in RENORMALIZING_LAYERS:
                    return "normalizes"
                if cls in SCALE_EQUIVARIANT_LAYERS or input_verdict(cls) == "pass":
                    if self._saturates(layer, scope):
                        return "raw"  # Activation("sigmoid"): saturated before the normalization
                    continue
                return "raw"
            verdict = input_verdict(cls)
            if verdict == "pass":
                continue
            if verdict == "raw" and is_dense_or_conv(cls):
                if self._saturates(layer, scope):
                    return "raw"  # Dense(64, activation="sigmoid") saturates on raw inputs
                first_computes = True
                continue
            return verdict
        return "raw" if first_computes else "pass"

    def _functional_inputs(self, model: CallSite, depth: int) -> str | None:
        """Follows a functional model's inputs forward to the layers first applied to them."""
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
        arith, opaque = self._arithmetic.get(scope, (frozenset(), False))
        verdicts: set[str] = set()
        frontier = set(names)
        seen: set[str] = set()
        while frontier:
            current = frontier.pop()
            seen.add(current)
            found = False
            for site in self._consumers.get((scope, current), ()):
                if site.order > model.order or site.node is model.node:
                    continue
                found = True
                layer = self.layers.applied_class(site.node.func, scope, site.order, depth)
                verdict = input_verdict(layer)
                if verdict is None:
                    return None
                if verdict == "pass":
                    for t in site.targets:
                        if t and t not in seen:
                            frontier.add(t)
                    continue
                if (
                    verdict == "raw"
                    and is_dense_or_conv(layer)
                    and not self._saturates(site.node.func, scope)
                    and self._renormalized(site, model.order, depth, 0)
                ):
                    verdict = "normalizes"
                verdicts.add(verdict)
            # `inputs / 255` and other arithmetic on the input: not known.
            if opaque or current in arith:
                return None
            if not found and current in names:
                return None
        if len(verdicts) == 1:
            return verdicts.pop()
        if "normalizes" in verdicts or "embeds" in verdicts:
            return None
        return "raw" if verdicts else None

    def _renormalized(self, producer: CallSite, before: int, depth: int, steps: int) -> bool:
        """Whether every use of what ``producer`` binds, up to ``before``, reaches a batch or
        layer normalization through layers that keep the input scale out (activations,
        pooling, pass-through layers): the functional form of "Dense, then normalization"."""
        if steps > 8 or len(producer.targets) != 1 or not producer.targets[0]:
            return False
        name, scope = producer.targets[0], producer.scope
        rebound = min(
            (s.order for s in self._producers.get((scope, name), ()) if s.order > producer.order),
            default=before,
        )
        users = [
            s
            for s in self._consumers.get((scope, name), ())
            if producer.order < s.order <= min(rebound, before)
        ]
        if not users:
            return False
        for site in users:
            cls = self.layers.applied_class(site.node.func, scope, site.order, depth)
            if cls in RENORMALIZING_LAYERS:
                continue
            keeps_scale = (
                cls in SCALE_EQUIVARIANT_LAYERS or input_verdict(cls) == "pass"
            ) and not self._saturates(site.node.func, scope)
            if not (keeps_scale and self._renormalized(site, before, depth, steps + 1)):
                return False
        return True

    def _saturates(self, layer: cst.BaseExpression, scope: Scope) -> bool:
        """Whether a layer (a constructor call, or a name bound to one) applies a bounded
        activation (its own ``activation=``, or an ``Activation`` layer's): raw inputs
        saturate it before a normalization after it could put them back on scale."""
        return self.layers.layer_from_expr(layer, scope).activation in SATURATING

    @functools.cached_property
    def _producers(self) -> dict[tuple[Scope, str], list[CallSite]]:
        """The calls whose result a name is bound to, by (scope, name)."""
        out: dict[tuple[Scope, str], list[CallSite]] = defaultdict(list)
        for site in unique_sites(self.index.calls):
            for t in site.targets:
                if t:
                    out[(site.scope, t)].append(site)
        return out

    @functools.cached_property
    def _consumers(self) -> dict[tuple[Scope, str], list[CallSite]]:
        """The calls that take a name as one of their arguments, by (scope, name)."""
        out: dict[tuple[Scope, str], list[CallSite]] = defaultdict(list)
        for site in unique_sites(self.index.calls):
            seen: set[str] = set()
            for a in site.node.args:
                if isinstance(a.value, cst.Name) and a.value.value not in seen:
                    seen.add(a.value.value)
                    out[(site.scope, a.value.value)].append(site)
        return out

    @functools.cached_property
    def _arithmetic(self) -> dict[Scope, tuple[frozenset[str], bool]]:
        """Per scope, the names that assigned arithmetic reads (``x / 255``), and whether
        some arithmetic is too deep to tell."""
        names: dict[Scope, set[str]] = defaultdict(set)
        opaque: set[Scope] = set()
        for a in self.index.assigns:
            if isinstance(a.value, cst.BinaryOperation) and _arith_names(
                a.value, names[a.scope], 0
            ):
                opaque.add(a.scope)
        return {scope: (frozenset(found), scope in opaque) for scope, found in names.items()}

    # -- which compile() configures a call --------------------------------------------------

    def compile_of(self, site: CallSite) -> CallSite | None:
        """The ``compile()`` that configures the model a method call (``model.fit(...)``)
        runs on, when one is certain.

        That is the last ``compile()`` on the same name before the call in its scope, after
        the name was last bound; else, for ``model = build()``, the one ``compile()`` of the
        local function on what it returns; else, for a call in a function on a model of an
        enclosing scope, the one ``compile()`` on that name there. None otherwise.
        """
        recv = site.receiver
        if recv is None or recv == "self":
            return None
        b = self.bindings.resolve(recv, site.scope, before=site.order)
        after = b.order if b is not None and b.scope is site.scope else -1
        here = self.calls_between("compile", recv, site.scope, after, site.order)
        if here:
            return here[-1]
        if b is None or b.augmented is not None or b.unpacked:
            return None
        if b.scope is not site.scope:  # a model of an enclosing scope, compiled there once
            there = self.calls_between("compile", recv, b.scope, b.order, _FOREVER)
            return there[0] if len(there) == 1 else None
        call = self.index.site_of(b.value) if isinstance(b.value, cst.Call) else None
        if call is None or call.qualname is not None or call.func not in self.index.functions:
            return None
        fn_scope = self.index.function_scopes[call.func]
        found: list[CallSite] = []
        for ret in self.index.returns.get(fn_scope, ()):
            name = None if ret.value is None else dotted(ret.value)
            if name is None:
                return None
            found.extend(self.calls_between("compile", name, fn_scope, -1, _FOREVER))
        return found[0] if len(found) == 1 else None

    # -- method calls by receiver ------------------------------------------------------------

    def calls_between(
        self, method: str, receiver: str, scope: Scope, after: int, before: int
    ) -> list[CallSite]:
        """``receiver.method(...)`` calls of ``scope`` strictly between two orders."""
        key = (method, receiver)
        grouped = self._by_scope.get(key)
        if grouped is None:
            grouped = defaultdict(list)
            for site in unique_sites(self.index.method_calls.get(key, ())):
                grouped[site.scope].append(site)
            self._by_scope[key] = grouped
        sites = grouped.get(scope, [])
        lo = bisect.bisect_right(sites, after, key=_order)
        hi = bisect.bisect_left(sites, before, key=_order)
        return sites[lo:hi]

    def has_method_calls(self, receiver: str, scope: Scope) -> bool:
        """Whether any method is called on ``receiver`` in ``scope`` (``layers.append(...)``)."""
        return (receiver, scope) in self._called_on

    @functools.cached_property
    def _called_on(self) -> set[tuple[str, Scope]]:
        return {
            (c.receiver, c.scope)
            for c in self.index.calls
            if c.method is not None and c.receiver is not None
        }

    @functools.cached_property
    def self_compiles(self) -> dict[str, list[CallSite]]:
        """``self.compile(...)`` calls by every class (qualified name) whose body holds them."""
        out: dict[str, list[CallSite]] = defaultdict(list)
        for site in unique_sites(self.index.method_calls.get(("compile", "self"), ())):
            parts = site.scope.name.split(".")
            for i in range(1, len(parts)):
                out[".".join(parts[:i])].append(site)
        return out


def build(index: ModuleIndex) -> Models:
    """The Keras-model facts of a module (computed on first use).

    Args:
        index: The module's index.

    Returns:
        The module's :class:`Models`; its ``models`` are in source order of construction.
    """
    return Models(index)


# --------------------------------------------------------------------------------------
# Statement structure: which statements are conditional.


def _scan(
    statements: Sequence[cst.BaseStatement | cst.BaseSmallStatement],
    blocks: tuple[int, ...],
    out: dict[int, tuple[int, ...]],
) -> None:
    """Records, for each small statement (and its value), the conditional blocks around it."""
    for stmt in statements:
        if isinstance(stmt, cst.SimpleStatementLine):
            _scan(stmt.body, blocks, out)
        elif isinstance(stmt, cst.BaseSmallStatement):
            out[id(stmt)] = blocks
            value = getattr(stmt, "value", None)
            if isinstance(value, cst.BaseExpression):
                out[id(value)] = blocks
        elif isinstance(stmt, cst.If):
            _scan(stmt.body.body, (*blocks, id(stmt.body)), out)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                _scan([orelse], (*blocks, id(stmt)), out)
            elif isinstance(orelse, cst.Else):
                _scan(orelse.body.body, (*blocks, id(orelse)), out)
        elif isinstance(stmt, cst.For):
            _scan(stmt.body.body, blocks, out)
            if stmt.orelse is not None:
                _scan(stmt.orelse.body.body, (*blocks, id(stmt.orelse)), out)
        elif isinstance(stmt, cst.While):
            _scan(stmt.body.body, (*blocks, id(stmt.body)), out)
            if stmt.orelse is not None:
                _scan(stmt.orelse.body.body, (*blocks, id(stmt.orelse)), out)
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            _scan(stmt.body.body, blocks, out)
            for handler in stmt.handlers:
                _scan(handler.body.body, (*blocks, id(handler)), out)
            if stmt.orelse is not None:
                _scan(stmt.orelse.body.body, (*blocks, id(stmt.orelse)), out)
            if stmt.finalbody is not None:
                _scan(stmt.finalbody.body.body, blocks, out)
        elif isinstance(stmt, cst.With):
            _scan(stmt.body.body, blocks, out)
        elif isinstance(stmt, cst.Match):
            for case in stmt.cases:
                _scan(case.body.body, (*blocks, id(case)), out)
        # Function and class definitions are scopes of their own.


# --------------------------------------------------------------------------------------
# Building the stacks.


@dataclass
class _Trace:
    """The result of tracing a tensor back: layers in forward order and how the chain starts."""

    layers: list[Layer]
    start: str  # "input" | "unknown" | "name"
    name: str | None = None  # for start == "name": the loop-carried name reached


class _Builder:
    def __init__(self, models: Models) -> None:
        self.facts = models
        self.index = models.index
        self.imports = models.index.imports
        self.bindings = models.bindings
        self.reader = models.layers
        self.blocks: dict[int, dict[int, tuple[int, ...]]] = {}
        self._loop_starts: dict[int, int] | None = None

    def run(self) -> list[Model]:
        models: list[Model] = []
        for site in unique_sites(self.index.calls_to("keras.Sequential")):
            models.append(self._sequential(site))
        for site in unique_sites(self.index.calls_to("keras.Model")):
            model = self._functional(site)
            if model is not None:
                models.append(model)
        for qual, cls in self.facts.classes.items():
            model = self._subclassed(qual, cls)
            if model is not None:
                models.append(model)
        return models

    # -- statement structure ---------------------------------------------------------

    def _blocks(self, node: cst.CSTNode, scope: Scope) -> tuple[int, ...] | None:
        blocks = self.blocks.get(id(scope.node))
        if blocks is None:
            blocks = {}
            owner = scope.node
            if isinstance(owner, cst.Module):
                _scan(owner.body, (), blocks)
            elif isinstance(owner, (cst.FunctionDef, cst.ClassDef)):
                _scan(owner.body.body, (), blocks)
            self.blocks[id(scope.node)] = blocks
        return blocks.get(id(node))

    def _conditional(self, node: cst.CSTNode, scope: Scope, reference: tuple[int, ...]) -> bool:
        """True when ``node`` sits in a conditional block that does not enclose ``reference``."""
        blocks = self._blocks(node, scope)
        if blocks is None:
            return True
        return not set(blocks) <= set(reference)

    def _loop_start(self, loop: Loop) -> int:
        if self._loop_starts is None:
            starts: dict[int, int] = {}
            for sites in (self.index.assigns, self.index.calls):
                for s in sites:
                    for lp in s.loops:
                        key = id(lp)
                        if key not in starts or s.order < starts[key]:
                            starts[key] = s.order
            self._loop_starts = starts
        return self._loop_starts.get(id(loop), 0)

    def _loop_count(self, loop: Loop) -> int | None:
        if loop.count is not None:
            return loop.count
        it = loop.node.iter
        if isinstance(it, (cst.List, cst.Tuple)):
            if any(isinstance(el, cst.StarredElement) for el in it.elements):
                return None
            return len(it.elements)
        value = self.index.const_value(it, loop.scope)
        if isinstance(value, tuple):
            return len(value)
        return None

    # -- Sequential ------------------------------------------------------------------

    def _sequential(self, site: CallSite) -> Model:
        scope = site.scope
        var = site.targets[0] if len(site.targets) == 1 else None
        model = Model("sequential", site.node, var, scope)
        layers: list[Layer] = []
        arg = site.arg("layers", 0)
        if arg is not None:
            layers.extend(self._list_items(arg, scope, depth=0))
        elif site.has_star_args():
            layers.append(unknown_layer(site.node))
        if var is not None:
            layers.extend(self._added_layers(site, var))
            model.compiles = self._compiles_of_var(var, scope, site)
            model.compiles.extend(self._compiles_via_builder(site, var))
        else:
            model.compiles = self._compiles_via_builder(site, None)
        model.stacks = [Stack(tuple(layers))]
        return model

    def _list_items(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> list[Layer]:
        if depth > 8:
            return [unknown_layer(expr)]
        if isinstance(expr, (cst.List, cst.Tuple)):
            out: list[Layer] = []
            for el in expr.elements:
                if isinstance(el, cst.StarredElement):
                    out.extend(self._list_items(el.value, scope, depth + 1))
                else:
                    out.append(self.reader.layer_from_expr(el.value, scope))
            return out
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            return self._list_items(expr.left, scope, depth + 1) + self._list_items(
                expr.right, scope, depth + 1
            )
        if isinstance(expr, cst.ListComp):
            return self._list_comp(expr, scope)
        name = dotted(expr)
        if name is not None and "." not in name:
            site = self.bindings.resolve(name, scope, unique=True)
            if site is not None and not self.facts.has_method_calls(name, site.scope):
                return self._list_items(site.value, site.scope, depth + 1)
        return [unknown_layer(expr)]

    def _list_comp(self, comp: cst.ListComp, scope: Scope) -> list[Layer]:
        loop = comp.for_in
        if loop.inner_for_in is not None or loop.ifs or not isinstance(loop.iter, cst.Call):
            return [unknown_layer(comp)]
        it = loop.iter
        if not (isinstance(it.func, cst.Name) and it.func.value == "range"):
            return [unknown_layer(comp)]
        values = [self.index.const_value(a.value, scope) for a in it.args]
        if not values or len(values) > 3 or not all(as_int(v) is not None for v in values):
            return [unknown_layer(comp)]
        count = len(range(*values))
        layer = self.reader.layer_from_expr(comp.elt, scope)
        return repeat([layer], count, comp)

    def _added_layers(self, ctor: CallSite, var: str) -> list[Layer]:
        scope = ctor.scope
        end = self._next_rebinding(var, scope, ctor.order)
        reference = self._blocks(ctor.node, scope) or ()
        found: list[tuple[int, tuple[Loop, ...], Layer]] = []
        adds = [
            *self.facts.calls_between("add", var, scope, ctor.order, end),
            *self.facts.calls_between("pop", var, scope, ctor.order, end),
        ]
        for site in adds:
            if site.method == "pop" or site.has_star_args():
                layer = unknown_layer(site.node)
            else:
                layer = self.reader.layer_from_expr(site.arg("layer", 0), scope)
            if self._conditional(site.node, scope, reference):
                layer = dataclasses.replace(layer, conditional=True)
            loops = tuple(lp for lp in site.loops if lp not in ctor.loops)
            found.append((site.order, loops, layer))
        found.sort(key=lambda e: e[0])
        return self._expand([(loops, layer) for _, loops, layer in found], 0)

    def _expand(self, entries: list[tuple[tuple[Loop, ...], Layer]], depth: int) -> list[Layer]:
        out: list[Layer] = []
        i = 0
        while i < len(entries):
            loops, layer = entries[i]
            if len(loops) <= depth:
                out.append(layer)
                i += 1
                continue
            loop = loops[depth]
            j = i
            while j < len(entries) and len(entries[j][0]) > depth and entries[j][0][depth] is loop:
                j += 1
            body = self._expand(entries[i:j], depth + 1)
            out.extend(repeat(body, self._loop_count(loop), loop.node))
            i = j
        return out

    def _next_rebinding(self, var: str, scope: Scope, after: int) -> int:
        found = self.bindings.next_assignment(var, scope, after)
        return _FOREVER if found is None else found

    # -- compile() -------------------------------------------------------------------

    def _compiles_of_var(self, var: str, scope: Scope, ctor: CallSite | None) -> list[CallSite]:
        after = ctor.order if ctor is not None else -1
        end = self._next_rebinding(var, scope, after)
        return self.facts.calls_between("compile", var, scope, after, end)

    def _compiles_via_builder(self, ctor: CallSite, var: str | None) -> list[CallSite]:
        """compile() calls on the result of a function that builds and returns the model."""
        scope = ctor.scope
        if scope.kind != "function" or scope.parent is None or scope.parent.kind != "module":
            return []
        returned = False
        for ret in self.index.returns.get(scope, ()):
            if ret.value is ctor.node or (
                var is not None and ret.value is not None and dotted(ret.value) == var
            ):
                returned = True
        if not returned:
            return []
        out: list[CallSite] = []
        for site in self.index.calls_by_func.get(scope.name, ()):
            if len(site.targets) == 1:
                out.extend(self._compiles_of_var(site.targets[0], site.scope, site))
        return out

    # -- functional ------------------------------------------------------------------

    def _functional(self, site: CallSite) -> Model | None:
        outputs = site.arg("outputs", 1)
        if outputs is None:
            return None  # Model() with no outputs: a subclass call or a stub
        scope = site.scope
        var = site.targets[0] if len(site.targets) == 1 else None
        model = Model("functional", site.node, var, scope)
        reference = self._blocks(site.node, scope) or ()
        exprs: list[cst.BaseExpression]
        if isinstance(outputs, (cst.List, cst.Tuple)):
            exprs = [el.value for el in outputs.elements if not isinstance(el, cst.StarredElement)]
        elif isinstance(outputs, cst.Dict):
            exprs = [el.value for el in outputs.elements if isinstance(el, cst.DictElement)]
        else:
            exprs = [outputs]
        for expr in exprs:
            trace = self._trace(expr, scope, site.order, -1, site.loops, reference, None)
            model.stacks.append(Stack(tuple(self._finish(trace, expr))))
        if var is not None:
            model.compiles = self._compiles_of_var(var, scope, site)
            model.compiles.extend(self._compiles_via_builder(site, var))
        else:
            model.compiles = self._compiles_via_builder(site, None)
        return model

    def _finish(self, trace: _Trace, expr: cst.CSTNode) -> list[Layer]:
        if trace.start == "input":
            return trace.layers
        return [unknown_layer(expr), *trace.layers]

    def _trace(
        self,
        expr: cst.BaseExpression,
        scope: Scope,
        before: int,
        floor: int,
        loops: tuple[Loop, ...],
        reference: tuple[int, ...],
        input_name: str | None,
    ) -> _Trace:
        """Follows a tensor back to where it comes from.

        Args:
            expr: The tensor expression.
            scope: Where it is evaluated.
            before: Only assignments before this order can have produced it.
            floor: Only assignments at or after this order are followed (a loop body);
                -1 for no floor.
            loops: The loops enclosing the consumer.
            reference: Conditional blocks enclosing the consumer.
            input_name: The parameter that is the model input (subclassed ``call``).
        """
        rev: list[Layer] = []
        cur: cst.BaseExpression = expr
        conditional = False
        for _ in range(_MAX_CHAIN):
            if isinstance(cur, cst.Call):
                q = self.imports.qualify(cur.func) if dotted(cur.func) else None
                if q in INPUT_LAYERS:
                    return _Trace(rev[::-1], "input")
                first = first_input(cur)
                layer: Layer | None = None
                if isinstance(cur.func, cst.Call):
                    layer = self.reader.layer_from_call(cur.func, scope)
                elif q is not None and function_activation(q) is not None:
                    layer = self.reader.function_layer(cur, q, scope)
                elif dotted(cur.func) is not None and q is None:
                    candidate = self.reader.layer_from_expr(cur.func, scope)
                    if candidate.role is not Role.UNKNOWN:
                        layer = candidate
                if layer is None or layer.role is Role.UNKNOWN:
                    return _Trace(rev[::-1], "unknown")
                if conditional:
                    layer = dataclasses.replace(layer, conditional=True)
                    conditional = False
                rev.append(layer)
                if first is None or isinstance(first, (cst.List, cst.Tuple)):
                    return _Trace(rev[::-1], "unknown")  # a merge of several tensors
                cur = first
                continue
            if not isinstance(cur, cst.Name):
                return _Trace(rev[::-1], "unknown")
            name = cur.value
            assign = self.bindings.resolve(name, scope, before=before, after=floor, enclosing=False)
            if assign is None:
                if floor >= 0:
                    return _Trace(rev[::-1], "name", name)
                if input_name is not None and name == input_name:
                    return _Trace(rev[::-1], "input")
                return _Trace(rev[::-1], "unknown")
            if assign.unpacked or assign.augmented is not None or len(assign.targets) != 1:
                return _Trace(rev[::-1], "unknown")
            if self._conditional(assign.node, scope, reference):
                conditional = True
            extra = assign.loops[len(loops) :]
            if assign.loops[: len(loops)] != loops or len(extra) > 1:
                return _Trace(rev[::-1], "unknown")
            if extra:
                loop = extra[0]
                start = self._loop_start(loop)
                body = self._trace(
                    assign.value, scope, assign.order, start, assign.loops, reference, None
                )
                if body.start != "name" or body.name is None:
                    return _Trace(rev[::-1], "unknown")
                count = self._loop_count(loop) if body.name == name else 1
                expanded = repeat(body.layers, count, loop.node)
                if conditional:
                    expanded = [dataclasses.replace(x, conditional=True) for x in expanded]
                    conditional = False
                rev.extend(expanded[::-1])
                cur = cst.Name(body.name)
                before = start
                continue
            cur = assign.value
            before = assign.order
        return _Trace(rev[::-1], "unknown")

    # -- subclassed ------------------------------------------------------------------

    def _subclassed(self, qual: str, cls: cst.ClassDef) -> Model | None:
        class_scope = None
        call_scope = self.index.function_scopes.get(f"{qual}.call")
        if call_scope is not None:
            class_scope = call_scope.parent
        if class_scope is None:
            init = self.index.function_scopes.get(f"{qual}.__init__")
            class_scope = init.parent if init is not None else None
        if class_scope is None:
            return None
        model = Model("subclassed", cls, qual, class_scope)
        if call_scope is not None:
            model.stacks.append(Stack(tuple(self._call_stack(call_scope))))
        model.compiles = list(self.facts.self_compiles.get(qual, ()))
        if "." not in qual:
            for site in self.index.calls_by_func.get(qual, ()):
                if len(site.targets) == 1:
                    model.compiles.extend(self._compiles_of_var(site.targets[0], site.scope, site))
        model.compiles.sort(key=_order)
        return model

    def _call_stack(self, scope: Scope) -> list[Layer]:
        fn = scope.node
        assert isinstance(fn, cst.FunctionDef)
        params = [*fn.params.posonly_params, *fn.params.params]
        input_name = params[1].name.value if len(params) >= 2 else None
        returns = self.index.returns.get(scope, ())
        stmts = fn.body.body
        last = stmts[-1] if stmts else None
        ret = None
        if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return):
            ret = last.body[-1]
        if ret is None or ret.value is None or len(returns) != 1:
            return [unknown_layer(fn.name)]
        trace = self._trace(ret.value, scope, _FOREVER, -1, (), (), input_name)
        return self._finish(trace, ret.value)


# --------------------------------------------------------------------------------------


def unique_sites(sites: Iterable[CallSite]) -> list[CallSite]:
    """The sites of distinct call nodes, first occurrence kept, in the given order.

    The index may record a call twice (once with the assignment's targets); rules and this
    module work on one site per call.
    """
    seen: set[int] = set()
    out: list[CallSite] = []
    for site in sites:
        if id(site.node) not in seen:
            seen.add(id(site.node))
            out.append(site)
    return out


def _close(found: set[str], derived: dict[str, list[str]]) -> None:
    """Adds to ``found`` everything that derives from it, transitively."""
    queue = list(found)
    while queue:
        for child in derived.get(queue.pop(), ()):
            if child not in found:
                found.add(child)
                queue.append(child)


def _class_of(scope: Scope) -> Scope | None:
    current: Scope | None = scope
    while current is not None and current.kind != "class":
        current = current.parent
    return current


def _callee_name(call: CallSite) -> str | None:
    """The function of the file a call may name: ``setup`` for ``setup()``/``self.setup()``."""
    if call.func is None:
        return None
    return call.func.rsplit(".", 1)[-1]


_DISPLAYS = (cst.List, cst.Tuple, cst.Set, cst.Dict)


def _shallow_names(expr: cst.BaseExpression, out: set[str]) -> None:
    """The names ``expr`` is, or that a list/tuple/set/dict display holds (not deeper)."""
    stack = [expr]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name):
            out.add(cur.value)
        elif isinstance(cur, (cst.List, cst.Tuple, cst.Set)):
            stack.extend(el.value for el in cur.elements)
        elif isinstance(cur, cst.Dict):
            stack.extend(el.value for el in cur.elements if isinstance(el, cst.DictElement))


def _arith_names(expr: cst.BaseExpression, out: set[str], depth: int) -> bool:
    """Adds the names read by the operands of a (nested) binary operation; True when the
    operation nests too deeply to tell (the caller then stays silent)."""
    if depth > 40:
        return True
    assert isinstance(expr, cst.BinaryOperation)
    for side in (expr.left, expr.right):
        if isinstance(side, cst.Name):
            out.add(side.value)
        elif isinstance(side, cst.BinaryOperation) and _arith_names(side, out, depth + 1):
            return True
    return False


def _any_between(sites: Sequence[CallSite], after: int, before: int) -> bool:
    i = bisect.bisect_right(sites, after, key=_order)
    return i < len(sites) and sites[i].order < before


def _any_order_between(orders: Sequence[int], after: int, before: int) -> bool:
    i = bisect.bisect_right(orders, after)
    return i < len(orders) and orders[i] < before
