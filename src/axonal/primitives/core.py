"""Core primitives: elementwise maths, activations, linear algebra, reductions, shapes, losses.

Primitives work on plain arrays. Backward returns full-shape gradients; the engine sums each one
back to its input's shape (broadcasting), so no primitive handles broadcasting itself. Fused
primitives (``Affine``, the cross-entropies) exist where numerical stability or the per-step cost
calls for them; tests show they equal their composites.
"""

from __future__ import annotations

import itertools
import math

from axonal import pointwise_kernels
from axonal.autograd import Function
from axonal.backend import xp

# ---------------------------------------------------------------- elementwise arithmetic


class Add(Function):
    """a + b"""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    """a - b"""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_grad[1] else None)


class Mul(Function):
    """a * b"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = g * self.b if self.needs_grad[0] else None
        gb = g * self.a if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    """a / b"""

    def forward(self, a, b):
        self.b = b
        self.out = a / b
        return self.out

    def backward(self, g):
        ga = g / self.b
        gb = -ga * self.out if self.needs_grad[1] else None
        return (ga if self.needs_grad[0] else None), gb


class Neg(Function):
    """-a"""

    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """a ** b, differentiable in both (the exponent's gradient needs a > 0)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g):
        ga = gb = None
        if self.needs_grad[0]:
            ga = g * self.b * self.a ** (self.b - 1)
        if self.needs_grad[1]:
            # log(a) is only real for a > 0; elsewhere the exponent gets no gradient
            # (in the output's dtype: a Python-number base would make it a float64 array)
            safe = xp.where(self.a > 0, self.a, 1).astype(self.out.dtype, copy=False)
            gb = g * self.out * xp.log(safe)
        return ga, gb


class Square(Function):
    """a ** 2"""

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return (2 * g * self.a,)


class Exp(Function):
    """exp(a)"""

    def forward(self, a):
        self.out = xp.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    """Natural log."""

    def forward(self, a):
        self.a = a
        return xp.log(a)

    def backward(self, g):
        return (g / self.a,)


class Log1p(Function):
    """log(1 + a), accurate for small a."""

    def forward(self, a):
        self.a = a
        return xp.log1p(a)

    def backward(self, g):
        return (g / (1 + self.a),)


class Sqrt(Function):
    """Square root."""

    def forward(self, a):
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, g):
        return (g / (2 * self.out),)


class Abs(Function):
    """|a|, with gradient sign(a) (0 at 0)."""

    def forward(self, a):
        self.a = a
        return xp.abs(a)

    def backward(self, g):
        return (g * xp.sign(self.a),)


class Maximum(Function):
    """Elementwise max; ties send the gradient to the first argument."""

    def forward(self, a, b):
        self.mask = a >= b
        return xp.maximum(a, b)

    def backward(self, g):
        ga = xp.where(self.mask, g, 0) if self.needs_grad[0] else None
        gb = xp.where(self.mask, 0, g) if self.needs_grad[1] else None
        return ga, gb


class Minimum(Function):
    """Elementwise min; ties send the gradient to the first argument."""

    def forward(self, a, b):
        self.mask = a <= b
        return xp.minimum(a, b)

    def backward(self, g):
        ga = xp.where(self.mask, g, 0) if self.needs_grad[0] else None
        gb = xp.where(self.mask, 0, g) if self.needs_grad[1] else None
        return ga, gb


class Clip(Function):
    """clip(a, lo, hi) with constant bounds; gradient passes where lo <= a <= hi."""

    def forward(self, a, lo=None, hi=None):
        if a.dtype.kind == "f":
            # bounds in a's dtype: a float64 NumPy bound would upcast a float32 input
            lo = None if lo is None else xp.asarray(lo, dtype=a.dtype)
            hi = None if hi is None else xp.asarray(hi, dtype=a.dtype)
        self.mask = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            self.mask &= a >= lo
        if hi is not None:
            self.mask &= a <= hi
        return xp.clip(a, lo, hi)

    def backward(self, g):
        return (g * self.mask,)


class Where(Function):
    """where(condition, a, b); the condition gets no gradient."""

    def forward(self, condition, a, b):
        self.condition = condition.astype(bool, copy=False)
        return xp.where(self.condition, a, b)

    def backward(self, g):
        ga = xp.where(self.condition, g, 0) if self.needs_grad[1] else None
        gb = xp.where(self.condition, 0, g) if self.needs_grad[2] else None
        return None, ga, gb


class Erf(Function):
    """Gauss error function (rational approximation, |error| < 1.2e-7, exact derivative)."""

    # Chebyshev fit of erfc (Numerical Recipes' erfcc); float32 resolves nothing finer
    _COEFFS = (
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    )

    def forward(self, a):
        self.a = a
        z = xp.abs(a)
        t = 1 / (1 + 0.5 * z)
        poly = xp.zeros_like(t)
        for c in reversed(self._COEFFS[1:]):
            poly = (poly + c) * t
        poly += self._COEFFS[0]
        erfc = t * xp.exp(-z * z + poly)
        return xp.sign(a) * (1 - erfc)

    def backward(self, g):
        return (g * (2 / math.sqrt(math.pi)) * xp.exp(-self.a * self.a),)


# ---------------------------------------------------------------- activations


class Relu(Function):
    """max(a, 0)"""

    def forward(self, a):
        self.out = relu_values(a)
        return self.out

    def backward(self, g):
        return (relu_grad(g, self.out),)


class Sigmoid(Function):
    """1 / (1 + exp(-a)), evaluated without overflow for large |a|."""

    def forward(self, a):
        # exp of a non-positive number only: 1/(1+e^-a) for a>=0, e^a/(1+e^a) for a<0
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1, e) / (1 + e)
        return self.out

    def backward(self, g):
        return (g * self.out * (1 - self.out),)


class Tanh(Function):
    """Hyperbolic tangent."""

    def forward(self, a):
        self.out = xp.tanh(a)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


class Softplus(Function):
    """log(1 + exp(a)), stable for any a."""

    def forward(self, a):
        self.a = a
        return xp.logaddexp(0, a)

    def backward(self, g):
        e = xp.exp(-xp.abs(self.a))
        sig = xp.where(self.a >= 0, 1, e) / (1 + e)
        return (g * sig,)


# Up to this many rows, per-row checks and sums run on Python floats and ints: for a small
# batch, min, max and sum over a list beat a NumPy reduction's fixed cost.
_FEW_ROWS = 64


def softmax_short_row(values: list) -> list:
    """Softmax of one row of a few logits given as Python floats, computed in float64.

    For a row of a handful of values this beats NumPy's calls, and rounding the float64 result
    once to the array's type is no less precise than the array path. ``softmax_rows`` and
    predict's inference plan both use it, so they give the same bits.

    Example:
        >>> softmax_short_row([1.0, 2.0, 3.0])
    """
    top = max(values)
    # plain loops, not comprehensions: before Python 3.12 each comprehension is a function
    # call of its own, at three values a third of this function's time
    exps = []
    for value in values:
        exps.append(math.exp(value - top))
    total = sum(exps)
    probabilities = []
    for e in exps:
        probabilities.append(e / total)
    return probabilities


def softmax_rows(logits, overwrite: bool = False):
    """Softmax over the last axis of ``logits``, overwriting them when ``overwrite`` is set.

    One row of a few logits (``predict``'s latency case) is computed on Python floats. Otherwise
    the usual shift by the row max is skipped when no row needs it: the logits are capped so exp
    cannot overflow (or warn), the row sums are one matrix-vector product (NumPy's reductions
    along short rows cost several times more), and the rows are shifted by their max after all
    only if a logit reached the cap or a row's exponentials are so small that dividing by their
    sum would lose precision.
    """
    if logits.dtype.kind != "f":
        # integer scores: float64, as NumPy's exp would give
        logits, overwrite = logits.astype(xp.float64), True
    size = logits.size
    if size == logits.shape[-1] and 0 < size <= 8:
        probabilities = softmax_short_row(logits.ravel().tolist())
        if overwrite and logits.flags.c_contiguous:
            out = logits
        else:
            out = xp.empty(logits.shape, dtype=logits.dtype)
        # one row of a 2-D array (predict's case) takes the list directly, without a reshape
        (out[0] if out.ndim == 2 else out.reshape(-1))[...] = probabilities
        return out
    low, _, high = softmax_limits(logits.dtype)
    exps = xp.minimum(logits, _softmax_cap(logits.dtype))
    xp.exp(exps, out=exps)
    totals = row_sums(exps)
    if totals.size <= _FEW_ROWS:
        sums = totals.ravel().tolist()
        fits = bool(sums) and low < min(sums) and max(sums) < high
    else:
        fits = low < xp.minimum.reduce(totals, axis=None)
        fits = fits and xp.maximum.reduce(totals, axis=None) < high
    if fits:
        exps /= totals
        return exps
    shifted = xp.subtract(
        logits, xp.maximum.reduce(logits, axis=-1, keepdims=True), out=logits if overwrite else None
    )
    xp.exp(shifted, out=shifted)
    shifted /= row_sums(shifted)
    return shifted


_ONES: dict = {}


def _ones(length: int, dtype, column: bool):
    """A cached read-only vector of ones (a ``(length, 1)`` column if ``column``)."""
    key = (length, dtype.char, column)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = xp.ones((length, 1) if column else length, dtype=dtype)
        ones.flags.writeable = False
        _ONES[key] = ones
    return ones


def row_sums(array):
    """Sums over the last axis, keeping it (length 1): a product with a column of ones.

    For the short rows of class scores this is several times faster than ``add.reduce``.
    """
    ones = _ones(array.shape[-1], array.dtype, column=True)
    return array.dot(ones) if array.ndim <= 2 else xp.matmul(array, ones)


# Arrays from this size up take relu_values' block path; below it a scalar compare is as fast.
RELU_BLOCK_MIN = 1024
_ZERO_BLOCK = 1 << 16
_ZEROS: dict = {}


_SCALAR_ZEROS: dict = {}


def scalar_zero(dtype):
    """A cached read-only 0-d zero of the float ``dtype``, to compare or clip small arrays with.

    The same value as the Python scalar 0, but NumPy converts a Python scalar operand on every
    call, which doubles the cost of a comparison or a maximum on a few dozen values.
    """
    zero = _SCALAR_ZEROS.get(dtype.char)
    if zero is None:
        zero = _SCALAR_ZEROS[dtype.char] = xp.zeros((), dtype=dtype)
        zero.flags.writeable = False
    return zero


# from this size up ReLU's gradient is one compiled pass where pointwise_kernels runs; below
# it the call's dispatch costs more than the second pass it saves
_COMPILED_RELU_GRAD_MIN = 1 << 14


def relu_grad(g, out):
    """``g * (out > 0)``: the gradient of ReLU (or a ReLU-fused op) whose output was ``out``."""
    if g.size >= _COMPILED_RELU_GRAD_MIN and g.shape == out.shape:
        loops = pointwise_kernels.compiled(g, out)
        if loops is not None:
            gx = xp.empty_like(g)
            loops.relu_grad(g, out, gx)
            return gx
    # a multiply by the boolean mask: several times faster than where() on random masks
    return g * xp.greater(out, scalar_zero(out.dtype))


def relu_values(a, out=None):
    """``max(a, 0)`` as an array, written into ``out`` if given (which may be ``a`` itself).

    NumPy's ``maximum`` against the scalar 0 runs a per-element loop about four times slower than
    against an array of zeros (128×512 float32: 25 vs 6 µs), so float arrays from a thousand
    values up are compared with a cached read-only block of zeros, one block-sized slice at a
    time (the block stays in cache; the result is the same).
    """
    if (
        a.size < RELU_BLOCK_MIN
        or a.dtype.kind != "f"
        or not a.flags.c_contiguous
        or (out is not None and (not out.flags.c_contiguous or out.dtype != a.dtype))
    ):
        zero = scalar_zero(a.dtype) if a.dtype.kind == "f" else 0
        return xp.maximum(a, zero) if out is None else xp.maximum(a, zero, out=out)
    zeros = _ZEROS.get(a.dtype.char)
    if zeros is None:
        zeros = _ZEROS[a.dtype.char] = xp.zeros(_ZERO_BLOCK, dtype=a.dtype)
        zeros.flags.writeable = False
    if out is None:
        out = xp.empty(a.shape, dtype=a.dtype)
    source, target = a.reshape(-1), out.reshape(-1)
    size = source.size
    for start in range(0, size, _ZERO_BLOCK):
        stop = min(start + _ZERO_BLOCK, size)
        xp.maximum(source[start:stop], zeros[: stop - start], out=target[start:stop])
    return out


def column_sums(matrix, out=None):
    """Sums over the rows of a 2-D ``matrix`` (a bias gradient): ones times the matrix.

    A matrix-vector product is two to three times faster than ``add.reduce(axis=0)`` from a
    handful of rows up to a few hundred.
    """
    ones = _ones(matrix.shape[0], matrix.dtype, column=False)
    return ones.dot(matrix) if out is None else ones.dot(matrix, out=out)


# OpenBLAS multiplies small matrices (M·N·K up to about a million) without packing them. A
# product with a tiny result and a long inner axis (a kernel gradient summed over many rows) is
# several times faster as a sum of such pieces: LeNet's first kernel gradient, (26 × 36,864) ·
# (36,864 × 6), 470 -> 280 µs; (10 × 4,096) · (4,096 × 32) 107 -> 34 µs. Larger results lose.
_SPLIT_RESULT_MAX = 512
_SPLIT_PIECE_MNK = 1 << 19
# the shortest K that splits (two pieces for the largest result): shorter ones skip the sums
_SPLIT_MIN_K = 2 * (1 << ((_SPLIT_PIECE_MNK // _SPLIT_RESULT_MAX).bit_length() - 1))


def inner_product(a, b, out=None):
    """``a @ b`` for matrices ``a`` ``(M, K)`` and ``b`` ``(K, N)``, into ``out`` if given.

    When the result is tiny and K long, it is a sum of products over slices of K (the same
    value up to float rounding); otherwise one ``dot``.
    """
    m, k = a.shape
    n = b.shape[1]
    if k >= _SPLIT_MIN_K and 0 < m * n <= _SPLIT_RESULT_MAX:
        piece = 1 << ((_SPLIT_PIECE_MNK // (m * n)).bit_length() - 1)
        if k >= 2 * piece:
            out = (
                a[:, :piece].dot(b[:piece]) if out is None else a[:, :piece].dot(b[:piece], out=out)
            )
            for start in range(piece, k, piece):
                out += a[:, start : start + piece].dot(b[start : start + piece])
            return out
    return a.dot(b) if out is None else a.dot(b, out=out)


def softmax_limits(dtype) -> tuple[float, float, float]:
    """``(low, cap, high)`` for ``softmax_rows``: sums above ``low`` keep full precision;
    exp(``cap``) times a million columns still fits the dtype; a sum of ``high`` = exp(cap)
    or more means some logit was capped."""
    limits = _SOFTMAX_LIMITS.get(dtype)
    if limits is None:
        info = xp.finfo(dtype)
        cap = math.log(float(info.max)) - 20 * math.log(2.0)
        limits = (float(info.tiny) ** 0.5, cap, math.exp(cap) * 0.999)
        _SOFTMAX_LIMITS[dtype] = limits
    return limits


_SOFTMAX_LIMITS: dict = {}
_SOFTMAX_CAPS: dict = {}


def _softmax_cap(dtype):
    """``softmax_limits``'s cap as a read-only 0-d array of ``dtype`` (the value NumPy would
    round the Python float to; a Python scalar operand costs more than a small minimum)."""
    cap = _SOFTMAX_CAPS.get(dtype.char)
    if cap is None:
        cap = _SOFTMAX_CAPS[dtype.char] = xp.array(softmax_limits(dtype)[1], dtype=dtype)
        cap.flags.writeable = False
    return cap


class Softmax(Function):
    """exp(a) / sum(exp(a)) along ``axis``."""

    def forward(self, a, axis=-1):
        self.last = axis == -1 or axis == a.ndim - 1
        self.axis = axis
        if self.last:
            self.out = softmax_rows(a)
            return self.out
        # shift by the max: softmax is shift-invariant and exp cannot overflow
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        self.out = e
        return e

    def backward(self, g):
        y = self.out
        weighted = g * y
        dot = row_sums(weighted) if self.last else weighted.sum(axis=self.axis, keepdims=True)
        return (y * (g - dot),)


class LogSoftmax(Function):
    """a - logsumexp(a) along ``axis``, without forming softmax's small numbers."""

    def forward(self, a, axis=-1):
        self.axis = axis
        shifted = a - a.max(axis=axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        return self.out

    def backward(self, g):
        return (g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


# ---------------------------------------------------------------- linear algebra


class MatMul(Function):
    """a @ b with NumPy's matmul semantics (batched, 1-D promotion)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if self.needs_grad[0] else None), (g * a if self.needs_grad[1] else None)
        if self.needs_grad[0]:
            if b.ndim == 1:
                ga = xp.expand_dims(g, -1) * b
            else:
                g2 = xp.expand_dims(g, -2) if a.ndim == 1 else g
                ga = g2 @ xp.swapaxes(b, -1, -2)
                if a.ndim == 1:
                    ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if self.needs_grad[1]:
            if a.ndim == 1:
                gb = xp.expand_dims(a, -1) * xp.expand_dims(g, -2)
            else:
                g2 = xp.expand_dims(g, -1) if b.ndim == 1 else g
                gb = xp.swapaxes(a, -1, -2) @ g2
                if b.ndim == 1:
                    gb = gb[..., 0]
        return ga, gb


class Affine(Function):
    """x @ kernel + bias over the last axis of x: one fused op for a Dense layer.

    kernel is ``(in, out)``; bias is ``(out,)`` or None.
    """

    def forward(self, x, kernel, bias=None):
        self.x, self.kernel = x, kernel
        self.has_bias = bias is not None
        # ndarray.dot is one GEMM with far less call overhead than matmul on small batches
        if x.ndim <= 2:
            out = x.dot(kernel)
        else:
            out = x.reshape(-1, x.shape[-1]).dot(kernel).reshape(x.shape[:-1] + kernel.shape[1:])
        if bias is not None:
            out += bias
        return out

    def backward(self, g):
        return self._gradients(g)

    def _gradients(self, g):
        x, kernel = self.x, self.kernel
        gx = None
        if self.needs_grad[0]:
            if g.ndim == 2:
                gx = g.dot(kernel.T)
            else:
                # rows first: NumPy's dot on a 3-D array is not one matrix product (5x slower)
                gx = g.reshape(-1, g.shape[-1]).dot(kernel.T).reshape(g.shape[:-1] + (-1,))
        gk = gb = None
        if self.needs_grad[1]:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
            out = self.free_grad_buffer(1)
            if out is not None and out.dtype != g2.dtype:
                out = None
            if len(x2) < _SPLIT_MIN_K:
                # a training batch: one product (the common case, kept free of a call)
                gk = x2.T.dot(g2) if out is None else x2.T.dot(g2, out=out)
            else:
                gk = inner_product(x2.T, g2, out=out)
        if self.has_bias and self.needs_grad[2]:
            out = self.free_grad_buffer(2)
            if out is not None and out.dtype != g.dtype:
                out = None
            gb = column_sums(g if g.ndim == 2 else g.reshape(-1, g.shape[-1]), out=out)
        # one gradient per input: without a bias there are only two
        return (gx, gk, gb) if self.has_bias else (gx, gk)


class AffineRelu(Affine):
    """relu(x @ kernel + bias): a Dense layer with ReLU as one op, one pass fewer each way."""

    def forward(self, x, kernel, bias=None):
        out = super().forward(x, kernel, bias)
        relu_values(out, out=out)
        self.out = out
        return out

    def backward(self, g):
        return self._gradients(relu_grad(g, self.out))


# ---------------------------------------------------------------- reductions


def _normalize_axis(axis, ndim: int):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axis))


def _restore_reduced(g, shape: tuple, axes: tuple, keepdims: bool):
    """Reshape a reduction's gradient so it broadcasts against the input shape."""
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g


class Sum(Function):
    """Sum over ``axis`` (None: all)."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape = a.shape
        self.axes = _normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = _restore_reduced(g, self.shape, self.axes, self.keepdims)
        return (xp.broadcast_to(g, self.shape),)


class Mean(Function):
    """Mean over ``axis`` (None: all)."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape = a.shape
        self.keepdims = keepdims
        if axis is None and not keepdims:
            # the common whole-batch loss reduction: skip the axis bookkeeping
            self.axes = None
            self.count = a.size
            return a.sum() / max(a.size, 1)
        self.axes = _normalize_axis(axis, a.ndim)
        self.count = math.prod(a.shape[i] for i in self.axes)
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        if self.axes is None:
            return (xp.full(self.shape, g / max(self.count, 1), dtype=g.dtype),)
        g = _restore_reduced(g, self.shape, self.axes, self.keepdims)
        return (xp.broadcast_to(g / self.count, self.shape),)


class Max(Function):
    """Max over ``axis``; ties share the gradient equally."""

    def forward(self, a, axis=None, keepdims=False):
        self.a = a
        self.axes = _normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        self.out = a.max(axis=self.axes, keepdims=True)
        return (
            self.out
            if keepdims
            else self.out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in self.axes))
        )

    def backward(self, g):
        g = _restore_reduced(g, self.a.shape, self.axes, self.keepdims)
        mask = self.a == self.out
        # the tie count is an integer array: cast it, or it would upcast a float32 gradient
        ties = mask.sum(axis=self.axes, keepdims=True).astype(g.dtype)
        return (mask * (g / ties),)


class Min(Max):
    """Min over ``axis``; ties share the gradient equally."""

    def forward(self, a, axis=None, keepdims=False):
        self.a = a
        self.axes = _normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        self.out = a.min(axis=self.axes, keepdims=True)
        return (
            self.out
            if keepdims
            else self.out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in self.axes))
        )


# ---------------------------------------------------------------- shape


class Reshape(Function):
    """Reshape to ``shape`` (one -1 allowed)."""

    def forward(self, a, shape=()):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    """Permute axes (None: reverse them)."""

    def forward(self, a, axes=None):
        # non-negative axes: backward inverts the permutation with argsort
        self.axes = None if axes is None else tuple(ax % a.ndim for ax in axes)
        return xp.transpose(a, self.axes)

    def backward(self, g):
        if self.axes is None:
            return (xp.transpose(g),)
        return (xp.transpose(g, xp.argsort(self.axes)),)


class ExpandDims(Function):
    """Insert a length-1 axis at ``axis``."""

    def forward(self, a, axis=0):
        self.shape = a.shape
        return xp.expand_dims(a, axis)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Squeeze(Function):
    """Remove length-1 axes (``axis`` or all)."""

    def forward(self, a, axis=None):
        self.shape = a.shape
        return xp.squeeze(a, axis=axis)

    def backward(self, g):
        return (g.reshape(self.shape),)


class BroadcastTo(Function):
    """Broadcast to ``shape``; backward is the engine's unbroadcast."""

    def forward(self, a, shape=()):
        return xp.broadcast_to(a, shape)

    def backward(self, g):
        return (g,)


class Concatenate(Function):
    """Join arrays along an existing ``axis``."""

    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        splits = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(xp.split(g, splits, axis=self.axis))


class Stack(Function):
    """Join arrays along a new ``axis``."""

    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.count = len(arrays)
        return xp.stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(xp.take(g, i, axis=self.axis) for i in range(self.count))


class GetItem(Function):
    """a[index] for basic and advanced (gather) indexing; repeated indices accumulate."""

    def forward(self, a, index=None):
        self.shape = a.shape
        self.dtype = a.dtype
        self.index = index
        return a[index]

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=self.dtype)
        xp.add.at(out, self.index, g)
        return (out,)


class Take(Function):
    """Gather ``indices`` along ``axis`` (an embedding lookup is take along axis 0)."""

    def forward(self, a, indices, axis=0):
        self.shape = a.shape
        self.dtype = a.dtype
        self.indices = indices
        # non-negative axis: backward locates the gathered axes from it
        self.axis = axis % a.ndim
        return xp.take(a, indices, axis=axis)

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=self.dtype)
        moved = xp.moveaxis(out, self.axis, 0)
        idx_nd = xp.ndim(self.indices)
        g_moved = xp.moveaxis(g, tuple(range(self.axis, self.axis + idx_nd)), tuple(range(idx_nd)))
        indices = xp.asarray(self.indices)
        if indices.dtype.kind not in "iu" or indices.size == 0:
            xp.add.at(moved, indices, g_moved)
            return out, None
        flat = indices.reshape(-1) % self.shape[self.axis]
        rows = g_moved.reshape((flat.size,) + moved.shape[1:])
        scatter_add_rows(moved, flat, rows)
        return out, None


# occurrences of an index added by one vectorised scatter each; later ones are summed in bulk
_SCATTER_ROUNDS = 8
# from this many rows the compiled loop adds them (pointwise_kernels), in the same order
_COMPILED_SCATTER_MIN = 256


def scatter_add_rows(out, indices, rows) -> None:
    """``out[indices[i]] += rows[i]`` for every ``i``, repeated indices accumulating.

    An embedding's gradient over a batch. ``add.at``'s unbuffered scatter is several times
    slower, and so is ``add.reduceat`` over the rows sorted by index (its segments are short).
    Instead the rows are grouped by how many times their index has occurred before: the
    first occurrences of all indices are added by one scatter (no index repeats within a
    round), then the second ones, and so on. Indices occurring more than ``_SCATTER_ROUNDS``
    times (a padding token) have the rest of their rows summed per index at the end. Up to that
    depth each index receives its rows in their original order, as ``add.at`` adds them.
    Where ``pointwise_kernels`` runs, one compiled pass adds the rounds' rows in that order
    (the same numbers) and the deeper rows summed in order (within rounding of the pairwise
    sums here: a transformer batch of 4,096 tokens over 1,000 ids, 0.71 -> 0.33 ms a step).
    """
    size = indices.size
    loops = None
    if size >= _COMPILED_SCATTER_MIN and out.flags.c_contiguous:
        # (a contiguous out reshapes to a view: the loop writes into out itself)
        table, flat_rows = out.reshape(out.shape[0], -1), rows.reshape(size, -1)
        positions = xp.ascontiguousarray(indices, dtype=xp.intp)
        # the loop does not check bounds: an index outside out takes NumPy's path (and error)
        if xp.minimum.reduce(positions) >= 0 and xp.maximum.reduce(positions) < len(out):
            loops = pointwise_kernels.compiled(table, flat_rows)
    if loops is not None:
        # the rounds in one compiled pass, in the same order, and the deeper rows' sums
        loops.scatter_add_rows(table, positions, flat_rows, _SCATTER_ROUNDS)
        return
    order = xp.argsort(indices, kind="stable")
    ordered = indices[order]
    starts = xp.flatnonzero(xp.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = xp.diff(xp.append(starts, size))
    rank = xp.arange(size) - xp.repeat(starts, counts)
    for occurrence in range(min(int(counts.max(initial=0)), _SCATTER_ROUNDS)):
        chosen = rank == occurrence
        out[ordered[chosen]] += rows[order[chosen]]
    deep = rank >= _SCATTER_ROUNDS
    if deep.any():
        positions, targets = order[deep], ordered[deep]
        firsts = xp.flatnonzero(xp.concatenate(([True], targets[1:] != targets[:-1])))
        out[targets[firsts]] += xp.add.reduceat(rows[positions], firsts, axis=0)


class Cast(Function):
    """Change dtype; the gradient is cast back."""

    def forward(self, a, dtype=None):
        self.dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)


# ---------------------------------------------------------------- fused losses


_ROW_STARTS: dict = {}


def label_positions(labels, classes: int):
    """Flat indices of ``labels``' entries in a C-contiguous ``(len(labels), classes)`` array.

    ``labels`` is a 1-D integer (``intp``) array; a label outside ``[0, classes)`` raises.

    One flat gather is several times cheaper than ``array[rows, labels]``; the row offsets
    are cached per shape (a fit uses one or two batch sizes).
    """
    if labels.size <= _FEW_ROWS:
        values = labels.tolist()
        outside = bool(values) and (min(values) < 0 or max(values) >= classes)
    else:
        # negative labels wrap to huge unsigned values: one reduction checks both ends
        outside = labels.size and xp.maximum.reduce(labels.view(xp.uintp)) >= classes
    if outside:
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise ValueError(
            f"Sparse cross-entropy got label {bad}, outside the valid range [0, {classes - 1}] "
            f"for {classes} classes."
        )
    key = (labels.shape[0], classes)
    starts = _ROW_STARTS.get(key)
    if starts is None:
        if len(_ROW_STARTS) > 64:
            _ROW_STARTS.clear()
        starts = _ROW_STARTS[key] = xp.arange(0, key[0] * classes, classes)
    return starts + labels


class SparseSoftmaxCrossEntropy(Function):
    """Per-row -log softmax(logits)[label]; softmax and cross-entropy in one stable op.

    logits: ``(..., classes)``; labels: integer array ``(...)``. Labels get no gradient.
    """

    def forward(self, logits, labels):
        classes = logits.shape[-1]
        flat = logits.reshape(-1, classes)
        shifted = flat - xp.maximum.reduce(flat, axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = row_sums(exp)
        exp /= total
        self.probs, self.shape = exp, logits.shape
        self.positions = label_positions(labels.reshape(-1), classes)
        picked = shifted.reshape(-1)[self.positions]
        return (xp.log(total.reshape(-1)) - picked).reshape(labels.shape)

    def backward(self, g):
        grad = self.probs.copy()
        grad.reshape(-1)[self.positions] -= 1
        grad *= g.reshape(-1, 1)
        return grad.reshape(self.shape), None


class SparseSoftmaxCrossEntropyMean(SparseSoftmaxCrossEntropy):
    """The batch mean of ``SparseSoftmaxCrossEntropy``: the usual training loss as one op.

    ``probs``, when given, is softmax(logits) already computed by the model's output layer; it
    is reused unless a label's probability is so small that its log would lose precision.
    """

    def forward(self, logits, labels, probs=None):
        if probs is not None and probs.ndim == 2 and labels.ndim == 1 and labels.size:
            positions = label_positions(labels, probs.shape[1])
            picked = probs.reshape(-1)[positions]
            self.probs, self.positions, self.shape = probs, positions, logits.shape
            self.count = picked.size
            # far above the smallest normal float: -log(picked) keeps full precision
            if picked.size <= _FEW_ROWS:
                values = picked.tolist()
                if min(values) > 1e-30:
                    return probs.dtype.type(-sum(map(math.log, values)) / self.count)
            elif xp.minimum.reduce(picked) > 1e-30:
                return -xp.add.reduce(xp.log(picked)) / self.count
        per_row = super().forward(logits, labels)
        self.count = max(per_row.size, 1)
        return xp.add.reduce(per_row, axis=None) / self.count

    def backward(self, g):
        # a 0-d array, not a NumPy scalar: the two ufuncs below take it with less ado
        scale = xp.asarray(g / self.count)
        # (p - onehot) * scale, as p * scale with scale taken off at the labels
        grad = xp.multiply(self.probs, scale)
        grad.reshape(-1)[self.positions] -= scale
        return grad.reshape(self.shape), None


class SoftmaxCrossEntropy(Function):
    """Per-row -sum(targets * log softmax(logits)) for probability targets, in one stable op."""

    def forward(self, logits, targets, axis=-1):
        self.axis = axis
        shifted = logits - logits.max(axis=axis, keepdims=True)
        log_total = xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        log_probs = shifted - log_total
        self.log_probs, self.targets = log_probs, targets
        return -(targets * log_probs).sum(axis=axis)

    def backward(self, g):
        g = xp.expand_dims(g, self.axis)
        probs = xp.exp(self.log_probs)
        t = self.targets
        glogits = g * (probs * t.sum(axis=self.axis, keepdims=True) - t)
        gtargets = -g * self.log_probs if self.needs_grad[1] else None
        return glogits, gtargets


class SigmoidCrossEntropy(Function):
    """Elementwise binary cross-entropy from logits: max(z,0) - z*t + log(1 + exp(-|z|))."""

    def forward(self, logits, targets):
        self.logits, self.targets = logits, targets
        return xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))

    def backward(self, g):
        z = self.logits
        e = xp.exp(-xp.abs(z))
        sig = xp.where(z >= 0, 1, e) / (1 + e)
        gz = g * (sig - self.targets)
        gt = -g * z if self.needs_grad[1] else None
        return gz, gt
