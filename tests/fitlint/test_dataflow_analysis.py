"""Tests of the data-flow analysis (fitlint.analysis.dataflow) through its public queries."""

from __future__ import annotations

import math
import os
import textwrap

import libcst as cst
import numpy as np
import pytest

from fitlint.analysis import dataflow
from fitlint.analysis.dataflow import DataFlow, Provenance
from fitlint.analysis.index import build_index


def _flow(source: str) -> DataFlow:
    return dataflow.build(build_index(cst.parse_module(textwrap.dedent(source))))


def _prov_of_fit_x(source: str, i: int = 0) -> Provenance | None:
    flow = _flow(source)
    fit = flow.fits[i]
    return flow.provenance_at(fit.x, fit.site)


HEADER = """
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
"""

PROVENANCE_CASES = [
    pytest.param(
        "(x, y), (xt, yt) = tf.keras.datasets.mnist.load_data()\nmodel.fit(x, y, epochs=1)",
        ("image", 255.0, 60000, "train"),
        id="mnist-train",
    ),
    pytest.param(
        "(x, y), (xt, yt) = tf.keras.datasets.fashion_mnist.load_data()\n"
        "model.fit(xt, yt, epochs=1)",
        ("image", 255.0, 10000, "test"),
        id="fashion-test",
    ),
    pytest.param(
        "train, test = tf.keras.datasets.cifar10.load_data()\nx, y = train\n"
        "model.fit(x, y, epochs=1)",
        ("image", 255.0, 50000, "train"),
        id="nested-unpacking",
    ),
    pytest.param(
        "mnist = tf.keras.datasets.mnist\n(x, y), (xt, yt) = mnist.load_data()\n"
        "model.fit(xt, yt, epochs=1)",
        ("image", 255.0, 10000, "test"),
        id="module-alias",
    ),
    pytest.param(
        "data = tf.keras.datasets.cifar10.load_data()\nmodel.fit(data[0][0], data[0][1], epochs=1)",
        ("image", 255.0, 50000, "train"),
        id="indexing-the-tuple",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nmodel.fit(y, x, epochs=1)",
        ("labels", None, 60000, "train"),
        id="labels",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.boston_housing.load_data(test_split=0.1)\n"
        "model.fit(x, y, epochs=1)",
        ("features", 711.0, None, "train"),
        id="boston-with-arguments-unknown-size",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.imdb.load_data()\nmodel.fit(x, y, epochs=1)",
        ("tokens", None, 25000, "train"),
        id="imdb-tokens",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = np.expand_dims(x, -1)\n"
        "x = tf.cast(x, tf.float32)\nmodel.fit(x[:100], y, epochs=1)",
        ("image", 255.0, 100, "train"),
        id="expand-cast-slice",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = tf.cast(x, tf.float32) / 255.\n"
        "model.fit(x, y, epochs=1)",
        ("scaled", None, 60000, "train"),
        id="cast-divide-keeps-samples",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = x.reshape(x.shape[0], 784)\n"
        "model.fit(x, y, epochs=1)",
        ("image", 255.0, 60000, "train"),
        id="reshape-keeps-first-dim",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = tf.keras.utils.normalize(x, axis=1)\n"
        "model.fit(x, y, epochs=1)",
        ("scaled", None, 60000, "train"),
        id="keras-normalize",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\n"
        "x = tf.image.per_image_standardization(x)\nmodel.fit(x, y, epochs=1)",
        ("scaled", None, 60000, "train"),
        id="per-image-standardization",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = x - x.mean()\n"
        "model.fit(x, y, epochs=1)",
        ("scaled", None, 60000, "train"),
        id="centered",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = (x - 127.5) / 127.5\n"
        "model.fit(x, y, epochs=1)",
        ("scaled", None, 60000, "train"),
        id="centered-constant",
    ),
    pytest.param(
        "df = pd.read_csv('a.csv')\nX = df[['a', 'b']].to_numpy()\nmodel.fit(X, df['y'], epochs=1)",
        ("csv", None, None, None),
        id="csv-columns",
    ),
    pytest.param(
        "df = pd.read_csv('a.csv')\nX = StandardScaler().fit_transform(df.drop('y', axis=1))\n"
        "model.fit(X, df['y'], epochs=1)",
        ("scaled", None, None, None),
        id="csv-scaled",
    ),
    pytest.param(
        "x = np.random.rand(50, 3) * 1000\nmodel.fit(x, x, epochs=1)",
        ("generated", 1000.0, 50, None),
        id="rand-times-1000",
    ),
    pytest.param(
        "x = np.random.randint(1000, size=(20, 3))\nmodel.fit(x, x, epochs=1)",
        ("generated", 999.0, 20, None),
        id="randint-high-only",
    ),
    pytest.param(
        "x = np.random.normal(10, 2, (30, 3))\nmodel.fit(x, x, epochs=1)",
        ("generated", 18.0, 30, None),
        id="normal-positional",
    ),
    pytest.param(
        "x = np.full((8, 2), 300.0) + np.ones((8, 2))\nmodel.fit(x, x, epochs=1)",
        ("generated", 301.0, 8, None),
        id="sum-of-generated",
    ),
    pytest.param(
        "x = np.arange(500).reshape(-1, 1)\nmodel.fit(x, x, epochs=1)",
        ("generated", 499.0, 500, None),
        id="arange-reshape-column-keeps-samples",
    ),
    pytest.param(
        "x = np.random.rand(500, 4).reshape(-1, 2)\nmodel.fit(x, x, epochs=1)",
        ("generated", 1.0, None, None),
        id="2d-reshape-unknown-samples",
    ),
    pytest.param(
        "x = np.array([[1, -700], [3, 4], [5, 6]])\nx /= 7\nmodel.fit(x, x, epochs=1)",
        ("generated", 100.0, 3, None),
        id="literal-augmented-division",
    ),
    pytest.param(
        "x = tf.random.uniform((40, 3), maxval=500)\nmodel.fit(x, x, epochs=1)",
        ("generated", 500.0, 40, None),
        id="tf-random-uniform",
    ),
]


@pytest.mark.parametrize(("body", "expected"), PROVENANCE_CASES)
def test_provenance(body: str, expected: tuple[str, float | None, int | None, str | None]) -> None:
    prov = _prov_of_fit_x(HEADER + body + "\n")
    assert prov is not None
    assert (prov.kind, prov.magnitude, prov.samples, prov.split) == expected


UNKNOWN_CASES = [
    pytest.param("x = np.load('x.npy')\nmodel.fit(x, x)", id="np-load"),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\n"
        "ds = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b))\nmodel.fit(ds)",
        id="tf-data-map",
    ),
    pytest.param(
        "for x in [np.ones((3, 3)) * 1000]:\n    model.fit(x, x)",
        id="loop-target",
    ),
    pytest.param(
        "x = np.random.rand(10, 3) * 1000\nfor x in batches:\n    pass\nmodel.fit(x, x)",
        id="name-rebound-by-loop",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = augment(x)\nmodel.fit(x, y)",
        id="unknown-function",
    ),
    pytest.param(
        "(x, y), _ = tf.keras.datasets.mnist.load_data()\nx = x * weights\nmodel.fit(x, y)",
        id="unknown-product",
    ),
    pytest.param(
        "df = pd.read_csv('a.csv')\ndf['a'] = df['a'] / 100\nmodel.fit(df.values, df.values)",
        id="csv-changed-in-place",
    ),
    pytest.param(
        "def f(x):\n    model.fit(x, x)\n",
        id="parameter",
    ),
]


@pytest.mark.parametrize("body", UNKNOWN_CASES)
def test_unknown_provenance(body: str) -> None:
    assert _prov_of_fit_x(HEADER + body + "\n") is None


def test_literal_magnitude_matches_numpy() -> None:
    values = [[3.5, -1250.0], [7.0, 2.0], [-0.5, 999.9]]
    prov = _prov_of_fit_x(HEADER + f"x = np.array({values!r})\nmodel.fit(x, x)\n")
    assert prov is not None
    assert prov.magnitude == float(np.abs(np.array(values)).max())
    assert prov.samples == len(values)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (100, "test_size=0.2"),
        (101, "test_size=0.2"),
        (7, ""),
        (10, "train_size=0.66"),
        (13, "test_size=0.33, train_size=0.5"),
        (50, "test_size=7"),
        (50, "train_size=30"),
        (999, "test_size=0.15"),
    ],
)
def test_split_sizes_match_sklearn(n: int, sizes: str) -> None:
    from sklearn.model_selection import train_test_split

    kwargs = eval(f"dict({sizes})")  # the same literal the analysed code passes
    x_tr, x_te = train_test_split(np.zeros(n), **kwargs)
    source = HEADER + (
        f"x = np.zeros(({n}, 2))\n"
        f"x_tr, x_te = train_test_split(x{', ' + sizes if sizes else ''})\n"
        "model.fit(x_tr, x_tr)\nmodel.fit(x_te, x_te)\n"
    )
    flow = _flow(source)
    got = [flow.provenance_at(f.x, f.site) for f in flow.fits]
    assert [p.samples if p else None for p in got] == [len(x_tr), len(x_te)]
    assert [p.split if p else None for p in got] == ["train", "test"]


@pytest.mark.parametrize(("n", "split"), [(100, 0.2), (101, 0.2), (33, 0.1), (7, 0.5), (1000, 0.3)])
def test_validation_split_matches_keras(n: int, split: float) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    slicing = pytest.importorskip("keras.src.trainers.data_adapters.array_slicing")
    (train,), _ = slicing.train_validation_split((np.zeros(n),), validation_split=split)
    flow = _flow(HEADER + f"x = np.zeros(({n}, 3))\nmodel.fit(x, x, validation_split={split})\n")
    assert flow.samples_seen_by_fit(flow.fits[0]) == len(train)


def test_samples_seen_by_fit_falls_back_to_labels() -> None:
    flow = _flow(HEADER + "model.fit(np.load('x.npy'), np.zeros(40), batch_size=8)\n")
    assert flow.samples_seen_by_fit(flow.fits[0]) == 40


def test_fit_calls_are_keras_models_only() -> None:
    flow = _flow(
        HEADER
        + """
from sklearn.linear_model import LogisticRegression
clf = LogisticRegression()
clf.fit(a, b)
scaler = StandardScaler().fit(a)
model.fit(a, b, epochs=2)
other.fit(a, b)
other.compile(optimizer="adam")
"""
    )
    assert [f.site.receiver for f in flow.fits] == ["model", "other"]


INPUT_HANDLING_CASES = [
    pytest.param("model = tf.keras.Sequential([tf.keras.layers.Dense(1)])", "raw", id="dense"),
    pytest.param(
        "model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Rescaling(0.1)])",
        "normalizes",
        id="input-then-rescaling",
    ),
    pytest.param(
        "model = tf.keras.Sequential([tf.keras.layers.RandomFlip(), "
        "tf.keras.layers.Normalization(), tf.keras.layers.Dense(1)])",
        "normalizes",
        id="augmentation-then-normalization",
    ),
    pytest.param(
        "aug = tf.keras.Sequential([tf.keras.layers.RandomFlip()])\n"
        "model = tf.keras.Sequential([aug, tf.keras.layers.Conv2D(8, 3)])",
        "raw",
        id="nested-sequential",
    ),
    pytest.param(
        "model = tf.keras.Sequential([tf.keras.layers.Embedding(100, 8)])", "embeds", id="embedding"
    ),
    pytest.param("model = tf.keras.Sequential(make_layers())", None, id="unknown-layer-list"),
    pytest.param(
        "model = tf.keras.Sequential([tf.keras.layers.Dense(1)])\n"
        "model = tf.keras.models.load_model('m.keras')",
        None,
        id="rebound-to-loaded-model",
    ),
    pytest.param(
        "def build():\n    m = tf.keras.Sequential()\n"
        "    m.add(tf.keras.layers.LayerNormalization())\n"
        "    m.add(tf.keras.layers.Dense(1))\n    return m\nmodel = build()",
        "normalizes",
        id="factory-function-with-add",
    ),
    pytest.param(
        "inp = tf.keras.Input((4,))\nh = tf.keras.layers.Dense(4)(inp)\n"
        "model = tf.keras.Model(inputs=[inp], outputs=h)",
        "raw",
        id="functional-dense",
    ),
]


@pytest.mark.parametrize(("definition", "expected"), INPUT_HANDLING_CASES)
def test_input_handling(definition: str, expected: str | None) -> None:
    flow = _flow(f"import tensorflow as tf\n{definition}\nmodel.fit(x, y, epochs=1)\n")
    assert flow.input_handling(flow.fits[-1]) == expected


def test_lineage_follows_data_not_statistics() -> None:
    source = HEADER + (
        "X = np.load('x.npy')\n"  # line 8
        "n = len(X)\n"
        "idx = np.arange(n)\n"
        "Xs = StandardScaler().fit_transform(X.astype('float32'))\n"
        "model.fit(Xs, idx)\n"
    )
    flow = _flow(source)
    fit = flow.fits[0]
    x_binding = flow.binding("X", fit.site.scope, fit.site.order)
    assert x_binding is not None
    assert x_binding in flow.lineage(fit.x, fit.site.scope, fit.site.order)
    assert fit.y is not None
    assert x_binding not in flow.lineage(fit.y, fit.site.scope, fit.site.order)
    direct = flow.lineage(fit.x, fit.site.scope, fit.site.order, transitive=False)
    assert x_binding not in direct and len(direct) == 1


def test_leaks_pair_the_fit_with_the_first_split_after_it() -> None:
    source = HEADER + (
        "X = np.load('x.npy')\n"
        "scaler = StandardScaler()\n"
        "scaler.fit(X)\n"
        "a, b = train_test_split(np.load('other.npy'))\n"
        "X_tr, X_te = train_test_split(scaler.transform(X))\n"
    )
    flow = _flow(source)
    leaks = list(flow.leaks())
    assert len(leaks) == 1
    prep, split = leaks[0]
    assert prep.short_name == "StandardScaler"
    assert flow.line_of(prep.site.node) == 10
    assert flow.line_of(split.node) == 12


def test_slice_split_is_found() -> None:
    flow = _flow(HEADER + "X = np.load('x.npy')\nk = 800\ntrain = X[:k]\ntest = X[k:]\n")
    assert [(s.how, flow.line_of(s.node)) for s in flow.splits] == [("slicing", 10)]


def test_split_part() -> None:
    flow = _flow(
        HEADER
        + "(a, b), (c, d) = tf.keras.datasets.mnist.load_data()\n"
        + "c2 = c.astype('float32') / 255\n"
        + "p, q = train_test_split(np.load('x.npy'))\n"
        + "model.fit(a, b)\n"
    )
    fit = flow.fits[0]
    part = {
        name: flow.split_part(cst.Name(name), fit.site.scope, fit.site.order)
        for name in ("a", "c", "c2", "p", "q", "b")
    }
    assert part == {
        "a": "train",
        "c": "test",
        "c2": "test",
        "p": "train",
        "q": "test",
        "b": "train",
    }


def test_magnitude_bound_of_random_integers_is_tight() -> None:
    """randint's high is exclusive: the bound is the largest value it can draw."""
    prov = _prov_of_fit_x(HEADER + "x = np.random.randint(-5, 100, size=(9, 2))\nmodel.fit(x, x)\n")
    assert prov is not None and prov.magnitude == 99.0
    assert math.isclose(prov.magnitude, max(abs(v) for v in range(-5, 100)))
