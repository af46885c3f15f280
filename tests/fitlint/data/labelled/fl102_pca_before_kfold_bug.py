# expect: FL102
# PCA fitted on all rows before a KFold loop
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold
from tensorflow import keras

X = np.load("genes.npy")
y = np.load("labels.npy")
X = PCA(n_components=50).fit_transform(X)
scores = []
for train_idx, test_idx in StratifiedKFold(n_splits=5, shuffle=True).split(X, y):
    model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X[train_idx], y[train_idx], epochs=20, validation_data=(X[test_idx], y[test_idx]))
    scores.append(model.evaluate(X[test_idx], y[test_idx])[1])
