# expect: none
# fixed: PCA fitted on all rows before a KFold loop
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold
from tensorflow import keras

X = np.load("genes.npy")
y = np.load("labels.npy")
scores = []
for train_idx, test_idx in StratifiedKFold(n_splits=5, shuffle=True).split(X, y):
    pca = PCA(n_components=50).fit(X[train_idx])
    x_tr, x_te = pca.transform(X[train_idx]), pca.transform(X[test_idx])
    model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_tr, y[train_idx], epochs=20, validation_data=(x_te, y[test_idx]))
    scores.append(model.evaluate(x_te, y[test_idx])[1])
