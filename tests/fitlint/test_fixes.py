"""The FL402 fixes applied through the engine: exact results that parse, are idempotent and
keep the file's line endings."""

from __future__ import annotations

import libcst as cst
import pytest

from fitlint.api import lint_source
from fitlint.engine import apply_fixes
from fitlint.model import Config

ONLY = Config(select=("FL402",))

CASES = [
    pytest.param(
        "import keras\nopt = keras.optimizers.Adam(lr=0.001)\n",
        "import keras\nopt = keras.optimizers.Adam(learning_rate=0.001)\n",
        id="lr",
    ),
    pytest.param(
        "import tensorflow as tf\nopt = tf.optimizers.SGD(lr=0.1, momentum=0.9)\n",
        "import tensorflow as tf\nopt = tf.optimizers.SGD(learning_rate=0.1, momentum=0.9)\n",
        id="tf-optimizers-lr",
    ),
    pytest.param(
        "from keras.optimizers import RMSprop\nopt = RMSprop(lr = 1e-3)\n",
        "from keras.optimizers import RMSprop\nopt = RMSprop(learning_rate = 1e-3)\n",
        id="lr-spaced",
    ),
    pytest.param(
        "import keras\nmodel.fit(x, y, nb_epoch=10)\n",
        "import keras\nmodel.fit(x, y, epochs=10)\n",
        id="nb-epoch",
    ),
    pytest.param(
        "import keras\nmodel.fit_generator(gen, nb_epoch=5, verbose=2)\n",
        "import keras\nmodel.fit(gen, epochs=5, verbose=2)\n",
        id="fit-generator-and-nb-epoch",
    ),
    pytest.param(
        "import keras\nloss = model.evaluate_generator(val_gen, steps=20)\n",
        "import keras\nloss = model.evaluate(val_gen, steps=20)\n",
        id="evaluate-generator",
    ),
    pytest.param(
        "import keras\npreds = self.model.predict_generator(test_gen)\n",
        "import keras\npreds = self.model.predict(test_gen)\n",
        id="predict-generator",
    ),
    pytest.param(
        "from keras.layers import Embedding\nemb = Embedding(100, 8, input_length=20)\n",
        "from keras.layers import Embedding\nemb = Embedding(100, 8)\n",
        id="embedding-last",
    ),
    pytest.param(
        "from keras.layers import Embedding\n"
        "emb = Embedding(100, 8, input_length=20, mask_zero=True)\n",
        "from keras.layers import Embedding\nemb = Embedding(100, 8, mask_zero=True)\n",
        id="embedding-middle",
    ),
    pytest.param(
        "from keras.layers import Embedding\n"
        "emb = Embedding(input_length=20, input_dim=100, output_dim=8)\n",
        "from keras.layers import Embedding\nemb = Embedding(input_dim=100, output_dim=8)\n",
        id="embedding-first",
    ),
    pytest.param(
        "from keras.layers import Embedding\nemb = Embedding(100, 8, input_length=20,)\n",
        "from keras.layers import Embedding\nemb = Embedding(100, 8,)\n",
        id="embedding-trailing-comma",
    ),
    pytest.param(
        "from keras.layers import Embedding\nemb = (Embedding(100, 8, input_length=20))\n",
        "from keras.layers import Embedding\nemb = (Embedding(100, 8))\n",
        id="embedding-parenthesized",
    ),
    pytest.param(
        "import keras\n"
        "emb = keras.layers.Embedding(\n"
        "    100,\n"
        "    8,\n"
        "    input_length=20  # the padded length\n"
        ")\n",
        "import keras\nemb = keras.layers.Embedding(\n    100,\n    8\n)\n",
        id="embedding-multiline-last",
    ),
    pytest.param(
        "import keras\n"
        "emb = keras.layers.Embedding(\n"
        "    100,\n"
        "    8,  # width\n"
        "    input_length=20,  # padded\n"
        ")\n",
        "import keras\nemb = keras.layers.Embedding(\n    100,\n    8,  # width\n)\n",
        id="embedding-multiline-trailing-comma-comments",
    ),
    pytest.param(
        "import keras\n"
        "emb = keras.layers.Embedding(\n"
        "    100,\n"
        "    8,  # width\n"
        "    input_length=20\n"
        ")\n",
        "import keras\nemb = keras.layers.Embedding(\n    100,\n    8  # width\n)\n",
        id="embedding-multiline-comment-on-new-last",
    ),
    pytest.param(
        "import keras\nemb = keras.layers.Embedding(100, 8, input_length=20  # padded\n)\n",
        "import keras\nemb = keras.layers.Embedding(100, 8\n)\n",
        id="embedding-comment-before-paren",
    ),
    pytest.param(
        "import keras\n"
        "model = keras.Sequential([\n"
        "    keras.layers.Embedding(\n"
        "        input_dim=100,\n"
        "        input_length=20,\n"
        "        output_dim=8,\n"
        "    ),\n"
        "    keras.layers.LSTM(8),\n"
        "])\n",
        "import keras\n"
        "model = keras.Sequential([\n"
        "    keras.layers.Embedding(\n"
        "        input_dim=100,\n"
        "        output_dim=8,\n"
        "    ),\n"
        "    keras.layers.LSTM(8),\n"
        "])\n",
        id="embedding-multiline-middle",
    ),
    pytest.param(
        "import keras\n"
        "opt = keras.optimizers.Adam(lr=1e-3)\n"
        "model.compile(optimizer=opt, loss='mse')\n"
        "model.fit_generator(gen, nb_epoch=3)\n"
        "emb = keras.layers.Embedding(10, 4, input_length=5)\n",
        "import keras\n"
        "opt = keras.optimizers.Adam(learning_rate=1e-3)\n"
        "model.compile(optimizer=opt, loss='mse')\n"
        "model.fit(gen, epochs=3)\n"
        "emb = keras.layers.Embedding(10, 4)\n",
        id="several-in-one-file",
    ),
]


def _fix(source: str) -> tuple[str, int]:
    result = lint_source(source, "train.py", ONLY, force=True)
    assert result.error is None
    return apply_fixes(source, result.findings)


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_fix_gives_exact_source(source: str, expected: str) -> None:
    fixed, applied = _fix(source)
    assert applied >= 1
    assert fixed == expected
    cst.parse_module(fixed)  # raises when the fix broke the syntax


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_fix_is_idempotent(source: str, expected: str) -> None:
    fixed, _ = _fix(source)
    again = lint_source(fixed, "train.py", ONLY, force=True)
    assert [f for f in again.findings if f.fix is not None] == []
    assert apply_fixes(fixed, again.findings) == (fixed, 0)


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_fix_keeps_crlf_line_endings(source: str, expected: str) -> None:
    fixed, applied = _fix(source.replace("\n", "\r\n"))
    assert applied >= 1
    assert fixed == expected.replace("\n", "\r\n")


def test_decay_is_reported_without_a_fix() -> None:
    source = "import keras\nopt = keras.optimizers.SGD(learning_rate=0.1, decay=1e-6)\n"
    result = lint_source(source, "train.py", ONLY, force=True)
    (finding,) = result.findings
    assert finding.fix is None
    assert "LearningRateSchedule" in finding.message
    assert apply_fixes(source, result.findings) == (source, 0)
