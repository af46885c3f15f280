# expect: FL401
# epochs= given to compile()
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse", epochs=20)
model.fit(x_train, y_train, validation_split=0.2)
