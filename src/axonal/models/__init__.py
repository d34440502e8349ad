"""Models: ``Sequential`` and the ``Model`` base with compile/fit/evaluate/predict."""

from axonal.models.cloning import clone_model
from axonal.models.model import Model
from axonal.models.sequential import Sequential
from axonal.saving import load_model, model_from_json

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]
