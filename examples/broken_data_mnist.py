"""A quick MNIST experiment with three data mistakes.

- the images reach fit() as raw uint8 pixels (0-255): no scaling, no Rescaling layer;
- a debugging slice of 500 images is left in, and batch_size=512 covers all of it;
- the test split doubles as validation data, then is reported as the test score.

    python examples/broken_data_mnist.py
"""

import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()

# Debugging subset left in place.
x_train = x_train[:500]
y_train = y_train[:500]

model = tf.keras.Sequential(
    [
        tf.keras.Input(shape=(28, 28)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    x_train,
    y_train,
    epochs=5,
    batch_size=512,
    validation_data=(x_test, y_test),
)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {test_acc:.3f}")
