"""Data preprocessing helpers under Keras's names (``preprocessing.sequence.pad_sequences``)."""

from axonal.preprocessing import sequence
from axonal.preprocessing.sequence import pad_sequences

__all__ = ["pad_sequences", "sequence"]
