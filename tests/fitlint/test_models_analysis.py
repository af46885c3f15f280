"""The layer stacks that fitlint.analysis.models finds, table-driven.

Each stack is rendered as a compact string: ``Dense(32,sigmoid)x8`` is a Dense layer with 32
units and a sigmoid activation repeated 8 times by a loop, ``LSTM(8,rs=True)`` a recurrent
layer returning sequences, ``Bidirectional/LSTM(...)`` a wrapped layer, ``?`` an item that is
not statically known, and a trailing ``?`` on a layer one that is added conditionally.
"""

from __future__ import annotations

import libcst as cst
import pytest

from fitlint.analysis import models
from fitlint.analysis.index import build_index
from fitlint.analysis.models import Layer, Role


def _render(layer: Layer) -> str:
    if layer.role is Role.UNKNOWN:
        return "?"
    name = layer.short_name
    if layer.role is Role.AFFINE:
        text = f"{name}({layer.units},{layer.activation})"
    elif layer.role is Role.RECURRENT:
        text = f"{name}({layer.units},rs={layer.return_sequences})"
    elif layer.role is Role.ACTIVATION:
        text = f"{name}({layer.activation})"
    elif layer.role is Role.DROPOUT:
        text = f"{name}({layer.rate})"
    else:
        text = name
    if layer.wrapper is not None:
        text = layer.wrapper.rsplit(".", 1)[-1] + "/" + text
    if layer.repeat > 1:
        text += f"x{layer.repeat}"
    if layer.conditional:
        text += "?"
    return text


def _analyse(source: str) -> tuple[cst.Module, models.Models]:
    module = cst.parse_module(source)
    return module, models.build(build_index(module))


def _summary(source: str) -> list[tuple[str, str | None, list[str], list[str]]]:
    module, found = _analyse(source)
    return [
        (
            m.kind,
            m.name,
            [" ".join(_render(x) for x in s.layers) for s in m.stacks],
            [module.code_for_node(c.node) for c in m.compiles],
        )
        for m in found.models
    ]


CASES = [
    pytest.param(
        """\
import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.Input(shape=(4,)),
    tf.keras.layers.Dense(8, activation="relu"),
    tf.keras.layers.Dense(1),
])
model.compile(loss="mse")
""",
        [
            (
                "sequential",
                "model",
                ["Input Dense(8,relu) Dense(1,linear)"],
                ['model.compile(loss="mse")'],
            )
        ],
        id="sequential-list",
    ),
    pytest.param(
        """\
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense, Dropout, LSTM
model = Sequential(layers=[LSTM(8, return_sequences=True), Dropout(0.2), LSTM(4)])
""",
        [("sequential", "model", ["LSTM(8,rs=True) Dropout(0.2) LSTM(4,rs=False)"], [])],
        id="sequential-layers-keyword",
    ),
    pytest.param(
        """\
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.Input(shape=(20,))])
for _ in range(8):
    model.add(tf.keras.layers.Dense(32, activation="sigmoid"))
model.add(tf.keras.layers.Dense(1, activation="sigmoid"))
model.compile(optimizer="sgd", loss="binary_crossentropy")
""",
        [
            (
                "sequential",
                "model",
                ["Input Dense(32,sigmoid)x8 Dense(1,sigmoid)"],
                ['model.compile(optimizer="sgd", loss="binary_crossentropy")'],
            )
        ],
        id="add-in-range-loop",
    ),
    pytest.param(
        """\
import keras
from keras import layers
model = keras.Sequential()
for _ in range(2):
    model.add(layers.Dense(16, activation="tanh"))
    model.add(layers.BatchNormalization())
for units in (64, 32):
    model.add(layers.Dense(units))
""",
        [
            (
                "sequential",
                "model",
                [
                    "Dense(16,tanh) BatchNormalization Dense(16,tanh) BatchNormalization "
                    "Dense(None,linear)x2"
                ],
                [],
            )
        ],
        id="loop-bodies-unrolled-and-literal-iterables",
    ),
    pytest.param(
        """\
import keras
from keras import layers
def build(n, extra):
    model = keras.Sequential([layers.Dense(4), *extra])
    for _ in range(n):
        model.add(layers.Dense(4, activation="sigmoid"))
    if n > 2:
        model.add(layers.BatchNormalization())
    model.add(make_head())
    return model
""",
        [
            (
                "sequential",
                "model",
                ["Dense(4,linear) ? ? BatchNormalization? ?"],
                [],
            )
        ],
        id="unknowns-splat-unknown-count-conditional-helper",
    ),
    pytest.param(
        """\
import tensorflow.keras as K
hidden = [K.layers.Dense(8, activation="relu") for _ in range(3)]
model = K.Sequential([K.layers.Input((3,))] + hidden + [K.layers.Dense(2, "softmax")])
""",
        [
            (
                "sequential",
                "model",
                ["Input Dense(8,relu)x3 Dense(2,softmax)"],
                [],
            )
        ],
        id="list-concatenation-and-comprehension",
    ),
    pytest.param(
        """\
import tensorflow.keras as K
layers_list = [K.layers.Dense(8)]
layers_list.append(K.layers.Dense(1))
model = K.Sequential(layers_list)
""",
        [("sequential", "model", ["?"], [])],
        id="mutated-list-is-unknown",
    ),
    pytest.param(
        """\
import tensorflow as tf
from tensorflow.keras import layers
inputs = tf.keras.Input(shape=(10, 3))
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(inputs)
for _ in range(3):
    x = layers.GRU(8, return_sequences=True)(x)
    x = layers.Dropout(0.1)(x)
h = layers.LSTM(4)(x)
h = tf.nn.relu(h)
outputs = layers.Dense(10, activation=tf.nn.softmax)(h)
model = tf.keras.Model(inputs=inputs, outputs=outputs)
model.compile("adam", "categorical_crossentropy")
""",
        [
            (
                "functional",
                "model",
                [
                    "Bidirectional/LSTM(8,rs=True) GRU(8,rs=True) Dropout(0.1) GRU(8,rs=True) "
                    "Dropout(0.1) GRU(8,rs=True) Dropout(0.1) LSTM(4,rs=False) relu(relu) "
                    "Dense(10,softmax)"
                ],
                ['model.compile("adam", "categorical_crossentropy")'],
            )
        ],
        id="functional-chain-with-loop",
    ),
    pytest.param(
        """\
from keras import Input, Model, layers
dense = layers.Dense(4, activation="relu")
inp = Input((3,))
out = layers.Dense(1)(dense(inp))
model = Model(inp, out)
""",
        [("functional", "model", ["Dense(4,relu) Dense(1,linear)"], [])],
        id="functional-layer-bound-to-name-and-nested-call",
    ),
    pytest.param(
        """\
import keras
from keras import layers
a = keras.Input((3,))
b = keras.Input((3,))
x = layers.Concatenate()([a, b])
x = layers.Dense(4)(x)
if use_bn:
    x = layers.BatchNormalization()(x)
y = layers.Dense(1, activation="sigmoid")(x)
z = layers.Dense(3, activation="softmax")(x)
model = keras.Model([a, b], [y, z])
""",
        [
            (
                "functional",
                "model",
                [
                    "? Concatenate Dense(4,linear) BatchNormalization? Dense(1,sigmoid)",
                    "? Concatenate Dense(4,linear) BatchNormalization? Dense(3,softmax)",
                ],
                [],
            )
        ],
        id="functional-merge-conditional-two-outputs",
    ),
    pytest.param(
        """\
import tensorflow as tf
from tensorflow.keras import layers

class Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = layers.Dense(64)
        self.act = layers.ReLU()
        self.out = layers.Dense(10)
        self.compile(loss="mse")

    def call(self, inputs, training=False):
        x = self.fc1(inputs)
        x = self.act(x)
        return tf.nn.softmax(self.out(x))

class Bigger(Net):
    def call(self, inputs):
        return self.out(inputs)

net = Net()
net.compile(loss="categorical_crossentropy")
""",
        [
            (
                "subclassed",
                "Net",
                ["Dense(64,linear) ReLU(relu) Dense(10,linear) softmax(softmax)"],
                ['self.compile(loss="mse")', 'net.compile(loss="categorical_crossentropy")'],
            ),
            ("subclassed", "Bigger", ["Dense(10,linear)"], []),
        ],
        id="subclassed-and-subclass-of-model-class",
    ),
    pytest.param(
        """\
import keras

class Net(keras.Model):
    def call(self, inputs):
        if inputs is None:
            return inputs
        return self.head(inputs)
""",
        [("subclassed", "Net", ["?"], [])],
        id="subclassed-call-with-early-return-is-unknown",
    ),
    pytest.param(
        """\
import keras
from keras import layers

def build():
    m = keras.Sequential([layers.Dense(1, activation="sigmoid")])
    return m

model = build()
model.compile(loss="binary_crossentropy")
""",
        [
            (
                "sequential",
                "m",
                ["Dense(1,sigmoid)"],
                ['model.compile(loss="binary_crossentropy")'],
            )
        ],
        id="compile-on-builder-result",
    ),
    pytest.param(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(4)])
model.compile(loss="mse")
model = keras.Sequential([layers.Dense(2)])
model.compile(loss="mae")
""",
        [
            ("sequential", "model", ["Dense(4,linear)"], ['model.compile(loss="mse")']),
            ("sequential", "model", ["Dense(2,linear)"], ['model.compile(loss="mae")']),
        ],
        id="rebinding-splits-compiles",
    ),
    pytest.param(
        """\
import torch
model = Sequential([Dense(4)])
""",
        [],
        id="unresolved-names-are-not-models",
    ),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_models_and_stacks(
    source: str, expected: list[tuple[str, str | None, list[str], list[str]]]
) -> None:
    assert _summary(source) == expected


ACTIVATIONS = [
    pytest.param('Dense(4, activation="tanh")', "tanh", id="string"),
    pytest.param("Dense(4, 'softsign')", "softsign", id="positional"),
    pytest.param("Dense(4)", "linear", id="unspecified"),
    pytest.param("Dense(4, activation=None)", "linear", id="explicit-none"),
    pytest.param("Dense(4, activation=tf.nn.relu)", "relu", id="tf-nn"),
    pytest.param("Dense(4, activation=tf.sigmoid)", "sigmoid", id="tf-top-level"),
    pytest.param("Dense(4, activation=keras.activations.hard_sigmoid)", "hard_sigmoid", id="keras"),
    pytest.param("Dense(4, activation=keras.layers.LeakyReLU(0.1))", "leaky_relu", id="layer"),
    pytest.param("Dense(4, activation=ACT)", "sigmoid", id="constant-name"),
    pytest.param("Dense(4, activation=my_act)", None, id="unknown-function"),
    pytest.param("Dense(4, **kw)", None, id="kwargs"),
    pytest.param("Conv2D(8, 3, activation='relu')", "relu", id="conv"),
    pytest.param("Conv2D(8, 3, 1, 'same', None, 1, 1, 'relu')", "relu", id="conv-positional"),
    pytest.param("LSTM(4)", "tanh", id="recurrent-default"),
    pytest.param("Activation('sigmoid')", "sigmoid", id="activation-layer"),
    pytest.param("Softmax()", "softmax", id="softmax-layer"),
    pytest.param("Softmax(axis=1)", None, id="softmax-other-axis"),
]


@pytest.mark.parametrize(("expr", "expected"), ACTIVATIONS)
def test_activation_resolution(expr: str, expected: str | None) -> None:
    source = (
        "import tensorflow as tf\nimport keras\n"
        "from keras.layers import Dense, Conv2D, LSTM, Activation, Softmax\n"
        'ACT = "sigmoid"\n'
        f"model = keras.Sequential([{expr}])\n"
    )
    _, found = _analyse(source)
    (layer,) = found.models[0].stacks[0].layers
    assert layer.activation == expected


def test_output_of_stack_uses_final_activation_layer_and_previous_units() -> None:
    _, found = _analyse(
        "import keras\nfrom keras import layers\n"
        "m = keras.Sequential([layers.Dense(8), layers.Dense(3), layers.Activation('softmax')])\n"
    )
    stack = found.models[0].stacks[0]
    out = stack.output()
    assert out is not None
    assert (out.activation, out.units, out.layer.short_name) == ("softmax", 3, "Activation")
    assert stack.complete


def test_output_is_none_when_last_layer_unknown() -> None:
    _, found = _analyse(
        "import keras\nfrom keras import layers\n"
        "m = keras.Sequential([layers.Dense(8, activation='softmax'), *rest])\n"
    )
    stack = found.models[0].stacks[0]
    assert stack.output() is None
    assert not stack.complete


def test_layer_at_reads_calls_outside_models() -> None:
    module = cst.parse_module("from keras import layers\ndrop = layers.Dropout(rate=0.3)\n")
    index = build_index(module)
    found = models.build(index)
    (site,) = list(index.calls_to("keras.layers.Dropout"))[:1]
    layer = found.layer_at(site)
    assert (layer.role, layer.rate) == (Role.DROPOUT, 0.3)
