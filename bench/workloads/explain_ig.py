"""Integrated gradients for 100 test images of the digits CNN (``examples/explain_digits.py``).

The CNN of ``digits_cnn`` (8×8×1 images), trained untimed for two epochs so the attributions
are of a real model. A sample is one integrated-gradients call over 100 test images: 50 path
points per image from a black baseline, trapezoid rule, the predicted class's softmax
probability attributed, 1,024 path points per forward/backward pass (so 5 passes of the CNN,
plus a forward pass for the predicted classes). axonal: ``axonal.explain.integrated_gradients``;
PyTorch: the same computation written by hand (no Captum) on the NCHW module, its weights
frozen so only input gradients are computed, as axonal does. Also recorded, untimed: the largest
completeness gap, ``|sum of attributions - (f(x) - f(baseline))|``, which both should keep small.
Needs scikit-learn for the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best, column, digits_cnn

TITLE = "integrated gradients, digits CNN: 100 test images × 50 steps, 1,024 points per pass"
REQUIRES = ("sklearn",)
IMAGES = 100
QUICK_IMAGES = 10
STEPS = 50
CHUNK = 1024
METRICS = (
    Metric("ig_ms", "ms, 100 images"),
    Metric("images_per_s", "images/s"),
    Metric("max_gap", "max completeness gap"),
)
PRIMARY = "ig_ms"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "ig_s"


def images(settings: Settings) -> int:
    """Images explained per sample."""
    return QUICK_IMAGES if settings.quick else IMAGES


def _trapezoid(steps: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    alphas = numpy.linspace(0.0, 1.0, steps, dtype=numpy.float32)
    weights = numpy.full(steps, 1.0 / (steps - 1), dtype=numpy.float32)
    weights[[0, -1]] /= 2
    return alphas, weights


def _axonal_ig(model: Any, x: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    from axonal import explain

    return explain.integrated_gradients(model, x, steps=STEPS, internal_batch_size=CHUNK)


def _torch_ig(model: Any, x: Any) -> tuple[Any, Any]:
    """Integrated gradients in plain PyTorch: the same path points, batched the same way."""
    import torch

    module = model.module
    alphas, weights = (torch.from_numpy(a) for a in _trapezoid(STEPS))
    with torch.no_grad():
        probabilities = torch.softmax(module(x), dim=1)
        targets = probabilities.argmax(dim=1)
        rows = torch.arange(len(x))
        difference = (
            probabilities[rows, targets]
            - torch.softmax(module(torch.zeros_like(x)), dim=1)[rows, targets]
        )
    shape = (1, STEPS) + (1,) * (x.dim() - 1)
    total = torch.zeros_like(x)
    rows_per_pass = max(1, CHUNK // STEPS)
    for start in range(0, len(x), rows_per_pass):
        block = x[start : start + rows_per_pass]
        # the baseline is zeros: the point at alpha is alpha * x
        points = (alphas.view(shape) * block.unsqueeze(1)).reshape(-1, *x.shape[1:])
        points.requires_grad_(True)
        scores = torch.softmax(module(points), dim=1)
        picked = targets[start : start + rows_per_pass].repeat_interleave(STEPS)
        scores[torch.arange(len(points)), picked].sum().backward()
        grads = points.grad.view(len(block), STEPS, *x.shape[1:])
        total[start : start + rows_per_pass] = (weights.view(shape) * grads).sum(dim=1)
    attributions = x * total
    gap = attributions.reshape(len(x), -1).sum(dim=1) - difference
    return attributions, gap


# the implementation for each competitor module
_RUNNERS: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
    "axonal_impl": _axonal_ig,
    "torch_impl": _torch_ig,
}


class Session:
    """A digits CNN trained for two epochs (untimed), the test images, one warm-up call."""

    def __init__(self, impl: ModuleType, settings: Settings):
        library = impl.__name__.rsplit(".", 1)[-1]
        if library not in _RUNNERS:
            raise RuntimeError(f"no integrated-gradients implementation for {library}")
        x_train, x_test, y_train, _ = digits_cnn.load()
        rows = digits_cnn.train_rows(settings)
        self.model = impl.build_cnn(
            digits_cnn.INPUT_SHAPE, digits_cnn.LAYERS, digits_cnn.CLASSES, settings.seed
        )
        epochs = 1 if settings.quick else 2
        impl.fit(
            self.model,
            impl.native_images(x_train[:rows]),
            impl.native(y_train[:rows]),
            epochs,
            settings.digits_batch_size,
        )
        if library == "torch_impl":
            # only input gradients are wanted: no weight takes part in the graph
            self.model.module.eval()
            for parameter in self.model.module.parameters():
                parameter.requires_grad_(False)
        self.x = impl.native_images(numpy.ascontiguousarray(x_test[: images(settings)]))
        self.run = _RUNNERS[library]
        self.run(self.model, self.x)

    def sample(self) -> dict[str, float]:
        """One timed integrated-gradients call; the completeness gap of a second, untimed."""
        ig_s = timed(lambda: self.run(self.model, self.x))
        _, gap = self.run(self.model, self.x)
        return {"ig_s": ig_s, "max_gap": float(numpy.abs(numpy.asarray(gap)).max())}


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Best time in ms and images/s; the largest completeness gap over the samples."""
    ig_s = best(samples, "ig_s")
    count = images(settings)
    return {
        "ig_ms": ig_s * 1e3,
        "images_per_s": count / ig_s,
        "max_gap": max(sample["max_gap"] for sample in samples),
        "images": count,
        "steps": STEPS,
        "samples_ig_s": column(samples, "ig_s"),
    }
