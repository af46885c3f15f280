# expect: FL306
# hidden Dense layers without activation
import keras

model = keras.Sequential([
    keras.Input(shape=(13,)),
    keras.layers.Dense(64),
    keras.layers.Dense(64),
    keras.layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=100, validation_split=0.2)
