"""Layers that regularize or normalize without statistics to keep: ``GaussianDropout``,
``AlphaDropout``, ``ActivityRegularization``, ``UnitNormalization`` and ``GroupNormalization``
(Keras 3's names, arguments and formulas)."""

from __future__ import annotations

import math
from typing import Any

from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng
from axonal.layers.base import Layer
from axonal.layers.core import Dropout, serialize_or_none
from axonal.registry import register
from axonal.tensor import Tensor

# SELU's -scale * alpha: the value AlphaDropout sets dropped units to
_ALPHA_PRIME = -1.7580993408473766


def _rate(value, name: str) -> float:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} rate must be in [0, 1), got {value!r}.")
    return float(value)


@register("layer", "GaussianDropout")
class GaussianDropout(Layer):
    """Multiplies the inputs by noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` while training; the identity at inference.

    Example:
        >>> GaussianDropout(0.2)(x, training=True)
    """

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _rate(rate, "GaussianDropout")
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        rng = self._rng if self._rng is not None else make_rng(None)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = rng.normal(1.0, stddev, size=inputs.shape).astype(inputs.dtype)
        return F.multiply(inputs, noise)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


@register("layer", "AlphaDropout")
class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean and variance: dropped units are set to SELU's
    negative saturation and the result is rescaled and shifted (Klambauer et al., 2017).
    Arguments as ``Dropout``."""

    supports_masking = False

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        keep = self._keep(inputs).astype(inputs.dtype)
        a = ((1.0 - self.rate) * (1.0 + self.rate * _ALPHA_PRIME**2)) ** -0.5
        b = -a * _ALPHA_PRIME * self.rate
        dropped = (1.0 - keep) * _ALPHA_PRIME
        return F.add(
            F.multiply(F.add(F.multiply(inputs, keep), dropped.astype(inputs.dtype)), a), b
        )


@register("layer", "ActivityRegularization")
class ActivityRegularization(Layer):
    """The identity that adds ``l1 * sum|x| + l2 * sum(x²)``, divided by the batch size, to
    the training loss (through ``add_loss``, as Keras's activity regularizers)."""

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        penalty = None
        if self.l1:
            penalty = F.multiply(F.sum(F.abs(inputs)), self.l1)
        if self.l2:
            term = F.multiply(F.sum(F.square(inputs)), self.l2)
            penalty = term if penalty is None else F.add(penalty, term)
        if penalty is not None:
            self.add_loss(F.divide(penalty, float(max(inputs.shape[0], 1))))
        return inputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(l1=self.l1, l2=self.l2)
        return config


@register("layer", "UnitNormalization")
class UnitNormalization(Layer):
    """Scales each vector along ``axis`` to unit L2 norm (``x / sqrt(max(sum(x²), 1e-12))``)."""

    def __init__(self, axis: Any = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        squares = F.sum(F.square(inputs), axis=self.axis, keepdims=True)
        return F.divide(inputs, F.sqrt(F.maximum(squares, 1e-12)))

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return config


@register("layer", "GroupNormalization")
class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (Wu & He, 2018): the channels along
    ``axis`` split into ``groups``, each normalized over itself and every non-batch axis, then
    scaled by ``gamma`` and shifted by ``beta`` per channel.

    Args:
        groups: number of groups (must divide the channels; -1: one per channel).
        axis: the channel axis (channels last: -1).
        epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
        gamma_regularizer: as ``LayerNormalization``.
    """

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers_module.get(beta_initializer)
        self.gamma_initializer = initializers_module.get(gamma_initializer)
        self.beta_regularizer = regularizers_module.get(beta_regularizer)
        self.gamma_regularizer = regularizers_module.get(gamma_regularizer)
        if beta_constraint is not None or gamma_constraint is not None:
            raise ValueError("GroupNormalization constraints are not supported by axonal.")
        self.gamma = None
        self.beta = None

    def build(self, input_shape) -> None:
        axis = self.axis % len(input_shape)
        if axis != len(input_shape) - 1:
            raise ValueError(
                f"GroupNormalization in axonal takes channels last (axis=-1), got axis={self.axis}."
            )
        channels = input_shape[axis]
        groups = channels if self.groups == -1 else self.groups
        if channels is None or groups < 1 or channels % groups:
            raise ValueError(
                f"Layer '{self.name}': {groups} groups do not divide {channels} channels."
            )
        self._groups = groups
        if self.scale:
            self.gamma = self.add_weight(
                "gamma", (channels,), self.gamma_initializer, regularizer=self.gamma_regularizer
            )
        if self.center:
            self.beta = self.add_weight(
                "beta", (channels,), self.beta_initializer, regularizer=self.beta_regularizer
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        shape = inputs.shape
        groups = self._groups
        grouped = F.reshape(inputs, (shape[0], *shape[1:-1], groups, shape[-1] // groups))
        # over every axis but the batch and the group
        axes = tuple(range(1, grouped.data.ndim - 2)) + (grouped.data.ndim - 1,)
        mean = F.mean(grouped, axis=axes, keepdims=True)
        centred = F.subtract(grouped, mean)
        variance = F.mean(F.square(centred), axis=axes, keepdims=True)
        normalized = F.reshape(
            F.divide(centred, F.sqrt(F.add(variance, self.epsilon))), tuple(shape)
        )
        if self.gamma is not None:
            normalized = F.multiply(normalized, self.gamma)
        if self.beta is not None:
            normalized = F.add(normalized, self.beta)
        return normalized

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            groups=self.groups,
            axis=self.axis,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=initializers_module.serialize(self.beta_initializer),
            gamma_initializer=initializers_module.serialize(self.gamma_initializer),
            beta_regularizer=serialize_or_none(self.beta_regularizer),
            gamma_regularizer=serialize_or_none(self.gamma_regularizer),
        )
        return config


__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GroupNormalization",
    "UnitNormalization",
]
