"""Rules of the architecture family: what is wrong with the layers of a model.

Every rule reads the layer stacks of :mod:`fitlint.analysis.models` (``ctx.models``). Items of
a stack that are not statically known (a helper returning layers, a ``*layers`` splat, a
layer added under an ``if``) end every run: no rule reports "consecutive" across them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from fitlint.analysis.layers import ACTIVATION_NAMES, SATURATING, Layer, Output, Role, Stack
from fitlint.analysis.losses import TITLES as LOSS_TITLES
from fitlint.analysis.losses import Loss, loss_of
from fitlint.analysis.models import unique_sites
from fitlint.model import Severity
from fitlint.rules.base import Invalid, Replacement, Report, Rule, RuleContext

# Output activations whose values are probabilities. Every other known activation gives values
# that are not (a cross-entropy that expects probabilities clips or renormalizes them), except
# log_softmax: log-probabilities, which such a loss misreads too, but which are left alone.
PROBABILITY = frozenset({"sigmoid", "hard_sigmoid", "softmax"})
NOT_PROBABILITY = ACTIVATION_NAMES - PROBABILITY - {"log_softmax"}


def _next_index(layers: Sequence[Layer], i: int, skip: frozenset[Role]) -> int | None:
    """The index of the first layer after ``i`` that is not a known layer of a ``skip`` role."""
    j = i + 1
    while j < len(layers):
        layer = layers[j]
        if not (layer.known and layer.role in skip):
            return j
        j += 1
    return None


def _stacks(ctx: RuleContext) -> Iterator[Stack]:
    yield from ctx.models.stacks()


# --------------------------------------------------------------------------------------

_FL301_NEUTRAL = frozenset({Role.DROPOUT, Role.NORMALIZATION, Role.ACTIVATION, Role.INPUT})
# Convolutional recurrent layers (video models stack several of them) are not counted.
_CONV_RECURRENT = frozenset(
    {"keras.layers.ConvLSTM1D", "keras.layers.ConvLSTM2D", "keras.layers.ConvLSTM3D"}
)


class DeepStackedRnn(Rule):
    """## What it does
    Flags five or more recurrent layers (`LSTM`, `GRU`, `SimpleRNN`, `Bidirectional(...)`)
    stacked on each other, in a `Sequential` list, `add()` calls (loops with a constant trip
    count included), a functional chain or a subclassed model's `call()`. Dropout,
    normalization and activation layers between them do not break the stack; any other layer
    does. Convolutional recurrent layers (`ConvLSTM2D`...) are not counted.

    ## Why is this bad?
    Gradients shrink through every stacked recurrent layer as well as through time; past a
    few layers a plain stack trains slowly or not at all. Where that starts is measured:
    Google's NMT system found that "simple stacked LSTM layers work well up to 4 layers,
    barely with 6 layers, and very poorly beyond 8 layers" (Wu et al. 2016, *Google's Neural
    Machine Translation System*, section 3.1), and needed residual connections to go deeper.
    Stacks of two to four train normally and are standard: four-layer LSTMs in sequence to
    sequence learning (Sutskever et al. 2014), the textbook three-layer `SimpleRNN`. So the
    default stays silent up to four and flags the fifth.

    The count is the same for every cell type. The measured depth limit is for gated cells
    (LSTM, GRU); stacks of plain tanh RNNs (`SimpleRNN`) of up to five layers have been
    trained too (Hermans and Schrauwen 2013, *Training and Analysing Deep Recurrent Neural
    Networks*). A `SimpleRNN`'s own weakness is long sequences (gradients vanish through
    time, Bengio et al. 1994), which depth does not measure and this rule does not claim.

    Options: `max_recurrent` (4): the most recurrent layers stacked without a finding.

    ## Example
    ```python
    model = keras.Sequential([keras.Input((50, 8))])
    for _ in range(5):
        model.add(layers.LSTM(64, return_sequences=True))
    model.add(layers.LSTM(64))
    model.add(layers.Dense(1))
    ```

    ## Use instead
    ```python
    model = keras.Sequential([
        keras.Input((50, 8)),
        layers.LSTM(64, return_sequences=True),
        layers.LSTM(64),
        layers.Dense(1),
    ])
    ```
    Or, to go deeper, residual connections (`x = x + lstm(x)`) with layer normalization.
    """

    code = "FL301"
    name = "deep-stacked-rnn"
    message = (
        "{count} recurrent layers are stacked (more than {max}); gradients vanish through "
        "deep RNN stacks"
    )
    options = {"max_recurrent": 4}
    valid = [
        # The textbook three-layer SimpleRNN trains normally.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.SimpleRNN(40, return_sequences=True, input_shape=[None, 1]),
    tf.keras.layers.SimpleRNN(40, return_sequences=True),
    tf.keras.layers.SimpleRNN(1),
])
model.compile(loss="mse", optimizer="adam")
""",
        # Four stacked LSTMs (the depth of sequence-to-sequence models) train well.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.LSTM(64, return_sequences=True, input_shape=(50, 8)),
    tf.keras.layers.LSTM(64, return_sequences=True),
    tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(64, return_sequences=True)),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(1),
])
""",
        # A Dense layer between the recurrent layers breaks the stack.
        """\
from tensorflow.keras.layers import GRU, Dense, TimeDistributed
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(GRU(32, return_sequences=True, input_shape=(20, 4)))
model.add(GRU(32, return_sequences=True))
model.add(TimeDistributed(Dense(16, activation="relu")))
model.add(GRU(16))
model.add(Dense(1))
""",
        # The loop count is not known: no guessing.
        """\
import keras
from keras import layers

def build(depth):
    model = keras.Sequential([keras.Input(shape=(30, 3))])
    for _ in range(depth):
        model.add(layers.LSTM(32, return_sequences=True))
    model.add(layers.LSTM(32))
    model.add(layers.Dense(1))
    return model
""",
        # An unknown item (a helper's layers) between the LSTMs breaks the stack.
        """\
import keras
from keras import layers

model = keras.Sequential([
    layers.LSTM(32, return_sequences=True),
    *attention_block(),
    layers.LSTM(32, return_sequences=True),
    layers.LSTM(32),
    layers.Dense(1),
])
""",
        # An encoder-decoder: RepeatVector separates two stacks of two.
        """\
import tensorflow.keras as K

model = K.Sequential([
    K.layers.LSTM(64, return_sequences=True, input_shape=(10, 1)),
    K.layers.LSTM(32),
    K.layers.RepeatVector(10),
    K.layers.LSTM(32, return_sequences=True),
    K.layers.TimeDistributed(K.layers.Dense(1)),
])
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.LSTM(64, return_sequences=True, input_shape=(50, 8)),
    tf.keras.layers.LSTM(64, return_sequences=True),
    tf.keras.layers.LSTM(64, return_sequences=True),
    tf.keras.layers.LSTM(64, return_sequences=True),
    tf.keras.layers.LSTM(64),
    tf.keras.layers.Dense(1),
])
""",
            line=8,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import LSTM, Bidirectional, Dense, Dropout
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Bidirectional(LSTM(64, return_sequences=True), input_shape=(40, 6)))
model.add(Dropout(0.2))
for _ in range(4):
    model.add(LSTM(64, return_sequences=True))
model.add(LSTM(32))
model.add(Dense(1))
""",
            line=8,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(100, 16))
x = K.layers.GRU(32, return_sequences=True)(inputs)
x = K.layers.LayerNormalization()(x)
x = K.layers.GRU(32, return_sequences=True)(x)
x = K.layers.GRU(32, return_sequences=True)(x)
x = K.layers.GRU(32, return_sequences=True)(x)
x = K.layers.GRU(32)(x)
outputs = K.layers.Dense(5, activation="softmax")(x)
model = K.Model(inputs, outputs)
""",
            line=9,
        ),
        Invalid(
            """\
import keras
from keras import layers

class Forecaster(keras.Model):
    def __init__(self):
        super().__init__()
        self.rnn1 = layers.SimpleRNN(32, return_sequences=True)
        self.rnn2 = layers.SimpleRNN(32, return_sequences=True)
        self.rnn3 = layers.SimpleRNN(32, return_sequences=True)
        self.rnn4 = layers.SimpleRNN(32, return_sequences=True)
        self.rnn5 = layers.SimpleRNN(32)
        self.head = layers.Dense(1)

    def call(self, inputs):
        x = self.rnn1(inputs)
        x = self.rnn2(x)
        x = self.rnn3(x)
        x = self.rnn4(x)
        x = self.rnn5(x)
        return self.head(x)
""",
            line=11,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        limit = self.opts["max_recurrent"]
        for stack in _stacks(ctx):
            run: list[Layer] = []
            for layer in (*stack.layers, None):
                if (
                    layer is not None
                    and layer.known
                    and layer.role is Role.RECURRENT
                    and layer.qualname not in _CONV_RECURRENT
                ):
                    run.append(layer)
                    continue
                if layer is not None and layer.known and layer.role in _FL301_NEUTRAL:
                    continue
                total = sum(x.repeat for x in run)
                if total > limit:
                    seen = 0
                    for x in run:
                        seen += x.repeat
                        if seen > limit:
                            yield self.report(x.node, count=total, max=limit)
                            break
                run = []


# --------------------------------------------------------------------------------------

_FL302_NEUTRAL = frozenset({Role.DROPOUT, Role.NORMALIZATION, Role.ACTIVATION})


class RnnMissingReturnSequences(Rule):
    """## What it does
    Flags a recurrent layer that feeds another recurrent layer without
    `return_sequences=True` (directly, or through dropout, normalization or activation layers).
    The last recurrent layer of a stack may return only its final state.

    ## Why is this bad?
    Without `return_sequences=True` the layer outputs one vector per sample (2D), and the next
    recurrent layer needs a sequence (3D): the model fails to build with a shape error.

    The fix adds `return_sequences=True`; it is offered only when the layer is not repeated
    in a loop.

    ## Example
    ```python
    model = keras.Sequential([
        layers.LSTM(64),
        layers.LSTM(32),
        layers.Dense(1),
    ])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([
        layers.LSTM(64, return_sequences=True),
        layers.LSTM(32),
        layers.Dense(1),
    ])
    ```
    """

    code = "FL302"
    name = "rnn-missing-return-sequences"
    message = (
        "{layer} feeds the recurrent layer {next} without return_sequences=True: "
        "{next} gets a 2D input and the model fails to build"
    )
    severity = Severity.ERROR
    fixable = True
    valid = [
        # The last recurrent layer of a stack returns its final state: fine.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.LSTM(64, return_sequences=True, input_shape=(50, 8)),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(1),
])
""",
        # RepeatVector turns the state back into a sequence (encoder-decoder).
        """\
from tensorflow.keras.layers import LSTM, Dense, RepeatVector, TimeDistributed
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(LSTM(64, input_shape=(10, 1)))
model.add(RepeatVector(10))
model.add(LSTM(64, return_sequences=True))
model.add(TimeDistributed(Dense(1)))
""",
        # return_sequences comes from a variable: not statically known.
        """\
import keras
from keras import layers

def build(seq):
    return keras.Sequential([
        layers.GRU(32, return_sequences=seq),
        layers.GRU(32),
        layers.Dense(1),
    ])
""",
        # The second LSTM is only added under a condition: no guessing.
        """\
import keras
from keras import layers

model = keras.Sequential([keras.Input(shape=(20, 3))])
model.add(layers.LSTM(32))
if deep:
    model.add(layers.LSTM(32))
model.add(layers.Dense(1))
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.LSTM(64, input_shape=(50, 8)),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(1),
])
""",
            line=4,
            fixed="""\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.LSTM(64, input_shape=(50, 8), return_sequences=True),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(1),
])
""",
        ),
        Invalid(
            """\
from tensorflow.keras.layers import GRU, Bidirectional, Dense, Dropout
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Bidirectional(GRU(64, return_sequences=False), input_shape=(40, 6)))
model.add(Dropout(0.3))
model.add(GRU(32))
model.add(Dense(1, activation="sigmoid"))
""",
            line=5,
            fixed="""\
from tensorflow.keras.layers import GRU, Bidirectional, Dense, Dropout
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Bidirectional(GRU(64, return_sequences=True), input_shape=(40, 6)))
model.add(Dropout(0.3))
model.add(GRU(32))
model.add(Dense(1, activation="sigmoid"))
""",
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(100, 16))
x = K.layers.LSTM(32)(inputs)
x = K.layers.LSTM(16)(x)
outputs = K.layers.Dense(1)(x)
model = K.Model(inputs, outputs)
""",
            line=4,
            fixed="""\
import tensorflow.keras as K

inputs = K.Input(shape=(100, 16))
x = K.layers.LSTM(32, return_sequences=True)(inputs)
x = K.layers.LSTM(16)(x)
outputs = K.layers.Dense(1)(x)
model = K.Model(inputs, outputs)
""",
        ),
        Invalid(
            """\
import keras
from keras import layers

model = keras.Sequential([keras.Input(shape=(30, 4))])
for _ in range(3):
    model.add(layers.SimpleRNN(16))
model.add(layers.Dense(1))
""",
            line=6,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for stack in _stacks(ctx):
            layers = stack.layers
            for i, layer in enumerate(layers):
                if not (
                    layer.known and layer.role is Role.RECURRENT and layer.return_sequences is False
                ):
                    continue
                if layer.repeat > 1:
                    again = f"{layer.short_name} (its next loop iteration)"
                    yield self.report(layer.node, layer=layer.short_name, next=again)
                    continue
                j = _next_index(layers, i, _FL302_NEUTRAL)
                if j is None:
                    continue
                nxt = layers[j]
                if nxt.known and nxt.role is Role.RECURRENT:
                    yield self.report(
                        layer.node,
                        fix_message="Add return_sequences=True",
                        replacements=_return_sequences_fix(layer),
                        layer=layer.short_name,
                        next=nxt.short_name,
                    )


def _return_sequences_fix(layer: Layer) -> tuple[Replacement, ...]:
    call = layer.call
    if call is None:
        return ()
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "return_sequences":
            return (Replacement(arg.value, "True"),)
    new_arg = cst.Arg(
        keyword=cst.Name("return_sequences"),
        value=cst.Name("True"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""),
            whitespace_after=cst.SimpleWhitespace(""),
        ),
    )
    args = list(call.args)
    if args:
        last = args[-1]
        if isinstance(last.comma, cst.Comma):
            # A trailing comma (often one argument per line): the new argument takes the
            # last one's place in the layout, and the last one takes its neighbour's comma.
            new_arg = new_arg.with_changes(comma=last.comma)
            between = args[-2].comma if len(args) >= 2 else cst.MaybeSentinel.DEFAULT
            if not isinstance(between, cst.Comma):
                between = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            args[-1] = last.with_changes(comma=between)
        else:
            args[-1] = last.with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
    new = call.with_changes(args=[*args, new_arg])
    return (Replacement(call, cst.Module([]).code_for_node(new)),)


# --------------------------------------------------------------------------------------

_FL303_NEUTRAL = frozenset({Role.DROPOUT, Role.RESHAPE, Role.INPUT, Role.ACTIVATION})


@dataclass
class _Unit:
    """A Dense/Conv layer with the activation it effectively applies."""

    layer: Layer
    activation: str | None
    count: int


def _units(layers: Sequence[Layer]) -> list[_Unit | None]:
    """The Dense/Conv units of a stack; None marks a barrier (normalization, unknown...)."""
    out: list[_Unit | None] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.known and layer.role is Role.AFFINE:
            act = layer.activation
            if act == "linear" and layer.repeat == 1 and i + 1 < len(layers):
                follower = layers[i + 1]
                if follower.known and follower.role is Role.ACTIVATION:
                    act = follower.activation
                    i += 1
            out.append(_Unit(layer, act, layer.repeat))
        elif not (layer.known and layer.role in _FL303_NEUTRAL):
            out.append(None)
        i += 1
    return out


class DeepSaturatingActivations(Rule):
    """## What it does
    Flags three or more consecutive hidden Dense/Conv layers whose activation saturates
    (`sigmoid`, `tanh`, `hard_sigmoid`, `softsign`) with no normalization layer between
    them. Layers repeated by a loop count once per iteration; an `Activation("sigmoid")`
    layer right after a linear Dense counts for that Dense. The output layer is not a hidden
    layer, Dropout does not break a run, and
    `BatchNormalization`/`LayerNormalization`/`GroupNormalization` do. Recurrent layers are
    left to `deep-stacked-rnn`.

    ## Why is this bad?
    The derivative of a saturating activation is at most 0.25 (sigmoid) or 1 (tanh) and near
    zero once units saturate: the gradient shrinks geometrically through each such layer, and
    the first layers stop learning (vanishing gradients).

    Options: `max_saturating` (2): the most consecutive saturating hidden layers allowed.

    ## Example
    ```python
    model = keras.Sequential([
        layers.Dense(64, activation="sigmoid"),
        layers.Dense(64, activation="sigmoid"),
        layers.Dense(64, activation="sigmoid"),
        layers.Dense(1, activation="sigmoid"),
    ])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    ```
    """

    code = "FL303"
    name = "deep-saturating-activations"
    message = (
        "{count} consecutive hidden layers use saturating activations ({activations}) with "
        "no normalization between them; gradients vanish through the stack"
    )
    options = {"max_saturating": 2}
    valid = [
        # Two saturating hidden layers and a sigmoid output layer: fine.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="tanh", input_shape=(20,)),
    tf.keras.layers.Dense(64, activation="tanh"),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
""",
        # Normalization between the tanh layers.
        """\
from tensorflow.keras.layers import BatchNormalization, Dense, LayerNormalization
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Dense(128, activation="tanh", input_shape=(32,)))
model.add(BatchNormalization())
model.add(Dense(128, activation="tanh"))
model.add(LayerNormalization())
model.add(Dense(128, activation="tanh"))
model.add(Dense(10, activation="softmax"))
""",
        # LeNet: tanh convolutions separated by pooling, two tanh dense layers.
        """\
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(32, 32, 1)),
    layers.Conv2D(6, 5, activation="tanh"),
    layers.AveragePooling2D(),
    layers.Conv2D(16, 5, activation="tanh"),
    layers.AveragePooling2D(),
    layers.Flatten(),
    layers.Dense(120, activation="tanh"),
    layers.Dense(84, activation="tanh"),
    layers.Dense(10, activation="softmax"),
])
""",
        # The loop count is not known.
        """\
import tensorflow.keras as K

def build(n_hidden):
    model = K.Sequential([K.Input(shape=(8,))])
    for _ in range(n_hidden):
        model.add(K.layers.Dense(32, activation="sigmoid"))
    model.add(K.layers.Dense(1, activation="sigmoid"))
    return model
""",
        # Stacked LSTMs use tanh by default: not this rule's business.
        """\
import keras
from keras import layers

model = keras.Sequential([
    layers.LSTM(32, return_sequences=True),
    layers.LSTM(32, return_sequences=True),
    layers.LSTM(32),
    layers.Dense(1, activation="sigmoid"),
])
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.Input(shape=(20,))])
for _ in range(8):
    model.add(tf.keras.layers.Dense(32, activation="sigmoid"))
model.add(tf.keras.layers.Dense(1, activation="sigmoid"))
""",
            line=5,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import Activation, Dense, Dropout
from tensorflow.keras.models import Sequential

model = Sequential([
    Dense(256, input_shape=(784,)),
    Activation("sigmoid"),
    Dropout(0.2),
    Dense(128, activation="tanh"),
    Dropout(0.2),
    Dense(64, activation="sigmoid"),
    Dense(10, activation="softmax"),
])
""",
            line=5,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(16,))
x = K.layers.Dense(64, activation=K.activations.tanh)(inputs)
x = K.layers.Dense(64, activation="tanh")(x)
x = K.layers.Dense(64, activation="tanh")(x)
outputs = K.layers.Dense(1)(x)
model = K.Model(inputs, outputs)
""",
            line=4,
        ),
        Invalid(
            """\
import keras
from keras import layers

class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.h1 = layers.Dense(64, activation="sigmoid")
        self.h2 = layers.Dense(64, activation="sigmoid")
        self.h3 = layers.Dense(64, activation="hard_sigmoid")
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs):
        x = self.h1(inputs)
        x = self.h2(x)
        x = self.h3(x)
        return self.out(x)
""",
            line=7,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        limit = self.opts["max_saturating"]
        for stack in _stacks(ctx):
            units = _units(stack.layers)
            last = max((i for i, u in enumerate(units) if u is not None), default=-1)
            run: list[_Unit] = []
            count = 0
            for i, unit in enumerate((*units, None)):
                hidden = 0
                if unit is not None:
                    hidden = unit.count - (1 if i == last else 0)
                if unit is not None and unit.activation in SATURATING and hidden > 0:
                    run.append(unit)
                    count += hidden
                    if i != last:
                        continue
                if count > limit:
                    names = sorted({u.activation or "" for u in run})
                    yield self.report(run[0].layer.node, count=count, activations=", ".join(names))
                run = []
                count = 0


# --------------------------------------------------------------------------------------


def _mismatch(out: Output, loss: Loss) -> str | None:
    act, units, title = out.activation, out.units, LOSS_TITLES[loss.kind]
    if act in PROBABILITY and loss.from_logits is True:
        return (
            f"the output layer already applies {act} but the loss is given from_logits=True: "
            f"{act} is applied twice and the loss is wrong"
        )
    if loss.kind == "categorical" and units == 1:
        return "categorical cross-entropy on a 1-unit output: the loss is always 0"
    if loss.kind == "sparse" and units == 1:
        return (
            "sparse categorical cross-entropy on a 1-unit output: the output needs one unit "
            "per class"
        )
    if loss.kind == "categorical" and act == "sigmoid":
        return (
            "categorical cross-entropy on a sigmoid output: use softmax for one class per "
            "sample, or binary cross-entropy for independent labels"
        )
    if loss.kind == "binary" and act == "softmax" and units is not None and units > 1:
        return (
            f"binary cross-entropy on a {units}-unit softmax output: use categorical "
            "cross-entropy, or one sigmoid unit"
        )
    if act in NOT_PROBABILITY and loss.from_logits is False:
        return (
            f"{title} expects probabilities but the output activation is {act}: end with "
            "softmax/sigmoid, or pass from_logits=True"
        )
    return None


class OutputActivationLossMismatch(Rule):
    """## What it does
    Compares the output layer of a model (its activation and units, when statically known;
    a final `Activation("softmax")` layer counts) with the cross-entropy given to its
    `compile()`, as a string, a loss class or a loss function, and flags combinations that
    compute the wrong loss:

    - a softmax/sigmoid output with a loss given `from_logits=True`;
    - categorical cross-entropy on a sigmoid or 1-unit output; sparse categorical
      cross-entropy on a 1-unit output;
    - binary cross-entropy on a multi-unit softmax output;
    - a linear/relu (non-probability) output with a cross-entropy that expects probabilities.

    ## Why is this bad?
    The loss no longer measures what the model predicts: probabilities are squashed twice,
    logits are clipped into [0, 1], or the loss is constant. Training runs without an error
    but the model learns little or nothing.

    ## Example
    ```python
    model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    ```

    ## Use instead
    ```python
    model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    ```
    """

    code = "FL304"
    name = "output-activation-loss-mismatch"
    message = "{detail}"
    severity = Severity.ERROR
    valid = [
        # A sigmoid unit with binary cross-entropy.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(32, activation="relu", input_shape=(20,)),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
""",
        # Logits out, from_logits=True in.
        """\
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(10),
])
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
""",
        # Softmax with sparse categorical cross-entropy, loss bound to a name.
        """\
from tensorflow.keras import layers, losses
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(layers.Dense(64, activation="relu", input_shape=(32,)))
model.add(layers.Dense(5))
model.add(layers.Activation("softmax"))
loss_fn = losses.SparseCategoricalCrossentropy()
model.compile(optimizer="adam", loss=loss_fn)
""",
        # The output layer comes from a helper: unknown, no finding.
        """\
import tensorflow.keras as K

model = K.Sequential([K.layers.Dense(64, activation="relu"), *make_head()])
model.compile(optimizer="adam", loss="categorical_crossentropy")
""",
        # Mean squared error on a linear output.
        """\
import keras
from keras import layers

model = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
""",
    ]
    invalid = [
        # hard_swish is x * hard_sigmoid(x): unbounded, not a probability.
        Invalid(
            """\
import keras

model = keras.Sequential([
    keras.Input((20,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(1, activation="hard_swish"),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
""",
            line=8,
        ),
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="relu", input_shape=(20,)),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(
    optimizer="adam",
    loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
)
""",
            line=9,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Dense(32, activation="relu", input_shape=(8,)))
model.add(Dense(1, activation="sigmoid"))
model.compile(optimizer="adam", loss="categorical_crossentropy")
""",
            line=7,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(28, 28))
x = K.layers.Flatten()(inputs)
x = K.layers.Dense(128, activation="relu")(x)
outputs = K.layers.Dense(10)(x)
model = K.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="adam", loss=K.losses.sparse_categorical_crossentropy)
""",
            line=8,
        ),
        Invalid(
            """\
import keras
from keras import layers

class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(64, activation="relu")
        self.out = layers.Dense(4, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs))

net = Net()
net.compile(optimizer="adam", loss="binary_crossentropy")
""",
            line=14,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        models = ctx.models
        for model in models.models:
            stack = model.stack
            if stack is None or not model.compiles:
                continue
            out = stack.output()
            if out is None:
                continue
            for site in model.compiles:
                expr = site.arg("loss", 1)
                if expr is None:
                    continue
                loss = loss_of(ctx.index, expr, site.scope)
                if loss is None:
                    continue
                detail = _mismatch(out, loss)
                if detail is not None:
                    yield self.report(expr, detail=detail)


# --------------------------------------------------------------------------------------


_TF1_DENSE = {
    "tensorflow.layers.dense": ("units", "activation"),
    "tensorflow.compat.v1.layers.dense": ("units", "activation"),
    "tensorflow.contrib.layers.fully_connected": ("num_outputs", "activation_fn"),
}


class SingleUnitSoftmax(Rule):
    """## What it does
    Flags a Dense layer with one unit and a softmax activation: `Dense(1,
    activation="softmax")`, `Dense(units=1, ...)`, or `Dense(1)` followed by
    `Activation("softmax")` or `Softmax()` over the last axis; also TensorFlow 1's
    `tf.layers.dense(x, 1, activation=tf.nn.softmax)` (`tf.compat.v1.layers.dense`) and
    `tf.contrib.layers.fully_connected(x, 1, activation_fn=tf.nn.softmax)`.

    ## Why is this bad?
    Softmax normalizes over the units of the layer; over a single unit it is always 1.0. The
    model predicts the same value for every input and its gradients are zero.

    ## Example
    ```python
    model.add(layers.Dense(1, activation="softmax"))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ```

    ## Use instead
    ```python
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ```
    """

    code = "FL305"
    name = "single-unit-softmax"
    message = "Dense layer with 1 unit and softmax: softmax over one value is always 1.0"
    severity = Severity.ERROR
    valid = [
        # Softmax over the time axis after a 1-unit score (attention pooling).
        """\
import tensorflow as tf

inputs = tf.keras.Input(shape=(50, 64))
scores = tf.keras.layers.Dense(1)(inputs)
weights = tf.keras.layers.Softmax(axis=1)(scores)
model = tf.keras.Model(inputs, weights)
""",
        # One sigmoid unit.
        """\
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
""",
        # Units from a parameter: not known.
        """\
import keras
from keras import layers

def head(n_classes):
    return layers.Dense(n_classes, activation="softmax")
""",
        # Two softmax units.
        """\
import tensorflow.keras as K

model = K.Sequential([K.layers.Dense(8, activation="relu"), K.layers.Dense(2), K.layers.Softmax()])
""",
        # TensorFlow 1: one sigmoid unit, and a softmax over ten.
        """\
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 20])
h = tf.layers.dense(x, 64, activation=tf.nn.relu)
p = tf.layers.dense(h, units=1, activation=tf.nn.sigmoid)
logits = tf.compat.v1.layers.dense(h, 10, tf.nn.softmax)
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(16, activation="relu", input_shape=(4,)),
    tf.keras.layers.Dense(1, activation="softmax"),
])
""",
            line=5,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Dense(16, activation="relu", input_shape=(4,)))
model.add(Dense(units=1, activation="softmax"))
""",
            line=6,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(10,))
x = K.layers.Dense(1)(inputs)
outputs = K.layers.Activation("softmax")(x)
model = K.Model(inputs, outputs)
""",
            line=4,
        ),
        Invalid(
            """\
import keras
from keras import layers

model = keras.Sequential([
    layers.Dense(8, activation="relu"),
    layers.Dense(1),
    layers.Softmax(),
])
""",
            line=6,
        ),
        Invalid(
            """\
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 20])
h = tf.layers.dense(x, 64, activation=tf.nn.relu)
out = tf.layers.dense(h, units=1, activation=tf.nn.softmax)
""",
            line=5,
        ),
        Invalid(
            """\
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()
x = tf.placeholder(tf.float32, [None, 20])
out = tf.layers.dense(inputs=x, units=1, activation="softmax", name="out")
""",
            line=5,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        models = ctx.models
        for site in unique_sites(ctx.index.calls_to("keras.layers.Dense")):
            layer = models.layer_at(site)
            if layer.units == 1 and layer.activation == "softmax":
                yield self.report(site.node)
        # TensorFlow 1's functions: dense(inputs, units, activation), the units second.
        for site in unique_sites(ctx.index.calls_to(*_TF1_DENSE)):
            units_kw, activation_kw = _TF1_DENSE[site.qualname or ""]
            if site.has_star_args():
                continue
            units = ctx.index.const_value(site.arg(units_kw, 1), site.scope)
            activation = site.arg(activation_kw, 2)
            if units == 1 and models.layers.activation_of(activation, site.scope) == "softmax":
                yield self.report(site.node)
        for stack in models.stacks():
            layers = stack.layers
            for i, layer in enumerate(layers[:-1]):
                nxt = layers[i + 1]
                if (
                    layer.known
                    and layer.qualname == "keras.layers.Dense"
                    and layer.units == 1
                    and layer.activation == "linear"
                    and layer.repeat == 1
                    and nxt.known
                    and nxt.role is Role.ACTIVATION
                    and nxt.activation == "softmax"
                ):
                    yield self.report(layer.node)


# --------------------------------------------------------------------------------------

_FL306_NEUTRAL = frozenset({Role.DROPOUT, Role.RESHAPE})


class MissingHiddenActivation(Rule):
    """## What it does
    Flags a Dense or Conv1D/2D/3D layer without an activation (none given, `None` or
    `"linear"`) whose output goes straight into another Dense/Conv layer. Dropout, Flatten,
    Reshape and Permute layers between them do not help (they are linear too). A following
    activation layer (`Activation("relu")`, `ReLU()`, `LeakyReLU()`, `PReLU()`...) is the
    activation, and a normalization layer between the two (the `Dense` ->
    `BatchNormalization` -> `Activation` idiom) ends the check: the rule stays silent. The
    last layer of a model may be linear.

    ## Why is this bad?
    Two linear maps in a row are one linear map: the hidden layer adds parameters and compute
    but no expressive power, and the network is less deep than it looks. Usually an
    `activation="relu"` was forgotten.

    ## Example
    ```python
    model = keras.Sequential([
        layers.Dense(64),
        layers.Dense(64),
        layers.Dense(10, activation="softmax"),
    ])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    ```
    """

    code = "FL306"
    name = "missing-hidden-activation"
    message = (
        "{layer} has no activation and feeds {next} directly: the two collapse into one linear map"
    )
    valid = [
        # A linear output layer (regression) after a relu hidden layer.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="relu", input_shape=(13,)),
    tf.keras.layers.Dense(1),
])
""",
        # Dense -> BatchNormalization -> Activation, and a separate ReLU layer.
        """\
from tensorflow.keras.layers import Activation, BatchNormalization, Dense, ReLU
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Dense(128, input_shape=(32,)))
model.add(BatchNormalization())
model.add(Activation("relu"))
model.add(Dense(64))
model.add(ReLU())
model.add(Dense(10, activation="softmax"))
""",
        # Activation from a parameter: not known.
        """\
import keras
from keras import layers

def build(act):
    return keras.Sequential([
        layers.Dense(64, activation=act),
        layers.Dense(64, activation=act),
        layers.Dense(1),
    ])
""",
        # Pooling between the convolutions.
        """\
import tensorflow.keras as K

model = K.Sequential([
    K.layers.Conv2D(32, 3, input_shape=(28, 28, 1)),
    K.layers.MaxPooling2D(),
    K.layers.Conv2D(64, 3, activation="relu"),
    K.layers.Flatten(),
    K.layers.Dense(10, activation="softmax"),
])
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, input_shape=(20,)),
    tf.keras.layers.Dense(64, activation=None),
    tf.keras.layers.Dense(10, activation="softmax"),
])
""",
            line=4,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import Conv2D, Dense, Flatten
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Conv2D(32, (3, 3), input_shape=(28, 28, 1)))
model.add(Conv2D(64, (3, 3), activation="relu"))
model.add(Flatten())
model.add(Dense(10, activation="softmax"))
""",
            line=5,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(16,))
x = K.layers.Dense(32, activation="linear")(inputs)
x = K.layers.Dropout(0.1)(x)
outputs = K.layers.Dense(1)(x)
model = K.Model(inputs, outputs)
""",
            line=4,
        ),
        Invalid(
            """\
import keras
from keras import layers

class Regressor(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = layers.Dense(64)
        self.fc2 = layers.Dense(1)

    def call(self, inputs):
        x = self.fc1(inputs)
        return self.fc2(x)
""",
            line=7,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for stack in _stacks(ctx):
            layers = stack.layers
            for i, layer in enumerate(layers):
                if not (layer.known and layer.role is Role.AFFINE and layer.activation == "linear"):
                    continue
                if layer.repeat > 1:
                    again = f"{layer.short_name} (its next loop iteration)"
                    yield self.report(layer.node, layer=layer.short_name, next=again)
                    continue
                j = i + 1
                while j < len(layers):
                    nxt = layers[j]
                    linear_act = nxt.role is Role.ACTIVATION and nxt.activation == "linear"
                    if nxt.known and (nxt.role in _FL306_NEUTRAL or linear_act):
                        j += 1
                        continue
                    break
                if j < len(layers) and layers[j].known and layers[j].role is Role.AFFINE:
                    yield self.report(layer.node, layer=layer.short_name, next=layers[j].short_name)


# --------------------------------------------------------------------------------------

_DROPOUTS = (
    "keras.layers.Dropout",
    "keras.layers.SpatialDropout1D",
    "keras.layers.SpatialDropout2D",
    "keras.layers.SpatialDropout3D",
    "keras.layers.AlphaDropout",
)


class DropoutRateTooHigh(Rule):
    """## What it does
    Flags a dropout layer (`Dropout`, `SpatialDropout1D/2D/3D`, `AlphaDropout`) whose constant
    rate is above 0.5. Off by default: enable it with `extend-select = ["FL307"]`.

    ## Why is this bad?
    The rate is the fraction of units dropped, not kept. Above 0.5 most of the signal is
    zeroed at every step; the network underfits and training is noisy. A rate of 0.8 is often
    a keep probability (TensorFlow 1's `keep_prob`) passed where a drop rate is expected.

    Options: `max_rate` (0.5): the highest rate allowed.

    ## Example
    ```python
    model.add(layers.Dropout(0.8))
    ```

    ## Use instead
    ```python
    model.add(layers.Dropout(0.2))
    ```
    """

    code = "FL307"
    name = "dropout-rate-too-high"
    message = "dropout rate {rate} drops most units (above {max}); the network will underfit"
    default_enabled = False
    options = {"max_rate": 0.5}
    valid = [
        # 0.5 is the limit, not above it.
        """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="relu", input_shape=(20,)),
    tf.keras.layers.Dropout(0.5),
    tf.keras.layers.Dense(1),
])
""",
        # The rate comes from a parameter.
        """\
from tensorflow.keras.layers import Dropout

def block(rate):
    return Dropout(rate)
""",
        # A drop rate of 0.2, by keyword.
        """\
import keras
from keras import layers

model = keras.Sequential([layers.Dense(32, activation="relu"), layers.Dropout(rate=0.2)])
""",
    ]
    invalid = [
        Invalid(
            """\
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="relu", input_shape=(20,)),
    tf.keras.layers.Dropout(0.8),
    tf.keras.layers.Dense(1),
])
""",
            line=5,
        ),
        Invalid(
            """\
from tensorflow.keras.layers import SpatialDropout2D

KEEP_PROB = 0.9
drop = SpatialDropout2D(rate=KEEP_PROB)
""",
            line=4,
        ),
        Invalid(
            """\
import tensorflow.keras as K

inputs = K.Input(shape=(16,))
x = K.layers.Dense(32, activation="relu")(inputs)
x = K.layers.Dropout(0.75)(x)
outputs = K.layers.Dense(1)(x)
""",
            line=5,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        limit = self.opts["max_rate"]
        models = ctx.models
        for site in unique_sites(ctx.index.calls_to(*_DROPOUTS)):
            rate = models.layer_at(site).rate
            if rate is not None and rate > limit:
                yield self.report(site.node, rate=f"{rate:g}", max=f"{limit:g}")
