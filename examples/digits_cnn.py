"""A small CNN on scikit-learn's 8x8 handwritten digits, written the Keras way."""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from axonal.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from axonal.models import Sequential

digits = load_digits()
# images as (samples, height, width, channels), pixel values scaled to [0, 1]
X = digits.images.reshape(-1, 8, 8, 1) / 16.0
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

model = Sequential(
    [
        Input(shape=(8, 8, 1)),
        Conv2D(32, kernel_size=3, padding="same", activation="relu"),
        MaxPooling2D(pool_size=2),
        Conv2D(64, kernel_size=3, padding="same", activation="relu"),
        Flatten(),
        Dense(10, activation="softmax"),
    ]
)
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=20, batch_size=64)
loss, accuracy = model.evaluate(X_test, y_test)
print(f"Test loss: {loss:.4f}")
print(f"Test accuracy: {accuracy:.4f}")
