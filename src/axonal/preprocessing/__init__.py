"""Data preprocessing helpers under Keras's names (``preprocessing.sequence.pad_sequences``,
``preprocessing.image``, and the dataset builders ``keras.preprocessing`` also exports)."""

from axonal.preprocessing import image, sequence
from axonal.preprocessing.sequence import pad_sequences
from axonal.utils.dataset_utils import image_dataset_from_directory, text_dataset_from_directory
from axonal.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "image",
    "image_dataset_from_directory",
    "pad_sequences",
    "sequence",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]
