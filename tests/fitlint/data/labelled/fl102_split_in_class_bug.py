# expect: FL102
# the split done in a class
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import tensorflow as tf

class TabularData:
    def __init__(self, features, target):
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(features, target, test_size=0.2)

df = pd.read_csv("insurance.csv")
X = StandardScaler().fit_transform(df[["age", "bmi", "children"]])
data = TabularData(X, df["charges"].values)
model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(data.x_train, data.y_train, epochs=50, validation_data=(data.x_test, data.y_test))
