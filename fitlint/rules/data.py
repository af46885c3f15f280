"""Rules of the data family: what is fed to ``fit()``, and how it was split and preprocessed.

Every rule reads ``ctx.dataflow`` (:mod:`fitlint.analysis.dataflow`) and stays silent when the
provenance of the data is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from fitlint.analysis.losses import TITLES as LOSS_TITLES
from fitlint.analysis.losses import loss_of
from fitlint.analysis.names import dotted
from fitlint.analysis.sources import FEATURES, IMAGE, INTEGER, ONE_HOT
from fitlint.model import Severity
from fitlint.rules.base import Invalid, Report, Rule, RuleContext


class MissingInputNormalization(Rule):
    """## What it does
    Flags inputs that reach `fit()` with raw, large values and no scaling on their way.

    Raw means: uint8 images from `keras.datasets` (0-255), raw features from
    `keras.datasets.boston_housing`, raw columns read by `pandas.read_csv`/`numpy.loadtxt`
    when the file or column names say the values are large (prices, counts, sizes, years,
    pixels, the housing and diabetes tables; a path that is not a constant counts as large:
    columns of unknown meaning are often already small, like sensor readings),
    literal or `numpy.random` arrays in the hundreds or more. Flagged when no scaling step is on
    their path (`/ 255`, `(x - mean) / std`, a scikit-learn scaler, `keras.utils.normalize`...)
    and the model does not start with a `Rescaling`, `Normalization` or `BatchNormalization`
    layer, nor with a Dense or convolution followed by a batch or layer normalization (which
    puts what the first layer computes back on a sane scale), in a `Sequential` list or a
    functional graph, with only layers that keep a positive rescaling of their input between
    (activations such as ReLU, pooling, dropout, reshapes: the normalization removes the input
    scale just as well after them). A bounded activation on the way (the first layer's own
    `activation="sigmoid"` or `"tanh"`, or an `Activation("tanh")` layer) does not: raw inputs
    saturate it before the normalization. Words of CamelCase column names count
    (`"SalePrice"`: sale, price).

    The origin is followed through row shuffles and re-indexing (`df.sample(frac=1)`,
    `.reset_index(drop=True)`), and into the functions of the file: a parameter has the
    origin that every call passes for it, and so has a model (`train(build(), x_train)`).
    Only data whose origin is known in the file is checked: arrays loaded from elsewhere,
    `tf.data` pipelines and models that cannot be resolved are left alone. A model that the
    file never defines (a snippet, a notebook that builds it elsewhere) is checked only
    against the certain cases: uint8 images and `boston_housing` features from
    `keras.datasets`. Labels are never checked, nor token ids fed to an `Embedding`.

    Options: `min_magnitude` (100): literal, random and dataset values from this magnitude on
    count as unscaled. A file's values are unknown: its columns count as unscaled when the
    file's name or the columns it names say the values are large (price, income, area, ...),
    or when those names are not known in the file.

    ## Why is this bad?
    Large inputs make the first layer's pre-activations large: gradients explode or
    saturate, and the learning rate that suits the other layers is wrong for the first one.
    Training is slow, unstable, or stalls at a poor loss.

    ## Example
    ```python
    import tensorflow as tf

    (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=5)
    ```

    ## Use instead
    ```python
    x_train = x_train.astype("float32") / 255.0
    model.fit(x_train, y_train, epochs=5)
    ```
    """

    code = "FL101"
    name = "missing-input-normalization"
    message = "{var} reaches fit() unscaled: {detail} from {origin} (line {line})"
    severity = Severity.WARNING
    options = {"min_magnitude": 100}
    valid = [
        # Divided by 255 on the way.
        """import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
model = tf.keras.Sequential([
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
        # A Rescaling first layer.
        """import keras
from keras import layers

(x_train, y_train), _ = keras.datasets.cifar10.load_data()
model = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    layers.Rescaling(1.0 / 255),
    layers.Conv2D(32, 3, activation="relu"),
    layers.Flatten(),
    layers.Dense(10),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
        # Standardized by a scikit-learn scaler.
        """import pandas as pd
from sklearn.preprocessing import StandardScaler
from tensorflow.keras import layers, models

df = pd.read_csv("housing.csv")
X = df.drop(columns=["price"]).values
y = df["price"].values
X = StandardScaler().fit_transform(X)
model = models.Sequential([layers.Dense(64, activation="relu"), layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X, y, epochs=20)
""",
        # (x - mean) / std.
        """from tensorflow import keras

(x_train, y_train), _ = keras.datasets.boston_housing.load_data()
mean = x_train.mean(axis=0)
std = x_train.std(axis=0)
x_train = (x_train - mean) / std
model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="rmsprop", loss="mse")
model.fit(x_train, y_train, epochs=80, batch_size=16)
""",
        # Data of unknown provenance.
        """import numpy as np
from tensorflow import keras

x_train = np.load("features.npy")
y_train = np.load("labels.npy")
model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=10)
""",
        # Token ids for an Embedding (imdb).
        """from tensorflow import keras
from tensorflow.keras import layers

(x_train, y_train), _ = keras.datasets.imdb.load_data(num_words=10000)
x_train = keras.utils.pad_sequences(x_train, maxlen=200)
model = keras.Sequential(
    [layers.Embedding(10000, 32), layers.GlobalAveragePooling1D(), layers.Dense(1)]
)
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x_train, y_train, epochs=3)
""",
        # Random integer ids feeding an Embedding.
        """import numpy as np
import tensorflow.keras as K

x = np.random.randint(0, 5000, size=(1000, 20))
y = np.random.randint(0, 2, size=(1000,))
model = K.Sequential([K.layers.Embedding(5000, 16), K.layers.Flatten(), K.layers.Dense(1)])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x, y, epochs=3)
""",
        # A Normalization layer applied to the functional Input.
        """import numpy as np
import tensorflow.keras as K

x = np.random.rand(1000, 8) * 1000
y = np.random.rand(1000, 1)
norm = K.layers.Normalization()
norm.adapt(x)
inputs = K.Input(shape=(8,))
h = norm(inputs)
h = K.layers.Dense(16, activation="relu")(h)
outputs = K.layers.Dense(1)(h)
model = K.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=5)
""",
        # In-place division.
        """from tensorflow.keras.datasets import fashion_mnist
from tensorflow.keras.layers import Dense, Flatten
from tensorflow.keras.models import Sequential

(x_train, y_train), _ = fashion_mnist.load_data()
x_train = x_train.astype("float32")
x_train /= 255
model = Sequential([Flatten(), Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
        # A tf.data pipeline: unknown provenance.
        """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).map(lambda x, y: (x / 255, y)).batch(64)
model = tf.keras.Sequential([tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(ds, epochs=5)
""",
        # Columns whose names say nothing of their magnitude (ionosphere readings in [-1, 1]).
        """import pandas as pd
from keras.models import Sequential
from keras.layers import Dense

dataset = pd.read_csv("ionosphere.data", header=None).values
X = dataset[:, 0:34].astype(float)
Y = dataset[:, 34]
model = Sequential()
model.add(Dense(34, input_dim=34, activation="relu"))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam")
model.fit(X, Y, epochs=50, batch_size=28)
""",
        # Functional: the first convolution reaches a batch normalization through ReLU and
        # pooling only, which scale with their input, so the normalization removes the scale.
        """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.cifar10.load_data()
inputs = tf.keras.layers.Input(shape=(32, 32, 3))
hidden = tf.keras.layers.Conv2D(64, (3, 3), padding="same")(inputs)
hidden = tf.keras.layers.Activation("relu")(hidden)
hidden = tf.keras.layers.MaxPooling2D(2)(hidden)
hidden = tf.keras.layers.BatchNormalization()(hidden)
hidden = tf.keras.layers.Flatten()(hidden)
outputs = tf.keras.layers.Dense(10, activation="softmax")(hidden)
model = tf.keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
        # A batch normalization right after the first Dense (an activation between them).
        """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(128),
    tf.keras.layers.Activation("relu"),
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.Dense(10),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
        # A helper that is passed raw images and scales them itself.
        """from tensorflow import keras

(x_train, y_train), _ = keras.datasets.mnist.load_data()

def train(model, x, y):
    model.fit(x.astype("float32") / 255.0, y, epochs=5, batch_size=64)

model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
train(model, x_train, y_train)
""",
        # The model is built out of sight and the table's magnitude is a guess: silent.
        """import pandas as pd

df = pd.read_csv("house_prices.csv")
model.fit(df.drop(columns=["price"]).values, df["price"].values, epochs=10, batch_size=32)
""",
    ]
    invalid = [
        # The read_csv origin survives a shuffle and a re-index.
        Invalid(
            """import pandas as pd
from tensorflow import keras

df = pd.read_csv("car_prices.csv")
df = df.sample(frac=1).reset_index(drop=True)
X = df.drop(columns=["price"]).values
model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X, df["price"].values, epochs=10)
""",
            line=9,
        ),
        # Values from np.arange(-100, 100): magnitude 100.
        Invalid(
            """import numpy as np
from tensorflow import keras

x = np.arange(-100, 100).reshape(-1, 1).astype("float32")
y = 3 * x + 2
model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=200)
""",
            line=8,
        ),
        # Raw boston_housing features fitted in a helper: the call passes them and the model.
        Invalid(
            """from tensorflow import keras

(x_train, y_train), _ = keras.datasets.boston_housing.load_data()

def build(units):
    model = keras.Sequential([keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model

def train(model, x, y):
    model.fit(x, y, epochs=100, batch_size=16)
    return model

train(build(32), x_train, y_train)
""",
            line=11,
        ),
        # ... and in a loop over models.
        Invalid(
            """from tensorflow import keras

(x_train, y_train), _ = keras.datasets.boston_housing.load_data()
for units in (16, 64, 256):
    model = keras.Sequential([keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train, epochs=100, verbose=0)
""",
            line=7,
        ),
        # uint8 images fitted on a model the snippet never defines.
        Invalid(
            """from tensorflow import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
model.fit(x_train, y_train, epochs=5, batch_size=32, validation_data=(x_test, y_test))
""",
            line=4,
        ),
        # Functional: a second convolution comes before the normalization, and it sees the raw
        # scale of the first one.
        Invalid(
            """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.cifar10.load_data()
inputs = tf.keras.layers.Input(shape=(32, 32, 3))
hidden = tf.keras.layers.Conv2D(32, 3, activation="relu")(inputs)
hidden = tf.keras.layers.Conv2D(32, 3)(hidden)
hidden = tf.keras.layers.BatchNormalization()(hidden)
outputs = tf.keras.layers.Dense(10)(tf.keras.layers.Flatten()(hidden))
model = tf.keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
            line=11,
        ),
        # The normalization comes after the second Dense, not right after the first.
        Invalid(
            """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.fashion_mnist.load_data()
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(256, activation="relu"),
    tf.keras.layers.Dense(128),
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.Dense(10),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
            line=12,
        ),
        # A table of prices: its name says the values are large.
        Invalid(
            """import pandas as pd
from tensorflow import keras

df = pd.read_csv("data/house_prices.csv")
X = df.drop(columns=["SalePrice"]).values
model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X, df["SalePrice"].values, epochs=10)
""",
            line=8,
        ),
        Invalid(
            """import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
""",
            line=10,
        ),
        Invalid(
            """import pandas as pd
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

df = pd.read_csv("diabetes.csv")
X = df.iloc[:, :-1].values
y = df.iloc[:, -1].values
model = Sequential()
model.add(Dense(12, activation="relu"))
model.add(Dense(1, activation="sigmoid"))
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(X, y, epochs=150, batch_size=10)
""",
            line=12,
        ),
        Invalid(
            """import numpy as np
import tensorflow.keras as K

x = np.random.randint(0, 1000, size=(2000, 10)).astype("float32")
y = np.random.randint(0, 2, size=(2000,))
inputs = K.Input(shape=(10,))
h = K.layers.Dense(32, activation="relu")(inputs)
outputs = K.layers.Dense(1, activation="sigmoid")(h)
model = K.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x, y, epochs=10)
""",
            line=11,
        ),
        Invalid(
            """import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.boston_housing.load_data()
model = keras.Sequential([
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(1),
])
model.compile(optimizer="rmsprop", loss="mse")
model.fit(x_train, y_train, epochs=100, validation_data=(x_test, y_test))
""",
            line=9,
        ),
        Invalid(
            """import numpy as np
from tensorflow import keras

x = np.array([[1200, 3, 25], [850, 2, 40], [2300, 4, 5], [1600, 3, 12]], dtype="float32")
y = np.array([310000, 190000, 560000, 420000], dtype="float32")

def build():
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model

model = build()
model.fit(x, y, epochs=50)
""",
            line=13,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        df = ctx.dataflow
        threshold = float(self.opts["min_magnitude"])
        for fit in df.fits:
            if fit.x is None:
                continue
            prov = df.provenance_at(fit.x, fit.site)
            if prov is None or not prov.unscaled(threshold):
                continue
            handling = df.input_handling(fit)
            if handling != "raw" and not (handling == "unseen" and prov.kind in (IMAGE, FEATURES)):
                continue
            line = df.line_of(prov.origin_node) if prov.origin_node is not None else None
            yield self.report(
                fit.x,
                var=ctx.code(fit.x),
                detail=prov.detail,
                origin=prov.origin,
                line=line if line is not None else "?",
            )


class PreprocessingBeforeSplit(Rule):
    """## What it does
    Flags a preprocessor fitted on data that is split into train and test sets afterwards.

    Preprocessors are: a scikit-learn scaler, encoder, imputer, feature selector,
    decomposition (`PCA`) or text vectorizer (`CountVectorizer`, `TfidfVectorizer`), alone or
    inside a `ColumnTransformer`, `FeatureUnion` or `sklearn_pandas.DataFrameMapper`; the
    function forms (`sklearn.preprocessing.scale(X)`, `minmax_scale`, `scipy.stats.zscore`);
    a standardization by the data's own statistics (`(X - X.mean()) / X.std()`, also applied
    with `DataFrame.apply`); an imbalanced-learn resampler (`SMOTE().fit_resample`); a Keras
    preprocessing layer's `adapt()` (`Normalization`, `TextVectorization`, `StringLookup`...);
    or a function of the file that fits one of these on its parameter.

    Splits are: `train_test_split` (also the pre-0.20 `sklearn.cross_validation` one), slices
    `X[:n]`/`X[n:]` (`X[0:n]`, `X[:n, :]`, `X[n:len(X)]`, three-way cuts), the folds of a
    splitter (`KFold(5).split(X)`) or of `cross_val_score`/`cross_validate`, and calls of a
    function or class of the file that splits its parameter in one of these ways. The data
    is followed from the fit to the split through assignments, column assignments
    (`df[cols] = scaler.fit_transform(df[cols])`), dtype and shape changes, `pd.DataFrame(...)`
    and `.toarray()`; the output of the fit counts too, whatever the origin of its input
    (`Z = scaler.fit_transform(X)` then `train_test_split(Z)`).

    Fitting on the training split only, or fitting a `Pipeline` after the split, is fine, and
    so is fitting a pipeline before cross-validation (which refits a clone on every fold).
    Label-only and stateless transformers (`LabelEncoder`, `FunctionTransformer`,
    `Normalizer`, `normalize()`, `PolynomialFeatures`, `HashingVectorizer`...) learn nothing
    that leaks and are not flagged.

    ## Why is this bad?
    The preprocessor learns statistics (means, variances, vocabularies, neighbours to
    interpolate) from the rows that end up in the test set: information from the test set
    leaks into training, and the test score overestimates how the model does on new data.
    Oversampling before the split is worse: synthetic copies of test rows land in training.

    ## Example
    ```python
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    ```

    ## Use instead
    ```python
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    ```
    """

    code = "FL102"
    name = "preprocessing-before-split"
    message = (
        "{estimator} is fitted on {data} before it is split ({how}, line {line}): "
        "statistics of the test rows leak into training"
    )
    severity = Severity.WARNING
    valid = [
        # Fitted on the training split only.
        """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow import keras

df = pd.read_csv("data.csv")
X, y = df.drop(columns=["target"]).values, df["target"].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_test = scaler.transform(X_test)
model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X_train, y_train, epochs=10)
""",
        # A pipeline fitted after the split.
        """from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import tensorflow as tf

X, y = load_dataset()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25)
pipe = make_pipeline(StandardScaler(), LogisticRegression())
pipe.fit(X_train, y_train)
print(pipe.score(X_test, y_test))
""",
        # Scalers inside a pipeline passed to cross-validation.
        """from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import SVC
import keras

pipe = Pipeline([("scale", MinMaxScaler()), ("svc", SVC())])
scores = cross_val_score(pipe, X, y, cv=5)
""",
        # Label encoding before the split learns only the class names.
        """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from tensorflow.keras.utils import to_categorical

df = pd.read_csv("iris.csv")
X = df.drop(columns=["species"]).values
y = to_categorical(LabelEncoder().fit_transform(df["species"]))
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
""",
        # Keras Normalization adapted on the training split.
        """import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

X = np.load("x.npy")
y = np.load("y.npy")
x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
norm = tf.keras.layers.Normalization()
norm.adapt(x_train)
""",
        # Fitted on a deliberate subset of the rows.
        """import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import keras

X = np.load("x.npy")
y = np.load("y.npy")
scaler = StandardScaler().fit(X[:1000])
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=False)
""",
        # HashingVectorizer hashes each document alone: it learns nothing from the rows.
        """import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.model_selection import train_test_split
import keras

df = pd.read_csv("reviews.csv")
X = HashingVectorizer(n_features=2**14).fit_transform(df["text"])
X_train, X_test, y_train, y_test = train_test_split(X, df["label"], test_size=0.2)
""",
        # Cross-validation refits a clone of the pipeline on every fold.
        """from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
import keras

pipe = make_pipeline(StandardScaler(), SVC())
pipe.fit(X, y)
print(cross_val_score(pipe, X, y, cv=5))
""",
        # Scaled inside the fold loop, on the training rows of each fold.
        """import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
import keras

X = np.load("x.npy")
y = np.load("y.npy")
for train_idx, test_idx in StratifiedKFold(n_splits=5).split(X, y):
    scaler = StandardScaler().fit(X[train_idx])
    x_tr, x_te = scaler.transform(X[train_idx]), scaler.transform(X[test_idx])
""",
        # DataFrame.apply of a function that learns nothing; per-row normalize().
        """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize
import keras

df = pd.read_csv("texts.csv")
df["text"] = df["text"].apply(lambda s: s.lower().strip())
X = normalize(df.drop(columns=["text", "y"]).values)
X_train, X_test, y_train, y_test = train_test_split(X, df["y"])
""",
        # A helper that splits first, then fits the scaler on the training part.
        """import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import keras

def prepare(X, y):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te

X_tr, X_te, y_tr, y_te = prepare(np.load("x.npy"), np.load("y.npy"))
""",
        # Standardized by the statistics of the training split, then cut for validation.
        """import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
x_train = (x_train - x_train.mean()) / x_train.std()
x_train, x_val = x_train[:45000], x_train[45000:]
""",
    ]
    invalid = [
        Invalid(
            """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow import keras

df = pd.read_csv("data.csv")
X = df.drop(columns=["target"]).values
y = df["target"].values
scaler = StandardScaler()
X = scaler.fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
""",
            line=10,
        ),
        Invalid(
            """import numpy as np
from imblearn.over_sampling import SMOTE
from sklearn.model_selection import train_test_split
import tensorflow as tf

X = np.load("x.npy")
y = np.load("y.npy")
X_res, y_res = SMOTE(random_state=0).fit_resample(X, y)
X_train, X_test, y_train, y_test = train_test_split(X_res, y_res, test_size=0.2)
""",
            line=8,
        ),
        Invalid(
            """import numpy as np
from tensorflow.keras.layers import Normalization
from sklearn.model_selection import train_test_split

features = np.load("features.npy")
labels = np.load("labels.npy")
normalizer = Normalization(axis=-1)
normalizer.adapt(features)
x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.2)
""",
            line=8,
        ),
        Invalid(
            """import numpy as np
from sklearn.preprocessing import MinMaxScaler
import keras

data = np.loadtxt("series.csv", delimiter=",")
scaler = MinMaxScaler()
scaler.fit(data)
scaled = scaler.transform(data)
train, test = scaled[:800], scaled[800:]
""",
            line=7,
        ),
        Invalid(
            """import numpy as np
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
import tensorflow as tf

X = np.load("x.npy")
y = np.load("y.npy")
X = SimpleImputer(strategy="mean").fit_transform(X)
X = PCA(n_components=10).fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y)
""",
            line=10,
        ),
        # Pre-0.20 scikit-learn, a text vectorizer, and the output densified into a frame.
        Invalid(
            """import pandas as pd
from sklearn.cross_validation import train_test_split
from sklearn.feature_extraction.text import TfidfVectorizer
import keras

df = pd.read_csv("spam.csv")
tfidf = TfidfVectorizer(max_features=5000)
X = tfidf.fit_transform(df["text"])
X = pd.DataFrame(X.toarray())
X_train, X_test, y_train, y_test = train_test_split(X, df["label"], test_size=0.2)
""",
            line=8,
        ),
        # The function form, then a split by slices X[0:n] / X[n:len(X)].
        Invalid(
            """import numpy as np
from sklearn import preprocessing
import keras

data = np.loadtxt("sensor.csv", delimiter=",")
X = preprocessing.scale(data[:, :-1])
n = int(0.8 * len(X))
x_train, x_test = X[0:n, :], X[n:len(X), :]
""",
            line=6,
        ),
        # The input's origin is unknown, the output is what gets split, in a helper.
        Invalid(
            """from sklearn.preprocessing import MinMaxScaler
import keras

def split_data(data, frac=0.8):
    n = int(len(data) * frac)
    return data[:n], data[n:]

scaler = MinMaxScaler()
Z = scaler.fit_transform(X)
z_train, z_test = split_data(Z)
""",
            line=9,
        ),
        # Columns scaled in place one by one.
        Invalid(
            """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import keras

df = pd.read_csv("houses.csv")
for col in ["area", "rooms", "age"]:
    df[col] = StandardScaler().fit_transform(df[[col]])
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["price"]), df["price"])
""",
            line=8,
        ),
        # A scaler inside a DataFrameMapper; a standardization applied with DataFrame.apply.
        Invalid(
            """import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn_pandas import DataFrameMapper
import keras

df = pd.read_csv("churn.csv")
mapper = DataFrameMapper([(["tenure", "charges"], StandardScaler())], df_out=True)
X = mapper.fit_transform(df)
X_train, X_test, y_train, y_test = train_test_split(X, df["churn"])
""",
            line=9,
        ),
        Invalid(
            """import pandas as pd
from sklearn.model_selection import train_test_split
import keras

df = pd.read_csv("wine.csv")
features = df.columns[:-1]
df[features] = df[features].apply(lambda c: (c - c.mean()) / c.std())
X_train, X_test, y_train, y_test = train_test_split(df[features], df["quality"])
""",
            line=7,
        ),
        # PCA on every row, then cross-validation folds.
        Invalid(
            """import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold
import keras

X = np.load("x.npy")
y = np.load("y.npy")
X = PCA(n_components=20).fit_transform(X)
for train_idx, test_idx in KFold(n_splits=5, shuffle=True).split(X):
    model = keras.Sequential([keras.layers.Dense(1)])
""",
            line=8,
        ),
        # Standardized by hand with the statistics of every row, split in a class.
        Invalid(
            """import numpy as np
from sklearn.model_selection import train_test_split
import keras

class Dataset:
    def __init__(self, features, labels):
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            features, labels, test_size=0.25
        )

X = np.load("x.npy")
mean = X.mean(axis=0)
X = (X - mean) / X.std(axis=0)
ds = Dataset(X, np.load("y.npy"))
""",
            line=13,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        df = ctx.dataflow
        for prep, split in df.leaks():
            line = df.line_of(split.node)
            how = {"train_test_split": "train_test_split()", "slicing": "by slicing"}.get(
                split.how, split.how
            )
            yield self.report(
                prep.node or prep.site.node,
                estimator=prep.short_name,
                data=ctx.code(prep.data),
                how=how,
                line=line if line is not None else "?",
            )


class BatchSizeExceedsDataset(Rule):
    """## What it does
    Flags a `batch_size` that is not smaller than the number of training samples.

    Both must be statically known: a constant `batch_size` in `fit()`, and the samples of arrays
    built with `numpy.zeros((500, 10))`, `numpy.random.rand(64, 3)`, `numpy.linspace(0, 1, 200)`
    (`arange`, `logspace`, `eye`, `random.permutation`; `.reshape(-1, 1)` of a 1-D one keeps
    its length), literal lists, slices such as `x[:32]`, `keras.datasets` loaders (mnist has
    60000 training images), and the outputs of `train_test_split` (sizes computed as
    scikit-learn does). `validation_split` is taken off
    the training samples as Keras does (`floor(n * (1 - split))`). A batch size that is not a
    constant is left alone: `batch_size=len(x)` asks for full-batch steps on purpose.

    ## Why is this bad?
    Each epoch is then a single gradient step on the whole dataset: there is no minibatch
    noise, the number of updates is tiny, and a batch size chosen for a larger dataset
    silently stops meaning anything. Usually the dataset is much smaller than intended (a
    leftover debugging slice) or the batch size is a typo.

    ## Example
    ```python
    x = np.random.rand(100, 8)
    y = np.random.rand(100, 1)
    model.fit(x, y, batch_size=128, epochs=10)
    ```

    ## Use instead
    ```python
    model.fit(x, y, batch_size=16, epochs=10)
    ```
    """

    code = "FL203"
    name = "batch-size-exceeds-dataset"
    message = (
        "batch_size={batch_size} is not smaller than the {samples} training samples: "
        "every epoch is a single full-batch step"
    )
    severity = Severity.WARNING
    valid = [
        # Unknown dataset size.
        """import numpy as np
from tensorflow import keras

x = np.load("x.npy")
y = np.load("y.npy")
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=4096, epochs=3)
""",
        # train_test_split leaves 80 samples: batch 64 is smaller.
        """import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

x = np.random.rand(100, 8)
y = np.random.rand(100, 1)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2)
model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, batch_size=64, epochs=3)
""",
        # The batch size is not a constant.
        """import argparse
import numpy as np
import keras

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()
x = np.zeros((500, 10))
y = np.zeros((500,))
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=args.batch_size, epochs=3)
""",
        # mnist has 60000 training images.
        """from tensorflow.keras.datasets import mnist
from tensorflow.keras.layers import Dense, Flatten, Rescaling
from tensorflow.keras.models import Sequential

(x_train, y_train), (x_test, y_test) = mnist.load_data()
model = Sequential([Rescaling(1 / 255), Flatten(), Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, batch_size=1024, epochs=3)
""",
        # A tf.data dataset: the size is not known.
        """import tensorflow as tf

ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(256)
model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(ds, batch_size=256, epochs=3)
""",
        # Full-batch training asked for on purpose: the batch size is the dataset.
        """import numpy as np
from tensorflow import keras

x = np.linspace(-1, 1, 200).reshape(-1, 1)
y = 2 * x + 1
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
model.fit(x, y, batch_size=len(x), epochs=100)
model.fit(x, y, batch_size=x.shape[0], epochs=100)
""",
        # reshape(-1, 28, 28) of a 2-D array: how many rows it leaves is not known here.
        """import numpy as np
import keras

x = np.random.rand(1000, 784).reshape(-1, 28, 28)
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, np.zeros(1000), batch_size=512, epochs=3)
""",
    ]
    invalid = [
        Invalid(
            """import numpy as np
from tensorflow import keras

x = np.zeros((500, 10), dtype="float32")
y = np.zeros((500,), dtype="float32")
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=512, epochs=3)
""",
            line=8,
        ),
        Invalid(
            """import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

x = np.random.rand(100, 8)
y = np.random.rand(100, 1)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2)
model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, batch_size=128, epochs=3)
""",
            line=10,
        ),
        Invalid(
            """import tensorflow.keras as K

(x_train, y_train), _ = K.datasets.mnist.load_data()
x_small = x_train[:1000] / 255.0
y_small = y_train[:1000]
model = K.Sequential([K.layers.Flatten(), K.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(
    x_small,
    y_small,
    epochs=5,
    batch_size=1024,
)
""",
            line=12,
        ),
        Invalid(
            """import numpy as np
import keras

x = np.random.rand(100, 4)
y = np.random.rand(100, 1)
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=80, epochs=3, validation_split=0.2)
""",
            line=8,
        ),
        # 200 points from linspace, reshaped into a column: still 200 samples.
        Invalid(
            """import numpy as np
from tensorflow import keras

x = np.linspace(-1, 1, 200).reshape(-1, 1)
y = 3 * x + np.random.normal(0, 0.1, (200, 1))
model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=256, epochs=200)
""",
            line=8,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        df = ctx.dataflow
        for fit in df.fits:
            if fit.batch_size is None:
                continue
            batch = ctx.index.const_value(fit.batch_size.value, fit.site.scope)
            if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
                continue
            samples = df.samples_seen_by_fit(fit)
            if samples is None or samples <= 0 or batch < samples:
                continue
            yield self.report(fit.batch_size, batch_size=batch, samples=samples)


class TestDataUsedForValidation(Rule):
    """## What it does
    Flags the test split used as `validation_data` and then reported by `evaluate()`.

    That is `fit(..., validation_data=...)` given the test split (the second part of a
    `keras.datasets` loader or of `train_test_split`, or a variable named like a test set)
    when the same test data is later passed to `evaluate()` as the final score.

    Off by default: enable it with `extend-select = ["FL103"]`.

    ## Why is this bad?
    Whatever is tuned while watching the validation curves (epochs, early stopping,
    checkpoints, hyperparameters) is selected on the test set, so the test score reported
    afterwards is optimistically biased: it is no longer an estimate of performance on new data.

    ## Example
    ```python
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=20)
    model.evaluate(x_test, y_test)
    ```

    ## Use instead
    ```python
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.1)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=20)
    model.evaluate(x_test, y_test)
    ```
    """

    code = "FL103"
    name = "test-data-used-for-validation"
    message = (
        "validation_data uses {name}, which evaluate() on line {line} reports as the test "
        "score: selecting on it biases that score"
    )
    severity = Severity.WARNING
    default_enabled = False
    valid = [
        # A separate validation split.
        """import tensorflow as tf
from sklearn.model_selection import train_test_split

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train, x_val, y_train, y_val = train_test_split(x_train / 255.0, y_train, test_size=0.1)
model = tf.keras.Sequential([tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=5)
model.evaluate(x_test / 255.0, y_test)
""",
        # validation_split instead of validation_data.
        """import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
model = keras.Sequential(
    [keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(10)]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, validation_split=0.1, epochs=5)
model.evaluate(x_test, y_test)
""",
        # The test split is used for validation but never reported.
        """from tensorflow import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
model = keras.Sequential(
    [keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(10)]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=5)
""",
        # The test arrays are reloaded fresh before the evaluation (a different binding).
        """import numpy as np
import tensorflow.keras as K

x_val = np.load("val_x.npy")
y_val = np.load("val_y.npy")
model = K.Sequential([K.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(np.load("train_x.npy"), np.load("train_y.npy"), validation_data=(x_val, y_val))
x_val = np.load("test_x.npy")
model.evaluate(x_val, np.load("test_y.npy"))
""",
    ]
    invalid = [
        Invalid(
            """import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
model = tf.keras.Sequential([tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=10, validation_data=(x_test, y_test))
test_loss, test_acc = model.evaluate(x_test, y_test)
print("Test accuracy:", test_acc)
""",
            line=7,
        ),
        Invalid(
            """import numpy as np
from sklearn.model_selection import train_test_split
from tensorflow import keras

X = np.load("x.npy")
y = np.load("y.npy")
X_train, X_holdout, y_train, y_holdout = train_test_split(X, y, test_size=0.2)
model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X_train, y_train, validation_data=(X_holdout, y_holdout), epochs=30)
print(model.evaluate(X_holdout, y_holdout))
""",
            line=10,
        ),
        Invalid(
            """import tensorflow as tf

train_ds = tf.keras.utils.image_dataset_from_directory("data/train")
test_ds = tf.keras.utils.image_dataset_from_directory("data/test")
model = tf.keras.Sequential([
    tf.keras.layers.Rescaling(1 / 255),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(5),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(train_ds, validation_data=test_ds, epochs=10)
model.evaluate(test_ds)
""",
            line=11,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        df = ctx.dataflow
        for fit in df.fits:
            if fit.validation_data is None:
                continue
            value = fit.validation_data.value
            first = value
            if isinstance(value, (cst.Tuple, cst.List)) and value.elements:
                first = value.elements[0].value
            name = dotted(first)
            if name is None:
                continue
            scope, order = fit.site.scope, fit.site.order
            binding = df.binding(name, scope, order)
            if binding is None:
                continue
            is_test = df.split_part(first, scope, order) == "test" or "test" in name.lower()
            if not is_test:
                continue
            for ev in df.evaluations_after(name, scope, order):
                if df.binding(name, ev.scope, ev.order) is not binding:
                    break  # rebound in between: so is every later evaluation's
                line = df.line_of(ev.node)
                yield self.report(
                    fit.validation_data, name=name, line=line if line is not None else "?"
                )
                break


class NoValidationData(Rule):
    """## What it does
    Flags `fit()` calls on a Keras model without `validation_data` or `validation_split`.

    Off by default (training scripts for a final model legitimately skip validation):
    enable it with `extend-select = ["FL104"]`.

    ## Why is this bad?
    Without a validation curve there is no way to see overfitting, to stop early, or to know
    whether the training loss means anything; the training metrics alone always look good.

    ## Example
    ```python
    model.fit(x_train, y_train, epochs=50)
    ```

    ## Use instead
    ```python
    model.fit(x_train, y_train, epochs=50, validation_split=0.1)
    ```
    """

    code = "FL104"
    name = "no-validation-data"
    message = "fit() has neither validation_data nor validation_split: overfitting goes unseen"
    severity = Severity.INFO
    default_enabled = False
    valid = [
        """import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=10, validation_split=0.2)
""",
        """import keras

model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
""",
        # A tf.data dataset with validation_data.
        """import tensorflow as tf

train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
val_ds = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(32)
model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(train_ds, validation_data=val_ds, epochs=10)
""",
        # A scikit-learn estimator's fit is not a Keras fit.
        """from sklearn.ensemble import RandomForestClassifier
import tensorflow as tf

clf = RandomForestClassifier()
clf.fit(X_train, y_train)
""",
        # Keyword arguments forwarded with **kwargs may hold the validation data.
        """from tensorflow import keras

def train(model: keras.Model, x, y, **fit_args):
    model.compile(optimizer="adam", loss="mse")
    return model.fit(x, y, epochs=5, **fit_args)
""",
    ]
    invalid = [
        Invalid(
            """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
model = tf.keras.Sequential([
    tf.keras.layers.Rescaling(1 / 255),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(10),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=10)
""",
            line=10,
        ),
        Invalid(
            """import keras

train_ds = keras.utils.image_dataset_from_directory("data/train")
model = keras.applications.MobileNetV2(weights=None, classes=5)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
history = model.fit(train_ds, epochs=10)
""",
            line=6,
        ),
        Invalid(
            """import tensorflow.keras as K

inputs = K.Input(shape=(8,))
outputs = K.layers.Dense(1)(inputs)
model = K.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.fit(
    x,
    y,
    epochs=20,
)
""",
            line=7,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for fit in ctx.dataflow.fits:
            if fit.validation_data is not None or fit.validation_split is not None:
                continue
            if fit.site.has_star_args():
                continue
            yield self.report(fit.site.node.func)


class LabelEncodingLossMismatch(Rule):
    """## What it does
    Flags `fit()` given one-hot labels with a sparse categorical cross-entropy, or integer class
    labels with a categorical cross-entropy.

    The labels are followed from `fit(x, y)` / `fit(y=...)` back to where they are made:
    one-hot by `to_categorical` (`keras.utils`, `tf.keras.utils`, `np_utils`), `pd.get_dummies`,
    `OneHotEncoder`, `tf.one_hot` or `np.eye(k)[y]`; integer class ids from the `load_data()`
    of `mnist`, `fashion_mnist`, `cifar10`, `cifar100`, `reuters` and `imdb`, `LabelEncoder`,
    `OrdinalEncoder` or `argmax(..., axis=...)`; through assignments, unpacking,
    `train_test_split`, slicing, `astype` and `reshape`. The loss comes from the model's
    `compile()` (the last one before the fit; in a function that builds and returns the model;
    or, for a fit in a function, the one `compile()` of the enclosing scope's model), as a
    string, a loss class or a loss function, also bound to a name (`loss=loss_fn`).

    Labels of unknown encoding (a column of a CSV file, an array loaded from disk), losses
    that are not a known cross-entropy, and models whose `compile()` is not certain are left
    alone.

    There is no automatic fix: which side is wrong (the encoding or the loss) is a choice, and
    changing the loss also changes what `"accuracy"` resolves to.

    ## Why is this bad?
    `sparse_categorical_crossentropy` expects one class id per sample and
    `categorical_crossentropy` one row of probabilities per sample. Given the other encoding,
    `fit()` stops with a shape error ("Shapes (None, 1) and (None, 10) are incompatible",
    "logits and labels must have the same first dimension"): among the most asked-about Keras
    errors. Where the shapes happen to line up, the loss is silently computed on the wrong
    targets.

    ## Example
    ```python
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    y_train = keras.utils.to_categorical(y_train, 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=5)
    ```

    ## Use instead
    ```python
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=5)
    ```
    """

    code = "FL105"
    name = "label-encoding-loss-mismatch"
    message = (
        "{var} holds {labels} (from {origin}, line {line}) but the loss is {loss}, which "
        "expects {expects}: {remedy}"
    )
    severity = Severity.ERROR
    valid = [
        # One-hot labels with categorical cross-entropy.
        """import tensorflow as tf

(x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
y_train = tf.keras.utils.to_categorical(y_train, 10)
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train / 255.0, y_train, epochs=5)
""",
        # Integer labels with a sparse loss object, logits out.
        """import keras

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
model = keras.Sequential([
    keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(10),
])
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer="adam", loss=loss_fn)
model.fit(x_train, y_train, epochs=5)
""",
        # One-hot labels turned back into class ids before a sparse loss.
        """import numpy as np
from tensorflow import keras

(x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()
y_onehot = keras.utils.to_categorical(y_train)
y_ids = np.argmax(y_onehot, axis=1)
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train / 255.0, y_ids, epochs=3)
""",
        # Recompiled with the matching loss before fitting: the last compile() counts.
        """import keras

(x_train, y_train), _ = keras.datasets.mnist.load_data()
y_train = keras.utils.to_categorical(y_train)
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.compile(optimizer="adam", loss="categorical_crossentropy")
model.fit(x_train / 255.0, y_train, epochs=3)
""",
        # Labels of unknown encoding: a column of a CSV file.
        """import pandas as pd
from tensorflow import keras

df = pd.read_csv("iris.csv")
X = df.drop(columns=["species"]).values
y = df["species"].values
model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
model.compile(optimizer="adam", loss="categorical_crossentropy")
model.fit(X, y, epochs=50)
""",
        # The builder compiles with one of two losses: not certain, no finding.
        """import keras

def build(sparse):
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
    if sparse:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    else:
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model

(x_train, y_train), _ = keras.datasets.mnist.load_data()
model = build(True)
model.fit(x_train / 255.0, y_train, epochs=3)
""",
        # Binary labels with binary cross-entropy.
        """from tensorflow import keras

(x_train, y_train), _ = keras.datasets.imdb.load_data(num_words=10000)
x_train = keras.utils.pad_sequences(x_train, maxlen=200)
model = keras.Sequential([
    keras.layers.Embedding(10000, 32),
    keras.layers.GlobalAveragePooling1D(),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x_train, y_train, epochs=3)
""",
    ]
    invalid = [
        # One-hot labels, the sparse loss given through a module constant.
        Invalid(
            """import tensorflow as tf

LOSS = "sparse_categorical_crossentropy"
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train = x_train / 255.0
y_train = tf.keras.utils.to_categorical(y_train, num_classes=10)
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss=LOSS, metrics=["accuracy"])
model.fit(x_train, y_train, epochs=5, batch_size=64)
""",
            line=13,
        ),
        # Integer cifar10 labels with a CategoricalCrossentropy object, a CNN.
        Invalid(
            """import keras
from keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
x_train = x_train.astype("float32") / 255
model = keras.Sequential([
    layers.Conv2D(32, 3, activation="relu", input_shape=(32, 32, 3)),
    layers.MaxPooling2D(),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])
loss_fn = keras.losses.CategoricalCrossentropy()
model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=loss_fn)
model.fit(x_train, y_train, validation_split=0.1, epochs=10)
""",
            line=14,
        ),
        # pd.get_dummies labels through train_test_split, y= by keyword, compiled by a builder.
        Invalid(
            """import pandas as pd
from sklearn.model_selection import train_test_split
from tensorflow import keras

def build_model(n_features, n_classes):
    model = keras.Sequential([
        keras.layers.Dense(32, activation="relu", input_shape=(n_features,)),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model

df = pd.read_csv("iris.csv")
X = df.drop(columns=["species"]).values
y = pd.get_dummies(df["species"]).values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
model = build_model(4, 3)
model.fit(x=X_train, y=y_train, epochs=100, validation_data=(X_test, y_test))
""",
            line=18,
        ),
        # LabelEncoder ids with categorical cross-entropy, functional API.
        Invalid(
            """import pandas as pd
import tensorflow as tf
from sklearn.preprocessing import LabelEncoder

df = pd.read_csv("news.csv")
y = LabelEncoder().fit_transform(df["topic"])
inputs = tf.keras.Input(shape=(300,))
h = tf.keras.layers.Dense(64, activation="relu")(inputs)
outputs = tf.keras.layers.Dense(5, activation="softmax")(h)
model = tf.keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss=tf.keras.losses.categorical_crossentropy)
model.fit(df.drop(columns=["topic"]).values, y, epochs=10)
""",
            line=12,
        ),
        # A one-hot LSTM target made with np.eye, trained in a helper function.
        Invalid(
            """import numpy as np
from tensorflow import keras

tokens = np.load("tokens.npy")
next_ids = np.load("next.npy")
targets = np.eye(5000)[next_ids]
model = keras.Sequential([
    keras.layers.Embedding(5000, 64),
    keras.layers.LSTM(128),
    keras.layers.Dense(5000, activation="softmax"),
])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())

def train(epochs):
    return model.fit(tokens, targets, epochs=epochs, batch_size=128)
""",
            line=15,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        df = ctx.dataflow
        for fit in df.fits:
            if fit.y is None:
                continue
            prov = df.provenance_at(fit.y, fit.site)
            if prov is None or prov.encoding is None:
                continue
            compiled = ctx.models.compile_of(fit.site)
            expr = None if compiled is None else compiled.arg("loss", 1)
            if compiled is None or expr is None:
                continue
            loss = loss_of(ctx.index, expr, compiled.scope)
            if loss is None:
                continue
            if prov.encoding == ONE_HOT and loss.kind == "sparse":
                expects = "one class id per sample"
                remedy = "use categorical_crossentropy, or drop the one-hot encoding"
            elif prov.encoding == INTEGER and loss.kind == "categorical":
                expects = "one one-hot row per sample"
                remedy = (
                    "use sparse_categorical_crossentropy, or one-hot encode the labels "
                    "(keras.utils.to_categorical)"
                )
            else:
                continue
            line = df.line_of(prov.origin_node) if prov.origin_node is not None else None
            yield self.report(
                fit.y,
                var=ctx.code(fit.y),
                labels=f"{prov.encoding} class labels",
                origin=prov.origin,
                line=line if line is not None else "?",
                loss=LOSS_TITLES[loss.kind],
                expects=expects,
                remedy=remedy,
            )
