"""Strategies: how ``fit`` trains on in-memory arrays, as batches and a step on each.

``fit``'s array loop (``axonal.trainers.array_loop``) asks its strategy which rows make each
step's batch and hands it each batch to train on. ``LocalStrategy`` is one process;
``PrivateStrategy`` is DP-SGD (the optimizer draws the batches by Poisson sampling and clips and
noises per-example gradients); ``axonal.distributed.DataParallel`` shards every batch over MPI
ranks. A strategy talks to the model only through its public batch interface
(``compute_outputs``, ``compute_losses``, ``track_batch``, ``metric_totals``...).

A new strategy subclasses ``Strategy`` and overrides what differs, usually ``epoch_batches``
and ``train_step``.
"""

from __future__ import annotations

import math

from axonal import data as data_utils
from axonal.backend import rng
from axonal.callbacks import InterruptGuard
from axonal.trainers import dense_chain


class Strategy:
    """One process, plain steps: the defaults every strategy starts from.

    The array loop calls, in order: ``begin_fit`` and ``local_output`` once; ``steps``;
    each epoch ``epoch_batches``, then ``train_step`` per batch and ``end_epoch``; after each
    epoch's callbacks ``agree_to_stop``; ``end_fit`` at the end, and ``fail`` on an error.
    ``reduce_metrics`` runs after an evaluation of this process's share of the data.
    """

    #: this process's number; rank 0 prints and writes files
    rank = 0
    #: how many processes train together
    num_replicas_in_sync = 1

    def begin_fit(self, model, n: int, batch_size: int, epochs: int, initial_epoch: int) -> None:
        """Called once before training on ``n`` rows."""

    def local_output(self, verbose: int, callbacks: list) -> tuple[int, list]:
        """The verbosity and callbacks of this process."""
        return verbose, callbacks

    def shard(self, arrays):
        """This process's part of the validation data (all of it here)."""
        return arrays

    def interrupt_guard(self) -> InterruptGuard:
        """What catches Ctrl-C during training (training stops at the next step boundary)."""
        return InterruptGuard()

    def steps(self, n: int, batch_size: int) -> int:
        """Steps in an epoch of ``n`` rows."""
        return math.ceil(n / batch_size)

    def epoch_batches(self, n: int, batch_size: int, shuffle: bool) -> tuple[list, object]:
        """``(parts, order)``: one slice or index array per step, and the permutation the
        parts index into (None: they index the rows directly)."""
        order = rng().permutation(n) if shuffle else None
        return data_utils.batch_slices(n, batch_size), order

    def train_step(self, model, xs: list, ys: list, weights: list, variables: list) -> bool:
        """Forward, loss, backward and one optimizer update on one prepared batch, added to the
        running loss and metrics. Returns True to stop before this step (never, here)."""
        preds = model.compute_outputs(xs, training=True)
        loss, per_output = model.compute_losses(ys, preds, weights)
        if loss.requires_grad:
            for variable in variables:
                variable.grad = None
            loss.backward()
            model.optimizer.apply_gradients([(v.grad, v) for v in variables])
        model.track_batch(loss, per_output, ys, preds, weights)
        return False

    def epoch_train_step(self, model, variables: list, watched: bool):
        """The step to run on each batch of the epoch starting now (``train_step``'s
        signature), for the epoch's trainable ``variables``; ``watched``: other code (a
        callback's batch hooks) runs between steps. ``train_step`` itself here."""
        return self.train_step

    def end_epoch(self, model) -> None:
        """Called after an epoch's last step, before its logs are read."""

    def reduce_metrics(self, model) -> None:
        """Combine the loss and metric totals of every process (nothing to combine here)."""

    def agree_to_stop(self, model, guard) -> None:
        """Called after each epoch's callbacks (processes agree whether to stop)."""

    def end_fit(self, model) -> None:
        """Called once after training."""

    def fail(self, error: BaseException) -> None:
        """An error stopped training: raise it (several processes also tell the others)."""
        raise error


class LocalStrategy(Strategy):
    """Training in this process: ``Strategy``'s defaults, and a lean step for plain stacks of
    Dense layers (``axonal.trainers.dense_chain``: the same results, less Python per step)."""

    #: the lean step of the last epoch (None: the general one), reused while it fits
    _lean = None

    def epoch_train_step(self, model, variables: list, watched: bool):
        """``dense_chain``'s step where the model qualifies, else ``train_step``."""
        self._lean = dense_chain.plan(model, variables, self.train_step, watched, self._lean)
        return self.train_step if self._lean is None else self._lean


class PrivateStrategy(Strategy):
    """DP-SGD: the optimizer (an ``axonal.privacy.DPOptimizer``) draws each epoch's batches by
    Poisson sampling and takes each step from clipped, noised per-example gradients.

    Args:
        optimizer: the model's DP optimizer (``epoch_batches`` and ``private_train_step``).
    """

    def __init__(self, optimizer) -> None:
        self.optimizer = optimizer

    def epoch_batches(self, n: int, batch_size: int, shuffle: bool) -> tuple[list, object]:
        """The optimizer's sampled index arrays (indexing the rows directly)."""
        return self.optimizer.epoch_batches(n, batch_size, shuffle), None

    def train_step(self, model, xs: list, ys: list, weights: list, variables: list) -> bool:
        """One DP-SGD step, added to the running loss and metrics."""
        loss, per_output, preds = self.optimizer.private_train_step(
            model, xs, ys, weights, variables
        )
        model.track_batch(loss, per_output, ys, preds, weights)
        return False


def for_model(model) -> Strategy:
    """The strategy ``fit`` trains ``model`` with: ``compile(distribute=...)``'s when it spans
    several processes, DP-SGD for a private optimizer, else one process."""
    distribute = model.distribute_strategy
    if distribute is not None and distribute.num_replicas_in_sync > 1:
        return distribute
    return local_for_model(model)


def local_for_model(model) -> Strategy:
    """The strategy for steps in this process only (``train_on_batch``, ``train_step``)."""
    if hasattr(model.optimizer, "private_train_step"):
        return PrivateStrategy(model.optimizer)
    return LocalStrategy()


__all__ = ["LocalStrategy", "PrivateStrategy", "Strategy", "for_model", "local_for_model"]
