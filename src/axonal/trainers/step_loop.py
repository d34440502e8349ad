"""The Keras 3 loop: ``fit`` / ``evaluate`` / ``predict`` as one ``*_step(data)`` call a batch.

It runs when a model overrides a step (``train_step``, ``test_step``, ``predict_step``) or when
the data streams (a generator, an iterable of batches, a ``PyDataset``, an
``axonal.data.Dataset``): batches come from ``axonal.data.adapt`` (or, for in-memory arrays,
from ``ArrayBatches``), the step's returned dict becomes the logs the callbacks and the History
see, and metrics are reset at the start of every epoch and evaluation. In-memory arrays with the
built-in steps keep ``Model.fit``'s tuned loop.
"""

from __future__ import annotations

import math

import numpy as np

from axonal import data as data_utils
from axonal.backend import rng
from axonal.callbacks import CallbackList, History, Progbar, ProgbarLogger, resolve_verbose
from axonal.data import adapters
from axonal.trainers.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight


class ArrayBatches:
    """In-memory ``x``, ``y``, ``sample_weight`` (arrays, or lists / dicts of them) cut into
    Keras-packed batches, shuffled each epoch when asked: the same interface as a streaming
    adapter (``num_batches``, ``epoch()``, ``close()``)."""

    def __init__(self, x, y, sample_weight, batch_size: int, shuffle: bool, steps: int | None):
        self._parts = (x, y, sample_weight)
        leaves = [a for part in self._parts for a in _leaves(part)]
        if not leaves:
            raise ValueError("x is required.")
        lengths = {len(a) for a in leaves}
        if len(lengths) != 1:
            raise ValueError(f"x, y and sample_weight must have the same length, got {lengths}.")
        self._n = lengths.pop()
        self._batch_size = batch_size
        self._shuffle = shuffle
        full = math.ceil(self._n / batch_size)
        self.num_batches = full if steps is None else min(steps, full)

    def epoch(self):
        order = rng().permutation(self._n) if self._shuffle else None
        for step, part in enumerate(data_utils.batch_slices(self._n, self._batch_size)):
            if step >= self.num_batches:
                return
            index = part if order is None else order[part]
            yield pack_x_y_sample_weight(*(_take(p, index) for p in self._parts))

    def close(self) -> None:
        pass


def _leaves(part) -> list:
    if part is None:
        return []
    if isinstance(part, dict):
        return [np.asarray(v) for v in part.values()]
    if isinstance(part, (list, tuple)):
        return [np.asarray(v) for v in part]
    return [np.asarray(part)]


def _take(part, index):
    if part is None:
        return None
    if isinstance(part, dict):
        return {k: np.asarray(v)[index] for k, v in part.items()}
    if isinstance(part, (list, tuple)):
        return [np.asarray(v)[index] for v in part]
    return np.asarray(part)[index]


def batches(x, y, sample_weight, batch_size: int, shuffle: bool, steps: int | None):
    """The batch source for ``x``: a streaming adapter, or ``ArrayBatches`` for arrays."""
    if is_streaming(x):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"x is a {type(x).__name__}, which yields its own targets: do not pass y or "
                "sample_weight with it."
            )
        return adapters.adapt(x, steps=steps)
    return ArrayBatches(x, y, sample_weight, batch_size, shuffle, steps)


def is_streaming(x) -> bool:
    """Whether ``x`` is data that streams (what ``axonal.data.adapt`` takes).

    A tuple is in-memory data, as in Keras: several inputs, or ``validation_data=(x, y)``
    whose ``x`` is a list of input arrays; batches come in a list or another iterable.
    """
    if isinstance(x, tuple):
        return False
    try:
        adapters.check_streaming(x)
    except TypeError:
        return False
    return True


def _run_step(step_fn, batch, step: int, epoch: int, builtin: bool):
    """``step_fn(batch)``; a batch the built-in step refuses is named by its number (a stream
    has no row numbers to point at)."""
    if not builtin:
        return step_fn(batch)
    try:
        return step_fn(batch)
    except ValueError as exc:
        raise ValueError(f"In batch {step} of epoch {epoch + 1}: {exc}") from exc


def _logs(values) -> dict:
    """A step's returned dict as plain log values (a metric's result may be an array)."""
    if not isinstance(values, dict):
        raise TypeError(
            f"train_step / test_step must return a dict of logs, got {type(values).__name__}."
        )
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            # a metric whose result is a dict (compile_metrics): its entries, as Keras flattens
            out.update(_logs(value))
            continue
        value = getattr(value, "data", value)
        array = np.asarray(value)
        out[key] = float(array) if array.size == 1 else array
    return out


def fit(
    model,
    x,
    y,
    *,
    batch_size: int,
    epochs: int,
    verbose: int,
    callbacks: list,
    validation_data,
    shuffle: bool,
    sample_weight,
    initial_epoch: int,
    steps_per_epoch: int | None,
    validation_steps: int | None,
    validation_batch_size: int,
    validation_freq: int,
    class_weight: dict | None = None,
) -> History:
    """Train ``model`` by calling ``model.train_step(batch)`` on every batch of each epoch;
    ``class_weight`` turns into each batch's sample weights, as Keras's data adapter does."""
    source = batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch)
    builtin_step = not model.overrides("train_step")
    history = History()
    builtin = [history] + ([ProgbarLogger()] if verbose else [])
    cbs = CallbackList(
        list(callbacks) + builtin,
        model=model,
        params={"verbose": verbose, "epochs": epochs, "steps": source.num_batches},
    )
    model.stop_training = False
    model.history = history
    logs: dict = {}
    try:
        cbs.call("on_train_begin", None)
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            cbs.call("on_epoch_begin", epoch, None)
            for step, batch in enumerate(source.epoch()):
                cbs.call("on_train_batch_begin", step, None)
                if class_weight is not None:
                    batch = _with_class_weight(batch, class_weight, step, epoch)
                logs = _logs(_run_step(model.train_step, batch, step, epoch, builtin_step))
                cbs.call("on_train_batch_end", step, logs)
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val_logs = _evaluate_logs(
                    model, validation_data, validation_batch_size, validation_steps, None
                )
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.call("on_epoch_end", epoch, epoch_logs)
            logs = epoch_logs
            if model.stop_training:
                break
    finally:
        source.close()
    cbs.call("on_train_end", logs)
    return history


def _with_class_weight(batch, class_weight: dict, step: int, epoch: int):
    """The batch with ``class_weight`` folded into its sample weights (one output only)."""
    x, y, sample_weight = unpack_x_y_sample_weight(batch)
    if y is None or isinstance(y, (list, tuple, dict)):
        raise ValueError(
            "class_weight needs batches with targets of one output; batch "
            f"{step} of epoch {epoch + 1} has {'none' if y is None else type(y).__name__}."
        )
    y = np.asarray(getattr(y, "data", y))
    dtype = sample_weight.dtype if getattr(sample_weight, "dtype", None) is not None else "float32"
    weights = data_utils.sample_weights(y, sample_weight, class_weight, len(y), dtype)
    return pack_x_y_sample_weight(x, y, weights)


def split_validation(x, y, sample_weight, fraction: float) -> tuple:
    """Keras's ``validation_split`` on in-memory data (arrays, or lists / dicts of them): the
    last ``fraction`` of the rows, before any shuffling. Returns ``((x, y, sample_weight),
    validation_data)``."""
    leaves = [a for part in (x, y, sample_weight) for a in _leaves(part)]
    if not leaves:
        raise ValueError("x is required.")
    n = len(leaves[0])
    _, held_out = data_utils.split_validation([np.arange(n)], fraction)
    cut = n - len(held_out[0])
    train = tuple(_take(part, slice(0, cut)) for part in (x, y, sample_weight))
    validation = tuple(_take(part, slice(cut, n)) for part in (x, y, sample_weight))
    return train, (validation if validation[2] is not None else validation[:2])


def _split(validation_data):
    """``validation_data`` as (x, y, sample_weight): a tuple, or a streaming source."""
    if is_streaming(validation_data):
        return validation_data, None, None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        return tuple(validation_data) + (None,) * (3 - len(validation_data))
    raise ValueError(
        "validation_data must be (x_val, y_val), (x_val, y_val, sample_weight_val) or data that "
        f"streams (a generator, a PyDataset, a Dataset); got a {type(validation_data).__name__}."
    )


def _evaluate_logs(model, data, batch_size: int, steps: int | None, cbs, verbose: int = 0) -> dict:
    x, y, sample_weight = _split(data)
    source = batches(x, y, sample_weight, batch_size, False, steps)
    progbar = Progbar(source.num_batches, verbose) if verbose else None
    model.reset_metrics()
    logs: dict = {}
    step = -1
    try:
        for step, batch in enumerate(source.epoch()):
            if cbs is not None:
                cbs.call("on_test_batch_begin", step, None)
            logs = _logs(model.test_step(batch))
            if cbs is not None:
                cbs.call("on_test_batch_end", step, logs)
            if progbar is not None:
                progbar.update(step + 1, logs)
    finally:
        source.close()
    if progbar is not None:
        progbar.update(step + 1, logs, finalize=True)
    return logs


def evaluate(model, x, y, *, batch_size, verbose, sample_weight, steps, callbacks, return_dict):
    """Loss and metrics by ``model.test_step(batch)`` over every batch."""
    verbose = resolve_verbose(verbose)
    cbs = CallbackList(
        list(callbacks or []),
        model=model,
        params={"verbose": verbose, "epochs": 1, "steps": steps},
    )
    cbs.call("on_test_begin", None)
    logs = _evaluate_logs(model, (x, y, sample_weight), batch_size, steps, cbs, verbose)
    cbs.call("on_test_end", logs)
    if return_dict:
        return logs
    values = _in_metrics_order(model, logs)
    return values[0] if len(values) == 1 else values


def _in_metrics_order(model, logs: dict) -> list:
    """The log values in the order of ``model.metrics`` (a dict-valued metric by its keys),
    then any other keys sorted, as Keras's ``evaluate`` lists them."""
    names = []
    for metric in model.metrics:
        result = metric.result()
        names += list(result) if isinstance(result, dict) else [metric.name]
    ordered = [logs[name] for name in names if name in logs]
    ordered += [logs[key] for key in sorted(logs) if key not in names]
    return ordered


def predict(model, x, *, batch_size: int, steps: int | None):
    """Outputs of ``model.predict_step(batch)`` over every batch, concatenated along the rows."""
    source = batches(x, None, None, batch_size, False, steps)
    outputs = []
    try:
        for batch in source.epoch():
            outputs.append(model.predict_step(batch))
    finally:
        source.close()
    if not outputs:
        raise ValueError("predict got no batches: the data is empty.")
    first = outputs[0]
    if isinstance(first, (list, tuple)):
        return [np.concatenate([np.asarray(o[i]) for o in outputs]) for i in range(len(first))]
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(o[k]) for o in outputs]) for k in first}
    return np.concatenate([np.asarray(getattr(o, "data", o)) for o in outputs])
