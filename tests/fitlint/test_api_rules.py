"""Table-driven tests of the api rules beyond their embedded examples."""

from __future__ import annotations

import pytest

from fitlint.api import lint_source
from fitlint.model import Config, Finding


def _findings(source: str, code: str) -> list[Finding]:
    result = lint_source(source, "train.py", Config(select=(code,)), force=True)
    assert result.error is None
    return [f for f in result.findings if f.code == code]


def _lines(source: str, code: str) -> list[int]:
    return [f.line for f in _findings(source, code)]


SEQ = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1)])\n"

FIT_ARGUMENT_IN_COMPILE = [
    pytest.param(SEQ + "model.compile(loss='mse', shuffle=True)\n", [3], id="shuffle"),
    pytest.param(SEQ + "model.compile(loss='mse', callbacks=[cb])\n", [3], id="callbacks"),
    pytest.param(SEQ + "model.fit(x, y, metrics=['mae'])\n", [3], id="metrics-in-fit"),
    pytest.param(SEQ + "model.fit(x, y, jit_compile=True)\n", [3], id="jit-compile-in-fit"),
    pytest.param(
        SEQ + "model.compile(loss='mse', epochs=3, batch_size=8)\n", [3, 3], id="two-arguments"
    ),
    pytest.param(
        "import keras\nnet = keras.models.load_model('m.keras')\n"
        "net.compile(loss='mse', validation_data=(x, y))\n",
        [3],
        id="loaded-model",
    ),
    pytest.param(
        "import keras\nnet = keras.applications.MobileNetV2(weights=None)\n"
        "net.fit(x, y, loss='mse')\n",
        [3],
        id="applications-model",
    ),
    pytest.param(
        "import keras\nm.compile(optimizer='adam', sample_weight=w)\n",
        [2],
        id="unknown-receiver-with-keras-keywords",
    ),
    pytest.param(
        "import keras\nm.fit(x, y, validation_split=0.1, loss='mse')\n",
        [2],
        id="unknown-receiver-fit-with-keras-keywords",
    ),
    pytest.param("import keras\nm.compile(verbose=1)\n", [], id="unknown-receiver-no-sign"),
    pytest.param("import keras\nm.fit(x, y, metrics=['acc'])\n", [], id="unknown-fit-no-sign"),
    pytest.param(
        "import re\nimport keras\npat = re.compile('a+', epochs=3)\n", [], id="re-compile"
    ),
    pytest.param(
        "import keras\nimport xgboost\nclf = xgboost.XGBClassifier()\n"
        "clf.fit(x, y, epochs=3, loss='x')\n",
        [],
        id="non-keras-model",
    ),
    pytest.param(
        "import sqlalchemy\nq.compile(optimizer=1, epochs=2)\n", [], id="file-without-keras"
    ),
    pytest.param(
        "from keras import Model\n"
        "class Net(Model):\n"
        "    def setup(self):\n"
        "        self.compile(optimizer='adam', callbacks=[])\n",
        [4],
        id="self-in-model-class",
    ),
    pytest.param(
        "import keras\nclass Helper:\n    def setup(self):\n        self.compile(verbose=True)\n",
        [],
        id="self-in-other-class",
    ),
]


FIT_ARGUMENT_IN_COMPILE += [
    pytest.param(
        "import keras\n"
        "class Trainer:\n"
        "    def fit(self, x, y, epochs=1, loss=None):\n"
        "        pass\n"
        "trainer = Trainer()\n"
        "trainer.fit(x, y, epochs=3, loss='mse')\n",
        [],
        id="file-defines-fit-taking-loss",
    ),
    pytest.param(
        "import keras\n"
        "class Wrapper:\n"
        "    def compile(self, **kwargs):\n"
        "        self.kwargs = kwargs\n"
        "w = Wrapper()\n"
        "w.compile(optimizer='adam', loss='mse', epochs=3)\n",
        [],
        id="file-defines-compile-taking-anything",
    ),
    pytest.param(
        "import keras\n"
        "class GAN(keras.Model):\n"
        "    def compile(self, d_optimizer, g_optimizer, loss_fn):\n"
        "        super().compile()\n"
        "gan = GAN()\n"
        "gan.compile(d_optimizer=a, g_optimizer=b, loss_fn=c, epochs=3)\n",
        [6],
        id="overridden-compile-still-rejects-epochs",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FIT_ARGUMENT_IN_COMPILE)
def test_fit_argument_in_compile(source: str, expected: list[int]) -> None:
    assert _lines(source, "FL401") == expected


def test_fit_argument_in_compile_points_at_the_keyword() -> None:
    (finding,) = _findings(SEQ + "model.compile(loss='mse', epochs=10, metrics=['mae'])\n", "FL401")
    assert (finding.line, finding.column, finding.end_column) == (3, 27, 36)
    assert finding.message == (
        "`epochs` is an argument of `fit()`, not `compile()`; Keras raises TypeError"
    )
    assert finding.severity.value == "error"


REMOVED = [
    pytest.param("import keras\nopt = keras.optimizers.Adam(lr=1e-3)\n", [2], id="lr"),
    pytest.param("import tensorflow as tf\nopt = tf.optimizers.SGD(lr=0.1)\n", [2], id="tf-lr"),
    pytest.param(
        "import keras\nopt = keras.optimizers.RMSprop(lr=1e-3, decay=1e-6)\n",
        [2, 2],
        id="lr-and-decay",
    ),
    pytest.param("import torch\nimport keras\nopt = torch.optim.SGD(p, lr=0.1)\n", [], id="torch"),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, decay_rate=0.9)\n",
        [],
        id="schedule-decay-rate",
    ),
    pytest.param("import keras\nmodel.fit(x, y, nb_epoch=3)\n", [2], id="nb-epoch"),
    pytest.param(
        "import keras\nmodel.fit_generator(gen, nb_epoch=3)\n", [2, 2], id="nb-epoch-generator"
    ),
    pytest.param("import keras\nmodel.predict_generator(gen, steps=3)\n", [2], id="predict"),
    pytest.param("import keras\nmodel.evaluate_generator(gen)\n", [2], id="evaluate"),
    pytest.param(
        "import keras\nfrom sklearn.svm import SVC\nclf = SVC()\nclf.fit(x, y, nb_epoch=2)\n",
        [],
        id="non-keras-receiver",
    ),
    pytest.param(
        "from keras.layers import Embedding\nemb = Embedding(10, 4, input_length=3)\n",
        [2],
        id="embedding",
    ),
    pytest.param(
        "from keras.layers import Embedding\nemb = Embedding(10, 4, mask_zero=True)\n",
        [],
        id="embedding-fine",
    ),
    pytest.param("import numpy as np\nmodel.fit_generator(gen)\n", [], id="file-without-keras"),
    pytest.param(
        "import keras\n"
        "class Legacy:\n"
        "    def fit_generator(self, gen):\n"
        "        return self.model.fit(gen)\n"
        "Legacy().fit_generator(gen)\n",
        [],
        id="file-defines-fit-generator",
    ),
    pytest.param(
        "import keras\ndef fit(x, y, nb_epoch=1):\n    return x\nrunner.fit(x, y, nb_epoch=3)\n",
        [],
        id="file-defines-fit-taking-nb-epoch",
    ),
    pytest.param(
        "import keras\nemb = keras.layers.Embedding(100, output_dim=8)\n",
        [],
        id="embedding-output-dim",
    ),
    pytest.param(
        "import keras\nlayer = keras.layers.GRU(output_dim=8)\n", [2], id="gru-output-dim"
    ),
    pytest.param(
        "from keras.optimizers import rmsprop\nopt = rmsprop(lr=0.01)\n", [2, 2], id="alias-and-lr"
    ),
    pytest.param(
        SEQ + "model.compile(loss='mse', optimizer='sgd', class_mode='binary')\n",
        [3],
        id="class-mode",
    ),
    pytest.param(SEQ + "model.fit(x, y, show_accuracy=True)\n", [3], id="show-accuracy-fit"),
    pytest.param(
        "import keras\nfrom sklearn.svm import SVC\n"
        "clf = SVC()\nclf.fit(x, y, show_accuracy=True)\n",
        [],
        id="show-accuracy-non-keras-receiver",
    ),
    pytest.param(
        "import keras\ndef evaluate(x, y, show_accuracy=False):\n    return x\n"
        "runner.evaluate(x, y, show_accuracy=True)\n",
        [],
        id="file-defines-evaluate-taking-show-accuracy",
    ),
]


@pytest.mark.parametrize(("source", "expected"), REMOVED)
def test_removed_keras_argument(source: str, expected: list[int]) -> None:
    assert _lines(source, "FL402") == expected


NO_FIX = [
    pytest.param(
        "import keras\nopt = keras.optimizers.Adam(lr=1e-3, learning_rate=1e-3)\n",
        id="lr-and-learning-rate",
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.SGD(0.1, lr=0.01)\n", id="lr-and-positional"
    ),
    pytest.param("import keras\nmodel.fit(x, y, epochs=2, nb_epoch=3)\n", id="nb-epoch-and-epochs"),
    pytest.param("import keras\nmodel.fit_generator(gen, 100, 10)\n", id="generator-positional"),
    pytest.param("import keras\nmodel.fit_generator(*args)\n", id="generator-star-args"),
    pytest.param("import keras\nmodel.fit_generator(generator=gen)\n", id="generator-keyword"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(decay=1e-4)\n", id="decay"),
    pytest.param(
        "import keras\nlayer = keras.layers.Dense(16, output_dim=8)\n", id="output-dim-and-units"
    ),
    pytest.param("import keras\nm = keras.Model(a, b, output=c)\n", id="output-and-positional"),
    pytest.param("from keras.optimizers import adam\nopt = adam()\n", id="imported-alias"),
    pytest.param(SEQ + "model.evaluate(x, y, show_accuracy=True)\n", id="show-accuracy"),
]


@pytest.mark.parametrize("source", NO_FIX)
def test_removed_keras_argument_without_safe_rewrite_offers_no_fix(source: str) -> None:
    findings = _findings(source, "FL402")
    assert findings
    assert all(f.fix is None for f in findings)


FIT_BEFORE_COMPILE = [
    pytest.param(SEQ + "model.fit(x, y)\n", [3], id="never-compiled"),
    pytest.param(SEQ + "model.compile(loss='mse')\nmodel.fit(x, y)\n", [], id="compiled"),
    pytest.param(SEQ + "model.fit(x, y)\nmodel.compile(loss='mse')\n", [3], id="compiled-after"),
    pytest.param(
        SEQ + "model.summary()\nkeras.utils.plot_model(model)\nprint(model)\nmodel.fit(x, y)\n",
        [6],
        id="harmless-uses",
    ),
    pytest.param(
        SEQ + "other = model\nother.compile(loss='mse')\nmodel.fit(x, y)\n", [], id="alias"
    ),
    pytest.param(SEQ + "trainer.prepare([model])\nmodel.fit(x, y)\n", [], id="passed-in-a-list"),
    pytest.param(
        SEQ + "def show(m):\n    print(m)\nshow(model)\nmodel.fit(x, y)\n",
        [6],
        id="passed-to-helper-that-does-not-compile",
    ),
    pytest.param(
        "import keras\n"
        "def configure(m):\n"
        "    finish(m)\n"
        "def finish(m):\n"
        "    m.compile(loss='mse')\n"
        "model = keras.Sequential()\n"
        "configure(model)\n"
        "model.fit(x, y)\n",
        [],
        id="helper-compiles-indirectly",
    ),
    pytest.param(
        "import keras\nmodel = keras.models.clone_model(base)\nmodel.fit(x, y)\n",
        [3],
        id="clone-model",
    ),
    pytest.param(
        "import keras\nmodel = keras.saving.load_model('m.keras')\nmodel.fit(x, y)\n",
        [],
        id="loaded",
    ),
    pytest.param("import keras\nmodel = get_model()\nmodel.fit(x, y)\n", [], id="unknown-source"),
    pytest.param(
        "import keras\n"
        "model = keras.Sequential()\n"
        "def train():\n"
        "    model.fit(x, y)\n"
        "model.compile(loss='mse')\n"
        "train()\n",
        [],
        id="fit-in-other-scope",
    ),
    pytest.param(
        SEQ + "while True:\n    model.fit(x, y)\n    model.compile(loss='mse')\n",
        [],
        id="compile-later-in-loop",
    ),
    pytest.param(
        "import keras\nfor i in range(3):\n    model = keras.Sequential()\n    model.fit(x, y)\n",
        [4],
        id="rebuilt-in-loop",
    ),
    pytest.param(
        "import keras\n"
        "class Base(keras.Model):\n"
        "    def compile(self, **kw):\n"
        "        super().compile(optimizer='adam', loss='mse')\n"
        "class Net(Base):\n"
        "    pass\n"
        "net = Net()\n"
        "net.fit(x, y)\n",
        [],
        id="base-class-overrides-compile",
    ),
    pytest.param(
        "import keras\n"
        "class Base(keras.Model):\n"
        "    pass\n"
        "class Net(Base):\n"
        "    pass\n"
        "net = Net()\n"
        "net.fit(x, y)\n",
        [7],
        id="derived-model-class",
    ),
    pytest.param(
        "import keras\n"
        "def build(kind):\n"
        "    if kind == 'small':\n"
        "        return keras.Sequential([keras.layers.Dense(1)])\n"
        "    return keras.models.load_model('big.keras')\n"
        "model = build('small')\n"
        "model.fit(x, y)\n",
        [],
        id="builder-may-load",
    ),
    pytest.param(
        "import keras\n"
        "def build():\n"
        "    m = keras.Sequential()\n"
        "    if deep:\n"
        "        m.add(keras.layers.Dense(8))\n"
        "        return m\n"
        "    return keras.Sequential()\n"
        "model = build()\n"
        "model.fit(x, y)\n",
        [9],
        id="builder-with-branches",
    ),
    pytest.param(
        "import keras\n"
        "model = keras.Sequential()\n"
        "model = keras.models.load_model('m.keras')\n"
        "model.fit(x, y)\n",
        [],
        id="rebound-to-loaded",
    ),
    pytest.param(
        "import sklearn\nmodel = keras_like.Sequential()\nmodel.fit(x, y)\n",
        [],
        id="file-without-keras",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FIT_BEFORE_COMPILE)
def test_fit_before_compile(source: str, expected: list[int]) -> None:
    assert _lines(source, "FL403") == expected
