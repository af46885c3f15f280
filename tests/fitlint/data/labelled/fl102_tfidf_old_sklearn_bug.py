# expect: FL102
# text, pre-0.20 scikit-learn
import pandas as pd
from sklearn.cross_validation import train_test_split
from sklearn.feature_extraction.text import TfidfVectorizer
from keras.models import Sequential
from keras.layers import Dense, Dropout

df = pd.read_csv("spam.csv", encoding="latin-1")
tfidf = TfidfVectorizer(max_features=3000, stop_words="english")
X = tfidf.fit_transform(df["text"]).toarray()
y = (df["label"] == "spam").astype(int).values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
model = Sequential([Dense(64, activation="relu", input_dim=3000), Dropout(0.5), Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=5, validation_data=(X_test, y_test))
