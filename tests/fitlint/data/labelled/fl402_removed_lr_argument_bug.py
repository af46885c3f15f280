# expect: FL402
# Keras 2 lr= and nb_epoch=
from keras.models import Sequential
from keras.layers import Dense
from keras.optimizers import Adam

model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3, activation="softmax")])
model.compile(optimizer=Adam(lr=0.001), loss="categorical_crossentropy")
model.fit(X, Y, nb_epoch=200, batch_size=5, validation_split=0.2)
