# expect: FL201
# CNN, Adam at 0.5
from tensorflow import keras

(x_train, y_train), _ = keras.datasets.cifar10.load_data()
model = keras.Sequential([
    keras.layers.Rescaling(1 / 255, input_shape=(32, 32, 3)),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.5), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x_train, y_train, epochs=10, validation_split=0.1)
