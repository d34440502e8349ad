"""Data for fit/evaluate/predict: validation of in-memory arrays (``arrays``), and the adapters
for data that streams.

Everything a training loop needs from its data is importable from here; the submodules are:

- ``arrays``: input validation, sample weights, validation split and batch slicing for NumPy
  arrays and DataFrames.
- ``dataset``: ``Dataset``, a tf.data-like pipeline of NumPy elements (``structure``: the
  nested tuples / dicts its elements are made of).
- ``py_dataset``: ``PyDataset`` (Keras's ``keras.utils.PyDataset``, alias ``Sequence``) and
  ``epoch_batches``, which reads one epoch of it with worker threads or processes.
"""

from axonal.data.arrays import (
    TARGET_HINT,
    batch_slices,
    check_columns,
    check_finite,
    check_lengths,
    check_positive_int,
    check_sparse_labels,
    column_names,
    is_dataframe,
    sample_weights,
    split_validation,
    times_sample_weight,
    to_array,
)
from axonal.data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, TensorSpec
from axonal.data.py_dataset import PyDataset, Sequence, epoch_batches

__all__ = [
    "AUTOTUNE",
    "Dataset",
    "INFINITE",
    "PyDataset",
    "Sequence",
    "TARGET_HINT",
    "TensorSpec",
    "UNKNOWN",
    "epoch_batches",
    "batch_slices",
    "check_columns",
    "check_finite",
    "check_lengths",
    "check_positive_int",
    "check_sparse_labels",
    "column_names",
    "is_dataframe",
    "sample_weights",
    "split_validation",
    "times_sample_weight",
    "to_array",
]
