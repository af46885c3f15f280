# expect: FL303
# four sigmoid hidden layers
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(256, activation="sigmoid"),
    layers.Dense(256, activation="sigmoid"),
    layers.Dense(256, activation="sigmoid"),
    layers.Dense(256, activation="sigmoid"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=30, validation_split=0.1)
