"""Channels-first layouts: layers compute channels-last and move the channel axis at the boundary.

Keras lets every convolution, pooling, padding and resampling layer take
``data_format="channels_first"`` (``(batch, channels, *spatial)``), defaulting to
``keras.config.image_data_format()``. Kernel layouts do not depend on it, so a layer keeps one
channels-last implementation and these helpers transpose its inputs in and its outputs out (the
transposes are differentiable ops, so gradients follow).
"""

from __future__ import annotations

from axonal import config
from axonal import functional as F
from axonal.tensor import Tensor

FORMATS = ("channels_last", "channels_first")


def standardize_data_format(data_format: str | None) -> str:
    """``data_format`` checked and lower-cased; None means ``config.image_data_format()``.

    Example:
        >>> standardize_data_format("Channels_First")
        'channels_first'
    """
    if data_format is None:
        return config.image_data_format()
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in FORMATS:
        raise ValueError(
            f"The `data_format` argument must be 'channels_last', 'channels_first' or None, "
            f"got {data_format!r}."
        )
    return value


def to_channels_last(x: Tensor) -> Tensor:
    """``(batch, channels, *spatial)`` as ``(batch, *spatial, channels)``."""
    rank = len(x.shape)
    return F.transpose(x, (0,) + tuple(range(2, rank)) + (1,))


def to_channels_first(x: Tensor) -> Tensor:
    """``(batch, *spatial, channels)`` as ``(batch, channels, *spatial)``."""
    rank = len(x.shape)
    return F.transpose(x, (0, rank - 1) + tuple(range(1, rank - 1)))


def channels_last_shape(shape: tuple) -> tuple:
    """A channels-first shape written channels-last (``None`` entries kept)."""
    shape = tuple(shape)
    return (shape[0],) + shape[2:] + (shape[1],)


def channels_first_shape(shape: tuple) -> tuple:
    """A channels-last shape written channels-first (``None`` entries kept)."""
    shape = tuple(shape)
    return (shape[0], shape[-1]) + shape[1:-1]


__all__ = [
    "channels_first_shape",
    "channels_last_shape",
    "standardize_data_format",
    "to_channels_first",
    "to_channels_last",
]
