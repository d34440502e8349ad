"""Preprocessing layers: statistics, lookups, text and image transforms that travel with a model.

One module per family: ``normalization`` (``Normalization``, and ``ColumnNames``, which names a
table's columns for the command line), ``lookup`` (string/integer vocabularies, encodings,
hashing, discretization), ``text`` (``TextVectorization``), ``image`` (resizing, cropping) and
``augmentation`` (random transforms active only in training). Each loads on first use, as the
layers of ``axonal.layers`` do (axonal._missing.lazy_attribute).
"""

from axonal._missing import lazy_attribute, lazy_dir

# module -> the public names it defines
_MODULES = {
    "axonal.layers.preprocessing.augmentation": (
        "RandomBrightness",
        "RandomContrast",
        "RandomCrop",
        "RandomFlip",
        "RandomRotation",
        "RandomTranslation",
        "RandomZoom",
    ),
    "axonal.layers.preprocessing.image": ("CenterCrop", "Resizing"),
    "axonal.layers.preprocessing.lookup": (
        "CategoryEncoding",
        "Discretization",
        "Hashing",
        "IntegerLookup",
        "StringLookup",
    ),
    "axonal.layers.preprocessing.normalization": ("ColumnNames", "Normalization"),
    "axonal.layers.preprocessing.text": ("TextVectorization",),
}
# name -> the module that defines it; the submodules too
_LAZY = {
    **{name: module for module, names in _MODULES.items() for name in names},
    **{
        name: f"axonal.layers.preprocessing.{name}"
        for name in ("augmentation", "image", "lookup", "normalization", "text")
    },
}

__all__ = sorted(name for names in _MODULES.values() for name in names)


def __getattr__(name: str) -> object:
    """Load a preprocessing layer (and its module) on first access."""
    return lazy_attribute(__name__, _LAZY, name)


def __dir__() -> list[str]:
    """The package's names, the ones not loaded yet included."""
    return lazy_dir(globals(), _LAZY)
