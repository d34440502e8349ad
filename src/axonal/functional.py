"""Differentiable functions on tensors: wrappers over primitives, and composites built from them.

Composites (relu6, elu, gelu, logsumexp, …) have no backward of their own: their gradient comes
from the primitives they are made of. Every function accepts Tensors, arrays or numbers.
"""

from __future__ import annotations

import math

from axonal import primitives as P
from axonal.tensor import Tensor, apply, as_tensor

# ---------------------------------------------------------------- arithmetic


def add(x1, x2) -> Tensor:
    """Elementwise ``x1 + x2`` with broadcasting."""
    return apply(P.Add, x1, x2)


def subtract(x1, x2) -> Tensor:
    """Elementwise ``x1 - x2``."""
    return apply(P.Sub, x1, x2)


def multiply(x1, x2) -> Tensor:
    """Elementwise ``x1 * x2``."""
    return apply(P.Mul, x1, x2)


def divide(x1, x2) -> Tensor:
    """Elementwise ``x1 / x2``."""
    return apply(P.Div, x1, x2)


def negative(x) -> Tensor:
    """Elementwise ``-x``."""
    return apply(P.Neg, x)


def power(x1, x2) -> Tensor:
    """Elementwise ``x1 ** x2``."""
    return apply(P.Pow, x1, x2)


def square(x) -> Tensor:
    """Elementwise ``x ** 2``."""
    return apply(P.Square, x)


def exp(x) -> Tensor:
    """Elementwise exponential."""
    return apply(P.Exp, x)


def log(x) -> Tensor:
    """Elementwise natural logarithm."""
    return apply(P.Log, x)


def log1p(x) -> Tensor:
    """Elementwise ``log(1 + x)``, accurate near 0."""
    return apply(P.Log1p, x)


def sqrt(x) -> Tensor:
    """Elementwise square root."""
    return apply(P.Sqrt, x)


def abs(x) -> Tensor:  # noqa: A001 - NumPy/Keras name
    """Elementwise absolute value."""
    return apply(P.Abs, x)


absolute = abs


def maximum(x1, x2) -> Tensor:
    """Elementwise maximum."""
    return apply(P.Maximum, x1, x2)


def minimum(x1, x2) -> Tensor:
    """Elementwise minimum."""
    return apply(P.Minimum, x1, x2)


def clip(x, x_min=None, x_max=None) -> Tensor:
    """Clip values to ``[x_min, x_max]`` (constant bounds; either may be None)."""
    return apply(P.Clip, x, lo=x_min, hi=x_max)


def where(condition, x1, x2) -> Tensor:
    """Pick ``x1`` where ``condition`` holds, else ``x2``."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    return apply(P.Where, condition, x1, x2)


def erf(x) -> Tensor:
    """Gauss error function."""
    return apply(P.Erf, x)


def sign(x):
    """Sign of each element (no gradient: a plain array)."""
    return P.xp.sign(as_tensor(x).data)


# ---------------------------------------------------------------- linear algebra and reductions


def matmul(x1, x2) -> Tensor:
    """Matrix product with NumPy's ``matmul`` semantics."""
    return apply(P.MatMul, x1, x2)


def dense(x, kernel, bias=None) -> Tensor:
    """``x @ kernel + bias`` over the last axis, as one fused op (a Dense layer's maths)."""
    if bias is None:
        return apply(P.Affine, x, kernel)
    return apply(P.Affine, x, kernel, bias)


def dense_relu(x, kernel, bias=None) -> Tensor:
    """``relu(x @ kernel + bias)`` as one fused op."""
    if bias is None:
        return apply(P.AffineRelu, x, kernel)
    return apply(P.AffineRelu, x, kernel, bias)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy/Keras name
    """Sum over ``axis`` (None: every axis)."""
    return apply(P.Sum, x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    return apply(P.Mean, x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy/Keras name
    """Maximum over ``axis``."""
    return apply(P.Max, x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy/Keras name
    """Minimum over ``axis``."""
    return apply(P.Min, x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims: bool = False) -> Tensor:
    """Population variance over ``axis``."""
    centred = subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(square(centred), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    """Population standard deviation over ``axis``."""
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, without overflow."""
    x = as_tensor(x)
    shift = x.data.max(axis=axis, keepdims=True)
    out = add(log(sum(exp(subtract(x, shift)), axis=axis, keepdims=True)), shift)
    if keepdims:
        return out
    return squeeze(out, axis=axis) if axis is not None else reshape(out, ())


# ---------------------------------------------------------------- shape


def reshape(x, newshape) -> Tensor:
    """Reshape to ``newshape``."""
    return apply(P.Reshape, x, shape=tuple(newshape) if not isinstance(newshape, int) else newshape)


def transpose(x, axes=None) -> Tensor:
    """Permute axes (None reverses them)."""
    return apply(P.Transpose, x, axes=None if axes is None else tuple(axes))


def expand_dims(x, axis: int) -> Tensor:
    """Insert a length-1 axis."""
    return apply(P.ExpandDims, x, axis=axis)


def squeeze(x, axis=None) -> Tensor:
    """Remove length-1 axes."""
    return apply(P.Squeeze, x, axis=axis)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast to ``shape``."""
    return apply(P.BroadcastTo, x, shape=tuple(shape))


def flatten(x) -> Tensor:
    """Flatten all axes but the first (the batch)."""
    x = as_tensor(x)
    return reshape(x, (x.shape[0], -1))


def concatenate(xs, axis: int = 0) -> Tensor:
    """Join a sequence of tensors along an existing axis."""
    return apply(P.Concatenate, *xs, axis=axis)


def stack(xs, axis: int = 0) -> Tensor:
    """Join a sequence of tensors along a new axis."""
    return apply(P.Stack, *xs, axis=axis)


def take(x, indices, axis: int = 0) -> Tensor:
    """Gather ``indices`` along ``axis``."""
    indices = indices.data if isinstance(indices, Tensor) else P.xp.asarray(indices)
    return apply(P.Take, x, indices, axis=axis)


def cast(x, dtype) -> Tensor:
    """Cast to ``dtype`` (differentiable between float types)."""
    return apply(P.Cast, x, dtype=P.xp.dtype(dtype))


# ---------------------------------------------------------------- activations


def relu(x) -> Tensor:
    """``max(x, 0)``."""
    return apply(P.Relu, x)


def sigmoid(x) -> Tensor:
    """Logistic sigmoid, stable for large |x|."""
    out = apply(P.Sigmoid, x)
    if isinstance(x, Tensor):
        # a cross-entropy downstream can use the logits instead: exact where p rounds to 0 or 1
        out._logits = ("sigmoid", x)
    return out


def tanh(x) -> Tensor:
    """Hyperbolic tangent."""
    return apply(P.Tanh, x)


def softplus(x) -> Tensor:
    """``log(1 + exp(x))``, stable."""
    return apply(P.Softplus, x)


def softmax(x, axis: int = -1) -> Tensor:
    """Softmax along ``axis``, shifted by the max so exp cannot overflow."""
    out = apply(P.Softmax, x, axis=axis)
    if isinstance(x, Tensor) and axis in (-1, x.ndim - 1):
        out._logits = ("softmax", x)
    return out


def log_softmax(x, axis: int = -1) -> Tensor:
    """Log of softmax along ``axis``, computed without forming tiny probabilities."""
    return apply(P.LogSoftmax, x, axis=axis)


def relu6(x) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """``x`` for x >= 0, else ``negative_slope * x`` (Keras default slope 0.2)."""
    x = as_tensor(x)
    return where(x.data >= 0, x, multiply(x, negative_slope))


def elu(x, alpha: float = 1.0) -> Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    x = as_tensor(x)
    # exp of min(x, 0): the unused branch must not overflow, or its zero gradient becomes nan
    neg = multiply(subtract(exp(minimum(x, 0.0)), 1.0), alpha)
    return where(x.data > 0, x, neg)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x) -> Tensor:
    """Scaled ELU with the self-normalising constants."""
    return multiply(elu(x, _SELU_ALPHA), _SELU_SCALE)


def gelu(x, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit: exact (erf) by default, or the tanh approximation."""
    x = as_tensor(x)
    if approximate:
        inner = multiply(add(x, multiply(power(x, 3.0), 0.044715)), math.sqrt(2 / math.pi))
        return multiply(multiply(x, 0.5), add(tanh(inner), 1.0))
    return multiply(multiply(x, 0.5), add(erf(multiply(x, 1 / math.sqrt(2))), 1.0))


def softsign(x) -> Tensor:
    """``x / (1 + |x|)``."""
    return divide(x, add(abs(x), 1.0))


def silu(x) -> Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    return multiply(x, sigmoid(x))


swish = silu


def hard_sigmoid(x) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6`` (Keras 3)."""
    return divide(relu6(add(x, 3.0)), 6.0)


def hard_silu(x) -> Tensor:
    """``x * hard_sigmoid(x)``."""
    return multiply(x, hard_sigmoid(x))


def exponential(x) -> Tensor:
    """``exp(x)`` as an activation."""
    return exp(x)


def linear(x):
    """Identity activation."""
    return x


# ---------------------------------------------------------------- fused cross-entropies


def sparse_softmax_cross_entropy(logits, labels) -> Tensor:
    """Per-row cross-entropy of integer ``labels`` against softmax(``logits``), fused and stable."""
    labels = labels.data if isinstance(labels, Tensor) else P.xp.asarray(labels)
    return apply(P.SparseSoftmaxCrossEntropy, logits, labels.astype(P.xp.intp, copy=False))


def sparse_softmax_cross_entropy_mean(logits, labels, probs=None) -> Tensor:
    """Batch mean of ``sparse_softmax_cross_entropy`` as one fused op.

    ``probs`` may pass softmax(logits) when it is already known, to skip computing it again.
    """
    labels = labels.data if isinstance(labels, Tensor) else P.xp.asarray(labels)
    labels = labels.astype(P.xp.intp, copy=False)
    probs = probs.data if isinstance(probs, Tensor) else probs
    return apply(P.SparseSoftmaxCrossEntropyMean, logits, labels, probs=probs)


def softmax_cross_entropy(logits, targets, axis: int = -1) -> Tensor:
    """Per-row cross-entropy of probability ``targets`` against softmax(``logits``)."""
    return apply(P.SoftmaxCrossEntropy, logits, targets, axis=axis)


def sigmoid_cross_entropy(logits, targets) -> Tensor:
    """Elementwise binary cross-entropy of ``targets`` against sigmoid(``logits``), stable."""
    return apply(P.SigmoidCrossEntropy, logits, targets)


# ---------------------------------------------------------------- convolution and pooling


# ---------------------------------------------------------------- normalization and sequences
