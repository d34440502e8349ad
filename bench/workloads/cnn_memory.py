"""Peak memory training the ``cnn`` workload's LeNet for one epoch, in a fresh worker process.

Measured as ``memory`` measures the MLP: the worker imports the library (and its lazily loaded
code, ``load_runtime``), makes the images (float32, no float64 temporary) and converts them to
the library's layout; the RSS then is the baseline. It builds the model and trains one epoch
of ``cnn_memory_images`` images at batch 64; the figure is the peak RSS (``ru_maxrss``) minus
the baseline. Not a workload of its own: the runner runs it with ``cnn`` and adds its figures
to that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench.settings import Settings
from bench.workloads import cnn
from bench.workloads.memory import baseline_rss_bytes, mib_figures, peak_rss_bytes


class Session:
    """The images in the library's layout, and the baseline RSS taken right after."""

    def __init__(self, impl: ModuleType, settings: Settings):
        x, y = cnn.make_data(settings.cnn_memory_images, settings.seed)
        self.impl = impl
        self.settings = settings
        self.x = impl.native_images(x)
        self.y = impl.native(y)
        del x, y
        self.baseline = baseline_rss_bytes(impl)
        self.peak_before = peak_rss_bytes()

    def sample(self) -> dict[str, float]:
        """Build the CNN, train one epoch, read the peak. Meaningful once per process."""
        settings = self.settings
        model = self.impl.build_cnn(cnn.INPUT_SHAPE, cnn.LAYERS, cnn.CLASSES, settings.seed)
        self.impl.fit(model, self.x, self.y, 1, settings.cnn_batch_size)
        return {
            "baseline_b": self.baseline,
            "peak_before_b": self.peak_before,
            "peak_b": peak_rss_bytes(),
        }


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """MiB figures from the one sample."""
    (sample,) = samples
    return {**mib_figures(sample), "memory_images": settings.cnn_memory_images}
