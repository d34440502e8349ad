"""Models: ``Sequential`` and the ``Model`` base with compile/fit/evaluate/predict."""

from axonal.models.cloning import clone_model
from axonal.models.model import Model
from axonal.models.sequential import Sequential
from axonal.saving import load_model, model_from_json

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
