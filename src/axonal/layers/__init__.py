"""Layers: the building blocks of models (Keras names, layouts and defaults)."""

from axonal.layers.base import Layer
from axonal.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "Reshape"]
