# expect: FL202
# SGD at 1e-9
import numpy as np
import tensorflow as tf

x = np.random.rand(2000, 20).astype("float32")
y = (x.sum(axis=1) > 10).astype("float32")
model = tf.keras.Sequential([tf.keras.layers.Dense(32, activation="relu"), tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=1e-9), loss="binary_crossentropy")
model.fit(x, y, epochs=20, batch_size=32, validation_split=0.2)
