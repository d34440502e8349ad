"""The workloads. Each module says what it measures and how to take one sample of it.

An in-process workload module has:

- ``TITLE``, ``METRICS`` (table columns), ``PRIMARY`` (the figure ratios are taken on),
  ``HIGHER_IS_BETTER`` and ``SAMPLE_KEY`` (the timed quantity behind ``PRIMARY``);
- ``Session(impl, settings)``: everything untimed (data, model, warm-up), done once per worker;
- ``Session.sample()``: one timed sample, a dict of seconds (or bytes) per quantity;
- ``summarize(samples, settings)``: the figures, from the best of the samples;
- optionally ``REQUIRES`` (importable modules the workload itself needs, e.g. ``sklearn`` for the
  digits data: without them the runner skips the workload and says why) and ``EXTRA_RATIOS``
  (more ratio columns, on figures other than ``PRIMARY``).

The runner takes the samples in rounds, one per competitor per round, so a busy spell on the
shared machine is spread over every competitor instead of landing on one. ``memory`` runs in a
fresh worker per competitor, and so does ``cnn_memory``, whose figures join the ``cnn`` table;
``startup`` and ``csv`` spawn fresh interpreters from the runner itself. ``stream`` has the
runner write its data file first, then runs in a fresh worker per competitor too.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.timing import timed


@dataclass(frozen=True)
class Metric:
    """A column of a workload's table."""

    key: str
    header: str


@dataclass(frozen=True)
class Ratio:
    """A ratio column on a figure other than the workload's primary one.

    Attributes:
        key: the figure compared.
        header: the column's header.
        higher_is_better: whether a larger figure is better (so the ratio is value/reference).
        reference: the competitor it is taken against.
    """

    key: str
    header: str
    higher_is_better: bool
    reference: str = "pytorch"


IN_WORKER = (
    "iris",
    "mlp",
    "predict",
    "cnn",
    "digits_cnn",
    "explain_ig",
    "dp",
    "load",
    "transformer",
    "conv1d_ts",
    "bilstm_imdb",
    "curves",
)
ALL = (
    "iris",
    "mlp",
    "predict",
    "startup",
    "memory",
    "cnn",
    "digits_cnn",
    "explain_ig",
    "dp",
    "load",
    "csv",
)
# run only when named with --only: ``distributed`` starts MPI jobs of its own, ``stream``
# writes a 10 GiB file and reads it once per competitor; ``conv1d_ts``, ``bilstm_imdb`` and
# ``curves`` take minutes per competitor at full size
OPT_IN = ("distributed", "stream", "transformer", "conv1d_ts", "bilstm_imdb", "curves")


def best(samples: Sequence[dict[str, float]], key: str) -> float:
    """The smallest value of ``key`` over the samples (noise only ever adds time)."""
    return min(sample[key] for sample in samples)


def column(samples: Sequence[dict[str, float]], key: str) -> list[float]:
    """Every sample's value of ``key``, rounded for the JSON file."""
    return [round(sample[key], 9) for sample in samples if key in sample]


class FitSession:
    """Data and one model for a training workload: a warm-up fit of one epoch on the first
    ``warmup_rows`` rows, then each ``sample()`` times ``epochs`` epochs over all of them."""

    def __init__(self, impl, model, x, y, epochs: int, batch_size: int, warmup_rows: int) -> None:
        self.impl, self.model, self.x, self.y = impl, model, x, y
        self.epochs, self.batch_size = epochs, batch_size
        impl.fit(model, x[:warmup_rows], y[:warmup_rows], 1, batch_size)

    def sample(self) -> dict[str, float]:
        """One timed fit: ``{"fit_s": seconds}``."""
        fit = self.impl.fit
        return {
            "fit_s": timed(lambda: fit(self.model, self.x, self.y, self.epochs, self.batch_size))
        }


def fit_steps(rows: int, epochs: int, batch_size: int) -> int:
    """Gradient steps in ``epochs`` epochs over ``rows`` rows (the last batch may be short)."""
    return epochs * -(-rows // batch_size)


def fit_figures(samples: Sequence[dict[str, float]], rows: int, epochs: int, batch_size: int):
    """``FitSession`` samples as ``(rows_per_s, figures)``: the best sample's rows/s, and a dict
    of it as ``samples_per_s``, the ms per step and every sample's fit time."""
    fit_s = best(samples, "fit_s")
    rows_per_s = epochs * rows / fit_s
    return rows_per_s, {
        "samples_per_s": rows_per_s,
        "step_ms": fit_s / fit_steps(rows, epochs, batch_size) * 1e3,
        "samples_fit_s": column(samples, "fit_s"),
    }


def spread(values: Sequence[float]) -> float | None:
    """Median over best: 1.0 on a quiet machine, larger the noisier the run."""
    if not values or min(values) <= 0:
        return None
    return statistics.median(values) / min(values)
