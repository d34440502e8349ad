"""Convolution layers: Conv1D/2D/3D, their transposes, depthwise and separable convolutions.

Keras's argument names, defaults, weight names, kernel layouts and config keys:

=================  ==========================================================================
Conv1D             kernel ``(k, in // groups, filters)``, bias ``(filters,)``
Conv2D             kernel ``(kh, kw, in // groups, filters)``, bias ``(filters,)``
Conv3D             kernel ``(kd, kh, kw, in // groups, filters)``, bias ``(filters,)``
DepthwiseConv1D    kernel ``(k, in, depth_multiplier)``, bias ``(in * depth_multiplier,)``
DepthwiseConv2D    kernel ``(kh, kw, in, depth_multiplier)``, bias ``(in * depth_multiplier,)``
SeparableConv1D    depthwise_kernel ``(k, in, depth_multiplier)``, pointwise_kernel
                   ``(1, in * depth_multiplier, filters)``, bias ``(filters,)``
SeparableConv2D    depthwise_kernel ``(kh, kw, in, depth_multiplier)``, pointwise_kernel
                   ``(1, 1, in * depth_multiplier, filters)``, bias ``(filters,)``
Conv1DTranspose    kernel ``(k, filters, in)``, bias ``(filters,)``
Conv2DTranspose    kernel ``(kh, kw, filters, in)``, bias ``(filters,)``
Conv3DTranspose    kernel ``(kd, kh, kw, filters, in)``, bias ``(filters,)``
=================  ==========================================================================

Every layer takes ``data_format``: ``'channels_last'`` (``(batch, *spatial, channels)``),
``'channels_first'`` (``(batch, channels, *spatial)``) or None for
``keras.config.image_data_format()``. The maths is channels-last (``functional``'s im2col + GEMM
primitives); a channels-first layer transposes its inputs in and its outputs out, and its kernel
layout is the same (as in Keras). A layer validates its inputs (rank and channel count, before
any weight is touched, in the layout it was given), owns its weights and applies the activation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axonal import activations as activations_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import xp
from axonal.layers.base import Layer
from axonal.layers.data_format import (
    channels_first_shape,
    channels_last_shape,
    standardize_data_format,
    to_channels_first,
    to_channels_last,
)
from axonal.primitives.conv import conv_output_length, conv_transpose_output_length
from axonal.registry import register, serialize
from axonal.tensor import Tensor

_SPATIAL = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def _axes(rank: int, data_format: str = "channels_last", channels="channels") -> str:
    """The input layout in words, e.g. ``(batch, channels, height, width)``."""
    if data_format == "channels_first":
        return f"(batch, {channels}, {_SPATIAL[rank]})"
    return f"(batch, {_SPATIAL[rank]}, {channels})"


def _serialize_or_none(obj):
    return None if obj is None else serialize(obj)


def standardize_tuple(value, rank: int, name: str, allow_zero: bool = False) -> tuple:
    """An int or a sequence of ``rank`` ints as a tuple of ints (Keras's rule).

    Example:
        >>> standardize_tuple(3, 2, "kernel_size")
        (3, 3)
    """
    integer = (int, xp.integer)
    values = (value,) * rank if isinstance(value, integer) else tuple(value)
    low = 0 if allow_zero else 1
    if len(values) != rank or not all(
        isinstance(v, integer) and not isinstance(v, bool) and v >= low for v in values
    ):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"The `{name}` argument must be a {kind} int or a tuple of {rank} {kind} ints, "
            f"got {value!r}."
        )
    return tuple(int(v) for v in values)


def standardize_padding(padding: str, allowed: tuple = ("valid", "same")) -> str:
    """Lower-cased ``padding``, checked against the values the layer accepts."""
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        raise ValueError(
            f"The `padding` argument must be one of {', '.join(repr(a) for a in allowed)}, "
            f"got {padding!r}."
        )
    return value


def check_data_format(data_format: str | None) -> str:
    """``'channels_last'`` or an error: for layers that compute only channels-last (the
    convolution layers take both layouts through ``standardize_data_format``)."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    raise ValueError(
        f"axonal layers are channels-last: data_format must be 'channels_last' or None, got "
        f"{data_format!r}. Transpose inputs to (batch, ..., channels) instead."
    )


def check_input_rank(
    layer: Layer, shape: tuple, rank: int, data_format: str = "channels_last"
) -> None:
    """Raise a ValueError naming the layer and both shapes unless ``shape`` has rank + 2 axes."""
    if len(shape) != rank + 2:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of rank {rank + 2}, "
            f"{_axes(rank, data_format)}, got shape {tuple(shape)} (rank {len(shape)})."
        )


class _BaseConv(Layer):
    """Arguments, validation and shapes shared by the convolution layers (not registered)."""

    rank = 2
    allowed_padding: tuple = ("valid", "same")

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        bias_initializer: Any = "zeros",
        bias_regularizer: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        rank = self.rank
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, self.allowed_padding)
        self.data_format = standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{type(self).__name__}: strides > 1 is not supported together with "
                f"dilation_rate > 1 (as in Keras), got strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}."
            )
        self.activation = activations_module.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.bias = None
        self.in_channels: int | None = None

    # ------------------------------------------------------------ validation and shapes
    @property
    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _last_shape(self, shape: tuple) -> tuple:
        """An input shape (in the layer's layout, rank checked) written channels-last."""
        check_input_rank(self, shape, self.rank, self.data_format)
        return channels_last_shape(shape) if self._channels_first else tuple(shape)

    def _check_build_shape(self, input_shape: tuple) -> int:
        """Validate the shape a layer is built for; return its channel count."""
        channels = self._last_shape(input_shape)[-1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the channel dimension of its "
                f"inputs to be known, got input shape {tuple(input_shape)} "
                f"({self.data_format})."
            )
        self.compute_output_shape(input_shape)
        return int(channels)

    def _check_inputs(self, inputs: Tensor) -> Tensor:
        """Check rank, channel count and size of the inputs; cast them to the layer dtype and
        return them channels-last."""
        shape = inputs.shape
        channels = self._last_shape(shape)[-1]
        if channels != self.in_channels:
            expected = _axes(self.rank, self.data_format, self.in_channels)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) was built for inputs with "
                f"{self.in_channels} channels, {expected}, got shape {tuple(shape)} "
                f"({channels} channels)."
            )
        self.compute_output_shape(shape)
        dtype = xp.dtype(self.dtype)
        if inputs.dtype != dtype:
            inputs = F.cast(inputs, dtype)
        return to_channels_last(inputs) if self._channels_first else inputs

    def _finish(self, outputs: Tensor, activate: bool = True) -> Tensor:
        """Channels-last outputs activated (unless done already) and put in the layer's layout."""
        if activate:
            outputs = self.activation(outputs)
        return to_channels_first(outputs) if self._channels_first else outputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = self._output_shape(self._last_shape(tuple(input_shape)))
        return channels_first_shape(out) if self._channels_first else out

    def _output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for a channels-last input shape, channels-last."""
        raise NotImplementedError

    def _spatial_output(self, spatial: tuple) -> tuple:
        out = tuple(
            conv_output_length(size, k, s, d, self.padding)
            for size, k, s, d in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )
        self._check_positive(spatial, out)
        return out

    def _check_positive(self, spatial: tuple, out: tuple) -> None:
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): inputs of spatial size "
                f"{tuple(spatial)} are too small for kernel_size {self.kernel_size} with "
                f"dilation_rate {self.dilation_rate} and padding '{self.padding}' "
                f"(the output would have size {tuple(out)})."
            )

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=list(self.dilation_rate),
            activation=activations_module.serialize(self.activation),
            use_bias=self.use_bias,
            bias_initializer=initializers_module.serialize(self.bias_initializer),
            bias_regularizer=_serialize_or_none(self.bias_regularizer),
        )
        return config


class _Conv(_BaseConv):
    """Conv1D, Conv2D and Conv3D: ``filters``, ``groups``, ``kernel`` and ``bias``."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs,
    ):
        self.filters = _positive_int(filters, "filters", type(self).__name__)
        self.groups = _positive_int(groups, "groups", type(self).__name__)
        if self.filters % self.groups:
            raise ValueError(
                f"{type(self).__name__}: filters ({self.filters}) must be divisible by groups "
                f"({self.groups})."
            )
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.kernel = None

    def build(self, input_shape: tuple) -> None:
        channels = self._check_build_shape(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the {channels} input channels of "
                f"input shape {tuple(input_shape)} are not divisible by groups={self.groups}."
            )
        self.in_channels = channels
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (channels // self.groups, self.filters),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer
            )
        self.built = True

    def _output_shape(self, input_shape: tuple) -> tuple:
        spatial = self._spatial_output(tuple(input_shape[1:-1]))
        return (input_shape[0],) + spatial + (self.filters,)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        inputs = self._check_inputs(inputs)
        out = self._convolve(
            inputs,
            self.kernel,
            self.bias,
            self.strides,
            self.padding,
            self.dilation_rate,
            groups=self.groups,
        )
        return self._finish(out)

    @staticmethod
    def _convolve(*args, **kwargs) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            groups=self.groups,
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            kernel_regularizer=_serialize_or_none(self.kernel_regularizer),
        )
        return config


@register("layer", "Conv2D")
class Conv2D(_Conv):
    """2-D convolution layer: ``activation(conv2d(inputs, kernel) + bias)``.

    Args:
        filters: number of output channels.
        kernel_size: int or pair ``(kh, kw)``.
        strides: int or pair (default 1).
        padding: ``'valid'`` (no padding) or ``'same'`` (output size ``ceil(size / stride)``,
            zeros added as TensorFlow does: the odd one at the bottom/right).
        data_format: ``'channels_last'`` (``(batch, height, width, channels)``),
            ``'channels_first'`` (``(batch, channels, height, width)``) or None
            (``keras.config.image_data_format()``).
        dilation_rate: int or pair: spacing between kernel taps (not with strides > 1).
        groups: split channels into groups convolved separately (divides in and filters).
        activation: name or callable; None means linear.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: names, objects or callables.
        kernel_regularizer, bias_regularizer: penalties added to the loss.

    Input ``(batch, height, width, channels)``; output ``(batch, new_height, new_width,
    filters)`` (channels first when ``data_format='channels_first'``). Weights: ``kernel``
    ``(kh, kw, channels // groups, filters)``, ``bias`` ``(filters,)``.

    Example:
        >>> layer = Conv2D(8, 3, padding="same", activation="relu")
        >>> layer(np.zeros((2, 28, 28, 1), "float32")).shape
        (2, 28, 28, 8)
    """

    rank = 2

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        inputs = self._check_inputs(inputs)
        args = (inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)
        if self.activation is activations_module.relu:
            return self._finish(F.conv2d_relu(*args, groups=self.groups), activate=False)
        return self._finish(F.conv2d(*args, groups=self.groups))


@register("layer", "Conv1D")
class Conv1D(_Conv):
    """1-D convolution layer over ``(batch, steps, channels)``.

    Args:
        filters: number of output channels.
        kernel_size: int (or 1-tuple).
        strides: int (default 1).
        padding: ``'valid'``, ``'same'`` or ``'causal'`` (left padding only: output ``t`` sees
            inputs up to ``t``).
        data_format, dilation_rate, groups, activation, use_bias, initializers,
            regularizers: as in ``Conv2D`` (channels first: ``(batch, channels, steps)``).

    Weights: ``kernel`` ``(k, channels // groups, filters)``, ``bias`` ``(filters,)``.

    Example:
        >>> Conv1D(4, 3, padding="causal")(np.zeros((2, 10, 3), "float32")).shape
        (2, 10, 4)
    """

    rank = 1
    allowed_padding = ("valid", "same", "causal")
    _convolve = staticmethod(F.conv1d)


@register("layer", "Conv3D")
class Conv3D(_Conv):
    """3-D convolution layer over ``(batch, depth, height, width, channels)``.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: int or triple ``(depth, height, width)``.
        padding: ``'valid'`` or ``'same'``.
        data_format, groups, activation, use_bias, initializers, regularizers: as in
            ``Conv2D`` (channels first: ``(batch, channels, depth, height, width)``).

    Weights: ``kernel`` ``(kd, kh, kw, channels // groups, filters)``, ``bias``
    ``(filters,)``.

    Example:
        >>> Conv3D(4, 3, padding="same")(np.zeros((2, 5, 6, 6, 1), "float32")).shape
        (2, 5, 6, 6, 4)
    """

    rank = 3
    _convolve = staticmethod(F.conv3d)


class _DepthwiseConv(_BaseConv):
    """DepthwiseConv1D and DepthwiseConv2D: ``depth_multiplier``, ``kernel`` and ``bias``."""

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate=1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs,
    ):
        self.depth_multiplier = _positive_int(
            depth_multiplier, "depth_multiplier", type(self).__name__
        )
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        self.depthwise_initializer = initializers_module.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.kernel = None

    def build(self, input_shape: tuple) -> None:
        channels = self._check_build_shape(input_shape)
        self.in_channels = channels
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (channels * self.depth_multiplier,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        inputs = self._check_inputs(inputs)
        convolve = F.depthwise_conv1d if self.rank == 1 else F.depthwise_conv2d
        out = convolve(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate
        )
        return self._finish(out)

    def _output_shape(self, input_shape: tuple) -> tuple:
        spatial = self._spatial_output(tuple(input_shape[1:-1]))
        channels = input_shape[-1]
        out_channels = None if channels is None else channels * self.depth_multiplier
        return (input_shape[0],) + spatial + (out_channels,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers_module.serialize(self.depthwise_initializer),
            depthwise_regularizer=_serialize_or_none(self.depthwise_regularizer),
        )
        return config


@register("layer", "DepthwiseConv2D")
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: each input channel convolved with its own filters.

    Args:
        kernel_size: int or pair.
        strides, padding, data_format, dilation_rate, activation, use_bias: as in ``Conv2D``.
        depth_multiplier: filters per input channel (output channels = in * depth_multiplier).
        depthwise_initializer, bias_initializer: initializers (glorot_uniform, zeros).
        depthwise_regularizer, bias_regularizer: optional penalties.

    Weights (Keras 3 names): ``kernel`` ``(kh, kw, channels, depth_multiplier)``, ``bias``
    ``(channels * depth_multiplier,)``. Output channel ``c * depth_multiplier + m`` comes from
    input channel ``c``.

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2)(np.zeros((1, 8, 8, 3), "float32")).shape
        (1, 6, 6, 6)
    """

    rank = 2


@register("layer", "DepthwiseConv1D")
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution over ``(batch, steps, channels)``; arguments as
    ``DepthwiseConv2D`` with ints for the sizes.

    Weights: ``kernel`` ``(k, channels, depth_multiplier)``, ``bias``
    ``(channels * depth_multiplier,)``.

    Example:
        >>> DepthwiseConv1D(3, depth_multiplier=2)(np.zeros((1, 8, 3), "float32")).shape
        (1, 6, 6)
    """

    rank = 1


class _SeparableConv(_BaseConv):
    """SeparableConv1D and SeparableConv2D: a depthwise step then a pointwise one."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        depth_multiplier: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs,
    ):
        self.filters = _positive_int(filters, "filters", type(self).__name__)
        self.depth_multiplier = _positive_int(
            depth_multiplier, "depth_multiplier", type(self).__name__
        )
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        self.depthwise_initializer = initializers_module.get(depthwise_initializer)
        self.pointwise_initializer = initializers_module.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers_module.get(pointwise_regularizer)
        self.depthwise_kernel = None
        self.pointwise_kernel = None

    def build(self, input_shape: tuple) -> None:
        channels = self._check_build_shape(input_shape)
        self.in_channels = channels
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
        )
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        inputs = self._check_inputs(inputs)
        convolve = F.separable_conv1d if self.rank == 1 else F.separable_conv2d
        out = convolve(
            inputs,
            self.depthwise_kernel,
            self.pointwise_kernel,
            self.bias,
            self.strides,
            self.padding,
            self.dilation_rate,
        )
        return self._finish(out)

    def _output_shape(self, input_shape: tuple) -> tuple:
        spatial = self._spatial_output(tuple(input_shape[1:-1]))
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers_module.serialize(self.depthwise_initializer),
            pointwise_initializer=initializers_module.serialize(self.pointwise_initializer),
            depthwise_regularizer=_serialize_or_none(self.depthwise_regularizer),
            pointwise_regularizer=_serialize_or_none(self.pointwise_regularizer),
        )
        return config


@register("layer", "SeparableConv2D")
class SeparableConv2D(_SeparableConv):
    """Depthwise separable 2-D convolution: a depthwise convolution, then a 1x1 one.

    Args:
        filters: output channels of the pointwise step.
        kernel_size, strides, padding, data_format, dilation_rate: of the depthwise step.
        depth_multiplier: depthwise filters per input channel.
        activation, use_bias: as in ``Conv2D`` (one bias, after the pointwise step).
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional penalties.

    Weights: ``depthwise_kernel`` ``(kh, kw, channels, depth_multiplier)``,
    ``pointwise_kernel`` ``(1, 1, channels * depth_multiplier, filters)``, ``bias``
    ``(filters,)``.

    Example:
        >>> SeparableConv2D(4, 3, padding="same")(np.zeros((1, 8, 8, 3), "float32")).shape
        (1, 8, 8, 4)
    """

    rank = 2


@register("layer", "SeparableConv1D")
class SeparableConv1D(_SeparableConv):
    """Depthwise separable 1-D convolution over ``(batch, steps, channels)``; arguments as
    ``SeparableConv2D`` with ints for the sizes.

    Weights: ``depthwise_kernel`` ``(k, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, channels * depth_multiplier, filters)``, ``bias`` ``(filters,)``.

    Example:
        >>> SeparableConv1D(4, 3, padding="same")(np.zeros((1, 8, 3), "float32")).shape
        (1, 8, 4)
    """

    rank = 1


class _ConvTranspose(_BaseConv):
    """Conv1D/2D/3DTranspose: ``filters``, ``output_padding``, ``kernel`` and ``bias``."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        output_padding=None,
        data_format: str | None = None,
        dilation_rate=1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs,
    ):
        name = type(self).__name__
        self.filters = _positive_int(filters, "filters", name)
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = standardize_tuple(
                output_padding, self.rank, "output_padding", allow_zero=True
            )
            if any(p >= s for p, s in zip(self.output_padding, self.strides, strict=True)):
                raise ValueError(
                    f"{name}: output_padding must be smaller than strides, got "
                    f"output_padding={self.output_padding} and strides={self.strides}."
                )
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.kernel = None

    def build(self, input_shape: tuple) -> None:
        channels = self._check_build_shape(input_shape)
        self.in_channels = channels
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (self.filters, channels),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        inputs = self._check_inputs(inputs)
        out = self._convolve(
            inputs,
            self.kernel,
            self.bias,
            self.strides,
            self.padding,
            self.output_padding,
            self.dilation_rate,
        )
        return self._finish(out)

    @staticmethod
    def _convolve(*args) -> Tensor:
        raise NotImplementedError

    def _output_shape(self, input_shape: tuple) -> tuple:
        extra = self.output_padding or (None,) * self.rank
        spatial = tuple(
            conv_transpose_output_length(size, k, s, d, self.padding, e)
            for size, k, s, d, e in zip(
                input_shape[1:-1],
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                extra,
                strict=True,
            )
        )
        self._check_positive(tuple(input_shape[1:-1]), spatial)
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            output_padding=None if self.output_padding is None else list(self.output_padding),
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            kernel_regularizer=_serialize_or_none(self.kernel_regularizer),
        )
        return config


@register("layer", "Conv2DTranspose")
class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution"): the gradient of a Conv2D as a layer.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate, data_format, activation, use_bias: as in
            ``Conv2D``.
        padding: ``'valid'`` (output ``size * stride + max(k - stride, 0)``) or ``'same'``
            (output ``size * stride``).
        output_padding: None, or an int or pair (each < its stride): the output is then
            ``(size - 1) * stride + k - 2 * pad + output_padding`` with ``pad = k // 2`` for
            'same' and 0 for 'valid' (Keras's rule).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: as in
            ``Conv2D``.

    Weights: ``kernel`` ``(kh, kw, filters, channels)`` (Keras's layout), ``bias``
    ``(filters,)``.

    Example:
        >>> Conv2DTranspose(2, 3, strides=2, padding="same")(np.zeros((1, 4, 4, 3))).shape
        (1, 8, 8, 2)
    """

    rank = 2
    _convolve = staticmethod(F.conv2d_transpose)


@register("layer", "Conv1DTranspose")
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over ``(batch, steps, channels)``; arguments as
    ``Conv2DTranspose`` with ints for the sizes.

    Weights: ``kernel`` ``(k, filters, channels)``, ``bias`` ``(filters,)``.

    Example:
        >>> Conv1DTranspose(2, 3, strides=2)(np.zeros((1, 4, 3), "float32")).shape
        (1, 9, 2)
    """

    rank = 1
    _convolve = staticmethod(F.conv1d_transpose)


@register("layer", "Conv3DTranspose")
class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution over ``(batch, depth, height, width, channels)``; arguments
    as ``Conv2DTranspose`` with triples for the sizes (Keras's order: ``data_format`` before
    ``output_padding``).

    Weights: ``kernel`` ``(kd, kh, kw, filters, channels)``, ``bias`` ``(filters,)``.

    Example:
        >>> Conv3DTranspose(2, 3, strides=2, padding="same")(np.zeros((1, 2, 4, 4, 3))).shape
        (1, 4, 8, 8, 2)
    """

    rank = 3
    _convolve = staticmethod(F.conv3d_transpose)

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        output_padding=None,
        dilation_rate=1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )


def _positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}.")
    return int(value)


__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
]
