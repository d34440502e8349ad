"""``PyDataset`` (Keras 3's ``keras.utils.PyDataset``, alias ``Sequence``): batches by index,
and ``epoch_batches``, which reads one epoch of them in order with worker threads or processes.
"""

from __future__ import annotations

import collections
import warnings

from axonal.data.parallel import ordered_map


class PyDataset:
    """Base class for a dataset of batches computed in Python, read by index.

    Subclasses implement ``__len__`` (the number of batches; or the ``num_batches`` property,
    None for an endless dataset) and ``__getitem__(index)``, which returns one whole batch:
    ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``. ``on_epoch_begin`` and
    ``on_epoch_end`` may be overridden to change the data between epochs.

    Args:
        workers: how many batches are computed at once while reading an epoch (threads, or
            processes with ``use_multiprocessing``). 1: one at a time, in the reading thread.
        use_multiprocessing: compute batches in worker processes (the dataset must be
            picklable); worth it only when ``__getitem__`` is CPU-bound Python.
        max_queue_size: at most this many batches are computed ahead of the reader.

    Example:
        >>> class Squares(PyDataset):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, index):
        ...         x = np.full((2, 1), float(index))
        ...         return x, x**2
        >>> [y[0, 0] for _, y in epoch_batches(Squares(workers=2))]
        [0.0, 1.0, 4.0]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self) -> None:
        missing = False
        if not hasattr(self, "_workers"):
            self._workers = 1
            missing = True
        if not hasattr(self, "_use_multiprocessing"):
            self._use_multiprocessing = False
            missing = True
        if not hasattr(self, "_max_queue_size"):
            self._max_queue_size = 10
            missing = True
        if missing:
            warnings.warn(
                f"{type(self).__name__} should call `super().__init__(**kwargs)` in its "
                "constructor; `**kwargs` can include `workers`, `use_multiprocessing` and "
                "`max_queue_size`. Using workers=1, use_multiprocessing=False, "
                "max_queue_size=10.",
                stacklevel=3,
            )

    @property
    def workers(self) -> int:
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value) -> None:
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), or None for an endless dataset."""
        # Keras 3 reads __len__ when a subclass has one
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ or the num_batches property "
            "(None for an endless dataset)."
        )

    def __iter__(self):
        """The batches in order, one at a time (no workers), endlessly if ``num_batches`` is
        None."""
        count = self.num_batches
        index = 0
        while count is None or index < count:
            yield self[index]
            index += 1

    def on_epoch_begin(self) -> None:
        """Called at the beginning of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


# Keras 3 keeps the Keras 2 name
Sequence = PyDataset


def _check_settings(py_dataset: PyDataset) -> tuple[int, bool, int]:
    workers = py_dataset.workers
    use_multiprocessing = bool(py_dataset.use_multiprocessing)
    max_queue_size = py_dataset.max_queue_size
    name = type(py_dataset).__name__
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"{name}: workers must be an integer >= 0, got {workers!r}.")
    if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):
        raise ValueError(f"{name}: max_queue_size must be an integer, got {max_queue_size!r}.")
    # the bound is the user's memory limit, kept even below workers (some then wait); Keras's
    # queue takes <= 0 as "no bound", where one batch ahead per worker keeps memory bounded
    queue_size = max_queue_size if max_queue_size > 0 else max(workers, 1)
    return workers, use_multiprocessing, queue_size


def epoch_batches(py_dataset: PyDataset, indices=None):
    """Read one epoch of ``py_dataset``: its batches in the order of ``indices``.

    ``on_epoch_begin`` is called before the first batch and ``on_epoch_end`` after the last one
    (also when the reader stops early and closes the iterator; not after an error). With
    ``workers > 1`` (or ``use_multiprocessing``) up to ``max_queue_size`` batches are computed
    ahead, by a thread pool (or a process pool); they are still yielded in order. Every worker
    is stopped when the epoch ends, the iterator is closed, or it is garbage-collected.

    Args:
        py_dataset: a ``PyDataset``.
        indices: the batch indices to read (default ``range(num_batches)``; a permutation for a
            shuffled epoch). Needed for an endless dataset (``num_batches`` None).

    Returns:
        A generator of batches, as ``__getitem__`` returns them.
    """
    if not isinstance(py_dataset, PyDataset):
        raise TypeError(f"epoch_batches expects a PyDataset, got {type(py_dataset).__name__}.")
    workers, use_multiprocessing, queue_size = _check_settings(py_dataset)
    if indices is None:
        count = py_dataset.num_batches
        if count is None:
            raise ValueError(
                f"{type(py_dataset).__name__} is endless (num_batches is None): pass the "
                "indices of the batches to read (fit's steps_per_epoch)."
            )
        indices = range(count)
    return _read_epoch(py_dataset, indices, workers, use_multiprocessing, queue_size)


def _read_epoch(py_dataset, indices, workers: int, use_multiprocessing: bool, queue_size: int):
    py_dataset.on_epoch_begin()
    if use_multiprocessing and workers >= 1:
        batches = _process_batches(py_dataset, indices, workers, queue_size)
    elif workers > 1:
        batches = _thread_batches(py_dataset, indices, workers, queue_size)
    else:
        # Keras reads without an enqueuer here: no thread, no queue
        batches = (py_dataset[index] for index in indices)
    finished = False
    try:
        yield from batches
        finished = True
    except GeneratorExit:
        # the reader stopped early (steps_per_epoch, a callback): the epoch still ends
        finished = True
        raise
    finally:
        batches.close()
        if finished:
            py_dataset.on_epoch_end()


def _thread_batches(py_dataset, indices, workers: int, queue_size: int):
    """Batches computed by ``workers`` threads, at most ``queue_size`` ahead, in order."""
    return ordered_map(py_dataset.__getitem__, indices, workers, queue_size, "axonal-pydataset")


# the dataset a worker process reads (set once per process by the pool's initializer)
_WORKER_DATASET = None


def _install_in_worker(py_dataset) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = py_dataset


def _item_in_worker(index):
    return _WORKER_DATASET[index]


def _process_batches(py_dataset, indices, workers: int, queue_size: int):
    """Batches computed by ``workers`` processes (the dataset copied into each once per epoch,
    batches sent back by pickling), at most ``queue_size`` ahead, in order. Falls back to
    threads, with a warning, where processes cannot be started."""
    try:
        import multiprocessing  # here, not at the top: `import axonal` stays light

        pool = multiprocessing.get_context().Pool(
            workers, initializer=_install_in_worker, initargs=(py_dataset,)
        )
    except Exception as error:  # no /dev/shm, no fork, a dataset that cannot be pickled...
        warnings.warn(
            f"{type(py_dataset).__name__}: could not start {workers} worker process(es) "
            f"({type(error).__name__}: {error}); using threads instead.",
            stacklevel=4,
        )
        yield from _thread_batches(py_dataset, indices, max(workers, 1), queue_size)
        return
    pending = collections.deque()
    finished = False
    try:
        for index in indices:
            pending.append(pool.apply_async(_item_in_worker, (index,)))
            if len(pending) >= queue_size:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        finished = True
    finally:
        if finished:
            pool.close()
        else:
            pool.terminate()
        pool.join()
