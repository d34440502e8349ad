"""A Conv1D time-series classifier on FordA-shaped data (issue 21): Adam, batch 32.

Keras's ``timeseries_classification_from_scratch`` example: series of 500 steps with one
feature → three blocks of Conv1D(64, 3, padding="same"), BatchNormalization, ReLU →
GlobalAveragePooling1D → Dense(2, softmax); Adam(learning_rate=1e-3), sparse softmax
cross-entropy. The data are generated (FordA's 3,600 training series are not downloaded):
standard-normal series and random labels from a fixed seed, as the timing does not depend on
what is learnt. axonal and Keras build the model with the same functional-API code
(``build_keras_api``); PyTorch as an ``nn.Module`` of ``Conv1d``/``BatchNorm1d`` on
``(batch, channels, steps)`` tensors, PyTorch's layout, with Keras's BatchNormalization epsilon
and momentum. One model per competitor is warmed up on a slice, then each sample times
``conv1d_epochs`` epochs over ``conv1d_rows`` series; the figure is training series per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.workloads import FitSession, Metric, Ratio, fit_figures, fit_steps

TITLE = (
    "Conv1D time-series classifier (FordA-shaped): 3 × [Conv1D(64, 3, same), batch norm, ReLU], "
    "global average pool, dense 2; Adam, batch 32"
)
METRICS = (
    Metric("samples_per_s", "series/s"),
    Metric("step_ms", "ms/step"),
    Metric("gflops", "GFLOP/s"),
)
PRIMARY = "samples_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"
EXTRA_RATIOS = (Ratio("samples_per_s", "vs Keras", True, reference="keras"),)


@dataclass(frozen=True)
class Spec:
    """The model's sizes.

    Attributes:
        steps: time steps per series.
        features: values per time step.
        filters: channels of every Conv1D.
        kernel_size: taps of every Conv1D.
        blocks: Conv1D + BatchNormalization + ReLU blocks.
        classes: the softmax output's width.
    """

    steps: int = 500
    features: int = 1
    filters: int = 64
    kernel_size: int = 3
    blocks: int = 3
    classes: int = 2


def spec(settings: Settings) -> Spec:
    """The model at this run's series length."""
    return Spec(steps=settings.conv1d_steps)


def multiply_adds(model: Spec) -> int:
    """Multiply-adds of one series' forward pass (convolutions and the dense output)."""
    total = 0
    channels = model.features
    for _ in range(model.blocks):
        total += model.steps * model.kernel_size * channels * model.filters
        channels = model.filters
    return total + channels * model.classes


def make_data(rows: int, model: Spec, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Standard-normal float32 series ``(rows, steps, features)`` and int64 labels."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((rows, model.steps, model.features), dtype=numpy.float32)
    y = rng.integers(0, model.classes, size=rows, dtype=numpy.int64)
    return x, y


def build_keras_api(api: ModuleType, model: Spec) -> Any:
    """The compiled model in Keras's functional API; ``api`` is ``keras`` or ``axonal``."""
    layers = api.layers
    inputs = api.Input((model.steps, model.features))
    hidden = inputs
    for _ in range(model.blocks):
        hidden = layers.Conv1D(model.filters, model.kernel_size, padding="same")(hidden)
        hidden = layers.BatchNormalization()(hidden)
        hidden = layers.ReLU()(hidden)
    pooled = layers.GlobalAveragePooling1D()(hidden)
    outputs = layers.Dense(model.classes, activation="softmax")(pooled)
    network = api.Model(inputs, outputs)
    network.compile(
        optimizer=api.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
    )
    return network


class Session(FitSession):
    """The series and one model; a warm-up fit on a slice of the data."""

    def __init__(self, impl: ModuleType, settings: Settings):
        model = spec(settings)
        x, y = make_data(settings.conv1d_rows, model, settings.seed)
        super().__init__(
            impl,
            impl.build_conv1d_ts(model, settings.seed),
            impl.native_series(x),
            impl.native(y),
            epochs=settings.conv1d_epochs,
            batch_size=settings.conv1d_batch_size,
            warmup_rows=min(settings.conv1d_warmup_rows, settings.conv1d_rows),
        )


def steps(settings: Settings) -> int:
    """Gradient steps in one sample."""
    return fit_steps(settings.conv1d_rows, settings.conv1d_epochs, settings.conv1d_batch_size)


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Series/s, ms per step and GFLOP/s (6 FLOPs per multiply-add) from the best sample."""
    rows_per_s, figures = fit_figures(
        samples, settings.conv1d_rows, settings.conv1d_epochs, settings.conv1d_batch_size
    )
    figures["gflops"] = rows_per_s * 6 * multiply_adds(spec(settings)) / 1e9
    return figures
