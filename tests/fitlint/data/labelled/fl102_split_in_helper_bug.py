# expect: FL102
# the split done in a user function
import numpy as np
from sklearn.preprocessing import StandardScaler
import keras

def split_data(data, labels, frac=0.8):
    n = int(len(data) * frac)
    return data[:n], data[n:], labels[:n], labels[n:]

X = np.load("features.npy")
y = np.load("labels.npy")
X = StandardScaler().fit_transform(X)
x_tr, x_te, y_tr, y_te = split_data(X, y)
model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="binary_crossentropy")
model.fit(x_tr, y_tr, epochs=15, validation_data=(x_te, y_te))
