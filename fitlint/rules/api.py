"""Rules of the api family: calls that Keras rejects, or that Keras 3 no longer has."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


# Every Keras optimizer class (keras.optimizers.Adam, tf.optimizers.SGD...): see optimizer_name.
OPTIMIZERS = "keras.optimizers.*"
# The lower-case optimizer aliases of Keras 2 (keras.optimizers.rmsprop = RMSprop); Keras 3 has
# none of them (AttributeError).
_OPTIMIZER_ALIASES = {
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamax": "Adamax",
    "nadam": "Nadam",
}
_MODEL_METHOD = "."  # a callable spelled ".fit" is a method of a Keras model


@dataclass(frozen=True)
class RemovedArgument:
    """A keyword argument that Keras removed, renamed or no longer honours.

    Attributes:
        callables: Where the argument was taken: canonical qualified names of classes
            (``keras.layers.LSTM``), model methods spelled ``.fit``, or :data:`OPTIMIZERS`.
        argument: The old keyword.
        since: The Keras version that renamed, deprecated or removed it.
        message: The finding's text: what Keras 3 does with it and what to use instead.
        renamed_to: Its new name, when the fix may simply rename it.
        slot: The position of ``renamed_to`` among the positional parameters (None: keyword
            only in practice): the rename is safe only while fewer positional arguments are
            given, else the value would be passed twice.
        removable: Whether the fix may drop the argument (Keras 3 ignores it).
    """

    callables: tuple[str, ...]
    argument: str
    since: str
    message: str
    renamed_to: str | None = None
    slot: int | None = None
    removable: bool = False


_RNN_AND_DENSE = (
    "keras.layers.Dense",
    "keras.layers.LSTM",
    "keras.layers.GRU",
    "keras.layers.SimpleRNN",
)

# What Keras 3 does with each: tests/fitlint/test_removed_arguments.py checks the table
# against the signatures of the installed Keras.
REMOVED_ARGUMENTS: tuple[RemovedArgument, ...] = (
    RemovedArgument(
        (OPTIMIZERS,),
        "lr",
        "2.3",
        "`lr` was removed from Keras optimizers (Keras 3 raises ValueError); use `learning_rate`",
        renamed_to="learning_rate",
        slot=0,
    ),
    RemovedArgument(
        (OPTIMIZERS,),
        "decay",
        "2.11",
        "`decay` is not supported by Keras 3 optimizers (ignored with a warning): "
        "pass a keras.optimizers.schedules.LearningRateSchedule as `learning_rate`",
    ),
    RemovedArgument(
        (".fit", ".fit_generator"),
        "nb_epoch",
        "2.0",
        "`nb_epoch` was removed from fit() (Keras 3 raises TypeError); use `epochs`",
        renamed_to="epochs",
    ),
    RemovedArgument(
        (".fit", ".evaluate", ".fit_generator", ".evaluate_generator"),
        "show_accuracy",
        "1.0",
        "`show_accuracy` was removed in Keras 1.0 (Keras 3's fit() raises TypeError, "
        "evaluate() ValueError); pass `metrics=['accuracy']` to compile() instead",
    ),
    RemovedArgument(
        (".compile",),
        "class_mode",
        "1.0",
        "`class_mode` was removed from compile() in Keras 1.0 (Keras 3 raises TypeError); "
        "the loss and `metrics=` decide",
    ),
    RemovedArgument(
        ("keras.layers.Embedding",),
        "input_length",
        "3.0",
        "`input_length` is ignored by Keras 3's Embedding; remove it",
        removable=True,
    ),
    RemovedArgument(
        _RNN_AND_DENSE,
        "output_dim",
        "2.0",
        "`output_dim` was renamed `units` in Keras 2.0 (Keras 3 raises TypeError: "
        "missing `units`); use `units`",
        renamed_to="units",
        slot=0,
    ),
    RemovedArgument(
        ("keras.Model",),
        "input",
        "2.0",
        "`input` was renamed `inputs` in Keras 2.0 (Keras 3's Model raises ValueError); "
        "use `inputs`",
        renamed_to="inputs",
        slot=0,
    ),
    RemovedArgument(
        ("keras.Model",),
        "output",
        "2.0",
        "`output` was renamed `outputs` in Keras 2.0 (Keras 3's Model raises ValueError); "
        "use `outputs`",
        renamed_to="outputs",
        slot=1,
    ),
)


def _removed_by_callable() -> dict[str, dict[str, RemovedArgument]]:
    table: dict[str, dict[str, RemovedArgument]] = {}
    for entry in REMOVED_ARGUMENTS:
        for callable_ in entry.callables:
            table.setdefault(callable_, {})[entry.argument] = entry
    return table


_REMOVED_BY_CALLABLE = _removed_by_callable()


class RemovedKerasArgument(Rule):
    """## What it does
    Flags Keras APIs that Keras 3 removed or ignores, with the rename where there is one.

    The keyword arguments, each with the Keras version that renamed or dropped it:

    - optimizers: `lr=` (renamed `learning_rate=` in 2.3) and `decay=` (2.11), and the
      lower-case aliases of Keras 2 (`keras.optimizers.rmsprop(...)`, `sgd`, `adam`...);
    - `fit(nb_epoch=)` (renamed `epochs=` in 2.0), `show_accuracy=` in `fit()`/`evaluate()`
      and `compile(class_mode=)` (both gone since 1.0);
    - `Dense`/`LSTM`/`GRU`/`SimpleRNN(output_dim=)` (renamed `units=` in 2.0; `Embedding`
      still takes `output_dim`), `Model(input=, output=)` (renamed `inputs=`/`outputs=`),
      and `Embedding(input_length=)` (ignored since 3.0);
    - `fit_generator`/`evaluate_generator`/`predict_generator` (merged into
      `fit`/`evaluate`/`predict`).

    Methods count only on a receiver that may be a Keras model, and not where the file
    defines its own method of that name taking the argument.

    The fix renames `lr=`, `nb_epoch=`, `output_dim=`, `input=` and `output=` (when the new
    name is not given already, positionally or by keyword), renames the `*_generator`
    methods and the optimizer aliases, and removes `input_length=`. `decay=`,
    `show_accuracy=` and `class_mode=` have no mechanical rewrite.

    ## Why is this bad?
    Keras 3 raises on `lr=` (ValueError), on `nb_epoch=`, `show_accuracy=`, `class_mode=`
    and `output_dim=` (TypeError), on `Model(input=)` (ValueError) and on the
    `*_generator` methods and optimizer aliases (AttributeError), so the script stops at
    that line. It accepts `decay=` and `input_length=` with a warning and ignores them, so
    the learning rate silently never decays.

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
        # Embedding still takes output_dim; Keras 3's Model takes inputs=/outputs=.
        "import keras\nemb = keras.layers.Embedding(input_dim=1000, output_dim=64)\n"
        "model = keras.Model(inputs=inp, outputs=emb(inp))\n",
        # The string optimizer names are lower case and fine.
        "import keras\nmodel.compile(optimizer='rmsprop', loss='mse')\n",
        # A class of the file that takes output_dim; an unrelated model's fit(show_accuracy=).
        "import keras\nclass Proj(keras.layers.Layer):\n"
        "    def __init__(self, output_dim):\n        super().__init__()\n"
        "p = Proj(output_dim=8)\n",
        "import keras\nimport mylib\nmylib.fit(data, show_accuracy=True)\n",
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
        # show_accuracy in fit() and evaluate(): no rewrite, the metric goes to compile().
        Invalid(
            "from keras.models import Sequential\nmodel = Sequential()\n"
            "model.evaluate(x, y, batch_size=32, show_accuracy=True)\n",
            line=3,
        ),
        Invalid(
            "from keras.layers.recurrent import LSTM\n"
            "layer = LSTM(output_dim=64, return_sequences=True)\n",
            line=2,
            fixed="from keras.layers.recurrent import LSTM\n"
            "layer = LSTM(units=64, return_sequences=True)\n",
        ),
        Invalid(
            "from keras.models import Model\nmodel = Model(input=[a, b], output=out)\n",
            line=2,
            fixed="from keras.models import Model\nmodel = Model(inputs=[a, b], outputs=out)\n",
        ),
        # Keras 2's lower-case alias: renamed to the class, and its lr= renamed too.
        Invalid(
            "import keras\nopt = keras.optimizers.rmsprop(lr=1e-3)\n",
            line=2,
            fixed="import keras\nopt = keras.optimizers.RMSprop(learning_rate=1e-3)\n",
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
            table = self._constructor_table(site)
            if table is not None:
                yield from self._arguments(ctx, site, table)
            alias = self._optimizer_alias(site)
            if alias is not None:
                yield alias
        models = ctx.models
        for callable_, table in _REMOVED_BY_CALLABLE.items():
            if not callable_.startswith(_MODEL_METHOD):
                continue
            method = callable_[1:]
            own = _own_parameters(index, method)
            if own is None:
                continue  # the file's own method takes any keyword
            wanted = {arg: entry for arg, entry in table.items() if arg not in own}
            for site in index.calls_by_method.get(method, ()):
                if models.receiver_is_model(site) is not False:
                    yield from self._arguments(ctx, site, wanted)
        for method, new in _GENERATOR_METHODS.items():
            if any(q.rsplit(".", 1)[-1] == method for q in index.functions):
                continue  # the file defines its own method of that name
            for site in index.calls_by_method.get(method, ()):
                if models.receiver_is_model(site) is not False:
                    yield self._generator(site, method, new)

    @staticmethod
    def _constructor_table(site: CallSite) -> dict[str, RemovedArgument] | None:
        qual = site.qualname
        if qual is None:
            return None
        if optimizer_name(qual) is not None or _alias_of(qual) is not None:
            return _REMOVED_BY_CALLABLE[OPTIMIZERS]
        return _REMOVED_BY_CALLABLE.get(qual)

    def _arguments(
        self, ctx: RuleContext, site: CallSite, table: dict[str, RemovedArgument]
    ) -> Iterator[Report]:
        keywords = site.keywords()
        positional = _positional_count(site.node)
        for arg in site.node.args:
            if arg.keyword is None or arg.keyword.value not in table:
                continue
            entry = table[arg.keyword.value]
            new = entry.renamed_to
            if new is not None:
                fixable = (
                    new not in keywords
                    and not site.has_star_args()
                    and (entry.slot is None or positional <= entry.slot)
                )
                yield self.report(
                    arg,
                    detail=entry.message,
                    fix_message=f"Rename `{entry.argument}=` to `{new}=`" if fixable else None,
                    replacements=(Replacement(arg.keyword, new),) if fixable else (),
                )
            elif entry.removable:
                yield self.report(
                    arg,
                    detail=entry.message,
                    fix_message=f"Remove `{entry.argument}=`",
                    replacements=(Replacement(site.node, _without_arg(ctx, site.node, arg)),),
                )
            else:
                yield self.report(arg, detail=entry.message)

    def _optimizer_alias(self, site: CallSite) -> Report | None:
        qual = site.qualname
        cls = _alias_of(qual) if qual is not None else None
        if cls is None:
            return None
        func = site.node.func
        # keras.optimizers.rmsprop(...) renames in place; a bare imported name would need
        # its import rewritten too.
        target = func.attr if isinstance(func, cst.Attribute) else None
        return self.report(
            func,
            detail=f"`{qual}` was a Keras 2 alias of `{cls}`; Keras 3 has none "
            f"(AttributeError): use `keras.optimizers.{cls}`",
            fix_message=f"Call `{cls}` instead" if target is not None else None,
            replacements=(Replacement(target, cls),) if target is not None else (),
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


def _alias_of(qualname: str | None) -> str | None:
    """The optimizer class that a Keras 2 lower-case alias (``keras.optimizers.rmsprop``) named."""
    if qualname is None or not qualname.startswith("keras.optimizers."):
        return None
    return _OPTIMIZER_ALIASES.get(qualname[len("keras.optimizers.") :])


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
