# expect: none
# fixed: a scaler inside DataFrameMapper
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn_pandas import DataFrameMapper
import keras

df = pd.read_csv("churn.csv")
df_train, df_test, y_train, y_test = train_test_split(df, df["Churn"], test_size=0.3)
mapper = DataFrameMapper([(["tenure", "MonthlyCharges", "TotalCharges"], StandardScaler())], df_out=True)
X_train = mapper.fit_transform(df_train)
X_test = mapper.transform(df_test)
model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(X_train, y_train, epochs=20, validation_data=(X_test, y_test))
