"""Pooling and reshaping layers for images and sequences, channels-last (Keras names and configs).

MaxPooling1D/2D, AveragePooling1D/2D, GlobalMaxPooling1D/2D, GlobalAveragePooling1D/2D,
UpSampling2D, ZeroPadding2D and Cropping2D. None has weights.
"""

from __future__ import annotations

from axonal import functional as F
from axonal.backend import xp
from axonal.layers.base import Layer
from axonal.layers.conv import (
    check_data_format,
    check_input_rank,
    standardize_padding,
    standardize_tuple,
)
from axonal.primitives.conv import conv_output_length
from axonal.registry import register
from axonal.tensor import Tensor


def _float_inputs(layer: Layer, inputs: Tensor) -> Tensor:
    # integer images (uint8 pixels) pool as floats of the layer's dtype; floats keep theirs
    if inputs.dtype.kind != "f":
        return F.cast(inputs, layer.dtype)
    return inputs


class _Pooling(Layer):
    """Windowed max or average pooling (not registered)."""

    rank = 2

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = (
            self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        )
        self.padding = standardize_padding(padding)
        self.data_format = check_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        check_input_rank(self, input_shape, self.rank)
        spatial = tuple(input_shape[1:-1])
        out = tuple(
            conv_output_length(size, p, s, 1, self.padding)
            for size, p, s in zip(spatial, self.pool_size, self.strides, strict=True)
        )
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): inputs of spatial size {spatial} "
                f"are smaller than pool_size {self.pool_size} with padding '{self.padding}'."
            )
        return (input_shape[0],) + out + (input_shape[-1],)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self.compute_output_shape(inputs.shape)
        return self._pool(_float_inputs(self, inputs))

    def _pool(self, inputs: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            pool_size=list(self.pool_size),
            padding=self.padding,
            strides=list(self.strides),
            data_format=self.data_format,
        )
        return config


@register("layer", "MaxPooling2D")
class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, height, width, channels)``.

    Args:
        pool_size: int or pair (default 2).
        strides: int, pair or None (default: ``pool_size``).
        padding: ``'valid'`` or ``'same'`` (padded cells never win, as in Keras).
        data_format: ``'channels_last'`` or None.

    The gradient of each window goes to its first maximum.

    Example:
        >>> MaxPooling2D()(np.zeros((1, 28, 28, 8), "float32")).shape
        (1, 14, 14, 8)
    """

    rank = 2

    def _pool(self, inputs: Tensor) -> Tensor:
        return F.max_pool2d(inputs, self.pool_size, self.strides, self.padding)


@register("layer", "AveragePooling2D")
class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of ``(batch, height, width, channels)``.

    Args: as ``MaxPooling2D``; with ``'same'`` padding the padded cells are left out of each
    mean (Keras's behaviour).

    Example:
        >>> AveragePooling2D(3, strides=1, padding="same")(np.ones((1, 5, 5, 2))).shape
        (1, 5, 5, 2)
    """

    rank = 2

    def _pool(self, inputs: Tensor) -> Tensor:
        return F.average_pool2d(inputs, self.pool_size, self.strides, self.padding)


@register("layer", "MaxPooling1D")
class MaxPooling1D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, steps, channels)``.

    Args: ``pool_size`` (default 2), ``strides`` (default ``pool_size``), ``padding``.

    Example:
        >>> MaxPooling1D()(np.zeros((2, 10, 3), "float32")).shape
        (2, 5, 3)
    """

    rank = 1

    def _pool(self, inputs: Tensor) -> Tensor:
        return F.max_pool1d(inputs, self.pool_size, self.strides, self.padding)


@register("layer", "AveragePooling1D")
class AveragePooling1D(_Pooling):
    """Mean over ``pool_size`` windows of ``(batch, steps, channels)``; 'same' padding is left
    out of each mean.

    Example:
        >>> AveragePooling1D(3, strides=2, padding="same")(np.ones((2, 7, 3))).shape
        (2, 4, 3)
    """

    rank = 1

    def _pool(self, inputs: Tensor) -> Tensor:
        return F.average_pool1d(inputs, self.pool_size, self.strides, self.padding)


class _GlobalPooling(Layer):
    """Reduce every spatial axis (not registered)."""

    rank = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape: tuple) -> None:
        check_input_rank(self, input_shape, self.rank)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        check_input_rank(self, input_shape, self.rank)
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, self.rank)
        axes = tuple(range(1, 1 + self.rank))
        return self._reduce(_float_inputs(self, inputs), axes)

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


@register("layer", "GlobalAveragePooling2D")
class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Args:
        data_format: ``'channels_last'`` or None.
        keepdims: keep the spatial axes with length 1: ``(batch, 1, 1, channels)``.

    Example:
        >>> GlobalAveragePooling2D()(np.ones((2, 4, 4, 3))).shape
        (2, 3)
    """

    rank = 2

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.mean(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "GlobalMaxPooling2D")
class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Ties share the gradient equally. Args as ``GlobalAveragePooling2D``.

    Example:
        >>> GlobalMaxPooling2D(keepdims=True)(np.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """

    rank = 2

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.max(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "GlobalAveragePooling1D")
class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over steps: ``(batch, steps, channels)`` -> ``(batch, channels)``.

    Example:
        >>> GlobalAveragePooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.mean(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "GlobalMaxPooling1D")
class GlobalMaxPooling1D(_GlobalPooling):
    """Max over steps: ``(batch, steps, channels)`` -> ``(batch, channels)``.

    Example:
        >>> GlobalMaxPooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.max(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "UpSampling2D")
class UpSampling2D(Layer):
    """Repeats rows ``size[0]`` times and columns ``size[1]`` times (nearest neighbour).

    Args:
        size: int or pair (default 2).
        data_format: ``'channels_last'`` or None.
        interpolation: ``'nearest'`` (the only mode axonal implements).

    Example:
        >>> UpSampling2D((2, 3))(np.ones((1, 2, 2, 1))).shape
        (1, 4, 6, 1)
    """

    def __init__(
        self,
        size=2,
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = standardize_tuple(size, 2, "size")
        self.data_format = check_data_format(data_format)
        if interpolation != "nearest":
            raise ValueError(
                f"UpSampling2D: interpolation must be 'nearest' (the only mode axonal "
                f"implements), got {interpolation!r}."
            )
        self.interpolation = interpolation

    def build(self, input_shape: tuple) -> None:
        check_input_rank(self, input_shape, 2)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        check_input_rank(self, input_shape, 2)
        batch, h, w, c = input_shape
        return (
            batch,
            None if h is None else h * self.size[0],
            None if w is None else w * self.size[1],
            c,
        )

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, 2)
        return F.upsampling2d(inputs, self.size)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            size=list(self.size), data_format=self.data_format, interpolation=self.interpolation
        )
        return config


def _pairs_2d(value, name: str) -> tuple:
    """Keras's padding/cropping spec: an int, a pair (symmetric per axis) or two pairs."""
    if isinstance(value, (int, xp.integer)) and not isinstance(value, bool):
        pairs = ((value, value), (value, value))
    elif len(value) == 2 and all(isinstance(v, (int, xp.integer)) for v in value):
        pairs = ((value[0], value[0]), (value[1], value[1]))
    elif len(value) == 2 and all(len(v) == 2 for v in value):
        pairs = (tuple(value[0]), tuple(value[1]))
    else:
        raise ValueError(
            f"`{name}` must be an int, a pair of ints or a pair of (before, after) pairs, got "
            f"{value!r}."
        )
    flat = [v for pair in pairs for v in pair]
    integers = all(isinstance(v, (int, xp.integer)) and not isinstance(v, bool) for v in flat)
    if not integers or min(flat) < 0:
        raise ValueError(f"`{name}` must hold non-negative ints, got {value!r}.")
    return tuple((int(a), int(b)) for a, b in pairs)


@register("layer", "ZeroPadding2D")
class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around images ``(batch, height, width, channels)``.

    Args:
        padding: int (all sides), ``(rows, cols)`` (symmetric) or
            ``((top, bottom), (left, right))`` (default 1).
        data_format: ``'channels_last'`` or None.

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 3, 3, 1))).shape
        (1, 4, 7, 1)
    """

    def __init__(self, padding=(1, 1), data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs_2d(padding, "padding")
        self.data_format = check_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        check_input_rank(self, input_shape, 2)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        check_input_rank(self, input_shape, 2)
        batch, h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (
            batch,
            None if h is None else h + top + bottom,
            None if w is None else w + left + right,
            c,
        )

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, 2)
        return F.zero_padding2d(inputs, self.padding)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(padding=[list(pair) for pair in self.padding], data_format=self.data_format)
        return config


@register("layer", "Cropping2D")
class Cropping2D(Layer):
    """Removes rows and columns from the edges of images ``(batch, height, width, channels)``.

    Args:
        cropping: int (all sides), ``(rows, cols)`` (symmetric) or
            ``((top, bottom), (left, right))`` (default no cropping).
        data_format: ``'channels_last'`` or None.

    Example:
        >>> Cropping2D(((1, 0), (0, 2)))(np.ones((1, 5, 5, 1))).shape
        (1, 4, 3, 1)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs_2d(cropping, "cropping")
        self.data_format = check_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        check_input_rank(self, input_shape, 2)
        batch, h, w, c = input_shape
        (top, bottom), (left, right) = self.cropping
        out_h = None if h is None else h - top - bottom
        out_w = None if w is None else w - left - right
        if (out_h is not None and out_h < 1) or (out_w is not None and out_w < 1):
            raise ValueError(
                f"Layer '{self.name}' (Cropping2D): cropping {self.cropping} removes every row "
                f"or column of inputs of shape {tuple(input_shape)}."
            )
        return (batch, out_h, out_w, c)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self.compute_output_shape(inputs.shape)
        return F.cropping2d(inputs, self.cropping)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(cropping=[list(pair) for pair in self.cropping], data_format=self.data_format)
        return config


__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "Cropping2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "UpSampling2D",
    "ZeroPadding2D",
]


@register("layer", "GlobalAveragePooling3D")
class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width: ``(batch, d, h, w, channels)`` -> ``(batch, c)``."""

    rank = 3

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.mean(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "GlobalMaxPooling3D")
class GlobalMaxPooling3D(_GlobalPooling):
    """Max over depth, height and width: ``(batch, d, h, w, channels)`` -> ``(batch, c)``."""

    rank = 3

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.max(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "UpSampling1D")
class UpSampling1D(Layer):
    """Repeats every step ``size`` times: ``(batch, steps, c)`` -> ``(batch, steps * size, c)``.

    Example:
        >>> UpSampling1D(2)(np.ones((1, 3, 2))).shape
        (1, 6, 2)
    """

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        if self.size < 1:
            raise ValueError(f"UpSampling1D size must be a positive int, got {size!r}.")

    def build(self, input_shape: tuple) -> None:
        check_input_rank(self, input_shape, 1)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, steps, channels = input_shape
        return (batch, None if steps is None else steps * self.size, channels)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, 1)
        steps = inputs.shape[1]
        return F.take(inputs, xp.repeat(xp.arange(steps), self.size), axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size
        return config


def _pair_1d(value, name: str) -> tuple:
    pair = (value, value) if isinstance(value, (int, xp.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or int(v) < 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or a pair of them, got {value!r}.")
    return int(pair[0]), int(pair[1])


@register("layer", "ZeroPadding1D")
class ZeroPadding1D(Layer):
    """Zeros added before and after the steps: ``padding`` an int or ``(before, after)``."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair_1d(padding, "ZeroPadding1D padding")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, steps, channels = input_shape
        return (batch, None if steps is None else steps + sum(self.padding), channels)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, 1)
        batch, _, channels = inputs.shape
        before, after = (xp.zeros((batch, n, channels), inputs.dtype) for n in self.padding)
        return F.concatenate([before, inputs, after], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["padding"] = list(self.padding)
        return config


@register("layer", "Cropping1D")
class Cropping1D(Layer):
    """Steps removed from the start and the end: ``cropping`` an int or ``(start, end)``."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair_1d(cropping, "Cropping1D cropping")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, steps, channels = input_shape
        return (batch, None if steps is None else steps - sum(self.cropping), channels)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        check_input_rank(self, inputs.shape, 1)
        steps = inputs.shape[1]
        start, end = self.cropping
        if start + end >= steps:
            raise ValueError(
                f"Layer '{self.name}' crops {start} + {end} steps from sequences of {steps}."
            )
        return F.take(inputs, xp.arange(start, steps - end), axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["cropping"] = list(self.cropping)
        return config
