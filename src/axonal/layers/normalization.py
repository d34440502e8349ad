"""Normalization and noise layers: BatchNormalization, LayerNormalization, GaussianNoise and
spatial dropout (Keras names, defaults, weight order and config keys)."""

from __future__ import annotations

from typing import Any

from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng, xp
from axonal.layers.base import Layer
from axonal.layers.core import Dropout
from axonal.layers.data_format import standardize_data_format
from axonal.layers.masking import attach_mask, mask_of
from axonal.registry import register, serialize
from axonal.tensor import Tensor


def _serialize_or_none(obj):
    return None if obj is None else serialize(obj)


def _check_axis(layer: Layer, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) got axis={axis}, out of range for "
            f"inputs of rank {ndim}."
        )
    return axis % ndim


def _pass_mask(inputs, out: Tensor, mask=None) -> Tensor:
    """Carry the timestep mask of ``inputs`` (or ``mask``) over to ``out``, as Keras does."""
    mask = mask_of(inputs) if mask is None else mask
    if mask is not None and out is not inputs:
        attach_mask(out, mask)
    return out


def _cast(layer: Layer, inputs: Tensor) -> Tensor:
    if inputs.dtype != xp.dtype(layer.dtype):
        return F.cast(inputs, layer.dtype)
    return inputs


@register("layer", "BatchNormalization")
class BatchNormalization(Layer):
    """Normalizes each channel with the batch's statistics while training, moving ones after.

    Training (``training=True``, as in ``fit``): ``gamma * (x - mean) / sqrt(var + epsilon) +
    beta`` with the batch mean and biased variance over every axis but ``axis``, and the moving
    statistics updated in place: ``moving = moving * momentum + batch * (1 - momentum)``.
    Inference: the same with ``moving_mean`` and ``moving_variance``. A frozen layer
    (``trainable=False``) always runs in inference mode, as in Keras.

    Weights, in ``get_weights`` order: ``gamma`` (if scale), ``beta`` (if center), both
    trainable, then the non-trainable ``moving_mean`` and ``moving_variance``; all
    ``(channels,)``.

    Args:
        axis: the channel axis (default -1, channels-last).
        momentum: of the moving averages (default 0.99).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to use beta and gamma.
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: initializers (zeros, ones, zeros, ones).
        beta_regularizer, gamma_regularizer: optional penalties.

    Example:
        >>> bn = BatchNormalization()
        >>> bn(np.random.randn(8, 3), training=True).shape
        (8, 3)
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        synchronized: bool = False,
        **kwargs,
    ):
        if isinstance(axis, (list, tuple)):
            raise TypeError(
                f"BatchNormalization axis must be one integer (the channel axis), got {axis!r}."
            )
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1], got {momentum!r}.")
        if float(epsilon) <= 0.0:
            raise ValueError(f"BatchNormalization epsilon must be positive, got {epsilon!r}.")
        if synchronized:
            raise ValueError("BatchNormalization synchronized=True needs several devices.")
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers_module.get(beta_initializer)
        self.gamma_initializer = initializers_module.get(gamma_initializer)
        self.moving_mean_initializer = initializers_module.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers_module.get(moving_variance_initializer)
        self.beta_regularizer = regularizers_module.get(beta_regularizer)
        self.gamma_regularizer = regularizers_module.get(gamma_regularizer)
        self.gamma = None
        self.beta = None
        self.moving_mean = None
        self.moving_variance = None
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:
        axis = _check_axis(self, self.axis, len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) needs the channel axis {self.axis} "
                f"to be known, got input shape {tuple(input_shape)}."
            )
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight(
                "gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer
            )
        if self.center:
            self.beta = self.add_weight(
                "beta", shape, self.beta_initializer, regularizer=self.beta_regularizer
            )
        self.moving_mean = self.add_weight(
            "moving_mean", shape, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False, mask=None) -> Tensor:
        """Normalize ``inputs``; ``mask`` (inputs' shape without the last axis, e.g. a
        ``(batch, time)`` timestep mask) restricts the training statistics to real steps."""
        axis = _check_axis(self, self.axis, inputs.ndim)
        channels = self.moving_mean.data.shape[0]
        if inputs.shape[axis] != channels:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) expects {channels} channels on axis "
                f"{self.axis}, got inputs of shape {inputs.shape}."
            )
        if mask is None:
            mask = mask_of(inputs)
        if mask is not None:
            mask = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
            if mask.shape != inputs.shape[:-1]:
                raise ValueError(
                    f"Layer '{self.name}' (BatchNormalization) expects a mask of shape "
                    f"{inputs.shape[:-1]} (the inputs' shape without the last axis), got "
                    f"{mask.shape}."
                )
        original = inputs
        inputs = _cast(self, inputs)
        if training and self.trainable:
            out, mean, var = F.batch_normalization_training(
                inputs, self.gamma, self.beta, axis=axis, epsilon=self.epsilon, mask=mask
            )
            self._update_moving(mean, var)
        else:
            out = F.batch_normalization(
                inputs,
                self.moving_mean.data,
                self.moving_variance.data,
                self.gamma,
                self.beta,
                axis=axis,
                epsilon=self.epsilon,
            )
        return _pass_mask(original, out, mask)

    def _update_moving(self, mean, var) -> None:
        """Move the moving statistics towards a training batch's ``mean`` and ``var``."""
        # in place: the variables keep their arrays (models and optimizers hold them)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
            moving.data *= self.momentum
            moving.data += batch * (1.0 - self.momentum)

    def call_then_relu(self, inputs) -> Tensor | None:
        """``relu(self(inputs, training=True))`` as one op, or None (nothing done) where this
        training call is not what the fused op covers: an unbuilt or frozen layer, an input of
        another dtype or with a mask, channels not last. Models call it for a
        BatchNormalization whose only consumer is a plain ReLU (``models.fusion``)."""
        if (
            not self.built
            or not self.trainable
            or not isinstance(inputs, Tensor)
            or inputs.ndim < 2
            or self.axis % inputs.ndim != inputs.ndim - 1
            or inputs.shape[-1] != self.moving_mean.data.shape[0]
            or inputs.dtype != xp.dtype(self.dtype)
            or mask_of(inputs) is not None
        ):
            return None
        out, mean, var = F.batch_normalization_training(
            inputs, self.gamma, self.beta, axis=-1, epsilon=self.epsilon, then_relu=True
        )
        self._update_moving(mean, var)
        return out

    def compute_mask(self, inputs, mask=None):
        """Masks pass through unchanged."""
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=initializers_module.serialize(self.beta_initializer),
            gamma_initializer=initializers_module.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers_module.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers_module.serialize(
                self.moving_variance_initializer
            ),
            beta_regularizer=_serialize_or_none(self.beta_regularizer),
            gamma_regularizer=_serialize_or_none(self.gamma_regularizer),
            synchronized=False,
        )
        return config


@register("layer", "LayerNormalization")
class LayerNormalization(Layer):
    """Normalizes each sample over ``axis``: ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    The statistics are per sample (no batch statistics, same in training and inference).
    Weights: ``gamma`` (if scale) and ``beta`` (if center), shaped as the input over ``axis``.

    Args:
        axis: an axis or a list of axes (default -1).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to use beta and gamma.
        beta_initializer, gamma_initializer: initializers (zeros, ones).
        beta_regularizer, gamma_regularizer: optional penalties.

    Example:
        >>> LayerNormalization()(np.random.randn(4, 5)).shape
        (4, 5)
    """

    def __init__(
        self,
        axis: int | list = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs,
    ):
        if isinstance(axis, (list, tuple)):
            axis = [int(a) for a in axis]
            if not axis:
                raise ValueError("LayerNormalization axis must name at least one axis.")
        elif isinstance(axis, (int, xp.integer)) and not isinstance(axis, bool):
            axis = int(axis)
        else:
            raise TypeError(
                f"LayerNormalization axis must be an int or a list of ints, got {axis!r}."
            )
        if float(epsilon) <= 0.0:
            raise ValueError(f"LayerNormalization epsilon must be positive, got {epsilon!r}.")
        if rms_scaling:
            raise NotImplementedError("LayerNormalization rms_scaling=True is not supported.")
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers_module.get(beta_initializer)
        self.gamma_initializer = initializers_module.get(gamma_initializer)
        self.beta_regularizer = regularizers_module.get(beta_regularizer)
        self.gamma_regularizer = regularizers_module.get(gamma_regularizer)
        self.gamma = None
        self.beta = None
        self.supports_masking = True

    def _axes(self, ndim: int) -> tuple:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = sorted({_check_axis(self, a, ndim) for a in axes})
        if 0 in axes and ndim > 1:
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) cannot normalize over the batch axis "
                f"0, got axis={self.axis}."
            )
        return tuple(axes)

    def build(self, input_shape: tuple) -> None:
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) needs the normalized axes {self.axis} "
                f"to be known, got input shape {tuple(input_shape)}."
            )
        if self.scale:
            self.gamma = self.add_weight(
                "gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer
            )
        if self.center:
            self.beta = self.add_weight(
                "beta", shape, self.beta_initializer, regularizer=self.beta_regularizer
            )
        self._shape = shape
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        axes = self._axes(inputs.ndim)
        got = tuple(inputs.shape[a] for a in axes)
        if got != self._shape:
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) expects sizes {self._shape} on axes "
                f"{list(axes)}, got inputs of shape {inputs.shape}."
            )
        out = F.layer_normalization(_cast(self, inputs), self.gamma, self.beta, axes, self.epsilon)
        return _pass_mask(inputs, out)

    def compute_mask(self, inputs, mask=None):
        """Masks pass through unchanged."""
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            axis=self.axis,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            rms_scaling=False,
            beta_initializer=initializers_module.serialize(self.beta_initializer),
            gamma_initializer=initializers_module.serialize(self.gamma_initializer),
            beta_regularizer=_serialize_or_none(self.beta_regularizer),
            gamma_regularizer=_serialize_or_none(self.gamma_regularizer),
        )
        return config


@register("layer", "GaussianNoise")
class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` while training.

    At inference it is the identity. A regulariser (and a form of data augmentation).

    Args:
        stddev: standard deviation of the noise (>= 0).
        seed: private seed; None uses the library generator (``set_random_seed``).

    Example:
        >>> GaussianNoise(0.1)(np.zeros((2, 3)), training=True).shape
        (2, 3)
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        if not float(stddev) >= 0.0:
            raise ValueError(f"GaussianNoise stddev must be >= 0, got {stddev!r}.")
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)
        self.supports_masking = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.stddev == 0.0:
            return inputs
        rng = self._rng if self._rng is not None else make_rng(None)
        noise = rng.normal(0.0, self.stddev, size=inputs.shape).astype(inputs.dtype)
        return _pass_mask(inputs, F.add(inputs, noise))

    def compute_mask(self, inputs, mask=None):
        """Masks pass through unchanged."""
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep/drop draw per sample and channel."""

    _rank = 4
    _layout = "(batch, rows, cols, channels)"

    def __init__(
        self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs
    ):
        # None means config.image_data_format(), as in Keras
        data_format = standardize_data_format(data_format)
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = data_format
        spatial = (1,) * (self._rank - 2)
        if data_format == "channels_last":
            self.noise_shape = (None,) + spatial + (None,)
        else:
            self.noise_shape = (None, None) + spatial

    def _check_rank(self, shape: tuple) -> None:
        if len(shape) != self._rank:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank "
                f"{self._rank} {self._layout}, got shape {tuple(shape)}."
            )

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self._check_rank(inputs.shape)
        return _pass_mask(inputs, super().call(inputs, training=training))

    def get_config(self) -> dict:
        config = super().get_config()
        del config["noise_shape"]
        config["data_format"] = self.data_format
        return config


@register("layer", "SpatialDropout1D")
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` inputs while training.

    Each kept channel is scaled by ``1 / (1 - rate)``; at inference it is the identity.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: private seed; None uses the library generator.

    Example:
        >>> SpatialDropout1D(0.5)(np.ones((2, 5, 4)), training=True).shape
        (2, 5, 4)
    """

    _rank = 3
    _layout = "(batch, steps, channels)"

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        kwargs.pop("data_format", None)
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]
        return config


@register("layer", "SpatialDropout2D")
class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of ``(batch, rows, cols, channels)`` inputs while training.

    Adjacent pixels of a feature map are strongly correlated, so ordinary dropout hardly
    regularises convolutions; dropping entire channels does. Each kept channel is scaled by
    ``1 / (1 - rate)``; at inference it is the identity.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: ``'channels_last'``, ``'channels_first'`` or None
            (``config.image_data_format()``).
        seed: private seed; None uses the library generator.

    Example:
        >>> SpatialDropout2D(0.5)(np.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """


@register("layer", "SpatialDropout3D")
class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature maps of ``(batch, depth, rows, cols, channels)`` inputs while
    training; as ``SpatialDropout2D``."""

    _rank = 5
    _layout = "(batch, depth, rows, cols, channels)"


__all__ = [
    "BatchNormalization",
    "GaussianNoise",
    "LayerNormalization",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]
