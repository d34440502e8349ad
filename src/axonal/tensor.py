"""Tensor: an array, its gradient and the Function that made it; operators map to primitives."""

from __future__ import annotations

from collections.abc import Sequence

from axonal import autograd
from axonal import primitives as P
from axonal.backend import floatx, xp


class Tensor:
    """An array that records the operations applied to it, for reverse-mode differentiation.

    Args:
        data: array-like; floats default to ``floatx()`` unless ``dtype`` is given.
        requires_grad: whether ``backward`` should compute a gradient for this tensor.
        dtype: optional dtype for ``data``.

    Example:
        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        array([2., 4.], dtype=float32)
    """

    # _logits: (activation name, input) when made by softmax/sigmoid, for fused cross-entropy
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_logits", "__weakref__")
    # let NumPy defer to Tensor's reflected operators (ndarray + Tensor -> Tensor.__radd__)
    __array_priority__ = 100

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = requires_grad
        self._ctx = None

    # ------------------------------------------------------------ array-like surface
    @property
    def shape(self) -> tuple:
        """The array's shape."""
        return self.data.shape

    @property
    def dtype(self):
        """The array's dtype."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    def numpy(self):
        """Return the underlying array (not a copy)."""
        return self.data

    def item(self):
        """Return the single element as a Python number."""
        return self.data.item()

    def __array__(self, dtype=None, copy=None):
        # a reduction's data may be a NumPy scalar, which NumPy does not take from __array__
        data = xp.asarray(self.data)
        return data if dtype is None else data.astype(dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def __float__(self) -> float:
        return float(self.data)

    def detach(self) -> Tensor:
        """Return a tensor sharing the data but cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor (a scalar unless ``grad`` is given); frees the graph.

        As in PyTorch, each leaf that requires grad (every trainable ``Variable``) *adds* its
        gradient into ``.grad``: a second ``backward`` without clearing accumulates. Clear with
        ``optimizer.zero_grad(variables)`` or ``Tensor.zero_grad``. ``GradientTape.gradient``
        returns gradients instead and never touches ``.grad``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())."
            )
        g = None if grad is None else _as_array(grad, self.data.dtype)
        autograd.backward_from(self, g, retain_graph=retain_graph)

    # ------------------------------------------------------------ operators
    def __add__(self, other):
        return apply(P.Add, self, other)

    def __radd__(self, other):
        return apply(P.Add, other, self)

    def __sub__(self, other):
        return apply(P.Sub, self, other)

    def __rsub__(self, other):
        return apply(P.Sub, other, self)

    def __mul__(self, other):
        return apply(P.Mul, self, other)

    def __rmul__(self, other):
        return apply(P.Mul, other, self)

    def __truediv__(self, other):
        return apply(P.Div, self, other)

    def __rtruediv__(self, other):
        return apply(P.Div, other, self)

    def __pow__(self, other):
        if other == 2 and not isinstance(other, Tensor):
            return apply(P.Square, self)
        return apply(P.Pow, self, other)

    def __rpow__(self, other):
        return apply(P.Pow, other, self)

    def __matmul__(self, other):
        return apply(P.MatMul, self, other)

    def __rmatmul__(self, other):
        return apply(P.MatMul, other, self)

    def __neg__(self):
        return apply(P.Neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(P.Abs, self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        return apply(P.GetItem, self, index=index)

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, other):
        return self.data < _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    def __gt__(self, other):
        return self.data > _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)

    __hash__ = object.__hash__

    # ------------------------------------------------------------ methods
    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis``."""
        return apply(P.Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``."""
        return apply(P.Mean, self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Max over ``axis``."""
        return apply(P.Max, self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        """Min over ``axis``."""
        return apply(P.Min, self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape) -> Tensor:
        """Reshape (``t.reshape(2, 3)`` or ``t.reshape((2, 3))``)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(P.Reshape, self, shape=shape)

    def transpose(self, *axes) -> Tensor:
        """Permute axes (none given: reverse)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(P.Transpose, self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        """Axes reversed."""
        return apply(P.Transpose, self, axes=None)

    def astype(self, dtype) -> Tensor:
        """Cast to ``dtype`` (differentiable)."""
        return apply(P.Cast, self, dtype=xp.dtype(dtype))


class Variable(Tensor):
    """A trainable (or state) array owned by a layer, keyed by ``path`` such as ``dense/kernel``.

    Optimizers update ``data`` in place, so the array object stays the same for the model's life.
    """

    # grad_buffer: where backward may write this variable's gradient directly (a view of the
    # model's packed gradient buffer), sparing an allocation and a copy per step.
    # constraint: a projection the optimizer applies after each update (Keras's kernel_constraint)
    __slots__ = ("name", "path", "trainable", "grad_buffer", "constraint")

    def __init__(
        self,
        data,
        name: str,
        path: str | None = None,
        trainable: bool = True,
        constraint=None,
    ):
        super().__init__(data, requires_grad=trainable)
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.grad_buffer = None
        self.constraint = constraint

    @property
    def value(self):
        """The current array."""
        return self.data

    def assign(self, value) -> None:
        """Copy ``value`` into the variable in place; the shape must match."""
        value = xp.asarray(_data(value))
        if value.shape != self.data.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable '{self.path}' of "
                f"shape {self.data.shape}."
            )
        self.data[...] = value

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.data.shape} dtype={self.data.dtype}>"


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if isinstance(data, xp.ndarray):
        return data
    arr = xp.asarray(data)
    # Python floats and float lists become the default float; arrays keep their own dtype
    return arr.astype(floatx()) if arr.dtype.kind == "f" else arr


def apply(fn_cls, *inputs, **attrs):
    """Run primitive ``fn_cls`` on tensors/constants and record it when a gradient is needed.

    Constants: Python numbers pass as they are (NumPy keeps the tensor's dtype for them); float
    arrays and lists are cast to the first tensor's float dtype, so a float64 constant does not
    silently upcast a float32 graph.
    """
    arrays = []
    needs_grad = []
    tracked = False
    has_constant = False
    may_upcast = False
    for x in inputs:
        if isinstance(x, Tensor):
            arrays.append(x.data)
            wanted = x.requires_grad
            needs_grad.append(wanted)
            tracked = tracked or wanted
        else:
            arrays.append(x)
            needs_grad.append(False)
            has_constant = True
            # labels and indices (integer arrays) and absent inputs cannot upcast anything
            if x is not None and not (isinstance(x, xp.ndarray) and x.dtype.kind != "f"):
                may_upcast = True
    if may_upcast:
        _cast_constants(fn_cls, inputs, arrays)
    fn = fn_cls()
    recording = tracked and autograd._grad_enabled
    # set before forward: a primitive may skip saving what only its backward would read
    fn.needs_grad = needs_grad if recording else None
    result = Tensor.__new__(Tensor)
    result.data = fn.forward(*arrays, **attrs)
    result.grad = None
    if recording:
        fn.inputs = (
            [x if isinstance(x, Tensor) else None for x in inputs] if has_constant else inputs
        )
        result.requires_grad = True
        result._ctx = fn
    else:
        result.requires_grad = False
        result._ctx = None
    return result


def _cast_constants(fn_cls, inputs, arrays) -> None:
    ref = next((x.data.dtype for x in inputs if isinstance(x, Tensor)), None)
    if ref is None or ref.kind != "f" or fn_cls is P.GetItem:
        return
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            continue
        # NumPy scalars too: under NEP 50 a np.float64 upcasts a float32 array as an array does
        if isinstance(x, (xp.ndarray, xp.generic)):
            if x.dtype.kind == "f" and x.dtype != ref:
                arrays[i] = x.astype(ref)
        elif isinstance(x, (list, tuple)):
            arrays[i] = xp.asarray(x, dtype=ref)


def wrap(array) -> Tensor:
    """A constant Tensor holding ``array`` itself: no conversion, check or copy.

    For hot paths that already hold an ndarray of the right dtype; anything else goes through
    ``Tensor`` or ``as_tensor``.
    """
    tensor = Tensor.__new__(Tensor)
    tensor.data = array
    tensor.grad = None
    tensor.requires_grad = False
    tensor._ctx = None
    return tensor


def as_tensor(x, dtype=None) -> Tensor:
    """Return ``x`` if it is a Tensor (cast if ``dtype`` differs), else a new constant Tensor."""
    if isinstance(x, Tensor):
        if dtype is not None and x.data.dtype != xp.dtype(dtype):
            return x.astype(dtype)
        return x
    return Tensor(x, dtype=dtype)


def unwrap(x):
    """Return the array inside a Tensor, or ``x`` unchanged."""
    return x.data if isinstance(x, Tensor) else x


def unwrap_all(xs: Sequence) -> list:
    """Arrays of a sequence of tensors/constants."""
    return [unwrap(x) for x in xs]
