"""Adapters from data that streams to ``(x, y, sample_weight)`` batches, one epoch at a time.

``adapt(data, steps=None)`` accepts a ``Dataset``, a ``PyDataset``, a Python generator or
iterator of batches, or any iterable of batches (a list of ``(x, y)`` tuples, a PyTorch
DataLoader...), and refuses anything else at once. In-memory arrays (NumPy, DataFrames, and
tuples / lists / dicts of them) take fit's array path (``axonal.data.arrays``), not this one.

A training loop reads it like this::

    source = adapt(data, steps=steps_per_epoch)
    for epoch in range(epochs):
        for x, y, sample_weight in source.epoch():
            ...
    source.close()

``batches_of(data, steps=None)`` is one epoch of that: ``adapt(data, steps).epoch()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from axonal.backend import xp
from axonal.data import structure
from axonal.data.dataset import INFINITE, Dataset
from axonal.data.py_dataset import PyDataset, epoch_batches

ACCEPTED = (
    "an axonal.data.Dataset, a PyDataset (axonal.utils.PyDataset subclass), a Python "
    "generator or iterator of batches, or an iterable of batches (each batch x, (x,), (x, y) "
    "or (x, y, sample_weight))"
)


def unpack_batch(batch, number: int):
    """One batch as ``(x, y, sample_weight)`` (Keras's rules: a tuple or list of 1 to 3 parts;
    anything else is ``x`` alone), with NumPy arrays for leaves."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(
                f"Batch {number} is a tuple of {len(batch)} parts; a batch must be x, (x,), "
                f"(x, y) or (x, y, sample_weight). Received {structure.describe(batch)}."
            )
        batch = batch + (None,) * (3 - len(batch))
    else:
        batch = (batch, None, None)
    return tuple(None if part is None else _as_arrays(part, number) for part in batch)


def _as_arrays(part, number: int):
    def convert(leaf):
        if leaf is None:
            return None
        try:
            return structure.as_leaf_array(leaf)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"Batch {number} holds a {type(leaf).__name__} that is not an array: {error}"
            ) from None

    return structure.map_structure(convert, part)


def _shape_signature(batch):
    """Nesting, which parts are None, and the rank of every array."""

    def leaf_rank(leaf):
        return None if leaf is None else leaf.ndim

    return structure.signature(batch), [leaf_rank(leaf) for leaf in structure.flatten(batch)]


class BatchChecker:
    """Checks that every batch of a source has the first batch's structure and ranks, and that
    each batch's parts agree on the number of rows; errors name the batch number (from 0)."""

    def __init__(self):
        self._first = None
        self._first_description = None

    def check(self, batch, number: int) -> None:
        leaves = [leaf for leaf in structure.flatten(batch) if leaf is not None]
        rows = {leaf.shape[0] for leaf in leaves if leaf.ndim > 0}
        if any(leaf.ndim == 0 for leaf in leaves):
            raise ValueError(
                f"Batch {number} has a scalar where an array with a batch axis was expected: "
                f"{_describe_xyw(batch)}."
            )
        if len(rows) > 1:
            raise ValueError(
                f"Batch {number} has parts with different numbers of rows: "
                f"{_describe_xyw(batch)}; x, y and sample_weight must have one row per sample."
            )
        found = _shape_signature(batch)
        if self._first is None:
            self._first = found
            self._first_description = _describe_xyw(batch)
        elif found != self._first:
            raise ValueError(
                f"Batch {number} does not match the first batch: it is {_describe_xyw(batch)}, "
                f"the first was {self._first_description} (every batch needs the same "
                "structure and the same number of axes)."
            )


def _describe_xyw(batch) -> str:
    names = ("x", "y", "sample_weight")
    parts = [
        f"{name}={structure.describe(part)}"
        for name, part in zip(names, batch, strict=True)
        if part is not None
    ]
    return ", ".join(parts)


def check_streaming(data) -> None:
    """Raise TypeError for what this layer does not take, or return for what it takes."""
    kind = type(data).__name__
    if isinstance(data, (Dataset, PyDataset)):
        return
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Expected {ACCEPTED}; got a {kind}.")
    if isinstance(data, xp.ndarray) or hasattr(data, "to_numpy") or hasattr(data, "__array__"):
        raise TypeError(
            f"Expected {ACCEPTED}; got an array-like {kind}. In-memory arrays go to "
            "fit(x, y, batch_size=...) directly, not through the streaming adapters."
        )
    if isinstance(data, dict):
        raise TypeError(
            f"Expected {ACCEPTED}; got a dict, which fit reads as named input arrays, not as "
            "batches."
        )
    if isinstance(data, (list, tuple)):
        if data and all(not structure.is_nested(item) for item in data):
            raise TypeError(
                f"Expected {ACCEPTED}; got a {kind} of {len(data)} arrays, which fit reads as "
                "in-memory inputs (x, y), not as batches. Pass a list of (x, y) tuples to "
                "stream batches."
            )
        return
    if callable(data) and not hasattr(type(data), "__iter__"):
        raise TypeError(
            f"Expected {ACCEPTED}; got the function {getattr(data, '__name__', kind)!r}. Call "
            "it to get the generator (fit(make_batches())), or wrap it as "
            "Dataset.from_generator(make_batches) to read it again every epoch."
        )
    if not hasattr(type(data), "__iter__"):
        if hasattr(type(data), "__getitem__") and hasattr(type(data), "__len__"):
            raise TypeError(
                f"Expected {ACCEPTED}; got a {kind}, which has __len__ and __getitem__ but is "
                "not a PyDataset. Subclass axonal.utils.PyDataset (keras.utils.PyDataset) so "
                "its length and batches are read as batches of one epoch."
            )
        raise TypeError(f"Expected {ACCEPTED}; got a {kind}, which is not iterable.")


class StreamingAdapter:
    """A source of batches read epoch by epoch; build one with ``adapt``.

    Attributes:
        num_batches: batches per epoch (``steps`` when given), or None when unknown.
    """

    def __init__(self, data, steps: int | None):
        self._data = data
        self._steps = steps
        self._checker = BatchChecker()
        self._current = None
        self._batches_read = 0
        self.num_batches = steps if steps is not None else self._known_count()

    def _known_count(self):
        return None

    def _fresh_iterator(self):
        """A new iterator over the source's raw batches."""
        return iter(self._data)

    def _restartable(self) -> bool:
        return True

    def epoch(self):
        """A generator of ``(x, y, sample_weight)`` batches for one epoch (each part an array,
        a tuple / dict of arrays, or None)."""
        return self._epoch()

    def _epoch(self):
        produced = 0
        try:
            produced = yield from self._read_batches()
        except GeneratorExit:
            # the reader stopped mid-epoch (a callback): without steps the next epoch is a
            # new full pass, so this one's iterator (and its threads) ends here
            if self._steps is None:
                self._end_current()
            raise
        if self._steps is None:
            # without steps an epoch is a full pass: the next one starts afresh
            self._end_current()
        elif produced < self._steps:
            warnings.warn(
                f"The input ran out of data after {produced} of steps={self._steps} batches "
                "in this epoch.",
                stacklevel=2,
            )
        if produced == 0 and self._batches_read == 0:
            raise ValueError(
                f"The {type(self._data).__name__} yielded no batches; expected at least one."
            )

    def _read_batches(self):
        """Yield this epoch's batches; return how many there were."""
        produced = 0
        while self._steps is None or produced < self._steps:
            if self._current is None:
                if produced == 0 and self._batches_read and not self._restartable():
                    raise ValueError(
                        f"The {type(self._data).__name__} ran out of batches after "
                        f"{self._batches_read}: a generator or iterator can be read only "
                        "once. Pass steps so each epoch reads that many, or use "
                        "Dataset.from_generator(function), which calls the function again "
                        "every epoch."
                    )
                self._current = self._fresh_iterator()
            try:
                raw = next(self._current)
            except StopIteration:
                self._current = None
                break
            batch = unpack_batch(raw, self._batches_read)
            self._checker.check(batch, self._batches_read)
            self._batches_read += 1
            produced += 1
            yield batch
        return produced

    def _end_current(self) -> None:
        if self._current is not None:
            close = getattr(self._current, "close", None)
            if close is not None:
                close()
            self._current = None

    def close(self) -> None:
        """Stop the iterator in progress (and any thread it owns)."""
        self._end_current()


class IteratorAdapter(StreamingAdapter):
    """A Python generator or iterator: read once, continued from epoch to epoch."""

    def _fresh_iterator(self):
        return self._data

    def _restartable(self) -> bool:
        return False

    def _end_current(self) -> None:
        # a one-shot iterator is never closed between epochs: the next epoch goes on with it
        self._current = None

    def close(self) -> None:
        close = getattr(self._data, "close", None)
        if close is not None:
            close()


class IterableAdapter(StreamingAdapter):
    """Any re-iterable of batches (a list, a PyTorch DataLoader): a new pass every epoch."""

    def _known_count(self):
        try:
            return len(self._data)
        except TypeError:
            return None


class DatasetAdapter(StreamingAdapter):
    """An ``axonal.data.Dataset`` of batches: a new pass every epoch."""

    def _known_count(self):
        count = self._data.cardinality()
        return count if count >= 0 else None


class PyDatasetAdapter(StreamingAdapter):
    """A ``PyDataset``: its batches by index with its workers; ``on_epoch_end`` every epoch."""

    def __init__(self, data, steps):
        super().__init__(data, steps)
        self._next_index = 0

    def _known_count(self):
        return self._data.num_batches

    def epoch(self):
        count = self._data.num_batches
        if count is None:
            # an endless dataset goes on from where the last epoch stopped, as in Keras
            indices = range(self._next_index, self._next_index + self._steps)
            self._next_index += self._steps
        else:
            indices = range(count if self._steps is None else min(count, self._steps))
        return self._read(epoch_batches(self._data, indices))

    def _read(self, raw_batches):
        try:
            for raw in raw_batches:
                batch = unpack_batch(raw, self._batches_read)
                self._checker.check(batch, self._batches_read)
                self._batches_read += 1
                yield batch
        finally:
            raw_batches.close()


def adapt(data, steps=None) -> StreamingAdapter:
    """The adapter for ``data``, or a TypeError naming what it got and what is accepted.

    Args:
        data: a ``Dataset``, a ``PyDataset``, a generator / iterator, or an iterable of batches.
        steps: batches per epoch (fit's ``steps_per_epoch``); required for an endless source.

    Returns:
        A ``StreamingAdapter``: ``num_batches``, ``epoch()``, ``close()``.

    Raises:
        TypeError: for arrays, dicts, strings, functions, objects with ``__len__`` and
            ``__getitem__`` that are not a PyDataset, and other non-iterables.
        ValueError: for an endless Dataset or PyDataset without ``steps``.

    Example:
        >>> source = adapt([(np.zeros((2, 3)), np.ones(2))])
        >>> [x.shape for x, y, w in source.epoch()]
        [(2, 3)]
    """
    check_streaming(data)
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, xp.integer)) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1 or None, got {steps!r}.")
        steps = int(steps)
    if isinstance(data, Dataset):
        if data.cardinality() == INFINITE and steps is None:
            raise ValueError(
                "The Dataset is infinite (repeat() without a count): pass steps "
                "(steps_per_epoch) to say how many batches make an epoch."
            )
        return DatasetAdapter(data, steps)
    if isinstance(data, PyDataset):
        if data.num_batches is None and steps is None:
            raise ValueError(
                f"{type(data).__name__} is endless (num_batches is None): pass steps "
                "(steps_per_epoch) to say how many batches make an epoch."
            )
        return PyDatasetAdapter(data, steps)
    # isinstance, not iter(data) is data: iter() on a DataLoader would start its workers
    if isinstance(data, Iterator):
        return IteratorAdapter(data, steps)
    return IterableAdapter(data, steps)


def batches_of(data, steps=None):
    """One epoch of ``(x, y, sample_weight)`` batches from ``data`` (see ``adapt``).

    Example:
        >>> def batches():
        ...     for _ in range(2):
        ...         yield np.zeros((4, 3)), np.ones(4)
        >>> [y.shape for x, y, w in batches_of(batches())]
        [(4,), (4,)]
    """
    return adapt(data, steps).epoch()
