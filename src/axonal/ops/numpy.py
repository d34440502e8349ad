"""``keras.ops.numpy``: NumPy-style functions on Tensors (and arrays), Keras's names and defaults.

Differentiable where Keras's are (shape manipulation, gathers, ``einsum``, ``cumsum``, ``sort``,
``top_k`` values, ``norm``); comparisons, ``argmax`` and array creation return Tensors that carry
no gradient, as in every backend.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from axonal import functional as F
from axonal import primitives as P
from axonal.backend import floatx, standardize_dtype
from axonal.functional import (
    abs,
    absolute,
    add,
    broadcast_to,
    cast,
    clip,
    concatenate,
    divide,
    exp,
    expand_dims,
    log,
    log1p,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    power,
    reshape,
    sign,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    take,
    tanh,
    transpose,
    var,
    where,
)
from axonal.tensor import Tensor, apply, as_tensor


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _constant(values, dtype=None) -> Tensor:
    return Tensor(np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype))


def _float(dtype) -> str:
    return standardize_dtype(dtype or floatx())


# ---------------------------------------------------------------- conversion and shape


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array (a Tensor's array, not a copy)."""
    return _data(x)


def shape(x) -> tuple:
    """The shape of ``x`` as a tuple of ints (Keras's ``ops.shape``)."""
    return tuple(int(d) for d in np.shape(_data(x)))


def ndim(x) -> int:
    """The number of axes of ``x``."""
    return np.ndim(_data(x))


def size(x) -> int:
    """The number of entries of ``x``."""
    return int(np.size(_data(x)))


def stop_gradient(x) -> Tensor:
    """``x``'s values with no gradient flowing back through them."""
    return Tensor(_data(x))


# ---------------------------------------------------------------- creation


def zeros(shape, dtype=None) -> Tensor:
    """A Tensor of zeros (default ``floatx()``)."""
    return _constant(np.zeros(shape, dtype=_float(dtype)))


def ones(shape, dtype=None) -> Tensor:
    """A Tensor of ones (default ``floatx()``)."""
    return _constant(np.ones(shape, dtype=_float(dtype)))


def full(shape, fill_value, dtype=None) -> Tensor:
    """A Tensor of ``fill_value`` (default ``floatx()``)."""
    return _constant(np.full(shape, _data(fill_value), dtype=_float(dtype)))


def zeros_like(x, dtype=None) -> Tensor:
    """Zeros of ``x``'s shape (and dtype unless given)."""
    return _constant(np.zeros_like(_data(x), dtype=dtype))


def ones_like(x, dtype=None) -> Tensor:
    """Ones of ``x``'s shape (and dtype unless given)."""
    return _constant(np.ones_like(_data(x), dtype=dtype))


def full_like(x, fill_value, dtype=None) -> Tensor:
    """``fill_value`` in ``x``'s shape (and dtype unless given)."""
    return _constant(np.full_like(_data(x), _data(fill_value), dtype=dtype))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``: integers for integer arguments (int32, as
    Keras), else ``floatx()``."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start, step=step)
    if dtype is None:
        dtype = "int32" if values.dtype.kind in "iu" else floatx()
    return _constant(values, standardize_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, dtype=None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    return _constant(np.linspace(start, stop, num, endpoint=endpoint), _float(dtype))


def eye(n, m=None, k=0, dtype=None) -> Tensor:
    """The identity matrix (ones on diagonal ``k``)."""
    return _constant(np.eye(n, m, k, dtype=_float(dtype)))


def tri(n, m=None, k=0, dtype=None) -> Tensor:
    """Ones on and below diagonal ``k``."""
    return _constant(np.tri(n, m, k, dtype=_float(dtype)))


# ---------------------------------------------------------------- comparisons and logic


def _compare(fn):
    def compare(x1, x2) -> Tensor:
        return _constant(fn(_data(x1), _data(x2)))

    compare.__name__ = fn.__name__
    compare.__doc__ = f"Element-wise ``{fn.__name__}``, as booleans (no gradient)."
    return compare


equal = _compare(np.equal)
not_equal = _compare(np.not_equal)
less = _compare(np.less)
less_equal = _compare(np.less_equal)
greater = _compare(np.greater)
greater_equal = _compare(np.greater_equal)
logical_and = _compare(np.logical_and)
logical_or = _compare(np.logical_or)
logical_xor = _compare(np.logical_xor)


def logical_not(x) -> Tensor:
    """Element-wise not, as booleans."""
    return _constant(np.logical_not(_data(x)))


def isnan(x) -> Tensor:
    """Where ``x`` is NaN."""
    return _constant(np.isnan(_data(x)))


def isfinite(x) -> Tensor:
    """Where ``x`` is finite."""
    return _constant(np.isfinite(_data(x)))


def any(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - Keras's name
    """Whether any entry is true along ``axis``."""
    return _constant(np.any(_data(x), axis=axis, keepdims=keepdims))


def all(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - Keras's name
    """Whether every entry is true along ``axis``."""
    return _constant(np.all(_data(x), axis=axis, keepdims=keepdims))


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest entry along ``axis`` (int32, as Keras)."""
    return _constant(np.argmax(_data(x), axis=axis, keepdims=keepdims).astype(np.int32))


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """Index of the smallest entry along ``axis`` (int32, as Keras)."""
    return _constant(np.argmin(_data(x), axis=axis, keepdims=keepdims).astype(np.int32))


def argsort(x, axis=-1) -> Tensor:
    """Indices that sort ``x`` along ``axis`` (int32)."""
    return _constant(np.argsort(_data(x), axis=axis, kind="stable").astype(np.int32))


def floor(x) -> Tensor:
    """Round down (no gradient: the derivative is zero almost everywhere)."""
    return _constant(np.floor(_data(x)))


def ceil(x) -> Tensor:
    """Round up (no gradient)."""
    return _constant(np.ceil(_data(x)))


def round(x, decimals=0) -> Tensor:  # noqa: A001 - Keras's name
    """Round to ``decimals`` (no gradient)."""
    return _constant(np.round(_data(x), decimals))


# ---------------------------------------------------------------- differentiable reshaping


def tile(x, repeats) -> Tensor:
    """``x`` repeated ``repeats`` times along each axis (NumPy's ``tile``), differentiable."""
    x = as_tensor(x)
    reps = (repeats,) if isinstance(repeats, int) else tuple(int(r) for r in repeats)
    dims = x.data.shape
    if len(reps) < len(dims):
        reps = (1,) * (len(dims) - len(reps)) + reps
    if len(dims) < len(reps):
        x = F.reshape(x, (1,) * (len(reps) - len(dims)) + dims)
        dims = x.data.shape
    # (d0, d1...) -> (1, d0, 1, d1...) -> broadcast (r0, d0, r1, d1...) -> (r0*d0, r1*d1...)
    spread = F.reshape(x, tuple(v for d in dims for v in (1, d)))
    pairs = tuple(v for r, d in zip(reps, dims, strict=True) for v in (r, d))
    spread = F.broadcast_to(spread, pairs)
    return F.reshape(spread, tuple(r * d for r, d in zip(reps, dims, strict=True)))


def repeat(x, repeats: int, axis=None) -> Tensor:
    """Each entry repeated ``repeats`` times along ``axis`` (None: flattened first)."""
    x = as_tensor(x)
    if not isinstance(repeats, (int, np.integer)):
        raise ValueError("ops.repeat takes one int number of repeats in axonal.")
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    axis = axis % x.data.ndim
    dims = x.data.shape
    spread = F.expand_dims(x, axis + 1)
    spread = F.broadcast_to(spread, dims[: axis + 1] + (int(repeats),) + dims[axis + 1 :])
    return F.reshape(spread, dims[:axis] + (dims[axis] * int(repeats),) + dims[axis + 1 :])


def split(x, indices_or_sections, axis=0) -> list:
    """``x`` cut along ``axis`` into equal sections or at the given indices (differentiable)."""
    x = as_tensor(x)
    length = x.data.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if length % indices_or_sections:
            raise ValueError(f"Cannot split an axis of {length} into {indices_or_sections} parts.")
        step = length // int(indices_or_sections)
        cuts = list(range(step, length, step))
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = [0, *cuts, length]
    return [
        F.take(x, np.arange(lo, hi), axis=axis) for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    """``x`` with two axes exchanged."""
    x = as_tensor(x)
    axes = list(range(x.data.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return F.transpose(x, axes)


def moveaxis(x, source: int, destination: int) -> Tensor:
    """``x`` with axis ``source`` moved to ``destination``."""
    x = as_tensor(x)
    axes = list(range(x.data.ndim))
    axes.insert(destination % x.data.ndim, axes.pop(source % x.data.ndim))
    return F.transpose(x, axes)


def prod(x, axis=None, keepdims=False) -> Tensor:
    """Product along ``axis`` (differentiable where no entry is zero: exp(sum(log|x|)) sign)."""
    x = as_tensor(x)
    values = np.prod(x.data, axis=axis, keepdims=keepdims)
    if not x.requires_grad:
        return Tensor(values)
    magnitude = F.exp(F.sum(F.log(F.abs(x)), axis=axis, keepdims=keepdims))
    return F.multiply(magnitude, np.sign(values).astype(x.data.dtype))


# ---------------------------------------------------------------- gathers, sums, products


def take_along_axis(x, indices, axis=-1) -> Tensor:
    """Entries of ``x`` at ``indices`` along ``axis`` (differentiable in ``x``)."""
    return apply(P.TakeAlongAxis, as_tensor(x), np.asarray(_data(indices)), axis=axis)


def cumsum(x, axis=None, dtype=None) -> Tensor:
    """Cumulative sum along ``axis`` (None: over the flattened array)."""
    out = apply(P.CumSum, as_tensor(x), axis=axis)
    return out if dtype is None else F.cast(out, dtype)


def sort(x, axis=-1) -> Tensor:
    """``x`` sorted along ``axis`` (differentiable: the gradient follows each entry)."""
    x = as_tensor(x)
    return take_along_axis(x, np.argsort(x.data, axis=axis, kind="stable"), axis=axis)


def einsum(subscripts: str, *operands) -> Tensor:
    """Einstein summation. One or two operands; the gradient needs the explicit ``->`` form
    and no index repeated within an operand (one operand runs as two, with a scalar one)."""
    if len(operands) not in (1, 2):
        raise ValueError(f"ops.einsum takes one or two operands in axonal, got {len(operands)}.")
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    parts = inputs.split(",")
    if not arrow or "." in spec or builtins.any(len(set(p)) != len(p) for p in parts):
        if builtins.any(isinstance(o, Tensor) and o.requires_grad for o in operands):
            raise ValueError(
                f"ops.einsum({subscripts!r}) is differentiable in axonal only with explicit "
                "output subscripts ('ij,jk->ik'), no '...' and no index repeated in an operand."
            )
        return Tensor(np.einsum(subscripts, *[_data(o) for o in operands]))
    tensors = [as_tensor(o) for o in operands]
    if len(tensors) == 1:
        one = np.ones((), dtype=tensors[0].data.dtype)
        return apply(P.Einsum, tensors[0], one, operands=(parts[0], ""), output=output)
    return apply(P.Einsum, tensors[0], tensors[1], operands=(parts[0], parts[1]), output=output)


def tensordot(x1, x2, axes=2) -> Tensor:
    """``tensordot`` (contract the last ``axes`` of ``x1`` with the first of ``x2``), via
    ``einsum``."""
    a, b = as_tensor(x1), as_tensor(x2)
    letters = "abcdefghijklmnopqrstuvwxyz"
    na, nb = a.data.ndim, b.data.ndim
    if isinstance(axes, int):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a = [d % na for d in np.atleast_1d(axes[0])]
        axes_b = [d % nb for d in np.atleast_1d(axes[1])]
    sa = list(letters[:na])
    sb = list(letters[na : na + nb])
    for i, j in zip(axes_a, axes_b, strict=True):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in axes_a] + [
        c for j, c in enumerate(sb) if j not in axes_b
    ]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def get_item(x, key) -> Tensor:
    """``x[key]`` (ints, slices, ``...``, ``None`` and index arrays), differentiable; what
    ``x[:, 0]`` on a symbolic tensor records."""
    return as_tensor(x)[key]


def dot(x1, x2) -> Tensor:
    """NumPy's ``dot`` for vectors and matrices (``matmul``)."""
    return F.matmul(as_tensor(x1), as_tensor(x2))


def top_k(x, k: int, sorted: bool = True) -> tuple:  # noqa: A002 - Keras's name
    """The ``k`` largest entries along the last axis and their indices (values
    differentiable)."""
    x = as_tensor(x)
    order = np.argsort(-x.data, axis=-1, kind="stable")[..., :k]
    return take_along_axis(x, order, axis=-1), _constant(order.astype(np.int32))


def norm(x, ord=None, axis=None, keepdims=False) -> Tensor:  # noqa: A002 - Keras's name
    """The 2-norm (default), 1-norm or max-norm along ``axis`` (differentiable)."""
    x = as_tensor(x)
    if ord in (None, 2, "fro", "euclidean"):
        return F.sqrt(F.sum(F.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return F.sum(F.abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf"):
        return F.max(F.abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"ops.norm supports ord None, 2, 1 and inf in axonal, got {ord!r}.")


def tril(x, k: int = 0) -> Tensor:
    """``x`` with entries above diagonal ``k`` zeroed (differentiable)."""
    x = as_tensor(x)
    keep = np.tri(*x.data.shape[-2:], k, dtype=x.data.dtype)
    return F.multiply(x, keep)


def triu(x, k: int = 0) -> Tensor:
    """``x`` with entries below diagonal ``k`` zeroed (differentiable)."""
    x = as_tensor(x)
    keep = 1 - np.tri(*x.data.shape[-2:], k - 1, dtype=x.data.dtype)
    return F.multiply(x, keep)


def average(x, axis=None, weights=None) -> Tensor:
    """The (weighted) mean along ``axis``."""
    x = as_tensor(x)
    if weights is None:
        return F.mean(x, axis=axis)
    w = np.asarray(_data(weights), dtype=x.data.dtype)
    if axis is not None and w.ndim == 1:
        w = w.reshape([-1 if i == axis % x.data.ndim else 1 for i in range(x.data.ndim)])
    total = np.sum(np.broadcast_to(w, x.data.shape), axis=axis)
    return F.divide(F.sum(F.multiply(x, w), axis=axis), Tensor(total))


def log2(x) -> Tensor:
    """Base-2 logarithm."""
    return F.divide(F.log(as_tensor(x)), math.log(2.0))


def log10(x) -> Tensor:
    """Base-10 logarithm."""
    return F.divide(F.log(as_tensor(x)), math.log(10.0))


def reciprocal(x) -> Tensor:
    """``1 / x``."""
    return F.divide(1.0, as_tensor(x))


def mod(x1, x2) -> Tensor:
    """The remainder of ``x1 / x2`` (no gradient)."""
    return _constant(np.mod(_data(x1), _data(x2)))


def true_divide(x1, x2) -> Tensor:
    """``x1 / x2``."""
    return F.divide(x1, x2)


__all__ = [
    "abs", "absolute", "add", "all", "any", "arange", "argmax", "argmin", "argsort", "average",
    "broadcast_to", "cast", "ceil", "clip", "concatenate", "convert_to_numpy", "cumsum",
    "divide", "dot", "einsum", "equal", "exp", "expand_dims", "eye", "floor", "full",
    "full_like", "get_item", "greater", "greater_equal", "isfinite", "isnan", "less", "less_equal",
    "linspace", "log", "log10", "log1p", "log2", "logical_and", "logical_not", "logical_or",
    "logical_xor", "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "moveaxis",
    "multiply", "ndim", "negative", "norm", "not_equal", "ones", "ones_like", "power", "prod",
    "reciprocal", "repeat", "reshape", "round", "shape", "sign", "size", "sort", "split",
    "sqrt", "square", "squeeze", "stack", "std", "stop_gradient", "subtract", "sum",
    "swapaxes", "take", "take_along_axis", "tanh", "tensordot", "tile", "top_k", "transpose",
    "tri", "tril", "triu", "true_divide", "var", "where", "zeros", "zeros_like",
]  # fmt: skip
