"""DP-SGD step time against plain training, both axonal: the MLP and the digits CNN.

The two models of the ``mlp`` and ``digits_cnn`` workloads (MLP 784-512-256-10 at batch 128;
conv 32@3×3 same, pool, conv 64@3×3 same, dense 10 at batch 64; Adam, sparse softmax
cross-entropy), each trained once with its plain Adam and once with
``axonal.privacy.DPOptimizer(Adam, l2_norm_clip=1.0, noise_multiplier=1.1)``: per-example
gradients, clipping, Gaussian noise and Poisson-sampled batches (of the same expected size, and
as many per epoch). The data are synthetic (standard-normal rows, uniform [0, 1) 8×8 images,
random labels, fixed seed): the timing does not depend on what is learnt. Each sample times one
``fit`` per model (``mlp_rows`` rows, one epoch; the digits training split's size,
``digits_epochs // 5`` epochs); the figures are milliseconds per step and the DP/plain ratio of
the best samples. axonal alone runs it: the comparison is with itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best, column, digits_cnn, mlp

TITLE = (
    "DP-SGD vs plain training, axonal (clip 1.0, noise 1.1, Poisson batches): "
    "MLP 784-512-256-10 batch 128, digits CNN batch 64"
)
METRICS = (
    Metric("mlp_plain_ms", "MLP plain ms/step"),
    Metric("mlp_dp_ms", "MLP DP ms/step"),
    Metric("mlp_dp_ratio", "MLP DP/plain"),
    Metric("cnn_plain_ms", "CNN plain ms/step"),
    Metric("cnn_dp_ms", "CNN DP ms/step"),
    Metric("cnn_dp_ratio", "CNN DP/plain"),
)
PRIMARY = "mlp_dp_ratio"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "mlp_dp_s"
L2_NORM_CLIP = 1.0
NOISE_MULTIPLIER = 1.1
# (model, variant) pairs in the order each sample times them: plain and DP alternate
RUNS = (("mlp", "plain"), ("mlp", "dp"), ("cnn", "plain"), ("cnn", "dp"))


def digits_epochs(settings: Settings) -> int:
    """Epochs of the digits CNN per sample: a fifth of the ``digits_cnn`` workload's."""
    return max(1, settings.digits_epochs // 5)


def steps(settings: Settings) -> dict[str, int]:
    """Steps one fit takes, per model (the same for plain and DP: Poisson sampling draws
    ``ceil(n / batch_size)`` batches an epoch)."""
    return {
        "mlp": math.ceil(settings.mlp_rows / settings.mlp_batch_size),
        "cnn": digits_epochs(settings)
        * math.ceil(digits_cnn.train_rows(settings) / settings.digits_batch_size),
    }


def _make_private(model: Any, seed: int) -> Any:
    """``model`` recompiled with DPOptimizer around the same Adam settings."""
    from axonal.optimizers import Adam
    from axonal.privacy import DPOptimizer

    optimizer = DPOptimizer(Adam(learning_rate=1e-3), L2_NORM_CLIP, NOISE_MULTIPLIER, seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


class Session:
    """The data and four models (MLP and CNN, plain and DP), each warmed up with one fit."""

    def __init__(self, impl: ModuleType, settings: Settings):
        if not impl.__name__.endswith("axonal_impl"):
            raise RuntimeError("the dp workload compares axonal's DP-SGD with its own training")
        self.settings = settings
        seed = settings.seed
        rng = numpy.random.default_rng(seed)
        rows = digits_cnn.train_rows(settings)
        images = rng.random((rows,) + digits_cnn.INPUT_SHAPE, dtype=numpy.float32)
        labels = rng.integers(0, digits_cnn.CLASSES, size=rows)
        self.data = {"mlp": mlp.make_data(settings.mlp_rows, seed), "cnn": (images, labels)}
        self.batch = {"mlp": settings.mlp_batch_size, "cnn": settings.digits_batch_size}
        self.epochs = {"mlp": 1, "cnn": digits_epochs(settings)}
        self.models = {}
        for name, variant in RUNS:
            if name == "mlp":
                model = impl.build(mlp.SIZES, seed)
            else:
                model = impl.build_cnn(
                    digits_cnn.INPUT_SHAPE, digits_cnn.LAYERS, digits_cnn.CLASSES, seed
                )
            if variant == "dp":
                model = _make_private(model, seed)
            x, y = self.data[name]
            warm = min(len(x), 4 * self.batch[name])
            model.fit(x[:warm], y[:warm], batch_size=self.batch[name], epochs=1, verbose=0)
            self.models[(name, variant)] = model

    def sample(self) -> dict[str, float]:
        """One fit of each model, timed: ``{"mlp_plain_s": ..., "mlp_dp_s": ..., ...}``."""
        result = {}
        for name, variant in RUNS:
            model = self.models[(name, variant)]
            x, y = self.data[name]
            batch, epochs = self.batch[name], self.epochs[name]
            result[f"{name}_{variant}_s"] = timed(
                lambda m=model, x=x, y=y, b=batch, e=epochs: m.fit(
                    x, y, batch_size=b, epochs=e, verbose=0
                )
            )
        return result


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Milliseconds per step from the best sample of each run, and the DP/plain ratios."""
    per_model = steps(settings)
    result: dict[str, Any] = {"steps": per_model}
    for name in ("mlp", "cnn"):
        plain = best(samples, f"{name}_plain_s") / per_model[name] * 1e3
        private = best(samples, f"{name}_dp_s") / per_model[name] * 1e3
        result[f"{name}_plain_ms"] = plain
        result[f"{name}_dp_ms"] = private
        result[f"{name}_dp_ratio"] = private / plain
        for variant in ("plain", "dp"):
            key = f"{name}_{variant}_s"
            result[f"samples_{key}"] = column(samples, key)
    return result
