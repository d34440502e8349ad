"""Peak memory while training the MLP for one epoch, in a fresh worker process per competitor.

The worker imports the library, loads the code it would otherwise load on its first large
update (``load_runtime``: axonal's numba kernels, where installed; PyTorch's code all comes with
``import torch``), makes the data (float32, no float64 temporary) and converts it to the
library's form; the RSS at that point is the baseline. It then builds the model and trains one
epoch; the figure is the process's peak RSS (``ru_maxrss``) minus that baseline: the memory the
model, its optimizer state, activations, gradients, batching and the library's lazily
initialised state (thread pools, workspaces) cost on top of the data and the libraries' code.
The peak RSS column is the whole process, code included.
"""

from __future__ import annotations

import gc
import resource
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench.settings import Settings
from bench.workloads import Metric, mlp

TITLE = "memory: peak RSS training the MLP for one epoch, above the RSS after imports and data"
METRICS = (
    Metric("peak_delta_mb", "peak − baseline (MiB)"),
    Metric("baseline_mb", "baseline (MiB)"),
    Metric("peak_mb", "peak RSS (MiB)"),
)
PRIMARY = "peak_delta_mb"
HIGHER_IS_BETTER = False
SAMPLE_KEY = None

_MIB = 1024.0 * 1024.0


def peak_rss_bytes() -> int:
    """The process's peak RSS so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int:
    """The process's RSS now, from /proc; the peak so far where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def baseline_rss_bytes(impl: ModuleType) -> int:
    """The RSS once the library's lazily loaded code is in (``load_runtime``) and garbage freed."""
    load_runtime = getattr(impl, "load_runtime", None)
    if load_runtime is not None:
        load_runtime()
    gc.collect()
    return current_rss_bytes()


class Session:
    """The data in the library's form, and the baseline RSS taken right after."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x, y = mlp.make_data(settings.memory_rows, settings.seed)
        self.impl = impl
        self.settings = settings
        self.x = impl.native(x)
        self.y = impl.native(y)
        self.baseline = baseline_rss_bytes(impl)
        self.peak_before = peak_rss_bytes()

    def sample(self) -> dict[str, float]:
        """Build the MLP, train one epoch, read the peak. Meaningful once per process."""
        model = self.impl.build(mlp.SIZES, self.settings.seed)
        self.impl.fit(model, self.x, self.y, 1, self.settings.mlp_batch_size)
        return {
            "baseline_b": self.baseline,
            "peak_before_b": self.peak_before,
            "peak_b": peak_rss_bytes(),
        }


def mib_figures(sample: dict[str, float]) -> dict[str, float]:
    """Peak above baseline, baseline, peak and the peak before training, in MiB."""
    return {
        "peak_delta_mb": (sample["peak_b"] - sample["baseline_b"]) / _MIB,
        "baseline_mb": sample["baseline_b"] / _MIB,
        "peak_mb": sample["peak_b"] / _MIB,
        # a peak before the baseline above it would hide part of training's peak
        "peak_before_training_mb": sample["peak_before_b"] / _MIB,
    }


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """MiB figures from the one sample."""
    (sample,) = samples
    return {**mib_figures(sample), "rows": settings.memory_rows}
