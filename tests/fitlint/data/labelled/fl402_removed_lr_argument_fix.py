# expect: none
# fixed: Keras 2 lr= and nb_epoch=
from keras.models import Sequential
from keras.layers import Dense
from keras.optimizers import Adam

model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3, activation="softmax")])
model.compile(optimizer=Adam(learning_rate=0.001), loss="categorical_crossentropy")
model.fit(X, Y, epochs=200, batch_size=5, validation_split=0.2)
