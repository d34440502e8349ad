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
    datasets,
    distributed,
    explain,
    export,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    privacy,
    random,
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


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
