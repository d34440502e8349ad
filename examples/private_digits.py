"""Differentially private training (DP-SGD) on scikit-learn's 8x8 digits, at epsilon = 3.

The same small network is trained twice: once with DP-SGD at (epsilon = 3, delta = 1e-5), once
without privacy, and both are scored on the held-out test split.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from axonal.layers import Dense, Flatten, Input
from axonal.models import Sequential
from axonal.optimizers import Adam
from axonal.privacy import DPOptimizer, EpsilonLogger, noise_multiplier_for

digits = load_digits()
X = digits.images.reshape(-1, 8, 8, 1) / 16.0
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

TARGET_EPSILON, DELTA = 3.0, 1e-5
EPOCHS, BATCH_SIZE, L2_NORM_CLIP = 30, 64, 1.0


def build():
    return Sequential(
        [
            Input(shape=(8, 8, 1)),
            Flatten(),
            Dense(32, activation="tanh"),
            Dense(10, activation="softmax"),
        ]
    )


# the noise that spends exactly the privacy budget over this many epochs
noise = noise_multiplier_for(TARGET_EPSILON, DELTA, len(X_train), BATCH_SIZE, EPOCHS)
print(f"noise multiplier for epsilon={TARGET_EPSILON}, delta={DELTA}: {noise:.3f}")

private = build()
private.compile(
    optimizer=DPOptimizer(Adam(0.01), l2_norm_clip=L2_NORM_CLIP, noise_multiplier=noise),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = private.fit(
    X_train,
    y_train,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    callbacks=[EpsilonLogger(delta=DELTA)],
    verbose=0,
)
epsilon = history.history["epsilon"][-1]
_, accuracy = private.evaluate(X_test, y_test, verbose=0)

baseline = build()
baseline.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
baseline.fit(X_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
_, baseline_accuracy = baseline.evaluate(X_test, y_test, verbose=0)

print(f"DP-SGD (epsilon={epsilon:.2f}, delta={DELTA}): test accuracy {accuracy:.4f}")
print(f"Non-private training:            test accuracy {baseline_accuracy:.4f}")
