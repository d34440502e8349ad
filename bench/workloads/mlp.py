"""MLP 784-512-256-10: ReLU, softmax cross-entropy, Adam, batch 128, float32 synthetic data.

The data are standard-normal float32 rows with random integer labels from a fixed seed (the
timing does not depend on what is learnt). One model per competitor is warmed up on a slice of
the data, then each sample times ``mlp_epochs`` epochs over all rows; the figure is training
samples per second. The runner also times a large float32 GEMM in NumPy in the same rounds and
reports each rate as a fraction of it, counting about 6 FLOPs per weight per sample (2 forward,
4 backward). A library with its own BLAS (PyTorch) also reports its own GEMM rate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best, column

TITLE = "MLP 784-512-256-10, ReLU, softmax CE, Adam, batch 128, float32"
SIZES = (784, 512, 256, 10)
METRICS = (
    Metric("samples_per_s", "samples/s"),
    Metric("gflops", "GFLOP/s"),
    Metric("gemm_fraction", "of NumPy GEMM peak"),
    Metric("own_gemm_gflops", "own GEMM GFLOP/s"),
)
PRIMARY = "samples_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"


def weight_count(sizes: tuple[int, ...] = SIZES) -> int:
    """Kernels and biases of the dense stack."""
    pairs = zip(sizes[:-1], sizes[1:], strict=True)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)


def flops_per_sample(sizes: tuple[int, ...] = SIZES) -> int:
    """Training FLOPs per sample, about 6 per weight: 2 forward and 4 backward."""
    return 6 * weight_count(sizes)


def make_data(rows: int, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``rows`` standard-normal float32 rows of 784 features and int64 labels in 0..9.

    Generated directly in float32, with no float64 temporary, so the memory workload's baseline
    is not inflated by a transient peak.
    """
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((rows, SIZES[0]), dtype=numpy.float32)
    y = rng.integers(0, SIZES[-1], size=rows, dtype=numpy.int64)
    return x, y


class Session:
    """The data and one model; a warm-up fit on a slice of the data."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x, y = make_data(settings.mlp_rows, settings.seed)
        self.impl = impl
        self.settings = settings
        self.x = impl.native(x)
        self.y = impl.native(y)
        self.model = impl.build(SIZES, settings.seed)
        warm = min(settings.mlp_warmup_rows, settings.mlp_rows)
        impl.fit(self.model, self.x[:warm], self.y[:warm], 1, settings.mlp_batch_size)
        self.own_gemm = getattr(impl, "gemm_seconds", None)
        if self.own_gemm is not None:
            self.own_gemm(settings.gemm_n)

    def sample(self) -> dict[str, float]:
        """Time ``mlp_epochs`` epochs over all rows (and the library's own GEMM, if it has one)."""
        settings = self.settings
        result = {
            "fit_s": timed(
                lambda: self.impl.fit(
                    self.model, self.x, self.y, settings.mlp_epochs, settings.mlp_batch_size
                )
            )
        }
        if self.own_gemm is not None:
            result["own_gemm_s"] = self.own_gemm(settings.gemm_n)
        return result


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Samples/s and GFLOP/s from the best sample (the GEMM fraction is added by the runner)."""
    samples_per_s = settings.mlp_epochs * settings.mlp_rows / best(samples, "fit_s")
    result: dict[str, Any] = {
        "samples_per_s": samples_per_s,
        "gflops": samples_per_s * flops_per_sample() / 1e9,
        "samples_fit_s": column(samples, "fit_s"),
    }
    if all("own_gemm_s" in sample for sample in samples):
        result["own_gemm_gflops"] = gemm_gflops(settings.gemm_n, best(samples, "own_gemm_s"))
        result["samples_own_gemm_s"] = column(samples, "own_gemm_s")
    return result


def gemm_gflops(n: int, seconds: float) -> float:
    """GFLOP/s of an n×n by n×n product (2n³ FLOPs) taking ``seconds``."""
    return 2.0 * n**3 / seconds / 1e9


class GemmPeak:
    """NumPy's float32 GEMM on ``gemm_n`` square matrices, sampled by the runner each round.

    Cheap and easily disturbed (one busy core halves it), so each round takes three samples.
    """

    def __init__(self, settings: Settings):
        rng = numpy.random.default_rng(settings.seed)
        n = settings.gemm_n
        self.n = n
        self.a = rng.standard_normal((n, n), dtype=numpy.float32)
        self.b = rng.standard_normal((n, n), dtype=numpy.float32)
        self.out = numpy.empty((n, n), dtype=numpy.float32)
        self.samples: list[float] = []
        self.sample()
        self.samples.clear()

    def sample(self) -> None:
        """Three timed products."""
        for _ in range(3):
            start = time.perf_counter()
            numpy.matmul(self.a, self.b, out=self.out)
            self.samples.append(time.perf_counter() - start)

    def summary(self) -> dict[str, Any]:
        """The best rate, and every sample."""
        return {
            "n": self.n,
            "gflops": gemm_gflops(self.n, min(self.samples)),
            "samples_s": [round(s, 9) for s in self.samples],
        }
