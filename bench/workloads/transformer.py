"""A transformer-encoder classifier on token ids: one encoder block, Adam, batch 32 (issue 18).

Token ids ``(batch, 128)`` from a vocabulary of 1,000 → Embedding(1,000, 128) → one encoder
block: multi-head self-attention (4 heads × 32), residual add, LayerNormalization, Dense(256,
relu), Dense(128), residual add, LayerNormalization → GlobalAveragePooling1D → Dense(2,
softmax); Adam(learning_rate=1e-3), sparse softmax cross-entropy. The data are uniform random
token ids and random labels from a fixed seed (the timing does not depend on what is learnt);
no padding, so no masks. axonal and Keras build the model with their functional API
(``MultiHeadAttention(num_heads=4, key_dim=32)``); PyTorch as a hand-written module (see
``torch_impl.TransformerClassifier``) with LayerNorm's epsilon set to Keras's 1e-3. One model
per competitor is warmed up on a slice of the data, then each sample times
``transformer_epochs`` epochs over ``transformer_rows`` rows; the figure is training sequences
per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.workloads import FitSession, Metric, fit_figures, fit_steps

TITLE = (
    "transformer encoder block on token ids: embedding 1,000 × 128, self-attention 4 heads × 32, "
    "feed-forward 256, layer norms, mean pool, dense 2; Adam, batch 32"
)
METRICS = (
    Metric("samples_per_s", "sequences/s"),
    Metric("step_ms", "ms/step"),
    Metric("tokens_per_s", "tokens/s"),
    Metric("gflops", "GFLOP/s"),
)
PRIMARY = "samples_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"


@dataclass(frozen=True)
class Spec:
    """The model's sizes, in the form every competitor's ``build_transformer`` takes.

    Attributes:
        sequence: tokens per row.
        vocabulary: token ids are in ``[0, vocabulary)``.
        model_dim: the embedding and block width.
        heads: attention heads; each has ``model_dim // heads`` query/key/value features.
        ff_dim: the feed-forward layer's width.
        classes: the softmax output's width.
    """

    sequence: int = 128
    vocabulary: int = 1_000
    model_dim: int = 128
    heads: int = 4
    ff_dim: int = 256
    classes: int = 2

    @property
    def key_dim(self) -> int:
        """Features per head."""
        return self.model_dim // self.heads


def spec(settings: Settings) -> Spec:
    """The model at this run's sequence length."""
    return Spec(sequence=settings.transformer_sequence)


def multiply_adds(model: Spec) -> int:
    """Multiply-adds of one row's forward pass (the embedding lookup and norms have none)."""
    d, length = model.model_dim, model.sequence
    per_token = 4 * d * d + 2 * d * model.ff_dim  # q, k, v, output projections; feed-forward
    attention = 2 * length * length * d  # q kᵀ and the weighted sum of the values, all heads
    return length * per_token + attention + d * model.classes


def flops_per_sample(model: Spec) -> int:
    """Training FLOPs per row, about 6 per multiply-add: 2 forward and 4 backward."""
    return 6 * multiply_adds(model)


def make_data(rows: int, model: Spec, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``rows`` rows of uniform random int64 token ids ``(rows, sequence)``; int64 labels."""
    rng = numpy.random.default_rng(seed)
    x = rng.integers(0, model.vocabulary, size=(rows, model.sequence), dtype=numpy.int64)
    y = rng.integers(0, model.classes, size=rows, dtype=numpy.int64)
    return x, y


class Session(FitSession):
    """The token ids and one model; a warm-up fit on a slice of the data."""

    def __init__(self, impl: ModuleType, settings: Settings):
        model = spec(settings)
        x, y = make_data(settings.transformer_rows, model, settings.seed)
        super().__init__(
            impl,
            impl.build_transformer(model, settings.seed),
            impl.native(x),
            impl.native(y),
            epochs=settings.transformer_epochs,
            batch_size=settings.transformer_batch_size,
            warmup_rows=min(settings.transformer_warmup_rows, settings.transformer_rows),
        )


def steps(settings: Settings) -> int:
    """Gradient steps in one sample."""
    return fit_steps(
        settings.transformer_rows, settings.transformer_epochs, settings.transformer_batch_size
    )


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Sequences/s, ms per step, tokens/s and GFLOP/s from the best sample."""
    rows_per_s, figures = fit_figures(
        samples,
        settings.transformer_rows,
        settings.transformer_epochs,
        settings.transformer_batch_size,
    )
    model = spec(settings)
    figures["tokens_per_s"] = rows_per_s * model.sequence
    figures["gflops"] = rows_per_s * flops_per_sample(model) / 1e9
    return figures
