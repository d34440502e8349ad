"""Small training runs for tests/test_distributed.py, under ``mpirun`` or in one process.

Usage: ``python train.py OUT_DIR RUNS_JSON``, where RUNS_JSON is a list of
``{"name": ..., "case": ..., **options}``. Each run writes, on every rank,
``OUT_DIR/<name>/rank<r>.npz`` (the final weights by path) and ``rank<r>.json`` (History).
With ``"distributed": false`` the run trains in this process alone, without DataParallel.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

import axonal
import axonal.distributed
from axonal import layers
from axonal.callbacks import Callback, CSVLogger, ModelCheckpoint, TerminateOnNaN


def build(case: str):
    """Models where averaging has something to get wrong."""
    if case == "mlp":
        return axonal.Sequential(
            [layers.Input((6,)), layers.Dense(8, activation="tanh"), layers.Dense(3)]
        )
    if case == "embedding":
        # Embedding's gradient is allocated (not written into the packed buffer), a frozen
        # layer is left out of the trainable variables, and the second head has no loss, so
        # backward never reaches its weights
        tokens = layers.Input((5,), dtype="int64")
        embedded = layers.Flatten()(layers.Embedding(12, 4)(tokens))
        frozen = layers.Dense(6, activation="tanh", name="frozen")
        hidden = frozen(embedded)
        frozen.trainable = False
        main = layers.Dense(3, name="main")(hidden)
        side = layers.Dense(2, name="side")(hidden)
        return axonal.Model(tokens, [main, side])
    if case == "conv":
        return axonal.Sequential(
            [
                layers.Input((6, 6, 2)),
                layers.Conv2D(3, 3, activation="relu"),
                layers.Flatten(),
                layers.Dense(3),
            ]
        )
    if case == "batchnorm":
        return axonal.Sequential(
            [layers.Input((6,)), layers.Dense(8), layers.BatchNormalization(), layers.Dense(3)]
        )
    raise ValueError(f"unknown case {case!r}")


def make_data(case: str, n: int, seed: int):
    gen = np.random.default_rng(seed)
    if case == "embedding":
        x = gen.integers(0, 12, size=(n, 5)).astype("int64")
    elif case == "conv":
        x = gen.standard_normal((n, 6, 6, 2)).astype("float32")
    else:
        x = gen.standard_normal((n, 6)).astype("float32")
    y = gen.integers(0, 3, size=n).astype("int64")
    if case == "embedding":
        return x, [y, np.zeros((n, 2), "float32")]
    return x, y


class _OnRank(Callback):
    """Does something on one rank only, at one step of the first epoch."""

    def __init__(self, rank: int, step: int):
        super().__init__()
        self.rank, self.step = rank, step

    def here(self, batch: int) -> bool:
        return axonal.distributed.rank() == self.rank and batch == self.step


class StopOnRank(_OnRank):
    def on_train_batch_end(self, batch, logs=None):
        if self.here(batch):
            self.model.stop_training = True


class RaiseOnRank(_OnRank):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == 1 and self.here(batch):
            raise RuntimeError(f"bad batch {batch} on purpose")


class NanLossOnRank(_OnRank):
    """This rank's batch loss reads NaN (placed before TerminateOnNaN, which reads it)."""

    def on_train_batch_end(self, batch, logs=None):
        if self.here(batch):
            logs["loss"] = float("nan")


class CtrlCOnRank(_OnRank):
    def on_train_batch_end(self, batch, logs=None):
        if self.here(batch):
            os.kill(os.getpid(), signal.SIGINT)


def train(out: Path, run: dict) -> None:
    case = run["case"]
    distributed = run.get("distributed", True)
    axonal.utils.clear_session()  # the same layer names in every run of this process
    axonal.utils.set_random_seed(run.get("seed", 0))
    model = build(case)
    if run.get("optimizer", "sgd") == "sgd":
        optimizer = axonal.optimizers.SGD(0.1, momentum=0.9)
    else:
        optimizer = axonal.optimizers.Adam(0.01)
    loss = axonal.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=optimizer,
        loss=[loss, None] if case == "embedding" else loss,
        metrics=[["accuracy"], []] if case == "embedding" else ["accuracy"],
        distribute=axonal.distributed.DataParallel() if distributed else None,
    )
    rank = axonal.distributed.rank() if distributed else 0
    x, y = make_data(case, run.get("n", 41), seed=1)
    callbacks = []
    if run.get("files"):
        # named by rank, to see which ranks write
        callbacks += [
            CSVLogger(str(out / f"log-rank{rank}.csv")),
            ModelCheckpoint(str(out / f"ckpt-rank{rank}.weights.npz"), save_weights_only=True),
        ]
    if "stop" in run:
        callbacks.append(StopOnRank(*run["stop"]))
    if "raise" in run:
        callbacks.append(RaiseOnRank(*run["raise"]))
    if "nan" in run:
        callbacks += [NanLossOnRank(*run["nan"]), TerminateOnNaN()]
    if "sigint" in run:
        callbacks.append(CtrlCOnRank(*run["sigint"]))
    history = model.fit(
        x,
        y,
        batch_size=run.get("batch_size", 4),
        epochs=run.get("epochs", 3),
        validation_data=make_data(case, 7, seed=2) if run.get("validation") else None,
        callbacks=callbacks,
        verbose=run.get("verbose", 0),
    )
    np.savez(out / f"rank{rank}.npz", **{w.path: w.data for w in model.weights})
    record = {"history": history.history, "epochs": history.epoch}
    if distributed:
        dist = axonal.distributed
        record["where"] = [dist.rank(), dist.size(), dist.local_rank()]
    text = json.dumps(record)
    (out / f"rank{rank}.json").write_text(text)


def main() -> None:
    out = Path(sys.argv[1])
    for run in json.loads(sys.argv[2]):
        folder = out / run["name"]
        folder.mkdir(parents=True, exist_ok=True)
        train(folder, run)


if __name__ == "__main__":
    main()
