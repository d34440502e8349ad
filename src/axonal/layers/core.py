"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from axonal import activations as activations_module
from axonal import constraints as constraints_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import primitives as P
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng, xp
from axonal.layers.base import Layer, unique_name
from axonal.layers.data_format import standardize_data_format, to_channels_last
from axonal.layers.masking import mask_of, masks_in_use
from axonal.layers.symbolic import SymbolicTensor
from axonal.registry import register, serialize
from axonal.tensor import Tensor


def serialize_or_none(obj):
    """``serialize(obj)``, or None for None (an unset regularizer or constraint)."""
    return None if obj is None else serialize(obj)


@register("layer", "InputLayer")
class InputLayer(Layer):
    """Declares the shape of one sample; the first entry of a Sequential model.

    Args:
        shape: shape of one sample, without the batch axis, e.g. ``(4,)``.
        batch_size: optional fixed batch size.
    """

    def __init__(
        self,
        shape: tuple | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        name: str | None = None,
        batch_input_shape=None,
        input_shape=None,
        **kwargs,
    ):
        shape = shape if shape is not None else input_shape
        if shape is None and batch_input_shape is None:
            raise ValueError("InputLayer needs a shape, e.g. InputLayer(shape=(4,)).")
        super().__init__(
            name=name or unique_name("input_layer"),
            dtype=dtype,
            input_shape=shape,
            batch_input_shape=batch_input_shape,
            batch_size=batch_size,
            **kwargs,
        )
        self.built = True

    def get_config(self) -> dict:
        return {
            "batch_input_shape": list(self._batch_input_shape),
            "dtype": self.dtype,
            "name": self.name,
        }


def Input(
    shape: tuple,
    batch_size: int | None = None,
    dtype: Any = None,  # noqa: N802
    name: str | None = None,
) -> SymbolicTensor:
    """A placeholder for model inputs of ``shape`` (one sample, without the batch axis).

    Example:
        >>> model = Sequential([Input(shape=(4,)), Dense(3)])
    """
    if isinstance(shape, int):
        shape = (shape,)
    layer = InputLayer(shape=tuple(shape), batch_size=batch_size, dtype=dtype, name=name)
    return SymbolicTensor(layer._batch_input_shape, layer.dtype, layer.name)


@register("layer", "Dense")
class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    The kernel has shape ``(input_dim, units)`` as in Keras; inputs of rank > 2 are transformed
    along their last axis.

    Args:
        units: output size (positive integer).
        activation: name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: names, objects or callables.
        kernel_regularizer, bias_regularizer: penalties added to the loss.
        kernel_constraint, bias_constraint: projections applied after each training update.

    Example:
        >>> layer = Dense(3, activation="softmax")
        >>> layer(np.ones((2, 4), "float32")).shape
        (2, 3)
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, (int, xp.integer)) or units < 1:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}.")
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        # the optimizer projects the weights onto these after every update
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self.kernel = None
        self.bias = None

    def build(self, input_shape: tuple) -> None:
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer '{self.name}' needs the last input dimension to be known, "
                f"got input shape {input_shape}."
            )
        self.kernel = self.add_weight(
            "kernel",
            (in_dim, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        kernel = self.kernel
        data, weights = inputs.data, kernel.data
        if data.shape[-1] != weights.shape[0]:
            raise ValueError(
                f"Layer '{self.name}' expects inputs with last dimension "
                f"{weights.shape[0]}, got shape {data.shape}."
            )
        if data.dtype != weights.dtype:
            inputs = F.cast(inputs, weights.dtype)
        if self.activation is activations_module.relu:
            return F.dense_relu(inputs, kernel, self.bias)
        return self.activation(F.dense(inputs, kernel, self.bias))

    def infer(self, inputs):
        kernel = self.kernel.data
        if (
            type(inputs) is xp.ndarray
            and inputs.ndim == 2
            and inputs.dtype == kernel.dtype
            and inputs.shape[1] == kernel.shape[0]
            and not masks_in_use()
        ):
            # predict's single-row latency is a handful of NumPy calls: make no more than those
            out = inputs.dot(kernel)
            if self.bias is not None:
                if len(out) == 1:
                    # one row: a 1-D add skips NumPy's broadcasting set-up, most of its cost here
                    row = out[0]
                    row += self.bias.data
                else:
                    out += self.bias.data
            return activate_in_place(self.activation, out)
        if (
            not isinstance(inputs, xp.ndarray)
            or inputs.dtype != kernel.dtype
            or inputs.shape[-1] != kernel.shape[0]
            or (masks_in_use() and mask_of(inputs) is not None)
        ):
            return super().infer(inputs)
        bias = None if self.bias is None else self.bias.data
        # rank 3 and up: Affine flattens the leading axes; its output is ours to overwrite
        out = P.Affine().forward(inputs, kernel, bias)
        return activate_in_place(self.activation, out)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations_module.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            bias_initializer=initializers_module.serialize(self.bias_initializer),
            kernel_regularizer=serialize_or_none(self.kernel_regularizer),
            bias_regularizer=serialize_or_none(self.bias_regularizer),
            kernel_constraint=serialize_or_none(self.kernel_constraint),
            bias_constraint=serialize_or_none(self.bias_constraint),
        )
        return config


# activations that are one primitive: Dense.infer runs them on arrays directly
def activate_in_place(activation, out):
    """``activation(out)`` for a fresh array ``out`` that may be overwritten; returns the result."""
    if activation is activations_module.relu:
        if out.size < P.RELU_BLOCK_MIN:
            # predict's one-row case: skip relu_values' call, as it would for so few values
            return xp.maximum(out, 0, out=out)
        return P.relu_values(out, out=out)
    if activation is activations_module.linear:
        return out
    if activation is activations_module.softmax:
        return P.softmax_rows(out, overwrite=True)
    primitive = _ACTIVATION_PRIMITIVES.get(activation)
    if primitive is not None:
        return primitive().forward(out)
    return activation(Tensor(out)).data


_ACTIVATION_PRIMITIVES = {
    activations_module.sigmoid: P.Sigmoid,
    activations_module.tanh: P.Tanh,
    activations_module.softmax: P.Softmax,
    activations_module.softplus: P.Softplus,
}


@register("layer", "Activation")
class Activation(Layer):
    """Applies an activation function, given by name or callable.

    Example:
        >>> Activation("relu")(np.array([[-1.0, 2.0]]))
    """

    supports_masking = True

    def __init__(self, activation: str | Callable, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_module.get(activation)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return self.activation(inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = activations_module.serialize(self.activation)
        return config


@register("layer", "Dropout")
class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs while training and scales the rest by 1/(1-rate).

    At inference it is the identity.

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: shape of the mask, with 1 where the mask is shared (None: input shape).
        seed: private seed; None uses the library generator (``set_random_seed``).
    """

    supports_masking = True

    def __init__(
        self, rate: float, noise_shape: tuple | None = None, seed: int | None = None, **kwargs
    ):
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}.")
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        mask = self._keep(inputs).astype(inputs.dtype) * (1.0 / (1.0 - self.rate))
        return F.multiply(inputs, mask)

    def _keep(self, inputs: Tensor):
        """Which entries survive this call: a boolean array of ``noise_shape`` (the input's
        shape where it says None), True with probability ``1 - rate``."""
        rng = self._rng if self._rng is not None else make_rng(None)
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(
                n if m is None else m for n, m in zip(shape, self.noise_shape, strict=True)
            )
        return (
            rng.random(shape, dtype=xp.float64 if inputs.dtype == xp.float64 else xp.float32)
            >= self.rate
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            rate=self.rate,
            seed=self.seed,
            noise_shape=None if self.noise_shape is None else list(self.noise_shape),
        )
        return config


@register("layer", "Flatten")
class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, d1, d2, …)`` -> ``(batch, d1*d2*…)``.

    Args:
        data_format: ``'channels_last'`` or ``'channels_first'`` (None: the config's). A
            channels-first input is flattened in channels-last order, as Keras does, so a
            Dense layer after it sees the same features in either layout.
    """

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = to_channels_last(inputs)
        return F.flatten(inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)


@register("layer", "Reshape")
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1).

    Example:
        >>> Reshape((2, 3))(np.zeros((5, 6))).shape
        (5, 2, 3)
    """

    def __init__(self, target_shape: tuple, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(d < -1 or d == 0 for d in target_shape):
            raise ValueError(
                f"Reshape target_shape must hold positive sizes and at most one -1, "
                f"got {target_shape}."
            )
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            known = self.target_shape
        elif any(d is None for d in rest):
            known = tuple(None if d == -1 else d for d in self.target_shape)
        else:
            fixed = math.prod(d for d in self.target_shape if d != -1)
            known = tuple(math.prod(rest) // fixed if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + known

    def build(self, input_shape: tuple) -> None:
        rest = input_shape[1:]
        if all(d is not None for d in rest):
            self._check(rest)
        self.built = True

    def _check(self, rest: tuple) -> None:
        size = math.prod(rest)
        fixed = math.prod(d for d in self.target_shape if d != -1)
        ok = size % fixed == 0 if -1 in self.target_shape else size == fixed
        if not ok:
            raise ValueError(
                f"Layer '{self.name}' cannot reshape samples of shape {tuple(rest)} "
                f"({size} values) to {self.target_shape}."
            )

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self._check(inputs.shape[1:])
        return F.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Reshape"]
