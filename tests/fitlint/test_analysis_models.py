"""The per-call-site model questions of fitlint.analysis.models, table-driven: where a model
comes from, whether a receiver is a Keras model, whether a fit() runs uncompiled."""

from __future__ import annotations

import libcst as cst
import pytest

from fitlint.analysis.index import CallSite, build_index
from fitlint.analysis.models import COMPILED, FRESH, Models

HEADER = "import keras\nimport re\nfrom sklearn.linear_model import Ridge\n"


def _models(body: str) -> tuple[Models, list[CallSite]]:
    index = build_index(cst.parse_module(HEADER + body))
    return Models(index), [s for s in index.calls if s.method in ("fit", "compile")]


ORIGINS = [
    pytest.param("m = keras.Sequential()\n", FRESH, id="constructor"),
    pytest.param("m = keras.applications.ResNet50()\n", FRESH, id="application"),
    pytest.param("m = keras.models.load_model('a.keras')\n", COMPILED, id="loaded"),
    pytest.param(
        "class Net(keras.Model):\n    pass\nm = Net()\n", FRESH, id="model-class-instance"
    ),
    pytest.param(
        "class Net(keras.Model):\n    def train_step(self, d):\n        pass\nm = Net()\n",
        COMPILED,
        id="class-overriding-training",
    ),
    pytest.param(
        "def build():\n    n = keras.Sequential()\n    n.compile('adam', 'mse')\n    return n\n"
        "m = build()\n",
        COMPILED,
        id="builder-that-compiles",
    ),
    pytest.param(
        "def build():\n    return keras.Sequential()\nm = build()\n", FRESH, id="fresh-builder"
    ),
    pytest.param("m = Ridge()\n", None, id="not-keras"),
]


@pytest.mark.parametrize(("body", "expected"), ORIGINS)
def test_origin(body: str, expected: str | None) -> None:
    models, _ = _models(body)
    assign = models.bindings.everywhere("m")[-1]
    assert models.origin(assign.value) == expected


RECEIVERS = [
    pytest.param("m = keras.Sequential()\nm.compile(loss='mse')\n", True, id="model"),
    pytest.param("m = Ridge()\nm.fit(x, y)\n", False, id="other-library"),
    pytest.param("re.compile('x')\n", False, id="imported-module"),
    pytest.param("m.fit(x, y)\n", None, id="unknown"),
    pytest.param(
        "class Net(keras.Model):\n    def setup(self):\n        self.compile(loss='mse')\n",
        True,
        id="self-in-model-class",
    ),
]


@pytest.mark.parametrize(("body", "expected"), RECEIVERS)
def test_receiver_is_model(body: str, expected: bool | None) -> None:
    models, sites = _models(body)
    assert models.receiver_is_model(sites[-1]) is expected


UNCOMPILED = [
    pytest.param("m = keras.Sequential()\nm.fit(x, y)\n", True, id="fresh"),
    pytest.param("m = keras.Sequential()\nm.compile(loss='mse')\nm.fit(x, y)\n", False, id="ok"),
    pytest.param(
        "m = keras.Sequential()\nfor e in range(3):\n    m.fit(x, y)\n    m.compile(loss='mse')\n",
        False,
        id="compiled-later-in-the-loop",
    ),
    pytest.param(
        "m = keras.Sequential()\nwhile go:\n    m.fit(x, y)\n    m.compile(loss='mse')\n",
        False,
        id="compiled-later-in-the-while",
    ),
    pytest.param(
        "m = keras.Sequential()\nprepare(m)\nm.fit(x, y)\n", False, id="passed-to-unknown"
    ),
    pytest.param("m = keras.Sequential()\nprint(m)\nm.fit(x, y)\n", True, id="passed-to-print"),
    pytest.param("m = keras.Sequential()\nn = m\nm.fit(x, y)\n", False, id="aliased"),
    pytest.param(
        "def setup():\n    net.compile(loss='mse')\nm = keras.Sequential()\nsetup()\nm.fit(x, y)\n",
        False,
        id="compiling-function-called",
    ),
    pytest.param("m = keras.models.load_model('a')\nm.fit(x, y)\n", False, id="loaded"),
]


@pytest.mark.parametrize(("body", "expected"), UNCOMPILED)
def test_uncompiled_at(body: str, expected: bool) -> None:
    models, sites = _models(body)
    fit = next(s for s in sites if s.method == "fit")
    assert models.uncompiled_at(fit) is expected
