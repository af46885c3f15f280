# expect: none
# fixed: text, the output densified into a DataFrame
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import train_test_split
import tensorflow as tf

reviews = pd.read_csv("reviews.csv")
r_train, r_test, y_train, y_test = train_test_split(reviews["review"], reviews["sentiment"], test_size=0.25)
cv = CountVectorizer(max_features=2000)
X_train = pd.DataFrame(cv.fit_transform(r_train).toarray())
X_test = pd.DataFrame(cv.transform(r_test).toarray())
model = tf.keras.Sequential([tf.keras.layers.Dense(32, activation="relu"), tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
model.fit(X_train, y_train, epochs=3, validation_data=(X_test, y_test))
