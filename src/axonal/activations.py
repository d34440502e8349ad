"""Activation functions by name or callable, with Keras 3 names and defaults.

Example:
    >>> from axonal import activations
    >>> activations.get("relu")(x)
"""

from __future__ import annotations

from collections.abc import Callable

from axonal import functional as F
from axonal.registry import lookup, register, registered_names
from axonal.tensor import Tensor


@register("activation", "linear")
def linear(x) -> Tensor:
    """Identity: returns ``x`` unchanged."""
    return x


@register("activation", "relu")
def relu(x, negative_slope: float = 0.0, max_value: float | None = None) -> Tensor:
    """Rectified linear unit, optionally leaky below 0 and capped at ``max_value``."""
    out = F.relu(x) if negative_slope == 0.0 else F.leaky_relu(x, negative_slope)
    return out if max_value is None else F.minimum(out, max_value)


@register("activation", "relu6")
def relu6(x) -> Tensor:
    """ReLU capped at 6."""
    return F.relu6(x)


@register("activation", "leaky_relu")
def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """Leaky ReLU with Keras's default slope 0.2."""
    return F.leaky_relu(x, negative_slope)


@register("activation", "elu")
def elu(x, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit."""
    return F.elu(x, alpha)


@register("activation", "selu")
def selu(x) -> Tensor:
    """Scaled exponential linear unit."""
    return F.selu(x)


@register("activation", "gelu")
def gelu(x, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit (exact by default, like Keras 3)."""
    return F.gelu(x, approximate)


@register("activation", "sigmoid")
def sigmoid(x) -> Tensor:
    """Logistic sigmoid."""
    return F.sigmoid(x)


@register("activation", "hard_sigmoid")
def hard_sigmoid(x) -> Tensor:
    """``relu6(x + 3) / 6``."""
    return F.hard_sigmoid(x)


@register("activation", "hard_silu", "hard_swish")
def hard_silu(x) -> Tensor:
    """``x * hard_sigmoid(x)``."""
    return F.hard_silu(x)


@register("activation", "tanh")
def tanh(x) -> Tensor:
    """Hyperbolic tangent."""
    return F.tanh(x)


@register("activation", "softplus")
def softplus(x) -> Tensor:
    """``log(1 + exp(x))``."""
    return F.softplus(x)


@register("activation", "softsign")
def softsign(x) -> Tensor:
    """``x / (1 + |x|)``."""
    return F.softsign(x)


@register("activation", "silu", "swish")
def silu(x) -> Tensor:
    """``x * sigmoid(x)``."""
    return F.silu(x)


swish = silu


@register("activation", "exponential")
def exponential(x) -> Tensor:
    """``exp(x)``."""
    return F.exp(x)


@register("activation", "softmax")
def softmax(x, axis: int = -1) -> Tensor:
    """Softmax over ``axis``."""
    return F.softmax(x, axis)


@register("activation", "log_softmax")
def log_softmax(x, axis: int = -1) -> Tensor:
    """Log-softmax over ``axis``."""
    return F.log_softmax(x, axis)


def get(identifier) -> Callable:
    """Resolve an activation: None (linear), a registered name, or a callable.

    Raises:
        ValueError: for an unknown name, naming it and suggesting close valid ones.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup("activation", identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret activation {identifier!r}: expected a name, a callable or None."
    )


def serialize(activation: Callable) -> str:
    """Return the registered name of an activation (for configs).

    Raises:
        ValueError: when the activation is not registered and so cannot be saved.
    """
    for name in registered_names("activation"):
        if lookup("activation", name) is activation:
            return name
    name = getattr(activation, "__name__", repr(activation))
    raise ValueError(
        f"Activation {name!r} is not registered; register it with "
        "axonal.registry.register('activation', name) to save it."
    )


def deserialize(name: str | dict, custom_objects: dict | None = None) -> Callable:
    """Inverse of ``serialize``: a registered name, or a Keras 3 config dict naming one.

    Keras 3 writes a built-in activation as
    ``{'class_name': 'function', 'config': 'relu', ...}``; the name is the ``config`` string
    (or ``registered_name``), resolved through the registry like any other name.
    """
    if isinstance(name, dict):
        config = name.get("config")
        if isinstance(config, str):
            name = config
        elif name.get("class_name") not in (None, "function"):
            name = name["class_name"]
        else:
            name = name.get("registered_name", "")
    return lookup("activation", name, custom_objects)


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
