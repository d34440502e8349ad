"""Sliding windows over a time series as a dataset
(``keras.utils.timeseries_dataset_from_array``)."""

from __future__ import annotations

import numpy as np

from axonal import backend
from axonal.data import Dataset


def _check_positive_below(value, name: str, length: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be higher than 0, got {name}={value}.")
    if value >= length:
        raise ValueError(
            f"{name} must be lower than the length of the data, got {name}={value} for data "
            f"of length {length}."
        )


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
    **kwargs,
) -> Dataset:
    """Windows of ``sequence_length`` steps from ``data``, with their targets, as Keras makes
    them.

    Window ``i`` starts at ``start_index + i * sequence_stride`` and takes every
    ``sampling_rate``-th step: ``data[s], data[s + r], ..., data[s + (sequence_length - 1) * r]``;
    its target is ``targets[s]`` (the step the window starts at: shift ``targets`` to predict
    ahead). Windows stay within ``data[start_index:end_index]`` and, with targets, number at most
    ``len(targets)``. Windows are gathered from ``data`` a batch at a time as the dataset is
    iterated, so ``data`` may be a memory-mapped array larger than memory.

    Args:
        data: an array (or array-like) of steps along axis 0.
        targets: one target per step (axis 0), or None for windows only.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: steps between the samples within a window.
        batch_size: windows per batch; None yields single windows.
        shuffle: shuffle the windows (NumPy's ``RandomState(seed)``, Keras's order, then again
            every epoch from a buffer of ``8 * batch_size``).
        seed: the shuffling seed.
        start_index, end_index: the part of ``data`` windows are taken from (end exclusive).

    Returns:
        An ``axonal.data.Dataset`` of ``(windows, targets)`` batches (or windows alone).

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=4)
        >>> next(iter(ds))
        array([[0, 1, 2],
               [1, 2, 3],
               [2, 3, 4],
               [3, 4, 5]])
    """
    fmt = kwargs.pop("format", "tf")
    if kwargs:
        raise TypeError(f"timeseries_dataset_from_array got unexpected arguments {sorted(kwargs)}.")
    if fmt not in ("tf", "grain"):
        raise ValueError(f"format must be 'tf' or 'grain', got {fmt!r}.")
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        data = np.asarray(data)
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"start_index must be 0 or greater, got start_index={start_index}.")
        if start_index >= length:
            raise ValueError(
                f"start_index must be lower than the length of the data, got "
                f"start_index={start_index} for data of length {length}."
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                f"end_index must be higher than start_index, got start_index={start_index} and "
                f"end_index={end_index}."
            )
        if end_index >= length:
            raise ValueError(
                f"end_index must be lower than the length of the data, got "
                f"end_index={end_index} for data of length {length}."
            )
        if end_index <= 0:
            raise ValueError(f"end_index must be higher than 0, got end_index={end_index}.")
    _check_positive_below(sampling_rate, "sampling_rate", length)
    _check_positive_below(sequence_stride, "sequence_stride", length)
    start = start_index or 0
    end = end_index if end_index is not None else length
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    starts = np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = int(backend.make_rng(None).integers(1e6))
        np.random.RandomState(seed).shuffle(starts)
    offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate
    data_part = data[start:end]
    target_part = None if targets is None else targets[start:end]

    def windows(batch_starts):
        positions = np.asarray(batch_starts)
        windows = np.asarray(data_part[positions[..., None] + offsets])
        if target_part is None:
            return windows
        return windows, np.asarray(target_part[positions])

    dataset = Dataset.from_tensor_slices(starts)
    if batch_size is not None:
        if shuffle:
            dataset = dataset.shuffle(batch_size * 8, seed=seed)
        dataset = dataset.batch(batch_size)
    elif shuffle:
        dataset = dataset.shuffle(1024, seed=seed)
    return dataset.map(windows)


__all__ = ["timeseries_dataset_from_array"]
