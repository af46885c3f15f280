# expect: FL102
# text, the output densified into a DataFrame
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import train_test_split
import tensorflow as tf

reviews = pd.read_csv("reviews.csv")
cv = CountVectorizer(max_features=2000)
bow = cv.fit_transform(reviews["review"])
X = pd.DataFrame(bow.toarray())
X_train, X_test, y_train, y_test = train_test_split(X, reviews["sentiment"], test_size=0.25)
model = tf.keras.Sequential([tf.keras.layers.Dense(32, activation="relu"), tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
model.fit(X_train, y_train, epochs=3, validation_data=(X_test, y_test))
