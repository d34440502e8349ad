"""Preprocessing layers: statistics, lookups, text and image transforms that travel with a model.

One module per family: ``normalization`` (``Normalization``, and ``ColumnNames``, which names a
table's columns for the command line), ``lookup`` (string/integer vocabularies, encodings,
hashing, discretization), ``text`` (``TextVectorization``), ``image`` (resizing, cropping) and
``augmentation`` (random transforms active only in training).
"""

from axonal.layers.preprocessing.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from axonal.layers.preprocessing.image import CenterCrop, Resizing
from axonal.layers.preprocessing.lookup import (
    CategoryEncoding,
    Discretization,
    Hashing,
    IntegerLookup,
    StringLookup,
)
from axonal.layers.preprocessing.normalization import ColumnNames, Normalization
from axonal.layers.preprocessing.text import TextVectorization

__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "ColumnNames",
    "Discretization",
    "Hashing",
    "IntegerLookup",
    "Normalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Resizing",
    "StringLookup",
    "TextVectorization",
]
