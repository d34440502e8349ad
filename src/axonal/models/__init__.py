"""Models: ``Sequential`` and the ``Model`` base with compile/fit/evaluate/predict.

Each name loads with its module on first use (``from axonal.models import Sequential`` does not
load the saving code); axonal._missing explains the module ``__getattr__`` that does it.
"""

from axonal._missing import lazy_attribute, lazy_dir

# name -> the module that defines it; the submodules too
_LAZY = {
    "Model": "axonal.models.model",
    "Sequential": "axonal.models.sequential",
    "clone_model": "axonal.models.cloning",
    "load_model": "axonal.saving",
    "model_from_json": "axonal.saving",
    **{name: f"axonal.models.{name}" for name in ("cloning", "functional", "model", "sequential")},
}

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]


def __getattr__(name: str) -> object:
    """Load a model class or function on first access; for a Keras name axonal lacks, raise the
    error naming the Keras feature (axonal._missing)."""
    return lazy_attribute(__name__, _LAZY, name)


def __dir__() -> list[str]:
    """The package's names, the ones not loaded yet included."""
    return lazy_dir(globals(), _LAZY)
