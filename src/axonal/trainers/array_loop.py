"""``fit`` and ``evaluate`` on in-memory arrays with the built-in steps: the tuned loop.

Data is validated once up front (``Trainer.fit``); each epoch the strategy says which rows make
each step's batch and trains on it. Small data is shuffled by one gather per epoch, large data
is gathered batch by batch (never a shuffled copy). Callbacks, the progress bar, Ctrl-C (the
step in progress finishes, the completed epochs are kept) and the strategy's hooks all happen
here; the per-step path does nothing it does not need.
"""

from __future__ import annotations

import sys

from axonal import autograd
from axonal import data as data_utils
from axonal.callbacks import CallbackList, History, ProgbarLogger

# shuffled data up to this size is copied once per epoch; larger data is gathered per batch
EPOCH_COPY_BYTES = 1 << 20


def fit(
    model,
    strategy,
    xs: list,
    ys: list,
    weights: list,
    validation,
    *,
    batch_size: int,
    epochs: int,
    verbose: int,
    callbacks: list,
    shuffle: bool,
    initial_epoch: int,
    validation_batch_size: int,
    validation_freq: int,
) -> History:
    """Train ``model`` on prepared arrays (one per input, output and output weight) with
    ``strategy`` (an ``axonal.trainers.strategy.Strategy``); returns the History."""
    n = len(xs[0])
    # several processes: each checks the others got the same call and starts from rank 0's
    # weights; only rank 0 prints and runs the callbacks that write files
    strategy.begin_fit(model, n, batch_size, epochs, initial_epoch)
    verbose, callbacks = strategy.local_output(verbose, callbacks)
    if validation is not None:
        validation = strategy.shard(validation)
    several = strategy.num_replicas_in_sync > 1
    history = History()
    steps = strategy.steps(n, batch_size)
    builtin = [history] + ([ProgbarLogger()] if verbose else [])
    # the user's callbacks first, as in Keras: History then sees what they add to the logs
    cbs = CallbackList(
        callbacks + builtin,
        model=model,
        params={"verbose": verbose, "epochs": epochs, "steps": steps},
    )
    model.stop_training = False
    model.history = history
    logs: dict = {}
    arrays = xs + ys + weights
    n_xs, n_xys = len(xs), len(xs) + len(ys)
    small = sum(a.nbytes for a in xs) <= EPOCH_COPY_BYTES
    # Ctrl-C sets interrupt.requested; training stops at the next step boundary
    interrupt = strategy.interrupt_guard()
    epoch_now, steps_done = initial_epoch, 0
    with interrupt:
        try:
            cbs.call("on_train_begin", None)
            batch_begin = cbs.has("on_train_batch_begin")
            batch_end = cbs.has("on_train_batch_end")
            # whether code that may change the model runs between steps (the progress bar
            # only reads the logs)
            users = CallbackList(callbacks)
            watched = users.has("on_train_batch_begin") or users.has("on_train_batch_end")
            for epoch in range(initial_epoch, epochs):
                if interrupt.requested:
                    break
                epoch_now, steps_done = epoch, 0
                # per epoch, not per step: a callback may freeze layers between epochs
                variables = model.trainable_weights
                model._step_regularized = model.regularized_weights()
                model._reset_trackers()
                cbs.call("on_epoch_begin", epoch, None)
                # after on_epoch_begin, which may change the model: the step for this epoch
                train_step = strategy.epoch_train_step(model, variables, watched)
                epoch_arrays = arrays
                parts, order = strategy.epoch_batches(n, batch_size, shuffle)
                if order is not None and small:
                    # small data: one gather per epoch is cheaper than one per batch
                    epoch_arrays = [None if a is None else a[order] for a in arrays]
                    order = None
                for step, part in enumerate(parts):
                    if interrupt.requested:
                        break
                    if batch_begin:
                        cbs.call("on_train_batch_begin", step, None)
                    if order is not None:
                        # large data: gather each batch by index, never a shuffled copy
                        part = order[part]
                    batch = [None if a is None else a[part] for a in epoch_arrays]
                    # regroup's lists, without its call
                    if train_step(model, batch[:n_xs], batch[n_xs:n_xys], batch[n_xys:], variables):
                        # several processes: all agreed to stop, before this step's update
                        break
                    steps_done = step + 1
                    if batch_end:
                        cbs.call("on_train_batch_end", step, model._logs())
                    # several processes: a stop asked for here reaches all with the next step
                    if model.stop_training and not several:
                        break
                if interrupt.requested and steps_done < steps:
                    # an unfinished epoch gets no on_epoch_end and no place in History
                    break
                # several processes: the loss and metrics over all; the same BatchNorm statistics
                strategy.end_epoch(model)
                logs = model._logs()
                if validation is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = evaluate(
                        model, *validation, validation_batch_size, cbs, None, strategy
                    )
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                cbs.call("on_epoch_end", epoch, logs)
                strategy.agree_to_stop(model, interrupt)
                if model.stop_training or interrupt.requested:
                    break
        except KeyboardInterrupt as error:
            if several:
                # the other processes wait in a collective this one will never join
                strategy.fail(error)
            # Ctrl-C where no handler could be installed stops here; a second Ctrl-C
            # (the user insists) goes through
            if interrupt.requested:
                raise
            interrupt.requested = True
        except Exception as error:
            strategy.fail(error)
            raise
        finally:
            model._step_regularized = None
    strategy.end_fit(model)
    if interrupt.requested:
        model.stop_training = True
    if interrupt.requested and strategy.rank == 0:
        done = len(history.epoch)
        sys.stdout.write(
            ("\n" if verbose == 1 else "")
            + f"Training interrupted at epoch {epoch_now + 1}/{epochs}, step "
            + f"{steps_done}/{steps}: keeping the weights and the history of {done} "
            + f"completed epoch{'' if done == 1 else 's'}.\n"
        )
        sys.stdout.flush()
    cbs.call("on_train_end", logs)
    return history


def evaluate(
    model, xs, ys, weights, batch_size: int, cbs=None, progbar=None, strategy=None
) -> dict:
    """The loss and metrics of ``model`` on prepared arrays, batch by batch, without a graph;
    ``strategy.reduce_metrics`` combines the totals of several processes."""
    model._reset_trackers()
    if cbs is not None:
        cbs.call("on_test_begin", None)
    arrays = xs + ys + weights
    with autograd.no_grad():
        for step, part in enumerate(data_utils.batch_slices(len(xs[0]), batch_size)):
            if cbs is not None:
                cbs.call("on_test_batch_begin", step, None)
            batch = [None if a is None else a[part] for a in arrays]
            model._test_step(*regroup(batch, len(xs), len(ys)))
            if cbs is not None:
                cbs.call("on_test_batch_end", step, None)
            if progbar is not None:
                progbar.update(step + 1, model._logs())
    if strategy is not None:
        # each process evaluated its shard: combine them
        strategy.reduce_metrics(model)
    logs = model._logs()
    if progbar is not None:
        progbar.update(progbar.target, logs, finalize=True)
    if cbs is not None:
        cbs.call("on_test_end", logs)
    return logs


def regroup(arrays: list, n_inputs: int, n_outputs: int) -> tuple[list, list, list]:
    """``xs + ys + weights`` as one flat list back into the three lists."""
    return (
        arrays[:n_inputs],
        arrays[n_inputs : n_inputs + n_outputs],
        arrays[n_inputs + n_outputs :],
    )
