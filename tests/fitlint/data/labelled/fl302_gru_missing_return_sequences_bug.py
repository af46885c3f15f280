# expect: FL302
# functional API, text
import tensorflow as tf

inputs = tf.keras.Input(shape=(100,))
h = tf.keras.layers.Embedding(20000, 64)(inputs)
h = tf.keras.layers.GRU(64)(h)
h = tf.keras.layers.GRU(32)(h)
outputs = tf.keras.layers.Dense(1, activation="sigmoid")(h)
model = tf.keras.Model(inputs, outputs)
model.compile(optimizer="rmsprop", loss="binary_crossentropy")
model.fit(x_train, y_train, epochs=3, validation_split=0.2)
