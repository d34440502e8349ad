"""Weight constraints: projections applied to a weight after an optimizer step (Keras names).

Each constraint maps a weight array to the nearest array that satisfies it. Norms are taken
along ``axis`` (Keras's default 0: for a Dense kernel ``(in, out)`` that is each unit's incoming
weight vector).

Example:
    >>> MaxNorm(2.0)(numpy.array([[3.0], [4.0]]))  # norm 5 scaled down to 2
    array([[1.2],
           [1.6]])
"""

from __future__ import annotations

from typing import Any

from axonal import registry
from axonal.backend import epsilon, xp

_KIND = "constraint"


def _values(w):
    """The array behind ``w``: a weight Variable/Tensor gives its data, anything else an array."""
    return xp.asarray(getattr(w, "data", w))


def _norms(w, axis):
    # keepdims so the norms broadcast back over the weight they were taken from
    return xp.sqrt(xp.sum(xp.square(w), axis=axis, keepdims=True))


def _axis_config(axis) -> int | list[int]:
    return list(axis) if isinstance(axis, (list, tuple)) else int(axis)


def _axis_arg(axis):
    return tuple(axis) if isinstance(axis, list) else axis


class Constraint:
    """Base class: ``__call__(w) -> array`` returns the projected weight.

    Subclass and override ``__call__`` (and ``get_config`` when it has arguments); register the
    subclass with ``axonal.registry.register('constraint', name)`` to save models that use it.
    """

    def __call__(self, w):
        return _values(w)

    def get_config(self) -> dict:
        """Return the constructor arguments as JSON values."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        """Rebuild from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


@registry.register(_KIND, "MaxNorm", "max_norm")
class MaxNorm(Constraint):
    """Scale each weight vector along ``axis`` so its L2 norm is at most ``max_value``.

    Args:
        max_value: the largest allowed norm (Keras default 2).
        axis: the axis (or axes) the norm is taken over (default 0).
    """

    def __init__(self, max_value: float = 2.0, axis: int | list[int] = 0):
        self.max_value = float(max_value)
        self.axis = _axis_config(axis)

    def __call__(self, w):
        w = _values(w)
        norms = _norms(w, _axis_arg(self.axis))
        desired = xp.clip(norms, 0, self.max_value)
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


@registry.register(_KIND, "NonNeg", "non_neg")
class NonNeg(Constraint):
    """Set negative weights to zero."""

    def __call__(self, w):
        w = _values(w)
        return (w * (w >= 0)).astype(w.dtype, copy=False)


@registry.register(_KIND, "UnitNorm", "unit_norm")
class UnitNorm(Constraint):
    """Scale each weight vector along ``axis`` to unit L2 norm.

    Args:
        axis: the axis (or axes) the norm is taken over (default 0).
    """

    def __init__(self, axis: int | list[int] = 0):
        self.axis = _axis_config(axis)

    def __call__(self, w):
        w = _values(w)
        norms = _norms(w, _axis_arg(self.axis))
        return (w / (epsilon() + norms)).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"axis": self.axis}


@registry.register(_KIND, "MinMaxNorm", "min_max_norm")
class MinMaxNorm(Constraint):
    """Move each weight vector's L2 norm into ``[min_value, max_value]`` at speed ``rate``.

    The new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``: rate 1 is a
    strict projection, smaller rates move part of the way each step.

    Args:
        min_value: the smallest allowed norm (default 0).
        max_value: the largest allowed norm (default 1).
        rate: how far to move towards the allowed range, in [0, 1] (default 1).
        axis: the axis (or axes) the norm is taken over (default 0).
    """

    def __init__(
        self,
        min_value: float = 0.0,
        max_value: float = 1.0,
        rate: float = 1.0,
        axis: int | list[int] = 0,
    ):
        if min_value > max_value:
            raise ValueError(
                f"MinMaxNorm needs min_value <= max_value, got min_value={min_value}, "
                f"max_value={max_value}."
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.rate = float(rate)
        self.axis = _axis_config(axis)

    def __call__(self, w):
        w = _values(w)
        norms = _norms(w, _axis_arg(self.axis))
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value)
        desired = desired + (1 - self.rate) * norms
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras's lower-case aliases are the classes themselves: max_norm(3) is MaxNorm(3)
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm


def serialize(constraint: Constraint) -> dict:
    """Return ``{'class_name': ..., 'config': ...}`` for a constraint.

    Example:
        >>> serialize(MaxNorm(3.0))
        {'class_name': 'MaxNorm', 'config': {'max_value': 3.0, 'axis': 0}}
    """
    if not isinstance(constraint, Constraint):
        raise TypeError(
            "serialize expected a Constraint instance (a plain function cannot be saved; "
            f"subclass Constraint and register it), got {constraint!r}."
        )
    return registry.serialize(constraint)


def deserialize(config: dict, custom_objects: dict | None = None) -> Constraint:
    """Rebuild a constraint from ``serialize``'s output, resolving the class via the registry."""
    return registry.deserialize(_KIND, config, custom_objects)


def get(identifier: Any) -> Constraint | Any | None:
    """Return a constraint from None, a name (``'max_norm'``), a config dict or an object.

    Example:
        >>> get("non_neg")
        NonNeg()
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return registry.lookup(_KIND, identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        "Could not interpret constraint: expected a name, a config dict, a Constraint or a "
        f"callable, got {identifier!r} of type {type(identifier).__name__}."
    )


__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "serialize",
    "unit_norm",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
