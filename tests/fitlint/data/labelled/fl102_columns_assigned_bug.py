# expect: FL102
# results assigned into columns
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler
from tensorflow import keras

df = pd.read_csv("heart.csv")
num_cols = ["age", "trestbps", "chol", "thalach", "oldpeak"]
scaler = MinMaxScaler()
df[num_cols] = scaler.fit_transform(df[num_cols])
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["target"]), df["target"], test_size=0.2)
model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=50, validation_data=(X_test, y_test))
