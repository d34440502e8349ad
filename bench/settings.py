"""Sizes and repetition counts: the full run and the quick (CI) run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Everything a workload needs to know about how big and how often.

    ``repeat`` is the number of rounds, so of timed samples per figure (the best is reported);
    the startup workload has its own counts because a fresh interpreter is far slower.
    """

    quick: bool = False
    repeat: int = 5
    seed: int = 0
    # iris program
    iris_epochs: int = 100
    iris_batch_size: int = 10
    # MLP 784-512-256-10
    mlp_rows: int = 16_384
    mlp_epochs: int = 2
    mlp_batch_size: int = 128
    mlp_warmup_rows: int = 2_048
    gemm_n: int = 2_048
    # predict
    predict_rows: int = 100_000
    latency_block_s: float = 0.05
    # startup: fresh interpreters
    import_repeat: int = 7
    heavy_import_repeat: int = 3
    train_repeat: int = 3
    # memory: one epoch of the MLP
    memory_rows: int = 16_384
    # cnn: LeNet-size CNN on 28x28x1 synthetic images (also its memory, in a fresh worker)
    cnn_images: int = 4_096
    cnn_epochs: int = 1
    cnn_batch_size: int = 64
    cnn_warmup_images: int = 512
    cnn_memory_images: int = 4_096
    # digits_cnn: examples/digits_cnn.py on scikit-learn's 8x8 digits (None: the whole split)
    digits_epochs: int = 20
    digits_batch_size: int = 64
    digits_train_rows: int | None = None
    # load: load_model of Input → Dense → N tiny layers → Dense; the shared N (both libraries,
    # the ratio) and the large N (axonal alone: Keras's load grows as N², see workloads/load.py)
    load_layers: int = 200
    # csv: rows of the table read by axonal's CSV reader and pandas (about 65 MB at 900,000)
    csv_rows: int = 900_000
    load_layers_large: int = 10_000
    # stream: one epoch from a memory-mapped file of this many GiB of float32 features (256 per
    # row); ``stream_dir`` is where the runner wrote it, set only for the workers
    stream_gib: float = 10.0
    stream_dir: str | None = None
    # transformer: one encoder block on token ids (issue 18: sequence 128, model 128, batch 32)
    transformer_rows: int = 1_024
    transformer_epochs: int = 1
    transformer_batch_size: int = 32
    transformer_warmup_rows: int = 64
    transformer_sequence: int = 128
    # conv1d_ts: Keras's FordA Conv1D classifier (issue 21: 3,600 series of 500 steps, batch 32)
    conv1d_rows: int = 3_600
    conv1d_epochs: int = 1
    conv1d_batch_size: int = 32
    conv1d_warmup_rows: int = 64
    conv1d_steps: int = 500
    # bilstm_imdb: Keras's IMDB Bidirectional-LSTM classifier (sequences of 200, batch 32); a
    # slice of IMDB's 25,000 rows, as every competitor takes seconds per step here
    bilstm_rows: int = 512
    bilstm_epochs: int = 1
    bilstm_batch_size: int = 32
    bilstm_warmup_rows: int = 32
    bilstm_sequence: int = 200
    # curves: throughput against sizes (see workloads/curves.py); each point trains about
    # ``curves_flop_budget`` FLOPs (at least one batch)
    curves_mlp_widths: tuple[int, ...] = (64, 256, 1024, 2048, 4096)
    curves_mlp_batches: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    curves_mlp_width: int = 512
    curves_cnn_sizes: tuple[int, ...] = (28, 56, 96, 128)
    curves_cnn_channels: tuple[int, ...] = (8, 16, 32, 64)
    curves_cnn_size: int = 32
    curves_cnn_width: int = 16
    curves_flop_budget: float = 4e9

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        """Rebuild from ``as_dict`` output (how a worker process receives them)."""
        return cls(**values)


FULL = Settings()

QUICK = Settings(
    quick=True,
    repeat=2,
    iris_epochs=3,
    mlp_rows=512,
    mlp_epochs=1,
    mlp_warmup_rows=256,
    gemm_n=256,
    predict_rows=1_000,
    latency_block_s=0.002,
    import_repeat=2,
    heavy_import_repeat=1,
    train_repeat=1,
    memory_rows=512,
    cnn_images=256,
    cnn_warmup_images=64,
    cnn_memory_images=256,
    digits_epochs=1,
    digits_train_rows=256,
    load_layers=20,
    csv_rows=2_000,
    load_layers_large=300,
    stream_gib=1 / 16,
    transformer_rows=64,
    transformer_warmup_rows=32,
    transformer_sequence=16,
    conv1d_rows=64,
    conv1d_warmup_rows=32,
    conv1d_steps=32,
    bilstm_rows=64,
    bilstm_warmup_rows=32,
    bilstm_sequence=12,
    curves_mlp_widths=(16, 64),
    curves_mlp_batches=(1, 32),
    curves_mlp_width=32,
    curves_cnn_sizes=(12, 16),
    curves_cnn_channels=(4, 8),
    curves_cnn_size=12,
    curves_cnn_width=4,
    curves_flop_budget=2e6,
)


def choose(quick: bool, repeat: int | None) -> Settings:
    """The settings for a run: full or quick, with ``repeat`` overridden when given."""
    settings = QUICK if quick else FULL
    if repeat is not None:
        settings = replace(settings, repeat=repeat)
    return settings
