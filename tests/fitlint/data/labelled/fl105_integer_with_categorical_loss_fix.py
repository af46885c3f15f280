# expect: none
# fixed: integer labels, categorical loss, subclassed model
import keras
from keras import layers

class SmallCNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(32, 3, activation="relu")
        self.pool = layers.GlobalAveragePooling2D()
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.pool(self.conv(x)))

(x_train, y_train), _ = keras.datasets.cifar10.load_data()
x_train = x_train.astype("float32") / 255.0
model = SmallCNN()
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=keras.losses.SparseCategoricalCrossentropy())
model.fit(x_train, y_train, epochs=10, validation_split=0.1)
