"""Data preprocessing helpers under Keras's names (``preprocessing.sequence.pad_sequences``)."""

from axonal.preprocessing import sequence
from axonal.preprocessing.sequence import pad_sequences

__all__ = ["pad_sequences", "sequence"]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
