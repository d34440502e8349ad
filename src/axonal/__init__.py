"""axonal: neural-network training with its own reverse-mode autodiff on NumPy, Keras API.

Example:
    >>> from axonal.models import Sequential
    >>> from axonal.layers import Dense
    >>> model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3, "softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

from axonal import (
    activations,
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
    models,
    ops,
    optimizers,
    preprocessing,
    privacy,
    random,
    regularizers,
    saving,
    schedules,
    utils,
)
from axonal.autograd import enable_grad, no_grad
from axonal.backend import floatx, set_floatx
from axonal.layers import Input, Layer
from axonal.losses import Loss
from axonal.metrics import Metric
from axonal.models import Model, Sequential
from axonal.optimizers import Optimizer
from axonal.tape import GradientTape
from axonal.tensor import Tensor, Variable

__version__ = "0.1.0"

__all__ = [
    "GradientTape",
    "Input",
    "Layer",
    "Loss",
    "Metric",
    "Model",
    "Optimizer",
    "Sequential",
    "Tensor",
    "Variable",
    "__version__",
    "activations",
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
    "utils",
]
