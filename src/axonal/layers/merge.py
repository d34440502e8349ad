"""Merge layers: combine a list of tensors into one (Add, Concatenate, Dot, ...)."""

from __future__ import annotations

import functools

from axonal import functional as F
from axonal.layers.base import Layer
from axonal.registry import register
from axonal.tensor import Tensor


def _broadcast_shapes(shapes: list, layer_name: str) -> tuple:
    """The elementwise result shape of ``shapes`` (batch axis None-aware), or a clear error."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded, strict=True):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(
                f"Layer '{layer_name}' cannot combine inputs of shapes "
                f"{', '.join(str(tuple(s)) for s in shapes)}: they differ at an axis."
            )
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Base of the elementwise merges: a list of at least two same-shape tensors in, one out."""

    def _check_inputs(self, shapes) -> list:
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) merges a list of at least 2 "
                f"inputs, got {shapes!r}."
            )
        return shapes

    def build(self, input_shape) -> None:
        _broadcast_shapes(self._check_inputs(input_shape), self.name)
        self.built = True

    def compute_output_shape(self, input_shape) -> tuple:
        return _broadcast_shapes(self._check_inputs(input_shape), self.name)

    def call(self, inputs: list, training: bool = False) -> Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"Layer '{self.name}' expects a list of at least 2 inputs.")
        return self._merge(list(inputs))

    def _merge(self, inputs: list) -> Tensor:
        raise NotImplementedError


@register("layer", "Add")
class Add(_Merge):
    """Elementwise sum of a list of tensors.

    Example:
        >>> total = Add()([a, b])
    """

    def _merge(self, inputs):
        return functools.reduce(F.add, inputs)


@register("layer", "Subtract")
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check_inputs(self, shapes):
        shapes = super()._check_inputs(shapes)
        if len(shapes) != 2:
            raise ValueError(f"Layer '{self.name}' (Subtract) takes exactly 2 inputs.")
        return shapes

    def _merge(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"Layer '{self.name}' (Subtract) takes exactly 2 inputs.")
        return F.subtract(inputs[0], inputs[1])


@register("layer", "Multiply")
class Multiply(_Merge):
    """Elementwise product of a list of tensors."""

    def _merge(self, inputs):
        return functools.reduce(F.multiply, inputs)


@register("layer", "Average")
class Average(_Merge):
    """Elementwise mean of a list of tensors."""

    def _merge(self, inputs):
        return F.multiply(functools.reduce(F.add, inputs), 1.0 / len(inputs))


@register("layer", "Maximum")
class Maximum(_Merge):
    """Elementwise maximum of a list of tensors."""

    def _merge(self, inputs):
        return functools.reduce(F.maximum, inputs)


@register("layer", "Minimum")
class Minimum(_Merge):
    """Elementwise minimum of a list of tensors."""

    def _merge(self, inputs):
        return functools.reduce(F.minimum, inputs)


@register("layer", "Concatenate")
class Concatenate(Layer):
    """Joins a list of tensors along ``axis`` (default -1, the features).

    Example:
        >>> merged = Concatenate()([a, b])  # (batch, 3) and (batch, 5) -> (batch, 8)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape) -> tuple:
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate) needs a list of at least 2 inputs."
            )
        rank = len(input_shape[0])
        axis = self.axis % rank
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            if len(shape) != rank or any(
                i != axis and a is not None and b is not None and a != b
                for i, (a, b) in enumerate(zip(out, shape, strict=True))
            ):
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate, axis={self.axis}) needs inputs that "
                    "match on every other axis, got shapes "
                    f"{', '.join(str(tuple(s)) for s in input_shape)}."
                )
            out[axis] = (
                None if out[axis] is None or shape[axis] is None else out[axis] + shape[axis]
            )
        return tuple(out)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs: list, training: bool = False) -> Tensor:
        return F.concatenate(list(inputs), axis=self.axis)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config


@register("layer", "Dot")
class Dot(Layer):
    """Dot product of two tensors along ``axes`` (per sample); ``normalize`` for cosine.

    Args:
        axes: an int (the same axis of both) or a pair, counting the batch axis as 0.
        normalize: L2-normalise both inputs along the axes first.

    Example:
        >>> similarity = Dot(axes=1, normalize=True)([a, b])  # (batch, 1)
    """

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [int(a) for a in axes] if isinstance(axes, (list, tuple)) else int(axes)
        self.normalize = bool(normalize)

    def _pair(self, ranks) -> tuple[int, int]:
        axes = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        return axes[0] % ranks[0], axes[1] % ranks[1]

    def compute_output_shape(self, input_shape) -> tuple:
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"Layer '{self.name}' (Dot) takes exactly 2 inputs.")
        a, b = (tuple(s) for s in input_shape)
        axis_a, axis_b = self._pair((len(a), len(b)))
        if 0 in (axis_a, axis_b):
            raise ValueError(f"Layer '{self.name}' (Dot) cannot contract the batch axis.")
        if a[axis_a] is not None and b[axis_b] is not None and a[axis_a] != b[axis_b]:
            raise ValueError(
                f"Layer '{self.name}' (Dot) needs equal sizes on the contracted axes, got "
                f"{a} (axis {axis_a}) and {b} (axis {axis_b})."
            )
        rest = tuple(d for i, d in enumerate(a) if i not in (0, axis_a)) + tuple(
            d for i, d in enumerate(b) if i not in (0, axis_b)
        )
        return (a[0],) + (rest or (1,))

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs: list, training: bool = False) -> Tensor:
        a, b = inputs
        axis_a, axis_b = self._pair((a.ndim, b.ndim))
        out_shape = self.compute_output_shape([(None,) + a.shape[1:], (None,) + b.shape[1:]])
        if self.normalize:
            a = F.divide(a, F.sqrt(F.add(F.sum(F.square(a), axis=axis_a, keepdims=True), 1e-12)))
            b = F.divide(b, F.sqrt(F.add(F.sum(F.square(b), axis=axis_b, keepdims=True), 1e-12)))
        # move the contracted axis last in a and second-to-last in b: one batched matmul
        a = F.transpose(a, [i for i in range(a.ndim) if i != axis_a] + [axis_a])
        b = F.transpose(b, [0, axis_b] + [i for i in range(1, b.ndim) if i != axis_b])
        a3 = F.reshape(a, (a.shape[0], -1, a.shape[-1]))
        b3 = F.reshape(b, (b.shape[0], b.shape[1], -1))
        out = F.matmul(a3, b3)
        return F.reshape(out, (out.shape[0],) + tuple(out_shape[1:]))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config


def add(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Add``."""
    return Add(**kwargs)(inputs)


def concatenate(inputs: list, axis: int = -1, **kwargs) -> Tensor:
    """Functional form of ``Concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def subtract(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Subtract``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list, **kwargs) -> Tensor:
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def dot(inputs: list, axes, normalize: bool = False, **kwargs) -> Tensor:
    """Functional form of ``Dot``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
