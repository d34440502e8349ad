"""``keras.ops.numpy``: NumPy-style functions on Tensors (and arrays), every name of Keras 3's
``keras.ops.numpy`` with its signature and defaults.

Differentiable where Keras's are on the torch backend (element-wise maths, reductions and
quantiles, shape manipulation, joins and splits, pads, gathers, ``einsum``, ``cumsum`` /
``cumprod``, ``sort``, ``top_k`` values, ``norm``, ``kron`` / ``cross`` / ``correlate``,
``slogdet``'s log); comparisons, bitwise and integer maths, index results (``argmax``,
``searchsorted``, ``unique``...) and array creation return Tensors that carry no gradient, as in
every backend.

Output dtypes follow Keras: float results of integer or boolean inputs are ``floatx()``, index
results int32. One deliberate difference: Keras's ``result_type`` turns 64-bit results into
32-bit ones (JAX's default) in some ops (``logaddexp``, ``quantile``...); axonal keeps a float64
input's precision everywhere.
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
    broadcast_to,
    cast,
    concatenate,
    expand_dims,
    negative,
    reshape,
    squeeze,
    transpose,
)
from axonal.primitives import numpy_ops as NP
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


def arange(start, stop=None, step=None, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)`` (``step`` default 1): integers for integer
    arguments (int32, as Keras), else ``floatx()``."""
    step = 1 if step is None else step
    values = np.arange(start, stop, step) if stop is not None else np.arange(start, step=step)
    if dtype is None:
        dtype = "int32" if values.dtype.kind in "iu" else floatx()
    return _constant(values, standardize_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (array bounds: along ``axis``);
    with ``retstep`` also the spacing."""
    values, step = np.linspace(
        _data(start), _data(stop), num, endpoint=endpoint, retstep=True, axis=axis
    )
    out = _constant(values, _float(dtype))
    if not retstep:
        return out
    # the spacing: a Python float for scalar bounds, as Keras returns it
    return out, (float(step) if np.ndim(step) == 0 else _constant(step, _float(dtype)))


def eye(N, M=None, k=0, dtype=None) -> Tensor:  # noqa: N803 - Keras's names
    """The ``N`` × ``M`` identity matrix (ones on diagonal ``k``)."""
    return _constant(np.eye(N, M, k, dtype=_float(dtype)))


def tri(N, M=None, k=0, dtype=None) -> Tensor:  # noqa: N803 - Keras's names
    """Ones on and below diagonal ``k`` of an ``N`` × ``M`` matrix."""
    return _constant(np.tri(N, M, k, dtype=_float(dtype)))


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
    """Round down (no gradient: the derivative is zero almost everywhere); integers give
    ``floatx()``, as Keras."""
    return _constant(np.floor(_data(x)).astype(_float_dtype(x)))


def ceil(x) -> Tensor:
    """Round up (no gradient); integers give ``floatx()``."""
    return _constant(np.ceil(_data(x)).astype(_float_dtype(x)))


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


def prod(x, axis=None, keepdims=False, dtype=None) -> Tensor:
    """Product along ``axis`` (differentiable where no entry is zero: exp(sum(log|x|)) sign),
    cast to ``dtype`` when given."""
    x = as_tensor(x)
    values = np.prod(x.data, axis=_axis_arg(axis), keepdims=keepdims)
    if not x.requires_grad:
        out = Tensor(values)
    else:
        magnitude = F.exp(F.sum(F.log(F.abs(x)), axis=axis, keepdims=keepdims))
        out = F.multiply(magnitude, np.sign(values).astype(x.data.dtype))
    return _sum_dtype(out, x) if dtype is None else F.cast(out, standardize_dtype(dtype))


# ---------------------------------------------------------------- gathers, sums, products


def take_along_axis(x, indices, axis=None) -> Tensor:
    """Entries of ``x`` at ``indices`` along ``axis`` (None: of the flattened ``x``),
    differentiable in ``x``."""
    x = as_tensor(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    return apply(P.TakeAlongAxis, x, np.asarray(_data(indices)), axis=axis)


def cumsum(x, axis=None, dtype=None) -> Tensor:
    """Cumulative sum along ``axis`` (None: over the flattened array), in ``x``'s dtype
    (booleans as int32) unless ``dtype`` is given."""
    x = as_tensor(x)
    if x.data.dtype == np.bool_:
        x = F.cast(x, "int32")
    out = apply(P.CumSum, x, axis=axis)
    # NumPy accumulates small integers as int64; Keras keeps the input's type
    wanted = np.dtype(standardize_dtype(dtype)) if dtype is not None else x.data.dtype
    return out if out.data.dtype == wanted else F.cast(out, wanted)


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
    return F.matmul(*_operands(x1, x2, tensors=True))


def top_k(x, k: int, sorted: bool = True) -> tuple:  # noqa: A002 - Keras's name
    """The ``k`` largest entries along the last axis and their indices (values
    differentiable)."""
    x = as_tensor(x)
    order = np.argsort(-x.data, axis=-1, kind="stable")[..., :k]
    return take_along_axis(x, order, axis=-1), _constant(order.astype(np.int32))


def norm(x, ord=None, axis=None, keepdims=False) -> Tensor:  # noqa: A002 - Keras's name
    """The 2-norm (default), 1-norm or max-norm along ``axis`` (differentiable)."""
    x = _floating(x)
    axis = _axis_arg(axis)
    if ord in (None, 2, "fro", "euclidean"):
        return F.sqrt(F.sum(F.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return F.sum(F.abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf"):
        return F.max(F.abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"ops.norm supports ord None, 2, 1 and inf in axonal, got {ord!r}.")


def tril(x, k: int = 0) -> Tensor:
    """``x`` with entries above diagonal ``k`` zeroed (differentiable, dtype kept)."""
    x = as_tensor(x)
    keep = np.tri(*x.data.shape[-2:], k, dtype=bool)
    return F.where(keep, x, np.zeros((), x.data.dtype))


def triu(x, k: int = 0) -> Tensor:
    """``x`` with entries below diagonal ``k`` zeroed (differentiable, dtype kept)."""
    x = as_tensor(x)
    keep = ~np.tri(*x.data.shape[-2:], k - 1, dtype=bool)
    return F.where(keep, x, np.zeros((), x.data.dtype))


def average(x, axis=None, weights=None) -> Tensor:
    """The (weighted) mean along ``axis``."""
    x = _floating(x)
    if weights is None:
        return F.mean(x, axis=axis)
    w = np.asarray(_data(weights), dtype=x.data.dtype)
    if axis is not None and w.ndim == 1:
        w = w.reshape([-1 if i == axis % x.data.ndim else 1 for i in range(x.data.ndim)])
    total = np.sum(np.broadcast_to(w, x.data.shape), axis=axis)
    return F.divide(F.sum(F.multiply(x, w), axis=axis), Tensor(total))


def log2(x) -> Tensor:
    """Base-2 logarithm."""
    return F.divide(F.log(_floating(x)), math.log(2.0))


def log10(x) -> Tensor:
    """Base-10 logarithm."""
    return F.divide(F.log(_floating(x)), math.log(10.0))


def reciprocal(x) -> Tensor:
    """``1 / x``."""
    return F.divide(1.0, _floating(x))


def mod(x1, x2) -> Tensor:
    """The remainder of ``x1 / x2`` (no gradient)."""
    a, b = _operands(x1, x2)
    a, b = (t.data if isinstance(t, Tensor) else t for t in (a, b))
    return _constant(np.asarray(np.mod(a, b)))


def true_divide(x1, x2) -> Tensor:
    """``x1 / x2`` (float: integers give ``floatx()``)."""
    return divide(x1, x2)


# ---------------------------------------------------------------- Keras's dtypes for arithmetic
# The functional ops follow NumPy's promotion (int32 + float32 -> float64, exp(int) -> float64);
# the public ones follow Keras's: a float input's dtype wins over integers, constants adopt the
# tensors' float dtype, and float functions of integers give floatx().


def _operands(x1, x2, float_result: bool = False, tensors: bool = False) -> tuple:
    """``x1`` and ``x2`` in Keras's common dtype: Tensors and arrays cast (differentiably),
    Python numbers left as they are (NumPy keeps the array's dtype for them)."""
    typed = [x for x in (x1, x2) if isinstance(x, (Tensor, np.ndarray, np.generic))]
    tensor_floats = [
        t.data.dtype for t in typed if isinstance(t, Tensor) and t.data.dtype.kind == "f"
    ]
    array_floats = [np.asarray(x).dtype for x in typed if not isinstance(x, Tensor)]
    array_floats = [d for d in array_floats if d.kind == "f"]
    weak_float = builtins.any(
        isinstance(x, float) or (isinstance(x, (list, tuple)) and np.asarray(x).dtype.kind == "f")
        for x in (x1, x2)
    )
    if tensor_floats or array_floats:
        dtype = np.result_type(*(tensor_floats or array_floats))
    elif weak_float:
        dtype = np.dtype(floatx())
    elif not typed:
        dtype = np.dtype("int32")  # Python ints alone: Keras's int32
    else:
        dtype = np.result_type(
            *[
                _data(x) if isinstance(x, (Tensor, np.ndarray, np.generic, list, tuple)) else x
                for x in (x1, x2)
            ]
        )
    if float_result and dtype.kind != "f":
        dtype = np.dtype(floatx())
    # two Python numbers: NumPy would compute in int64 / float64, so they become Tensors
    tensors = tensors or not typed

    def convert(x):
        if isinstance(x, Tensor):
            return x if x.data.dtype == dtype else F.cast(x, dtype)
        if isinstance(x, (bool, int, float)) and not tensors:
            return x
        return Tensor(np.asarray(_data(x), dtype=dtype))

    return convert(x1), convert(x2)


def add(x1, x2) -> Tensor:
    """``x1 + x2`` element-wise (broadcasting)."""
    return F.add(*_operands(x1, x2))


def subtract(x1, x2) -> Tensor:
    """``x1 - x2`` element-wise (broadcasting)."""
    return F.subtract(*_operands(x1, x2))


def multiply(x1, x2) -> Tensor:
    """``x1 * x2`` element-wise (broadcasting)."""
    return F.multiply(*_operands(x1, x2))


def divide(x1, x2) -> Tensor:
    """``x1 / x2`` element-wise (float: integers give ``floatx()``)."""
    return F.divide(*_operands(x1, x2, float_result=True))


def power(x1, x2) -> Tensor:
    """``x1 ** x2`` element-wise."""
    return F.power(*_operands(x1, x2))


def maximum(x1, x2) -> Tensor:
    """The element-wise maximum."""
    return F.maximum(*_operands(x1, x2))


def minimum(x1, x2) -> Tensor:
    """The element-wise minimum."""
    return F.minimum(*_operands(x1, x2))


def matmul(x1, x2) -> Tensor:
    """The matrix product (batched over leading axes)."""
    return F.matmul(*_operands(x1, x2, tensors=True))


def exp(x) -> Tensor:
    """Element-wise ``e ** x``."""
    return F.exp(_floating(x))


def log(x) -> Tensor:
    """Element-wise natural logarithm."""
    return F.log(_floating(x))


def log1p(x) -> Tensor:
    """Element-wise ``log(1 + x)``, accurate near 0."""
    return F.log1p(_floating(x))


def sqrt(x) -> Tensor:
    """Element-wise square root."""
    return F.sqrt(_floating(x))


def tanh(x) -> Tensor:
    """Element-wise hyperbolic tangent."""
    return F.tanh(_floating(x))


def sign(x) -> Tensor:
    """The sign of each entry, -1, 0 or 1 in ``x``'s dtype (no gradient; booleans as they
    are)."""
    data = _data(x)
    return _constant(data.copy() if data.dtype == np.bool_ else np.sign(data))


def clip(x, x_min=None, x_max=None) -> Tensor:
    """``x`` limited to ``[x_min, x_max]`` (differentiable inside); integers clipped by float
    bounds become ``floatx()`` and booleans int32, as in Keras."""
    x = as_tensor(x)
    if x.data.dtype == np.bool_:
        x = F.cast(x, "int32")
    bounds = [b for b in (x_min, x_max) if b is not None]
    if x.data.dtype.kind != "f" and builtins.any(
        np.asarray(_data(b)).dtype.kind == "f" for b in bounds
    ):
        x = F.cast(x, floatx())
    return F.clip(x, x_min, x_max)


def square(x) -> Tensor:
    """Element-wise ``x * x`` (booleans as int32)."""
    x = as_tensor(x)
    return F.square(F.cast(x, "int32") if x.data.dtype == np.bool_ else x)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """The mean along ``axis`` (float: integers give ``floatx()``)."""
    return F.mean(_floating(x), axis=_axis_arg(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False) -> Tensor:
    """The population variance along ``axis``."""
    return F.var(_floating(x), axis=_axis_arg(axis), keepdims=keepdims)


def std(x, axis=None, keepdims=False) -> Tensor:
    """The population standard deviation along ``axis``."""
    return F.std(_floating(x), axis=_axis_arg(axis), keepdims=keepdims)


# ---------------------------------------------------------------- Keras's signatures


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - Keras's name
    """The sum along ``axis`` (None: of every entry); integers stay int32 as in Keras (NumPy
    would widen them to int64), booleans and small integers become int32."""
    x = as_tensor(x)
    return _sum_dtype(F.sum(x, axis=_axis_arg(axis), keepdims=keepdims), x)


def max(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001 - Keras's name
    """The largest entry along ``axis``, and at least ``initial`` when given."""
    out = F.max(as_tensor(x), axis=_axis_arg(axis), keepdims=keepdims)
    return out if initial is None else F.maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001 - Keras's name
    """The smallest entry along ``axis``, and at most ``initial`` when given."""
    out = F.min(as_tensor(x), axis=_axis_arg(axis), keepdims=keepdims)
    return out if initial is None else F.minimum(out, initial)


def stack(x, axis=0) -> Tensor:
    """Join a sequence of tensors along a new ``axis``."""
    return F.stack(list(x), axis=axis)


def take(x, indices, axis=None) -> Tensor:
    """Entries of ``x`` at ``indices`` along ``axis`` (None: of the flattened ``x``, as
    Keras), differentiable in ``x``."""
    x = as_tensor(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    return F.take(x, indices, axis=axis)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2``; with neither, the indices of the true
    entries (int64, as Keras on torch)."""
    if x1 is None and x2 is None:
        return tuple(_constant(i) for i in np.nonzero(_data(condition)))
    if x1 is None or x2 is None:
        raise ValueError("ops.where takes both x1 and x2, or neither (then it is nonzero).")
    a, b = _promoted(x1, x2)
    return F.where(np.asarray(_data(condition), dtype=bool), a, b)


# ---------------------------------------------------------------- keras.ops.numpy completion
# Output dtypes follow Keras 3: functions with a float result take integer and boolean inputs to
# ``floatx()`` and keep float inputs' precision; index results are int32.


def _dtype_of(x):
    """``x``'s dtype name, or None for a Python number (a weak type that adopts the other)."""
    if isinstance(x, (Tensor, np.ndarray, np.generic)):
        return standardize_dtype(x.dtype)
    if isinstance(x, (bool, int, float)):
        return None
    # a Python list: floats are weak (they adopt the other input's float, else floatx) and
    # integers int32, as Keras converts them
    kind = np.asarray(x).dtype.kind
    return (
        None if kind == "f" else "int32" if kind in "iu" else standardize_dtype(np.asarray(x).dtype)
    )


def _float_dtype(*xs) -> str:
    """The float dtype Keras gives ``f(*xs)``: the widest float among the inputs, else
    ``floatx()`` (integers, booleans and Python numbers)."""
    floats = [d for d in (_dtype_of(x) for x in xs) if d is not None and "float" in d]
    return standardize_dtype(np.result_type(*floats)) if floats else floatx()


def _floating(x, dtype=None) -> Tensor:
    """``x`` as a float Tensor (``dtype``, else Keras's float result dtype), differentiably."""
    dtype = dtype or _float_dtype(x)
    if not isinstance(x, Tensor):
        return Tensor(np.asarray(_data(x), dtype=dtype))
    return x if standardize_dtype(x.data.dtype) == dtype else F.cast(x, dtype)


def _result_dtype(*xs) -> str:
    """The dtype Keras gives a mix of ``xs``: a float input's dtype wins over integers (the
    widest float), a Python float makes integers ``floatx()``, Python ints adopt the array's
    type."""
    floats = [d for d in (_dtype_of(x) for x in xs) if d is not None and "float" in d]
    if floats:
        return standardize_dtype(np.result_type(*floats))
    if builtins.any(_dtype_of(x) is None and np.asarray(x).dtype.kind == "f" for x in xs):
        return floatx()
    kinds = [np.dtype(_dtype_of(x)) if _dtype_of(x) else x for x in xs]
    return standardize_dtype(np.result_type(*kinds))


def _elementwise(primitive, x) -> Tensor:
    return apply(primitive, _floating(x))


def sin(x) -> Tensor:
    """Element-wise sine."""
    return _elementwise(NP.Sin, x)


def cos(x) -> Tensor:
    """Element-wise cosine."""
    return _elementwise(NP.Cos, x)


def tan(x) -> Tensor:
    """Element-wise tangent."""
    return _elementwise(NP.Tan, x)


def arcsin(x) -> Tensor:
    """Element-wise inverse sine."""
    return _elementwise(NP.Arcsin, x)


def arccos(x) -> Tensor:
    """Element-wise inverse cosine."""
    return _elementwise(NP.Arccos, x)


def arctan(x) -> Tensor:
    """Element-wise inverse tangent."""
    return _elementwise(NP.Arctan, x)


def sinh(x) -> Tensor:
    """Element-wise hyperbolic sine."""
    return _elementwise(NP.Sinh, x)


def cosh(x) -> Tensor:
    """Element-wise hyperbolic cosine."""
    return _elementwise(NP.Cosh, x)


def arcsinh(x) -> Tensor:
    """Element-wise inverse hyperbolic sine."""
    return _elementwise(NP.Arcsinh, x)


def arccosh(x) -> Tensor:
    """Element-wise inverse hyperbolic cosine."""
    return _elementwise(NP.Arccosh, x)


def arctanh(x) -> Tensor:
    """Element-wise inverse hyperbolic tangent."""
    return _elementwise(NP.Arctanh, x)


def expm1(x) -> Tensor:
    """``exp(x) - 1``, accurate near 0."""
    return _elementwise(NP.Expm1, x)


def exp2(x) -> Tensor:
    """``2 ** x``."""
    return _elementwise(NP.Exp2, x)


def cbrt(x) -> Tensor:
    """The real cube root."""
    return _elementwise(NP.Cbrt, x)


def i0(x) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (float64 for int64 input, as
    Keras)."""
    dtype = "float64" if _dtype_of(x) == "int64" else _float_dtype(x)
    return apply(NP.I0, _floating(x, dtype))


def _binary_float(x1, x2) -> tuple:
    dtype = _float_dtype(x1, x2)
    return _floating(x1, dtype), _floating(x2, dtype)


def arctan2(x1, x2) -> Tensor:
    """The angle of the point ``(x2, x1)``, element-wise, in ``[-pi, pi]``."""
    return apply(NP.Arctan2, *_binary_float(x1, x2))


def hypot(x1, x2) -> Tensor:
    """``sqrt(x1² + x2²)`` element-wise, without intermediate overflow."""
    return apply(NP.Hypot, *_binary_float(x1, x2))


def logaddexp(x1, x2) -> Tensor:
    """``log(exp(x1) + exp(x2))`` without overflow."""
    a, b = _binary_float(x1, x2)
    # shift by the larger one (a constant: the result is shift-invariant) so exp cannot overflow
    with np.errstate(invalid="ignore"):
        shift = np.maximum(a.data, b.data)
    shift = np.where(np.isfinite(shift), shift, 0).astype(a.data.dtype)
    total = F.add(F.exp(F.subtract(a, shift)), F.exp(F.subtract(b, shift)))
    with np.errstate(divide="ignore"):  # both -inf: log(0) = -inf is the answer
        return F.add(F.log(total), shift)


def logaddexp2(x1, x2) -> Tensor:
    """``log2(2**x1 + 2**x2)`` without overflow."""
    a, b = _binary_float(x1, x2)
    ln2 = math.log(2.0)
    return F.divide(logaddexp(F.multiply(a, ln2), F.multiply(b, ln2)), ln2)


def deg2rad(x) -> Tensor:
    """Degrees to radians."""
    return F.multiply(_floating(x), math.pi / 180.0)


def rad2deg(x) -> Tensor:
    """Radians to degrees."""
    return F.multiply(_floating(x), 180.0 / math.pi)


def fabs(x) -> Tensor:
    """``|x|`` as floats."""
    return F.abs(_floating(x))


def sinc(x) -> Tensor:
    """``sin(pi x) / (pi x)``, 1 at 0 (differentiable, derivative 0 there)."""
    x = _floating(x)
    at_zero = x.data == 0
    # the division runs on a safe denominator: where() would still send NaN gradients back
    scaled = F.where(at_zero, np.ones((), x.data.dtype), F.multiply(x, math.pi))
    return F.where(at_zero, np.ones((), x.data.dtype), F.divide(sin(scaled), scaled))


def ldexp(x1, x2) -> Tensor:
    """``x1 * 2**x2`` (``x2`` integer), differentiable in ``x1``."""
    exponent = np.asarray(_data(x2))
    if exponent.dtype.kind not in "iu":
        raise TypeError(
            f"ldexp exponent must be an integer type. Received: x2 dtype={exponent.dtype}"
        )
    dtype = _float_dtype(x1, x2)
    return F.multiply(_floating(x1, dtype), np.ldexp(np.ones((), dtype), exponent).astype(dtype))


def fmod(x1, x2) -> Tensor:
    """The remainder of ``x1 / x2`` with the sign of ``x1`` (differentiable for floats)."""
    dtype = _result_dtype(x1, x2)
    if "float" not in dtype:
        if dtype == "bool":
            dtype = "int32"
        return _constant(np.fmod(_data(x1), _data(x2)).astype(dtype))
    return apply(NP.Fmod, _floating(x1, dtype), _floating(x2, dtype))


def fmax(x1, x2) -> Tensor:
    """Element-wise maximum that ignores NaNs (NaN only where both are)."""
    return _nan_ignoring(F.maximum, x1, x2)


def fmin(x1, x2) -> Tensor:
    """Element-wise minimum that ignores NaNs (NaN only where both are)."""
    return _nan_ignoring(F.minimum, x1, x2)


def _nan_ignoring(pick, x1, x2) -> Tensor:
    dtype = _result_dtype(x1, x2)
    a, b = as_tensor(x1), as_tensor(x2)
    if a.data.dtype != dtype:
        a = F.cast(a, dtype)
    if b.data.dtype != dtype:
        b = F.cast(b, dtype)
    if "float" not in dtype:
        return pick(a, b)
    return F.where(np.isnan(b.data), a, F.where(np.isnan(a.data), b, pick(a, b)))


def floor_divide(x1, x2) -> Tensor:
    """``floor(x1 / x2)`` (no gradient)."""
    return _constant(np.floor_divide(_data(x1), _data(x2)).astype(_result_dtype(x1, x2)))


def divide_no_nan(x1, x2) -> Tensor:
    """``x1 / x2``, 0 where ``x2`` is 0 (differentiable, no NaN gradient there)."""
    a, b = _binary_float(x1, x2)
    zero = b.data == 0
    safe = F.where(zero, np.ones((), b.data.dtype), b)
    return F.where(zero, np.zeros((), a.data.dtype), F.divide(a, safe))


def nextafter(x1, x2) -> Tensor:
    """The next float after ``x1`` towards ``x2``."""
    dtype = _float_dtype(x1, x2)
    a = np.asarray(_data(x1), dtype=dtype)
    return _constant(np.nextafter(a, np.asarray(_data(x2), dtype=dtype)))


def heaviside(x1, x2) -> Tensor:
    """The Heaviside step of ``x1``, ``x2`` where ``x1 == 0`` (no gradient)."""
    dtype = _result_dtype(x1, x2)
    if dtype == "int64":
        dtype = "float64"
    elif "float" not in dtype and dtype != "bool":
        dtype = floatx()
    values = np.heaviside(np.asarray(_data(x1), dtype), np.asarray(_data(x2), dtype))
    return _constant(values.astype(dtype))  # NumPy answers booleans in float16


def trunc(x) -> Tensor:
    """Round towards zero (no gradient)."""
    return _constant(np.trunc(_data(x)).astype(_data(x).dtype))


def angle(x) -> Tensor:
    """The complex argument (0 or pi for real inputs)."""
    return _constant(np.angle(_data(x)).astype(_float_dtype(x)))


def real(x) -> Tensor:
    """The real part: ``x`` itself for real inputs."""
    return as_tensor(x)


def imag(x) -> Tensor:
    """The imaginary part: zeros for real inputs."""
    return _constant(np.zeros_like(_data(x)))


def conjugate(x) -> Tensor:
    """The complex conjugate: ``x`` itself for real inputs."""
    return as_tensor(x)


def conj(x) -> Tensor:
    """Alias of ``conjugate``."""
    return conjugate(x)


def signbit(x) -> Tensor:
    """Where the sign bit is set (negative numbers and -0.0)."""
    return _constant(np.signbit(_data(x)))


def isinf(x) -> Tensor:
    """Where ``x`` is +inf or -inf."""
    return _constant(np.isinf(_data(x)))


def isposinf(x) -> Tensor:
    """Where ``x`` is +inf."""
    return _constant(np.isposinf(_data(x)))


def isneginf(x) -> Tensor:
    """Where ``x`` is -inf."""
    return _constant(np.isneginf(_data(x)))


def isreal(x) -> Tensor:
    """Where ``x`` has no imaginary part (everywhere, for real inputs)."""
    return _constant(np.isreal(_data(x)))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False) -> Tensor:
    """Where ``|x1 - x2| <= atol + rtol * |x2|``."""
    return _constant(np.isclose(_data(x1), _data(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False) -> Tensor:
    """Whether ``isclose`` holds everywhere (a boolean scalar)."""
    return _constant(np.allclose(_data(x1), _data(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isin(x1, x2, assume_unique=False, invert=False) -> Tensor:
    """Where the entries of ``x1`` occur in ``x2`` (or do not, with ``invert``)."""
    return _constant(np.isin(_data(x1), _data(x2), assume_unique=assume_unique, invert=invert))


def _integer(fn, doc: str):
    def op(x, y) -> Tensor:
        return _constant(fn(_data(x) if _dtype_of(x) else x, _data(y) if _dtype_of(y) else y))

    op.__name__ = fn.__name__
    op.__doc__ = doc
    return op


bitwise_and = _integer(np.bitwise_and, "Element-wise bitwise AND of integers or booleans.")
bitwise_or = _integer(np.bitwise_or, "Element-wise bitwise OR of integers or booleans.")
bitwise_xor = _integer(np.bitwise_xor, "Element-wise bitwise XOR of integers or booleans.")
bitwise_left_shift = _integer(np.left_shift, "``x`` shifted left by ``y`` bits.")
bitwise_right_shift = _integer(np.right_shift, "``x`` shifted right by ``y`` bits.")
left_shift = _integer(np.left_shift, "``x`` shifted left by ``y`` bits.")
right_shift = _integer(np.right_shift, "``x`` shifted right by ``y`` bits.")


def bitwise_invert(x) -> Tensor:
    """Element-wise bitwise NOT (logical not for booleans)."""
    return _constant(np.invert(_data(x)))


def bitwise_not(x) -> Tensor:
    """Alias of ``bitwise_invert``."""
    return bitwise_invert(x)


def gcd(x1, x2) -> Tensor:
    """Element-wise greatest common divisor of integers."""
    return _integer(np.gcd, "")(x1, x2)


def lcm(x1, x2) -> Tensor:
    """Element-wise least common multiple of integers."""
    return _integer(np.lcm, "")(x1, x2)


# ---------------------------------------------------------------- reductions


def amax(x, axis=None, keepdims=False) -> Tensor:
    """The largest entry along ``axis`` (``max``)."""
    return F.max(as_tensor(x), axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims=False) -> Tensor:
    """The smallest entry along ``axis`` (``min``)."""
    return F.min(as_tensor(x), axis=axis, keepdims=keepdims)


def ptp(x, axis=None, keepdims=False) -> Tensor:
    """The range (max - min) along ``axis``."""
    x = as_tensor(x)
    return F.subtract(
        F.max(x, axis=axis, keepdims=keepdims), F.min(x, axis=axis, keepdims=keepdims)
    )


def count_nonzero(x, axis=None) -> Tensor:
    """The number of non-zero entries along ``axis`` (int32)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _constant(np.asarray(np.count_nonzero(_data(x), axis=axis), dtype=np.int32))


def _axes(axis, ndim: int) -> tuple:
    """``axis`` (an int, or a list or tuple of them) as sorted non-negative axes."""
    return tuple(sorted({int(a) % ndim for a in np.atleast_1d(axis).tolist()}))


def _axis_arg(axis):
    """``axis`` in a form NumPy's reductions take (a tuple, not a list)."""
    return tuple(axis) if isinstance(axis, list) else axis


def _to_last(x: Tensor, axis) -> tuple:
    """``x`` with the ``axis`` axes moved to the end and merged into one, and the kept shape."""
    ndim = x.data.ndim
    if axis is None:
        return F.reshape(x, (-1,)), ()
    axes = list(_axes(axis, ndim))
    kept = [i for i in range(ndim) if i not in axes]
    moved = F.transpose(x, kept + axes) if kept + axes != list(range(ndim)) else x
    kept_shape = tuple(x.data.shape[i] for i in kept)
    return F.reshape(moved, kept_shape + (-1,)), kept_shape


def _keepdims_shape(shape: tuple, axis) -> tuple:
    if axis is None:
        return (1,) * len(shape)
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, axis, method, keepdims, skip_nan: bool) -> Tensor:
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"quantile method must be one of {_QUANTILE_METHODS}, got {method!r}.")
    x = _floating(x)
    dtype = x.data.dtype
    q = np.asarray(_data(q), dtype=dtype)
    if np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles must lie in [0, 1], got {q.tolist()}.")
    rows, kept_shape = _to_last(x, axis)
    # NaNs sort last, so the valid entries of each row come first
    ordered = sort(rows, axis=-1)
    nans = np.isnan(rows.data)
    count = rows.data.shape[-1] - np.sum(nans, axis=-1, keepdims=True) if skip_nan else None
    if count is None:
        count = np.full(kept_shape + (1,), rows.data.shape[-1])
    position = q.reshape(-1) * (np.maximum(count, 1) - 1)  # (..., len(q))
    lo = np.floor(position).astype(np.int64)
    hi = np.ceil(position).astype(np.int64)
    if method == "lower":
        hi = lo
    elif method == "higher":
        lo = hi
    elif method == "nearest":
        lo = hi = np.round(position).astype(np.int64)
    below = take_along_axis(ordered, lo, axis=-1)
    above = take_along_axis(ordered, hi, axis=-1)
    if method == "midpoint":
        weight = np.where(hi > lo, 0.5, 0.0).astype(dtype)
    else:
        weight = (position - lo).astype(dtype)
    out = F.add(below, F.multiply(F.subtract(above, below), weight))
    empty = (count == 0) if skip_nan else np.any(nans, axis=-1, keepdims=True)
    if np.any(empty):
        out = F.where(np.broadcast_to(empty, out.data.shape), np.asarray(np.nan, dtype), out)
    # NumPy puts the quantile axis first
    out = moveaxis(out, -1, 0) if q.ndim else F.reshape(out, kept_shape)
    if keepdims:
        shape = _keepdims_shape(x.data.shape, axis)
        out = F.reshape(out, (q.shape if q.ndim else ()) + shape)
    return out


def quantile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """The ``q``-th quantiles (``q`` in [0, 1]) along ``axis``, differentiable (the gradient
    goes to the one or two order statistics each interpolates)."""
    return _quantile(x, q, axis, method, keepdims, skip_nan=False)


def percentile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """The ``q``-th percentiles (``q`` in [0, 100]) along ``axis``."""
    return quantile(x, np.asarray(_data(q), dtype=np.float64) / 100, axis, method, keepdims)


def median(x, axis=None, keepdims=False) -> Tensor:
    """The median along ``axis`` (the mean of the two middle values for an even count)."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """``quantile`` ignoring NaNs (NaN where a slice holds nothing else)."""
    return _quantile(x, q, axis, method, keepdims, skip_nan=True)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """``percentile`` ignoring NaNs."""
    return nanquantile(x, np.asarray(_data(q), dtype=np.float64) / 100, axis, method, keepdims)


def nanmedian(x, axis=None, keepdims=False) -> Tensor:
    """``median`` ignoring NaNs."""
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


def _nan_replaced(x, value) -> Tensor:
    """``x`` with its NaNs replaced by ``value`` (a constant there: no gradient flows to them)."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        return x
    nans = np.isnan(x.data)
    return F.where(nans, np.asarray(value, x.data.dtype), x) if np.any(nans) else x


def nansum(x, axis=None, keepdims=False) -> Tensor:
    """The sum along ``axis``, NaNs counted as 0."""
    x = as_tensor(x)
    out = F.sum(_nan_replaced(x, 0), axis=axis, keepdims=keepdims)
    return _sum_dtype(out, x)


def _sum_dtype(out: Tensor, x: Tensor) -> Tensor:
    # NumPy sums small integers as int64; Keras keeps int32 and widens only bool/int8/int16
    dtype = standardize_dtype(x.data.dtype)
    if dtype in ("bool", "int8", "int16", "uint8", "uint16"):
        dtype = "int32"
    return out if standardize_dtype(out.data.dtype) == dtype else F.cast(out, dtype)


def nanprod(x, axis=None, keepdims=False) -> Tensor:
    """The product along ``axis``, NaNs counted as 1."""
    x = as_tensor(x)
    return _sum_dtype(prod(_nan_replaced(x, 1), axis=axis, keepdims=keepdims), x)


def _valid_count(x: Tensor, axis, keepdims) -> np.ndarray:
    valid = ~np.isnan(x.data)
    return np.sum(valid, axis=_axis_arg(axis), keepdims=keepdims).astype(x.data.dtype)


def nanmean(x, axis=None, keepdims=False) -> Tensor:
    """The mean along ``axis`` over the entries that are not NaN."""
    x = _floating(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return F.divide(nansum(x, axis, keepdims), _valid_count(x, axis, keepdims))


def nanvar(x, axis=None, keepdims=False) -> Tensor:
    """The variance along ``axis`` over the entries that are not NaN."""
    x = _floating(x)
    valid = ~np.isnan(x.data)
    # NaNs are replaced before any arithmetic and the squares masked after: a NaN left inside
    # would send NaN back through the masking where() (0 * NaN)
    centred = F.subtract(_nan_replaced(x, 0), nanmean(x, axis, keepdims=True))
    squares = F.multiply(F.square(centred), valid.astype(x.data.dtype))
    with np.errstate(invalid="ignore", divide="ignore"):
        return F.divide(F.sum(squares, axis, keepdims), _valid_count(x, axis, keepdims))


def nanstd(x, axis=None, keepdims=False) -> Tensor:
    """The standard deviation along ``axis`` over the entries that are not NaN."""
    return F.sqrt(nanvar(x, axis, keepdims))


def _nan_extreme(reduce, fill, x, axis, keepdims) -> Tensor:
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        return reduce(x, axis=axis, keepdims=keepdims)
    out = reduce(_nan_replaced(x, fill), axis=axis, keepdims=keepdims)
    all_nan = np.all(np.isnan(x.data), axis=_axis_arg(axis), keepdims=keepdims)
    return F.where(all_nan, np.asarray(np.nan, x.data.dtype), out) if np.any(all_nan) else out


def nanmax(x, axis=None, keepdims=False) -> Tensor:
    """The largest entry along ``axis``, ignoring NaNs."""
    return _nan_extreme(F.max, -np.inf, x, axis, keepdims)


def nanmin(x, axis=None, keepdims=False) -> Tensor:
    """The smallest entry along ``axis``, ignoring NaNs."""
    return _nan_extreme(F.min, np.inf, x, axis, keepdims)


def nanargmax(x, axis=None, keepdims=False) -> Tensor:
    """The index of the largest entry along ``axis``, ignoring NaNs (int32)."""
    data = _data(x)
    filled = np.where(np.isnan(data), -np.inf, data) if data.dtype.kind == "f" else data
    return argmax(filled, axis=axis, keepdims=keepdims)


def nanargmin(x, axis=None, keepdims=False) -> Tensor:
    """The index of the smallest entry along ``axis``, ignoring NaNs (int32)."""
    data = _data(x)
    filled = np.where(np.isnan(data), np.inf, data) if data.dtype.kind == "f" else data
    return argmin(filled, axis=axis, keepdims=keepdims)


def nancumsum(x, axis=None, dtype=None) -> Tensor:
    """The cumulative sum along ``axis``, NaNs counted as 0."""
    return cumsum(_nan_replaced(x, 0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None) -> Tensor:
    """The cumulative product along ``axis``, NaNs counted as 1."""
    return cumprod(_nan_replaced(x, 1), axis=axis, dtype=dtype)


def cumprod(x, axis=None, dtype=None) -> Tensor:
    """The cumulative product along ``axis`` (None: over the flattened array), differentiable
    (zeros included)."""
    x = as_tensor(x)
    if x.data.dtype == np.bool_:
        x = F.cast(x, "int32")
    out = apply(NP.CumProd, x, axis=axis)
    # NumPy multiplies small integers as int64; Keras keeps the input's type
    wanted = np.dtype(standardize_dtype(dtype)) if dtype is not None else x.data.dtype
    return out if out.data.dtype == wanted else F.cast(out, wanted)


# ---------------------------------------------------------------- shapes, joins and splits


def ravel(x) -> Tensor:
    """``x`` flattened to one axis."""
    return F.reshape(as_tensor(x), (-1,))


def copy(x) -> Tensor:
    """A copy of ``x`` (differentiable)."""
    return apply(NP.Copy, as_tensor(x))


def _joined(xs, axis: int) -> Tensor:
    tensors = [as_tensor(t) for t in xs]
    dtype = _result_dtype(*tensors)
    tensors = [t if t.data.dtype == dtype else F.cast(t, dtype) for t in tensors]
    return F.concatenate(tensors, axis=axis)


def _at_least(x, ndim: int) -> Tensor:
    """NumPy's ``atleast_2d`` / ``atleast_3d`` shapes, as a reshape."""
    x = as_tensor(x)
    shape = x.data.shape
    if len(shape) >= ndim:
        return x
    if ndim == 2:
        return F.reshape(x, (1,) * (2 - len(shape)) + shape)
    padded = {0: (1, 1, 1), 1: (1, *shape, 1), 2: (*shape, 1)}[len(shape)]
    return F.reshape(x, padded)


def hstack(xs) -> Tensor:
    """Join along the second axis (the first for 1-D inputs)."""
    tensors = [as_tensor(t) for t in xs]
    return _joined(tensors, 0 if tensors[0].data.ndim == 1 else 1)


def vstack(xs) -> Tensor:
    """Join along the first axis, 1-D inputs as rows."""
    return _joined([_at_least(t, 2) for t in xs], 0)


def dstack(xs) -> Tensor:
    """Join along the third axis (inputs made at least 3-D)."""
    return _joined([_at_least(t, 3) for t in xs], 2)


def append(x1, x2, axis=None) -> Tensor:
    """``x2`` joined after ``x1`` along ``axis`` (None: both flattened)."""
    if axis is None:
        return _joined([ravel(x1), ravel(x2)], 0)
    return _joined([x1, x2], axis)


def _cut(x: Tensor, bounds: list, axis: int) -> list:
    index = [slice(None)] * x.data.ndim
    pieces = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        index[axis] = slice(lo, hi)
        pieces.append(x[tuple(index)])
    return pieces


def array_split(x, indices_or_sections, axis=0) -> list:
    """``x`` cut along ``axis`` into nearly equal sections (the first ones one longer) or at the
    given indices."""
    x = as_tensor(x)
    length = x.data.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"array_split needs a positive number of sections, got {sections}.")
        size, extra = divmod(length, sections)
        sizes = [size + 1] * extra + [size] * (sections - extra)
        bounds = [0, *np.cumsum(sizes).tolist()]
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], length]
    return _cut(x, bounds, axis % x.data.ndim)


def hsplit(x, indices_or_sections) -> list:
    """``split`` along the second axis (the first for 1-D inputs)."""
    x = as_tensor(x)
    return split(x, indices_or_sections, axis=1 if x.data.ndim > 1 else 0)


def vsplit(x, indices_or_sections) -> list:
    """``split`` along the first axis (inputs of at least 2 axes)."""
    x = as_tensor(x)
    if x.data.ndim < 2:
        raise ValueError(f"vsplit needs at least 2 axes, got shape {x.data.shape}.")
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections) -> list:
    """``split`` along the third axis (inputs of at least 3 axes)."""
    x = as_tensor(x)
    if x.data.ndim < 3:
        raise ValueError(f"dsplit needs at least 3 axes, got shape {x.data.shape}.")
    return split(x, indices_or_sections, axis=2)


def flip(x, axis=None) -> Tensor:
    """``x`` with the order of entries reversed along ``axis`` (None: all axes)."""
    x = as_tensor(x)
    ndim = x.data.ndim
    axes = range(ndim) if axis is None else _axes(axis, ndim)
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))]


def fliplr(x) -> Tensor:
    """``flip`` along the second axis."""
    return flip(x, 1)


def flipud(x) -> Tensor:
    """``flip`` along the first axis."""
    return flip(x, 0)


def rot90(array, k=1, axes=(0, 1)) -> Tensor:
    """``array`` rotated by 90° ``k`` times in the plane of ``axes`` (from the first axis
    towards the second)."""
    x = as_tensor(array)
    ndim = x.data.ndim
    a, b = axes[0] % ndim, axes[1] % ndim
    if ndim < 2 or a == b:
        raise ValueError(f"rot90 needs two different axes of an array with 2+ axes, got {axes}.")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(x, (a, b))
    if k == 1:
        return swapaxes(flip(x, b), a, b)
    return flip(swapaxes(x, a, b), b)


def roll(x, shift, axis=None) -> Tensor:
    """``x`` rotated by ``shift`` places along ``axis`` (None: the flattened array)."""
    x = as_tensor(x)
    if axis is None:
        return F.reshape(roll(ravel(x), shift, 0), x.data.shape)
    shifts = np.broadcast_to(np.asarray(shift), np.shape(axis)).reshape(-1)
    axes = np.asarray(axis).reshape(-1)
    for step, ax in zip(shifts.tolist(), axes.tolist(), strict=True):
        length = x.data.shape[ax]
        if length:
            x = F.take(x, (np.arange(length) - step) % length, axis=ax)
    return x


_INDEX_PAD_MODES = ("reflect", "symmetric", "edge", "wrap")


def pad(x, pad_width, mode="constant", constant_values=None) -> Tensor:
    """``x`` padded by ``pad_width`` (per axis ``(before, after)``); differentiable for the
    ``constant``, ``reflect``, ``symmetric``, ``edge`` and ``wrap`` modes (each a gather of
    ``x``'s own entries, plus constants)."""
    x = as_tensor(x)
    if constant_values is not None and mode != "constant":
        raise ValueError(
            f"pad: constant_values is only for mode='constant', got mode={mode!r} with "
            f"constant_values={constant_values}."
        )
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.data.ndim, 2))
    if mode not in ("constant", *_INDEX_PAD_MODES):
        return _constant(np.pad(x.data, widths, mode=mode))
    fill = np.asarray(0 if constant_values is None else constant_values, dtype=x.data.dtype)
    for ax, (before, after) in enumerate(widths.tolist()):
        if before == after == 0:
            continue
        positions = np.arange(x.data.shape[ax])
        if mode == "constant":
            index = np.pad(positions, (before, after), mode="edge")
            inside = np.pad(np.ones(len(positions), bool), (before, after))
            taken = F.take(x, index, axis=ax)
            shape = [1] * x.data.ndim
            shape[ax] = -1
            x = F.where(inside.reshape(shape), taken, fill)
        else:
            x = F.take(x, np.pad(positions, (before, after), mode=mode), axis=ax)
    return x


def diagonal(x, offset=0, axis1=0, axis2=1) -> Tensor:
    """The diagonal ``offset`` of the planes over ``axis1`` and ``axis2``, as the last axis."""
    x = as_tensor(x)
    ndim = x.data.ndim
    a, b = axis1 % ndim, axis2 % ndim
    rest = [i for i in range(ndim) if i not in (a, b)]
    moved = F.transpose(x, rest + [a, b])
    rows, cols = x.data.shape[a], x.data.shape[b]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    steps = np.arange(length)
    return moved[(Ellipsis, steps + start_row, steps + start_col)]


def diag(x, k=0) -> Tensor:
    """The diagonal ``k`` of a matrix, or the matrix with vector ``x`` on diagonal ``k``."""
    x = as_tensor(x)
    if x.data.ndim == 2:
        return diagonal(x, k)
    if x.data.ndim != 1:
        raise ValueError(f"diag takes a vector or a matrix, got shape {x.data.shape}.")
    n = x.data.shape[0]
    size = n + builtins.abs(k)
    index = np.zeros((size, size), dtype=np.int64)
    on_diagonal = np.zeros((size, size), dtype=bool)
    rows, cols = np.arange(n) + builtins.max(-k, 0), np.arange(n) + builtins.max(k, 0)
    index[rows, cols] = np.arange(n)
    on_diagonal[rows, cols] = True
    if n == 0:
        return _constant(np.zeros((size, size), x.data.dtype))
    return F.where(on_diagonal, F.take(x, index), np.zeros((), x.data.dtype))


def diagflat(x, k=0) -> Tensor:
    """The matrix with flattened ``x`` on diagonal ``k``."""
    return diag(ravel(x), k)


def trace(x, offset=0, axis1=0, axis2=1) -> Tensor:
    """The sum along diagonal ``offset`` of the planes over ``axis1`` and ``axis2``."""
    x = as_tensor(x)
    return _sum_dtype(F.sum(diagonal(x, offset, axis1, axis2), axis=-1), x)


def diff(a, n=1, axis=-1) -> Tensor:
    """The ``n``-th discrete difference along ``axis``."""
    x = as_tensor(a)
    ndim = x.data.ndim
    axis %= ndim
    head = tuple(slice(1, None) if i == axis else slice(None) for i in range(ndim))
    tail = tuple(slice(None, -1) if i == axis else slice(None) for i in range(ndim))
    for _ in range(n):
        if x.data.dtype == np.bool_:
            x = _constant(x.data[head] != x.data[tail])
        else:
            x = F.subtract(x[head], x[tail])
    return x


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None) -> Tensor:
    """The cross product of 3-vectors (or 2-vectors: the z component) along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    dtype = _result_dtype(x1, x2)
    a = moveaxis(as_tensor(x1, dtype), axisa, -1)
    b = moveaxis(as_tensor(x2, dtype), axisb, -1)
    da, db = a.data.shape[-1], b.data.shape[-1]
    if da not in (2, 3) or db not in (2, 3):
        raise ValueError(f"cross needs vectors of 2 or 3 entries, got {da} and {db}.")

    def part(v, i):
        return v[..., i] if i < v.data.shape[-1] else None

    def term(p, q, r, s):  # p*q - r*s, with None for a missing z component (0)
        left = F.multiply(p, q) if p is not None and q is not None else None
        right = F.multiply(r, s) if r is not None and s is not None else None
        if right is None:
            return left
        return F.negative(right) if left is None else F.subtract(left, right)

    z = term(part(a, 0), part(b, 1), part(a, 1), part(b, 0))
    if da == db == 2:
        return z
    x = term(part(a, 1), part(b, 2), part(a, 2), part(b, 1))
    y = term(part(a, 2), part(b, 0), part(a, 0), part(b, 2))
    shape = np.broadcast_shapes(x.data.shape, y.data.shape, z.data.shape)
    out = F.stack([F.broadcast_to(c, shape) for c in (x, y, z)], axis=-1)
    return moveaxis(out, -1, axisc)


def _promoted(x1, x2) -> tuple:
    """Both inputs as Tensors of Keras's common dtype (an int and a float32 give float32, not
    NumPy's float64)."""
    return _operands(x1, x2, tensors=True)


def kron(x1, x2) -> Tensor:
    """The Kronecker product: blocks of ``x2`` scaled by each entry of ``x1``."""
    a, b = _promoted(x1, x2)
    ndim = builtins.max(a.data.ndim, b.data.ndim)
    sa = (1,) * (ndim - a.data.ndim) + a.data.shape
    sb = (1,) * (ndim - b.data.ndim) + b.data.shape
    # (a0, 1, a1, 1...) * (1, b0, 1, b1...) -> (a0*b0, a1*b1...)
    spread_a = F.reshape(a, tuple(v for d in sa for v in (d, 1)))
    spread_b = F.reshape(b, tuple(v for d in sb for v in (1, d)))
    return F.reshape(
        F.multiply(spread_a, spread_b), tuple(p * q for p, q in zip(sa, sb, strict=True))
    )


def outer(x1, x2) -> Tensor:
    """The outer product of the flattened inputs."""
    a, b = _promoted(x1, x2)
    return F.multiply(F.reshape(a, (-1, 1)), F.reshape(b, (1, -1)))


def inner(x1, x2) -> Tensor:
    """The inner product over the last axes (a plain product when either is a scalar)."""
    a, b = _promoted(x1, x2)
    if a.data.ndim == 0 or b.data.ndim == 0:
        return F.multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


def vdot(x1, x2) -> Tensor:
    """The dot product of the flattened inputs."""
    a, b = _promoted(x1, x2)
    return F.sum(F.multiply(ravel(a), ravel(b)))


def meshgrid(*x, indexing="xy") -> list:
    """Coordinate grids from 1-D coordinate vectors (``xy``: the first two axes swapped)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid indexing must be 'xy' or 'ij', got {indexing!r}.")
    vectors = [ravel(v) for v in x]
    shape = [v.data.shape[0] for v in vectors]
    swap = indexing == "xy" and len(vectors) > 1
    if swap:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for i, v in enumerate(vectors):
        position = {0: 1, 1: 0}.get(i, i) if swap else i
        spread = [1] * len(vectors)
        spread[position] = -1
        grids.append(F.broadcast_to(F.reshape(v, tuple(spread)), tuple(shape)))
    return grids


def select(condlist, choicelist, default=0) -> Tensor:
    """Entries of the first ``choicelist`` item whose condition holds, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(
            f"select needs as many conditions as choices, got {len(condlist)} and "
            f"{len(choicelist)}."
        )
    if isinstance(default, Tensor):
        out = default
    else:
        # a Python default (0) adopts the choices' dtype, as in Keras
        out = _constant(np.asarray(_data(default), dtype=_result_dtype(*choicelist, default)))
    for condition, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        out = F.where(np.asarray(_data(condition), bool), choice, out)
    return out


def trapezoid(y, x=None, dx=1.0, axis=-1) -> Tensor:
    """The integral of ``y`` along ``axis`` by the trapezoid rule (spacing ``x`` or ``dx``)."""
    y = _floating(y)
    ndim = y.data.ndim
    axis %= ndim
    head = tuple(slice(1, None) if i == axis else slice(None) for i in range(ndim))
    tail = tuple(slice(None, -1) if i == axis else slice(None) for i in range(ndim))
    heights = F.multiply(F.add(y[head], y[tail]), 0.5)
    if x is None:
        return F.multiply(F.sum(heights, axis=axis), dx)
    x = as_tensor(x)
    if x.data.ndim == 1:
        shape = [1] * ndim
        shape[axis] = -1
        x = F.reshape(x, tuple(shape))
        widths = diff(x, axis=axis)
    else:
        widths = diff(x, axis=axis)
    return F.sum(F.multiply(heights, widths), axis=axis)


def correlate(x1, x2, mode="valid") -> Tensor:
    """The cross-correlation of two 1-D sequences (``valid``, ``same`` or ``full``),
    differentiable in both."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate mode must be 'valid', 'same' or 'full', got {mode!r}.")
    dtype = _result_dtype(x1, x2)
    if dtype == "int64":
        dtype = "float64"
    elif dtype not in ("float16", "float64"):
        dtype = "float32"
    a, v = _floating(x1, dtype), _floating(x2, dtype)
    if a.data.ndim != 1 or v.data.ndim != 1:
        raise ValueError(
            f"correlate takes 1-D sequences, got shapes {a.data.shape} and {v.data.shape}."
        )
    n, m = a.data.shape[0], v.data.shape[0]
    padded = pad(a, [(m - 1, m - 1)])
    full_length = n + m - 1
    windows = F.take(padded, np.arange(full_length)[:, None] + np.arange(m)[None, :])
    full = F.matmul(windows, v)
    length = {
        "full": full_length,
        "same": builtins.max(n, m),
        "valid": builtins.max(n, m) - builtins.min(n, m) + 1,
    }[mode]
    start = (full_length - length) // 2
    return full[start : start + length]


def corrcoef(x) -> Tensor:
    """The Pearson correlation coefficients between the rows of ``x`` (variables in rows)."""
    x = _floating(x)
    rows = x if x.data.ndim == 2 else F.reshape(x, (1, -1))
    centred = F.subtract(rows, F.mean(rows, axis=1, keepdims=True))
    covariance = F.matmul(centred, F.transpose(centred, (1, 0)))
    scale = F.sqrt(diagonal(covariance))
    out = F.divide(F.divide(covariance, F.reshape(scale, (-1, 1))), F.reshape(scale, (1, -1)))
    return out if x.data.ndim == 2 else F.reshape(out, ())


def vander(x, N=None, increasing=False) -> Tensor:  # noqa: N803 - Keras's name
    """The Vandermonde matrix: columns ``x**(N-1) ... x**0`` (or increasing)."""
    x = as_tensor(x)
    if x.data.ndim != 1:
        raise ValueError(f"vander takes a 1-D input, got shape {x.data.shape}.")
    columns = x.data.shape[0] if N is None else int(N)
    powers = []
    if columns > 0:
        powers.append(_constant(np.ones_like(x.data)))
    for _ in range(1, columns):
        # repeated products, not x**k: differentiable at x = 0 too
        powers.append(x if len(powers) == 1 else F.multiply(powers[-1], x))
    if not powers:
        return _constant(np.zeros((x.data.shape[0], 0), x.data.dtype))
    out = F.stack(powers, axis=1)
    return out if increasing else flip(out, 1)


# ---------------------------------------------------------------- creation


def array(x, dtype=None) -> Tensor:
    """``x`` as a Tensor (Python floats as ``floatx()``, Python ints as int32)."""
    if isinstance(x, Tensor):
        return x if dtype is None else as_tensor(x, standardize_dtype(dtype))
    if dtype is None and not isinstance(x, (np.ndarray, np.generic)):
        values = np.asarray(x)
        kind = values.dtype.kind
        dtype = floatx() if kind == "f" else "int32" if kind in "iu" else None
        return _constant(values if dtype is None else values.astype(dtype))
    return _constant(np.array(x, dtype=None if dtype is None else standardize_dtype(dtype)))


def empty(shape, dtype=None) -> Tensor:
    """A Tensor of ``shape`` (zeros: axonal does not hand out uninitialised memory)."""
    return zeros(shape, dtype)


def empty_like(x, dtype=None) -> Tensor:
    """A Tensor of ``x``'s shape and dtype (zeros)."""
    return zeros_like(x, dtype)


def identity(n, dtype=None) -> Tensor:
    """The ``n`` × ``n`` identity matrix (default ``floatx()``)."""
    return eye(n, dtype=dtype)


def _spaced(values: np.ndarray, axis: int, dtype) -> Tensor:
    values = np.moveaxis(values, 0, axis) if values.ndim > 1 else values
    return _constant(values, _float(dtype))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0) -> Tensor:
    """``num`` values from ``start`` to ``stop`` spaced evenly on a log scale."""
    values = np.geomspace(_data(start), _data(stop), num, endpoint=endpoint)
    return _spaced(values, axis, dtype)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0) -> Tensor:
    """``base ** linspace(start, stop, num)``."""
    values = np.logspace(_data(start), _data(stop), num, endpoint=endpoint, base=base)
    return _spaced(values, axis, dtype)


def bartlett(x) -> Tensor:
    """The Bartlett (triangular) window of ``x`` points."""
    return _constant(np.bartlett(int(_data(x))), floatx())


def blackman(x) -> Tensor:
    """The Blackman window of ``x`` points."""
    return _constant(np.blackman(int(_data(x))), floatx())


def hamming(x) -> Tensor:
    """The Hamming window of ``x`` points."""
    return _constant(np.hamming(int(_data(x))), floatx())


def hanning(x) -> Tensor:
    """The Hann window of ``x`` points."""
    return _constant(np.hanning(int(_data(x))), floatx())


def kaiser(x, beta) -> Tensor:
    """The Kaiser window of ``x`` points with shape parameter ``beta``."""
    return _constant(np.kaiser(int(_data(x)), float(_data(beta))), floatx())


# ---------------------------------------------------------------- indices and counts


def argpartition(x, kth, axis=-1) -> Tensor:
    """Indices that partition ``x`` along ``axis`` around its ``kth`` smallest entry (int32)."""
    return _constant(np.argpartition(_data(x), kth, axis=axis).astype(np.int32))


def searchsorted(sorted_sequence, values, side="left") -> Tensor:
    """Where ``values`` would be inserted into the 1-D ``sorted_sequence`` to keep it sorted
    (int32)."""
    sequence = _data(sorted_sequence)
    if np.ndim(sequence) != 1:
        raise ValueError(
            f"searchsorted only supports 1-D sorted sequences, got shape {np.shape(sequence)}."
        )
    return _constant(np.searchsorted(sequence, _data(values), side=side).astype(np.int32))


def digitize(x, bins) -> Tensor:
    """The index of the bin of ``bins`` each entry of ``x`` falls in (int32)."""
    return _constant(np.digitize(_data(x), _data(bins)).astype(np.int32))


def nonzero(x) -> tuple:
    """The indices of the non-zero entries, one int32 Tensor per axis."""
    return tuple(_constant(i.astype(np.int32)) for i in np.nonzero(_data(x)))


def unravel_index(indices, shape) -> tuple:
    """Flat ``indices`` as one coordinate Tensor per axis of ``shape``."""
    flat = np.asarray(_data(indices))
    dtype = flat.dtype if flat.dtype.kind in "iu" else np.int32
    return tuple(_constant(c.astype(dtype)) for c in np.unravel_index(flat, shape))


def bincount(x, weights=None, minlength=0, sparse=False) -> Tensor:
    """How often each non-negative integer occurs in ``x`` (each row, for 2-D ``x``), or the
    sums of ``weights`` there; int32 counts."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported in axonal.")
    values = np.asarray(_data(x))
    if weights is None:
        dtype = "int32"
        w = None
    else:
        dtype = _result_dtype(x, weights)
        w = np.asarray(_data(weights))
    if values.ndim == 2:
        length = builtins.max(int(values.max(initial=-1)) + 1, minlength)
        rows = [
            np.bincount(row, None if w is None else w[i], minlength=length)
            for i, row in enumerate(values)
        ]
        return _constant(np.stack(rows).astype(dtype))
    return _constant(np.bincount(values, w, minlength=minlength).astype(dtype))


def histogram(x, bins=10, range=None) -> tuple:  # noqa: A002 - Keras's name
    """Counts of ``x`` in ``bins`` equal bins over ``range`` (default: min to max), and the
    bin edges, both in ``x``'s float dtype (as Keras on torch)."""
    values = np.asarray(_data(x))
    if values.ndim != 1:
        raise ValueError(f"histogram takes a 1-D input, got shape {values.shape}.")
    dtype = _float_dtype(x)
    counts, edges = np.histogram(values, bins=bins, range=range)
    return _constant(counts.astype(dtype)), _constant(edges.astype(dtype))


def unique(
    x,
    sorted=True,  # noqa: A002 - Keras's name
    return_index=False,
    return_inverse=False,
    return_counts=False,
    axis=None,
    size=None,
    fill_value=None,
):
    """The distinct entries of ``x`` (sorted), and optionally where each first occurs, the
    index of each entry in the result and the counts (int64, as Keras on torch); ``size`` pads with
    ``fill_value`` (default 0) or truncates to a fixed length."""
    values = np.asarray(_data(x))
    found = np.unique(
        values,
        return_index=True,
        return_inverse=True,
        return_counts=True,
        axis=axis,
    )
    out, first, inverse, counts = found
    if axis is None:
        inverse = inverse.reshape(values.shape)
    if size is not None:
        dim = 0 if axis is None else axis % values.ndim
        have = out.shape[dim]
        if have >= size:
            out = np.take(out, np.arange(size), axis=dim)
            first, counts = first[:size], counts[:size]
        else:
            widths = [(0, 0)] * out.ndim
            widths[dim] = (0, size - have)
            out = np.pad(out, widths, constant_values=0 if fill_value is None else fill_value)
            first = np.pad(first, (0, size - have))
            counts = np.pad(counts, (0, size - have))
    # the indices and counts are int64, as torch.unique's (Keras on torch)
    result = [_constant(out)]
    if return_index:
        result.append(_constant(first.astype(np.int64)))
    if return_inverse:
        result.append(_constant(inverse.astype(np.int64)))
    if return_counts:
        result.append(_constant(counts.astype(np.int64)))
    return result[0] if len(result) == 1 else tuple(result)


# ---------------------------------------------------------------- linear algebra and misc


def slogdet(x) -> tuple:
    """The sign and ``log |det|`` of square matrices (the log differentiable)."""
    x = _floating(x)
    return _constant(np.linalg.slogdet(x.data)[0]), apply(NP.LogAbsDet, x)


def view(x, dtype=None) -> Tensor:
    """``x``'s bytes read as ``dtype`` (no gradient)."""
    data = _data(x)
    return _constant(data if dtype is None else data.view(standardize_dtype(dtype)))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None) -> Tensor:
    """``x`` with NaN, +inf and -inf replaced (by default: 0 and the dtype's largest and
    smallest values); the gradient flows to the finite entries."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        return x
    replaced = np.nan_to_num(x.data, nan=nan, posinf=posinf, neginf=neginf)
    finite = np.isfinite(x.data)
    return x if np.all(finite) else F.where(finite, x, replaced)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` applied entry by entry (or, with a ``signature`` like ``"(n),(n)->()"``, core
    block by core block) over the broadcast leading axes of its Tensor arguments; the results
    are stacked, so gradients flow through ``pyfunc``'s own ops."""
    excluded = set(excluded or ())
    cores_in, cores_out = _parse_signature(signature) if signature else (None, None)

    def vectorized(*args, **kwargs):
        positions = [i for i in range(len(args)) if i not in excluded]
        tensors = {i: as_tensor(args[i]) for i in positions}
        core_ndims = [len(c) for c in cores_in] if cores_in else [0] * len(positions)
        if len(core_ndims) != len(positions):
            raise ValueError(
                f"vectorize: the signature {signature!r} names {len(core_ndims)} inputs, "
                f"got {len(positions)}."
            )
        loops = [
            tensors[i].data.shape[: tensors[i].data.ndim - n]
            for i, n in zip(positions, core_ndims, strict=True)
        ]
        loop_shape = np.broadcast_shapes(*loops) if loops else ()
        for i, n in zip(positions, core_ndims, strict=True):
            t = tensors[i]
            core = t.data.shape[t.data.ndim - n :] if n else ()
            if t.data.shape != loop_shape + core:
                tensors[i] = F.broadcast_to(t, loop_shape + core)
        results = []
        for index in np.ndindex(*loop_shape):
            call = list(args)
            for i in positions:
                call[i] = tensors[i][index] if index else tensors[i]
            results.append(pyfunc(*call, **kwargs))
        if not results:
            raise ValueError("vectorize needs at least one entry to apply pyfunc to.")

        def gather(parts):
            parts = [as_tensor(p) for p in parts]
            stacked = F.stack(parts, axis=0)
            return F.reshape(stacked, loop_shape + parts[0].data.shape)

        if isinstance(results[0], tuple):
            return tuple(gather([r[k] for r in results]) for k in range(len(results[0])))
        return gather(results)

    vectorized.__doc__ = getattr(pyfunc, "__doc__", None)
    return vectorized


def _parse_signature(signature: str) -> tuple:
    """``"(m,n),(n)->(m)"`` as ``([["m","n"],["n"]], [["m"]])``."""
    inputs, arrow, outputs = signature.replace(" ", "").partition("->")
    if not arrow:
        raise ValueError(f"vectorize: a signature looks like '(n),(n)->()', got {signature!r}.")

    def groups(text):
        return [[d for d in g.split(",") if d] for g in text.strip("()").split("),(")]

    return groups(inputs), groups(outputs)


__all__ = [
    "abs", "absolute", "add", "all", "allclose", "amax", "amin", "angle", "any", "append",
    "arange", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax",
    "argmin", "argpartition", "argsort", "array", "array_split", "average", "bartlett", "bincount",
    "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "blackman", "broadcast_to", "cast", "cbrt", "ceil",
    "clip", "concatenate", "conj", "conjugate", "convert_to_numpy", "copy", "corrcoef",
    "correlate", "cos", "cosh", "count_nonzero", "cross", "cumprod", "cumsum", "deg2rad", "diag",
    "diagflat", "diagonal", "diff", "digitize", "divide", "divide_no_nan", "dot", "dsplit",
    "dstack", "einsum", "empty", "empty_like", "equal", "exp", "exp2", "expand_dims", "expm1",
    "eye", "fabs", "flip", "fliplr", "flipud", "floor", "floor_divide", "fmax", "fmin", "fmod",
    "full", "full_like", "gcd", "geomspace", "get_item", "greater", "greater_equal", "hamming",
    "hanning", "heaviside", "histogram", "hsplit", "hstack", "hypot", "i0", "identity", "imag",
    "inner", "isclose", "isfinite", "isin", "isinf", "isnan", "isneginf", "isposinf", "isreal",
    "kaiser", "kron", "lcm", "ldexp", "left_shift", "less", "less_equal", "linspace", "log",
    "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and", "logical_not",
    "logical_or", "logical_xor", "logspace", "matmul", "max", "maximum", "mean", "median",
    "meshgrid", "min", "minimum", "mod", "moveaxis", "multiply", "nan_to_num", "nanargmax",
    "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin",
    "nanpercentile", "nanprod", "nanquantile", "nanstd", "nansum", "nanvar", "ndim", "negative",
    "nextafter", "nonzero", "norm", "not_equal", "ones", "ones_like", "outer", "pad", "percentile",
    "power", "prod", "ptp", "quantile", "rad2deg", "ravel", "real", "reciprocal", "repeat",
    "reshape", "right_shift", "roll", "rot90", "round", "searchsorted", "select", "shape", "sign",
    "signbit", "sin", "sinc", "sinh", "size", "slogdet", "sort", "split", "sqrt", "square",
    "squeeze", "stack", "std", "stop_gradient", "subtract", "sum", "swapaxes", "take",
    "take_along_axis", "tan", "tanh", "tensordot", "tile", "top_k", "trace", "transpose",
    "trapezoid", "tri", "tril", "triu", "true_divide", "trunc", "unique", "unravel_index",
    "vander", "var", "vdot", "vectorize", "view", "vsplit", "vstack", "where", "zeros",
    "zeros_like",
]  # fmt: skip


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
