# expect: none
# fixed: an Ellipsis left after keyword arguments (a positional argument)
import numpy as np
from keras import layers, models

X = np.random.rand(500, 8)
y = np.random.randint(0, 2, 500)
model = models.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(X, y, epochs=10)
