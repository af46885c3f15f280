"""What the data-flow analysis knows: the kinds of values, and the sources and operations
whose effect on them is known (datasets, file readers, array constructors, scalers, splits,
preprocessors that learn statistics).

:class:`Provenance` is the answer of :mod:`fitlint.analysis.provenance` for one expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

# Kinds of values.
IMAGE = "image"  # uint8 pixels 0-255
FEATURES = "features"  # raw numeric features of a dataset (boston_housing)
TOKENS = "tokens"  # integer token ids meant for an Embedding
LABELS = "labels"  # targets
CSV = "csv"  # raw columns read from a file
GENERATED = "generated"  # literals, numpy.random, numpy.zeros...: magnitude tracked exactly
SCALED = "scaled"  # a scaling step was seen: nothing more is known

# Encodings of class labels.
ONE_HOT = "one-hot"
INTEGER = "integer"


@dataclass(frozen=True, eq=False)
class Provenance:
    """What is known of the values of an expression.

    Attributes:
        kind: One of ``image``, ``features``, ``tokens``, ``labels``, ``csv``, ``generated``,
            ``scaled``.
        detail: What the values are, for messages ("uint8 pixel values 0-255").
        origin: The source call, for messages ("keras.datasets.mnist.load_data()").
        origin_node: The node of the source, to locate it.
        magnitude: An upper bound of the absolute values, when known.
        samples: The number of samples (first dimension), when statically known.
        split: ``"train"`` or ``"test"`` when the value is one part of a train/test split.
        encoding: For class labels: :data:`ONE_HOT` (one row of 0/1 per sample) or
            :data:`INTEGER` (one class id per sample), when known.
        large: For raw columns read from a file: False when the file and column names give
            no sign of large values (:data:`LARGE_COLUMN_WORDS`).
    """

    kind: str
    detail: str
    origin: str
    origin_node: cst.CSTNode | None
    magnitude: float | None = None
    samples: int | None = None
    split: str | None = None
    encoding: str | None = None
    large: bool = True

    @property
    def scaled(self) -> bool:
        """True when a scaling step was seen on the value's path."""
        return self.kind == SCALED

    def unscaled(self, min_magnitude: float) -> bool:
        """True when the values are known to be raw and large.

        Args:
            min_magnitude: The magnitude from which literal, random and dataset values count
                as unscaled.
        """
        if self.kind == CSV:
            return self.large
        if self.kind in (IMAGE, FEATURES, GENERATED):
            return self.magnitude is not None and self.magnitude >= min_magnitude
        return False


# Knowledge tables.

# name: (kind of x, magnitude, detail, train samples, test samples, counts fixed whatever args)
DATASETS: dict[str, tuple[str, float | None, str, int, int, bool]] = {
    "mnist": (IMAGE, 255.0, "uint8 pixel values 0-255", 60000, 10000, True),
    "fashion_mnist": (IMAGE, 255.0, "uint8 pixel values 0-255", 60000, 10000, True),
    "cifar10": (IMAGE, 255.0, "uint8 pixel values 0-255", 50000, 10000, True),
    "cifar100": (IMAGE, 255.0, "uint8 pixel values 0-255", 50000, 10000, True),
    "boston_housing": (FEATURES, 711.0, "raw features up to ~711", 404, 102, False),
    "california_housing": (
        FEATURES,
        35682.0,
        "raw features in the tens of thousands",
        16512,
        4128,
        False,
    ),
    "imdb": (TOKENS, None, "integer token ids", 25000, 25000, False),
    "reuters": (TOKENS, None, "integer token ids", 8982, 2246, False),
}

SPLIT = "sklearn.model_selection.train_test_split"

SKLEARN_SCALERS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "RobustScaler",
        "MaxAbsScaler",
        "Normalizer",
        "QuantileTransformer",
        "PowerTransformer",
    }
)

# Functions whose result is scaled data.
SCALING_FUNCTIONS = frozenset(
    {
        "sklearn.preprocessing.scale",
        "sklearn.preprocessing.normalize",
        "sklearn.preprocessing.minmax_scale",
        "sklearn.preprocessing.robust_scale",
        "sklearn.preprocessing.maxabs_scale",
        "sklearn.preprocessing.quantile_transform",
        "sklearn.preprocessing.power_transform",
        "keras.utils.normalize",
        "keras.applications.preprocess_input",
        "tensorflow.image.per_image_standardization",
        "tensorflow.math.l2_normalize",
        "tensorflow.nn.l2_normalize",
        "tensorflow.linalg.normalize",
        "keras.ops.normalize",
    }
)

# Functions that keep the values and the samples of their first argument.
PASS_FUNCTIONS = frozenset(
    {
        "numpy.array",
        "numpy.asarray",
        "numpy.asanyarray",
        "numpy.ascontiguousarray",
        "numpy.copy",
        "numpy.float32",
        "numpy.float64",
        "numpy.float16",
        "numpy.squeeze",
        "tensorflow.cast",
        "tensorflow.constant",
        "tensorflow.convert_to_tensor",
        "tensorflow.squeeze",
        "keras.ops.cast",
        "keras.ops.convert_to_tensor",
        "keras.ops.array",
        "pandas.DataFrame",
        "pandas.Series",
    }
)
EXPAND_FUNCTIONS = frozenset(
    {"numpy.expand_dims", "tensorflow.expand_dims", "keras.ops.expand_dims"}
)
RESHAPE_FUNCTIONS = frozenset({"numpy.reshape", "tensorflow.reshape", "keras.ops.reshape"})

# Methods that keep the values and the samples of their receiver.
PASS_METHODS = frozenset(
    {"astype", "copy", "to_numpy", "numpy", "fillna", "squeeze", "to_frame", "toarray", "todense"}
    | {"reset_index", "sort_values", "sort_index", "rename", "set_index"}  # rows reordered
)
# Methods that keep the values of their receiver but may change the number of samples.
VALUE_METHODS = frozenset(
    {"drop", "dropna", "select_dtypes", "sample", "pop", "flatten", "ravel", "head", "tail"}
    | {"drop_duplicates"}
)
PASS_ATTRIBUTES = frozenset({"values", "iloc", "loc"})

FILE_READERS = {
    "pandas.read_csv": "pandas.read_csv()",
    "pandas.read_table": "pandas.read_table()",
    "pandas.read_excel": "pandas.read_excel()",
    "numpy.loadtxt": "numpy.loadtxt()",
    "numpy.genfromtxt": "numpy.genfromtxt()",
}

LABEL_FUNCTIONS = frozenset({"keras.utils.to_categorical"})
# Functions whose result is one-hot rows (to_categorical included).
ONE_HOT_FUNCTIONS = frozenset(
    {"keras.utils.to_categorical", "tensorflow.one_hot", "keras.ops.one_hot", "pandas.get_dummies"}
)
# Functions (and methods of the same name) whose result is one class id per row.
ARGMAX_FUNCTIONS = frozenset(
    {"numpy.argmax", "tensorflow.argmax", "tensorflow.math.argmax", "keras.ops.argmax"}
)
# Datasets whose labels are integer class ids.
CLASS_DATASETS = frozenset({"mnist", "fashion_mnist", "cifar10", "cifar100", "reuters", "imdb"})
# Encoders of class labels, by the encoding of what they return.
LABEL_ENCODERS = {
    "sklearn.preprocessing.LabelEncoder": INTEGER,
    "sklearn.preprocessing.OrdinalEncoder": INTEGER,
    "sklearn.preprocessing.OneHotEncoder": ONE_HOT,
}

# Words of a file name or column name that say a table holds large values: prices, counts,
# sizes, years, pixels, and the classic tables of such columns. A table read from a file
# without one of them has values of unknown magnitude, often already small (sensor
# readings, the sonar and ionosphere sets): fitlint stays silent on it.
LARGE_COLUMN_WORDS = frozenset(
    {
        "price",
        "prices",
        "cost",
        "costs",
        "income",
        "salary",
        "sales",
        "revenue",
        "amount",
        "fare",
        "rent",
        "value",
        "count",
        "counts",
        "population",
        "passengers",
        "sqft",
        "area",
        "year",
        "years",
        "age",
        "weight",
        "horsepower",
        "displacement",
        "pixel",
        "pixels",
        "insulin",
        "glucose",
        "pressure",
        "housing",
        "house",
        "houses",
        "diabetes",
        "pima",
        "mpg",
        "airline",
        "stock",
        "stocks",
        "taxi",
        "bike",
        "traffic",
        "energy",
        "volume",
        "balance",
        "credit",
        "loan",
        "duration",
        "distance",
        "size",
        "digit",
        "digits",
        "mnist",
    }
)

# Layers that put the inputs on a sane scale when they come first.
# Preprocessors whose fitting learns statistics of the data (leak when fitted before a split).
LEAKY_MODULES = (
    "sklearn.preprocessing.",
    "sklearn.impute.",
    "sklearn.feature_selection.",
    "sklearn.decomposition.",
    "imblearn.over_sampling.",
    "imblearn.under_sampling.",
    "imblearn.combine.",
    "category_encoders.",
    "sklearn.feature_extraction.text.",
)
LEAKY_CLASSES = frozenset(
    {
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
    }
)
# Stateless or label-only: fitting them before a split leaks nothing that matters.
HARMLESS = frozenset(
    {
        "LabelEncoder",
        "LabelBinarizer",
        "MultiLabelBinarizer",
        "FunctionTransformer",
        "Normalizer",
        "Binarizer",
        "PolynomialFeatures",
        "MissingIndicator",
        "HashingVectorizer",  # hashes each document alone: fit() learns nothing
    }
)
# Functions that standardize their argument with statistics of all its rows (a leak before a
# split); ``normalize`` scales each row alone and is not one of them.
STATISTIC_FUNCTIONS = frozenset(
    {
        "sklearn.preprocessing.scale",
        "sklearn.preprocessing.minmax_scale",
        "sklearn.preprocessing.robust_scale",
        "sklearn.preprocessing.maxabs_scale",
        "sklearn.preprocessing.quantile_transform",
        "sklearn.preprocessing.power_transform",
        "scipy.stats.zscore",
    }
)
# Methods that compute a statistic over the rows (``(x - x.mean()) / x.std()``).
STATISTIC_METHODS = frozenset({"mean", "std", "var", "min", "max", "median"})
# Cross-validation splitters: ``KFold(5).split(X)`` splits X into folds.
SPLITTERS = frozenset(
    "sklearn.model_selection." + name
    for name in (
        "KFold",
        "StratifiedKFold",
        "GroupKFold",
        "StratifiedGroupKFold",
        "RepeatedKFold",
        "RepeatedStratifiedKFold",
        "ShuffleSplit",
        "StratifiedShuffleSplit",
        "GroupShuffleSplit",
        "TimeSeriesSplit",
        "LeaveOneOut",
        "LeavePOut",
    )
)
# Functions that split their ``X`` (second argument) into folds.
CV_FUNCTIONS = frozenset(
    "sklearn.model_selection." + name
    for name in ("cross_val_score", "cross_validate", "cross_val_predict")
)
ADAPT_LAYERS = frozenset(
    {"Normalization", "TextVectorization", "StringLookup", "IntegerLookup", "Discretization"}
)
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_resample", "adapt"})

PIPELINES = frozenset(
    {
        "sklearn.pipeline.make_pipeline",
        "sklearn.pipeline.Pipeline",
        "imblearn.pipeline.make_pipeline",
        "imblearn.pipeline.Pipeline",
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
        "sklearn.pipeline.FeatureUnion",
        "sklearn.pipeline.make_union",
        "sklearn_pandas.DataFrameMapper",
    }
)


def is_number(v: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_columns(key: Any) -> bool:
    """A pandas column key: a name or a list of names."""
    return isinstance(key, str) or (
        isinstance(key, tuple) and bool(key) and all(isinstance(k, str) for k in key)
    )
