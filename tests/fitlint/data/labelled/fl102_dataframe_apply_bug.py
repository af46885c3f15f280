# expect: FL102
# standardization applied with DataFrame.apply
import pandas as pd
from sklearn.model_selection import train_test_split
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Dense

wine = pd.read_csv("winequality-red.csv", sep=";")
features = wine.columns[:-1]
wine[features] = wine[features].apply(lambda col: (col - col.mean()) / col.std())
X_train, X_test, y_train, y_test = train_test_split(wine[features], wine["quality"], test_size=0.2)
model = Sequential([Dense(32, activation="relu"), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X_train, y_train, epochs=30, validation_data=(X_test, y_test))
