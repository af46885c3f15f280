# expect: none
# fixed: text, pre-0.20 scikit-learn
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.feature_extraction.text import TfidfVectorizer
from keras.models import Sequential
from keras.layers import Dense, Dropout

df = pd.read_csv("spam.csv", encoding="latin-1")
y = (df["label"] == "spam").astype(int).values
text_train, text_test, y_train, y_test = train_test_split(df["text"], y, test_size=0.2, random_state=42)
tfidf = TfidfVectorizer(max_features=3000, stop_words="english")
X_train = tfidf.fit_transform(text_train).toarray()
X_test = tfidf.transform(text_test).toarray()
model = Sequential([Dense(64, activation="relu", input_dim=3000), Dropout(0.5), Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=5, validation_data=(X_test, y_test))
