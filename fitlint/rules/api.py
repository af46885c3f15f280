"""Rules of the api family: calls that Keras rejects, or that Keras 3 no longer has."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from fitlint.analysis.index import CallSite, ModuleIndex, Scope
from fitlint.analysis.optimizers import optimizer_name
from fitlint.model import Severity
from fitlint.rules.base import Invalid, Replacement, Report, Rule, RuleContext

# Keyword arguments of fit() that compile() does not take, and the reverse (Keras 2 and 3).
FIT_ONLY = frozenset(
    {
        "batch_size",
        "epochs",
        "nb_epoch",
        "verbose",
        "callbacks",
        "validation_split",
        "validation_data",
        "shuffle",
        "class_weight",
        "sample_weight",
        "initial_epoch",
        "steps_per_epoch",
        "validation_steps",
        "validation_batch_size",
        "validation_freq",
        "max_queue_size",
        "workers",
        "use_multiprocessing",
    }
)
COMPILE_ONLY = frozenset(
    {
        "optimizer",
        "loss",
        "metrics",
        "loss_weights",
        "weighted_metrics",
        "run_eagerly",
        "steps_per_execution",
        "jit_compile",
        "auto_scale_loss",
    }
)
# fit() keywords that no other common library's fit() takes: evidence of a Keras model.
_KERAS_FIT_SIGNS = frozenset(
    {
        "epochs",
        "batch_size",
        "validation_split",
        "validation_data",
        "steps_per_epoch",
        "initial_epoch",
        "validation_steps",
        "validation_batch_size",
        "validation_freq",
    }
)
# compile() keywords that only Keras's compile() takes (re.compile and torch.compile do not).
_KERAS_COMPILE_SIGNS = frozenset({"optimizer", "loss"})

_MODEL_CONSTRUCTORS = frozenset({"keras.Sequential", "keras.Model", "keras.models.clone_model"})
_MODEL_LOADERS = frozenset({"keras.models.load_model", "keras.saving.load_model"})
_MODEL_BASES = frozenset({"keras.Model", "keras.Sequential"})
# Methods whose definition in a model class means fit() may not need compile().
_TRAINING_OVERRIDES = frozenset({"compile", "fit", "train_on_batch", "train_step"})
# Callables that read a model without compiling it.
_HARMLESS_CALLEES = frozenset(
    {"print", "len", "isinstance", "type", "id", "repr", "str", "hasattr", "getattr", "vars"}
)

_FRESH = "fresh"  # a new, uncompiled model
_COMPILED = "compiled"  # a model that is (or may be) compiled already: loaded, self-compiling


def _is_keras_name(qualname: str | None) -> bool:
    return qualname is not None and qualname.split(".", 1)[0] in ("keras", "tensorflow")


def _keyword_args(call: cst.Call, names: Iterable[str]) -> list[cst.Arg]:
    wanted = set(names)
    return [a for a in call.args if a.keyword is not None and a.keyword.value in wanted]


def _positional_count(call: cst.Call) -> int:
    return sum(1 for a in call.args if a.keyword is None and not a.star)


def _own_parameters(index: ModuleIndex, method: str) -> set[str] | None:
    """Keywords that a function of the file named ``method`` accepts (None: any, via **kw).

    A file that defines its own ``fit()`` or ``compile()`` (a wrapper, a trainer class)
    may legitimately take keywords that Keras's methods do not.
    """
    accepted: set[str] = set()
    for qual, fn in index.functions.items():
        if qual.rsplit(".", 1)[-1] != method:
            continue
        p = fn.params
        if isinstance(p.star_kwarg, cst.Param):
            return None
        accepted.update(x.name.value for x in (*p.params, *p.kwonly_params))
    return accepted


def _enclosing_class(scope: Scope | None) -> cst.ClassDef | None:
    while scope is not None:
        if scope.kind == "class" and isinstance(scope.node, cst.ClassDef):
            return scope.node
        scope = scope.parent
    return None


def _within(scope: Scope | None, node: cst.CSTNode) -> bool:
    while scope is not None:
        if scope.node is node:
            return True
        scope = scope.parent
    return False


_BLOCKS = (
    cst.BaseSuite,
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def _returns(node: cst.CSTNode) -> Iterator[cst.Return]:
    """The return statements of a function body, nested definitions excluded."""
    for child in node.children:
        if isinstance(child, cst.Return):
            yield child
        elif isinstance(child, cst.SimpleStatementLine):
            yield from (s for s in child.body if isinstance(s, cst.Return))
        elif isinstance(child, (cst.FunctionDef, cst.ClassDef)):
            continue
        elif isinstance(child, _BLOCKS):
            yield from _returns(child)


@dataclass
class _Models:
    """Where the module's models come from: constructors, model classes, builder functions."""

    index: ModuleIndex
    classes: dict[str, bool] = field(default_factory=dict)  # model class -> compiles itself
    _builders: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        changed = True
        while changed:  # classes deriving from model classes of the same file
            changed = False
            for qual, node in self.index.classes.items():
                if qual in self.classes:
                    continue
                bases = [b.value for b in node.bases if b.keyword is None]
                if any(self._is_model_base(b) for b in bases):
                    self.classes[qual] = False
                    changed = True
        for qual in self.classes:
            self.classes[qual] = self._class_compiles(qual)

    def _is_model_base(self, base: cst.BaseExpression) -> bool:
        if self.index.imports.qualify(base) in _MODEL_BASES:
            return True
        return isinstance(base, cst.Name) and base.value in self.classes

    def _class_compiles(self, qual: str, seen: frozenset[str] = frozenset()) -> bool:
        node = self.index.classes[qual]
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in _TRAINING_OVERRIDES:
                return True
        for call in self.index.calls_by_method.get("compile", ()):
            if _within(call.scope, node):
                return True
        for b in node.bases:
            if isinstance(b.value, cst.Name) and b.value.value in self.classes:
                parent = b.value.value
                if parent not in seen and self._class_compiles(parent, seen | {qual}):
                    return True
        return False

    def origin(self, value: cst.BaseExpression, depth: int = 0) -> str | None:
        """``_FRESH``, ``_COMPILED`` or None (not known to be a Keras model)."""
        if not isinstance(value, cst.Call) or depth > 5:
            return None
        site = self.index.site_of(value)
        if site is None:
            return None
        q = site.qualname
        if q in _MODEL_CONSTRUCTORS:
            return _FRESH
        if (
            q is not None
            and q.startswith("keras.applications.")
            and q.rsplit(".", 1)[1][:1].isupper()
        ):
            return _FRESH
        if q in _MODEL_LOADERS:
            return _COMPILED
        if site.func in self.classes and site.func in self.index.classes:
            return _COMPILED if self.classes[site.func] else _FRESH
        if site.func is not None and site.func in self.index.functions and "." not in site.func:
            return self._builder(site.func, depth)
        return None

    def _builder(self, name: str, depth: int) -> str | None:
        if name in self._builders:
            return self._builders[name]
        self._builders[name] = None  # recursion guard
        fn = self.index.functions[name]
        scope = self.index.function_scopes[name]
        origins: list[str | None] = []
        for ret in _returns(fn.body):
            value = ret.value
            if isinstance(value, cst.Name):
                sites = [a for a in self.index.assignments_to(value.value, scope)]
                if len(sites) != 1 or sites[0].unpacked or sites[0].augmented is not None:
                    origins.append(None)
                    continue
                value = sites[0].value
            origins.append(self.origin(value, depth + 1) if value is not None else None)
        result: str | None = None
        if origins and all(o is not None for o in origins):
            compiles = any(
                _within(c.scope, fn) for c in self.index.calls_by_method.get("compile", ())
            )
            result = _FRESH if not compiles and all(o == _FRESH for o in origins) else _COMPILED
        self._builders[name] = result
        return result

    def receiver_is_model(self, site: CallSite) -> bool | None:
        """True when the receiver is a Keras model, False when it is something else, else None."""
        recv = site.receiver
        if recv is None:
            return None
        if recv == "self":
            cls = _enclosing_class(site.scope)
            if cls is None:
                return None
            return True if cls.name.value in self.classes else None
        head = recv.split(".", 1)[0]
        if self.index.imports.qualify_name(head) is not None:
            return False  # a module or an imported object: re.compile, torch.compile
        other = False
        for a in self.index.assigns_by_name.get(recv, ()):
            if a.unpacked or a.augmented is not None:
                continue
            if self.origin(a.value) is not None:
                return True
            if isinstance(a.value, cst.Call):
                callee = self.index.site_of(a.value)
                if callee is not None and callee.qualname is not None:
                    other = other or not _is_keras_name(callee.qualname)
        return False if other else None


_MODELS: weakref.WeakKeyDictionary[ModuleIndex, _Models] = weakref.WeakKeyDictionary()


def _models(ctx: RuleContext) -> _Models:
    """The module's model origins, computed once per module for the rules that need them."""
    found = _MODELS.get(ctx.index)
    if found is None:
        found = _MODELS[ctx.index] = _Models(ctx.index)
    return found


class FitArgumentInCompile(Rule):
    """## What it does
    Flags `compile()` given an argument of `fit()` (`epochs`, `batch_size`, `callbacks`,
    `validation_data`, `class_weight`...) and `fit()` given an argument of `compile()`
    (`optimizer`, `loss`, `metrics`, `loss_weights`, `run_eagerly`, `jit_compile`...), on a
    Keras model: a variable built by a Keras model constructor, a model class of the file,
    `load_model`, or a call that carries Keras's own keywords (`optimizer=`/`loss=` for
    `compile()`, `epochs=`/`batch_size=`... for `fit()`).

    ## Why is this bad?
    Neither method takes the other's arguments: Keras raises `TypeError: ... got an
    unexpected keyword argument` when the script reaches the call, often after minutes of
    data loading, and the setting never takes effect.

    ## Example
    ```python
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", epochs=10)
    model.fit(x, y)
    ```

    ## Use instead
    ```python
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=10)
    ```
    """

    code = "FL401"
    name = "fit-argument-in-compile"
    message = "`{keyword}` is an argument of `{right}()`, not `{wrong}()`; Keras raises TypeError"
    severity = Severity.ERROR
    valid = [
        # re.compile and other compile() calls are not Keras's.
        "import re\nimport keras\npattern = re.compile(r'\\d+', flags=re.I)\n",
        # An unrelated object's compile() without Keras keywords.
        "import keras\nquery = builder.compile(verbose=True, callbacks=[log])\n",
        # scikit-learn's fit takes sample_weight; it is not a Keras model.
        "import keras\nfrom sklearn.linear_model import LogisticRegression\n"
        "clf = LogisticRegression()\nclf.fit(x, y, sample_weight=w)\n",
        "from tensorflow import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "model.compile(optimizer='adam', loss='mse', metrics=['mae'])\n"
        "model.fit(x, y, epochs=5, batch_size=32, callbacks=[], verbose=0)\n",
        # Not a Keras file at all.
        "import torch\nmodel = torch.compile(net, mode='max-autotune')\n"
        "trainer.fit(model, loss=loss_fn, epochs=3)\n",
    ]
    invalid = [
        Invalid(
            "from tensorflow import keras\n"
            "model = keras.Sequential([keras.layers.Dense(1)])\n"
            "model.compile(optimizer='adam', loss='mse', epochs=10)\n",
            line=3,
        ),
        Invalid(
            "import tensorflow as tf\n"
            "model = tf.keras.models.load_model('model.keras')\n"
            "model.fit(x, y, epochs=3,\n"
            "          optimizer=tf.keras.optimizers.Adam(1e-4))\n",
            line=4,
        ),
        Invalid(
            "import keras\n"
            "def train(net, x, y):\n"
            "    net.compile(optimizer='adam', loss='mse',\n"
            "                class_weight={0: 1.0, 1: 5.0})\n"
            "    net.fit(x, y)\n",
            line=4,
        ),
        Invalid(
            "from keras import Model, layers\n"
            "class Net(Model):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.out = layers.Dense(1)\n"
            "    def call(self, x):\n"
            "        return self.out(x)\n"
            "net = Net()\n"
            "net.compile('adam', 'mse')\n"
            "net.fit(x, y, batch_size=32, metrics=['mae'])\n",
            line=10,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        index = ctx.index
        if not index.imports.imports_keras():
            return
        models = _models(ctx)
        for method, wrong, signs in (
            ("compile", FIT_ONLY, _KERAS_COMPILE_SIGNS),
            ("fit", COMPILE_ONLY, _KERAS_FIT_SIGNS),
        ):
            right = "fit" if method == "compile" else "compile"
            own = _own_parameters(index, method)
            if own is None:
                continue  # the file's own method takes any keyword
            for site in index.calls_by_method.get(method, ()):
                bad = [
                    a
                    for a in _keyword_args(site.node, wrong)
                    if a.keyword is not None and a.keyword.value not in own
                ]
                if not bad:
                    continue
                is_model = models.receiver_is_model(site)
                if is_model is False:
                    continue
                if is_model is None and not _keyword_args(site.node, signs):
                    continue
                for arg in bad:
                    assert arg.keyword is not None
                    yield self.report(arg, keyword=arg.keyword.value, right=right, wrong=method)


_GENERATOR_METHODS = {
    "fit_generator": "fit",
    "evaluate_generator": "evaluate",
    "predict_generator": "predict",
}


def _join_whitespace(
    own: cst.BaseParenthesizableWhitespace, tail: cst.BaseParenthesizableWhitespace
) -> cst.BaseParenthesizableWhitespace:
    """What follows the new last argument: the end of its own line (its comment kept), then
    the indentation that closed the removed argument's line (the removed comment dropped)."""
    if isinstance(own, cst.ParenthesizedWhitespace):
        if isinstance(tail, cst.ParenthesizedWhitespace):
            return own.with_changes(indent=tail.indent, last_line=tail.last_line)
        if own.first_line.comment is None:
            return tail
        return own.with_changes(indent=False, last_line=cst.SimpleWhitespace(""))
    if isinstance(tail, cst.ParenthesizedWhitespace):
        return tail.with_changes(first_line=cst.TrailingWhitespace(newline=tail.first_line.newline))
    return tail


def _without_arg(ctx: RuleContext, call: cst.Call, arg: cst.Arg) -> str:
    """The call's source with ``arg`` removed, commas, comments and line breaks kept tidy.

    The source covers the call without its own parentheses, as the call's position does.
    """
    args = [a for a in call.args if a is not arg]
    changes: dict[str, object] = {"lpar": (), "rpar": ()}
    if args and call.args[-1] is arg:
        last = args[-1]
        own = last.comma.whitespace_after if isinstance(last.comma, cst.Comma) else None
        if isinstance(arg.comma, cst.Comma):  # keep the trailing comma style
            tail = _join_whitespace(own or arg.comma.whitespace_after, arg.comma.whitespace_after)
            comma = last.comma if isinstance(last.comma, cst.Comma) else arg.comma
            args[-1] = last.with_changes(
                comma=comma.with_changes(whitespace_after=tail),
                whitespace_after_arg=arg.whitespace_after_arg,
            )
        else:
            tail = _join_whitespace(own or arg.whitespace_after_arg, arg.whitespace_after_arg)
            args[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=tail)
    if not args:
        changes["whitespace_before_args"] = cst.SimpleWhitespace("")
    return ctx.code(call.with_changes(args=args, **changes))


class RemovedKerasArgument(Rule):
    """## What it does
    Flags Keras APIs that Keras 3 removed or ignores: the optimizer arguments `lr=`
    (renamed `learning_rate=`) and `decay=`, `fit(nb_epoch=)` (renamed `epochs=`),
    `fit_generator`/`evaluate_generator`/`predict_generator` (merged into
    `fit`/`evaluate`/`predict`), and `Embedding(input_length=)`.

    The fix renames `lr=` and `nb_epoch=`, renames the `*_generator` methods (when the
    generator is the only positional argument, so that the other arguments keep their
    meaning), and removes `input_length=`. `decay=` has no mechanical rewrite: pass a
    `keras.optimizers.schedules.LearningRateSchedule` as the learning rate instead.

    ## Why is this bad?
    Keras 3 raises on `lr=` (ValueError), on `nb_epoch=` (TypeError) and on the
    `*_generator` methods (AttributeError), so the script stops at that line. It accepts
    `decay=` and `input_length=` with a warning and ignores them, so the learning rate
    silently never decays.

    ## Example
    ```python
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(lr=1e-3), loss="mse")
    model.fit_generator(train_gen, nb_epoch=10)
    ```

    ## Use instead
    ```python
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    model.fit(train_gen, epochs=10)
    ```
    """

    code = "FL402"
    name = "removed-keras-argument"
    message = "{detail}"
    severity = Severity.ERROR
    fixable = True
    valid = [
        # torch optimizers take lr=.
        "import keras\nimport torch\nopt = torch.optim.SGD(net.parameters(), lr=0.1)\n",
        "from tensorflow import keras\nopt = keras.optimizers.AdamW(learning_rate=1e-3,"
        " weight_decay=1e-4)\n",
        "import keras\nmodel = keras.Sequential([keras.layers.Embedding(1000, 64)])\n"
        "model.fit(train_ds, epochs=10)\n",
        # A method of an unrelated imported object.
        "import keras\nimport mylib\nmylib.fit_generator(data, nb_epoch=3)\n",
        # Not a Keras file.
        "import lightgbm\nbooster.fit_generator(gen)\n",
    ]
    invalid = [
        Invalid(
            "from tensorflow import keras\nopt = keras.optimizers.Adam(lr=0.001)\n",
            line=2,
            fixed="from tensorflow import keras\n"
            "opt = keras.optimizers.Adam(learning_rate=0.001)\n",
        ),
        Invalid(
            "import tensorflow as tf\nopt = tf.keras.optimizers.SGD(0.01, decay=1e-6)\n",
            line=2,
        ),
        Invalid(
            "import keras\nmodel.fit(x, y, nb_epoch=10, batch_size=32)\n",
            line=2,
            fixed="import keras\nmodel.fit(x, y, epochs=10, batch_size=32)\n",
        ),
        Invalid(
            "from keras.models import Sequential\n"
            "model.fit_generator(train_gen, steps_per_epoch=100, epochs=5)\n",
            line=2,
            fixed="from keras.models import Sequential\n"
            "model.fit(train_gen, steps_per_epoch=100, epochs=5)\n",
        ),
        Invalid(
            "from tensorflow.keras.layers import Embedding\n"
            "emb = Embedding(10000, 128, input_length=200)\n",
            line=2,
            fixed="from tensorflow.keras.layers import Embedding\nemb = Embedding(10000, 128)\n",
        ),
        Invalid(
            "import tensorflow.keras as K\n"
            "emb = K.layers.Embedding(\n"
            "    input_dim=10000,\n"
            "    output_dim=128,\n"
            "    input_length=200,\n"
            ")\n",
            line=5,
            fixed="import tensorflow.keras as K\n"
            "emb = K.layers.Embedding(\n"
            "    input_dim=10000,\n"
            "    output_dim=128,\n"
            ")\n",
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        index = ctx.index
        if not index.imports.imports_keras():
            return
        for site in index.calls:
            if optimizer_name(site.qualname) is not None:
                yield from self._optimizer(site)
        models = _models(ctx)
        for method in ("fit", "fit_generator"):
            own = _own_parameters(index, method)
            if own is None or "nb_epoch" in own:
                continue  # the file's own fit() takes nb_epoch
            for site in index.calls_by_method.get(method, ()):
                if models.receiver_is_model(site) is not False:
                    yield from self._nb_epoch(site)
        for method, new in _GENERATOR_METHODS.items():
            if any(q.rsplit(".", 1)[-1] == method for q in index.functions):
                continue  # the file defines its own method of that name
            for site in index.calls_by_method.get(method, ()):
                if models.receiver_is_model(site) is not False:
                    yield self._generator(site, method, new)
        for site in index.calls_to("keras.layers.Embedding"):
            for arg in _keyword_args(site.node, ("input_length",)):
                yield self.report(
                    arg,
                    detail="`input_length` is ignored by Keras 3's Embedding; remove it",
                    fix_message="Remove `input_length=`",
                    replacements=(Replacement(site.node, _without_arg(ctx, site.node, arg)),),
                )

    def _optimizer(self, site: CallSite) -> Iterator[Report]:
        keywords = site.keywords()
        lr = keywords.get("lr")
        if lr is not None and lr.keyword is not None:
            fixable = "learning_rate" not in keywords and _positional_count(site.node) == 0
            yield self.report(
                lr,
                detail="`lr` was removed from Keras optimizers (Keras 3 raises ValueError); "
                "use `learning_rate`",
                fix_message="Rename `lr=` to `learning_rate=`" if fixable else None,
                replacements=(Replacement(lr.keyword, "learning_rate"),) if fixable else (),
            )
        decay = keywords.get("decay")
        if decay is not None:
            yield self.report(
                decay,
                detail="`decay` is not supported by Keras 3 optimizers (ignored with a warning): "
                "pass a keras.optimizers.schedules.LearningRateSchedule as `learning_rate`",
            )

    def _nb_epoch(self, site: CallSite) -> Iterator[Report]:
        keywords = site.keywords()
        arg = keywords.get("nb_epoch")
        if arg is None or arg.keyword is None:
            return
        fixable = "epochs" not in keywords
        yield self.report(
            arg,
            detail="`nb_epoch` was removed from fit() (Keras 3 raises TypeError); use `epochs`",
            fix_message="Rename `nb_epoch=` to `epochs=`" if fixable else None,
            replacements=(Replacement(arg.keyword, "epochs"),) if fixable else (),
        )

    def _generator(self, site: CallSite, method: str, new: str) -> Report:
        func = site.node.func
        assert isinstance(func, cst.Attribute)
        # fit_generator(gen, 100, 10) means steps_per_epoch=100; fit(gen, 100, 10) would not.
        fixable = (
            _positional_count(site.node) <= 1
            and not site.has_star_args()
            and "generator" not in site.keywords()
        )
        return self.report(
            func.attr,
            detail=f"`{method}()` was removed (Keras 3 raises AttributeError); "
            f"`{new}()` takes generators and datasets",
            fix_message=f"Call `{new}()` instead" if fixable else None,
            replacements=(Replacement(func.attr, new),) if fixable else (),
        )


def _mentions(expr: cst.BaseExpression, name: str) -> bool:
    """True when ``expr`` is ``name`` or a list/tuple/dict holding it (not deeper)."""
    if isinstance(expr, cst.Name):
        return expr.value == name
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return any(_mentions(el.value, name) for el in expr.elements)
    if isinstance(expr, cst.Dict):
        return any(
            isinstance(el, cst.DictElement) and _mentions(el.value, name) for el in expr.elements
        )
    return False


class FitBeforeCompile(Rule):
    """## What it does
    Flags `fit()` or `train_on_batch()` on a new Keras model (`keras.Sequential(...)`,
    functional `keras.Model(inputs, outputs)`, a `keras.applications` network,
    `clone_model(...)`, an instance of a `keras.Model` subclass of the file, or a function of
    the file that returns one of these) when no `compile()` on that variable comes before it
    in the same function.

    It stays silent whenever the model may have been compiled out of sight: the variable is
    passed to a call that may compile it or aliased before the fit, a function of the file
    that calls `compile()` runs in between, the class compiles itself (or overrides `fit`,
    `compile` or `train_step`), the model comes from `load_model` or an unknown source, or
    a `compile()` later in an enclosing loop may run first.

    ## Why is this bad?
    Keras raises `ValueError: You must call compile() before using the model.` when the
    script reaches `fit()`, after the data has been loaded and the model built.

    ## Example
    ```python
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.fit(x, y, epochs=5)
    ```

    ## Use instead
    ```python
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=5)
    ```
    """

    code = "FL403"
    name = "fit-before-compile"
    message = "`{model}` is not compiled when `{model}.{method}()` runs; Keras raises ValueError"
    severity = Severity.ERROR
    valid = [
        # Compiled by a helper of the file that is called first.
        "import keras\n"
        "def setup(m):\n"
        "    m.compile(optimizer='adam', loss='mse')\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "setup(model)\n"
        "model.fit(x, y)\n",
        # A helper compiling the global model.
        "import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "def setup():\n"
        "    model.compile(optimizer='adam', loss='mse')\n"
        "setup()\n"
        "model.fit(x, y)\n",
        # load_model returns a compiled model.
        "from tensorflow import keras\n"
        "model = keras.models.load_model('best.keras')\n"
        "model.fit(x, y, epochs=2)\n",
        # Passed to an unknown function that may compile it.
        "import keras\nfrom mylib import prepare\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "prepare(model)\n"
        "model.fit(x, y)\n",
        # The class compiles itself.
        "import keras\n"
        "class Net(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.d = keras.layers.Dense(1)\n"
        "        self.compile(optimizer='adam', loss='mse')\n"
        "    def call(self, x):\n"
        "        return self.d(x)\n"
        "net = Net()\n"
        "net.fit(x, y)\n",
        # Compiled in one branch or the other: cannot be ordered, so silent.
        "import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "if fast:\n"
        "    model.compile(optimizer='sgd', loss='mse')\n"
        "else:\n"
        "    model.compile(optimizer='adam', loss='mse')\n"
        "model.fit(x, y)\n",
        # A builder function that compiles before returning.
        "import keras\n"
        "def build():\n"
        "    m = keras.Sequential([keras.layers.Dense(1)])\n"
        "    m.compile(optimizer='adam', loss='mse')\n"
        "    return m\n"
        "model = build()\n"
        "model.fit(x, y)\n",
    ]
    invalid = [
        Invalid(
            "from tensorflow import keras\n"
            "model = keras.Sequential([keras.layers.Dense(1)])\n"
            "model.fit(x, y, epochs=5)\n",
            line=3,
        ),
        Invalid(
            "import tensorflow as tf\n"
            "inputs = tf.keras.Input(shape=(4,))\n"
            "outputs = tf.keras.layers.Dense(1)(inputs)\n"
            "model = tf.keras.Model(inputs, outputs)\n"
            "model.fit(x, y)\n"
            "model.compile(optimizer='adam', loss='mse')\n",
            line=5,
        ),
        Invalid(
            "from keras import Model, layers\n"
            "class Net(Model):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.d = layers.Dense(1)\n"
            "    def call(self, x):\n"
            "        return self.d(x)\n"
            "def main():\n"
            "    net = Net()\n"
            "    for batch_x, batch_y in batches:\n"
            "        net.train_on_batch(batch_x, batch_y)\n",
            line=11,
        ),
        Invalid(
            "from tensorflow.keras.models import Sequential\n"
            "from tensorflow.keras.layers import Dense\n"
            "def build():\n"
            "    model = Sequential()\n"
            "    model.add(Dense(1))\n"
            "    return model\n"
            "model = build()\n"
            "print(model)\n"
            "model.fit(x, y)\n",
            line=9,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        index = ctx.index
        if not index.imports.imports_keras():
            return
        models = _models(ctx)
        compiling = _compiling_functions(index)
        sites = [
            *index.calls_by_method.get("fit", ()),
            *index.calls_by_method.get("train_on_batch", ()),
        ]
        for site in sorted(sites, key=lambda s: s.order):
            name = site.receiver
            if name is None or "." in name:
                continue
            if self._uncompiled(index, models, compiling, site, name):
                assert site.method is not None
                yield self.report(site.node.func, model=name, method=site.method)

    def _uncompiled(
        self,
        index: ModuleIndex,
        models: _Models,
        compiling: set[str],
        site: CallSite,
        name: str,
    ) -> bool:
        assigns = index.assignments_to(name, site.scope)
        before = [a for a in assigns if a.order < site.order]
        if not before or any(a.unpacked or a.augmented is not None for a in assigns):
            return False
        if any(loop.target == name for loop in index.loops if loop.scope is site.scope):
            return False
        if any(models.origin(a.value) != _FRESH for a in before):
            return False
        start = min(a.order for a in before)
        loop_ids = {id(loop) for loop in site.loops}
        for a in assigns:
            if a.order > site.order and loop_ids & {id(loop) for loop in a.loops}:
                return False  # rebound later in the loop: the next iteration is another model
        for call in index.calls_by_method.get("compile", ()):
            if call.receiver != name:
                continue
            if start < call.order < site.order:
                return False
            if call.order > site.order and (
                loop_ids & {id(loop) for loop in call.loops}
                or _share_while_loop(site.scope.node, site.node, call.node)
            ):
                return False  # the later compile() may run before the next fit()
        for call in index.calls:
            if not start < call.order < site.order:
                continue
            if _callee_name(call) in compiling:
                return False
            if call.receiver == name:
                continue  # model.summary(), model.add(...): methods of the model itself
            passed = any(_mentions(a.value, name) for a in call.node.args)
            if passed and not _harmless(index, call, compiling):
                return False
        for a in index.assigns:
            if start < a.order < site.order and _mentions(a.value, name):
                return False  # an alias may be compiled
        return True


def _whiles(node: cst.CSTNode) -> Iterator[cst.While]:
    """The ``while`` statements of a body, nested definitions excluded."""
    for child in node.children:
        if isinstance(child, cst.While):
            yield child
        if isinstance(child, _BLOCKS) and not isinstance(child, (cst.FunctionDef, cst.ClassDef)):
            yield from _whiles(child)


def _contains(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    if node is target:
        return True
    return any(_contains(child, target) for child in node.children)


def _share_while_loop(body: cst.CSTNode, first: cst.CSTNode, second: cst.CSTNode) -> bool:
    """True when a ``while`` loop of ``body`` holds both nodes (rare: only then walked)."""
    if isinstance(body, cst.FunctionDef):
        body = body.body
    try:
        return any(_contains(w, first) and _contains(w, second) for w in _whiles(body))
    except RecursionError:
        return True  # too deep to tell: stay silent


def _callee_name(call: CallSite) -> str | None:
    """The function of the file a call may name: ``setup`` for ``setup()``/``self.setup()``."""
    if call.func is None:
        return None
    return call.func.rsplit(".", 1)[-1]


def _harmless(index: ModuleIndex, call: CallSite, compiling: set[str]) -> bool:
    """True when a call that receives the model certainly does not compile it."""
    if call.func in _HARMLESS_CALLEES and call.func not in index.functions:
        return True
    if call.qualname is not None and call.qualname.split(".", 1)[0] == "keras":
        return True  # keras.utils.plot_model(model), layers called on models...
    short = _callee_name(call)
    if call.receiver is None and call.func in index.functions:
        return short not in compiling
    return False


def _compiling_functions(index: ModuleIndex) -> set[str]:
    """Short names of the file's functions that call ``compile()``, directly or not."""
    by_short: dict[str, list[str]] = {}
    for qual in index.functions:
        by_short.setdefault(qual.rsplit(".", 1)[-1], []).append(qual)
    direct: set[str] = set()
    calls_in: dict[str, set[str]] = {}
    for call in index.calls:
        scope: Scope | None = call.scope
        while scope is not None:
            if scope.kind == "function":
                if call.method == "compile":
                    direct.add(scope.name)
                short = _callee_name(call)
                if short in by_short:
                    calls_in.setdefault(scope.name, set()).add(short)
            scope = scope.parent
    out: set[str] = {q.rsplit(".", 1)[-1] for q in direct}
    changed = True
    while changed:
        changed = False
        for qual, callees in calls_in.items():
            short = qual.rsplit(".", 1)[-1]
            if short not in out and callees & out:
                out.add(short)
                changed = True
    return out
