"""An LSTM reads each 8x8 digit image row by row: a sequence of 8 steps of 8 pixels."""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from axonal.layers import LSTM, Dense, Input
from axonal.models import Sequential

digits = load_digits()
# (samples, time steps = rows, features = pixels per row), scaled to [0, 1]
X = digits.images / 16.0
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

model = Sequential(
    [
        Input(shape=(8, 8)),
        LSTM(64),
        Dense(10, activation="softmax"),
    ]
)
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=25, batch_size=32)
loss, accuracy = model.evaluate(X_test, y_test)
print(f"Test loss: {loss:.4f}")
print(f"Test accuracy: {accuracy:.4f}")
