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


def scaled_dot_product_attention(q, k, v, adder=None, keep=None, scale=None) -> Tensor:
    """``dropout(softmax(q @ kᵀ * scale + adder)) @ v`` as one fused op.

    Args:
        q, k, v: ``(..., T, K)``, ``(..., S, K)``, ``(..., S, V)``.
        adder: a constant added to the scores (0 where allowed, a large negative number where
            masked), broadcast to ``(..., T, S)``; or None.
        keep: a constant dropout mask on the probabilities, scaled by ``1 / (1 - rate)``; or None.
        scale: the score factor (default ``1 / sqrt(K)``).
    """
    if scale is None:
        scale = 1.0 / float(q.shape[-1]) ** 0.5
    return apply(P.ScaledDotProductAttention, q, k, v, adder, keep, scale=float(scale))


def packed_self_attention(qkv, adder=None, keep=None, scale=None) -> Tensor:
    """Multi-head self-attention on a packed projection, as one fused op.

    Args:
        qkv: ``(batch, L, 3, heads, d)``: the queries, keys and values of every head.
        adder, keep, scale: as in ``scaled_dot_product_attention``.

    Returns:
        ``(batch, L, heads, d)``: each head's ``softmax(q kᵀ · scale + adder) v``.
    """
    if scale is None:
        scale = 1.0 / float(qkv.shape[-1]) ** 0.5
    return apply(P.PackedSelfAttention, qkv, adder, keep, scale=float(scale))


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
    batch = x.shape[0]
    # an empty batch leaves -1 ambiguous to NumPy: name the feature count
    return reshape(x, (batch, math.prod(x.shape[1:]) if batch == 0 else -1))


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
    if not isinstance(x, Tensor):
        x = P.xp.asarray(x)  # a Python bool or number has no dtype to cast from
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


def _int_tuple(value, rank: int, name: str) -> tuple:
    """An int or a sequence of ``rank`` ints as a tuple (Keras's ``standardize_tuple``)."""
    integer = (int, P.xp.integer)
    values = (value,) * rank if isinstance(value, integer) else tuple(value)
    if len(values) != rank or not all(
        isinstance(v, integer) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ValueError(f"{name} must be a positive int or {rank} positive ints, got {value!r}.")
    return tuple(int(v) for v in values)


def _conv_pads(spatial: tuple, kernel: tuple, strides: tuple, dilation: tuple, padding: str):
    return tuple(
        P.conv_pads(size, k, s, d, padding)
        for size, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
    )


def _conv(fn_cls, x, kernel, bias, **attrs) -> Tensor:
    if bias is None:
        return apply(fn_cls, x, kernel, **attrs)
    return apply(fn_cls, x, kernel, bias, **attrs)


def conv2d(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1
) -> Tensor:
    """2-D convolution (cross-correlation, as Keras), channels-last, plus an optional bias.

    Args:
        x: ``(batch, height, width, channels)``.
        kernel: ``(kh, kw, channels // groups, filters)``.
        bias: ``(filters,)`` or None.
        strides, dilation_rate: int or pair.
        padding: ``'valid'`` or ``'same'`` (TensorFlow's padding: the odd pad at the end).
        groups: channel groups (``groups == channels`` is a depthwise convolution).

    Returns:
        ``(batch, out_height, out_width, filters)``.

    Example:
        >>> conv2d(np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 2)), padding="same").shape
        (1, 5, 5, 2)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, 2, "strides")
    dilation = _int_tuple(dilation_rate, 2, "dilation_rate")
    pads = _conv_pads(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "groups": groups}
    return _conv(P.Conv2D, x, kernel, bias, **attrs)


def conv2d_relu(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1
) -> Tensor:
    """``relu(conv2d(...))`` as one fused op (a Conv2D layer with ReLU); arguments as ``conv2d``."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, 2, "strides")
    dilation = _int_tuple(dilation_rate, 2, "dilation_rate")
    pads = _conv_pads(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "groups": groups}
    return _conv(P.Conv2DRelu, x, kernel, bias, **attrs)


def conv1d(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1
) -> Tensor:
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` may also be ``'causal'``.

    Args:
        x: ``(batch, steps, channels)``.
        kernel: ``(k, channels // groups, filters)``.
        bias: ``(filters,)`` or None.

    Returns:
        ``(batch, out_steps, filters)``.

    Example:
        >>> conv1d(np.ones((2, 10, 3)), np.ones((3, 3, 4)), padding="causal").shape
        (2, 10, 4)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, 1, "strides")
    dilation = _int_tuple(dilation_rate, 1, "dilation_rate")
    pads = _conv_pads(x.shape[1:2], kernel.shape[:1], strides, dilation, padding)
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "groups": groups}
    return _conv(P.Conv1D, x, kernel, bias, **attrs)


def depthwise_conv2d(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1
) -> Tensor:
    """Depthwise 2-D convolution: each channel convolved with its own ``depth_multiplier`` filters.

    Args:
        x: ``(batch, height, width, channels)``.
        kernel: ``(kh, kw, channels, depth_multiplier)``.
        bias: ``(channels * depth_multiplier,)`` or None.

    Returns:
        ``(batch, out_height, out_width, channels * depth_multiplier)``; output channel
        ``c * depth_multiplier + m`` comes from input channel ``c`` (TensorFlow's order).

    Example:
        >>> depthwise_conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2))).shape
        (1, 3, 3, 6)
    """
    kernel = as_tensor(kernel)
    kh, kw, channels, multiplier = kernel.shape
    # a depthwise convolution is a grouped one with a group per channel
    grouped = reshape(kernel, (kh, kw, 1, channels * multiplier))
    return conv2d(x, grouped, bias, strides, padding, dilation_rate, groups=channels)


def separable_conv2d(
    x,
    depthwise_kernel,
    pointwise_kernel,
    bias=None,
    strides=1,
    padding: str = "valid",
    dilation_rate=1,
) -> Tensor:
    """Depthwise convolution, then a 1x1 convolution mixing the channels (plus a bias).

    Args:
        x: ``(batch, height, width, channels)``.
        depthwise_kernel: ``(kh, kw, channels, depth_multiplier)``.
        pointwise_kernel: ``(1, 1, channels * depth_multiplier, filters)``.
        bias: ``(filters,)`` or None.

    Returns:
        ``(batch, out_height, out_width, filters)``.

    Example:
        >>> depthwise, pointwise = np.ones((3, 3, 3, 1)), np.ones((1, 1, 3, 4))
        >>> separable_conv2d(np.ones((1, 5, 5, 3)), depthwise, pointwise).shape
        (1, 3, 3, 4)
    """
    depthwise = depthwise_conv2d(x, depthwise_kernel, None, strides, padding, dilation_rate)
    pointwise_kernel = as_tensor(pointwise_kernel)
    # a 1x1 convolution is a dense layer over the channel axis
    matrix = reshape(pointwise_kernel, pointwise_kernel.shape[2:])
    return dense(depthwise, matrix, bias)


def conv2d_transpose(
    x,
    kernel,
    bias=None,
    strides=1,
    padding: str = "valid",
    output_padding=None,
    dilation_rate=1,
) -> Tensor:
    """Transposed 2-D convolution (the gradient of ``conv2d`` w.r.t. its input), as Keras.

    Args:
        x: ``(batch, height, width, channels)``.
        kernel: ``(kh, kw, filters, channels)``.
        bias: ``(filters,)`` or None.
        output_padding: None, an int or a pair: extra rows/columns at the end (< strides).

    Returns:
        ``(batch, out_height, out_width, filters)``; with ``output_padding`` None the size is
        ``height * stride`` for ``'same'`` and ``height * stride + max(k - stride, 0)`` for
        ``'valid'``.

    Example:
        >>> conv2d_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 3)), strides=2).shape
        (1, 9, 9, 2)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, 2, "strides")
    dilation = _int_tuple(dilation_rate, 2, "dilation_rate")
    extra = (None, None) if output_padding is None else _int_pairs(output_padding)
    spatial, kernel_hw = x.shape[1:3], kernel.shape[:2]
    output_hw = tuple(
        P.conv_transpose_output_length(
            spatial[i], kernel_hw[i], strides[i], dilation[i], padding, extra[i]
        )
        for i in range(2)
    )
    # the padding of the forward convolution that maps output_hw back onto the input
    pads = tuple(
        _transpose_pads(spatial[i], output_hw[i], kernel_hw[i], strides[i], dilation[i])
        for i in range(2)
    )
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "output_hw": output_hw}
    return _conv(P.Conv2DTranspose, x, kernel, bias, **attrs)


def conv3d(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1
) -> Tensor:
    """3-D convolution over ``(batch, depth, height, width, channels)``, plus an optional bias.

    Args:
        x: ``(batch, depth, height, width, channels)``.
        kernel: ``(kd, kh, kw, channels // groups, filters)``.
        bias: ``(filters,)`` or None.
        strides, dilation_rate: int or triple.
        padding: ``'valid'`` or ``'same'``.
        groups: channel groups.

    Example:
        >>> conv3d(np.ones((1, 4, 5, 5, 2)), np.ones((3, 3, 3, 2, 4)), padding="same").shape
        (1, 4, 5, 5, 4)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, 3, "strides")
    dilation = _int_tuple(dilation_rate, 3, "dilation_rate")
    pads = _conv_pads(x.shape[1:4], kernel.shape[:3], strides, dilation, padding)
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "groups": groups}
    return _conv(P.Conv3D, x, kernel, bias, **attrs)


def depthwise_conv1d(
    x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1
) -> Tensor:
    """Depthwise 1-D convolution: kernel ``(k, channels, depth_multiplier)``; output channel
    ``c * depth_multiplier + m`` comes from input channel ``c``.

    Example:
        >>> depthwise_conv1d(np.ones((1, 6, 3)), np.ones((3, 3, 2))).shape
        (1, 4, 6)
    """
    kernel = as_tensor(kernel)
    k, channels, multiplier = kernel.shape
    grouped = reshape(kernel, (k, 1, channels * multiplier))
    return conv1d(x, grouped, bias, strides, padding, dilation_rate, groups=channels)


def separable_conv1d(
    x,
    depthwise_kernel,
    pointwise_kernel,
    bias=None,
    strides=1,
    padding: str = "valid",
    dilation_rate=1,
) -> Tensor:
    """Depthwise 1-D convolution, then a pointwise one: kernels ``(k, channels, multiplier)``
    and ``(1, channels * multiplier, filters)``.

    Example:
        >>> depthwise, pointwise = np.ones((3, 3, 1)), np.ones((1, 3, 4))
        >>> separable_conv1d(np.ones((1, 6, 3)), depthwise, pointwise).shape
        (1, 4, 4)
    """
    depthwise = depthwise_conv1d(x, depthwise_kernel, None, strides, padding, dilation_rate)
    pointwise_kernel = as_tensor(pointwise_kernel)
    matrix = reshape(pointwise_kernel, pointwise_kernel.shape[1:])
    return dense(depthwise, matrix, bias)


def _conv_transpose(fn_cls, rank, x, kernel, bias, strides, padding, output_padding, dilation):
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides = _int_tuple(strides, rank, "strides")
    dilation = _int_tuple(dilation, rank, "dilation_rate")
    if output_padding is None:
        extra = (None,) * rank
    elif isinstance(output_padding, int):
        extra = (output_padding,) * rank
    else:
        extra = tuple(output_padding)
    spatial, kernel_size = x.shape[1 : 1 + rank], kernel.shape[:rank]
    output_hw = tuple(
        P.conv_transpose_output_length(
            spatial[i], kernel_size[i], strides[i], dilation[i], padding, extra[i]
        )
        for i in range(rank)
    )
    # the padding of the forward convolution that maps output_hw back onto the input
    pads = tuple(
        _transpose_pads(spatial[i], output_hw[i], kernel_size[i], strides[i], dilation[i])
        for i in range(rank)
    )
    attrs = {"strides": strides, "pads": pads, "dilation": dilation, "output_hw": output_hw}
    return _conv(fn_cls, x, kernel, bias, **attrs)


def conv1d_transpose(
    x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1
) -> Tensor:
    """Transposed 1-D convolution: x ``(batch, steps, channels)``, kernel ``(k, filters,
    channels)``; sizes as ``conv2d_transpose``.

    Example:
        >>> conv1d_transpose(np.ones((1, 4, 3)), np.ones((3, 2, 3)), strides=2).shape
        (1, 9, 2)
    """
    return _conv_transpose(
        P.Conv1DTranspose, 1, x, kernel, bias, strides, padding, output_padding, dilation_rate
    )


def conv3d_transpose(
    x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1
) -> Tensor:
    """Transposed 3-D convolution: x ``(batch, depth, height, width, channels)``, kernel
    ``(kd, kh, kw, filters, channels)``; sizes as ``conv2d_transpose``.

    Example:
        >>> conv3d_transpose(np.ones((1, 2, 4, 4, 3)), np.ones((3, 3, 3, 2, 3)), strides=2).shape
        (1, 5, 9, 9, 2)
    """
    return _conv_transpose(
        P.Conv3DTranspose, 3, x, kernel, bias, strides, padding, output_padding, dilation_rate
    )


def _int_pairs(value) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


def _transpose_pads(size: int, out: int, kernel: int, stride: int, dilation: int) -> tuple:
    # TensorFlow pads the forward convolution by what makes `out` reach exactly `size` windows
    # (never negative; `max` here is this module's differentiable max, not the builtin)
    needed = (size - 1) * stride + dilation * (kernel - 1) + 1 - out
    total = needed if needed > 0 else 0
    return (total // 2, total - total // 2)


def _pool(fn_cls, x, pool_size, strides, padding: str, rank: int) -> Tensor:
    x = as_tensor(x)
    pool = _int_tuple(pool_size, rank, "pool_size")
    strides = pool if strides is None else _int_tuple(strides, rank, "strides")
    pads = _conv_pads(x.shape[1 : 1 + rank], pool, strides, (1,) * rank, padding)
    return apply(fn_cls, x, pool=pool, strides=strides, pads=pads)


def max_pool2d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over windows of ``(batch, height, width, channels)``; strides default to the pool.

    Example:
        >>> max_pool2d(np.arange(16.0).reshape(1, 4, 4, 1)).shape
        (1, 2, 2, 1)
    """
    return _pool(P.MaxPool2D, x, pool_size, strides, padding, 2)


def average_pool2d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over windows of ``(batch, height, width, channels)``; 'same' padding is left out
    of each mean (Keras).

    Example:
        >>> average_pool2d(np.ones((1, 5, 5, 1)), 2, padding="same").shape
        (1, 3, 3, 1)
    """
    return _pool(P.AvgPool2D, x, pool_size, strides, padding, 2)


def max_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over windows of ``(batch, steps, channels)``."""
    return _pool(P.MaxPool1D, x, pool_size, strides, padding, 1)


def average_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over windows of ``(batch, steps, channels)``; 'same' padding is left out."""
    return _pool(P.AvgPool1D, x, pool_size, strides, padding, 1)


def upsampling2d(x, size=2) -> Tensor:
    """Nearest-neighbour upsampling of ``(batch, height, width, channels)`` by ``size``.

    Example:
        >>> upsampling2d(np.ones((1, 2, 3, 1)), (2, 3)).shape
        (1, 4, 9, 1)
    """
    return apply(P.UpSampleNearest2D, x, size=_int_tuple(size, 2, "size"))


def zero_padding2d(x, padding) -> Tensor:
    """Zero rows and columns around ``(batch, height, width, channels)``.

    Args:
        padding: ``((top, bottom), (left, right))``.
    """
    (top, bottom), (left, right) = padding
    return apply(P.ZeroPad, x, pads=((0, 0), (top, bottom), (left, right), (0, 0)))


def cropping2d(x, cropping) -> Tensor:
    """Remove rows and columns from the edges of ``(batch, height, width, channels)``.

    Args:
        cropping: ``((top, bottom), (left, right))``.
    """
    (top, bottom), (left, right) = cropping
    return apply(P.Crop, x, crops=((0, 0), (top, bottom), (left, right), (0, 0)))


# ---------------------------------------------------------------- normalization and sequences


def _param_for(param, ndim: int, axes: tuple):
    """Reshape a per-feature parameter over ``axes`` so it broadcasts against an ``ndim`` array."""
    if param is None or axes == tuple(range(ndim - len(axes), ndim)):
        return param
    param = as_tensor(param)
    shape = [1] * ndim
    for axis, size in zip(axes, param.shape, strict=True):
        shape[axis] = size
    return reshape(param, shape)


def _axes_of(axis, ndim: int) -> tuple:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-3) -> Tensor:
    """Normalize each sample over ``axis`` (int or list), then scale by gamma and shift by beta.

    Args:
        x: ``(batch, ...)``.
        gamma, beta: shape of ``x`` over ``axis`` (e.g. ``(features,)``), or None.
        axis: the axes statistics are taken over (default the last).
        epsilon: added to the variance.

    Example:
        >>> layer_normalization(np.random.randn(4, 3), axis=-1).shape
        (4, 3)
    """
    x = as_tensor(x)
    axes = _axes_of(axis, x.ndim)
    if axes == (x.ndim - 1,):
        return apply(P.NormalizeLastAxis, x, gamma, beta, epsilon=float(epsilon))
    gamma, beta = _param_for(gamma, x.ndim, axes), _param_for(beta, x.ndim, axes)
    return apply(P.Normalize, x, gamma, beta, axes=axes, epsilon=float(epsilon))


def batch_normalization_training(
    x, gamma=None, beta=None, axis: int = -1, epsilon=1e-3, mask=None, then_relu: bool = False
):
    """Normalize with the batch's statistics over every axis but ``axis`` (the channels).

    Args:
        x: ``(batch, ..., channels)`` (channels at ``axis``).
        gamma, beta: ``(channels,)`` or None.
        mask: optional boolean array of x's shape without the last axis (a ``(batch, time)``
            timestep mask): the statistics then count only the unmasked positions (Keras).
        then_relu: the output goes through ReLU too (one op with channels last, as a model
            runs BatchNormalization followed by ReLU while training).

    Returns:
        ``(output, mean, variance)``: the normalized Tensor and the batch mean and biased
        variance as ``(channels,)`` arrays (for the moving averages).

    Example:
        >>> out, mean, var = batch_normalization_training(np.random.randn(8, 3))
    """
    x = as_tensor(x)
    channel = axis % x.ndim
    axes = tuple(a for a in range(x.ndim) if a != channel)
    gamma, beta = _param_for(gamma, x.ndim, (channel,)), _param_for(beta, x.ndim, (channel,))
    if mask is not None:
        out, mean, var = _masked_batch_normalization(x, gamma, beta, axes, epsilon, mask)
        return (relu(out) if then_relu else out), mean, var
    if channel == x.ndim - 1:
        # the op scales the centred rows in place: x is centred once
        mean, var, centered = P.centered_moments(x.data)
        out = apply(
            P.NormalizeChannels,
            x,
            gamma,
            beta,
            epsilon=float(epsilon),
            mean=mean,
            var=var,
            centered=centered,
            relu=then_relu,
        )
    else:
        mean, var = P.moments(x.data, axes)
        out = apply(
            P.Normalize, x, gamma, beta, axes=axes, epsilon=float(epsilon), mean=mean, var=var
        )
        if then_relu:
            out = relu(out)
    return out, mean.reshape(-1), var.reshape(-1)


def _masked_batch_normalization(x, gamma, beta, axes, epsilon, mask):
    """Keras's masked moments, composed from primitives (the gradient flows through them)."""
    weights = P.xp.expand_dims(P.xp.asarray(mask, dtype=x.dtype), -1)
    # Keras adds its fuzz factor 1e-7 to the count: an all-masked batch gives zeros, not nan
    count = weights.sum(axis=axes, keepdims=True) + x.dtype.type(1e-7)
    weighted = multiply(x, weights)
    mean = divide(sum(weighted, axis=axes, keepdims=True), count)
    deviation = square(subtract(weighted, mean))
    var = divide(sum(multiply(deviation, weights), axis=axes, keepdims=True), count)
    out = divide(subtract(x, mean), sqrt(add(var, float(epsilon))))
    if gamma is not None:
        out = multiply(out, gamma)
    if beta is not None:
        out = add(out, beta)
    return out, mean.data.reshape(-1), var.data.reshape(-1)


def batch_normalization(x, mean, variance, gamma=None, beta=None, axis: int = -1, epsilon=1e-3):
    """Normalize with given statistics (inference): ``(x - mean) * gamma / sqrt(var + eps) + beta``.

    Args:
        x: ``(batch, ..., channels)`` (channels at ``axis``).
        mean, variance: ``(channels,)`` arrays (no gradient: the moving statistics).
        gamma, beta: ``(channels,)`` Tensors or None.

    Example:
        >>> batch_normalization(np.ones((2, 3)), np.zeros(3), np.ones(3)).shape
        (2, 3)
    """
    x = as_tensor(x)
    axes = (axis % x.ndim,)
    mean = P.xp.asarray(mean, dtype=x.dtype)
    inv_std = 1.0 / P.xp.sqrt(P.xp.asarray(variance, dtype=x.dtype) + x.dtype.type(epsilon))
    # fold everything into one scale and one shift per channel: two passes over x
    scale = inv_std if gamma is None else multiply(gamma, inv_std)
    shift = negative(multiply(scale, mean))
    if beta is not None:
        shift = add(shift, beta)
    scale, shift = _param_for(scale, x.ndim, axes), _param_for(shift, x.ndim, axes)
    return add(multiply(x, scale), shift)


def slice_steps(x, start: int, stop: int | None = None) -> Tensor:
    """``x[:, start]`` (one time step, axis dropped) or ``x[:, start:stop]`` (a range)."""
    return apply(P.SliceSteps, x, start=start, stop=stop)


def reverse_steps(x) -> Tensor:
    """``x[:, ::-1]``: the time axis reversed."""
    return apply(P.ReverseSteps, x)


def simple_rnn_sequence(
    xproj,
    recurrent_kernel,
    h0,
    mask=None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    recurrent_masks=None,
    activation: str = "tanh",
) -> Tensor:
    """A whole SimpleRNN recurrence as one op (see ``primitives.recurrent``).

    Args:
        xproj: ``(batch, time, units)``: inputs @ kernel + bias for every step.
        recurrent_kernel: ``(units, units)``.
        h0: ``(batch, units)``.
        mask: optional boolean ``(batch, time)``.
        recurrent_masks: optional ``(1, batch, units)`` recurrent dropout mask.
        activation: ``'tanh'`` or ``'relu'``.

    Returns:
        ``(batch, time + 1, units)``: outputs in processing order, then the final state.
    """
    return apply(
        P.SimpleRNNSequence,
        xproj,
        recurrent_kernel,
        h0,
        mask=mask,
        reverse=go_backwards,
        zero_output=zero_output_for_mask,
        recurrent_masks=recurrent_masks,
        activation=activation,
    )


def lstm_sequence(
    xproj,
    recurrent_kernel,
    h0,
    c0,
    mask=None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    recurrent_masks=None,
) -> Tensor:
    """A whole LSTM recurrence (Keras gates i, f, c, o) as one op.

    Args:
        xproj: ``(batch, time, 4 * units)``: inputs @ kernel + bias for every step.
        recurrent_kernel: ``(units, 4 * units)``.
        h0, c0: ``(batch, units)``.
        mask: optional boolean ``(batch, time)``.
        recurrent_masks: optional ``(4, batch, units)`` recurrent dropout masks, one per gate.

    Returns:
        ``(batch, time + 2, units)``: outputs in processing order, final h, final c.
    """
    return apply(
        P.LSTMSequence,
        xproj,
        recurrent_kernel,
        h0,
        c0,
        mask=mask,
        reverse=go_backwards,
        zero_output=zero_output_for_mask,
        recurrent_masks=recurrent_masks,
    )


def gru_sequence(
    xproj,
    recurrent_kernel,
    recurrent_bias,
    h0,
    mask=None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    recurrent_masks=None,
) -> Tensor:
    """A whole GRU recurrence (Keras gates z, r, h, ``reset_after=True``) as one op.

    Args:
        xproj: ``(batch, time, 3 * units)``: inputs @ kernel + input bias for every step.
        recurrent_kernel: ``(units, 3 * units)``.
        recurrent_bias: ``(3 * units,)`` or None.
        h0: ``(batch, units)``.
        mask: optional boolean ``(batch, time)``.
        recurrent_masks: optional ``(3, batch, units)`` recurrent dropout masks, one per gate.

    Returns:
        ``(batch, time + 1, units)``: outputs in processing order, then the final state.
    """
    return apply(
        P.GRUSequence,
        xproj,
        recurrent_kernel,
        recurrent_bias,
        h0,
        mask=mask,
        reverse=go_backwards,
        zero_output=zero_output_for_mask,
        recurrent_masks=recurrent_masks,
    )
