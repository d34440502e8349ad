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


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
