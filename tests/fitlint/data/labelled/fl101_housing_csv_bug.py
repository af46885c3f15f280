# expect: FL101
# tabular CSV, raw prices
import pandas as pd
from tensorflow.keras import layers, models

df = pd.read_csv("housing.csv")
X = df.drop(columns=["median_house_value"]).values
y = df["median_house_value"].values
model = models.Sequential([layers.Dense(64, activation="relu"), layers.Dense(64, activation="relu"), layers.Dense(1)])
model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
model.fit(X, y, epochs=100, batch_size=32, validation_split=0.2)
