"""Which pixels made the call? Integrated gradients on the digits CNN of examples/digits_cnn.py.

Trains the CNN for a few epochs, attributes the predicted class of eight test images to their
pixels with integrated gradients (from a black image), checks that each image's attributions
add up to the change in the predicted probability, and saves the heat maps as a PNG: red pixels
raised the probability of the predicted digit, blue ones lowered it.

    python examples/explain_digits.py [--quick] [--out explain_digits.png]

``--quick`` (or the environment variable AXONAL_QUICK_EXAMPLES=1) trains one epoch on 300
images: a smoke test, not a good model. Needs scikit-learn (the data) and matplotlib (the plot).
"""

import argparse
import os

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import axonal.plot
from axonal import explain
from axonal.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from axonal.models import Sequential

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="one epoch on 300 images")
parser.add_argument("--out", default="explain_digits.png", help="where to save the heat maps")
args = parser.parse_args()
quick = args.quick or os.environ.get("AXONAL_QUICK_EXAMPLES") == "1"

digits = load_digits()
# images as (samples, height, width, channels), pixel values scaled to [0, 1]
X = digits.images.reshape(-1, 8, 8, 1) / 16.0
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
if quick:
    X_train, y_train = X_train[:300], y_train[:300]

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
model.fit(X_train, y_train, epochs=1 if quick else 8, batch_size=64, verbose=0)
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")

images = X_test[:8]
# the baseline defaults to zeros: a black image, "no ink anywhere"
attributions, gap = explain.integrated_gradients(model, images, steps=50)
probabilities = model.predict(images, verbose=0)
predicted = probabilities.argmax(axis=1)
# completeness: sum of attributions = f(image) - f(black image), up to the integration error
print(f"Largest completeness gap: {abs(gap).max():.4f} (in units of probability)")

# "true digit → predicted digit (its probability)" over each heat map
titles = [
    f"{truth} → {guess} ({probability[guess]:.2f})"
    for truth, guess, probability in zip(y_test[:8], predicted, probabilities, strict=True)
]
axonal.plot.attributions(attributions, images, path=args.out, titles=titles)
print(f"Saved the heat maps to {args.out}")
