# expect: none
# fixed: the input's origin is unknown; the output is split
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import RobustScaler
import tensorflow as tf

from features import load_features

X, y = load_features()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
scaler = RobustScaler()
Z_train = scaler.fit_transform(X_train)
Z_test = scaler.transform(X_test)
inputs = tf.keras.Input(shape=(Z_train.shape[1],))
h = tf.keras.layers.Dense(32, activation="relu")(inputs)
outputs = tf.keras.layers.Dense(1)(h)
model = tf.keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mae")
model.fit(Z_train, y_train, epochs=10, validation_data=(Z_test, y_test))
