"""Models: ``Sequential`` and the ``Model`` base with compile/fit/evaluate/predict."""

from axonal.models.model import Model
from axonal.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
