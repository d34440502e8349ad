"""Symbolic tensors: what ``Input`` returns and what layers return when called on one.

Calling a layer on a symbolic tensor runs no maths: it builds the layer for the input's shape,
records a ``Node`` (the layer, its inputs, its outputs) and returns symbolic outputs carrying
the output shape. A functional ``Model(inputs, outputs)`` walks these nodes.
"""

from __future__ import annotations

from typing import Any


def shape_str(shape) -> str:
    """A shape as Keras prints it: ``(None, 4)``."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class SymbolicTensor:
    """A placeholder with a batch shape and dtype; ``node`` is the call that produced it.

    Args:
        shape: batch shape, batch axis first (usually None).
        dtype: dtype name.
        name: the producing layer's name (an ``Input``'s own name for inputs).
        node: the ``Node`` that produced it, None for an ``Input``.
        index: which output of that node it is.
    """

    __slots__ = ("shape", "dtype", "name", "node", "index")

    def __init__(self, shape: tuple, dtype: str, name: str, node=None, index: int = 0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node
        self.index = index

    # ops in axonal.ops recognise symbolic tensors by this flag (no import needed)
    _axonal_symbolic = True

    @property
    def ndim(self) -> int:
        """Number of axes, batch included."""
        return len(self.shape)

    # Python operators become graph nodes (TensorOperation layers); ``+=`` rebinds via ``+``
    def __add__(self, other):
        return _op("add", self, other)

    def __radd__(self, other):
        return _op("add", other, self)

    def __sub__(self, other):
        return _op("subtract", self, other)

    def __rsub__(self, other):
        return _op("subtract", other, self)

    def __mul__(self, other):
        return _op("multiply", self, other)

    def __rmul__(self, other):
        return _op("multiply", other, self)

    def __truediv__(self, other):
        return _op("divide", self, other)

    def __rtruediv__(self, other):
        return _op("divide", other, self)

    def __matmul__(self, other):
        return _op("matmul", self, other)

    def __rmatmul__(self, other):
        return _op("matmul", other, self)

    def __pow__(self, other):
        return _op("power", self, other)

    def __getitem__(self, key):
        """``x[:, 0]``, ``x[..., :8]``: a ``get_item`` node in the functional graph."""
        return _op("get_item", self, key)

    def __neg__(self):
        return _op("negative", self)

    def __abs__(self):
        return _op("abs", self)

    def __repr__(self) -> str:
        return f"<SymbolicTensor name={self.name} shape={shape_str(self.shape)} dtype={self.dtype}>"


def _op(name: str, *args):
    from axonal.layers.base import symbolic_op

    return symbolic_op(name, args, {})


class Node:
    """One call of ``layer`` on symbolic inputs: what a functional model replays.

    ``single`` says whether the layer was called with one tensor (not a list), so replaying
    passes the same structure; the ``extra_args`` inputs after the first were positional
    arguments after it (``layer(logits, targets)``); the last inputs are tensors given by
    keyword (``attention_mask=mask``, ``mask=[None, value_mask]``), one per slot of
    ``tensor_kwargs`` (see ``split_tensor_kwargs``). ``kwargs`` holds the other keyword
    arguments.
    """

    __slots__ = ("layer", "inputs", "single", "outputs", "kwargs", "extra_args", "tensor_kwargs")

    def __init__(
        self,
        layer,
        inputs: list,
        single: bool,
        kwargs: dict[str, Any],
        extra_args: int = 0,
        tensor_kwargs: tuple = (),
    ):
        self.layer = layer
        self.inputs = inputs
        self.single = single
        self.outputs: list[SymbolicTensor] = []
        self.kwargs = kwargs
        self.extra_args = extra_args
        self.tensor_kwargs = tuple(tensor_kwargs)

    @property
    def positional(self) -> list:
        """The inputs passed positionally (the first argument's tensors, then extra args)."""
        return self.inputs[: len(self.inputs) - len(self.tensor_kwargs)]

    def call_args(self, values: list) -> tuple:
        """``(inputs, *extra args)`` for replaying this call on ``values`` (one per input)."""
        values = values[: len(values) - len(self.tensor_kwargs)]
        count = len(values) - self.extra_args
        first = values[0] if self.single else values[:count]
        return (first, *values[count:])

    def call_kwargs(self, values: list) -> dict:
        """The keyword arguments for replaying this call on ``values`` (one per input)."""
        if not self.tensor_kwargs:
            return self.kwargs
        given = values[len(values) - len(self.tensor_kwargs) :]
        return join_tensor_kwargs(self.kwargs, self.tensor_kwargs, given)


def split_tensor_kwargs(kwargs: dict, where: str) -> tuple[dict, tuple, list]:
    """``(other kwargs, slots, tensors)``: the symbolic tensors among a call's keyword
    arguments, alone (``attention_mask=mask``: slot ``'attention_mask'``) or in a list
    (``mask=[None, m]``: slot ``('mask', 1, 2)``, index and length), one slot per tensor.

    ``where`` names the layer in the error for a list mixing tensors with other values.
    """
    plain, slots, tensors = {}, [], []
    for key, value in kwargs.items():
        if isinstance(value, SymbolicTensor):
            slots.append(key)
            tensors.append(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, SymbolicTensor) for v in value):
            if not all(v is None or isinstance(v, SymbolicTensor) for v in value):
                raise TypeError(
                    f"{where} was called with {key}= a list mixing symbolic tensors with other "
                    "values; give tensors (or None) only."
                )
            for i, v in enumerate(value):
                if v is not None:
                    slots.append((key, i, len(value)))
                    tensors.append(v)
        else:
            plain[key] = value
    return plain, tuple(slots), tensors


def join_tensor_kwargs(kwargs: dict, slots: tuple, values: list) -> dict:
    """``kwargs`` with the ``values`` put back in their ``slots`` (``split_tensor_kwargs``)."""
    out = dict(kwargs)
    for slot, value in zip(slots, values, strict=True):
        if isinstance(slot, str):
            out[slot] = value
            continue
        key, index, length = slot
        items = out.setdefault(key, [None] * length)
        items[index] = value
    return out


def is_symbolic(inputs) -> bool:
    """Whether ``inputs`` is a symbolic tensor or a non-empty list/tuple of them."""
    if isinstance(inputs, SymbolicTensor):
        return True
    return (
        isinstance(inputs, (list, tuple))
        and bool(inputs)
        and all(isinstance(t, SymbolicTensor) for t in inputs)
    )
