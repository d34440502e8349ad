"""The digits CNN of ``examples/digits_cnn.py`` on scikit-learn's 8×8 handwritten digits.

Conv2D(32, 3, same, relu) → MaxPooling2D(2) → Conv2D(64, 3, same, relu) → Flatten →
Dense(10, softmax), Adam(learning_rate=1e-3), sparse categorical cross-entropy, batch 64, 20
epochs on the 1,437-image training split (``train_test_split(test_size=0.2, random_state=42)``),
pixels scaled to [0, 1], as float32 (the example compiles with an accuracy metric as well; here
no competitor computes metrics during ``fit``, as in the other workloads). Channels-last for
axonal and Keras, NCHW for PyTorch. Each sample is one whole ``fit`` on a freshly built model
(building is not timed), like ``iris``; afterwards, untimed, the model's accuracy on the
360-image test split is recorded, to show every competitor did the same learning. Needs
scikit-learn for the data: without it the runner skips the workload.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best, column

TITLE = "digits CNN (examples/digits_cnn.py): 8×8×1, conv 32@3×3 same, pool, conv 64@3×3 same, "
TITLE += "dense 10, Adam, batch 64"
REQUIRES = ("sklearn",)
INPUT_SHAPE = (8, 8, 1)
CLASSES = 10
TRAIN_ROWS = 1_437  # of 1,797 images, test_size=0.2
# in the form every competitor's ``build_cnn`` takes (see ``cnn.LAYERS``)
LAYERS: tuple[tuple[Any, ...], ...] = (
    ("conv", 32, 3, "same"),
    ("pool", 2),
    ("conv", 64, 3, "same"),
    ("flatten",),
)
METRICS = (
    Metric("fit_s", "fit (s)"),
    Metric("images_per_s", "images/s"),
    Metric("step_ms", "ms/step"),
    Metric("test_accuracy", "test accuracy"),
)
PRIMARY = "images_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"


def load() -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """``x_train, x_test, y_train, y_test``: float32 ``(n, 8, 8, 1)`` images, int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.reshape(-1, *INPUT_SHAPE) / 16.0).astype(numpy.float32)
    y = digits.target.astype(numpy.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    return (
        numpy.ascontiguousarray(x_train),
        numpy.ascontiguousarray(x_test),
        y_train,
        y_test,
    )


def train_rows(settings: Settings) -> int:
    """Images in the training set used: the whole split unless ``digits_train_rows`` is set."""
    rows = settings.digits_train_rows
    return TRAIN_ROWS if rows is None else min(rows, TRAIN_ROWS)


def steps(settings: Settings) -> int:
    """Gradient steps in one fit."""
    return settings.digits_epochs * -(-train_rows(settings) // settings.digits_batch_size)


class Session:
    """The images in the library's layout; an untimed one-epoch fit of a fresh model."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x_train, x_test, y_train, y_test = load()
        if len(x_train) != TRAIN_ROWS:
            raise RuntimeError(f"expected {TRAIN_ROWS} training images, got {len(x_train)}")
        rows = train_rows(settings)
        x_train, y_train = x_train[:rows], y_train[:rows]
        self.impl = impl
        self.settings = settings
        self.x = impl.native_images(x_train)
        self.y = impl.native(y_train)
        self.x_test = impl.native_images(x_test)
        self.y_test = y_test
        model = impl.build_cnn(INPUT_SHAPE, LAYERS, CLASSES, settings.seed)
        impl.fit(model, self.x, self.y, 1, settings.digits_batch_size)

    def sample(self) -> dict[str, float]:
        """Build a fresh model (untimed), time one whole fit, then score it (untimed)."""
        settings = self.settings
        model = self.impl.build_cnn(INPUT_SHAPE, LAYERS, CLASSES, settings.seed)
        epochs = settings.digits_epochs
        batch_size = settings.digits_batch_size
        fit_s = timed(lambda: self.impl.fit(model, self.x, self.y, epochs, batch_size))
        scores = numpy.asarray(self.impl.predict_many(model, self.x_test, None))
        accuracy = float(numpy.mean(scores.argmax(axis=-1) == self.y_test))
        return {"fit_s": fit_s, "test_accuracy": accuracy}


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Best fit time, images/s and ms per step; the median test accuracy over the samples."""
    fit_s = best(samples, "fit_s")
    return {
        "fit_s": fit_s,
        "images_per_s": settings.digits_epochs * train_rows(settings) / fit_s,
        "step_ms": fit_s / steps(settings) * 1e3,
        "test_accuracy": statistics.median(sample["test_accuracy"] for sample in samples),
        "train_images": train_rows(settings),
        "steps": steps(settings),
        "samples_fit_s": column(samples, "fit_s"),
        "samples_test_accuracy": column(samples, "test_accuracy"),
    }
