# expect: none
# fixed: standardization applied with DataFrame.apply
import pandas as pd
from sklearn.model_selection import train_test_split
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Dense

wine = pd.read_csv("winequality-red.csv", sep=";")
features = wine.columns[:-1]
X_train, X_test, y_train, y_test = train_test_split(wine[features], wine["quality"], test_size=0.2)
mean, std = X_train.mean(), X_train.std()
X_train = (X_train - mean) / std
X_test = (X_test - mean) / std
model = Sequential([Dense(32, activation="relu"), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X_train, y_train, epochs=30, validation_data=(X_test, y_test))
