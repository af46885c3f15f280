# expect: FL102
# a scaler inside DataFrameMapper
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn_pandas import DataFrameMapper
import keras

df = pd.read_csv("churn.csv")
mapper = DataFrameMapper([(["tenure", "MonthlyCharges", "TotalCharges"], StandardScaler())], df_out=True)
X = mapper.fit_transform(df)
X_train, X_test, y_train, y_test = train_test_split(X, df["Churn"], test_size=0.3)
model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(X_train, y_train, epochs=20, validation_data=(X_test, y_test))
