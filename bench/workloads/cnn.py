"""LeNet-size CNN on 28×28×1 synthetic images: Adam, sparse softmax cross-entropy, batch 64.

Conv2D(6, 5, relu) → MaxPooling2D(2) → Conv2D(16, 5, relu) → MaxPooling2D(2) → Flatten →
Dense(120, relu) → Dense(84, relu) → Dense(10, softmax), on ``cnn_images`` float32 images of
uniform [0, 1) pixels with random integer labels from a fixed seed (the timing does not depend on
what is learnt). Channels-last for axonal and Keras; PyTorch trains on the same images as NCHW,
its native layout (the transpose is done once, untimed). One model per competitor is warmed up
on a slice of the data, then each sample times ``cnn_epochs`` epochs over all images; the figure
is training images per second.

Peak memory is measured as for the MLP (``memory``), in a fresh worker per competitor
(``cnn_memory``): the RSS after imports and data is the baseline, the figure is the peak RSS
while building the model and training one epoch, minus it. The runner adds those figures to this
workload's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, Ratio, best, column

TITLE = "LeNet CNN on 28×28×1: conv 6@5×5, pool, conv 16@5×5, pool, dense 120-84-10, Adam, batch 64"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
# the layers before the softmax output, in the form every competitor's ``build_cnn`` takes:
# ("conv", filters, kernel_size, padding) with ReLU, ("pool", size) for max pooling,
# ("flatten",), ("dense", units) with ReLU
LAYERS: tuple[tuple[Any, ...], ...] = (
    ("conv", 6, 5, "valid"),
    ("pool", 2),
    ("conv", 16, 5, "valid"),
    ("pool", 2),
    ("flatten",),
    ("dense", 120),
    ("dense", 84),
)
METRICS = (
    Metric("images_per_s", "images/s"),
    Metric("step_ms", "ms/step"),
    Metric("gflops", "GFLOP/s"),
    Metric("peak_delta_mb", "peak − baseline (MiB)"),
    Metric("peak_mb", "peak RSS (MiB)"),
)
PRIMARY = "images_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"
EXTRA_RATIOS = (Ratio("peak_delta_mb", "memory vs PyTorch", higher_is_better=False),)


def multiply_adds(
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    layers: Sequence[tuple[Any, ...]] = LAYERS,
    classes: int = CLASSES,
) -> int:
    """Multiply-adds of one image's forward pass through the convolutions and dense layers."""
    height, width, channels = input_shape
    features = 0
    total = 0
    for spec in layers:
        if spec[0] == "conv":
            _, filters, size, padding = spec
            if padding == "valid":
                height, width = height - size + 1, width - size + 1
            total += height * width * filters * size * size * channels
            channels = filters
        elif spec[0] == "pool":
            height, width = height // spec[1], width // spec[1]
        elif spec[0] == "flatten":
            features = height * width * channels
        elif spec[0] == "dense":
            total += features * spec[1]
            features = spec[1]
    return total + features * classes


def flops_per_image(
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    layers: Sequence[tuple[Any, ...]] = LAYERS,
    classes: int = CLASSES,
) -> int:
    """Training FLOPs per image, about 6 per multiply-add: 2 forward and 4 backward."""
    return 6 * multiply_adds(input_shape, layers, classes)


def make_data(images: int, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``images`` float32 images ``(n, 28, 28, 1)`` of uniform [0, 1) pixels; int64 labels.

    Generated directly in float32, with no float64 temporary, so the memory baseline is not
    inflated by a transient peak.
    """
    rng = numpy.random.default_rng(seed)
    x = rng.random((images, *INPUT_SHAPE), dtype=numpy.float32)
    y = rng.integers(0, CLASSES, size=images, dtype=numpy.int64)
    return x, y


class Session:
    """The images in the library's layout and one model; a warm-up fit on a slice."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x, y = make_data(settings.cnn_images, settings.seed)
        self.impl = impl
        self.settings = settings
        self.x = impl.native_images(x)
        self.y = impl.native(y)
        self.model = impl.build_cnn(INPUT_SHAPE, LAYERS, CLASSES, settings.seed)
        warm = min(settings.cnn_warmup_images, settings.cnn_images)
        impl.fit(self.model, self.x[:warm], self.y[:warm], 1, settings.cnn_batch_size)

    def sample(self) -> dict[str, float]:
        """Time ``cnn_epochs`` epochs over all images."""
        settings = self.settings
        epochs = settings.cnn_epochs
        batch_size = settings.cnn_batch_size
        return {
            "fit_s": timed(lambda: self.impl.fit(self.model, self.x, self.y, epochs, batch_size))
        }


def steps(settings: Settings) -> int:
    """Gradient steps in one sample."""
    return settings.cnn_epochs * -(-settings.cnn_images // settings.cnn_batch_size)


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Images/s, ms per step and GFLOP/s from the best sample (memory is added by the runner)."""
    fit_s = best(samples, "fit_s")
    images_per_s = settings.cnn_epochs * settings.cnn_images / fit_s
    return {
        "images_per_s": images_per_s,
        "step_ms": fit_s / steps(settings) * 1e3,
        "gflops": images_per_s * flops_per_image() / 1e9,
        "samples_fit_s": column(samples, "fit_s"),
    }
