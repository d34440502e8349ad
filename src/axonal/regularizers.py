"""Weight penalties added to the training loss: L1, L2 and both (Keras defaults 0.01).

Example:
    >>> Dense(8, kernel_regularizer=regularizers.l2(1e-4))
"""

from __future__ import annotations

from axonal import functional as F
from axonal.registry import deserialize as _deserialize
from axonal.registry import lookup, register
from axonal.registry import serialize as _serialize
from axonal.tensor import Tensor


class Regularizer:
    """Base class: ``__call__(weight) -> scalar Tensor`` penalty."""

    def __call__(self, weight) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Return the constructor arguments as JSON values."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        """Rebuild from ``get_config()``'s output."""
        return cls(**config)


def _check_factor(name: str, value) -> float:
    value = float(value)
    if value < 0:
        raise ValueError(f"Regularization factor {name} must be >= 0, got {value}.")
    return value


@register("regularizer", "L1L2", "l1_l2")
class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``.

    Args:
        l1: L1 factor (default 0.0).
        l2: L2 factor (default 0.0).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor("l1", l1)
        self.l2 = _check_factor("l2", l2)

    def __call__(self, weight) -> Tensor:
        penalty = None
        if self.l1:
            penalty = F.multiply(F.sum(F.abs(weight)), self.l1)
        if self.l2:
            l2 = F.multiply(F.sum(F.square(weight)), self.l2)
            penalty = l2 if penalty is None else F.add(penalty, l2)
        return penalty if penalty is not None else F.multiply(F.sum(weight), 0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


@register("regularizer", "L1", "l1")
class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras default factor 0.01)."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


@register("regularizer", "L2", "l2")
class L2(L1L2):
    """``l2 * sum(w**2)`` (Keras default factor 0.01)."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


# Keras's lowercase spellings: regularizers.l2(1e-4)
l1 = L1
l2 = L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras's ``l1_l2`` helper: both penalties, each defaulting to 0.01."""
    return L1L2(l1=l1, l2=l2)


def get(identifier) -> Regularizer | None:
    """Resolve a regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict or an object."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = lookup("regularizer", identifier)
        return l1_l2() if cls is L1L2 and identifier == "l1_l2" else cls()
    if isinstance(identifier, dict):
        return _deserialize("regularizer", identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret regularizer {identifier!r}.")


def serialize(regularizer: Regularizer) -> dict:
    """Return the regularizer's ``{'class_name', 'config'}``."""
    return _serialize(regularizer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Regularizer:
    """Inverse of ``serialize``."""
    return _deserialize("regularizer", config, custom_objects)


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
