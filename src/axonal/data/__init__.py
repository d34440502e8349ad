"""Data for fit/evaluate/predict: validation of in-memory arrays (``arrays``), and the adapters
for data that streams.

Everything a training loop needs from its data is importable from here; the submodules are:

- ``arrays``: input validation, sample weights, validation split and batch slicing for NumPy
  arrays and DataFrames.
- ``dataset``: ``Dataset``, a tf.data-like pipeline of NumPy elements (``structure``: the
  nested tuples / dicts its elements are made of).
- ``py_dataset``: ``PyDataset`` (Keras's ``keras.utils.PyDataset``, alias ``Sequence``) and
  ``epoch_batches``, which reads one epoch of it with worker threads or processes.
- ``adapters``: ``adapt`` / ``batches_of``, from any streaming source to
  ``(x, y, sample_weight)`` batches, one epoch at a time.
"""

from axonal.data.adapters import (
    DatasetAdapter,
    IterableAdapter,
    IteratorAdapter,
    PyDatasetAdapter,
    StreamingAdapter,
    adapt,
    batches_of,
    unpack_batch,
)
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
    "DatasetAdapter",
    "INFINITE",
    "IterableAdapter",
    "IteratorAdapter",
    "PyDataset",
    "PyDatasetAdapter",
    "Sequence",
    "StreamingAdapter",
    "TARGET_HINT",
    "TensorSpec",
    "UNKNOWN",
    "adapt",
    "batches_of",
    "epoch_batches",
    "unpack_batch",
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
