"""Table-driven tests of the data rules (FL101-FL104, FL203) beyond their embedded examples."""

from __future__ import annotations

import textwrap

import pytest

from fitlint.api import lint_source
from fitlint.model import Config

DATA_CODES = ("FL101", "FL102", "FL103", "FL104", "FL203")

MNIST_MODEL = """
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""


def _findings(
    source: str, *codes: str, options: dict[str, dict[str, float]] | None = None
) -> list[tuple[str, int]]:
    config = Config(select=codes or DATA_CODES, options=options or {})
    result = lint_source(textwrap.dedent(source), "train.py", config, force=True)
    assert result.error is None, result.error
    return [(f.code, f.line) for f in result.findings]


def _messages(source: str, code: str) -> list[str]:
    result = lint_source(textwrap.dedent(source), "train.py", Config(select=(code,)), force=True)
    assert result.error is None, result.error
    return [f.message for f in result.findings if f.code == code]


FL101_CASES = [
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        x_train = x_train.reshape(-1, 784).astype("float32")
        model = keras.Sequential([keras.layers.Dense(10)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x=x_train, y=y_train, epochs=1)
        """,
        [("FL101", 7)],
        id="reshape-astype-keyword-x",
    ),
    pytest.param(
        """
        from keras.datasets import cifar100
        from keras import layers, Sequential
        (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode="fine")
        model = Sequential([layers.Conv2D(32, 3), layers.Flatten(), layers.Dense(100)])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x_train[:5000], y_train[:5000], epochs=1)
        """,
        [("FL101", 7)],
        id="cifar100-slice",
    ),
    pytest.param(
        """
        import pandas as pd
        from sklearn.preprocessing import StandardScaler
        from tensorflow import keras
        df = pd.read_csv("data.csv")
        cols = ["a", "b"]
        df[cols] = StandardScaler().fit_transform(df[cols])
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(df[cols].values, df["y"].values, epochs=1)
        """,
        [],
        id="csv-columns-scaled-in-place",
    ),
    pytest.param(
        """
        import pandas as pd
        from tensorflow import keras
        df = pd.read_csv("data.csv")
        df = (df - df.mean()) / df.std()
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(df.drop(columns=["y"]), df["y"], epochs=1)
        """,
        [],
        id="csv-standardized-with-pandas",
    ),
    pytest.param(
        """
        import pandas as pd
        from tensorflow import keras
        df = pd.read_csv("train.csv", usecols=["GrLivArea", "YearBuilt", "SalePrice"])
        x = df[["GrLivArea", "YearBuilt"]].values
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, df["SalePrice"].values, epochs=1)
        """,
        [("FL101", 8)],
        id="csv-camel-case-columns-of-large-values",
    ),
    pytest.param(
        """
        import pandas as pd
        from tensorflow import keras
        df = pd.read_csv("TRAIN.CSV", usecols=["SensorA", "SensorB", "RMSNoise", "Label"])
        x = df[["SensorA", "SensorB", "RMSNoise"]].values
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, df["Label"].values, epochs=1)
        """,
        [],
        id="csv-camel-case-columns-of-unknown-magnitude",
    ),
    pytest.param(
        """
        import numpy as np
        import tensorflow as tf
        (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
        model = tf.keras.models.load_model("model.keras")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="loaded-model-unknown-first-layer",
    ),
    pytest.param(
        """
        import tensorflow as tf
        class Net(tf.keras.Model):
            def call(self, x):
                return self.dense(x / 255.0)
        (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
        model = Net()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="subclassed-model-unknown",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([
            keras.layers.Lambda(lambda t: t / 255.0),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="lambda-first-layer",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential()
        model.add(keras.layers.Flatten(input_shape=(28, 28)))
        model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Dense(10))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="batchnorm-after-flatten-add",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential()
        model.add(keras.layers.Flatten(input_shape=(28, 28)))
        model.add(keras.layers.Dense(64))
        model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Dense(10))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="batchnorm-right-after-the-first-dense-counts",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential()
        model.add(keras.layers.Flatten(input_shape=(28, 28)))
        model.add(keras.layers.Dense(64))
        model.add(keras.layers.Dropout(0.2))
        model.add(keras.layers.Dense(32))
        model.add(keras.layers.BatchNormalization())
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 11)],
        id="batchnorm-after-the-second-dense-does-not-count",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential()
        model.add(keras.layers.Flatten(input_shape=(28, 28)))
        model.add(keras.layers.Dense(64, activation="sigmoid"))
        model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Dense(10))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 10)],
        id="a-sigmoid-first-dense-saturates-before-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(64),
            keras.layers.Activation("tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 12)],
        id="a-tanh-activation-layer-saturates-before-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([
            keras.layers.Reshape((1, 28, 28, 1)),
            keras.layers.ConvLSTM2D(16, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 12)],
        id="a-conv-lstm-saturates-its-gates-before-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(16, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="a-linear-conv-keeps-the-scale-for-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(64),
            keras.layers.Activation("relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="a-relu-activation-layer-keeps-the-scale-for-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        inputs = keras.Input((28, 28))
        flat = keras.layers.Flatten()(inputs)
        dense = keras.layers.Dense(128)(flat)
        act = keras.layers.Activation("tanh")(dense)
        norm = keras.layers.BatchNormalization()(act)
        model = keras.Model(inputs, keras.layers.Dense(10)(norm))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 11)],
        id="functional-tanh-between-the-dense-and-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        inputs = keras.Input((28, 28))
        flat = keras.layers.Flatten()(inputs)
        dense = keras.layers.Dense(128)(flat)
        act = keras.layers.Activation("relu")(dense)
        norm = keras.layers.BatchNormalization()(act)
        model = keras.Model(inputs, keras.layers.Dense(10)(norm))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="functional-relu-between-the-dense-and-the-batchnorm",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        inputs = keras.Input(shape=(28, 28))
        x = keras.layers.Rescaling(1.0 / 255)(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(10)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="functional-rescaling",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        inputs = keras.Input(shape=(28, 28))
        x = keras.layers.Flatten()(inputs)
        outputs = keras.layers.Dense(10)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [("FL101", 9)],
        id="functional-flatten-dense",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        inputs = keras.Input(shape=(28, 28))
        x = inputs / 255.0
        outputs = keras.layers.Dense(10)(keras.layers.Flatten()(x))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="functional-divides-input",
    ),
    pytest.param(
        """
        from tensorflow import keras
        def train(x_train, y_train):
            model = keras.Sequential([keras.layers.Dense(10)])
            model.compile(optimizer="adam", loss="mse")
            model.fit(x_train, y_train, epochs=1)
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        train(x_train / 255.0, y_train)
        """,
        [],
        id="function-parameter-unknown",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        def main():
            model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
            model.compile(optimizer="adam", loss="mse")
            model.fit(x_train, y_train, epochs=1)
        main()
        """,
        [("FL101", 7)],
        id="module-data-used-in-function",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.random.rand(200, 4) * 10
        y = np.random.randint(0, 1000, size=(200,))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1)
        """,
        [],
        id="small-random-x-large-labels",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        rng = np.random.default_rng(0)
        x = rng.integers(0, 500, size=(100, 3))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, np.zeros(100), epochs=1)
        """,
        [("FL101", 8)],
        id="generator-integers",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.random.randint(0, 1000, size=(100, 3)) / 1000
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, np.zeros(100), epochs=1)
        """,
        [],
        id="random-divided",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        a = np.array([1.0, 2.0])
        b = np.array([500.0, 900.0])
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit([[1000.0, 2000.0], [3000.0, 1.0]], np.zeros(2), epochs=1)
        """,
        [("FL101", 8)],
        id="literal-list-in-call",
    ),
    pytest.param(
        """
        from tensorflow import keras
        from sklearn.ensemble import RandomForestRegressor
        (x_train, y_train), _ = keras.datasets.boston_housing.load_data()
        forest = RandomForestRegressor()
        forest.fit(x_train, y_train)
        """,
        [],
        id="sklearn-fit-is-not-keras",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.reuters.load_data(num_words=1000)
        model = keras.Sequential([keras.layers.Dense(46)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="reuters-token-ids",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        for i in range(3):
            x_train = x_train / 255.0 if i == 0 else x_train
        model = keras.Sequential([keras.layers.Dense(10)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train, epochs=1)
        """,
        [],
        id="conditional-expression-unknown",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FL101_CASES)
def test_missing_input_normalization(source: str, expected: list[tuple[str, int]]) -> None:
    assert _findings(source, "FL101") == expected


def test_fl101_message_names_the_variable_and_origin() -> None:
    source = """
    import tensorflow as tf
    (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
    model = tf.keras.Sequential([tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
    model.fit(x_train, y_train, epochs=5)
    """
    assert _messages(source, "FL101") == [
        "x_train reaches fit() unscaled: uint8 pixel values 0-255 from "
        "keras.datasets.mnist.load_data() (line 3)"
    ]


def test_fl101_min_magnitude_option() -> None:
    source = """
    import numpy as np
    from tensorflow import keras
    x = np.random.uniform(0, 300, size=(100, 3))
    model = keras.Sequential([keras.layers.Dense(1)])
    model.fit(x, np.zeros(100), epochs=1)
    """
    assert _findings(source, "FL101") == [("FL101", 6)]
    high = {"missing-input-normalization": {"min_magnitude": 1000}}
    assert _findings(source, "FL101", options=high) == []
    low = {"FL101": {"min_magnitude": 10}}
    assert _findings(source.replace("300", "50"), "FL101", options=low) == [("FL101", 6)]


FL102_CASES = [
    pytest.param(
        """
        import pandas as pd
        from sklearn.compose import ColumnTransformer
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        import keras
        df = pd.read_csv("data.csv")
        ct = ColumnTransformer([("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(), ["c"])])
        X = ct.fit_transform(df)
        X_train, X_test, y_train, y_test = train_test_split(X, df["y"])
        """,
        [("FL102", 9)],
        id="column-transformer",
    ),
    pytest.param(
        """
        import tensorflow as tf
        from sklearn.model_selection import train_test_split
        texts, labels = load_texts()
        vectorizer = tf.keras.layers.TextVectorization(max_tokens=20000)
        vectorizer.adapt(texts)
        x_train, x_test, y_train, y_test = train_test_split(texts, labels)
        """,
        [("FL102", 6)],
        id="text-vectorization-adapt",
    ),
    pytest.param(
        """
        import numpy as np
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
        import keras
        X = np.load("x.npy")
        y = np.load("y.npy")
        X_train, X_test, y_train, y_test = train_test_split(X, y)
        scaler = StandardScaler().fit(X_train)
        X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.1)
        """,
        [],
        id="fit-on-train-then-validation-split",
    ),
    pytest.param(
        """
        import numpy as np
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
        import keras
        def prepare(X):
            return StandardScaler().fit_transform(X)
        X = np.load("x.npy")
        X_train, X_test = train_test_split(X)
        """,
        [],
        id="fit-in-another-function",
    ),
    pytest.param(
        """
        import numpy as np
        from sklearn.preprocessing import StandardScaler
        import keras
        X = np.load("x.npy")
        X = StandardScaler().fit_transform(X)
        X_small = X[:1000]
        """,
        [],
        id="slice-without-other-half-is-not-a-split",
    ),
    pytest.param(
        """
        import numpy as np
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
        import keras
        X = np.load("x.npy")
        y = np.load("y.npy")
        y_scaled = StandardScaler().fit_transform(y.reshape(-1, 1))
        X_train, X_test, y_train, y_test = train_test_split(X, y_scaled)
        """,
        [],
        id="only-features-are-checked",
    ),
    pytest.param(
        """
        import numpy as np
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import OrdinalEncoder
        import keras
        X = np.load("x.npy", allow_pickle=True)
        y = np.load("y.npy")
        enc = OrdinalEncoder()
        enc.fit(X)
        X = enc.transform(X).astype("float32")
        X_train, X_test, y_train, y_test = train_test_split(X, y)
        """,
        [("FL102", 9)],
        id="encoder-fit-then-transform-then-split",
    ),
    pytest.param(
        """
        import pandas as pd
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import RobustScaler
        import keras
        df = pd.read_csv("data.csv")
        cols = ["age", "income"]
        scaler = RobustScaler().fit(df[cols])
        df[cols] = scaler.transform(df[cols])
        train_df, test_df = train_test_split(df, test_size=0.2)
        """,
        [("FL102", 8)],
        id="fit-on-named-columns",
    ),
    pytest.param(
        """
        import pandas as pd
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import RobustScaler
        import keras
        df = pd.read_csv("data.csv")
        rows = df["year"] < 2020
        scaler = RobustScaler().fit(df[rows])
        train_df, test_df = train_test_split(df, test_size=0.2)
        """,
        [],
        id="fit-on-selected-rows",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FL102_CASES)
def test_preprocessing_before_split(source: str, expected: list[tuple[str, int]]) -> None:
    assert _findings(source, "FL102") == expected


def test_fl102_message() -> None:
    source = """
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    import keras
    X = np.load("x.npy")
    X = StandardScaler().fit_transform(X)
    X_train, X_test = train_test_split(X, test_size=0.2)
    """
    assert _messages(source, "FL102") == [
        "StandardScaler is fitted on X before it is split (train_test_split(), line 8): "
        "statistics of the test rows leak into training"
    ]


FL203_CASES = [
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.random.rand(64, 3)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x, np.zeros(64), batch_size=64, epochs=1)
        """,
        [("FL203", 6)],
        id="equal-is-flagged",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.random.rand(64, 3)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x, np.zeros(64), batch_size=63, epochs=1)
        """,
        [],
        id="one-less-is-fine",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        from sklearn.model_selection import train_test_split
        x = np.zeros((100, 3))
        y = np.zeros(100)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x_tr, y_tr, batch_size=75, epochs=1)
        model.fit(x_te, y_te, batch_size=25, epochs=1)
        model.fit(x_te, y_te, batch_size=24, epochs=1)
        """,
        [("FL203", 9), ("FL203", 10)],
        id="default-test-size-quarter",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        from sklearn.model_selection import train_test_split
        x = np.zeros((10, 3))
        y = np.zeros(10)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, train_size=0.66)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x_tr, y_tr, batch_size=6, epochs=1)
        model.fit(x_te, y_te, batch_size=4, epochs=1)
        """,
        [("FL203", 9), ("FL203", 10)],
        id="train-size-float-floors",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.ones((1000, 3))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x[:32], np.ones(1000)[:32], batch_size=32, epochs=1)
        model.fit(x[-10:], np.ones(10), batch_size=16, epochs=1)
        model.fit(x[::2], np.ones(500), batch_size=256, epochs=1)
        """,
        [("FL203", 6), ("FL203", 7)],
        id="slices",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x = np.zeros((100, 4))
        y = np.zeros(100)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x, y, batch_size=80, validation_split=0.2, validation_data=(x, y))
        """,
        [],
        id="validation-data-overrides-split",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        x1 = [1.0, 2.0, 3.0]
        x2 = [4.0, 5.0, 6.0]
        y = np.zeros((3,))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit([x1, x2], y, batch_size=2, epochs=1)
        """,
        [],
        id="list-of-inputs-uses-labels",
    ),
    pytest.param(
        """
        from tensorflow import keras
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        model = keras.Sequential([keras.layers.Rescaling(1 / 255), keras.layers.Dense(10)])
        model.fit(x_test, y_test, batch_size=10000, epochs=1)
        """,
        [("FL203", 5)],
        id="keras-dataset-test-size",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        n = 200
        x = np.random.normal(0, 1, size=(n, 3))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(x, np.zeros(n), batch_size=n * 2, epochs=1)
        """,
        [("FL203", 7)],
        id="constant-names",
    ),
    pytest.param(
        """
        import numpy as np
        from tensorflow import keras
        args = (np.zeros((10, 2)), np.zeros(10))
        model = keras.Sequential([keras.layers.Dense(1)])
        model.fit(*args, batch_size=64, epochs=1)
        """,
        [],
        id="star-args-hide-the-data",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FL203_CASES)
def test_batch_size_exceeds_dataset(source: str, expected: list[tuple[str, int]]) -> None:
    assert _findings(source, "FL203") == expected


OFF_BY_DEFAULT_CASES = [
    pytest.param(
        """
        import tensorflow as tf
        (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
        model = tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 255), tf.keras.layers.Dense(10)])
        model.fit(x_train, y_train, validation_data=(x_test, y_test))
        x_test = x_test[:100]
        model.evaluate(x_test, y_test)
        """,
        [],
        id="fl103-rebound-before-evaluate",
    ),
    pytest.param(
        """
        import tensorflow as tf
        (x_train, y_train), (x_val, y_val) = tf.keras.datasets.mnist.load_data()
        model = tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 255), tf.keras.layers.Dense(10)])
        model.fit(x_train, y_train, validation_data=(x_val, y_val))
        model.evaluate(x_val, y_val)
        """,
        [("FL103", 5)],
        id="fl103-loader-test-part-renamed",
    ),
    pytest.param(
        """
        import tensorflow as tf
        model = tf.keras.Sequential([tf.keras.layers.Dense(10)])
        model.fit(x, y, 32, 10, 1, None, 0.2)
        """,
        [],
        id="fl104-positional-validation-split",
    ),
]


@pytest.mark.parametrize(("source", "expected"), OFF_BY_DEFAULT_CASES)
def test_off_by_default_rules(source: str, expected: list[tuple[str, int]]) -> None:
    assert _findings(source, "FL103", "FL104") == expected


def test_fl103_and_fl104_are_off_by_default() -> None:
    source = """
    import tensorflow as tf
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    model = tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 255), tf.keras.layers.Dense(10)])
    model.fit(x_train, y_train, validation_data=(x_test, y_test))
    model.fit(x_train, y_train)
    model.evaluate(x_test, y_test)
    """
    default = lint_source(textwrap.dedent(source), "t.py", Config())
    assert [f.code for f in default.findings if f.code in ("FL103", "FL104")] == []
    enabled = _findings(source, "FL103", "FL104")
    assert enabled == [("FL103", 5), ("FL104", 6)]


def test_unknown_files_are_silent() -> None:
    """Nothing of the data family fires on code whose data comes from elsewhere."""
    source = """
    from mylib import load, build
    import tensorflow as tf
    x, y = load()
    model = build()
    model.fit(x, y, batch_size=100000, epochs=3)
    """
    assert _findings(source, "FL101", "FL102", "FL203") == []


def _statement_lines() -> list[str]:
    """Every complete one-line statement of the data rules' examples."""
    from fitlint.rules import data

    sources: list[str] = []
    for rule in (
        data.MissingInputNormalization,
        data.PreprocessingBeforeSplit,
        data.BatchSizeExceedsDataset,
        data.TestDataUsedForValidation,
        data.NoValidationData,
    ):
        sources.extend(rule.valid)
        sources.extend(ex.code for ex in rule.invalid)
    lines = set()
    for source in sources:
        for line in source.splitlines():
            if not line or line[0].isspace():
                continue
            try:
                compile(line, "<line>", "exec")
            except SyntaxError:
                continue
            lines.add(line)
    return sorted(lines)


def test_shuffled_example_statements_never_crash() -> None:
    """Statements recombined in any order (names rebound, used before defined) are handled."""
    import random

    lines = _statement_lines()
    assert len(lines) > 100
    rng = random.Random(0)
    for _ in range(150):
        program = "\n".join(rng.choice(lines) for _ in range(rng.randint(5, 25))) + "\n"
        result = lint_source(program, "t.py", Config(select=DATA_CODES), force=True)
        assert result.error is None, (result.error, program)
