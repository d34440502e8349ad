"""The iris program: Dense 4 relu → Dense 3 softmax, Adam(1e-3), sparse CE, batch 10, 100 epochs.

Trained on the 120-row standardised iris training split (``axonal.datasets``, the same split and
scaling as scikit-learn's ``train_test_split(test_size=0.2, random_state=42)`` and
``StandardScaler``), as float32. Each sample is one whole ``fit`` on a fresh model; building and
compiling the model is not timed. With 12 batches per epoch, 100 epochs are 1,200 steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best, column

TITLE = "iris program: Dense 4 relu → Dense 3 softmax, Adam, batch 10"
SIZES = (4, 4, 3)
TRAIN_ROWS = 120
METRICS = (Metric("fit_s", "fit (s)"), Metric("step_us", "µs/step"))
PRIMARY = "step_us"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "fit_s"


def load() -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """``x_train, x_test, y_train, y_test``: standardised float32 features, int64 labels."""
    from axonal.datasets import load_iris, standardize, train_test_split

    x, y = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    x_train, x_test = standardize(x_train, x_test)
    return (
        numpy.ascontiguousarray(x_train, dtype=numpy.float32),
        numpy.ascontiguousarray(x_test, dtype=numpy.float32),
        y_train.astype(numpy.int64),
        y_test.astype(numpy.int64),
    )


def steps(settings: Settings) -> int:
    """Gradient steps in one fit."""
    return settings.iris_epochs * math.ceil(TRAIN_ROWS / settings.iris_batch_size)


class Session:
    """The data in the library's form; one untimed fit as warm-up."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x_train, _, y_train, _ = load()
        self.impl = impl
        self.settings = settings
        self.x = impl.native(x_train)
        self.y = impl.native(y_train)
        self.sample()

    def sample(self) -> dict[str, float]:
        """Build a fresh model (untimed), then time one whole fit."""
        settings = self.settings
        model = self.impl.build(SIZES, settings.seed)
        epochs = settings.iris_epochs
        batch_size = settings.iris_batch_size
        return {"fit_s": timed(lambda: self.impl.fit(model, self.x, self.y, epochs, batch_size))}


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Best fit time, and per step."""
    fit_s = best(samples, "fit_s")
    return {
        "fit_s": fit_s,
        "step_us": fit_s / steps(settings) * 1e6,
        "steps": steps(settings),
        "samples_fit_s": column(samples, "fit_s"),
    }
