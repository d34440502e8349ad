"""DataParallel: synchronous data-parallel training, one model replica per MPI rank.

``Model.fit`` drives it through the hooks below (its loop is the one loop; this module only
changes where the batches come from and what happens between backward and the update).
Every rank runs the same steps and the same collective operations in the same order:

- ``begin_fit``: one allgather checks every rank got the same call; rank 0's weights and
  optimizer state are broadcast.
- each epoch: rank 0's permutation is broadcast; step ``s`` covers positions
  ``[s*G, (s+1)*G)`` of it (``G = ranks x batch_size``) and each rank takes its slice.
- each step: one in-place allreduce of the gradient buffer (``gradients.GradientBuffers``),
  carrying the stop flags too.
- each epoch end: one allreduce of the loss and metric sums, two small collectives for the
  non-trainable weights (BatchNormalization statistics), one for stop requests.
"""

from __future__ import annotations

import json
import math

from axonal.backend import rng, xp
from axonal.callbacks import InterruptGuard
from axonal.distributed import runtime
from axonal.distributed.gradients import GradientBuffers
from axonal.trainers.strategy import Strategy


class DataParallel(Strategy):
    """Train one model on several MPI processes: each rank takes a shard of every batch.

    Pass it to ``compile`` and start the script with ``mpirun``; nothing else changes:

    - rank 0's initial weights and optimizer state are broadcast to every rank;
    - each epoch, every rank uses the same permutation of the data (drawn by rank 0 from the
      seeded generator), and global batch ``s`` is ``ranks x batch_size`` samples of it, each
      rank taking ``batch_size`` (the last, partial batch is split as evenly as possible);
    - gradients are averaged with one allreduce per step, weighted by each rank's number of
      samples, so 2 ranks with ``batch_size=B`` follow 1 process with ``batch_size=2B``;
    - the epoch's loss, metrics and validation results are combined over all ranks, so every
      rank's History is the same;
    - only rank 0 shows progress and runs callbacks with ``rank_zero_only = True``
      (``ModelCheckpoint``, ``CSVLogger``, the progress bar);
    - BatchNormalization normalises with each rank's own batch statistics; its moving
      statistics (all non-trainable weights) are averaged over the ranks at every epoch end;
    - a stop asked for on one rank (``model.stop_training``, ``TerminateOnNaN``, Ctrl-C)
      stops every rank after the same step; an exception on one rank aborts the job with
      ``axonal.distributed: rank N of M failed: ...``.

    With one process (a plain ``python train.py``) it changes nothing.

    Example:
        >>> import axonal.distributed
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
        ...               distribute=axonal.distributed.DataParallel())
        >>> model.fit(x, y, batch_size=64, epochs=5)  # mpirun -n 4 python train.py
    """

    def __init__(self) -> None:
        runtime.init()
        self._mpi = runtime._mpi()
        self._comm = self._mpi.COMM_WORLD
        self.rank = self._comm.Get_rank()
        self._buffers: GradientBuffers | None = None
        self._variables: list | None = None
        self._guard: _AgreedInterrupt | None = None
        self._step_totals: list[int] = []
        self._step_index = 0

    @property
    def num_replicas_in_sync(self) -> int:
        """How many ranks train together (Keras's name)."""
        return self._comm.Get_size()

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, num_replicas_in_sync={self.num_replicas_in_sync})"

    # ------------------------------------------------------------ set-up
    def begin_fit(self, model, n: int, batch_size: int, epochs: int, initial_epoch: int) -> None:
        """Check every rank got the same call, then give every rank rank 0's weights and
        optimizer state. Raises the same error on every rank when the calls differ."""
        optimizer = model.optimizer
        for hook in ("private_train_step", "epoch_batches"):
            if getattr(optimizer, hook, None) is not None:
                raise ValueError(
                    f"DataParallel cannot train with {type(optimizer).__name__}: it computes "
                    f"its own steps or batches ({hook}); use it in a single process."
                )
        for head in model.output_heads:
            for metric in head.metrics + head.weighted_metrics:
                if not (hasattr(metric, "total") and hasattr(metric, "count")):
                    raise ValueError(
                        f"DataParallel combines metrics over ranks by summing a Mean's total and "
                        f"count; the metric {metric.name!r} ({type(metric).__name__}) has none."
                    )
        self._check_same_call(
            {
                "samples": n,
                "batch_size": batch_size,
                "epochs": epochs,
                "initial_epoch": initial_epoch,
                "weights": len(model.weights),
                "parameters": sum(int(w.data.size) for w in model.weights),
            }
        )
        self._variables = None
        for weight in model.weights:
            self._broadcast_array(weight.data)
        self._broadcast_optimizer_state(optimizer)

    def _check_same_call(self, values: dict) -> None:
        size = self.num_replicas_in_sync
        mine = xp.array(list(values.values()), dtype=xp.int64)
        table = xp.empty((size, mine.size), dtype=xp.int64)
        self._comm.Allgather(mine, table)
        for column, name in enumerate(values):
            if (table[:, column] != table[0, column]).any():
                per_rank = ", ".join(f"rank {r}: {v}" for r, v in enumerate(table[:, column]))
                raise ValueError(
                    f"Every rank must call fit with the same data and settings under "
                    f"DataParallel, but {name} differs ({per_rank})."
                )

    def _broadcast_array(self, array) -> None:
        if array.flags.c_contiguous:
            self._comm.Bcast(array, root=0)
        else:
            copy = xp.array(array, order="C")
            self._comm.Bcast(copy, root=0)
            array[...] = copy

    def _broadcast_optimizer_state(self, optimizer) -> None:
        """Rank 0's ``get_state()`` on every rank: names, shapes and dtypes as JSON, then the
        arrays themselves (no pickling)."""
        state = optimizer.get_state() if self.rank == 0 else None
        header = b""
        if self.rank == 0:
            layout = [[key, list(value.shape), value.dtype.str] for key, value in state.items()]
            header = json.dumps(layout).encode("utf-8")
        length = xp.array([len(header)], dtype=xp.int64)
        self._comm.Bcast(length, root=0)
        text = xp.frombuffer(header, dtype=xp.uint8).copy() if self.rank == 0 else None
        if text is None:
            text = xp.empty(int(length[0]), dtype=xp.uint8)
        self._comm.Bcast(text, root=0)
        layout = json.loads(text.tobytes().decode("utf-8"))
        received = {}
        for key, shape, dtype in layout:
            if self.rank == 0:
                # (ascontiguousarray would turn the 0-d 'iterations' into shape (1,))
                value = xp.array(state[key], order="C")
            else:
                value = xp.empty(tuple(shape), dtype=xp.dtype(dtype))
            self._comm.Bcast(value, root=0)
            received[key] = value
        if self.rank != 0:
            optimizer.set_state(received)

    def local_output(self, verbose: int, callbacks: list) -> tuple[int, list]:
        """This rank's verbosity and callbacks: rank 0 keeps all; the others print nothing and
        skip the callbacks marked ``rank_zero_only`` (those that only print or write files)."""
        if self.rank == 0:
            return verbose, callbacks
        return 0, [cb for cb in callbacks if not getattr(cb, "rank_zero_only", False)]

    def shard(self, arrays: tuple | list) -> list:
        """This rank's contiguous block of rows of every array (validation data); a rank may
        get none when there are fewer rows than ranks."""
        arrays = [list(group) for group in arrays]
        n = len(arrays[0][0])
        start, stop = _block(n, self.rank, self.num_replicas_in_sync)
        return [[None if a is None else a[start:stop] for a in group] for group in arrays]

    def interrupt_guard(self) -> _AgreedInterrupt:
        """A Ctrl-C guard whose ``requested`` turns True on every rank at once."""
        self._guard = _AgreedInterrupt()
        return self._guard

    # ------------------------------------------------------------ batches
    def steps(self, n: int, batch_size: int) -> int:
        """Steps per epoch: one per global batch of ``ranks x batch_size`` samples."""
        return math.ceil(n / (batch_size * self.num_replicas_in_sync))

    def epoch_batches(self, n: int, batch_size: int, shuffle: bool) -> tuple[list, object]:
        """This epoch's ``(parts, order)``: this rank's slice of each global batch, as
        positions in ``order`` (rank 0's permutation, or None without shuffling)."""
        order = None
        if shuffle:
            if self.rank == 0:
                order = xp.ascontiguousarray(rng().permutation(n), dtype=xp.int64)
            else:
                order = xp.empty(n, dtype=xp.int64)
            self._comm.Bcast(order, root=0)
        size = self.num_replicas_in_sync
        global_batch = batch_size * size
        parts = []
        totals = []
        for start in range(0, n, global_batch):
            count = min(global_batch, n - start)
            low, high = _block(count, self.rank, size)
            parts.append(slice(start + low, start + high))
            totals.append(count)
        self._step_totals = totals
        self._step_index = 0
        return parts, order

    # ------------------------------------------------------------ the step
    def train_step(self, model, xs: list, ys: list, weights: list, variables: list) -> bool:
        """Forward and backward on this rank's slice, one allreduce, the update.

        Returns True, without updating anything, when some rank asked to stop: every rank
        gets the same answer from the same allreduce and leaves the epoch after the same step.
        """
        buffers = self._buffers
        if variables is not self._variables:
            if buffers is None or not buffers.matches(variables):
                buffers = self._buffers = GradientBuffers(variables)
                model.optimizer.use_buffer(buffers.fused())
            self._variables = variables
        total = self._step_totals[self._step_index]
        self._step_index += 1
        count = len(xs[0])
        guard = self._guard
        stop = model.stop_training
        interrupt = guard is not None and guard.pending
        loss = None
        if count and not (stop or interrupt):
            preds = model.compute_outputs(xs, training=True)
            loss, per_output = model.compute_losses(ys, preds, weights)
        if loss is not None and loss.requires_grad:
            for variable in variables:
                variable.grad = None
            # this rank's share of the global batch: the summed gradients are then the
            # gradient of the mean loss over all ranks' samples, with no pass to rescale them
            loss.backward(xp.full(loss.data.shape, count / total, dtype=loss.data.dtype))
            buffers.collect()
        else:
            buffers.clear()
        buffers.set_flags(stop, interrupt)
        buffers.allreduce(self._comm, self._mpi)
        if buffers.stop_requested() or buffers.interrupt_requested():
            model.stop_training = True
            if guard is not None and buffers.interrupt_requested():
                guard.requested = True
            return True
        grads = buffers.gradients()
        if grads is not None:
            model.optimizer.apply_gradients(zip(grads, variables, strict=True))
        if loss is not None:
            model.track_batch(loss, per_output, ys, preds, weights)
        return False

    # ------------------------------------------------------------ epoch end
    def reduce_metrics(self, model) -> None:
        """Sum the loss and metric accumulators over all ranks, so ``_logs()`` is global."""
        values = xp.array(model.metric_totals(), dtype=xp.float64)
        self._comm.Allreduce(self._mpi.IN_PLACE, values, op=self._mpi.SUM)
        model.set_metric_totals([float(v) for v in values])

    def end_epoch(self, model) -> None:
        """Global loss and metrics for the epoch's logs; the same moving statistics everywhere."""
        self.reduce_metrics(model)
        self.average_non_trainable(model)

    def average_non_trainable(self, model) -> None:
        """Average the non-trainable float weights (BatchNormalization's moving statistics).

        Computed as rank 0's value plus the mean difference from it, so a weight that is the
        same on every rank (a frozen layer) keeps its exact value.
        """
        weights = [w for w in model.non_trainable_weights if w.data.dtype.kind == "f"]
        if not weights:
            return
        local = xp.concatenate([w.data.reshape(-1).astype(xp.float64) for w in weights])
        root = local.copy()
        self._comm.Bcast(root, root=0)
        delta = local - root
        self._comm.Allreduce(self._mpi.IN_PLACE, delta, op=self._mpi.SUM)
        averaged = root + delta / self.num_replicas_in_sync
        position = 0
        for weight in weights:
            size = weight.data.size
            part = averaged[position : position + size].reshape(weight.data.shape)
            weight.data[...] = part.astype(weight.data.dtype)
            position += size

    def agree_to_stop(self, model, guard) -> None:
        """After ``on_epoch_end``: stop everywhere if any rank's callbacks or Ctrl-C asked."""
        flags = xp.array(
            [1 if model.stop_training else 0, 1 if guard.pending or guard.requested else 0],
            dtype=xp.int64,
        )
        self._comm.Allreduce(self._mpi.IN_PLACE, flags, op=self._mpi.SUM)
        if flags[0]:
            model.stop_training = True
        if flags[1]:
            guard.requested = True

    def end_fit(self, model) -> None:
        """Same non-trainable weights on every rank even when training stopped mid-epoch."""
        self.average_non_trainable(model)

    def fail(self, error: BaseException) -> None:
        """Report ``error`` with this rank's number and abort the job (does not return)."""
        runtime.report_failure(error)


class _AgreedInterrupt(InterruptGuard):
    """Ctrl-C on one rank marks it ``pending``; ``requested`` turns True when every rank has
    learnt of it (in the next allreduce), so all of them stop after the same step. A second
    Ctrl-C raises ``KeyboardInterrupt``, which aborts the job."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = False

    def _handle(self, signum, frame) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True


def _block(count: int, index: int, parts: int) -> tuple[int, int]:
    """``[start, stop)`` of block ``index`` when ``count`` items are split into ``parts``
    blocks as evenly as possible (the first ``count % parts`` blocks get one more)."""
    base, extra = divmod(count, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)
