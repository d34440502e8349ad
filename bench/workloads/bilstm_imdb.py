"""A Bidirectional-LSTM IMDB-shaped classifier (issue 21): Adam, batch 32.

Keras's ``bidirectional_lstm_imdb`` example: token ids ``(batch, 200)`` from a vocabulary of
20,000 → Embedding(20,000, 128) → Bidirectional(LSTM(64, return_sequences=True)) →
Bidirectional(LSTM(64)) → Dense(1, sigmoid); Adam(learning_rate=1e-3), binary cross-entropy.
The data are generated (IMDB is not downloaded): uniform random token ids and random 0/1 labels
from a fixed seed, no padding, so no masks. axonal and Keras build the model with the same
functional-API code (``build_keras_api``); PyTorch as an ``nn.Module`` of ``nn.Embedding``
and two ``nn.LSTM(bidirectional=True, batch_first=True)``, the second's final hidden states
(forward and backward) into ``nn.Linear(128, 1)`` and ``binary_cross_entropy_with_logits``.
One model per competitor is warmed up on a slice, then each sample times ``bilstm_epochs``
epochs over ``bilstm_rows`` rows; the figure is training sequences per second.
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
    "Bidirectional-LSTM classifier (IMDB-shaped): embedding 20,000 × 128, BiLSTM(64) twice, "
    "dense 1 sigmoid; Adam, batch 32"
)
METRICS = (
    Metric("samples_per_s", "sequences/s"),
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
        sequence: tokens per row.
        vocabulary: token ids are in ``[0, vocabulary)``.
        embedding_dim: the embedding's width.
        units: each LSTM direction's width.
    """

    sequence: int = 200
    vocabulary: int = 20_000
    embedding_dim: int = 128
    units: int = 64


def spec(settings: Settings) -> Spec:
    """The model at this run's sequence length."""
    return Spec(sequence=settings.bilstm_sequence)


def multiply_adds(model: Spec) -> int:
    """Multiply-adds of one row's forward pass: both LSTM layers, both directions, the output.

    Each step of each direction multiplies ``[input, state]`` by its four gates' weights.
    """
    units = model.units
    first = 4 * units * (model.embedding_dim + units)
    second = 4 * units * (2 * units + units)
    return 2 * model.sequence * (first + second) + 2 * units


def make_data(rows: int, model: Spec, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Uniform random int64 token ids ``(rows, sequence)`` and float32 0/1 labels ``(rows, 1)``."""
    rng = numpy.random.default_rng(seed)
    x = rng.integers(0, model.vocabulary, size=(rows, model.sequence), dtype=numpy.int64)
    y = rng.integers(0, 2, size=(rows, 1)).astype(numpy.float32)
    return x, y


def build_keras_api(api: ModuleType, model: Spec) -> Any:
    """The compiled model in Keras's functional API; ``api`` is ``keras`` or ``axonal``."""
    layers = api.layers
    tokens = api.Input((model.sequence,), dtype="int32")
    hidden = layers.Embedding(model.vocabulary, model.embedding_dim)(tokens)
    hidden = layers.Bidirectional(layers.LSTM(model.units, return_sequences=True))(hidden)
    hidden = layers.Bidirectional(layers.LSTM(model.units))(hidden)
    outputs = layers.Dense(1, activation="sigmoid")(hidden)
    network = api.Model(tokens, outputs)
    network.compile(
        optimizer=api.optimizers.Adam(learning_rate=1e-3),
        loss="binary_crossentropy",
    )
    return network


class Session(FitSession):
    """The token ids and one model; a warm-up fit on a slice of the data."""

    def __init__(self, impl: ModuleType, settings: Settings):
        model = spec(settings)
        x, y = make_data(settings.bilstm_rows, model, settings.seed)
        super().__init__(
            impl,
            impl.build_bilstm_imdb(model, settings.seed),
            impl.native(x),
            impl.native(y),
            epochs=settings.bilstm_epochs,
            batch_size=settings.bilstm_batch_size,
            warmup_rows=min(settings.bilstm_warmup_rows, settings.bilstm_rows),
        )


def steps(settings: Settings) -> int:
    """Gradient steps in one sample."""
    return fit_steps(settings.bilstm_rows, settings.bilstm_epochs, settings.bilstm_batch_size)


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Sequences/s, ms per step and GFLOP/s (6 FLOPs per multiply-add) from the best sample."""
    rows_per_s, figures = fit_figures(
        samples, settings.bilstm_rows, settings.bilstm_epochs, settings.bilstm_batch_size
    )
    figures["gflops"] = rows_per_s * 6 * multiply_adds(spec(settings)) / 1e9
    return figures
