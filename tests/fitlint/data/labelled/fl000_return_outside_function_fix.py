# expect: none
# fixed: a notebook cell pasted into a script
import tensorflow as tf

def train(x, y):
    model = tf.keras.models.load_model("model.keras")
    history = model.fit(x, y, epochs=3)
    if history.history["loss"][-1] > 1.0:
        return None
    return model
