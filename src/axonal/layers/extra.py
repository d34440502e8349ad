"""Layers Keras programs commonly use: shape plumbing, activation layers, Masking, Lambda.

RepeatVector, Permute, ReLU, LeakyReLU, PReLU, ELU, Softmax, Identity, Masking, Rescaling and
Lambda, with Keras 3's names, defaults and config keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import registry
from axonal import regularizers as regularizers_module
from axonal.autograd import no_grad
from axonal.backend import xp
from axonal.layers.base import Layer
from axonal.layers.masking import attach_mask
from axonal.registry import register
from axonal.tensor import Tensor

# the registry kinds a Lambda's function may be registered under, searched in this order
_LAMBDA_KINDS = ("lambda", "activation")


@register("layer", "RepeatVector")
class RepeatVector(Layer):
    """Repeats each input vector ``n`` times: ``(batch, features)`` -> ``(batch, n, features)``.

    Args:
        n: number of repetitions (positive integer).

    Example:
        >>> RepeatVector(3)(np.ones((2, 4))).shape
        (2, 3, 4)
    """

    def __init__(self, n: int, **kwargs):
        if isinstance(n, bool) or not isinstance(n, (int, xp.integer)) or n < 1:
            raise ValueError(f"RepeatVector n must be a positive integer, got {n!r}.")
        super().__init__(**kwargs)
        self.n = int(n)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 2:
            raise ValueError(
                f"Layer '{self.name}' (RepeatVector) expects inputs of shape (batch, features), "
                f"got shape {tuple(input_shape)}."
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if inputs.ndim != 2:
            raise ValueError(
                f"Layer '{self.name}' (RepeatVector) expects inputs of shape (batch, features), "
                f"got shape {inputs.shape}."
            )
        batch, features = inputs.shape
        return F.broadcast_to(F.expand_dims(inputs, 1), (batch, self.n, features))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config


@register("layer", "Permute")
class Permute(Layer):
    """Permutes the axes of each sample; ``dims`` are 1-based and exclude the batch axis.

    Args:
        dims: a permutation of ``1..rank``, e.g. ``(2, 1)`` swaps the two axes of a sample.

    Example:
        >>> Permute((2, 1))(np.zeros((5, 3, 4))).shape
        (5, 4, 3)
    """

    def __init__(self, dims: tuple, **kwargs):
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                f"Permute dims must be a permutation of 1..{len(dims)} (the batch axis is "
                f"not included), got {dims}."
            )
        super().__init__(**kwargs)
        self.dims = dims

    def _check_rank(self, rank: int) -> None:
        if rank != len(self.dims) + 1:
            raise ValueError(
                f"Layer '{self.name}' (Permute) with dims {self.dims} expects inputs of rank "
                f"{len(self.dims) + 1} (batch included), got rank {rank}."
            )

    def build(self, input_shape: tuple) -> None:
        self._check_rank(len(input_shape))
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self._check_rank(inputs.ndim)
        return F.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self) -> dict:
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


@register("layer", "ReLU")
class ReLU(Layer):
    """Rectified linear unit with Keras's options.

    ``f(x) = min(x, max_value)`` for ``x > threshold`` (0 below it, before the slope term),
    minus ``negative_slope * relu(threshold - x)``.

    Args:
        max_value: cap on the output (None: no cap); must be >= 0.
        negative_slope: slope below the threshold; must be >= 0.
        threshold: values at or below it are zeroed (or sloped); must be >= 0.

    Example:
        >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]]))   # [[0, 3, 6]]
    """

    supports_masking = True

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs,
    ):
        if max_value is not None and float(max_value) < 0.0:
            raise ValueError(f"ReLU max_value must be >= 0 or None, got {max_value!r}.")
        if negative_slope is None or float(negative_slope) < 0.0:
            raise ValueError(f"ReLU negative_slope must be >= 0, got {negative_slope!r}.")
        if threshold is None or float(threshold) < 0.0:
            raise ValueError(f"ReLU threshold must be >= 0, got {threshold!r}.")
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if self.threshold != 0.0:
            above = (inputs.data > self.threshold).astype(inputs.dtype)
            out = F.multiply(inputs, above)
        else:
            out = F.relu(inputs)
        if self.max_value is not None:
            out = F.minimum(out, self.max_value)
        if self.negative_slope != 0.0:
            below = F.relu(F.subtract(self.threshold, inputs))
            out = F.subtract(out, F.multiply(below, self.negative_slope))
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            max_value=self.max_value,
            negative_slope=self.negative_slope,
            threshold=self.threshold,
        )
        return config


@register("layer", "LeakyReLU")
class LeakyReLU(Layer):
    """Leaky ReLU: ``x`` for ``x >= 0``, else ``negative_slope * x`` (Keras 3 default 0.3).

    Args:
        negative_slope: slope below zero (>= 0). ``alpha=`` (Keras 2's name) is accepted.

    Example:
        >>> LeakyReLU()(np.array([[-1.0, 2.0]]))   # [[-0.3, 2.0]]
    """

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        if negative_slope is None or float(negative_slope) < 0.0:
            raise ValueError(f"LeakyReLU negative_slope must be >= 0, got {negative_slope!r}.")
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return F.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


@register("layer", "PReLU")
class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x >= 0``, else ``alpha * x`` with a learned ``alpha``.

    ``alpha`` has the shape of one sample, with size 1 along ``shared_axes`` (1-based, batch
    excluded), so e.g. ``shared_axes=[1, 2]`` learns one slope per channel of an image.

    Args:
        alpha_initializer: initializer of ``alpha`` (default zeros: starts as a ReLU).
        alpha_regularizer: optional penalty on ``alpha``.
        shared_axes: axes along which ``alpha`` is shared, or None.

    Example:
        >>> layer = PReLU(shared_axes=[1])
        >>> layer(np.ones((2, 5, 3))).shape, layer.alpha.shape
        ((2, 5, 3), (1, 3))
    """

    supports_masking = True

    def __init__(
        self,
        alpha_initializer: Any = "zeros",
        alpha_regularizer: Any = None,
        shared_axes: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers_module.get(alpha_initializer)
        self.alpha_regularizer = regularizers_module.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (int, xp.integer)):
            self.shared_axes = (int(shared_axes),)
        else:
            self.shared_axes = tuple(int(a) for a in shared_axes)
        self.alpha = None

    def build(self, input_shape: tuple) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(
                    f"Layer '{self.name}' (PReLU) shared_axes must lie in 1..{len(shape)} for "
                    f"inputs of shape {tuple(input_shape)}, got {self.shared_axes}."
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (PReLU) needs every non-shared input dimension known, got "
                f"input shape {tuple(input_shape)}; share the unknown axes with shared_axes."
            )
        self.alpha = self.add_weight(
            "alpha", tuple(shape), self.alpha_initializer, regularizer=self.alpha_regularizer
        )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        # Keras's formula: relu(x) - alpha * relu(-x)
        negative = F.multiply(self.alpha, F.relu(F.negative(inputs)))
        return F.subtract(F.relu(inputs), negative)

    def get_config(self) -> dict:
        config = super().get_config()
        regularizer = self.alpha_regularizer
        config.update(
            alpha_initializer=initializers_module.serialize(self.alpha_initializer),
            alpha_regularizer=None if regularizer is None else registry.serialize(regularizer),
            shared_axes=None if self.shared_axes is None else list(self.shared_axes),
        )
        return config


@register("layer", "ELU")
class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: scale of the negative part.

    Example:
        >>> ELU(alpha=1.0)(np.array([[-1.0, 2.0]]))   # [[-0.632, 2.0]]
    """

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return F.elu(inputs, self.alpha)

    def get_config(self) -> dict:
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


@register("layer", "Softmax")
class Softmax(Layer):
    """Softmax along ``axis`` (an int, or a list of ints to normalise over several axes).

    Example:
        >>> Softmax()(np.array([[1.0, 1.0]]))   # [[0.5, 0.5]]
    """

    supports_masking = True

    def __init__(self, axis: int | list = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = tuple(int(a) for a in axis)
        else:
            self.axis = int(axis)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if isinstance(self.axis, int):
            return F.softmax(inputs, self.axis)
        # several axes: exp(x - logsumexp(x)), shift-invariant and overflow-free
        return F.exp(F.subtract(inputs, F.logsumexp(inputs, axis=self.axis, keepdims=True)))

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis if isinstance(self.axis, int) else list(self.axis)
        return config


@register("layer", "Identity")
class Identity(Layer):
    """Returns its input unchanged (a placeholder in model-building code).

    Example:
        >>> Identity()(np.ones((2, 3))).shape
        (2, 3)
    """

    supports_masking = True

    def call(self, inputs, training: bool = False):
        return inputs


@register("layer", "Masking")
class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value``.

    Inputs are ``(batch, time, features)``. The mask (True where some feature differs from
    ``mask_value``) is attached to the output, so recurrent layers downstream skip those steps;
    the masked steps themselves are zeroed in the output, as in Keras.

    Args:
        mask_value: the padding value.

    Example:
        >>> model = Sequential([Masking(0.0), LSTM(8)])   # zero-padded steps are skipped
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        data = inputs.data if isinstance(inputs, Tensor) else xp.asarray(inputs)
        return xp.any(data != self.mask_value, axis=-1)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        mask = self.compute_mask(inputs)
        keep = xp.expand_dims(mask, -1).astype(inputs.dtype)
        return attach_mask(F.multiply(inputs, keep), mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


@register("layer", "Rescaling")
class Rescaling(Layer):
    """Rescales inputs: ``inputs * scale + offset`` (e.g. pixels to [0, 1] with 1/255).

    Args:
        scale: a number, or a list broadcast against the last axes.
        offset: a number, or a list broadcast against the last axes.

    Example:
        >>> Rescaling(1.0 / 255)(np.full((1, 2), 255.0))   # [[1.0, 1.0]]
    """

    supports_masking = True

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(scale, "scale")
        self.offset = _number_or_list(offset, "offset")

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        scale = xp.asarray(self.scale, dtype=inputs.dtype)
        offset = xp.asarray(self.offset, dtype=inputs.dtype)
        return F.add(F.multiply(inputs, scale), offset)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


def _number_or_list(value, what: str):
    """A float, or a nested list of floats (JSON-ready), from a number, list or array."""
    array = xp.asarray(value, dtype=xp.float64)
    if array.ndim == 0:
        return float(array)
    if array.size == 0:
        raise ValueError(f"Rescaling {what} must be a number or a non-empty list, got {value!r}.")
    return array.tolist()


@register("layer", "Lambda")
class Lambda(Layer):
    """Wraps a function of tensors as a layer: ``function(inputs, **arguments)``.

    A Lambda works in memory; it is saved only when ``function`` is registered (with
    ``axonal.saving.register_serializable``), by name — never as code. For anything beyond a
    one-liner, subclass ``Layer`` instead.

    Args:
        function: takes the input tensor (or list of tensors) and returns a tensor.
        output_shape: shape of one output sample (batch excluded), or a function of the input
            shape; None: found by running ``function`` on zeros.
        arguments: extra keyword arguments passed to ``function``.

    Example:
        >>> double = Lambda(lambda x: x * 2.0)
        >>> double(np.ones((1, 2)))   # [[2.0, 2.0]]
    """

    def __init__(
        self,
        function: Callable,
        output_shape: Any = None,
        arguments: dict | None = None,
        mask: Any = None,
        **kwargs,
    ):
        if not callable(function):
            raise TypeError(f"Lambda needs a callable function, got {function!r}.")
        super().__init__(**kwargs)
        self.function = function
        if output_shape is None or callable(output_shape):
            self.output_shape = output_shape
        else:
            self.output_shape = tuple(None if d is None else int(d) for d in output_shape)
        self.arguments = dict(arguments or {})
        self.mask = mask

    def call(self, inputs, training: bool = False):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if callable(self.output_shape):
            return tuple(self.output_shape(input_shape))
        if self.output_shape is not None:
            return (_batch_of(input_shape),) + self.output_shape
        return self._probe_output_shape(input_shape)

    def _probe_output_shape(self, input_shape):
        """Run the function on zeros twice, unknown sizes as 2 then 3; what varies is unknown."""
        shapes = []
        for fill in (2, 3):
            with no_grad():
                out = self.call(_zeros_like_shape(input_shape, fill, self.dtype))
            if isinstance(out, (list, tuple)):
                shapes.append([tuple(o.shape) for o in out])
            else:
                shapes.append(tuple(out.shape))
        batch = _batch_of(input_shape)

        def merge(first, second):
            rest = tuple(a if a == b else None for a, b in zip(first[1:], second[1:], strict=True))
            return (batch,) + rest

        if isinstance(shapes[0], list):
            return [merge(a, b) for a, b in zip(shapes[0], shapes[1], strict=True)]
        return merge(shapes[0], shapes[1])

    def get_config(self) -> dict:
        name = _registered_function_name(self.function)
        if name is None:
            described = getattr(self.function, "__name__", repr(self.function))
            raise ValueError(
                f"Lambda layer '{self.name}' cannot be saved: its function {described!r} would "
                "have to be stored as code, which axonal never does. Register the function with "
                "axonal.saving.register_serializable() so it is saved by name, or replace the "
                "Lambda with a Layer subclass."
            )
        if callable(self.output_shape) or callable(self.mask):
            raise ValueError(
                f"Lambda layer '{self.name}' cannot be saved: its output_shape or mask is a "
                "function; give output_shape as a tuple, or use a Layer subclass."
            )
        config = super().get_config()
        config.update(
            function=name,
            output_shape=None if self.output_shape is None else list(self.output_shape),
            arguments=dict(self.arguments),
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> Lambda:
        config = dict(config)
        name = config.pop("function")
        if not isinstance(name, str):
            raise ValueError(
                "Cannot load a Lambda layer whose function is stored as code or an object "
                f"({type(name).__name__}); axonal loads Lambda functions only by registered "
                "name (axonal.saving.register_serializable)."
            )
        function = None
        for kind in _LAMBDA_KINDS:
            function = registry.get_entry(kind, name)
            if function is not None:
                break
        if function is None:
            raise ValueError(
                f"Cannot load Lambda layer {config.get('name', '')!r}: its function {name!r} is "
                "not registered. Register it with axonal.saving.register_serializable() "
                "before loading."
            )
        return cls(function, **config)


def _registered_function_name(function) -> str | None:
    """The name ``function`` is registered under in the Lambda kinds, or None."""
    for kind in _LAMBDA_KINDS:
        for name in registry.registered_names(kind):
            if registry.get_entry(kind, name) is function:
                return name
    return None


def _batch_of(input_shape):
    if isinstance(input_shape, list):
        return input_shape[0][0]
    return input_shape[0]


def _zeros_like_shape(input_shape, fill: int, dtype):
    """Zero tensors of ``input_shape`` (a list of shapes for several inputs), None -> ``fill``."""
    if isinstance(input_shape, list):
        return [_zeros_like_shape(tuple(s), fill, dtype) for s in input_shape]
    shape = tuple(fill if d is None else d for d in input_shape)
    return Tensor(xp.zeros(shape, dtype=dtype))


__all__ = [
    "ELU",
    "Identity",
    "Lambda",
    "LeakyReLU",
    "Masking",
    "PReLU",
    "ReLU",
    "Permute",
    "RepeatVector",
    "Rescaling",
    "Softmax",
]
