"""Rules of the api family: calls that Keras rejects, or that Keras 3 no longer has."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import libcst as cst

from fitlint.analysis.index import CallSite, ModuleIndex
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
        models = ctx.models
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
        models = ctx.models
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
        models = ctx.models
        sites = [
            *index.calls_by_method.get("fit", ()),
            *index.calls_by_method.get("train_on_batch", ()),
        ]
        for site in sorted(sites, key=lambda s: s.order):
            name = site.receiver
            if name is None or "." in name:
                continue
            if models.uncompiled_at(site):
                assert site.method is not None
                yield self.report(site.node.func, model=name, method=site.method)
