"""The architecture rules (FL301-FL307) beyond their embedded examples, table-driven.

Each case lists the (code, line) findings expected from the architecture family alone; an
empty list means silence. A few slow tests build the flagged models with real Keras to check
that what the rules claim (a build failure, a constant output, a constant loss) is true.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

from fitlint.api import lint_source
from fitlint.engine import apply_fixes
from fitlint.model import Config

FAMILY = Config(select=("FL3",))


def _findings(source: str, config: Config = FAMILY) -> list[tuple[str, int]]:
    result = lint_source(source, "model.py", config, force=True)
    assert result.error is None, result.error
    return [(f.code, f.line) for f in result.findings if f.code.startswith("FL3")]


def _case(
    source: str,
    expected: list[tuple[str, int]],
    *,
    id: str,
    options: Mapping[str, Mapping[str, float | int]] | str | None = "family",
) -> Any:
    """A case; ``options`` are rule thresholds, None for the default rule set."""
    if options is None:
        config = Config()
    elif isinstance(options, str):
        config = FAMILY
    else:
        config = Config(select=("FL3",), options=options)
    return pytest.param(source, expected, config, id=id)


CASES = [
    # ---- FL301 deep-stacked-rnn ----------------------------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([keras.Input((20, 3))])
for _ in range(5):
    model.add(layers.LSTM(16, return_sequences=True))
model.add(layers.LSTM(16))
""",
        [("FL301", 5)],
        id="FL301-loop-counts-each-iteration",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.GRU(16, return_sequences=True),
    layers.LayerNormalization(),
    layers.GRU(16, return_sequences=True),
    layers.Dropout(0.2),
    layers.GRU(16, return_sequences=True),
    layers.BatchNormalization(),
    layers.GRU(16, return_sequences=True),
    layers.Activation("tanh"),
    layers.Bidirectional(layers.GRU(16)),
])
""",
        [("FL301", 12)],
        id="FL301-normalization-and-dropout-do-not-break-the-stack",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.LSTM(8, return_sequences=True)])
model.add(layers.LSTM(8, return_sequences=True))
model.add(layers.LSTM(8, return_sequences=True))
if deep:
    model.add(layers.LSTM(8, return_sequences=True))
model.add(layers.LSTM(8, return_sequences=True))
model.add(layers.LSTM(8))
""",
        [],
        id="FL301-conditional-layer-breaks-the-stack",
    ),
    _case(
        """\
import keras
from keras import layers
inputs = keras.Input((10, 4))
x = layers.LSTM(8, return_sequences=True)(inputs)
x = layers.LSTM(8, return_sequences=True)(x)
y = layers.LSTM(8, return_sequences=True)(x)
x = layers.Add()([x, y])
x = layers.LSTM(8, return_sequences=True)(x)
x = layers.LSTM(8)(x)
model = keras.Model(inputs, x)
""",
        [],
        id="FL301-residual-merge-ends-the-chain",
    ),
    _case(
        """\
import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.layers.SimpleRNN(8, return_sequences=True),
    tf.keras.layers.SimpleRNN(8, return_sequences=True),
    tf.keras.layers.SimpleRNN(8),
])
""",
        [("FL301", 5)],
        id="FL301-threshold-from-options",
        options=({"deep-stacked-rnn": {"max_recurrent": 2}}),
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    keras.Input((None, 40, 40, 1)),
    layers.ConvLSTM2D(64, (5, 5), padding="same", return_sequences=True),
    layers.BatchNormalization(),
    layers.ConvLSTM2D(64, (3, 3), padding="same", return_sequences=True),
    layers.BatchNormalization(),
    layers.ConvLSTM2D(64, (1, 1), padding="same", return_sequences=True),
    layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same"),
])
""",
        [],
        id="FL301-convlstm-video-model-not-counted",
    ),
    # ---- FL302 rnn-missing-return-sequences -------------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.LSTM(32),
    layers.Reshape((1, 32)),
    layers.LSTM(16),
])
""",
        [],
        id="FL302-reshape-restores-a-sequence",
    ),
    _case(
        """\
from tensorflow.keras.layers import LSTM, ConvLSTM2D, Dense
from tensorflow.keras.models import Sequential
encoder = LSTM(32, return_sequences=False)
model = Sequential()
model.add(encoder)
model.add(LSTM(16))
model.add(Dense(1))
""",
        [("FL302", 3)],
        id="FL302-layer-bound-to-a-name-is-reported-at-its-constructor",
    ),
    _case(
        """\
import keras
from keras import layers
def build(**kw):
    return keras.Sequential([layers.GRU(8, **kw), layers.GRU(8)])
""",
        [],
        id="FL302-kwargs-may-set-the-flag",
    ),
    _case(
        """\
import keras
from keras import layers
class Encoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.rnn1 = layers.GRU(16)
        self.rnn2 = layers.GRU(16)
    def call(self, inputs):
        return self.rnn2(self.rnn1(inputs))
""",
        [("FL302", 6)],
        id="FL302-subclassed-nested-calls",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    keras.Input((None, 40, 40, 1)),
    layers.ConvLSTM2D(16, (3, 3), padding="same"),
    layers.ConvLSTM2D(16, (3, 3), padding="same"),
])
""",
        [("FL302", 5)],
        id="FL302-convlstm",
    ),
    # ---- FL303 deep-saturating-activations --------------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([keras.Input((8,))])
for units in [64, 64, 64]:
    model.add(layers.Dense(units, activation="tanh"))
model.add(layers.Dense(1))
""",
        [("FL303", 5)],
        id="FL303-loop-over-a-literal-list",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(64, activation="sigmoid"),
    layers.GroupNormalization(groups=4),
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(1, activation="sigmoid"),
])
""",
        [],
        id="FL303-group-normalization-breaks-the-run",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(64),
    layers.Activation("sigmoid"),
])
""",
        [],
        id="FL303-final-dense-with-activation-layer-is-the-output",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(64, activation="sigmoid"),
    layers.Dense(64, activation="sigmoid"),
    *head_layers,
])
""",
        [],
        id="FL303-unknown-tail-keeps-the-last-dense-as-output",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(64, activation="tanh"),
    layers.Dense(64, activation="tanh"),
    layers.Dense(64, activation="tanh"),
    layers.Dense(1),
])
""",
        [],
        id="FL303-threshold-from-options",
        options=({"FL303": {"max_saturating": 3}}),
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([keras.Input((8,))])
for _ in range(3):
    model.add(layers.Dense(32, activation="softsign"))
""",
        [],
        id="FL303-last-iteration-of-a-final-loop-is-the-output",
    ),
    # ---- FL304 output-activation-loss-mismatch ----------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
""",
        [],
        id="FL304-logit-unit-with-from-logits",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
model.compile("adam", "binary_crossentropy")
""",
        [("FL304", 4)],
        id="FL304-linear-output-probability-loss-positional",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8), layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(True))
""",
        [("FL304", 4), ("FL306", 3)],
        id="FL304-from-logits-positional",
    ),
    _case(
        """\
import keras
from keras import layers
def build(n_classes):
    return keras.Sequential([layers.Dense(n_classes, activation="softmax")])
model = build(10)
model.compile(optimizer="adam", loss="binary_crossentropy")
""",
        [],
        id="FL304-unknown-units-no-binary-softmax-finding",
    ),
    _case(
        """\
import keras
from keras import layers
def build():
    model = keras.Sequential([layers.Dense(4, activation="relu")])
    return model
model = build()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
""",
        [("FL304", 7)],
        id="FL304-compile-on-builder-result",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(4, activation="softmax")])
model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=LOGITS))
""",
        [],
        id="FL304-unknown-from-logits",
    ),
    _case(
        """\
import keras
from keras import layers
inputs = keras.Input((4,))
a = layers.Dense(1, activation="sigmoid")(inputs)
b = layers.Dense(3)(inputs)
model = keras.Model(inputs, [a, b])
model.compile(optimizer="adam", loss="binary_crossentropy")
""",
        [],
        id="FL304-multi-output-is-skipped",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(10), layers.Activation("softmax")])
model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
""",
        [("FL304", 4)],
        id="FL304-final-activation-layer",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(1, activation="tanh")])
model.compile(optimizer="adam", loss="mse")
""",
        [],
        id="FL304-regression-loss-ignored",
    ),
    # ---- FL305 single-unit-softmax ----------------------------------------------------
    _case(
        """\
import keras
from keras import layers
score = layers.TimeDistributed(layers.Dense(1, activation="softmax"))
""",
        [("FL305", 3)],
        id="FL305-outside-any-model",
    ),
    _case(
        """\
import tensorflow as tf
inputs = tf.keras.Input((16,))
x = tf.keras.layers.Dense(1)(inputs)
outputs = tf.nn.softmax(x)
model = tf.keras.Model(inputs, outputs)
""",
        [("FL305", 3)],
        id="FL305-softmax-function-after-one-unit",
    ),
    _case(
        """\
import tensorflow as tf
inputs = tf.keras.Input((20, 16))
x = tf.keras.layers.Dense(1)(inputs)
outputs = tf.nn.softmax(x, axis=1)
model = tf.keras.Model(inputs, outputs)
""",
        [],
        id="FL305-softmax-over-another-axis",
    ),
    # ---- FL306 missing-hidden-activation ----------------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([keras.Input((8,))])
for _ in range(3):
    model.add(layers.Dense(32))
model.add(layers.Dense(1, activation="sigmoid"))
""",
        [("FL306", 5)],
        id="FL306-linear-dense-repeated-in-a-loop",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(32),
    layers.LeakyReLU(),
    layers.Dense(32),
    layers.PReLU(),
    layers.Dense(1),
])
""",
        [],
        id="FL306-activation-layers",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(32),
    layers.Activation("linear"),
    layers.Dense(1),
])
""",
        [("FL306", 4)],
        id="FL306-linear-activation-layer-is-no-activation",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Dense(32),
    layers.LayerNormalization(),
    layers.Dense(1),
])
""",
        [],
        id="FL306-normalization-between-is-left-alone",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([
    layers.Conv1D(16, 3),
    layers.Conv1D(16, 3, activation="relu"),
    layers.Conv2DTranspose(8, 3),
    layers.Conv2D(1, 3),
])
""",
        [("FL306", 4)],
        id="FL306-conv1d-and-transposed-conv-left-out",
    ),
    # ---- FL307 dropout-rate-too-high --------------------------------------------------
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8), layers.AlphaDropout(0.6), layers.Dense(1)])
""",
        [("FL306", 3)],
        id="FL307-off-by-default",
        options=(None),
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8, activation="relu"), layers.AlphaDropout(0.6)])
""",
        [("FL307", 3)],
        id="FL307-alpha-dropout",
    ),
    _case(
        """\
import keras
from keras import layers
model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dropout(0.8)])
""",
        [],
        id="FL307-threshold-from-options",
        options=({"dropout-rate-too-high": {"max_rate": 0.8}}),
    ),
]


@pytest.mark.parametrize(("source", "expected", "config"), CASES)
def test_architecture_findings(
    source: str, expected: list[tuple[str, int]], config: Config
) -> None:
    assert sorted(_findings(source, config)) == sorted(expected)


def test_fix_replaces_explicit_false() -> None:
    source = (
        "import keras\nfrom keras import layers\n"
        "model = keras.Sequential([layers.GRU(8, return_sequences=False), layers.GRU(4)])\n"
    )
    result = lint_source(source, "m.py", Config(select=("FL302",)), force=True)
    fixed, applied = apply_fixes(source, result.findings)
    assert applied == 1
    assert "layers.GRU(8, return_sequences=True), layers.GRU(4)" in fixed


def test_no_fix_for_a_layer_repeated_in_a_loop() -> None:
    source = (
        "import keras\nfrom keras import layers\nmodel = keras.Sequential()\n"
        "for _ in range(2):\n    model.add(layers.LSTM(8))\n"
    )
    result = lint_source(source, "m.py", Config(select=("FL302",)), force=True)
    assert [(f.code, f.line, f.fix) for f in result.findings] == [("FL302", 5, None)]


def test_report_ranges_cover_the_layer_call() -> None:
    source = (
        "import keras\nfrom keras import layers\nmodel = keras.Sequential([\n"
        "    layers.Dense(64, activation='tanh'),\n"
        "    layers.Dense(64, activation='tanh'),\n"
        "    layers.Dense(64, activation='tanh'),\n"
        "    layers.Dense(1),\n])\n"
    )
    result = lint_source(source, "m.py", Config(select=("FL303",)), force=True)
    (finding,) = result.findings
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (4, 5, 4, 40)
    assert finding.message.startswith("3 consecutive hidden layers use saturating activations")


# ---- the claims, checked with real Keras ------------------------------------------------


def _run(source: str) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    namespace: dict[str, Any] = {}
    exec(compile(source, "example.py", "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_fl302_examples_fail_to_build_and_their_fixes_build() -> None:
    from fitlint.rules.architecture import RnnMissingReturnSequences

    example = RnnMissingReturnSequences.invalid[0]
    assert example.fixed is not None
    with pytest.raises(ValueError, match="ndim"):
        _run(example.code)
    model = _run(example.fixed)["model"]
    assert model.output_shape == (None, 1)


@pytest.mark.slow
def test_fl305_single_unit_softmax_predicts_a_constant() -> None:
    import numpy as np

    model = _run(
        "import keras\nfrom keras import layers\n"
        "model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation='relu'),"
        " layers.Dense(1, activation='softmax')])\n"
    )["model"]
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0), 1.0)
    assert _findings(
        "import keras\nfrom keras import layers\nlayers.Dense(1, activation='softmax')\n"
    ) == [("FL305", 3)]


@pytest.mark.slow
def test_fl304_categorical_crossentropy_on_one_unit_is_constant() -> None:
    import numpy as np

    source = (
        "import keras\nfrom keras import layers\n"
        "model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation='sigmoid')])\n"
        "model.compile(optimizer='sgd', loss='categorical_crossentropy')\n"
    )
    assert _findings(source) == [("FL304", 4)]
    model = _run(source)["model"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 2, size=(64, 1)).astype("float32")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(0.0, abs=1e-6)


def test_fix_keeps_one_argument_per_line_layout() -> None:
    source = (
        "import keras\nfrom keras import layers\nmodel = keras.Sequential([\n"
        "    layers.LSTM(\n        64,\n        dropout=0.1,\n    ),\n    layers.LSTM(8),\n])\n"
    )
    result = lint_source(source, "m.py", Config(select=("FL302",)), force=True)
    fixed, applied = apply_fixes(source, result.findings)
    assert applied == 1
    assert fixed == (
        "import keras\nfrom keras import layers\nmodel = keras.Sequential([\n"
        "    layers.LSTM(\n        64,\n        dropout=0.1,\n        return_sequences=True,\n"
        "    ),\n    layers.LSTM(8),\n])\n"
    )
