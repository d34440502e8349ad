"""axonal: neural-network training with its own reverse-mode autodiff on NumPy, Keras API.

Example:
    >>> from axonal.models import Sequential
    >>> from axonal.layers import Dense
    >>> model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3, "softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

from axonal import (
    activations,
    applications,
    callbacks,
    config,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    optimizers,
    preprocessing,
    random,
    registry,
    regularizers,
    saving,
    schedules,
    tree,
    utils,
)
from axonal._missing import MissingKerasFeature
from axonal.autograd import enable_grad, no_grad
from axonal.backend import floatx, set_floatx
from axonal.initializers import Initializer
from axonal.layers import Input, InputSpec, Layer
from axonal.layers.symbolic import SymbolicTensor as KerasTensor
from axonal.losses import Loss
from axonal.metrics import Metric
from axonal.models import Model, Sequential
from axonal.optimizers import Optimizer
from axonal.regularizers import Regularizer
from axonal.scopes import device, name_scope, version
from axonal.tape import GradientTape
from axonal.tensor import Tensor, Variable

__version__ = "0.1.0"

# Subpackages that a training program may never touch load on first use: together they pull in
# urllib/http/ssl (datasets), threads and queues (distributed), the ONNX writer (export) and
# 180 KiB of source (ops: layers reach it only inside functions), which would add tens of
# milliseconds to every ``import axonal`` (more where no bytecode cache can be written). A module
# ``__getattr__`` (PEP 562) is the one way to keep ``axonal.datasets`` working as an attribute
# without loading it; it serves only these names.
_LAZY_SUBPACKAGES = ("datasets", "distributed", "explain", "export", "ops", "privacy")
# what those register by name, so that ``load_model`` of a file naming it imports it
registry.defer("optimizer", "DPOptimizer", "axonal.privacy")


def __getattr__(name: str) -> object:
    """Import a lazily loaded subpackage (``axonal.datasets`` and the like) on first access;
    for a Keras name axonal lacks, raise the error naming the Keras feature (axonal._missing)."""
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"axonal.{name}")
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)


def __dir__() -> list[str]:
    """The package's names, the lazily loaded subpackages included."""
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))


__all__ = [
    "GradientTape",
    "Initializer",
    "Input",
    "InputSpec",
    "KerasTensor",
    "Layer",
    "Regularizer",
    "device",
    "name_scope",
    "version",
    "Loss",
    "Metric",
    "MissingKerasFeature",
    "Model",
    "Optimizer",
    "Sequential",
    "Tensor",
    "Variable",
    "__version__",
    "activations",
    "applications",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "distributed",
    "enable_grad",
    "explain",
    "export",
    "floatx",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "no_grad",
    "ops",
    "optimizers",
    "preprocessing",
    "privacy",
    "random",
    "regularizers",
    "saving",
    "schedules",
    "set_floatx",
    "tree",
    "utils",
]
