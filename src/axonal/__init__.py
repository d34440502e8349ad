"""axonal: neural-network training with its own reverse-mode autodiff on NumPy, Keras API.

Example:
    >>> from axonal.models import Sequential
    >>> from axonal.layers import Dense
    >>> model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3, "softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

from axonal import registry
from axonal._missing import MissingKerasFeature, lazy_attribute, lazy_dir

__version__ = "0.1.0"

# Every other name loads on first use: ``import axonal`` would otherwise compile and run the
# whole library, about 1.2 MB of source (a fifth of a second more where no bytecode cache can be
# written: a fresh checkout, a read-only install), where a program uses a few of its modules.
# A module ``__getattr__`` (PEP 562) is the one way to keep ``axonal.layers`` and
# ``axonal.Sequential`` working as attributes without loading them; axonal._missing explains the
# exception.

# every submodule and subpackage but the private ones (a test checks the list against the
# files), so ``axonal.layers`` is an attribute and ``from axonal import functional`` finds it
_SUBMODULES = (
    "activations",
    "allocator",
    "applications",
    "atomic",
    "autograd",
    "backend",
    "callbacks",
    "cli",
    "cli_table",
    "config",
    "constraints",
    "conv_kernels",
    "data",
    "datasets",
    "distributed",
    "explain",
    "export",
    "functional",
    "gradcheck",
    "initializers",
    "keras_compat",
    "keras_export",
    "keras_format",
    "kernels",
    "layers",
    "load_checks",
    "losses",
    "metrics",
    "mixed_precision",
    "model_plot",
    "models",
    "ops",
    "optimizers",
    "parameter_buffer",
    "pointwise_kernels",
    "plot",
    "preprocessing",
    "primitives",
    "privacy",
    "random",
    "recurrent_kernels",
    "regularizers",
    "saving",
    "schedules",
    "scopes",
    "serialization",
    "sklearn",
    "summary_events",
    "tape",
    "tensor",
    "trainers",
    "tree",
    "utils",
    "weight_budget",
)
# name -> the module that defines it (``module:attribute`` for another name there)
_LAZY = {
    "GradientTape": "axonal.tape",
    "Initializer": "axonal.initializers",
    "Input": "axonal.layers.core",
    "InputSpec": "axonal.layers.input_spec",
    "KerasTensor": "axonal.layers.symbolic:SymbolicTensor",
    "Layer": "axonal.layers.base",
    "Loss": "axonal.losses",
    "Metric": "axonal.metrics",
    "Model": "axonal.models.model",
    "Optimizer": "axonal.optimizers",
    "Regularizer": "axonal.regularizers",
    "Sequential": "axonal.models.sequential",
    "Tensor": "axonal.tensor",
    "Variable": "axonal.tensor",
    "device": "axonal.scopes",
    "enable_grad": "axonal.autograd",
    "floatx": "axonal.backend",
    "name_scope": "axonal.scopes",
    "no_grad": "axonal.autograd",
    "set_floatx": "axonal.backend",
    "version": "axonal.scopes",
    **{name: f"axonal.{name}" for name in _SUBMODULES},
}

# the modules that register each kind's built-in names, so that ``load_model`` of a file naming
# one (``Dense``, ``"adam"``, ``DPOptimizer``) imports its module in a fresh process
registry.defer("activation", "axonal.activations")
registry.defer("constraint", "axonal.constraints")
registry.defer("initializer", "axonal.initializers")
registry.defer(
    "layer", "axonal.models", "axonal.layers", "axonal.layers.base", "axonal.layers.preprocessing"
)
registry.defer("loss", "axonal.losses")
registry.defer("metric", "axonal.metrics")
registry.defer("metric_function", "axonal.metrics")
registry.defer("optimizer", "axonal.optimizers", "axonal.privacy")
registry.defer("regularizer", "axonal.regularizers")
registry.defer("schedule", "axonal.schedules")


def __getattr__(name: str) -> object:
    """Load a public name on first access (``axonal.layers``, ``axonal.Sequential``); for a
    Keras name axonal lacks, raise the error naming the Keras feature (axonal._missing)."""
    return lazy_attribute(__name__, _LAZY, name)


def __dir__() -> list[str]:
    """The package's names, the ones not loaded yet included."""
    return lazy_dir(globals(), _LAZY)


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
