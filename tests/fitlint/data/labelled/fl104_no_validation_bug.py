# expect: FL104
# no validation data
import keras

train_ds = keras.utils.image_dataset_from_directory("flowers/train", image_size=(180, 180))
model = keras.Sequential([keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(16, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(train_ds, epochs=10)
