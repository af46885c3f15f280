# expect: FL102
# the function form scale()
import numpy as np
from sklearn import preprocessing
from sklearn.model_selection import train_test_split
from keras import Sequential, layers

data = np.loadtxt("sonar.csv", delimiter=",")
X = preprocessing.scale(data[:, :-1])
y = data[:, -1]
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y)
model = Sequential([layers.Dense(60, activation="relu"), layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="sgd", loss="binary_crossentropy")
model.fit(X_train, y_train, epochs=100, batch_size=8, validation_data=(X_test, y_test))
