"""predict: single-sample latency of the iris model, and throughput over many rows.

Latency: one row in the library's native form, timed in blocks like ``timeit`` (the block size
is calibrated once, at warm-up; a sample is one block). axonal and Keras:
``model.predict(x, verbose=0)`` (Keras also ``model(x)``, its own advice for one small batch);
PyTorch: ``with torch.no_grad(): module(x)``; NumPy: the forward pass with its softmax.

Throughput: ``predict_rows`` standard-normal rows. axonal and Keras call ``model.predict(x)``
with the default batch size (32) and again with one batch of all rows; PyTorch and NumPy make a
single call over all rows in both cases, as their users do.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import calibrate, per_call, timed
from bench.workloads import Metric, best, column, iris

TITLE = "predict, iris model: one row, and many rows"
METRICS = (
    Metric("latency_us", "µs/call, 1 row"),
    Metric("call_us", "µs, model(x)"),
    Metric("rows_per_s", "rows/s, predict(x)"),
    Metric("rows_per_s_one_batch", "rows/s, one batch"),
)
PRIMARY = "latency_us"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "latency_s"


class Session:
    """An (untrained) iris model, one test row, many random rows; calibration as warm-up."""

    def __init__(self, impl: ModuleType, settings: Settings):
        _, x_test, _, _ = iris.load()
        self.impl = impl
        self.settings = settings
        self.model = impl.build(iris.SIZES, settings.seed)
        row = impl.native(numpy.ascontiguousarray(x_test[:1]))
        predict_one = impl.predict_one(self.model)
        self.one = lambda: predict_one(row)
        self.one_number = calibrate(self.one, settings.latency_block_s)
        self.call = None
        if hasattr(impl, "call_one"):
            call_one = impl.call_one(self.model)
            self.call = lambda: call_one(row)
            self.call_number = calibrate(self.call, settings.latency_block_s)
        rng = numpy.random.default_rng(settings.seed)
        rows = settings.predict_rows
        many = impl.native(rng.standard_normal((rows, iris.SIZES[0]), dtype=numpy.float32))
        self.default = lambda: impl.predict_many(self.model, many, None)
        self.one_batch = lambda: impl.predict_many(self.model, many, rows)
        self.default()
        self.one_batch()

    def sample(self) -> dict[str, float]:
        """One latency block (and ``model(x)`` block), one predict of every row each way."""
        result = {"latency_s": per_call(self.one, self.one_number)}
        if self.call is not None:
            result["call_s"] = per_call(self.call, self.call_number)
        result["rows_s"] = timed(self.default)
        result["one_batch_s"] = timed(self.one_batch)
        return result


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Best latency in µs and best throughput in rows/s."""
    rows = settings.predict_rows
    result: dict[str, Any] = {"latency_us": best(samples, "latency_s") * 1e6}
    if all("call_s" in sample for sample in samples):
        result["call_us"] = best(samples, "call_s") * 1e6
    result["rows_per_s"] = rows / best(samples, "rows_s")
    result["rows_per_s_one_batch"] = rows / best(samples, "one_batch_s")
    for key in ("latency_s", "call_s", "rows_s", "one_batch_s"):
        values = column(samples, key)
        if values:
            result[f"samples_{key}"] = values
    return result
