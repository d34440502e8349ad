"""The Layer base: settings in ``__init__``, weights in ``build``, maths in ``call``."""

from __future__ import annotations

import re
from typing import Any

from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import floatx, standardize_dtype, xp
from axonal.layers.masking import attach_mask, mask_of, masks_in_use
from axonal.layers.symbolic import Node, SymbolicTensor, is_symbolic
from axonal.tensor import Tensor, Variable, as_tensor

_NAME_COUNTS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """Return ``base`` the first time, then ``base_1``, ``base_2``… (Keras naming)."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Restart automatic naming (``dense``, ``dense_1``…) from scratch."""
    _NAME_COUNTS.clear()


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``; ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class of every layer.

    Subclasses store settings in ``__init__``, create weights in ``build(input_shape)`` with
    ``add_weight``, and compute outputs in ``call(inputs, training=False)``. The first call
    builds the layer from its input's shape.

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name (default: the class name in snake case, numbered).
        dtype: float type of the weights (default ``floatx()``).
        input_shape: shape of one sample, e.g. ``(4,)``; lets a Sequential build at once.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_input_shape / batch_size: Keras 2 spellings of the same.
    """

    # whether the input's timestep mask applies unchanged to the output (Keras's flag)
    supports_masking = False

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        input_shape: tuple | None = None,
        input_dim: int | None = None,
        batch_input_shape: tuple | None = None,
        batch_size: int | None = None,
        **kwargs,
    ):
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {bad}.")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"Layer name must be a non-empty string without '/', got {name!r}.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = standardize_dtype(dtype or floatx())
        self.built = False
        self._weights: list[Variable] = []
        self._regularized: list[tuple[Variable, Any]] = []
        self._batch_input_shape = _batch_shape(
            input_shape, input_dim, batch_input_shape, batch_size, self.name
        )
        self.input_shape_built: tuple | None = None
        self._symbolic_nodes: list = []

    # ------------------------------------------------------------ weights
    def add_weight(
        self,
        name: str,
        shape: tuple,
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
        regularizer: Any = None,
        dtype: Any = None,
    ) -> Variable:
        """Create a weight ``layer_name/name`` of ``shape`` and register it with the layer.

        Example:
            >>> self.kernel = self.add_weight("kernel", (n_in, self.units), "glorot_uniform")
        """
        init = initializers_module.get(initializer)
        dtype = standardize_dtype(dtype or self.dtype)
        shape = tuple(int(d) for d in shape)
        value = xp.asarray(init(shape, dtype=dtype), dtype=dtype)
        variable = Variable(value, name=name, path=f"{self.name}/{name}", trainable=trainable)
        self._weights.append(variable)
        reg = regularizers_module.get(regularizer)
        if reg is not None:
            self._regularized.append((variable, reg))
        return variable

    @property
    def weights(self) -> list[Variable]:
        """All weights, trainable first, each in creation order (Keras order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights updated by training (none when the layer is frozen)."""
        if not self.trainable:
            return []
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Weights training leaves alone (all of them when the layer is frozen)."""
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    @property
    def variables(self) -> list[Variable]:
        """Alias of ``weights``."""
        return self.weights

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in Keras order (Dense: kernel, bias)."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Set the weights from arrays in ``get_weights()`` order; all are checked first."""
        own = self.weights
        if len(weights) != len(own):
            listed = ", ".join(w.path for w in own) if len(own) <= 8 else f"{len(own)} arrays"
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects {len(own)} weight arrays "
                f"({listed or 'none'}), got {len(weights)}."
            )
        arrays = []
        for variable, value in zip(own, weights, strict=True):
            value = xp.asarray(value)
            if value.shape != variable.data.shape:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' weight '{variable.path}' has shape "
                    f"{variable.data.shape}, got an array of shape {value.shape}."
                )
            arrays.append(value)
        for variable, value in zip(own, arrays, strict=True):
            variable.data[...] = value

    def count_params(self) -> int:
        """Number of scalars in all weights."""
        return sum(int(w.data.size) for w in self.weights)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties of the weight regularizers, computed on the current weights."""
        return [reg(variable) for variable, reg in self._regularized]

    @property
    def losses(self) -> list[Tensor]:
        """Keras name for ``regularization_losses()``."""
        return self.regularization_losses()

    # ------------------------------------------------------------ building and calling
    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first, may be None)."""
        self.built = True

    def build_from_shape(self, input_shape) -> None:
        """Build once for ``input_shape`` (a list of shapes for layers with several inputs)."""
        if not self.built:
            shape = list(input_shape) if isinstance(input_shape, list) else tuple(input_shape)
            self.build(shape)
            self.built = True
            self.input_shape_built = shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Output shape for ``input_shape`` (default: unchanged)."""
        return tuple(input_shape)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        """The layer's computation (default: identity)."""
        return inputs

    def infer(self, inputs):
        """Inference on an array, returning an array (call it under ``no_grad``).

        The default runs ``call``; layers on the hot path of ``predict`` override it to skip
        the Tensor wrapping.
        """
        return self(inputs, training=False).data

    def __call__(self, inputs, training: bool = False, **kwargs):
        """Build on first use, then ``call``; arrays are converted to tensors of the layer dtype."""
        several = False
        if not isinstance(inputs, Tensor):
            if is_symbolic(inputs):
                return self._call_symbolic(inputs, kwargs)
            several = isinstance(inputs, (list, tuple))
            if several:
                inputs = [self._as_input_tensor(x) for x in inputs]
            else:
                inputs = self._as_input_tensor(inputs)
        if not self.built:
            if several:
                self.build_from_shape([(None,) + x.shape[1:] for x in inputs])
            else:
                self.build_from_shape((None,) + inputs.shape[1:])
        out = self.call(inputs, training=training, **kwargs)
        if masks_in_use() and not several and not isinstance(out, (list, tuple)):
            mask = mask_of(inputs)
            if mask is not None and mask_of(out) is None:
                attach_mask(out, self.compute_mask(inputs, mask))
        return out

    def compute_mask(self, inputs, mask=None):
        """The timestep mask of the output: the input's if ``supports_masking``, else None."""
        return mask if self.supports_masking else None

    def _as_input_tensor(self, x) -> Tensor:
        if isinstance(x, Tensor):
            return x
        return as_tensor(x, dtype=self.dtype if _is_float(x) else None)

    def _call_symbolic(self, inputs, kwargs: dict):
        """Record a call on symbolic tensors: build, infer the output shape, return symbols."""
        single = isinstance(inputs, SymbolicTensor)
        flat = [inputs] if single else list(inputs)
        shapes = flat[0].shape if single else [t.shape for t in flat]
        self.build_from_shape(shapes)
        out_shape = self.compute_output_shape(shapes)
        multiple = isinstance(out_shape, list)
        node = Node(self, flat, single, dict(kwargs))
        out_shapes = out_shape if multiple else [out_shape]
        node.outputs = [
            SymbolicTensor(shape, self.dtype, self.name, node, i)
            for i, shape in enumerate(out_shapes)
        ]
        # the calls in order: a shared layer's second call is node 1 in saved configs
        self._symbolic_nodes.append(node)
        return node.outputs if multiple else node.outputs[0]

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Constructor arguments as JSON values (rebuild with ``from_config``)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Rebuild a layer from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _is_float(x) -> bool:
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return kind is None or kind == "f"


def _batch_shape(input_shape, input_dim, batch_input_shape, batch_size, name) -> tuple | None:
    """The layer's declared batch input shape from Keras's several spellings, or None."""
    if batch_input_shape is not None:
        return tuple(None if d is None else int(d) for d in batch_input_shape)
    if input_shape is None and input_dim is not None:
        input_shape = (input_dim,)
    if input_shape is None:
        return None
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    for d in input_shape:
        if d is not None and (not isinstance(d, (int, xp.integer)) or d < 1):
            raise ValueError(
                f"Layer '{name}': input_shape must hold positive integers or None, "
                f"got {tuple(input_shape)}."
            )
    return (batch_size,) + tuple(None if d is None else int(d) for d in input_shape)
