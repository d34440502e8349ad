"""Pooling, resampling, padding and cropping layers (Keras names, defaults and configs).

MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalMaxPooling1D/2D/3D,
GlobalAveragePooling1D/2D/3D, UpSampling1D/2D/3D, ZeroPadding1D/2D/3D and Cropping1D/2D/3D.
None has weights.

Every layer that takes ``data_format`` accepts ``'channels_last'`` (``(batch, *spatial,
channels)``) and ``'channels_first'`` (``(batch, channels, *spatial)``); None means
``config.image_data_format()``, as in Keras. Windowed pooling and upsampling compute
channels-last and transpose channels-first inputs in and outputs out (``layers.data_format``);
global pooling, padding and cropping just act on the other axes.
"""

from __future__ import annotations

from axonal import functional as F
from axonal.backend import xp
from axonal.layers.base import Layer
from axonal.layers.conv import standardize_padding, standardize_tuple
from axonal.layers.data_format import (
    channels_first_shape,
    channels_last_shape,
    standardize_data_format,
    to_channels_first,
    to_channels_last,
)
from axonal.primitives.conv import (
    AvgPool3D,
    Crop,
    MaxPool3D,
    UpSampleNearest3D,
    ZeroPad,
    conv_output_length,
    conv_pads,
)
from axonal.registry import register
from axonal.tensor import Tensor, apply

_SPATIAL_NAMES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def _layout(rank: int, data_format: str) -> str:
    """The axes a layer expects, in words: ``(batch, height, width, channels)``."""
    spatial = _SPATIAL_NAMES[rank]
    if data_format == "channels_first":
        return f"(batch, channels, {spatial})"
    return f"(batch, {spatial}, channels)"


def _check_rank(layer: Layer, shape: tuple, rank: int, data_format: str = "channels_last"):
    """Raise a ValueError naming the layer, the layout and the shape unless rank + 2 axes."""
    if len(shape) != rank + 2:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of rank {rank + 2}, "
            f"{_layout(rank, data_format)} ({data_format}), got shape {tuple(shape)} "
            f"(rank {len(shape)})."
        )


def _spatial_axes(rank: int, data_format: str) -> tuple:
    """Positions of the spatial axes of a ``rank``-D input in ``data_format``."""
    first = 2 if data_format == "channels_first" else 1
    return tuple(range(first, first + rank))


def _float_inputs(layer: Layer, inputs: Tensor) -> Tensor:
    # integer images (uint8 pixels) pool as floats of the layer's dtype; floats keep theirs
    if inputs.dtype.kind != "f":
        return F.cast(inputs, layer.dtype)
    return inputs


def _channels_last_call(data_format: str, inputs: Tensor, compute) -> Tensor:
    """``compute`` (a channels-last function) applied to ``inputs`` in ``data_format``."""
    if data_format == "channels_first":
        return to_channels_first(compute(to_channels_last(inputs)))
    return compute(inputs)


# ---------------------------------------------------------------- windowed pooling


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
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, self.rank, self.data_format)
        last = tuple(input_shape)
        if self.data_format == "channels_first":
            last = channels_last_shape(last)
        spatial = last[1:-1]
        out = tuple(
            conv_output_length(size, p, s, 1, self.padding)
            for size, p, s in zip(spatial, self.pool_size, self.strides, strict=True)
        )
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): inputs of spatial size {spatial} "
                f"are smaller than pool_size {self.pool_size} with padding '{self.padding}'."
            )
        shape = (last[0],) + out + (last[-1],)
        if self.data_format == "channels_first":
            return channels_first_shape(shape)
        return shape

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self.compute_output_shape(inputs.shape)
        return _channels_last_call(self.data_format, _float_inputs(self, inputs), self._pool)

    def _pool(self, inputs: Tensor) -> Tensor:
        """The pooling of channels-last ``inputs``."""
        raise NotImplementedError

    def _pool_pads(self, inputs: Tensor) -> tuple:
        return tuple(
            conv_pads(size, k, s, 1, self.padding)
            for size, k, s in zip(inputs.shape[1:-1], self.pool_size, self.strides, strict=True)
        )

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
        data_format: ``'channels_last'``, ``'channels_first'`` (``(batch, channels, height,
            width)``) or None (``config.image_data_format()``).

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

    Args: ``pool_size`` (default 2), ``strides`` (default ``pool_size``), ``padding``,
    ``data_format`` (``'channels_first'``: ``(batch, channels, steps)``).

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
    out of each mean. Arguments as ``MaxPooling1D``.

    Example:
        >>> AveragePooling1D(3, strides=2, padding="same")(np.ones((2, 7, 3))).shape
        (2, 4, 3)
    """

    rank = 1

    def _pool(self, inputs: Tensor) -> Tensor:
        return F.average_pool1d(inputs, self.pool_size, self.strides, self.padding)


@register("layer", "MaxPooling3D")
class MaxPooling3D(_Pooling):
    """Max over ``pool_size`` windows of volumes ``(batch, depth, height, width, channels)``.

    Args:
        pool_size: int or 3 ints (default 2).
        strides: int, 3 ints or None (default: ``pool_size``).
        padding: ``'valid'`` or ``'same'`` (padded cells never win).
        data_format: ``'channels_last'``, ``'channels_first'`` (``(batch, channels, depth,
            height, width)``) or None (``config.image_data_format()``).

    The gradient of each window goes to its first maximum.

    Example:
        >>> MaxPooling3D()(np.zeros((1, 4, 6, 6, 2), "float32")).shape
        (1, 2, 3, 3, 2)
    """

    rank = 3

    def __init__(
        self,
        pool_size=(2, 2, 2),
        strides=None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _pool(self, inputs: Tensor) -> Tensor:
        pads = self._pool_pads(inputs)
        return apply(MaxPool3D, inputs, pool=self.pool_size, strides=self.strides, pads=pads)


@register("layer", "AveragePooling3D")
class AveragePooling3D(_Pooling):
    """Mean over ``pool_size`` windows of volumes ``(batch, depth, height, width, channels)``.

    Args: as ``MaxPooling3D`` (``pool_size`` is required, as in Keras); with ``'same'`` padding
    the padded cells are left out of each mean.

    Example:
        >>> AveragePooling3D(2)(np.ones((1, 4, 4, 4, 1))).shape
        (1, 2, 2, 2, 1)
    """

    rank = 3

    def __init__(
        self,
        pool_size,
        strides=None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _pool(self, inputs: Tensor) -> Tensor:
        pads = self._pool_pads(inputs)
        return apply(AvgPool3D, inputs, pool=self.pool_size, strides=self.strides, pads=pads)


# ---------------------------------------------------------------- global pooling


class _GlobalPooling(Layer):
    """Reduce every spatial axis (not registered)."""

    rank = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape: tuple) -> None:
        _check_rank(self, input_shape, self.rank, self.data_format)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, self.rank, self.data_format)
        axes = _spatial_axes(self.rank, self.data_format)
        if self.keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(input_shape))
        return tuple(n for i, n in enumerate(input_shape) if i not in axes)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        _check_rank(self, inputs.shape, self.rank, self.data_format)
        axes = _spatial_axes(self.rank, self.data_format)
        return self._reduce(_float_inputs(self, inputs), axes)

    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class _GlobalAverage(_GlobalPooling):
    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.mean(inputs, axis=axes, keepdims=self.keepdims)


class _GlobalMax(_GlobalPooling):
    def _reduce(self, inputs: Tensor, axes: tuple) -> Tensor:
        return F.max(inputs, axis=axes, keepdims=self.keepdims)


@register("layer", "GlobalAveragePooling2D")
class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Args:
        data_format: ``'channels_last'``, ``'channels_first'`` (``(batch, channels, h, w)``)
            or None (``config.image_data_format()``).
        keepdims: keep the spatial axes with length 1: ``(batch, 1, 1, channels)``.

    Example:
        >>> GlobalAveragePooling2D()(np.ones((2, 4, 4, 3))).shape
        (2, 3)
    """

    rank = 2


@register("layer", "GlobalMaxPooling2D")
class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Ties share the gradient equally. Args as ``GlobalAveragePooling2D``.

    Example:
        >>> GlobalMaxPooling2D(keepdims=True)(np.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """

    rank = 2


@register("layer", "GlobalAveragePooling1D")
class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over steps: ``(batch, steps, channels)`` -> ``(batch, channels)``.

    Args as ``GlobalAveragePooling2D`` (``'channels_first'``: ``(batch, channels, steps)``).

    Example:
        >>> GlobalAveragePooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1


@register("layer", "GlobalMaxPooling1D")
class GlobalMaxPooling1D(_GlobalMax):
    """Max over steps: ``(batch, steps, channels)`` -> ``(batch, channels)``.

    Example:
        >>> GlobalMaxPooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1


@register("layer", "GlobalAveragePooling3D")
class GlobalAveragePooling3D(_GlobalAverage):
    """Mean over depth, height and width: ``(batch, d, h, w, channels)`` -> ``(batch, c)``.

    Example:
        >>> GlobalAveragePooling3D()(np.ones((2, 3, 4, 4, 5))).shape
        (2, 5)
    """

    rank = 3


@register("layer", "GlobalMaxPooling3D")
class GlobalMaxPooling3D(_GlobalMax):
    """Max over depth, height and width: ``(batch, d, h, w, channels)`` -> ``(batch, c)``.

    Example:
        >>> GlobalMaxPooling3D(data_format="channels_first")(np.ones((2, 5, 3, 4, 4))).shape
        (2, 5)
    """

    rank = 3


# ---------------------------------------------------------------- upsampling


class _UpSampling(Layer):
    """Nearest-neighbour repeats along every spatial axis (not registered)."""

    rank = 2

    def __init__(self, size=2, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size = standardize_tuple(size, self.rank, "size")
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        _check_rank(self, input_shape, self.rank, self.data_format)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, self.rank, self.data_format)
        shape = list(input_shape)
        for axis, factor in zip(_spatial_axes(self.rank, self.data_format), self.size, strict=True):
            shape[axis] = None if shape[axis] is None else shape[axis] * factor
        return tuple(shape)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        _check_rank(self, inputs.shape, self.rank, self.data_format)
        return _channels_last_call(self.data_format, inputs, self._upsample)

    def _upsample(self, inputs: Tensor) -> Tensor:
        return apply(UpSampleNearest3D, inputs, size=self.size)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=list(self.size), data_format=self.data_format)
        return config


@register("layer", "UpSampling2D")
class UpSampling2D(_UpSampling):
    """Repeats rows ``size[0]`` times and columns ``size[1]`` times (nearest neighbour).

    Args:
        size: int or pair (default 2).
        data_format: ``'channels_last'``, ``'channels_first'`` or None
            (``config.image_data_format()``).
        interpolation: ``'nearest'`` (the only mode axonal implements).

    Example:
        >>> UpSampling2D((2, 3))(np.ones((1, 2, 2, 1))).shape
        (1, 4, 6, 1)
    """

    rank = 2

    def __init__(
        self,
        size=(2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs,
    ):
        super().__init__(size, data_format, **kwargs)
        if interpolation != "nearest":
            raise ValueError(
                f"UpSampling2D: interpolation must be 'nearest' (the only mode axonal "
                f"implements), got {interpolation!r}."
            )
        self.interpolation = interpolation

    def _upsample(self, inputs: Tensor) -> Tensor:
        return F.upsampling2d(inputs, self.size)

    def get_config(self) -> dict:
        config = super().get_config()
        config["interpolation"] = self.interpolation
        return config


@register("layer", "UpSampling3D")
class UpSampling3D(_UpSampling):
    """Repeats each volume cell ``size`` times along depth, height and width (nearest).

    Args:
        size: int or 3 ints (default 2).
        data_format: ``'channels_last'`` (``(batch, depth, height, width, channels)``),
            ``'channels_first'`` or None (``config.image_data_format()``).

    Example:
        >>> UpSampling3D((1, 2, 3))(np.ones((1, 2, 2, 2, 1))).shape
        (1, 2, 4, 6, 1)
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format: str | None = None, **kwargs):
        super().__init__(size, data_format, **kwargs)


@register("layer", "UpSampling1D")
class UpSampling1D(Layer):
    """Repeats every step ``size`` times: ``(batch, steps, c)`` -> ``(batch, steps * size, c)``.

    Keras's UpSampling1D has no ``data_format``: inputs are ``(batch, steps, channels)``.

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
        _check_rank(self, input_shape, 1)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, steps, channels = input_shape
        return (batch, None if steps is None else steps * self.size, channels)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        _check_rank(self, inputs.shape, 1)
        return apply(UpSampleNearest3D, inputs, size=(self.size,))

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size
        return config


# ---------------------------------------------------------------- padding and cropping


def _is_int(value) -> bool:
    return isinstance(value, (int, xp.integer)) and not isinstance(value, bool)


def _pairs(value, rank: int, name: str) -> tuple:
    """Keras's padding/cropping spec: an int, ``rank`` ints (symmetric per axis) or ``rank``
    ``(before, after)`` pairs; returned as ``rank`` pairs of non-negative ints."""
    if _is_int(value):
        pairs = ((value, value),) * rank
    elif len(value) == rank and all(_is_int(v) for v in value):
        pairs = tuple((v, v) for v in value)
    elif len(value) == rank and all(not _is_int(v) and len(v) == 2 for v in value):
        pairs = tuple(tuple(v) for v in value)
    else:
        raise ValueError(
            f"`{name}` must be an int, {rank} ints or {rank} (before, after) pairs, got {value!r}."
        )
    flat = [v for pair in pairs for v in pair]
    if not all(_is_int(v) for v in flat) or min(flat) < 0:
        raise ValueError(f"`{name}` must hold non-negative ints, got {value!r}.")
    return tuple((int(a), int(b)) for a, b in pairs)


def _pair_1d(value, name: str) -> tuple:
    pair = (value, value) if _is_int(value) else tuple(value)
    if len(pair) != 2 or not all(_is_int(v) and v >= 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or a pair of them, got {value!r}.")
    return int(pair[0]), int(pair[1])


def _full_pairs(rank: int, data_format: str, pairs: tuple) -> tuple:
    """One ``(before, after)`` pair per input axis: ``pairs`` on the spatial axes, else 0."""
    axes = _spatial_axes(rank, data_format)
    full = [(0, 0)] * (rank + 2)
    for axis, pair in zip(axes, pairs, strict=True):
        full[axis] = pair
    return tuple(full)


class _ZeroPadding(Layer):
    """Zeros around every spatial axis (not registered); ``padding`` one pair per axis."""

    rank = 2

    def __init__(self, padding, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, "padding")
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        _check_rank(self, input_shape, self.rank, self.data_format)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, self.rank, self.data_format)
        pads = _full_pairs(self.rank, self.data_format, self.padding)
        return tuple(
            None if n is None else n + b + a for n, (b, a) in zip(input_shape, pads, strict=True)
        )

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        _check_rank(self, inputs.shape, self.rank, self.data_format)
        return apply(ZeroPad, inputs, pads=_full_pairs(self.rank, self.data_format, self.padding))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(padding=[list(pair) for pair in self.padding], data_format=self.data_format)
        return config


@register("layer", "ZeroPadding2D")
class ZeroPadding2D(_ZeroPadding):
    """Adds rows and columns of zeros around images ``(batch, height, width, channels)``.

    Args:
        padding: int (all sides), ``(rows, cols)`` (symmetric) or
            ``((top, bottom), (left, right))`` (default 1).
        data_format: ``'channels_last'``, ``'channels_first'`` or None
            (``config.image_data_format()``).

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 3, 3, 1))).shape
        (1, 4, 7, 1)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format: str | None = None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@register("layer", "ZeroPadding3D")
class ZeroPadding3D(_ZeroPadding):
    """Adds zeros around volumes ``(batch, depth, height, width, channels)``.

    Args:
        padding: int, 3 ints (symmetric per axis) or 3 ``(before, after)`` pairs
            (default 1 everywhere).
        data_format: ``'channels_last'``, ``'channels_first'`` or None.

    Example:
        >>> ZeroPadding3D((1, 0, 2))(np.ones((1, 2, 2, 2, 1))).shape
        (1, 4, 2, 6, 1)
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@register("layer", "ZeroPadding1D")
class ZeroPadding1D(_ZeroPadding):
    """Zeros added before and after the steps: ``padding`` an int or ``(before, after)``.

    Args:
        padding: int or ``(before, after)`` (default 1).
        data_format: ``'channels_last'`` (``(batch, steps, channels)``), ``'channels_first'``
            or None.

    Example:
        >>> ZeroPadding1D((2, 1))(np.ones((1, 3, 2))).shape
        (1, 6, 2)
    """

    rank = 1

    def __init__(self, padding=1, data_format: str | None = None, **kwargs):
        super().__init__((_pair_1d(padding, "ZeroPadding1D padding"),), data_format, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["padding"] = list(self.padding[0])
        return config


class _Cropping(Layer):
    """Cells removed from both ends of every spatial axis (not registered)."""

    rank = 2

    def __init__(self, cropping, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping")
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape: tuple) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, self.rank, self.data_format)
        crops = _full_pairs(self.rank, self.data_format, self.cropping)
        out = tuple(
            None if n is None else n - b - a for n, (b, a) in zip(input_shape, crops, strict=True)
        )
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): cropping {self.cropping} removes "
                f"every cell of a spatial axis of inputs of shape {tuple(input_shape)} "
                f"({self.data_format})."
            )
        return out

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self.compute_output_shape(inputs.shape)
        return apply(Crop, inputs, crops=_full_pairs(self.rank, self.data_format, self.cropping))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(cropping=[list(pair) for pair in self.cropping], data_format=self.data_format)
        return config


@register("layer", "Cropping2D")
class Cropping2D(_Cropping):
    """Removes rows and columns from the edges of images ``(batch, height, width, channels)``.

    Args:
        cropping: int (all sides), ``(rows, cols)`` (symmetric) or
            ``((top, bottom), (left, right))`` (default no cropping).
        data_format: ``'channels_last'``, ``'channels_first'`` or None.

    Example:
        >>> Cropping2D(((1, 0), (0, 2)))(np.ones((1, 5, 5, 1))).shape
        (1, 4, 3, 1)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@register("layer", "Cropping3D")
class Cropping3D(_Cropping):
    """Removes cells from the edges of volumes ``(batch, depth, height, width, channels)``.

    Args:
        cropping: int, 3 ints (symmetric per axis) or 3 ``(before, after)`` pairs (default 1
            everywhere).
        data_format: ``'channels_last'``, ``'channels_first'`` or None.

    Example:
        >>> Cropping3D((1, 0, 1))(np.ones((1, 4, 4, 4, 1))).shape
        (1, 2, 4, 2, 1)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@register("layer", "Cropping1D")
class Cropping1D(Layer):
    """Steps removed from the start and the end: ``cropping`` an int or ``(start, end)``.

    Keras's Cropping1D has no ``data_format``: inputs are ``(batch, steps, channels)``.

    Example:
        >>> Cropping1D((1, 2))(np.ones((1, 5, 2))).shape
        (1, 2, 2)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair_1d(cropping, "Cropping1D cropping")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(self, input_shape, 1)
        batch, steps, channels = input_shape
        if steps is not None and sum(self.cropping) >= steps:
            raise ValueError(
                f"Layer '{self.name}' (Cropping1D) crops {self.cropping[0]} + "
                f"{self.cropping[1]} steps from sequences of {steps}."
            )
        return (batch, None if steps is None else steps - sum(self.cropping), channels)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self.compute_output_shape(inputs.shape)
        return apply(Crop, inputs, crops=((0, 0), self.cropping, (0, 0)))

    def get_config(self) -> dict:
        config = super().get_config()
        config["cropping"] = list(self.cropping)
        return config


__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
]
