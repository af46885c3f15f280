"""Table-driven tests of the optimization rules beyond their embedded examples."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from fitlint.api import lint_source
from fitlint.model import Config


def _lines(source: str, code: str, options: Mapping[str, float] | None = None) -> list[int]:
    config = Config(select=(code,), options={code: options} if options else {})
    result = lint_source(source, "train.py", config, force=True)
    assert result.error is None
    return [f.line for f in result.findings if f.code == code]


TOO_HIGH = [
    pytest.param("import keras\nopt = keras.optimizers.Adam(0.2)\n", [2], id="positional"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(0.01)\n", [], id="adam-0.01"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(0.1)\n", [2], id="adam-at-limit"),
    pytest.param("import keras\nopt = keras.optimizers.SGD(0.99)\n", [], id="sgd-below-1"),
    pytest.param("import keras\nopt = keras.optimizers.SGD(1)\n", [2], id="sgd-int-1"),
    pytest.param(
        "import keras\nopt = keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)\n",
        [],
        id="sgd-0.5-momentum",
    ),
    pytest.param(
        "import tensorflow as tf\nopt = tf.keras.optimizers.legacy.Adam(learning_rate=0.5)\n",
        [2],
        id="tf-legacy",
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.experimental.AdamW(0.3)\n", [2], id="experimental"
    ),
    pytest.param(
        "import tensorflow as tf\nopt = tf.optimizers.Lion(0.1)\n", [2], id="tf-optimizers"
    ),
    pytest.param(
        "from tensorflow.keras import optimizers\nopt = optimizers.Adagrad(learning_rate=0.5)\n",
        [2],
        id="from-import-module",
    ),
    pytest.param(
        "import tensorflow.keras as K\nopt = K.optimizers.Nadam(lr=0.25)\n", [2], id="legacy-lr"
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.Adam(learning_rate=1e-3 * 100)\n",
        [2],
        id="arithmetic",
    ),
    pytest.param(
        "import keras\nBASE = 0.05\nSCALE = 4\nopt = keras.optimizers.Adam(BASE * SCALE)\n",
        [4],
        id="constants",
    ),
    pytest.param(
        "import keras\nLR = 0.5\ndef make():\n    return keras.optimizers.Adamax(LR)\n",
        [4],
        id="module-constant-in-function",
    ),
    pytest.param(
        "import keras\nLR = 0.5\ndef make(LR=1e-3):\n    return keras.optimizers.Adam(LR)\n",
        [],
        id="parameter-shadows",
    ),
    pytest.param(
        "import keras\nLR = 0.5\nif small:\n    LR = 1e-3\nopt = keras.optimizers.Adam(LR)\n",
        [],
        id="rebound-name",
    ),
    pytest.param(
        "import keras\nfor lr in (1e-3, 1e-4):\n    opt = keras.optimizers.Adam(lr)\n",
        [],
        id="loop-variable",
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.Adam(learning_rate='0.5')\n", [], id="string-rate"
    ),
    pytest.param("import keras\nopt = keras.optimizers.get('adam')\n", [], id="get"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(**cfg)\n", [], id="star-kwargs"),
    pytest.param(
        "import torch\nimport keras\nopt = torch.optim.Adam(params, lr=1.0)\n", [], id="torch"
    ),
    pytest.param(
        "import keras\n"
        "def train():\n"
        "    sched = keras.optimizers.schedules.InverseTimeDecay(0.5, 1000, 0.5)\n"
        "    return keras.optimizers.RMSprop(sched)\n",
        [3],
        id="schedule-in-function",
    ),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.PiecewiseConstantDecay([10], [1e-3, 0.5])\n"
        "opt = keras.optimizers.Adam(sched)\n",
        [2],
        id="piecewise-later-value",
    ),
    pytest.param(
        "import keras\n"
        "VALUES = [0.2, 0.02]\n"
        "sched = keras.optimizers.schedules.PiecewiseConstantDecay([10], VALUES)\n"
        "opt = keras.optimizers.Adam(sched)\n",
        [3],
        id="piecewise-values-variable",
    ),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.CosineDecay(\n"
        "    0.0, 1000, warmup_target=0.3, warmup_steps=100)\n"
        "opt = keras.optimizers.Adam(sched)\n",
        [3],
        id="cosine-warmup-peak",
    ),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.PolynomialDecay(1e-3, 1000, end_learning_rate=0.5)\n"
        "opt = keras.optimizers.Adam(sched)\n",
        [2],
        id="polynomial-rising",
    ),
    pytest.param(
        "import keras\nsched = keras.optimizers.schedules.ExponentialDecay(0.5, 100, 0.9)\n",
        [],
        id="schedule-without-optimizer",
    ),
    pytest.param(
        "import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.optimizer.learning_rate.assign(0.5)\n",
        [],
        id="assign-sgd-fine",
    ),
    pytest.param(
        "import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "model.compile(optimizer=keras.optimizers.Adam(), loss='mse')\n"
        "model.optimizer.learning_rate.assign(0.5)\n",
        [4],
        id="assign-adam",
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.RMSprop()\nopt.learning_rate = 0.3\n",
        [3],
        id="attribute-write",
    ),
    pytest.param(
        "import keras\nopt = make_optimizer()\nopt.learning_rate = 0.3\n",
        [],
        id="attribute-write-unknown-optimizer",
    ),
    pytest.param(
        "import keras\n"
        "model.compile(optimizer='adam', loss='mse')\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.optimizer.lr.assign(0.5)\n",
        [],
        id="assign-ambiguous-optimizer",
    ),
]


@pytest.mark.parametrize(("source", "expected"), TOO_HIGH)
def test_learning_rate_too_high(source: str, expected: list[int]) -> None:
    assert _lines(source, "FL201") == expected


def test_too_high_thresholds_are_options() -> None:
    source = "import keras\nopt = keras.optimizers.Adam(0.2)\nsgd = keras.optimizers.SGD(0.6)\n"
    assert _lines(source, "FL201", {"adaptive_max": 0.5}) == []
    assert _lines(source, "FL201", {"sgd_max": 0.5}) == [2, 3]


def test_too_high_points_at_the_value() -> None:
    source = "import keras\nopt = keras.optimizers.Adam(learning_rate=0.5, beta_1=0.9)\n"
    result = lint_source(source, "train.py", Config(select=("FL201",)), force=True)
    (finding,) = result.findings
    assert (finding.line, finding.column, finding.end_column) == (2, 43, 46)
    assert finding.message == (
        "learning rate 0.5 is too high for Adam (>= 0.1); the loss is likely to diverge"
    )


TOO_LOW = [
    pytest.param("import keras\nopt = keras.optimizers.Adam(1e-5)\n", [], id="fine-tuning"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(1e-7)\n", [], id="at-limit"),
    pytest.param("import keras\nopt = keras.optimizers.Adam(1e-8)\n", [2], id="below"),
    pytest.param("import keras\nopt = keras.optimizers.SGD(learning_rate=0)\n", [2], id="zero"),
    pytest.param("import keras\nopt = keras.optimizers.SGD()\n", [], id="default"),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.PolynomialDecay(1e-9, 1000)\n"
        "opt = keras.optimizers.SGD(sched)\n",
        [],
        id="polynomial-rises-to-default-end",
    ),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.PolynomialDecay(1e-9, 1000, 1e-10)\n"
        "opt = keras.optimizers.SGD(sched)\n",
        [2],
        id="polynomial-all-tiny",
    ),
    pytest.param(
        "import keras\n"
        "sched = keras.optimizers.schedules.PiecewiseConstantDecay([10], [1e-9, lr])\n"
        "opt = keras.optimizers.Adam(sched)\n",
        [],
        id="piecewise-partly-unknown",
    ),
    pytest.param(
        "import keras\nopt = keras.optimizers.Adam(learning_rate=schedule)\n",
        [],
        id="unknown-schedule",
    ),
]


@pytest.mark.parametrize(("source", "expected"), TOO_LOW)
def test_learning_rate_too_low(source: str, expected: list[int]) -> None:
    assert _lines(source, "FL202") == expected


def test_too_low_threshold_is_an_option() -> None:
    source = "import keras\nopt = keras.optimizers.Adam(1e-6)\n"
    assert _lines(source, "FL202") == []
    assert _lines(source, "FL202", {"min": 1e-5}) == [2]
