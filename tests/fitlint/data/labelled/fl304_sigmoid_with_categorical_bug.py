# expect: FL304
# one sigmoid unit, categorical cross-entropy
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Dense(64, activation="relu", input_shape=(20,)))
model.add(Dense(1, activation="sigmoid"))
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=10, validation_split=0.2)
