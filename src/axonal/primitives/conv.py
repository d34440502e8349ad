"""Convolution and pooling primitives, channels-last: im2col over stride-trick views and one GEMM.

Images are ``(batch, height, width, channels)``; 2-D kernels ``(kh, kw, in, out)`` as in Keras.
A convolution pads its input once, takes a zero-copy window view of it (``as_strided``), copies
that view into the im2col matrix ``(batch * out_h * out_w, kh * kw * in)`` and multiplies it by
the kernel seen as ``(kh * kw * in, out)``: one GEMM (the bias rides along as a column of ones).
Backward is two more GEMMs (kernel and column gradients) and a col2im that adds each kernel
tap's slab of column gradients into the padded input gradient: a loop over the ``kh * kw``
taps, each one vectorised strided add.

Speed comes from memory layout, not arithmetic: copying a window view costs per contiguous run,
so the im2col matrix is built pixel-first (runs of ``kw * in``: deep layers) or channel-first,
"planar" (runs of one output row: first layers with 1-3 channels), whichever copies in longer
runs; BLAS reads either orientation. Column gradients are made tap-major so each tap's slab is
contiguous for col2im. Pooling copies its windows tap-major and reduces over the tap axis.

Padding is explicit here (``pads = ((top, bottom), (left, right))``); ``conv_pads`` turns
Keras's ``'valid'``, ``'same'`` and ``'causal'`` into those numbers the way TensorFlow does
(the odd extra row or column of ``'same'`` goes at the end). 1-D variants run the 2-D kernels on
a unit height, except stride-1 convolutions of many channels, which need no im2col at all
(``conv_taps``). 3-D variants run them too, with the depth axis unfolded: a 3-D convolution is a
2-D one over ``(batch * out_depth)`` images whose channels are ``kd`` depth slices side by side
(one strided copy per depth tap), and a transposed one folds the 2-D result back along depth,
so the 2-D layouts, planar choice and scratch reuse serve all ranks.
"""

from __future__ import annotations

import sys

from axonal import conv_kernels, kernels
from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives import conv_regions, conv_taps
from axonal.primitives.core import column_sums, inner_product, relu_grad, relu_values
from axonal.primitives.scratch import release as _release
from axonal.primitives.scratch import take as _scratch

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "Conv1D",
    "Conv2D",
    "Conv2DRelu",
    "Conv2DTranspose",
    "Conv1DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Crop",
    "MaxPool1D",
    "MaxPool2D",
    "UpSampleNearest2D",
    "ZeroPad",
    "conv_output_length",
    "conv_pads",
    "conv_transpose_output_length",
    "kernel_from_2d",
]

# ---------------------------------------------------------------- shape arithmetic


def _check_padding(padding: str, allowed: tuple = ("valid", "same", "causal")) -> None:
    if padding not in allowed:
        raise ValueError(
            f"padding must be one of {', '.join(repr(a) for a in allowed)}, got {padding!r}."
        )


def conv_output_length(
    size: int | None, kernel: int, stride: int = 1, dilation: int = 1, padding: str = "valid"
) -> int | None:
    """Length of a convolution or pooling output along one axis (Keras's rule).

    Args:
        size: input length (None stays None).
        kernel: kernel (or pool) length before dilation.
        stride: step between windows.
        dilation: spacing between kernel taps.
        padding: ``'valid'``, ``'same'`` or ``'causal'``.

    Example:
        >>> conv_output_length(28, 5, padding="valid")
        24
    """
    _check_padding(padding)
    if size is None:
        return None
    if padding == "valid":
        return (size - dilation * (kernel - 1) - 1) // stride + 1
    # 'same' and 'causal' both give ceil(size / stride) outputs
    return -(-size // stride)


def conv_pads(
    size: int, kernel: int, stride: int = 1, dilation: int = 1, padding: str = "valid"
) -> tuple[int, int]:
    """``(before, after)`` zero padding along one axis, as TensorFlow pads.

    ``'same'`` pads ``max((ceil(size / stride) - 1) * stride + k_eff - size, 0)`` in total, the
    odd one at the end; ``'causal'`` pads ``dilation * (kernel - 1)`` at the start only.

    Example:
        >>> conv_pads(7, 3, stride=2, padding="same")
        (1, 1)
    """
    _check_padding(padding)
    extent = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (extent - 1, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return (total // 2, total - total // 2)


def conv_transpose_output_length(
    size: int | None,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: str = "valid",
    output_padding: int | None = None,
) -> int | None:
    """Length of a transposed-convolution output along one axis (Keras's ``deconv_output_length``).

    Example:
        >>> conv_transpose_output_length(4, 3, stride=2, padding="same")
        8
    """
    _check_padding(padding, ("valid", "same"))
    if size is None:
        return None
    extent = dilation * (kernel - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(extent - stride, 0)
        return size * stride
    pad = extent // 2 if padding == "same" else 0
    return (size - 1) * stride + extent - 2 * pad + output_padding


# ---------------------------------------------------------------- helpers on arrays


def _pad_hw(x, pads, value=0.0):
    """``x`` ``(N, H, W, C)`` with ``pads`` rows/columns of ``value`` around H and W."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top : top + h, left : left + w] = x
    return out


def _pad_planar(x, pads):
    """``x`` ``(N, H, W, C)`` zero-padded and laid out channel-first: ``(C, N, Hp, Wp)``."""
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    out = xp.empty((c, n, h + top + bottom, w + left + right), dtype=x.dtype)
    if top or bottom or left or right:
        out[...] = 0
    out[:, :, top : top + h, left : left + w] = x.transpose(3, 0, 1, 2)
    return out


def _windows(x, kernel_hw, out_hw, strides, dilation):
    """Zero-copy view ``(N, out_h, out_w, kh, kw, C)`` of the windows of padded ``x``."""
    n, _, _, c = x.shape
    sn, sh, sw, sc = x.strides
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=(n, out_hw[0], out_hw[1], kernel_hw[0], kernel_hw[1], c),
        strides=(sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False,
    )


def _tap_windows(x, kernel_hw, out_hw, strides):
    """Zero-copy tap-major view ``(kh, kw, N, out_h, out_w, C)`` of the windows of padded ``x``.

    A copy of it is contiguous per tap, and reductions over its first axes run slab by slab.
    """
    n, _, _, c = x.shape
    sn, sh, sw, sc = x.strides
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=(kernel_hw[0], kernel_hw[1], n, out_hw[0], out_hw[1], c),
        strides=(sh, sw, sn, sh * strides[0], sw * strides[1], sc),
        writeable=False,
    )


def _copy_runs(target, source) -> None:
    """``target[...] = source``, moving each last-axis run (a pixel's channels, a planar output
    row) as one opaque item when that axis is contiguous in both.

    NumPy copies a strided view one innermost run at a time, and these runs are short (6
    channels in LeNet's first maps, 24 values in a planar im2col row), so the per-run cost
    dominates. As one item per run the same bytes move in far fewer, longer loops (LeNet's first
    pooling windows 178 -> 103 µs, its first im2col 321 -> 130 µs). A plain copy when the dtypes
    or run lengths differ or a last axis is strided.
    """
    itemsize = source.dtype.itemsize
    if (
        source.dtype != target.dtype
        or not source.shape[-1]
        or source.shape[-1] != target.shape[-1]
        or target.strides[-1] != itemsize
        or source.strides[-1] != itemsize
    ):
        target[...] = source
        return
    pixel = xp.dtype((xp.void, source.shape[-1] * itemsize))
    target.view(pixel)[...] = source.view(pixel)


def _out_hw(padded_hw, kernel_hw, strides, dilation) -> tuple[int, int]:
    return tuple(
        (p - d * (k - 1) - 1) // s + 1
        for p, k, s, d in zip(padded_hw, kernel_hw, strides, dilation, strict=True)
    )


def _use_planar(kernel_w: int, channels: int, out_w: int, stride_w: int, dilation_w: int) -> bool:
    """Whether the channel-first ("planar") im2col layout copies faster than the pixel-first one.

    Copying a window view costs per contiguous run: pixel-first runs are ``kw * C`` values long
    (``C`` when dilated), planar runs are one output row, ``out_w`` values (1 when strided).
    A first layer (C = 1 or 3) has short pixel runs; deep layers (many channels) long ones.
    """
    pixel_run = kernel_w * channels if dilation_w == 1 else channels
    planar_run = out_w if stride_w == 1 else 1
    return planar_run > pixel_run


def _im2col(x, kernel_hw, out_hw, strides, dilation, pads, groups, planar, ones=False):
    """The im2col matrices of ``x`` ``(N, H, W, C)``: ``(G, N*oh*ow, kh*kw*C/G)``, one per group.

    Column order is ``(kh, kw, C/G)``, matching the kernel ``(kh, kw, C/G, O)`` reshaped to a
    matrix. ``ones`` appends a column of ones (the bias then rides in the GEMM). A planar matrix
    is stored positions-last and returned as a transposed view; BLAS reads either directly.

    Returns:
        ``(cols, buffer)``: the matrices and the scratch array holding them (``_release`` it
        once ``cols`` is no longer needed).
    """
    n, h, w, c = x.shape
    kh, kw = kernel_hw
    oh, ow = out_hw
    cg = c // groups
    taps, rows, extra = kh * kw * cg, n * oh * ow, int(ones)
    if planar:
        xc = _pad_planar(x, pads)
        sc, sn, sh, sw = xc.strides
        win = xp.lib.stride_tricks.as_strided(
            xc,
            shape=(groups, kh, kw, cg, n, oh, ow),
            strides=(
                cg * sc,
                sh * dilation[0],
                sw * dilation[1],
                sc,
                sn,
                sh * strides[0],
                sw * strides[1],
            ),
            writeable=False,
        )
        mat = _scratch((groups, taps + extra, rows), x.dtype)
        _copy_runs(mat[:, :taps].reshape(groups, kh, kw, cg, n, oh, ow), win)
        if ones:
            mat[:, taps] = 1
        return mat.transpose(0, 2, 1), mat
    win = _windows(_pad_hw(x, pads), kernel_hw, out_hw, strides, dilation)
    mat = _scratch((groups, rows, taps + extra), x.dtype)
    grouped = win.reshape(n, oh, ow, kh, kw, groups, cg).transpose(5, 0, 1, 2, 3, 4, 6)
    mat[:, :, :taps].reshape(groups, n, oh, ow, kh, kw, cg)[...] = grouped
    if ones:
        mat[:, :, taps] = 1
    return mat, mat


def _tap_slices(kernel_hw, out_hw, strides, dilation):
    """``(i, j, rows, columns)`` per kernel tap: the slices of the padded image its window
    values land on, the same for every col2im layout."""
    (kh, kw), (oh, ow), (sh, sw), (dh, dw) = kernel_hw, out_hw, strides, dilation
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            yield i, j, rows, slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)


def _col2im(cols, padded_shape, strides, dilation):
    """Adjoint of ``_windows``: add window values ``(N, oh, ow, kh, kw, C)`` into an image.

    One strided add per kernel tap; the taps of a non-overlapping window grid (stride equal to
    the window, no dilation) tile the image, so those are one reshaped copy instead.
    """
    n, oh, ow, kh, kw, c = cols.shape
    sh, sw = strides
    dh, dw = dilation
    out = xp.zeros(padded_shape, dtype=cols.dtype)
    if (sh, sw) == (kh, kw) and (dh, dw) == (1, 1):
        tiled = out[:, : oh * kh, : ow * kw].reshape(n, oh, kh, ow, kw, c)
        _copy_runs(tiled, cols.transpose(0, 1, 3, 2, 4, 5))
        return out
    for i, j, rows, columns in _tap_slices((kh, kw), (oh, ow), strides, dilation):
        out[:, rows, columns] += cols[:, :, :, i, j]
    return out


def _col2im_taps(cols, padded_shape, strides, dilation):
    """``_col2im`` for tap-major columns ``(kh, kw, N, oh, ow, C)``: each tap's slab is one
    contiguous ``(N, oh, ow, C)`` block, added into a strided slice of the image."""
    kh, kw, n, oh, ow, c = cols.shape
    sh, sw = strides
    dh, dw = dilation
    out = xp.zeros(padded_shape, dtype=cols.dtype)
    if (sh, sw) == (kh, kw) and (dh, dw) == (1, 1):
        # non-overlapping windows tile the image: one reshaped copy, no accumulation
        tiled = out[:, : oh * kh, : ow * kw].reshape(n, oh, kh, ow, kw, c)
        _copy_runs(tiled, cols.transpose(2, 3, 0, 4, 1, 5))
        return out
    for i, j, rows, columns in _tap_slices((kh, kw), (oh, ow), strides, dilation):
        out[:, rows, columns] += cols[i, j]
    return out


def _col2im_position_major(cols, padded_shape, strides, dilation, pads, out=None):
    """Adjoint of ``_windows`` for position-major columns ``(kh, kw, oh, ow, N, C)``: the input
    gradient ``(N, H, W, C)``, the ``pads`` cropped off.

    Accumulates in an ``(Hp, Wp, N, C)`` image, where each tap's slab lands as ``oh`` runs of
    ``ow·N·C`` values (``N·C`` when strided) instead of ``N·oh`` runs of ``ow·C``, then copies
    out a pixel at a time: 0.75–0.88× the time of the batch-major scatter on five convolution
    shapes (LeNet's second: 787 -> 641 µs with its products), with the same sums in the same
    order.
    """
    kh, kw, oh, ow, n, c = cols.shape
    _, hp, wp, _ = padded_shape
    image = xp.zeros((hp, wp, n, c), dtype=cols.dtype)
    for i, j, rows, columns in _tap_slices((kh, kw), (oh, ow), strides, dilation):
        image[rows, columns] += cols[i, j]
    (top, bottom), (left, right) = pads
    if out is None:
        out = xp.empty((n, hp - top - bottom, wp - left - right, c), dtype=cols.dtype)
    _copy_runs(out, image[top : hp - bottom, left : wp - right].transpose(2, 0, 1, 3))
    return out


def _col2im_planar(cols, padded_shape, strides, dilation):
    """``_col2im`` for planar columns ``(kh, kw, C, N, oh, ow)``; returns NHWC ``padded_shape``.

    Accumulates channel-first (each tap's slab is contiguous there), then transposes once.
    """
    kh, kw, c, n, oh, ow = cols.shape
    if c == 1:
        # one channel: planar and tap-major are the same memory
        return _col2im_taps(cols.reshape(kh, kw, n, oh, ow, 1), padded_shape, strides, dilation)
    _, hp, wp, _ = padded_shape
    out = xp.zeros((c, n, hp, wp), dtype=cols.dtype)
    for i, j, rows, columns in _tap_slices((kh, kw), (oh, ow), strides, dilation):
        out[:, :, rows, columns] += cols[i, j]
    return out.transpose(1, 2, 3, 0)


def _crop_hw(x, pads):
    (top, bottom), (left, right) = pads
    return x[:, top : x.shape[1] - bottom, left : x.shape[2] - right]


# Narrow per-tap products (fewer channels than one 32-byte SIMD register holds) run far below
# the GEMM rate; below this size their one wide product plus a regrouping copy stays in cache.
_WIDE_PRODUCT_MAX_BYTES = 3 << 20


def _narrow_taps(rows: int, taps: int, channels: int, itemsize: int) -> bool:
    """Whether the input gradient's per-tap products are computed as one wide product.

    Narrow per-tap products (fewer channels than one 32-byte SIMD register holds) run far below
    the GEMM rate; while small, their one wide product stays in cache for the regrouping.
    """
    return channels * itemsize < 32 and rows * taps * channels * itemsize <= _WIDE_PRODUCT_MAX_BYTES


def _tap_major_products(g2, kernel2, out) -> None:
    """``out[t] = g2 · kernel2[t]ᵀ`` for every tap ``t``: ``g2`` ``(rows, O)``, ``kernel2``
    ``(taps·C, O)``, ``out`` ``(taps, rows, C)``.

    One GEMM per tap, unless ``_narrow_taps``: then one GEMM for all taps side by side and a
    copy that regroups them by tap. On a grid of shapes (4,096–16,384 rows, 3×3 and 5×5
    kernels, 2–12 channels) that was 0.25–0.85× the time where both conditions held (LeNet's
    second convolution: 662 -> 434 µs) and up to 3× slower for wider channels or bigger
    products.
    """
    taps, rows, channels = out.shape
    if _narrow_taps(rows, taps, channels, out.dtype.itemsize):
        wide = _scratch((rows, taps * channels), out.dtype)
        g2.dot(kernel2.T, out=wide)
        _copy_runs(out, wide.reshape(rows, taps, channels).transpose(1, 0, 2))
        _release(wide)
        return
    per_tap = kernel2.reshape(taps, channels, -1).transpose(0, 2, 1)
    xp.matmul(g2, per_tap, out=out)


def _scatter_wide_products(
    g2, kernel2, padded_shape, kernel_hw, out_hw, strides, dilation, pads, out
):
    """The input gradient from position-major ``g2`` ``(oh·ow·N, O)``, written into ``out``
    ``(N, H, W, C)`` by one wide product and the compiled scatter (``conv_kernels``); None
    without numba.

    The same product and the same sums in the same order as ``_tap_major_products`` followed by
    ``_col2im_position_major``, without the copy that regroups the product by tap (LeNet's
    second convolution: 458 -> 291 µs for the input gradient).
    """
    loops = conv_kernels.compiled()
    if loops is None:
        return None
    n, hp, wp, c = padded_shape
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    wide = _scratch((g2.shape[0], kh * kw * c), g2.dtype)
    g2.dot(kernel2.T, out=wide)
    image = xp.zeros((hp, n, wp * c), dtype=g2.dtype)
    loops.col2im_position_major(wide, image, oh, ow, kh, kw, *strides, *dilation)
    _release(wide)
    (top, bottom), (left, right) = pads
    cropped = image[top : hp - bottom, :, left * c : (wp - right) * c]
    _copy_runs(out.reshape(n, out.shape[1], -1), cropped.transpose(1, 0, 2))
    return out


def _pixel_first_input_grad(g, kernel2, padded_shape, kernel_hw, strides, dilation, pads):
    """The input gradient ``(N, H, W, C)`` of an ungrouped pixel-first convolution from its
    output gradient ``g`` ``(N, oh, ow, O)`` and kernel matrix ``kernel2`` ``(taps·C, O)``.

    A block of whole images at a time, each block's per-tap products about ``_BLOCK_BYTES`` so
    that they stay in cache for the scatter that adds them up (integrated gradients' 1,000
    images: 18 MB of products in one go before). Per block: the output gradient regrouped
    position-major, the products by tap, their scatter into the padded image (compiled where
    ``_narrow_taps``, else ``_col2im_position_major``). The scatter adds in the same order
    whatever the blocks; BLAS may round a product of fewer rows differently.
    """
    n, oh, ow, o = g.shape
    _, hp, wp, c = padded_shape
    kh, kw = kernel_hw
    (top, bottom), (left, right) = pads
    gx = xp.empty((n, hp - top - bottom, wp - left - right, c), dtype=g.dtype)
    per_image = oh * ow * kh * kw * c * g.dtype.itemsize
    # a few MB in one go were as fast (LeNet's 2.4 MB: 1.88 against 1.96 ms a step in blocks)
    block = n if n * per_image <= 4 * _BLOCK_BYTES else max(1, _BLOCK_BYTES // per_image)
    for start in range(0, n, block):
        stop = min(n, start + block)
        images, rows = stop - start, (stop - start) * oh * ow
        shape = (images, hp, wp, c)
        by_position = _scratch((oh, ow, images, o), g.dtype)
        _copy_runs(by_position, g[start:stop].transpose(1, 2, 0, 3))
        g_rows = by_position.reshape(rows, o)
        scattered = None
        if _narrow_taps(rows, kh * kw, c, g.dtype.itemsize):
            scattered = _scatter_wide_products(
                g_rows,
                kernel2,
                shape,
                kernel_hw,
                (oh, ow),
                strides,
                dilation,
                pads,
                out=gx[start:stop],
            )
        if scattered is None:
            buffer = _scratch((kh * kw, rows, c), g.dtype)
            _tap_major_products(g_rows, kernel2, buffer)
            _col2im_position_major(
                buffer.reshape(kh, kw, oh, ow, images, c),
                shape,
                strides,
                dilation,
                pads,
                out=gx[start:stop],
            )
            _release(buffer)
        _release(by_position)
    return gx


def _single_channel_direct(kernel, strides, padded_hw, out_hw) -> bool:
    """Whether a convolution's kernel gradient comes from ``_single_channel_kernel_grad``.

    The same condition puts its forward through ``_single_channel_conv``. A single input
    channel (an image's first layer), stride 1, float32 or float64, numba; and
    where it pays, measured against the GEMM on 28×28, 8×8 and 64×64 images: fewer output
    channels than one 32-byte SIMD register holds (the GEMM's rate falls there: 0.6–0.9× its
    time at 4–8 float32 channels, 1.1–2.4× from 12 on), and a padded grid at most half again
    the outputs' size (the loop also sums over the gutters: 8×8 'same' images, 1.56×, ran
    1.0–1.2× the GEMM's time).
    """
    return (
        kernel.shape[2] == 1
        and kernel.shape[3] * kernel.dtype.itemsize < 32
        and 2 * padded_hw[0] * padded_hw[1] <= 3 * out_hw[0] * out_hw[1]
        and tuple(strides) == (1, 1)
        and kernel.dtype in (xp.float32, xp.float64)
        and conv_kernels.compiled() is not None
    )


def _single_channel_kernel_grad(image, g, kernel_hw, dilation):
    """The kernel gradient ``(kh, kw, 1, O)`` of a stride-1 convolution of the zero-padded
    single-channel ``image`` ``(N, Hp, Wp)`` whose output gradient is ``g`` ``(N, oh, ow, O)``.

    Sums products of shifted runs of the flattened image with the output gradient laid out
    channel-first on the padded grid (``conv_kernels``), without an im2col matrix: 0.25× the
    time of the GEMM over one on LeNet's first convolution. The sums are grouped differently
    from that GEMM's, so the two agree within float32 rounding
    (``tests/test_single_channel_conv.py``).
    """
    loops = conv_kernels.compiled()
    kh, kw = kernel_hw
    n, hp, wp = image.shape
    _, oh, ow, o = g.shape
    offsets, rows = _tap_offsets(kernel_hw, dilation, wp), _channel_rows(o)
    planar = _scratch((rows, n * hp * wp), g.dtype)
    loops.planar_positions(g, planar, hp, wp)
    length = ((n - 1) * hp + oh - 1) * wp + ow
    out = xp.empty((len(offsets), rows), dtype=g.dtype)
    image = xp.ascontiguousarray(image).reshape(-1)
    loops.single_channel_kernel_grad(image, planar, offsets, length, out, 2048)
    _release(planar)
    return xp.ascontiguousarray(out[: kh * kw, :o]).reshape(kh, kw, 1, o)


def _single_channel_conv(image, kernel, bias, out_hw, dilation, relu):
    """``Conv2D``'s output ``(N, oh, ow, O)`` for a stride-1 convolution of the zero-padded
    single-channel ``image`` ``(N, Hp, Wp)``, through ``max(·, 0)`` when ``relu``.

    The compiled loop sums shifted runs of each flattened image channel-first and writes them
    out pixel by pixel (``conv_kernels``): no im2col matrix, and 0.6× the time of building one
    and multiplying on LeNet's first convolution. Within float32 rounding of that GEMM.
    """
    loops = conv_kernels.compiled()
    kh, kw, _, o = kernel.shape
    n, hp, wp = image.shape
    oh, ow = out_hw
    offsets, rows = _tap_offsets((kh, kw), dilation, wp), _channel_rows(o)
    weights = xp.zeros((len(offsets), rows), dtype=kernel.dtype)
    weights[: kh * kw, :o] = kernel.reshape(kh * kw, o)
    shift = xp.zeros(rows, dtype=kernel.dtype)
    if bias is not None:
        shift[:o] = bias
    out = xp.empty((n, oh, ow, o), dtype=kernel.dtype)
    sums = xp.empty((rows, (oh - 1) * wp + ow), dtype=kernel.dtype)
    image = xp.ascontiguousarray(image).reshape(-1)
    loops.single_channel_conv(image, weights, shift, offsets, out, hp, wp, sums, relu)
    return out


# im2col blocks of about this size stay in a core's 1 MB L2 cache for their product (integrated
# gradients on the digits CNN: 76.3 -> 72.6 ms best, alternating A/B; 512 KB blocks: 73.4 ms)
_BLOCK_BYTES = 1 << 20


def _blocked_product(x, matrix, geometry, planar, ones):
    """``im2col(x) · matrix`` ``(N·oh·ow, O)``, the matrix built and multiplied a block of whole
    images at a time, each block in cache for its GEMM rather than the whole matrix in memory
    (integrated gradients' 1,000-image passes: 18.5 MB for the digits CNN's second layer)."""
    n = x.shape[0]
    oh, ow = geometry[1]
    positions = oh * ow
    per_image = positions * matrix.shape[0] * x.dtype.itemsize
    block = max(1, _BLOCK_BYTES // per_image)
    if block >= n:
        cols, buffer = _im2col(x, *geometry, 1, planar, ones)
        out = xp.matmul(cols[0], matrix)
        _release(buffer)
        return out
    out = xp.empty((n * positions, matrix.shape[1]), dtype=x.dtype)
    for start in range(0, n, block):
        stop = min(n, start + block)
        cols, buffer = _im2col(x[start:stop], *geometry, 1, planar, ones)
        xp.matmul(cols[0], matrix, out=out[start * positions : stop * positions])
        _release(buffer)
    return out


def _tap_offsets(kernel_hw, dilation, wp):
    """Each tap's offset in a flattened padded image of width ``wp`` from its window's first
    pixel, plus an idle tap (offset 0) to an even count: the loops take taps in pairs."""
    (kh, kw), (dh, dw) = kernel_hw, dilation
    offsets = [a * dh * wp + b * dw for a in range(kh) for b in range(kw)]
    offsets += [0] * (len(offsets) % 2)
    return xp.asarray(offsets, dtype=xp.int64)


def _channel_rows(channels: int) -> int:
    """``channels`` rounded up to a multiple of 3: the loops take channels in threes."""
    return -(-channels // 3) * 3


# ---------------------------------------------------------------- convolution


class Conv2D(Function):
    """2-D cross-correlation (Keras Conv2D's maths), optionally grouped, plus an optional bias.

    x: ``(N, H, W, C)``; kernel: ``(kh, kw, C // groups, O)``; bias: ``(O,)`` or absent.
    Attributes: ``strides`` and ``dilation`` as pairs, ``pads`` as
    ``((top, bottom), (left, right))``, ``groups`` dividing C and O (group g maps input
    channels ``g*C/G …`` to output channels ``g*O/G …``; a depthwise convolution is
    ``groups = C``). Output: ``(N, out_h, out_w, O)``.
    """

    # max(·, 0) of the output (Conv2DRelu), fused into the single-channel loop's writing
    relu = False

    def forward(
        self,
        x,
        kernel,
        bias=None,
        strides=(1, 1),
        pads=((0, 0), (0, 0)),
        dilation=(1, 1),
        groups=1,
    ):
        n, h, w, c = x.shape
        kh, kw, cg, o = kernel.shape
        (top, bottom), (left, right) = pads
        padded_shape = (n, h + top + bottom, w + left + right, c)
        oh, ow = _out_hw(padded_shape[1:3], (kh, kw), strides, dilation)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"Convolution of a {h}x{w} input (padded to {padded_shape[1]}x{padded_shape[2]}) "
                f"by a {kh}x{kw} kernel with dilation {tuple(dilation)} leaves no output."
            )
        self.padded_shape, self.pads = padded_shape, pads
        self.strides, self.dilation, self.groups = strides, dilation, groups
        self.has_bias, self.kernel_hw = bias is not None, (kh, kw)
        self.planar = _use_planar(kw, cg, ow, strides[1], dilation[1])
        self.image = None
        taps = kh * kw * cg
        if groups == 1:
            matrix = kernel.reshape(taps, o)
            if bias is not None:
                # the bias rides in the GEMM as a row of the kernel matched by a column of ones
                matrix = xp.concatenate([matrix, bias.reshape(1, o)])
            self.matrix = matrix
            if _single_channel_direct(kernel, strides, padded_shape[1:3], (oh, ow)):
                # no im2col matrix: the compiled loop reads the padded image, and so does
                # backward (kept, not padded again)
                image = _pad_hw(x, pads)[..., 0]
                self.image, self.padded_image, self.cols, self.buffer = x, image, None, None
                return _single_channel_conv(image, kernel, bias, (oh, ow), dilation, self.relu)
            geometry = ((kh, kw), (oh, ow), strides, dilation, pads)
            needs = getattr(self, "needs_grad", (True, True, True))
            if needs is None or not needs[1]:
                # nothing reads the im2col matrix after the product (inference, input
                # gradients only): made and multiplied a block of images at a time
                self.image, self.cols, self.buffer = x, None, None
                if conv_regions.suits(x, (kh, kw), (oh, ow), strides, dilation, pads, self.planar):
                    # a small padded map: no products of the padding (conv_regions)
                    out = conv_regions.product(
                        x, matrix, (kh, kw), (oh, ow), pads, bias is not None
                    )
                else:
                    out = _blocked_product(x, matrix, geometry, self.planar, bias is not None)
            else:
                cols, self.buffer = _im2col(x, *geometry, 1, self.planar, bias is not None)
                self.cols = cols[0]
                # matmul: BLAS reads the planar (transposed) matrix as it is, ~15% sooner
                out = xp.matmul(self.cols, matrix)
            out = out.reshape(n, oh, ow, o)
        else:
            og = o // groups
            cols, self.buffer = _im2col(
                x, (kh, kw), (oh, ow), strides, dilation, pads, groups, self.planar
            )
            matrix = kernel.reshape(kh, kw, cg, groups, og).transpose(3, 0, 1, 2, 4)
            matrix = matrix.reshape(groups, taps, og)
            self.cols, self.matrix = cols, matrix
            out = xp.matmul(cols, matrix).transpose(1, 0, 2).reshape(n, oh, ow, o)
            if bias is not None:
                out += bias
        if self.relu:
            relu_values(out, out=out)
        return out

    def backward(self, g):
        kh, kw = self.kernel_hw
        n, oh, ow, o = g.shape
        rows = n * oh * ow
        g2 = g.reshape(rows, o)
        groups = self.groups
        cg = self.padded_shape[3] // groups
        taps = kh * kw * cg
        gx = gk = gb = None
        if groups == 1:
            if self.needs_grad[1] and self.cols is None:
                # the single-channel path: the kernel gradient from the input itself
                gk = _single_channel_kernel_grad(
                    self.padded_image, g, self.kernel_hw, self.dilation
                )
                if self.has_bias:
                    gb = column_sums(g2)
            elif self.needs_grad[1]:
                gk_full = inner_product(self.cols.T, g2)
                gk = gk_full[:taps].reshape(kh, kw, cg, o)
                if self.has_bias:
                    gb = gk_full[taps]
            elif self.has_bias and self.needs_grad[2]:
                gb = column_sums(g2)
            if self.needs_grad[0]:
                kernel2 = self.matrix[:taps]
                if self.planar:
                    buffer = _scratch((taps, rows), g.dtype)
                    gcols = kernel2.dot(g2.T, out=buffer).reshape(kh, kw, cg, n, oh, ow)
                    gpad = _col2im_planar(gcols, self.padded_shape, self.strides, self.dilation)
                    _release(buffer)
                    gx = xp.ascontiguousarray(_crop_hw(gpad, self.pads))
                else:
                    gx = _pixel_first_input_grad(
                        g,
                        kernel2,
                        self.padded_shape,
                        (kh, kw),
                        self.strides,
                        self.dilation,
                        self.pads,
                    )
        else:
            og = o // groups
            gg = g2.reshape(rows, groups, og).transpose(1, 0, 2)
            if self.needs_grad[1]:
                gk = xp.matmul(self.cols.transpose(0, 2, 1), gg)
                gk = gk.reshape(groups, kh, kw, cg, og).transpose(1, 2, 3, 0, 4)
                gk = gk.reshape(kh, kw, cg, o)
            if self.has_bias and self.needs_grad[2]:
                gb = column_sums(g2)
            if self.needs_grad[0]:
                if self.planar:
                    gcols = xp.matmul(self.matrix, gg.transpose(0, 2, 1))
                    gcols = gcols.reshape(groups, kh, kw, cg, n, oh, ow).transpose(
                        1, 2, 0, 3, 4, 5, 6
                    )
                    gcols = gcols.reshape(kh, kw, groups * cg, n, oh, ow)
                else:
                    gcols = xp.matmul(gg, self.matrix.transpose(0, 2, 1))
                    gcols = gcols.reshape(groups, n, oh, ow, kh, kw, cg).transpose(
                        1, 2, 3, 4, 5, 0, 6
                    )
                    gcols = gcols.reshape(n, oh, ow, kh, kw, groups * cg)
                gx = self._input_grad(gcols)
        if self.has_bias:
            return gx, gk, gb
        return gx, gk

    def __del__(self, _finalizing=sys.is_finalizing):
        # the graph dropped this op (after backward, or at once under no_grad): reuse its im2col;
        # not while the interpreter exits, when this module's names may already be None
        if not _finalizing():
            _release(getattr(self, "buffer", None))

    def columns(self):
        """The im2col matrix the forward multiplied (with the ones column when biased)."""
        if self.cols is None and self.image is not None:
            # never kept (_single_channel_direct, or no kernel gradient wanted): built again
            n, hp, wp, _ = self.padded_shape
            out_hw = _out_hw((hp, wp), self.kernel_hw, self.strides, self.dilation)
            cols, self.buffer = _im2col(
                self.image,
                self.kernel_hw,
                out_hw,
                self.strides,
                self.dilation,
                self.pads,
                1,
                self.planar,
                self.has_bias,
            )
            self.cols = cols[0]
        return self.cols

    def _input_grad(self, gcols):
        if self.planar:
            gpad = _col2im_planar(gcols, self.padded_shape, self.strides, self.dilation)
        else:
            gpad = _col2im(gcols, self.padded_shape, self.strides, self.dilation)
        return xp.ascontiguousarray(_crop_hw(gpad, self.pads))


class Conv2DRelu(Conv2D):
    """relu(Conv2D): a convolution layer with ReLU as one op, one pass fewer each way."""

    relu = True

    def forward(self, x, kernel, bias=None, **attrs):
        self.out = super().forward(x, kernel, bias, **attrs)
        return self.out

    def backward(self, g):
        # a multiply by the mask: where() branches per element and is ~10x slower on a random mask
        return super().backward(relu_grad(g, self.out))


class Conv1D(Conv2D):
    """1-D cross-correlation: ``Conv2D`` on a unit height, or per-tap GEMMs (``conv_taps``) when
    the stride is 1, there is one group and the channels are many.

    x: ``(N, L, C)``; kernel: ``(k, C // groups, O)``; ``strides``, ``dilation`` and the
    ``pads`` entry are 1-tuples (``pads = ((before, after),)``). Output: ``(N, out_l, O)``.
    """

    def forward(self, x, kernel, bias=None, strides=(1,), pads=((0, 0),), dilation=(1,), groups=1):
        n, length, channels = x.shape
        geometry = conv_taps.Geometry(
            n, length, channels, kernel.shape[0], dilation[0], pads[0][0], pads[0][1]
        )
        self.taps = None
        if geometry.out_length >= 1 and conv_taps.suits(x, kernel, strides, groups):
            self.taps, self.has_bias, self.groups = geometry, bias is not None, 1
            # the scratch buffer is the padded input itself, read by backward and released
            # when the op is dropped
            out, self.buffer = conv_taps.forward(x, kernel, bias, geometry)
            self.kernel = kernel
            return out
        out = super().forward(
            x[:, None],
            kernel[None],
            bias,
            strides=(1, strides[0]),
            pads=((0, 0), pads[0]),
            dilation=(1, dilation[0]),
            groups=groups,
        )
        return out[:, 0]

    def backward(self, g):
        if self.taps is not None:
            gx, gk, gb = conv_taps.backward(
                g, self.buffer, self.kernel, self.taps, tuple(self.needs_grad) + (False,)
            )
            return (gx, gk, gb) if self.has_bias else (gx, gk)
        grads = super().backward(g[:, None])
        gx = None if grads[0] is None else grads[0][:, 0]
        gk = None if grads[1] is None else grads[1][0]
        return (gx, gk) + tuple(grads[2:])

    def columns(self):
        """The im2col matrix ``(N·out_l, k·C [+ 1 for the bias])`` of the input."""
        if self.taps is not None:
            return conv_taps.columns(self.buffer, self.taps, self.has_bias)
        return super().columns()


class Conv2DTranspose(Function):
    """Transposed 2-D convolution: the input gradient of ``Conv2D``, used as a layer.

    x: ``(N, H, W, Cin)``; kernel: ``(kh, kw, O, Cin)`` (Keras's layout); bias ``(O,)`` or
    absent. ``output_hw`` is the output's height and width and ``pads`` the padding of the
    forward convolution that maps such an output back to ``(H, W)``. Output: ``(N, *output_hw,
    O)``.
    """

    def forward(
        self,
        x,
        kernel,
        bias=None,
        strides=(1, 1),
        pads=((0, 0), (0, 0)),
        dilation=(1, 1),
        output_hw=(1, 1),
    ):
        n, h, w, cin = x.shape
        kh, kw, o, _ = kernel.shape
        (top, bottom), (left, right) = pads
        padded_shape = (n, output_hw[0] + top + bottom, output_hw[1] + left + right, o)
        reach = _out_hw(padded_shape[1:3], (kh, kw), strides, dilation)
        if reach != (h, w):
            raise ValueError(
                f"Transposed convolution: an output of {output_hw[0]}x{output_hw[1]} padded by "
                f"{pads} convolves back to {reach[0]}x{reach[1]}, not to the input's {h}x{w}."
            )
        self.x, self.kernel, self.pads = x, kernel, pads
        self.strides, self.dilation, self.has_bias = strides, dilation, bias is not None
        self.planar = _use_planar(kw, o, w, strides[1], dilation[1])
        # each input pixel spreads its kernel-weighted values over a window: a GEMM, then col2im
        x2 = x.reshape(n * h * w, cin)
        kernel2 = kernel.reshape(kh * kw * o, cin)
        if self.planar:
            spread = kernel2.dot(x2.T).reshape(kh, kw, o, n, h, w)
            full = _col2im_planar(spread, padded_shape, strides, dilation)
        else:
            per_tap = kernel2.reshape(kh * kw, o, cin).transpose(0, 2, 1)
            spread = xp.matmul(x2, per_tap).reshape(kh, kw, n, h, w, o)
            full = _col2im_taps(spread, padded_shape, strides, dilation)
        out = xp.ascontiguousarray(_crop_hw(full, pads))
        if bias is not None:
            out += bias
        return out

    def backward(self, g):
        x, kernel = self.x, self.kernel
        n, h, w, cin = x.shape
        kh, kw, o, _ = kernel.shape
        cols, buffer = _im2col(
            g, (kh, kw), (h, w), self.strides, self.dilation, self.pads, 1, self.planar
        )
        cols = cols[0]
        gx = gk = gb = None
        if self.needs_grad[0]:
            gx = cols.dot(kernel.reshape(kh * kw * o, cin)).reshape(x.shape)
        if self.needs_grad[1]:
            gk = inner_product(cols.T, x.reshape(n * h * w, cin)).reshape(kernel.shape)
        _release(buffer)
        if self.has_bias:
            if self.needs_grad[2]:
                gb = column_sums(g.reshape(-1, o))
            return gx, gk, gb
        return gx, gk


def _depth_windows(x, kd: int, out_d: int, stride: int, dilation: int):
    """Zero-copy view ``(N, out_d, H, W, kd, C)`` of the depth windows of padded ``x``
    ``(N, D, H, W, C)``."""
    n, _, h, w, c = x.shape
    sn, sd, sh, sw, sc = x.strides
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=(n, out_d, h, w, kd, c),
        strides=(sn, sd * stride, sh, sw, sd * dilation, sc),
        writeable=False,
    )


def _pad_depth(x, pads: tuple):
    """``x`` ``(N, D, ...)`` with ``pads = (front, back)`` zero slices around D."""
    front, back = pads
    if not (front or back):
        return x
    out = xp.zeros((x.shape[0], x.shape[1] + front + back) + x.shape[2:], dtype=x.dtype)
    out[:, front : front + x.shape[1]] = x
    return out


def _fold_depth(slices, padded_d: int, stride: int, dilation: int, pads: tuple):
    """Adjoint of ``_depth_windows`` (padding cropped): add per-tap slices ``(N, od, H, W, kd,
    C)`` into ``(N, D, H, W, C)``, one strided add per depth tap."""
    n, od, h, w, kd, c = slices.shape
    full = xp.zeros((n, padded_d, h, w, c), dtype=slices.dtype)
    for t in range(kd):
        start = t * dilation
        full[:, start : start + stride * (od - 1) + 1 : stride] += slices[:, :, :, :, t]
    front, back = pads
    if not (front or back):
        return full
    return xp.ascontiguousarray(full[:, front : padded_d - back])


def _kernel_as_2d(kernel):
    """A 3-D kernel ``(kd, kh, kw, a, b)`` as the 2-D kernel ``(kh, kw, kd * a, b)`` of the
    depth-unfolded convolution (depth-major channels within each group)."""
    kd, kh, kw, a, b = kernel.shape
    return kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, kd * a, b)


def kernel_from_2d(grad2, kernel_shape: tuple):
    """``_kernel_as_2d`` undone on a gradient ``(..., kh, kw, kd * a, b)``: ``(..., *shape)``."""
    kd, kh, kw, a, b = kernel_shape
    lead = grad2.shape[:-4]
    return xp.moveaxis(grad2.reshape(lead + (kh, kw, kd, a, b)), -3, -5).reshape(
        lead + tuple(kernel_shape)
    )


class Conv3D(Conv2D):
    """3-D cross-correlation, optionally grouped, plus an optional bias: ``Conv2D`` on the
    depth-unfolded input.

    x: ``(N, D, H, W, C)``; kernel: ``(kd, kh, kw, C // groups, O)``; bias ``(O,)`` or absent;
    ``strides`` and ``dilation`` triples, ``pads`` three ``(before, after)`` pairs. Output:
    ``(N, out_d, out_h, out_w, O)``. Depth window ``i`` of the padded input becomes image ``(n,
    i)`` with channels ``(group, depth tap, channel)``, convolved by the kernel seen as
    ``(kh, kw, kd * C // groups, O)``; the saved im2col matrix (``cols``) has one row per
    output position in ``(n, d, h, w)`` order, as a 2-D one does, so per-example rules read it
    alike. ``kernel_shape`` is the 3-D kernel's shape.
    """

    def forward(
        self,
        x,
        kernel,
        bias=None,
        strides=(1, 1, 1),
        pads=((0, 0), (0, 0), (0, 0)),
        dilation=(1, 1, 1),
        groups=1,
    ):
        n, d, h, w, c = x.shape
        kd = kernel.shape[0]
        cg = c // groups
        padded_d = d + pads[0][0] + pads[0][1]
        od = (padded_d - dilation[0] * (kd - 1) - 1) // strides[0] + 1
        if od < 1:
            raise ValueError(
                f"Convolution of an input of depth {d} (padded to {padded_d}) by a kernel of "
                f"depth {kd} with dilation {dilation[0]} leaves no output."
            )
        self.depth = (padded_d, strides[0], dilation[0], pads[0], groups)
        self.kernel_shape = kernel.shape
        # (N, od, H, W, kd, G, cg) -> images (N * od, H, W) with channels (G, kd, cg)
        windows = _depth_windows(_pad_depth(x, pads[0]), kd, od, strides[0], dilation[0])
        windows = windows.reshape(n, od, h, w, kd, groups, cg).transpose(0, 1, 2, 3, 5, 4, 6)
        unfolded = _scratch((n * od, h, w, groups * kd * cg), x.dtype)
        unfolded.reshape(n, od, h, w, groups, kd, cg)[...] = windows
        out = super().forward(
            unfolded,
            _kernel_as_2d(kernel),
            bias,
            strides=strides[1:],
            pads=pads[1:],
            dilation=dilation[1:],
            groups=groups,
        )
        _release(unfolded)
        return out.reshape((n, od) + out.shape[1:])

    def backward(self, g):
        n, od = g.shape[:2]
        grads = list(super().backward(g.reshape((n * od,) + g.shape[2:])))
        padded_d, stride, dilation, pads, groups = self.depth
        kd = self.kernel_shape[0]
        if grads[0] is not None:
            _, h, w, channels = grads[0].shape
            cg = channels // (groups * kd)
            slices = grads[0].reshape(n, od, h, w, groups, kd, cg).transpose(0, 1, 2, 3, 5, 4, 6)
            slices = slices.reshape(n, od, h, w, kd, groups * cg)
            grads[0] = _fold_depth(slices, padded_d, stride, dilation, pads)
        if grads[1] is not None:
            grads[1] = kernel_from_2d(grads[1], self.kernel_shape)
        return tuple(grads)


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution: ``Conv2DTranspose`` on a unit height.

    x: ``(N, L, Cin)``; kernel: ``(k, O, Cin)``; ``strides``, ``dilation`` 1-tuples, ``pads``
    ``((before, after),)`` and ``output_hw`` ``(out_l,)``. Output: ``(N, out_l, O)``.
    """

    def forward(
        self, x, kernel, bias=None, strides=(1,), pads=((0, 0),), dilation=(1,), output_hw=(1,)
    ):
        out = super().forward(
            x[:, None],
            kernel[None],
            bias,
            strides=(1, strides[0]),
            pads=((0, 0), pads[0]),
            dilation=(1, dilation[0]),
            output_hw=(1, output_hw[0]),
        )
        return out[:, 0]

    def backward(self, g):
        grads = super().backward(g[:, None])
        gx = None if grads[0] is None else grads[0][:, 0]
        gk = None if grads[1] is None else grads[1][0]
        return (gx, gk) + tuple(grads[2:])


class Conv3DTranspose(Function):
    """Transposed 3-D convolution: the input gradient of ``Conv3D``, used as a layer.

    x: ``(N, D, H, W, Cin)``; kernel: ``(kd, kh, kw, O, Cin)`` (Keras's layout); bias ``(O,)``
    or absent. ``output_hw`` is the output's ``(depth, height, width)`` and ``pads`` the
    padding of the forward convolution that maps such an output back to ``(D, H, W)``. A
    ``Conv2DTranspose`` of each input depth slice spreads it over ``kd`` output slices side by
    side as channels; those are then added into place along depth. Saved for backward and
    per-example rules: ``x``, ``kernel``, ``strides``, ``pads``, ``dilation`` (all 3-D).
    """

    def forward(
        self,
        x,
        kernel,
        bias=None,
        strides=(1, 1, 1),
        pads=((0, 0), (0, 0), (0, 0)),
        dilation=(1, 1, 1),
        output_hw=(1, 1, 1),
    ):
        n, d, h, w, cin = x.shape
        kd, kh, kw, o, _ = kernel.shape
        padded_d = output_hw[0] + pads[0][0] + pads[0][1]
        reach = (padded_d - dilation[0] * (kd - 1) - 1) // strides[0] + 1
        if reach != d:
            raise ValueError(
                f"Transposed convolution: an output of depth {output_hw[0]} padded by "
                f"{pads[0]} convolves back to depth {reach}, not to the input's {d}."
            )
        self.x, self.kernel, self.pads = x, kernel, pads
        self.strides, self.dilation, self.has_bias = strides, dilation, bias is not None
        self.padded_d = padded_d
        self.inner = Conv2DTranspose()
        self.inner.needs_grad = (True, True)
        spread = self.inner.forward(
            x.reshape(n * d, h, w, cin),
            _kernel_as_2d(kernel),
            strides=strides[1:],
            pads=pads[1:],
            dilation=dilation[1:],
            output_hw=output_hw[1:],
        )
        oh, ow = spread.shape[1:3]
        slices = spread.reshape(n, d, oh, ow, kd, o)
        out = _fold_depth(slices, padded_d, strides[0], dilation[0], pads[0])
        if bias is not None:
            out += bias
        return out

    def backward(self, g):
        kd, _, _, o, _ = self.kernel.shape
        n, d = self.x.shape[:2]
        needs = getattr(self, "needs_grad", None) or (True, True, True)
        self.inner.needs_grad = (needs[0], needs[1])
        # the depth windows of g, side by side as channels: the adjoint of the fold
        windows = _depth_windows(
            _pad_depth(g, self.pads[0]), kd, d, self.strides[0], self.dilation[0]
        )
        oh, ow = g.shape[2:4]
        unfolded = _scratch((n * d, oh, ow, kd * o), g.dtype)
        unfolded.reshape(n, d, oh, ow, kd, o)[...] = windows
        gx, gk = self.inner.backward(unfolded)
        _release(unfolded)
        if gx is not None:
            gx = gx.reshape(self.x.shape)
        if gk is not None:
            gk = kernel_from_2d(gk, self.kernel.shape)
        if not self.has_bias:
            return gx, gk
        gb = column_sums(g.reshape(-1, o)) if needs[2] else None
        return gx, gk, gb


# ---------------------------------------------------------------- pooling


class MaxPool2D(Function):
    """Max over each ``pool`` window, stepping by ``strides``; padding never wins.

    x: ``(N, H, W, C)``; ``pool`` and ``strides`` pairs; ``pads`` as in ``Conv2D`` (padded
    cells hold -inf, so they are never the maximum, as in TensorFlow). The gradient goes to the
    first maximum of each window (row-major order within the window).
    """

    def forward(self, x, pool=(2, 2), strides=(2, 2), pads=((0, 0), (0, 0))):
        n, h, w, c = x.shape
        xpad = _pad_hw(x, pads, value=-xp.inf)
        oh, ow = _out_hw(xpad.shape[1:3], pool, strides, (1, 1))
        taps = pool[0] * pool[1]
        self.padded_shape, self.pads, self.pool, self.strides = xpad.shape, pads, pool, strides
        two_by_two = tuple(pool) == (2, 2) and tuple(strides) == (2, 2)
        compiled = conv_kernels.compiled() if two_by_two else None
        if compiled is not None and kernels.usable(xpad):
            out = xp.empty((n, oh, ow, c), dtype=x.dtype)
            self.arg = xp.empty((n, oh, ow, c), dtype=xp.uint8)
            compiled.max_pool_2x2(xpad, out, self.arg)
            return out
        self.arg = None
        # tap-major copy (T, N, oh, ow, C): reductions over axis 0 run slab by slab
        buffer = _scratch((pool[0], pool[1], n, oh, ow, c), x.dtype)
        _copy_runs(buffer, _tap_windows(xpad, pool, (oh, ow), strides))
        cols = buffer.reshape(taps, n, oh, ow, c)
        out = cols.max(axis=0)
        if getattr(self, "needs_grad", ()) is None:
            # no graph records this call (inference): find the first maxima only if asked
            self.first, self.xpad, self.out = None, xpad, out
        else:
            self.first = self._first_maxima(cols, out)
        _release(buffer)
        return out

    def _first_from_arg(self):
        """The first-maximum mask ``(taps, N, oh, ow, C)`` from the compiled forward's taps."""
        taps = self.pool[0] * self.pool[1]
        return self.arg == xp.arange(taps, dtype=xp.uint8).reshape(taps, 1, 1, 1, 1)

    @staticmethod
    def _first_maxima(cols, out):
        """Where each window's first maximum is: among the taps equal to the max, the one with
        the highest rank when earlier taps rank higher (a max over axis 0: no scan needed)."""
        taps = len(cols)
        rank_dtype = xp.uint8 if taps < 256 else xp.int64
        ranks = xp.arange(taps, 0, -1, dtype=rank_dtype).reshape(taps, 1, 1, 1, 1)
        scores = (cols == out) * ranks
        return scores == scores.max(axis=0)

    def backward(self, g):
        n, oh, ow, c = g.shape
        if self.arg is not None:
            compiled = conv_kernels.compiled()
            if compiled is not None and kernels.usable(g):
                gpad = xp.empty(self.padded_shape, dtype=g.dtype)
                if c >= conv_kernels.MANY_CHANNELS:
                    compiled.max_pool_2x2_grad_rows(g, self.arg, gpad)
                else:
                    compiled.max_pool_2x2_grad(g, self.arg, gpad)
                return (_crop_hw(gpad, self.pads),)
            self.first = self._first_from_arg()
        if self.first is None:
            pool = self.pool
            cols = _tap_windows(self.xpad, pool, (oh, ow), self.strides)
            cols = xp.ascontiguousarray(cols).reshape(pool[0] * pool[1], n, oh, ow, c)
            self.first = self._first_maxima(cols, self.out)
            self.xpad = self.out = None
        gcols = xp.multiply(self.first, g, out=_scratch(self.first.shape, g.dtype))
        gpad = _col2im_taps(
            gcols.reshape(self.pool[0], self.pool[1], n, oh, ow, c),
            self.padded_shape,
            self.strides,
            (1, 1),
        )
        _release(gcols)
        return (_crop_hw(gpad, self.pads),)


class AvgPool2D(Function):
    """Mean over each ``pool`` window; padded cells are left out of the mean (Keras 'same').

    x: ``(N, H, W, C)``; ``pool``, ``strides`` and ``pads`` as in ``MaxPool2D``.
    """

    def forward(self, x, pool=(2, 2), strides=(2, 2), pads=((0, 0), (0, 0))):
        n, h, w, c = x.shape
        xpad = _pad_hw(x, pads)
        oh, ow = _out_hw(xpad.shape[1:3], pool, strides, (1, 1))
        cols = _scratch((pool[0], pool[1], n, oh, ow, c), x.dtype)
        _copy_runs(cols, _tap_windows(xpad, pool, (oh, ow), strides))
        # count of real (unpadded) cells per window: a product of per-axis counts
        counts = [
            _valid_counts(size, k, s, pad[0], o)
            for size, k, s, pad, o in zip((h, w), pool, strides, pads, (oh, ow), strict=True)
        ]
        inv_count = (1.0 / xp.multiply.outer(counts[0], counts[1])).astype(x.dtype)
        self.inv_count = inv_count[:, :, None]
        self.padded_shape, self.pads, self.pool, self.strides = xpad.shape, pads, pool, strides
        out = cols.reshape(pool[0] * pool[1], n, oh, ow, c).sum(axis=0)
        _release(cols)
        out *= self.inv_count
        return out

    def backward(self, g):
        share = g * self.inv_count
        gcols = xp.broadcast_to(share, (*self.pool, *share.shape))
        gpad = _col2im_taps(gcols, self.padded_shape, self.strides, (1, 1))
        return (_crop_hw(gpad, self.pads),)


def _valid_counts(size: int, pool: int, stride: int, before: int, out: int):
    """How many of each output window's ``pool`` cells along one axis lie inside the input."""
    start = xp.arange(out) * stride - before
    return (xp.minimum(start + pool, size) - xp.maximum(start, 0)).astype(xp.float64)


class MaxPool1D(MaxPool2D):
    """``MaxPool2D`` on ``(N, L, C)``; ``pool``, ``strides`` 1-tuples, ``pads`` ``((b, a),)``."""

    def forward(self, x, pool=(2,), strides=(2,), pads=((0, 0),)):
        out = super().forward(x[:, None], (1, pool[0]), (1, strides[0]), ((0, 0), pads[0]))
        return out[:, 0]

    def backward(self, g):
        return (super().backward(g[:, None])[0][:, 0],)


class AvgPool1D(AvgPool2D):
    """``AvgPool2D`` on ``(N, L, C)``; ``pool``, ``strides`` 1-tuples, ``pads`` ``((b, a),)``."""

    def forward(self, x, pool=(2,), strides=(2,), pads=((0, 0),)):
        out = super().forward(x[:, None], (1, pool[0]), (1, strides[0]), ((0, 0), pads[0]))
        return out[:, 0]

    def backward(self, g):
        return (super().backward(g[:, None])[0][:, 0],)


# ---------------------------------------------------------------- resizing


class UpSampleNearest2D(Function):
    """Repeat each pixel ``size[0]`` times down and ``size[1]`` times across (nearest).

    x: ``(N, H, W, C)`` -> ``(N, H * size[0], W * size[1], C)``.
    """

    def forward(self, x, size=(2, 2)):
        n, h, w, c = x.shape
        self.size = size
        wide = xp.broadcast_to(x[:, :, None, :, None], (n, h, size[0], w, size[1], c))
        return wide.reshape(n, h * size[0], w * size[1], c)

    def backward(self, g):
        n, hh, ww, c = g.shape
        sh, sw = self.size
        return (g.reshape(n, hh // sh, sh, ww // sw, sw, c).sum(axis=(2, 4)),)


class ZeroPad(Function):
    """Pad with zeros: ``pads`` holds one ``(before, after)`` pair per axis."""

    def forward(self, a, pads=()):
        self.index = tuple(slice(b, b + n) for (b, _), n in zip(pads, a.shape, strict=True))
        out = xp.zeros(
            tuple(n + b + e for (b, e), n in zip(pads, a.shape, strict=True)), dtype=a.dtype
        )
        out[self.index] = a
        return out

    def backward(self, g):
        return (g[self.index],)


class Crop(Function):
    """Remove ``crops`` (one ``(before, after)`` pair per axis) from the edges."""

    def forward(self, a, crops=()):
        self.shape, self.dtype = a.shape, a.dtype
        self.index = tuple(slice(b, n - e) for (b, e), n in zip(crops, a.shape, strict=True))
        return a[self.index]

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=self.dtype)
        out[self.index] = g
        return (out,)


# ---------------------------------------------------------------- 3-D pooling and upsampling
#
# Written for any number of spatial axes (the 2-D kernels above are tuned for images; volumes
# are rarer and these keep one short code path): the windows are a zero-copy tap-major
# ``as_strided`` view ``(*pool, N, *out, C)`` of the padded input, reduced over the tap axes;
# backward adds each tap's slab of gradients into the padded input gradient, one vectorised
# strided add per tap (``prod(pool)`` of them), never a loop over output positions.


def _pad_spatial(x, pads, value=0.0):
    """``x`` ``(N, *spatial, C)`` with ``pads`` ``(before, after)`` cells of ``value`` per axis."""
    if not any(b or a for b, a in pads):
        return x
    shape = (x.shape[0],) + tuple(n + b + a for n, (b, a) in zip(x.shape[1:-1], pads, strict=True))
    out = xp.full(shape + (x.shape[-1],), value, dtype=x.dtype)
    inner = tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[1:-1], pads, strict=True))
    out[(slice(None),) + inner] = x
    return out


def _spatial_out(padded, pool, strides) -> tuple:
    return tuple((p - k) // s + 1 for p, k, s in zip(padded, pool, strides, strict=True))


def _tap_windows_nd(x, pool, out, strides):
    """Zero-copy view ``(*pool, N, *out, C)`` of the windows of padded ``x`` ``(N, *S, C)``."""
    spatial_strides = x.strides[1:-1]
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=tuple(pool) + (x.shape[0],) + tuple(out) + (x.shape[-1],),
        strides=tuple(spatial_strides)
        + (x.strides[0],)
        + tuple(st * s for st, s in zip(spatial_strides, strides, strict=True))
        + (x.strides[-1],),
        writeable=False,
    )


def _add_taps(gcols, padded_shape, pool, strides, dtype):
    """Sum ``gcols`` ``(taps, N, *out, C)`` back onto the padded input: one strided add per tap."""
    gpad = xp.zeros(padded_shape, dtype=dtype)
    out = gcols.shape[2:-1]
    for tap, offsets in enumerate(xp.ndindex(*pool)):
        index = tuple(
            slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offsets, strides, out, strict=True)
        )
        gpad[(slice(None),) + index] += gcols[tap]
    return gpad


def _crop_spatial(x, pads):
    index = tuple(slice(b, n - a) for n, (b, a) in zip(x.shape[1:-1], pads, strict=True))
    return x[(slice(None),) + index]


class MaxPool3D(Function):
    """Max over each ``pool`` window of ``(N, D, H, W, C)`` (any number of spatial axes works).

    ``pool`` and ``strides`` hold one int per spatial axis, ``pads`` one ``(before, after)``
    pair; padded cells hold -inf so they never win (TensorFlow's 'same'). The gradient goes to
    the first maximum of each window (row-major order within the window), as ``MaxPool2D``.
    """

    def forward(self, x, pool=(2, 2, 2), strides=(2, 2, 2), pads=((0, 0), (0, 0), (0, 0))):
        xpad = _pad_spatial(x, pads, value=-xp.inf)
        out_shape = _spatial_out(xpad.shape[1:-1], pool, strides)
        taps = 1
        for k in pool:
            taps *= k
        cols = xp.ascontiguousarray(_tap_windows_nd(xpad, pool, out_shape, strides))
        cols = cols.reshape((taps, x.shape[0]) + out_shape + (x.shape[-1],))
        out = cols.max(axis=0)
        # first maximum per window: ties ranked by tap order, earlier taps higher
        rank_dtype = xp.uint8 if taps < 256 else xp.int64  # small scores: less memory
        ranks = xp.arange(taps, 0, -1, dtype=rank_dtype).reshape((taps,) + (1,) * out.ndim)
        scores = (cols == out) * ranks
        self.first = scores == scores.max(axis=0)
        self.padded_shape, self.pads, self.pool, self.strides = xpad.shape, pads, pool, strides
        return out

    def backward(self, g):
        gcols = self.first * g
        gpad = _add_taps(gcols, self.padded_shape, self.pool, self.strides, g.dtype)
        return (_crop_spatial(gpad, self.pads),)


class AvgPool3D(Function):
    """Mean over each ``pool`` window of ``(N, D, H, W, C)``; padded cells are left out of the
    mean (Keras 'same'). Arguments as ``MaxPool3D``."""

    def forward(self, x, pool=(2, 2, 2), strides=(2, 2, 2), pads=((0, 0), (0, 0), (0, 0))):
        xpad = _pad_spatial(x, pads)
        out_shape = _spatial_out(xpad.shape[1:-1], pool, strides)
        windows = _tap_windows_nd(xpad, pool, out_shape, strides)
        total = windows.sum(axis=tuple(range(len(pool))))
        # real (unpadded) cells per window: the outer product of the per-axis counts
        count = xp.ones((), dtype=xp.float64)
        for size, k, s, pad, o in zip(x.shape[1:-1], pool, strides, pads, out_shape, strict=True):
            count = xp.multiply.outer(count, _valid_counts(size, k, s, pad[0], o))
        self.inv_count = (1.0 / count).astype(x.dtype)[..., None]
        self.padded_shape, self.pads, self.pool, self.strides = xpad.shape, pads, pool, strides
        return (total * self.inv_count).astype(x.dtype, copy=False)

    def backward(self, g):
        share = g * self.inv_count
        taps = 1
        for k in self.pool:
            taps *= k
        gcols = xp.broadcast_to(share, (taps,) + share.shape)
        gpad = _add_taps(gcols, self.padded_shape, self.pool, self.strides, g.dtype)
        return (_crop_spatial(gpad, self.pads),)


class UpSampleNearest3D(Function):
    """Repeat each cell ``size[i]`` times along spatial axis ``i`` (nearest neighbour).

    x: ``(N, *spatial, C)`` (any number of spatial axes) -> ``(N, *(spatial * size), C)``.
    """

    def forward(self, x, size=(2, 2, 2)):
        self.size = tuple(size)
        spatial = x.shape[1:-1]
        # a unit axis after every spatial axis, broadcast to the repeat count, then merged
        expanded = x.reshape(
            (x.shape[0],) + tuple(v for n in spatial for v in (n, 1)) + (x.shape[-1],)
        )
        wide = xp.broadcast_to(
            expanded,
            (x.shape[0],)
            + tuple(v for n, s in zip(spatial, self.size, strict=True) for v in (n, s))
            + (x.shape[-1],),
        )
        out_spatial = tuple(n * s for n, s in zip(spatial, self.size, strict=True))
        return wide.reshape((x.shape[0],) + out_spatial + (x.shape[-1],))

    def backward(self, g):
        spatial = tuple(n // s for n, s in zip(g.shape[1:-1], self.size, strict=True))
        split = g.reshape(
            (g.shape[0],)
            + tuple(v for n, s in zip(spatial, self.size, strict=True) for v in (n, s))
            + (g.shape[-1],)
        )
        repeat_axes = tuple(2 + 2 * i for i in range(len(spatial)))
        return (split.sum(axis=repeat_axes),)


__all__ += ["AvgPool3D", "MaxPool3D", "UpSampleNearest3D"]
