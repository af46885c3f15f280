# expect: none
# fixed: the split done in a class
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import tensorflow as tf

class TabularData:
    def __init__(self, features, target):
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(features, target, test_size=0.2)
        scaler = StandardScaler().fit(self.x_train)
        self.x_train, self.x_test = scaler.transform(self.x_train), scaler.transform(self.x_test)

df = pd.read_csv("insurance.csv")
data = TabularData(df[["age", "bmi", "children"]].values, df["charges"].values)
model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(data.x_train, data.y_train, epochs=50, validation_data=(data.x_test, data.y_test))
