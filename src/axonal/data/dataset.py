"""``Dataset``: a tf.data-like pipeline of NumPy elements, built lazily and streamed.

Every transformation returns a new ``Dataset``; nothing is read until the dataset is iterated,
and each iteration (each epoch) starts again from the source. Elements are NumPy arrays, or
tuples / dicts of them; the structure is kept through every step. Only ``cache()`` in memory and
``shuffle`` (its buffer) hold more than a few elements at a time.

Example:
    >>> x = np.arange(10.0).reshape(5, 2)
    >>> y = np.arange(5)
    >>> ds = Dataset.from_tensor_slices((x, y)).shuffle(5, seed=0).batch(2).prefetch(1)
    >>> [batch_x.shape for batch_x, batch_y in ds]
    [(2, 2), (2, 2), (1, 2)]
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from axonal import backend
from axonal.backend import xp
from axonal.data import structure
from axonal.data.parallel import ordered_map

if TYPE_CHECKING:
    import queue

# tf.data's constants, with tf's values
AUTOTUNE = -1
INFINITE = -1
UNKNOWN = -2

# how long a background thread waits on a full queue before looking at its stop flag again
_POLL_SECONDS = 0.05


class TensorSpec:
    """The shape and dtype of one component of an element (``tf.TensorSpec``'s role).

    Args:
        shape: a tuple of ints, with None for a length that may vary.
        dtype: a NumPy dtype or its name.
        name: optional, for messages.
    """

    def __init__(self, shape, dtype="float32", name: str | None = None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = xp.dtype(dtype)
        self.name = name

    def __repr__(self) -> str:
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name}, name={self.name!r})"


def _close(iterator) -> None:
    """Close a generator early, so that background threads it owns stop now."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _call_on_element(fn, element):
    """tf.data calls ``fn(*element)`` for a tuple element and ``fn(element)`` otherwise."""
    if isinstance(element, tuple):
        return fn(*element)
    return fn(element)


def _element_leaf(value):
    """A leaf as an ndarray, 0-d ones as NumPy scalars (as tf's as_numpy_iterator gives them)."""
    array = structure.as_leaf_array(value)
    return array[()] if array.ndim == 0 else array


def _to_element(value):
    """A function's output as an element: lists become tuples, leaves become arrays."""
    return structure.map_structure(_element_leaf, value)


def _check_count(value, name: str, allow_minus_one: bool = False) -> int:
    """An integer count, as tf takes it (-1 meaning "all" where ``allow_minus_one``)."""
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    minimum = -1 if allow_minus_one else 0
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


class Dataset:
    """A lazily evaluated sequence of elements (NumPy arrays, or tuples / dicts of them).

    Build one with ``Dataset.from_tensor_slices``, ``Dataset.from_generator``,
    ``Dataset.range``, ``Dataset.from_tensors`` or ``Dataset.zip``, then chain
    transformations. Iterate it with ``for element in dataset`` or
    ``dataset.as_numpy_iterator()``; each iteration is one pass (one epoch).

    Example:
        >>> list(Dataset.range(5).map(lambda i: i * 2).batch(2).as_numpy_iterator())
        [array([0, 2]), array([4, 6]), array([8])]
    """

    # ---- sources -----------------------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors) -> Dataset:
        """One element per row of ``tensors`` (an array, or a tuple / dict of arrays with the
        same number of rows); a list is read as one array, as tf does.

        Example:
            >>> ds = Dataset.from_tensor_slices((np.zeros((3, 2)), np.arange(3)))
            >>> len(ds)
            3
        """
        return _TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors) -> Dataset:
        """A dataset of exactly one element, ``tensors``."""
        return _TensorSlices(structure.map_structure(lambda leaf: xp.asarray(leaf)[None], tensors))

    @staticmethod
    def from_generator(generator, output_signature=None, args=None) -> Dataset:
        """Elements from ``generator(*args)``, called again for every iteration (epoch).

        Args:
            generator: a callable returning an iterator (a generator function, not a generator:
                a generator can be read only once).
            output_signature: optional structure of ``TensorSpec`` (or ``tf.TensorSpec``, or
                anything with ``shape`` and ``dtype``): every element is checked against it
                and cast to its dtypes.
            args: optional tuple of arguments for ``generator``.
        """
        return _FromGenerator(generator, output_signature, args)

    @staticmethod
    def range(*args) -> Dataset:
        """``Dataset.range(stop)`` / ``(start, stop[, step])``: integers, as Python's range."""
        return _Range(range(*args))

    @staticmethod
    def zip(*datasets) -> Dataset:
        """Elements of several datasets side by side, as tuples (or as the dict / tuple
        structure of datasets passed as one argument); stops with the shortest."""
        if len(datasets) == 1 and structure.is_nested(datasets[0]):
            datasets = datasets[0]
        return _Zip(datasets)

    # ---- transformations ---------------------------------------------------------------------

    def map(self, map_func, num_parallel_calls=None, deterministic=None) -> Dataset:
        """``map_func`` applied to every element (called as ``map_func(*element)`` for tuples).

        Args:
            map_func: the function; it may return an array or a tuple / dict of arrays.
            num_parallel_calls: None: one at a time in the iterating thread. An int or
                ``AUTOTUNE``: that many (or one per CPU) threads; the order of the elements is
                kept whatever ``deterministic`` says.
        """
        if num_parallel_calls is None:
            return _Map(self, map_func)
        if num_parallel_calls == AUTOTUNE:
            workers = os.cpu_count() or 1
        else:
            workers = _check_count(num_parallel_calls, "num_parallel_calls")
        if workers <= 1:
            return _Map(self, map_func)
        return _ParallelMap(self, map_func, workers)

    def filter(self, predicate) -> Dataset:
        """Only the elements for which ``predicate(*element)`` is true."""
        return _Filter(self, predicate)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True) -> Dataset:
        """Elements in random order, drawn from a buffer of ``buffer_size`` as tf.data does: a
        buffer at least as large as the dataset gives a uniform shuffle; a smaller one shuffles
        locally and holds only ``buffer_size`` elements.

        Args:
            seed: an int for the same orders on every run; None draws one from axonal's global
                generator (``axonal.utils.set_random_seed`` makes that repeatable too).
            reshuffle_each_iteration: a new order every epoch (True) or the same one.
        """
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size, drop_remainder=False) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size`` (the last one smaller
        unless ``drop_remainder``); every element of a batch must have the same shapes."""
        return _Batch(self, batch_size, drop_remainder)

    def padded_batch(
        self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False
    ) -> Dataset:
        """Like ``batch``, padding every component at the end of each axis to the longest in
        the batch (or to ``padded_shapes``, a structure of shapes with None for "longest").

        Args:
            padding_values: a scalar for every component, or a structure of scalars; default 0
                (an empty string for string arrays).
        """
        return _PaddedBatch(self, batch_size, padded_shapes, padding_values, drop_remainder)

    def unbatch(self) -> Dataset:
        """Each element split along its first axis into its rows (``batch``'s inverse)."""
        return _Unbatch(self)

    def rebatch(self, batch_size, drop_remainder=False) -> Dataset:
        """Batches of another size from a batched dataset (``unbatch().batch(batch_size)``)."""
        return _Unbatch(self).batch(batch_size, drop_remainder)

    def prefetch(self, buffer_size) -> Dataset:
        """Elements produced ahead by a background thread into a queue of ``buffer_size``
        (``AUTOTUNE``: 2). The thread stops when the iterator is exhausted, closed or
        garbage-collected."""
        if buffer_size == AUTOTUNE:
            buffer_size = 2
        buffer_size = _check_count(buffer_size, "buffer_size")
        if buffer_size == 0:
            return self
        return _Prefetch(self, buffer_size)

    def cache(self, filename: str = "") -> Dataset:
        """Elements kept after the first complete iteration and replayed afterwards: in memory
        (``filename=""``), or in files ``<filename>.<n>.npz`` plus ``<filename>.index.json``
        (written without pickle; they are reused by later runs with the same filename)."""
        if filename:
            return _FileCache(self, os.fspath(filename))
        return _MemoryCache(self)

    def take(self, count) -> Dataset:
        """The first ``count`` elements (-1: all)."""
        return _Take(self, _check_count(count, "count", allow_minus_one=True))

    def skip(self, count) -> Dataset:
        """All but the first ``count`` elements (-1: skip all)."""
        return _Skip(self, _check_count(count, "count", allow_minus_one=True))

    def repeat(self, count=None) -> Dataset:
        """The dataset ``count`` times over (None or -1: forever)."""
        if count is not None:
            count = _check_count(count, "count", allow_minus_one=True)
        return _Repeat(self, None if count in (None, -1) else count)

    def concatenate(self, dataset) -> Dataset:
        """This dataset's elements, then ``dataset``'s (elements of the same structure)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"concatenate expects a Dataset, got {type(dataset).__name__}.")
        return _Concatenate(self, dataset)

    # ---- reading -----------------------------------------------------------------------------

    def cardinality(self) -> int:
        """The number of elements, or ``INFINITE`` (-1) or ``UNKNOWN`` (-2), as tf.data says."""
        raise NotImplementedError

    def as_numpy_iterator(self):
        """An iterator over the elements (they are NumPy arrays already)."""
        return iter(self)

    def __iter__(self):
        return self._iterate()

    def _iterate(self):
        """A generator over the elements of one pass. Subclasses implement it."""
        raise NotImplementedError

    def __len__(self) -> int:
        count = self.cardinality()
        if count == INFINITE:
            raise TypeError("The dataset is infinite.")
        if count == UNKNOWN:
            raise TypeError(
                "The dataset length is unknown (filter, unbatch and generators make it so); "
                "use cardinality() to ask without an error."
            )
        return count

    def __bool__(self) -> bool:
        # a dataset is truthy even when its length is unknown (len would raise)
        return True

    def __repr__(self) -> str:
        count = self.cardinality()
        shown = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(count, str(count))
        return f"<{type(self).__name__.lstrip('_')} Dataset, cardinality {shown}>"


# ---- sources ---------------------------------------------------------------------------------


class _TensorSlices(Dataset):
    def __init__(self, tensors):
        if isinstance(tensors, list):
            tensors = xp.asarray(tensors)
        leaves = structure.flatten(tensors)
        if not leaves:
            raise ValueError("from_tensor_slices needs at least one array, got an empty structure.")
        arrays = [structure.as_leaf_array(leaf) for leaf in leaves]
        lengths = []
        for array in arrays:
            if array.ndim == 0:
                raise ValueError(
                    "from_tensor_slices slices along the first axis, but got a scalar; "
                    "use from_tensors for a single element."
                )
            lengths.append(len(array))
        if len(set(lengths)) > 1:
            raise ValueError(
                f"from_tensor_slices needs the same number of rows in every component; got "
                f"{structure.describe(structure.pack_like(tensors, arrays))}."
            )
        self._template = tensors
        self._arrays = arrays
        self._length = lengths[0]

    def cardinality(self) -> int:
        return self._length

    def _iterate(self):
        release = _PageRelease(self._arrays)
        for row in range(self._length):
            # indexing a memmap row reads only that row from disk
            yield structure.pack_like(self._template, [array[row] for array in self._arrays])
            release.read(1)

    def _iterate_batches(self, batch_size: int, drop_remainder: bool):
        """Batches as copies of consecutive rows: one read per array and batch instead of a
        row at a time (what ``from_tensor_slices(...).batch(n)`` iterates)."""
        release = _PageRelease(self._arrays)
        stop = self._length - self._length % batch_size if drop_remainder else self._length
        for start in range(0, stop, batch_size):
            rows = slice(start, min(start + batch_size, stop))
            batch = [xp.array(array[rows]) for array in self._arrays]
            yield structure.pack_like(self._template, batch)
            release.read(rows.stop - rows.start)


class _PageRelease:
    """Keeps a memory-mapped source from filling the process's RSS as it is read.

    Pages of a file mapping that were read stay mapped (and counted in RSS) until the process
    lets go of them; streaming a 10 GB file would end with 10 GB resident. Every 64 MiB read,
    the mappings are told their pages are no longer needed (``MADV_DONTNEED``): the data stays
    in the page cache and a later read of the same rows maps it again. Copy-on-write mappings
    (``mode='c'``), whose changes exist only in those pages, are left alone.
    """

    _EVERY = 64 << 20

    def __init__(self, arrays: list):
        self._maps = [m for m in (_shared_mapping(a) for a in arrays) if m is not None]
        self._row_bytes = sum(a.nbytes // max(len(a), 1) for a in arrays)
        self._pending = 0

    def read(self, rows: int) -> None:
        """Count ``rows`` read; release the mappings' pages every 64 MiB."""
        if not self._maps:
            return
        self._pending += rows * self._row_bytes
        if self._pending >= self._EVERY:
            self._pending = 0
            import mmap  # here, not at the top: `import axonal` stays light

            for mapping in self._maps:
                try:
                    mapping.madvise(mmap.MADV_DONTNEED)
                except (AttributeError, OSError, ValueError):
                    return  # not Linux, or a closed map: nothing to gain, nothing lost


def _shared_mapping(array):
    """The ``mmap`` behind a NumPy memmap opened read-only or shared (None otherwise)."""
    if getattr(array, "mode", None) not in ("r", "r+", "w+", "readonly", "readwrite", "write"):
        return None
    mapping = getattr(array, "_mmap", None)
    import mmap  # here, not at the top: `import axonal` stays light

    return mapping if isinstance(mapping, mmap.mmap) else None


class _Range(Dataset):
    def __init__(self, values: range):
        self._values = values

    def cardinality(self) -> int:
        return len(self._values)

    def _iterate(self):
        for value in self._values:
            yield xp.int64(value)


class _FromGenerator(Dataset):
    def __init__(self, generator, output_signature, args):
        if not callable(generator):
            raise TypeError(
                f"from_generator expects a callable that returns an iterator (e.g. a generator "
                f"function), got {type(generator).__name__}: a generator object can be read "
                "only once, and a dataset is read once per epoch."
            )
        self._generator = generator
        self._signature = output_signature
        self._args = tuple(args) if args is not None else ()

    def cardinality(self) -> int:
        return UNKNOWN

    def _iterate(self):
        source = iter(self._generator(*self._args))
        try:
            for number, value in enumerate(source):
                if self._signature is None:
                    yield _to_element(value)
                else:
                    yield self._conform(value, number)
        finally:
            _close(source)

    def _conform(self, value, number: int):
        """``value`` as the signature's structure and dtypes, or an error naming the element."""
        specs = structure.flatten(self._signature)
        try:
            leaves = _flatten_up_to(self._signature, value)
        except ValueError:
            raise ValueError(
                f"from_generator: element {number} is {structure.describe(value)}, which does "
                f"not have the structure of output_signature {self._signature!r}."
            ) from None
        arrays = []
        for spec, leaf in zip(specs, leaves, strict=True):
            array = xp.asarray(leaf)
            expected = tuple(getattr(spec, "shape", ()) or ())
            shape_ok = len(expected) == array.ndim and all(
                want is None or want == got for want, got in zip(expected, array.shape, strict=True)
            )
            if not shape_ok:
                raise ValueError(
                    f"from_generator: element {number} has a component of shape {array.shape} "
                    f"where output_signature expects {expected}."
                )
            dtype = getattr(spec, "dtype", None)
            if dtype is not None:
                array = array.astype(xp.dtype(getattr(dtype, "as_numpy_dtype", dtype)), copy=False)
            arrays.append(_element_leaf(array))
        return structure.pack_like(self._signature, arrays)


def _flatten_up_to(template, value) -> list:
    """The parts of ``value`` at the leaves of ``template`` (a leaf takes a whole sub-value)."""
    if isinstance(template, dict):
        if not isinstance(value, dict) or set(value) != set(template):
            raise ValueError("structure mismatch")
        return [part for key in template for part in _flatten_up_to(template[key], value[key])]
    if isinstance(template, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(template):
            raise ValueError("structure mismatch")
        return [part for t, v in zip(template, value, strict=True) for part in _flatten_up_to(t, v)]
    return [value]


class _Zip(Dataset):
    def __init__(self, datasets):
        self._template = datasets
        self._inputs = structure.flatten(datasets)
        if not self._inputs:
            raise ValueError("Dataset.zip needs at least one dataset.")
        for dataset in self._inputs:
            if not isinstance(dataset, Dataset):
                raise TypeError(f"Dataset.zip expects Datasets, got {type(dataset).__name__}.")

    def cardinality(self) -> int:
        # tf.data: unknown wins, then the shortest finite input, infinite only if all are
        counts = [dataset.cardinality() for dataset in self._inputs]
        if UNKNOWN in counts:
            return UNKNOWN
        finite = [count for count in counts if count != INFINITE]
        return min(finite) if finite else INFINITE

    def _iterate(self):
        sources = [iter(dataset) for dataset in self._inputs]
        try:
            while True:
                parts = []
                for source in sources:
                    try:
                        parts.append(next(source))
                    except StopIteration:
                        return
                yield structure.pack_like(self._template, parts)
        finally:
            for source in sources:
                _close(source)


# ---- one element in, one (or none) out -------------------------------------------------------


class _Unary(Dataset):
    """A transformation of one input dataset; by default it keeps the input's cardinality."""

    def __init__(self, input_dataset: Dataset):
        self._input = input_dataset

    def cardinality(self) -> int:
        return self._input.cardinality()


class _Map(_Unary):
    def __init__(self, input_dataset, map_func):
        super().__init__(input_dataset)
        if not callable(map_func):
            raise TypeError(f"map expects a function, got {type(map_func).__name__}.")
        self._fn = map_func

    def _iterate(self):
        source = iter(self._input)
        try:
            for element in source:
                yield _to_element(_call_on_element(self._fn, element))
        finally:
            _close(source)


class _ParallelMap(_Map):
    def __init__(self, input_dataset, map_func, workers: int):
        super().__init__(input_dataset, map_func)
        self._workers = workers

    def _apply(self, element):
        return _to_element(_call_on_element(self._fn, element))

    def _iterate(self):
        source = iter(self._input)
        try:
            # a window of two calls per worker keeps them busy while bounding memory
            yield from ordered_map(
                self._apply, source, self._workers, 2 * self._workers, "axonal-data-map"
            )
        finally:
            _close(source)


class _Filter(_Unary):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset)
        if not callable(predicate):
            raise TypeError(f"filter expects a function, got {type(predicate).__name__}.")
        self._predicate = predicate

    def cardinality(self) -> int:
        return INFINITE if self._input.cardinality() == INFINITE else UNKNOWN

    def _iterate(self):
        source = iter(self._input)
        try:
            for element in source:
                if bool(_call_on_element(self._predicate, element)):
                    yield element
        finally:
            _close(source)


class _Shuffle(_Unary):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        if buffer_size == AUTOTUNE:
            raise ValueError("shuffle needs an explicit buffer_size (AUTOTUNE is not allowed).")
        self._buffer_size = _check_count(buffer_size, "buffer_size")
        if self._buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size!r}.")
        if seed is None:
            # drawn from the global generator: set_random_seed makes it repeatable
            seed = int(backend.rng().integers(2**63))
        self._seed = int(seed)
        self._reshuffle = bool(reshuffle_each_iteration)
        self._epoch = 0

    def _iterate(self):
        if self._reshuffle:
            rng = xp.random.default_rng([self._seed, self._epoch])
            self._epoch += 1
        else:
            rng = xp.random.default_rng(self._seed)
        source = iter(self._input)
        buffer = []
        try:
            for element in source:
                if len(buffer) < self._buffer_size:
                    buffer.append(element)
                    continue
                # emit a random element of the full buffer and put the new one in its place
                position = int(rng.integers(len(buffer)))
                chosen = buffer[position]
                buffer[position] = element
                yield chosen
            while buffer:
                position = int(rng.integers(len(buffer)))
                buffer[position], buffer[-1] = buffer[-1], buffer[position]
                yield buffer.pop()
        finally:
            _close(source)


# ---- batching --------------------------------------------------------------------------------


def _batched_cardinality(count: int, batch_size: int, drop_remainder: bool) -> int:
    if count in (INFINITE, UNKNOWN):
        return count
    if drop_remainder:
        return count // batch_size
    return -(-count // batch_size)


def _check_same_structure(elements: list, what: str) -> None:
    first = structure.signature(elements[0])
    for index, element in enumerate(elements[1:], start=1):
        if structure.signature(element) != first:
            raise ValueError(
                f"Cannot {what} elements of different structures: element 0 of the batch is "
                f"{structure.describe(elements[0])}, element {index} is "
                f"{structure.describe(element)}."
            )


def _stack(elements: list):
    """Elements of one structure and shape stacked along a new first axis."""
    _check_same_structure(elements, "batch")
    columns = list(zip(*[structure.flatten(element) for element in elements], strict=True))
    stacked = []
    for component, column in enumerate(columns):
        arrays = [structure.as_leaf_array(leaf) for leaf in column]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            first = arrays[0].shape
            odd = next(i for i, array in enumerate(arrays) if array.shape != first)
            raise ValueError(
                f"Cannot batch elements of different shapes: component {component} is "
                f"{first} in element 0 of the batch and {arrays[odd].shape} in element {odd}. "
                "Use padded_batch to pad them to one shape."
            )
        stacked.append(xp.stack(arrays))
    return structure.pack_like(elements[0], stacked)


class _Batch(_Unary):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        self._batch_size = _check_count(batch_size, "batch_size")
        if self._batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
        self._drop_remainder = bool(drop_remainder)

    def cardinality(self) -> int:
        count = self._input.cardinality()
        return _batched_cardinality(count, self._batch_size, self._drop_remainder)

    def _combine(self, elements: list):
        return _stack(elements)

    def _iterate(self):
        if type(self) is _Batch and isinstance(self._input, _TensorSlices):
            # rows straight from the arrays: a slice per batch, not a stack of row views
            yield from self._input._iterate_batches(self._batch_size, self._drop_remainder)
            return
        source = iter(self._input)
        pending = []
        try:
            for element in source:
                pending.append(element)
                if len(pending) == self._batch_size:
                    yield self._combine(pending)
                    pending = []
            if pending and not self._drop_remainder:
                yield self._combine(pending)
        finally:
            _close(source)


class _PaddedBatch(_Batch):
    def __init__(self, input_dataset, batch_size, padded_shapes, padding_values, drop_remainder):
        super().__init__(input_dataset, batch_size, drop_remainder)
        self._padded_shapes = padded_shapes
        self._padding_values = padding_values

    def _per_component(self, setting, template, name: str) -> list:
        """``setting`` (None, one value for all, or a structure like the element) per leaf."""
        count = len(structure.flatten(template))
        if setting is None:
            return [None] * count
        if name == "padded_shapes" and not structure.is_nested(template):
            return [setting]
        if name == "padding_values" and not structure.is_nested(setting):
            return [setting] * count
        try:
            return _flatten_up_to(template, setting)
        except ValueError:
            raise ValueError(
                f"padded_batch: {name} {setting!r} does not have the structure of the elements "
                f"{structure.describe(template)}."
            ) from None

    def _combine(self, elements: list):
        _check_same_structure(elements, "padded_batch")
        template = elements[0]
        shapes = self._per_component(self._padded_shapes, template, "padded_shapes")
        values = self._per_component(self._padding_values, template, "padding_values")
        columns = list(zip(*[structure.flatten(element) for element in elements], strict=True))
        padded = []
        for component, column in enumerate(columns):
            arrays = [structure.as_leaf_array(leaf) for leaf in column]
            padded.append(self._pad(arrays, shapes[component], values[component], component))
        return structure.pack_like(template, padded)

    @staticmethod
    def _pad(arrays: list, wanted, value, component: int):
        ranks = {array.ndim for array in arrays}
        if len(ranks) > 1:
            raise ValueError(
                f"padded_batch: component {component} has different ranks in one batch: "
                f"{sorted(ranks)}; padding can lengthen axes, not add them."
            )
        longest = tuple(max(sizes) for sizes in zip(*[a.shape for a in arrays], strict=True))
        if wanted is None:
            target = longest
        else:
            wanted = tuple(wanted)
            if len(wanted) != len(longest):
                raise ValueError(
                    f"padded_batch: padded_shapes {wanted} for component {component} has "
                    f"{len(wanted)} axes, but its elements have {len(longest)}."
                )
            target = []
            for axis, (want, have) in enumerate(zip(wanted, longest, strict=True)):
                if want is None or want == -1:
                    target.append(have)
                elif want < have:
                    raise ValueError(
                        f"padded_batch: component {component} is {have} long on axis {axis}, "
                        f"longer than its padded shape {wanted}."
                    )
                else:
                    target.append(int(want))
            target = tuple(target)
        dtype = xp.result_type(*arrays)
        if value is None:
            value = "" if dtype.kind in "US" else 0
        out = xp.full((len(arrays),) + target, value, dtype=dtype)
        for row, array in enumerate(arrays):
            out[(row,) + tuple(slice(0, n) for n in array.shape)] = array
        return out


class _Unbatch(_Unary):
    def cardinality(self) -> int:
        return INFINITE if self._input.cardinality() == INFINITE else UNKNOWN

    def _iterate(self):
        source = iter(self._input)
        try:
            for number, element in enumerate(source):
                arrays = [structure.as_leaf_array(leaf) for leaf in structure.flatten(element)]
                if any(array.ndim == 0 for array in arrays):
                    raise ValueError(
                        f"unbatch: element {number} has a scalar component "
                        f"({structure.describe(element)}); every component needs a batch axis."
                    )
                rows = {len(array) for array in arrays}
                if len(rows) > 1:
                    raise ValueError(
                        f"unbatch: element {number}'s components have different batch sizes: "
                        f"{structure.describe(element)}."
                    )
                for row in range(rows.pop()):
                    yield structure.pack_like(element, [array[row] for array in arrays])
        finally:
            _close(source)


# ---- background work and caching -------------------------------------------------------------

_DONE = "done"
_FAILED = "failed"
_ELEMENT = "element"


def _fill_queue(source, buffer: queue.Queue, stop: threading.Event) -> None:
    """Worker thread of ``prefetch``: move elements of ``source`` into ``buffer`` until the
    source ends, fails, or ``stop`` is set; closes ``source`` in this thread (it runs here)."""
    import queue  # here, not at the top: `import axonal` stays light

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    try:
        for element in source:
            if not put((_ELEMENT, element)):
                return
        put((_DONE, None))
    except BaseException as error:  # handed to the consuming thread, which raises it
        put((_FAILED, error))
    finally:
        _close(source)


class _Prefetch(_Unary):
    def __init__(self, input_dataset, buffer_size: int):
        super().__init__(input_dataset)
        self._buffer_size = buffer_size

    def _iterate(self):
        import queue  # here, not at the top: `import axonal` stays light

        buffer = queue.Queue(self._buffer_size)
        stop = threading.Event()
        # the worker holds the source, the queue and the flag, never this generator: so an
        # abandoned iterator is garbage-collected, and its finally block stops the worker
        worker = threading.Thread(
            target=_fill_queue,
            args=(iter(self._input), buffer, stop),
            name="axonal-data-prefetch",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                kind, payload = buffer.get()
                if kind == _DONE:
                    return
                if kind == _FAILED:
                    raise payload
                yield payload
        finally:
            stop.set()
            if threading.current_thread() is not worker:
                worker.join()


class _MemoryCache(_Unary):
    def __init__(self, input_dataset):
        super().__init__(input_dataset)
        self._elements = None

    def _iterate(self):
        if self._elements is not None:
            yield from self._elements
            return
        seen = []
        source = iter(self._input)
        try:
            for element in source:
                seen.append(element)
                yield element
        finally:
            _close(source)
        # only a complete pass is kept, as tf.data does
        self._elements = seen


def _structure_spec(element):
    """A JSON description of an element's nesting (leaves are null)."""
    if isinstance(element, dict):
        for key in element:
            if not isinstance(key, str):
                raise TypeError(f"cache(filename) needs string dict keys, got {key!r}.")
        return {"dict": [[key, _structure_spec(value)] for key, value in element.items()]}
    if isinstance(element, (tuple, list)):
        return {"tuple": [_structure_spec(value) for value in element]}
    return None


def _from_spec(spec, leaves):
    if spec is None:
        return next(leaves)
    if "dict" in spec:
        return {key: _from_spec(value, leaves) for key, value in spec["dict"]}
    return tuple(_from_spec(value, leaves) for value in spec["tuple"])


class _FileCache(_Unary):
    def __init__(self, input_dataset, prefix: str):
        super().__init__(input_dataset)
        self._prefix = prefix

    def _element_path(self, number: int) -> str:
        return f"{self._prefix}.{number:09d}.npz"

    def _index_path(self) -> str:
        return f"{self._prefix}.index.json"

    def _iterate(self):
        if os.path.exists(self._index_path()):
            yield from self._read()
        else:
            yield from self._write()

    def _read(self):
        import json  # here, not at the top: `import axonal` stays light

        with open(self._index_path(), encoding="utf-8") as handle:
            index = json.load(handle)
        spec = index["structure"]
        for number in range(index["count"]):
            with xp.load(self._element_path(number), allow_pickle=False) as stored:
                count = len(stored.files)
                leaves = [stored[f"arr_{i}"] for i in range(count)]
            # 0-d arrays come back as NumPy scalars, as from_tensor_slices yields them
            leaves = [leaf[()] if leaf.ndim == 0 else leaf for leaf in leaves]
            yield _from_spec(spec, iter(leaves))

    def _write(self):
        directory = os.path.dirname(self._prefix)
        if directory:
            os.makedirs(directory, exist_ok=True)
        spec = None
        count = 0
        complete = False
        source = iter(self._input)
        try:
            for element in source:
                leaves = [structure.as_leaf_array(leaf) for leaf in structure.flatten(element)]
                for leaf in leaves:
                    if leaf.dtype.kind == "O":
                        raise TypeError(
                            "cache(filename) stores arrays without pickle; element "
                            f"{count} holds an object array."
                        )
                if count == 0:
                    spec = _structure_spec(element)
                xp.savez(self._element_path(count), *leaves)
                count += 1
                yield element
            complete = True
        finally:
            _close(source)
            if complete:
                temporary = self._index_path() + ".partial"
                import json  # here, not at the top: `import axonal` stays light

                with open(temporary, "w", encoding="utf-8") as handle:
                    json.dump({"count": count, "structure": spec}, handle)
                os.replace(temporary, self._index_path())
            else:
                # an interrupted pass leaves no cache behind: the next one writes it again
                for number in range(count):
                    try:
                        os.remove(self._element_path(number))
                    except FileNotFoundError:
                        pass


# ---- counting and joining --------------------------------------------------------------------


class _Take(_Unary):
    def __init__(self, input_dataset, count: int):
        super().__init__(input_dataset)
        self._count = count

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if self._count == -1:
            return count
        if count == INFINITE:
            return self._count
        if count == UNKNOWN:
            return UNKNOWN
        return min(count, self._count)

    def _iterate(self):
        if self._count == 0:
            return
        source = iter(self._input)
        try:
            for number, element in enumerate(source, start=1):
                yield element
                if number == self._count:
                    return
        finally:
            _close(source)


class _Skip(_Unary):
    def __init__(self, input_dataset, count: int):
        super().__init__(input_dataset)
        self._count = count

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if count in (INFINITE, UNKNOWN):
            return count
        if self._count == -1:
            return 0
        return max(0, count - self._count)

    def _iterate(self):
        if self._count == -1:
            return
        source = iter(self._input)
        try:
            for number, element in enumerate(source):
                if number >= self._count:
                    yield element
        finally:
            _close(source)


class _Repeat(_Unary):
    def __init__(self, input_dataset, count: int | None):
        super().__init__(input_dataset)
        self._count = count

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if self._count == 0 or count == 0:
            return 0
        if self._count is None or count == INFINITE:
            return INFINITE
        if count == UNKNOWN:
            return UNKNOWN
        return count * self._count

    def _iterate(self):
        epoch = 0
        while self._count is None or epoch < self._count:
            produced = False
            source = iter(self._input)
            try:
                for element in source:
                    produced = True
                    yield element
            finally:
                _close(source)
            if not produced:
                # repeating an empty dataset forever would spin: tf.data stops too
                return
            epoch += 1


class _Concatenate(_Unary):
    def __init__(self, input_dataset, other: Dataset):
        super().__init__(input_dataset)
        self._other = other

    def cardinality(self) -> int:
        counts = (self._input.cardinality(), self._other.cardinality())
        if INFINITE in counts:
            return INFINITE
        if UNKNOWN in counts:
            return UNKNOWN
        return counts[0] + counts[1]

    def _iterate(self):
        # a leaf's signature is None, so "nothing seen yet" needs its own marker
        first_signature = _NOT_SEEN = object()
        source = iter(self._input)
        try:
            for element in source:
                if first_signature is _NOT_SEEN:
                    first_signature = structure.signature(element)
                yield element
        finally:
            _close(source)
        source = iter(self._other)
        try:
            for number, element in enumerate(source):
                if number == 0 and first_signature is not _NOT_SEEN:
                    if structure.signature(element) != first_signature:
                        raise ValueError(
                            "concatenate: the datasets' elements have different structures; "
                            f"the second dataset's first element is "
                            f"{structure.describe(element)}."
                        )
                yield element
        finally:
            _close(source)
