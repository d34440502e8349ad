"""``keras.ops.nn``: activations, softmax, one-hot, moments, losses as ops and dot-product
attention, with Keras's argument order (losses take ``(target, output)``)."""

from __future__ import annotations

import numpy as np

from axonal import functional as F
from axonal import losses as losses_module
from axonal import primitives as P
from axonal.backend import epsilon as backend_epsilon
from axonal.backend import floatx, standardize_dtype
from axonal.config import image_data_format
from axonal.functional import (
    elu,
    hard_sigmoid,
    hard_silu,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
    tanh,
)
from axonal.primitives.attention import MASKED_SCORE
from axonal.primitives.numpy_ops import Closure
from axonal.tensor import Tensor, apply, as_tensor


def gelu(x, approximate: bool = True) -> Tensor:
    """GELU; Keras's op defaults to the tanh approximation (the activation does not)."""
    return F.gelu(x, approximate=approximate)


def one_hot(x, num_classes: int, axis: int = -1, dtype=None, sparse: bool = False) -> Tensor:
    """Integer labels ``x`` as one-hot vectors along a new ``axis`` (an index outside
    ``[0, num_classes)`` gives all zeros, as Keras)."""
    if sparse:
        raise ValueError("one_hot(sparse=True) is not supported by axonal (dense arrays only).")
    labels = np.asarray(getattr(x, "data", x)).astype(np.int64)
    eye = np.eye(num_classes, dtype=standardize_dtype(dtype or floatx()))
    valid = (labels >= 0) & (labels < num_classes)
    out = eye[np.where(valid, labels, 0)] * valid[..., None]
    return Tensor(np.moveaxis(out, -1, axis) if axis != -1 else out)


def moments(x, axes, keepdims: bool = False, synchronized: bool = False) -> tuple:
    """The mean and (biased) variance of ``x`` over ``axes`` (differentiable); ``synchronized``
    (across devices) changes nothing on one process."""
    x = as_tensor(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    mean = F.mean(x, axis=axes, keepdims=True)
    variance = F.mean(F.square(F.subtract(x, mean)), axis=axes, keepdims=keepdims)
    if not keepdims:
        mean = F.squeeze(mean, axes)
    return mean, variance


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """Per-sample cross-entropy of integer ``target`` labels and ``output`` probabilities."""
    return losses_module.sparse_categorical_crossentropy(
        target, output, from_logits=from_logits, axis=axis
    )


def categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """Per-sample cross-entropy of one-hot ``target`` and ``output`` probabilities."""
    return losses_module.categorical_crossentropy(
        target, output, from_logits=from_logits, axis=axis
    )


def binary_crossentropy(target, output, from_logits=False) -> Tensor:
    """Element-wise binary cross-entropy (not averaged, as Keras's op)."""
    output = as_tensor(output)
    target = np.asarray(getattr(target, "data", target), dtype=output.data.dtype)
    if from_logits:
        # log(1 + e^x) - t x, written with softplus so large |x| cannot overflow
        return F.subtract(F.softplus(output), F.multiply(output, target))
    eps = 1e-7
    clipped = F.clip(output, eps, 1 - eps)
    positive = F.multiply(F.log(clipped), target)
    negative = F.multiply(F.log(F.subtract(1.0, clipped)), 1 - target)
    return F.negative(F.add(positive, negative))


def dot_product_attention(
    query,
    key,
    value,
    bias=None,
    mask=None,
    scale=None,
    is_causal=False,
    flash_attention=None,
    attn_logits_soft_cap=None,
) -> Tensor:
    """Keras's ``ops.dot_product_attention``: inputs ``(batch, T/S, heads, head_dim)``,
    ``softmax(q kᵀ · scale + bias)`` with ``mask`` (True: attend) and ``is_causal``, one fused
    op; returns ``(batch, T, heads, value_dim)``. ``attn_logits_soft_cap`` (``cap · tanh(s /
    cap)`` on the scaled scores, before bias and mask) takes an unfused path of plain ops."""
    q, k, v = (F.transpose(as_tensor(t), (0, 2, 1, 3)) for t in (query, key, value))
    dtype = q.data.dtype
    adder = None
    if bias is not None:
        adder = np.asarray(getattr(bias, "data", bias), dtype=dtype)
    allowed = None if mask is None else np.asarray(getattr(mask, "data", mask), dtype=bool)
    if is_causal:
        causal = np.tri(q.data.shape[2], k.data.shape[2], dtype=bool)
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        masked = np.where(allowed, 0.0, MASKED_SCORE).astype(dtype)
        adder = masked if adder is None else adder + masked
    if attn_logits_soft_cap is not None:
        factor = 1.0 / float(q.data.shape[-1]) ** 0.5 if scale is None else float(scale)
        scores = F.multiply(F.matmul(q, F.transpose(k, (0, 1, 3, 2))), factor)
        cap = float(attn_logits_soft_cap)
        scores = F.multiply(F.tanh(F.divide(scores, cap)), cap)
        if adder is not None:
            scores = F.add(scores, adder)
        out = F.matmul(F.softmax(scores, axis=-1), v)
    else:
        out = F.scaled_dot_product_attention(q, k, v, adder=adder, scale=scale)
    return F.transpose(out, (0, 2, 1, 3))


# ---------------------------------------------------------------- activations


def _condition(x: Tensor, fn) -> np.ndarray:
    """A boolean mask computed from ``x``'s values: where-branches carry no gradient."""
    return fn(x.data)


def log_sigmoid(x) -> Tensor:
    """``log(sigmoid(x))``, as ``-softplus(-x)`` so large ``|x|`` cannot overflow."""
    return F.negative(F.softplus(F.negative(as_tensor(x))))


def celu(x, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x >= 0``, else ``alpha * (exp(x / alpha) - 1)``."""
    x = as_tensor(x)
    # exp of the clipped input: the unused branch of a where must not overflow to inf * 0 = nan
    negative_part = F.multiply(F.subtract(F.exp(F.divide(F.minimum(x, 0.0), alpha)), 1.0), alpha)
    return F.where(_condition(x, lambda a: a >= 0), x, negative_part)


def glu(x, axis: int = -1) -> Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` with ``x`` split in halves ``a, b`` along ``axis``."""
    x = as_tensor(x)
    size = x.shape[axis]
    if size % 2:
        raise ValueError(
            f"glu splits axis {axis} in two halves; its size must be even, got {size}."
        )
    half = size // 2
    first = F.take(x, np.arange(half), axis=axis)
    second = F.take(x, np.arange(half, size), axis=axis)
    return F.multiply(first, F.sigmoid(second))


def hard_shrink(x, threshold: float = 0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0."""
    x = as_tensor(x)
    return F.where(_condition(x, lambda a: np.abs(a) > threshold), x, 0.0)


def hard_tanh(x) -> Tensor:
    """``x`` clipped to ``[-1, 1]``."""
    return F.clip(as_tensor(x), -1.0, 1.0)


def hard_swish(x) -> Tensor:
    """Keras's alias of ``hard_silu``: ``x * relu6(x + 3) / 6``."""
    return hard_silu(x)


def soft_shrink(x, threshold: float = 0.5) -> Tensor:
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    x = as_tensor(x)
    above = F.where(_condition(x, lambda a: a > threshold), F.subtract(x, threshold), 0.0)
    return F.where(_condition(x, lambda a: a < -threshold), F.add(x, threshold), above)


def sparse_plus(x) -> Tensor:
    """0 for ``x <= -1``, ``(x + 1)² / 4`` between, ``x`` for ``x >= 1``."""
    x = as_tensor(x)
    middle = F.multiply(F.square(F.add(x, 1.0)), 0.25)
    upper = F.where(_condition(x, lambda a: a >= 1), x, middle)
    return F.where(_condition(x, lambda a: a <= -1), 0.0, upper)


def sparse_sigmoid(x) -> Tensor:
    """0 for ``x <= -1``, ``(x + 1) / 2`` between, 1 for ``x >= 1``."""
    return F.clip(F.multiply(F.add(as_tensor(x), 1.0), 0.5), 0.0, 1.0)


def sparsemax(x, axis: int = -1) -> Tensor:
    """The Euclidean projection of ``x`` onto the simplex along ``axis`` (sparse probabilities).

    The threshold ``tau`` is a linear function of the entries in the support, so writing it as
    ``(sum(x · support) - 1) / |support|`` with the support as a constant mask gives the exact
    (piecewise-linear) gradient through ordinary ops.
    """
    x = as_tensor(x)
    data = np.moveaxis(x.data, axis, -1)
    ordered = -np.sort(-data, axis=-1)
    ranks = np.arange(1, data.shape[-1] + 1, dtype=data.dtype)
    in_support = 1 + ranks * ordered > np.cumsum(ordered, axis=-1)
    count = np.sum(in_support, axis=-1, keepdims=True)
    tau_values = (np.take_along_axis(np.cumsum(ordered, -1), count - 1, -1) - 1) / count
    support = np.moveaxis((data > tau_values).astype(data.dtype), -1, axis)
    size = np.moveaxis(count.astype(data.dtype), -1, axis)
    tau = F.divide(F.subtract(F.sum(F.multiply(x, support), axis=axis, keepdims=True), 1.0), size)
    return F.relu(F.subtract(x, tau))


def squareplus(x, b: float = 4) -> Tensor:
    """``(x + sqrt(x² + b)) / 2``, a smooth ReLU."""
    x = as_tensor(x)
    return F.multiply(F.add(x, F.sqrt(F.add(F.square(x), b))), 0.5)


def tanh_shrink(x) -> Tensor:
    """``x - tanh(x)``."""
    x = as_tensor(x)
    return F.subtract(x, F.tanh(x))


def threshold(x, threshold, default_value) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value``."""
    x = as_tensor(x)
    return F.where(_condition(x, lambda a: a > threshold), x, default_value)


# ---------------------------------------------------------------- convolution and pooling


def _data_format(data_format) -> str:
    data_format = image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}."
        )
    return data_format


def _to_last(x: Tensor, data_format: str) -> Tensor:
    """Channels-first input moved to channels-last: the primitives compute channels-last."""
    if data_format == "channels_last":
        return x
    return F.transpose(x, (0, *range(2, x.ndim), 1))


def _from_last(x: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_last":
        return x
    return F.transpose(x, (0, x.ndim - 1, *range(1, x.ndim - 1)))


def _spatial_rank(x: Tensor, op: str, ranks=(1, 2)) -> int:
    rank = x.ndim - 2
    if rank not in ranks:
        raise ValueError(
            f"ops.{op} in axonal takes inputs of rank {', '.join(str(r + 2) for r in ranks)} "
            f"((batch, *spatial, channels)), got shape {x.shape}."
        )
    return rank


def _as_2d(x: Tensor) -> Tensor:
    """``(batch, steps, channels)`` as ``(batch, 1, steps, channels)``: 1-D ops through 2-D ones."""
    return F.expand_dims(x, 1)


def _tuple(value, rank: int) -> tuple:
    return (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)


def _volume_windows(x: Tensor, window: tuple, strides: tuple, dilation: tuple, padding: str):
    """Windows of ``(batch, d, h, w, c)`` gathered as ``(batch, n1, n2, n3, k1, k2, k3, c)``
    (3-D ops have no primitive: gathers keep them differentiable), with a mask of the entries
    that came from padding."""
    pads = [
        P.conv_pads(x.shape[1 + i], window[i], strides[i], dilation[i], padding) for i in range(3)
    ]
    inside = np.ones((1, *x.shape[1:4], 1), dtype=bool)
    if any(before or after for before, after in pads):
        x = apply(P.ZeroPad, x, pads=((0, 0), *pads, (0, 0)))
        inside = np.pad(inside, ((0, 0), *pads, (0, 0)))
    for i in range(3):
        axis = 1 + 2 * i
        length = x.shape[axis]
        count = (length - (window[i] - 1) * dilation[i] - 1) // strides[i] + 1
        index = (np.arange(count) * strides[i])[:, None] + np.arange(window[i]) * dilation[i]
        x = F.take(x, index, axis=axis)
        inside = np.take(inside, index, axis=axis)
    order = (0, 1, 3, 5, 2, 4, 6, 7)
    return F.transpose(x, order), np.transpose(inside, order)


def _pool3d(x: Tensor, pool_size, strides, padding: str, reduce: str) -> Tensor:
    window = _tuple(pool_size, 3)
    steps = window if strides is None else _tuple(strides, 3)
    windows, inside = _volume_windows(x, window, steps, (1, 1, 1), padding)
    axes = (4, 5, 6)
    if reduce == "max":
        # padding never wins a max: it reads as -inf (a constant, so no gradient goes there)
        lowest = np.where(inside, 0.0, -np.inf).astype(x.data.dtype)
        return F.max(F.add(windows, lowest), axis=axes)
    # 'same' padding is left out of each mean, as Keras
    counts = np.sum(inside, axis=axes).astype(x.data.dtype)
    return F.divide(F.sum(windows, axis=axes), counts)


def _conv3d(x: Tensor, kernel: Tensor, strides, padding: str, dilation_rate) -> Tensor:
    channels, per_group, filters = x.shape[-1], kernel.shape[3], kernel.shape[-1]
    if channels % per_group or filters % (channels // per_group):
        raise ValueError(
            f"ops.conv: kernel input channels {per_group} and filters {filters} do not split "
            f"the input's {channels} channels into groups."
        )
    groups = channels // per_group
    window = kernel.shape[:3]
    windows, _ = _volume_windows(x, window, _tuple(strides, 3), _tuple(dilation_rate, 3), padding)
    batch, n1, n2, n3 = windows.shape[:4]
    if groups == 1:
        flat = F.reshape(windows, (batch, n1, n2, n3, -1))
        return F.matmul(flat, F.reshape(kernel, (-1, filters)))
    # each group of channels meets its own slice of the filters
    outputs = []
    step = filters // groups
    for g in range(groups):
        part = F.take(windows, np.arange(g * per_group, (g + 1) * per_group), axis=7)
        flat = F.reshape(part, (batch, n1, n2, n3, -1))
        weights = F.take(kernel, np.arange(g * step, (g + 1) * step), axis=4)
        outputs.append(F.matmul(flat, F.reshape(weights, (-1, step))))
    return F.concatenate(outputs, axis=-1)


def _conv_transpose3d(x: Tensor, kernel: Tensor, strides, padding, output_padding, dilation):
    """3-D transposed convolution as a plain one: the input spread out by the strides (zeros
    between), padded so the output has Keras's length, and the kernel flipped with its channel
    axes swapped."""
    strides, dilation = _tuple(strides, 3), _tuple(dilation, 3)
    extra = (None,) * 3 if output_padding is None else _tuple(output_padding, 3)
    window = kernel.shape[:3]
    spread_shape = [(x.shape[1 + i] - 1) * strides[i] + 1 for i in range(3)]
    pads = []
    for i in range(3):
        out = P.conv_transpose_output_length(
            x.shape[1 + i], window[i], strides[i], dilation[i], padding, extra[i]
        )
        extent = dilation[i] * (window[i] - 1) + 1
        # the forward convolution's own padding before the input, as TensorFlow pads it
        needed = (x.shape[1 + i] - 1) * strides[i] + extent - out
        before = max(needed, 0) // 2
        left = extent - 1 - before
        pads.append((left, out + extent - 1 - spread_shape[i] - left))
    index = tuple(slice(None, None, s) for s in strides)
    shape = (x.shape[0], *spread_shape, x.shape[-1])

    def compute(a):
        out = np.zeros(shape, dtype=a.dtype)
        out[(slice(None), *index)] = a
        return out, lambda g: (g[(slice(None), *index)],)

    spread = apply(Closure, x, compute=compute)
    # negative pads (output_padding or 'same' cropping) cut instead of padding
    crop = tuple(slice(-min(lo, 0), spread_shape[i] - (-min(hi, 0)) if hi < 0 else None)
                 for i, (lo, hi) in enumerate(pads))  # fmt: skip
    spread = spread[(slice(None), *crop)]
    positive = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    flipped = F.transpose(kernel[::-1, ::-1, ::-1], (0, 1, 2, 4, 3))
    padded = apply(P.ZeroPad, spread, pads=((0, 0), *positive, (0, 0)))
    windows, _ = _volume_windows(padded, window, (1, 1, 1), dilation, "valid")
    batch, n1, n2, n3 = windows.shape[:4]
    flat = F.reshape(windows, (batch, n1, n2, n3, -1))
    return F.matmul(flat, F.reshape(flipped, (-1, flipped.shape[-1])))


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Max pooling over the spatial axes (1-D, 2-D or 3-D)."""
    data_format = _data_format(data_format)
    x = _to_last(as_tensor(inputs), data_format)
    rank = _spatial_rank(x, "max_pool", ranks=(1, 2, 3))
    if rank == 3:
        return _from_last(_pool3d(x, pool_size, strides, padding.lower(), "max"), data_format)
    pool = F.max_pool1d if rank == 1 else F.max_pool2d
    return _from_last(pool(x, pool_size, strides, padding.lower()), data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Average pooling over the spatial axes, 1-D to 3-D ('same' padding left out of each
    mean, as Keras)."""
    data_format = _data_format(data_format)
    x = _to_last(as_tensor(inputs), data_format)
    rank = _spatial_rank(x, "average_pool", ranks=(1, 2, 3))
    if rank == 3:
        return _from_last(_pool3d(x, pool_size, strides, padding.lower(), "mean"), data_format)
    pool = F.average_pool1d if rank == 1 else F.average_pool2d
    return _from_last(pool(x, pool_size, strides, padding.lower()), data_format)


def _adaptive_pool(inputs, output_size, data_format, reduce, name: str) -> Tensor:
    data_format = _data_format(data_format)
    x = _to_last(as_tensor(inputs), data_format)
    rank = _spatial_rank(x, name, ranks=(1, 2, 3))
    sizes = _tuple(output_size, rank)
    # a window's max (mean) over a box is the max (mean) along one axis after another: the boxes
    # are products of per-axis windows [floor(i L / n), ceil((i + 1) L / n))
    for axis, out in zip(range(1, rank + 1), sizes, strict=True):
        length = x.shape[axis]
        pieces = []
        for i in range(out):
            start = (i * length) // out
            stop = -((-(i + 1) * length) // out)
            window = F.take(x, np.arange(start, stop), axis=axis)
            pieces.append(reduce(window, axis=axis, keepdims=True))
        x = F.concatenate(pieces, axis=axis)
    return _from_last(x, data_format)


def adaptive_average_pool(inputs, output_size, data_format=None) -> Tensor:
    """Average pooling to a fixed ``output_size`` (PyTorch's adaptive windows)."""
    return _adaptive_pool(inputs, output_size, data_format, F.mean, "adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None) -> Tensor:
    """Max pooling to a fixed ``output_size`` (PyTorch's adaptive windows)."""
    return _adaptive_pool(inputs, output_size, data_format, F.max, "adaptive_max_pool")


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """N-D convolution (1-D to 3-D), kernel ``(*window, in_channels // groups, filters)``; the
    groups follow from the kernel's input channels, as Keras."""
    data_format = _data_format(data_format)
    x, kernel = _to_last(as_tensor(inputs), data_format), as_tensor(kernel)
    rank = _spatial_rank(x, "conv", ranks=(1, 2, 3))
    groups = x.shape[-1] // kernel.shape[-2]
    padding = padding.lower()
    if rank == 3:
        out = _conv3d(x, kernel, strides, padding, dilation_rate)
    elif rank == 1:
        out = F.conv1d(x, kernel, None, strides, padding, dilation_rate, groups=groups)
    else:
        out = F.conv2d(x, kernel, None, strides, padding, dilation_rate, groups=groups)
    return _from_last(out, data_format)


def depthwise_conv(
    inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1
) -> Tensor:
    """Depthwise convolution, kernel ``(*window, channels, depth_multiplier)`` (1-D or 2-D)."""
    data_format = _data_format(data_format)
    x, kernel = _to_last(as_tensor(inputs), data_format), as_tensor(kernel)
    rank = _spatial_rank(x, "depthwise_conv")
    padding = padding.lower()
    if rank == 1:
        kernel2d = F.expand_dims(kernel, 0)
        strides, dilation_rate = (1, *_tuple(strides, 1)), (1, *_tuple(dilation_rate, 1))
        out = F.squeeze(
            F.depthwise_conv2d(_as_2d(x), kernel2d, None, strides, padding, dilation_rate), 1
        )
    else:
        out = F.depthwise_conv2d(x, kernel, None, strides, padding, dilation_rate)
    return _from_last(out, data_format)


def separable_conv(
    inputs,
    depthwise_kernel,
    pointwise_kernel,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
) -> Tensor:
    """Depthwise convolution, then a pointwise one mixing the channels (1-D or 2-D)."""
    data_format = _data_format(data_format)
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    x = _to_last(depthwise, data_format)
    pointwise_kernel = as_tensor(pointwise_kernel)
    matrix = F.reshape(pointwise_kernel, pointwise_kernel.shape[-2:])
    return _from_last(F.matmul(x, matrix), data_format)


def conv_transpose(
    inputs,
    kernel,
    strides=1,
    padding="valid",
    output_padding=None,
    data_format=None,
    dilation_rate=1,
) -> Tensor:
    """Transposed convolution (1-D to 3-D), kernel ``(*window, filters, in_channels)``."""
    data_format = _data_format(data_format)
    x, kernel = _to_last(as_tensor(inputs), data_format), as_tensor(kernel)
    rank = _spatial_rank(x, "conv_transpose", ranks=(1, 2, 3))
    padding = padding.lower()
    if rank == 3:
        out = _conv_transpose3d(x, kernel, strides, padding, output_padding, dilation_rate)
    elif rank == 1:
        extra = None if output_padding is None else (0, *_tuple(output_padding, 1))
        out = F.conv2d_transpose(
            _as_2d(x),
            F.expand_dims(kernel, 0),
            None,
            (1, *_tuple(strides, 1)),
            padding,
            extra,
            (1, *_tuple(dilation_rate, 1)),
        )
        out = F.squeeze(out, 1)
    else:
        out = F.conv2d_transpose(x, kernel, None, strides, padding, output_padding, dilation_rate)
    return _from_last(out, data_format)


def depth_to_space(x, block_size: int, data_format="channels_last") -> Tensor:
    """Move ``block_size²`` groups of channels into ``block_size × block_size`` spatial blocks.

    Channels-last reads the depth as (block row, block column, channel), as TensorFlow;
    channels-first as (channel, block row, block column), as PyTorch's ``pixel_shuffle`` (Keras
    does the same on each layout).
    """
    data_format = _data_format(data_format)
    x = as_tensor(x)
    if data_format == "channels_first":
        batch, channels, height, width = x.shape
        depth = channels // (block_size * block_size)
        out = F.reshape(x, (batch, depth, block_size, block_size, height, width))
        out = F.transpose(out, (0, 1, 4, 2, 5, 3))
        return F.reshape(out, (batch, depth, height * block_size, width * block_size))
    batch, height, width, channels = x.shape
    depth = channels // (block_size * block_size)
    out = F.reshape(x, (batch, height, width, block_size, block_size, depth))
    out = F.transpose(out, (0, 1, 3, 2, 4, 5))
    return F.reshape(out, (batch, height * block_size, width * block_size, depth))


def space_to_depth(x, block_size: int, data_format="channels_last") -> Tensor:
    """The inverse of ``depth_to_space`` (each layout with its own depth order)."""
    data_format = _data_format(data_format)
    x = as_tensor(x)
    if data_format == "channels_first":
        batch, channels, height, width = x.shape
        rows, cols = height // block_size, width // block_size
        out = F.reshape(x, (batch, channels, rows, block_size, cols, block_size))
        out = F.transpose(out, (0, 1, 3, 5, 2, 4))
        return F.reshape(out, (batch, channels * block_size * block_size, rows, cols))
    batch, height, width, channels = x.shape
    rows, cols = height // block_size, width // block_size
    out = F.reshape(x, (batch, rows, block_size, cols, block_size, channels))
    out = F.transpose(out, (0, 1, 3, 2, 4, 5))
    return F.reshape(out, (batch, rows, cols, block_size * block_size * channels))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """PyTorch's ``unfold`` (im2col) of ``(N, C, H, W)``: ``(N, C * kh * kw, L)`` patches."""
    x = as_tensor(x)
    kh, kw = _tuple(kernel_size, 2)
    dh, dw = _tuple(dilation, 2)
    ph, pw = _tuple(padding, 2)
    sh, sw = _tuple(stride, 2)
    if ph or pw:
        x = apply(P.ZeroPad, x, pads=((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, height, width = x.shape
    out_h = (height - (kh - 1) * dh - 1) // sh + 1
    out_w = (width - (kw - 1) * dw - 1) // sw + 1
    rows = np.arange(kh)[:, None] * dh + np.arange(out_h) * sh  # (kh, out_h)
    cols = np.arange(kw)[:, None] * dw + np.arange(out_w) * sw  # (kw, out_w)
    picked = F.take(F.take(x, rows, axis=2), cols, axis=4)  # (n, c, kh, out_h, kw, out_w)
    ordered = F.transpose(picked, (0, 1, 2, 4, 3, 5))
    return F.reshape(ordered, (n, c * kh * kw, out_h * out_w))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """PyTorch's ``fold`` (col2im): the adjoint of ``unfold``, overlapping patches summed."""
    x = as_tensor(x)
    height, width = _tuple(output_size, 2)
    kh, kw = _tuple(kernel_size, 2)
    ph, pw = _tuple(padding, 2)
    n, depth, blocks = x.shape
    channels = depth // (kh * kw)
    geometry_check = unfold(
        Tensor(np.zeros((1, 1, height + 2 * ph, width + 2 * pw))),
        (kh, kw),
        dilation,
        0,
        stride,
    )
    if depth != channels * kh * kw or blocks != geometry_check.shape[-1]:
        raise ValueError(
            f"fold: input {x.shape} does not match output_size {output_size} and kernel_size "
            f"{kernel_size}: expected (batch, channels * {kh * kw}, "
            f"{geometry_check.shape[-1]})."
        )
    shape = (n, channels, height + 2 * ph, width + 2 * pw)
    geometry = {"kernel_size": (kh, kw), "dilation": dilation, "padding": 0, "stride": stride}

    def compute(cols):
        # fold is unfold's transpose: scatter-add each column back to where unfold read it
        index = np.arange(int(np.prod(shape))).reshape(shape).astype(np.float64)
        taken = unfold(Tensor(index), **geometry).data.astype(np.int64)
        out = np.zeros(int(np.prod(shape)), dtype=cols.dtype)
        np.add.at(out, taken.ravel(), cols.ravel())
        return out.reshape(shape), lambda g: (g.ravel()[taken.ravel()].reshape(cols.shape),)

    out = apply(Closure, x, compute=compute)
    if ph or pw:
        out = out[:, :, ph : ph + height, pw : pw + width]
    return out


# ---------------------------------------------------------------- normalization


def _broadcast_param(param, x: Tensor, axis: int):
    """A per-channel parameter shaped to broadcast along ``axis`` of ``x``."""
    if param is None:
        return None
    param = as_tensor(param)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = param.size
    return F.reshape(param, shape)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3) -> Tensor:
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset`` with the statistics given per
    channel along ``axis`` (differentiable in all of them)."""
    x = as_tensor(x)
    mean, variance = _broadcast_param(mean, x, axis), _broadcast_param(variance, x, axis)
    out = F.divide(F.subtract(x, mean), F.sqrt(F.add(variance, epsilon)))
    if scale is not None:
        out = F.multiply(out, _broadcast_param(scale, x, axis))
    if offset is not None:
        out = F.add(out, _broadcast_param(offset, x, axis))
    return out


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs) -> Tensor:
    """Normalize each sample over ``axis`` (int or list) to zero mean and unit variance, then
    scale by ``gamma`` and shift by ``beta``; ``epsilon`` defaults to ``backend.epsilon()``."""
    if kwargs.pop("rms_scaling", False):
        raise ValueError(
            "layer_normalization(rms_scaling=True) is deprecated in Keras and not supported by "
            "axonal; use ops.rms_normalization."
        )
    eps = backend_epsilon() if epsilon is None else epsilon
    return F.layer_normalization(x, gamma, beta, axis=axis, epsilon=eps)


def rms_normalization(x, scale=None, axis=-1, epsilon=None) -> Tensor:
    """``x / sqrt(mean(x², axis) + epsilon) * scale`` (root-mean-square normalization)."""
    x = as_tensor(x)
    eps = backend_epsilon() if epsilon is None else epsilon
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    mean_square = F.mean(F.square(x), axis=axes, keepdims=True)
    out = F.divide(x, F.sqrt(F.add(mean_square, eps)))
    return out if scale is None else F.multiply(out, scale)


def normalize(x, axis=-1, order: int = 2, epsilon=None) -> Tensor:
    """``x / max(norm(x, order, axis), epsilon)``."""
    from axonal.ops.numpy import norm

    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}.")
    x = as_tensor(x)
    if x.ndim == 0:
        x = F.expand_dims(x, 0)
    eps = backend_epsilon() if epsilon is None else epsilon
    size = norm(x, ord=order, axis=axis, keepdims=True)
    return F.divide(x, F.maximum(size, eps))


# ---------------------------------------------------------------- encodings, metrics, complex


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs) -> Tensor:
    """Each row of integer labels as one vector with 1 at every label present."""
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ValueError("multi_hot needs num_classes.")
    if sparse:
        raise ValueError("multi_hot(sparse=True) is not supported by axonal (dense arrays only).")
    labels = np.asarray(getattr(inputs, "data", inputs))
    encoded = one_hot(labels, num_classes, axis=axis, dtype=dtype).data
    reduction_axis = 1 if labels.ndim > 1 else 0
    return Tensor(np.max(encoded, axis=reduction_axis))


def psnr(x1, x2, max_val) -> Tensor:
    """Peak signal-to-noise ratio over all elements: ``20 log10(max_val) - 10 log10(mse)``."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"psnr takes inputs of one shape, got {x1.shape} and {x2.shape}.")
    mse = F.mean(F.square(F.subtract(x1, x2)))
    ln10 = float(np.log(10.0))
    return F.subtract(20.0 * np.log10(max_val), F.multiply(F.log(mse), 10.0 / ln10))


def polar(abs_, angle) -> Tensor:
    """The complex numbers ``abs_ · (cos(angle) + i sin(angle))`` (values: complex dtype)."""
    magnitude = np.asarray(getattr(abs_, "data", abs_))
    phase = np.asarray(getattr(angle, "data", angle))
    return Tensor(magnitude * np.cos(phase) + 1j * magnitude * np.sin(phase))


# ---------------------------------------------------------------- CTC


def _log_add(a, b):
    top = np.maximum(a, b)
    safe = np.where(np.isfinite(top), top, 0.0)
    # -inf (an unreachable state) is a valid log-probability here: log(0) is meant
    with np.errstate(divide="ignore"):
        total = safe + np.log(np.exp(a - safe) + np.exp(b - safe))
    return np.where(np.isfinite(top), total, -np.inf)


def _ctc_one(logprobs, labels, blank: int):
    """CTC loss of one sequence and the posterior occupancy of each (time, class)."""
    steps, classes = logprobs.shape
    extended = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    extended[1::2] = labels
    size = len(extended)
    # a skip from s - 2 to s is allowed onto a label differing from the one two places back
    can_skip = np.zeros(size, bool)
    can_skip[2:] = (extended[2:] != blank) & (extended[2:] != extended[:-2])
    alpha = np.full((steps, size), -np.inf)
    beta = np.full((steps, size), -np.inf)
    emit = logprobs[:, extended]
    alpha[0, 0] = emit[0, 0]
    if size > 1:
        alpha[0, 1] = emit[0, 1]
    for t in range(1, steps):
        prev = alpha[t - 1]
        total = prev.copy()
        total[1:] = _log_add(total[1:], prev[:-1])
        total[2:] = np.where(can_skip[2:], _log_add(total[2:], prev[:-2]), total[2:])
        alpha[t] = total + emit[t]
    beta[-1, -1] = emit[-1, -1]
    if size > 1:
        beta[-1, -2] = emit[-1, -2]
    for t in range(steps - 2, -1, -1):
        following = beta[t + 1]
        total = following.copy()
        total[:-1] = _log_add(total[:-1], following[1:])
        skip_from = np.zeros(size, bool)
        skip_from[:-2] = can_skip[2:]
        total[:-2] = np.where(skip_from[:-2], _log_add(total[:-2], following[2:]), total[:-2])
        beta[t] = total + emit[t]
    log_likelihood = alpha[-1, -1] if size == 1 else _log_add(alpha[-1, -1], alpha[-1, -2])
    if not np.isfinite(log_likelihood):
        return np.inf, None
    # occupancy: alpha · beta counts the emission at t twice, once divided out
    occupancy_log = alpha + beta - emit - log_likelihood
    occupancy = np.zeros((steps, classes))
    np.add.at(occupancy, (slice(None), extended), np.exp(occupancy_log))
    return -log_likelihood, occupancy


def ctc_loss(target, output, target_length, output_length, mask_index: int = 0) -> Tensor:
    """Connectionist temporal classification loss per sequence, as Keras.

    Args:
        target: ``(batch, max_label_length)`` integer labels.
        output: ``(batch, max_time, classes)`` logits (log-softmax is taken inside).
        target_length, output_length: ``(batch,)`` valid lengths.
        mask_index: the blank class.

    Returns:
        ``(batch,)`` negative log-likelihoods, differentiable in ``output``.
    """
    output = as_tensor(output)
    if output.data.dtype.kind != "f":
        output = F.cast(output, floatx())
    labels = np.asarray(getattr(target, "data", target)).astype(np.int64)
    label_lengths = np.asarray(getattr(target_length, "data", target_length)).astype(np.int64)
    time_lengths = np.asarray(getattr(output_length, "data", output_length)).astype(np.int64)

    def compute(logits):
        wide = logits.astype(np.float64)
        shifted = wide - wide.max(axis=-1, keepdims=True)
        logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        losses = np.zeros(logits.shape[0])
        grad_logits = np.zeros_like(wide)
        for b in range(logits.shape[0]):
            steps = int(time_lengths[b])
            loss, occupancy = _ctc_one(
                logprobs[b, :steps], labels[b, : int(label_lengths[b])], mask_index
            )
            losses[b] = loss
            if not np.isfinite(loss):
                # no alignment fits (labels longer than the steps allow): the loss is inf, as
                # Keras's, and this sequence sends no gradient rather than nan
                continue
            # d(-log p)/d logits = softmax - posterior occupancy, over the valid steps only
            grad_logits[b, :steps] = np.exp(logprobs[b, :steps]) - occupancy

        def vjp(g):
            return ((g[:, None, None] * grad_logits).astype(logits.dtype),)

        return losses.astype(logits.dtype), vjp

    return apply(Closure, output, compute=compute)


def ctc_decode(
    inputs,
    sequence_lengths,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int = 0,
) -> tuple:
    """CTC decoding, as Keras: ``(decoded, scores)`` with ``decoded`` of shape
    ``(top_paths, batch, max_time)`` (labels first, padded with -1).

    ``"greedy"``: the best class at each step, repeats merged and blanks dropped; one path, its
    score the negated sum of each step's largest input. ``"beam_search"``: prefix beam search
    over ``log_softmax(inputs)`` keeping ``beam_width`` prefixes; scores are the paths' log
    probabilities (summed over the alignments that collapse to them), best first.
    """
    data = np.asarray(getattr(inputs, "data", inputs))
    if data.dtype.kind != "f":
        data = data.astype(floatx())
    lengths = np.asarray(getattr(sequence_lengths, "data", sequence_lengths)).astype(np.int64)
    if strategy == "beam_search":
        return _ctc_beam_search(data, lengths, beam_width, top_paths, mask_index)
    if strategy != "greedy":
        raise ValueError(
            f"ctc_decode: strategy must be 'greedy' or 'beam_search', got {strategy!r}."
        )
    batch, steps, _ = data.shape
    indices = np.argmax(data, axis=-1).astype(np.int32)
    scores = np.max(data, axis=-1)
    beyond = np.arange(steps)[None, :] >= lengths[:, None]
    indices = np.where(beyond, mask_index, indices)
    scores = np.where(beyond, 0.0, scores).astype(data.dtype)
    if merge_repeated:
        repeated = np.zeros_like(beyond)
        repeated[:, 1:] = indices[:, 1:] == indices[:, :-1]
        indices = np.where(repeated, mask_index, indices)
    blank = indices == mask_index
    # stable sort of the kept labels to the front, blanks (-1) after them
    order = np.argsort(np.where(blank, steps, np.arange(steps)[None, :]), axis=-1, kind="stable")
    decoded = np.take_along_axis(np.where(blank, -1, indices), order, axis=-1)
    return Tensor(decoded[None]), Tensor(-np.sum(scores, axis=1, keepdims=True))


def _add_beam(beams: dict, prefix: tuple, blank_part: float, label_part: float) -> None:
    """Add probability mass (log space) to a prefix's two states."""
    old_blank, old_label = beams.get(prefix, (-np.inf, -np.inf))
    beams[prefix] = (np.logaddexp(old_blank, blank_part), np.logaddexp(old_label, label_part))


def _ctc_beam_search(data, lengths, beam_width: int, top_paths: int, blank: int) -> tuple:
    batch, steps, classes = data.shape
    wide = data.astype(np.float64)
    shifted = wide - wide.max(-1, keepdims=True)
    logprobs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    decoded = np.full((top_paths, batch, steps), -1, dtype=np.int32)
    scores = np.full((batch, top_paths), -np.inf, dtype=data.dtype)
    labels = [c for c in range(classes) if c != blank]
    for b in range(batch):
        # prefix -> (log P(prefix, last step blank), log P(prefix, last step its last label))
        beams = {(): (0.0, -np.inf)}
        for t in range(int(lengths[b])):
            step = logprobs[b, t]
            grown: dict = {}

            for prefix, (p_blank, p_label) in beams.items():
                total = np.logaddexp(p_blank, p_label)
                _add_beam(grown, prefix, total + step[blank], -np.inf)
                for c in labels:
                    if prefix and prefix[-1] == c:
                        # a repeat extends only after a blank; without one it collapses
                        _add_beam(grown, prefix + (c,), -np.inf, p_blank + step[c])
                        _add_beam(grown, prefix, -np.inf, p_label + step[c])
                    else:
                        _add_beam(grown, prefix + (c,), -np.inf, total + step[c])
            ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
            beams = dict(ranked[:beam_width])
        best = sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))[:top_paths]
        for rank, (prefix, parts) in enumerate(best):
            decoded[rank, b, : len(prefix)] = prefix
            scores[b, rank] = np.logaddexp(*parts)
    return Tensor(decoded), Tensor(scores)


__all__ = [
    "adaptive_average_pool",
    "adaptive_max_pool",
    "average_pool",
    "batch_normalization",
    "binary_crossentropy",
    "categorical_crossentropy",
    "celu",
    "conv",
    "conv_transpose",
    "ctc_decode",
    "ctc_loss",
    "depth_to_space",
    "depthwise_conv",
    "dot_product_attention",
    "elu",
    "fold",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "layer_normalization",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "max_pool",
    "moments",
    "multi_hot",
    "normalize",
    "one_hot",
    "polar",
    "psnr",
    "relu",
    "relu6",
    "rms_normalization",
    "selu",
    "separable_conv",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "space_to_depth",
    "sparse_categorical_crossentropy",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
    "unfold",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
