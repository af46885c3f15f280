"""A tabular classifier whose preprocessing leaks the test set into training.

The imputer, the scaler and SMOTE are all fitted on the whole table before
train_test_split: their statistics (and SMOTE's synthetic neighbours) include the test rows,
so the test accuracy is optimistic. The training call also has no validation data.

    python examples/broken_data_tabular.py --csv churn.csv
"""

import argparse

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow import keras

parser = argparse.ArgumentParser()
parser.add_argument("--csv", default="churn.csv")
args = parser.parse_args()

df = pd.read_csv(args.csv)
X = df.drop(columns=["churned"]).values
y = df["churned"].values

X = SimpleImputer(strategy="median").fit_transform(X)
scaler = StandardScaler()
X = scaler.fit_transform(X)
X, y = SMOTE(random_state=0).fit_resample(X, y)

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

model = keras.Sequential(
    [
        keras.Input(shape=(X.shape[1],)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=20, batch_size=64)
print("test accuracy:", model.evaluate(X_test, y_test, verbose=0)[1])
print("positive rate:", np.mean(y_test))
