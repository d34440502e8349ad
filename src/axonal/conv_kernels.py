"""Compiled loops for the convolution and pooling primitives (optional, numba).

NumPy pools by copying a strided view of the windows into a tap-major stack one short
contiguous run at a time (a pixel's 6 channels), reducing it, and finding each window's first
maximum in three more passes; the gradient takes a masked product and a scatter into a zeroed
image. Compiled, 2x2 max pooling (stride 2, the common case) is one pass each way. A
convolution's input gradient over few channels is scattered from its window values in one pass,
without NumPy's regrouping copy of those values by kernel tap. A single-channel convolution (an
image's first layer) runs forward and computes its kernel gradient from the padded image itself,
with no im2col matrix.

Every loop performs the NumPy path's float operations on the same values (pooling routes each
gradient to the window's first maximum in row-major order, and writes gradient times mask as
NumPy does; the convolution scatter adds each pixel's window values in NumPy's tap order), so
the results are bit-identical, signed zeros, infinities and NaN gradients included. (A NaN input
makes both paths' maximum NaN; they route its gradient differently.) The one exception is the
single-channel convolution, forward and kernel gradient: its sums are grouped differently from
the GEMMs NumPy runs, so it agrees within float32 rounding, not bit for bit
(``tests/test_single_channel_conv.py``).

The loops run when numba imports (``pip install -e '.[fast]'``) and ``enabled`` is not False;
numba is imported on the first pooling op that can use them, never by ``import axonal``.
"""

from __future__ import annotations

from typing import Any

import numpy

from axonal import kernels

# None: follow whether numba imports; False: always the NumPy path (tests compare the two)
enabled: bool | None = None
# from this many channels max pooling's gradient is written by the row-wise loop
MANY_CHANNELS = 16


def compiled() -> Any:
    """The compiled loops, or None when they must not or cannot run."""
    return _LOOPS.get(enabled)


def prepare(dtype: Any = "float32") -> bool:
    """Import numba and compile (or load from its cache) the loops for ``dtype`` now, rather
    than on the first pooling op; returns whether they are available."""
    loops = compiled()
    if loops is None:
        return False
    x = numpy.zeros((1, 2, 2, 1), dtype=dtype)
    out, arg = numpy.zeros((1, 1, 1, 1), dtype=dtype), numpy.zeros((1, 1, 1, 1), numpy.uint8)
    loops.max_pool_2x2(x, out, arg)
    loops.max_pool_2x2_grad(out, arg, x)
    loops.max_pool_2x2_grad_rows(out, arg, x)
    loops.col2im_position_major(x.reshape(1, 4), x.reshape(2, 1, 2), 1, 1, 1, 1, 1, 1, 1, 1)
    planar = numpy.zeros((3, 4), dtype=dtype)
    loops.planar_positions(x, planar, 2, 2)
    offsets = numpy.zeros(2, numpy.int64)
    loops.single_channel_kernel_grad(x.reshape(-1), planar, offsets, 1, planar[:2, :3], 2048)
    weights = numpy.zeros((2, 3), dtype=dtype)
    loops.single_channel_conv(x.reshape(-1), weights, weights[0], offsets, out, 2, 2, planar, True)
    return True


# ---------------------------------------------------------------- the loops, as plain Python


def _max_pool_2x2_loop(x, out, arg):  # pragma: no cover - runs compiled
    # x (N, Hp, Wp, C) padded; out (N, Hp // 2, Wp // 2, C); arg: the tap (row-major in the
    # window) of the first maximum. Branch-free: on random data a compare-and-branch running
    # maximum mispredicts half the time and ran 10x slower than this (LeNet's first pooling)
    n_, oh_, ow_, c_ = out.shape
    one = arg.dtype.type(1)
    for n in range(n_):
        for y in range(oh_):
            for x0 in range(ow_):
                for c in range(c_):
                    a = x[n, 2 * y, 2 * x0, c]
                    b = x[n, 2 * y, 2 * x0 + 1, c]
                    d = x[n, 2 * y + 1, 2 * x0, c]
                    e = x[n, 2 * y + 1, 2 * x0 + 1, c]
                    m = max(max(a, b), max(d, e))
                    # a NaN anywhere makes the maximum NaN, as NumPy's max propagates it
                    nan = (a != a) | (b != b) | (d != d) | (e != e)
                    out[n, y, x0, c] = numpy.nan if nan else m
                    not_a, not_b, not_d = (
                        arg.dtype.type(a != m),
                        arg.dtype.type(b != m),
                        arg.dtype.type(d != m),
                    )
                    arg[n, y, x0, c] = not_a * (one + not_b * (one + not_d))


def _max_pool_2x2_grad_loop(g, arg, gx):  # pragma: no cover - runs compiled
    # gx (N, Hp, Wp, C): each window's gradient at its first maximum, 0 elsewhere; computed as
    # NumPy's path does (gradient * is-first-maximum, copied into a zeroed image), so signed
    # zeros, infinities and NaN land the same
    n_, oh_, ow_, c_ = g.shape
    wp = gx.shape[2]
    for n in range(n_):
        for y in range(oh_):
            for x0 in range(ow_):
                for c in range(c_):
                    gv = g[n, y, x0, c]
                    tap = arg[n, y, x0, c]
                    gx[n, 2 * y, 2 * x0, c] = gv * (tap == 0)
                    gx[n, 2 * y, 2 * x0 + 1, c] = gv * (tap == 1)
                    gx[n, 2 * y + 1, 2 * x0, c] = gv * (tap == 2)
                    gx[n, 2 * y + 1, 2 * x0 + 1, c] = gv * (tap == 3)
            if wp > 2 * ow_:
                # an odd width leaves the last column outside every window
                gx[n, 2 * y, 2 * ow_ :, :] = 0.0
                gx[n, 2 * y + 1, 2 * ow_ :, :] = 0.0
        gx[n, 2 * oh_ :, :, :] = 0.0


def _max_pool_2x2_grad_rows_loop(g, arg, gx):  # pragma: no cover - runs compiled
    # _max_pool_2x2_grad_loop's values written a pixel's channels at a time, in memory order,
    # the mask cast to the gradient's dtype: an inner loop the compiler vectorises over many
    # channels (the digits CNN's 32: 730 -> 465 µs a batch of 1,024), but short loops over few
    # (LeNet's 6 channels: 90 -> 246 µs), so it serves maps of MANY_CHANNELS or more
    n_, oh_, ow_, c_ = g.shape
    wp = gx.shape[2]
    kind = gx.dtype.type
    for n in range(n_):
        for y in range(oh_):
            for row in range(2):
                target_row = gx[n, 2 * y + row]
                for x0 in range(ow_):
                    grads, taps = g[n, y, x0], arg[n, y, x0]
                    for col in range(2):
                        want = 2 * row + col
                        target = target_row[2 * x0 + col]
                        for c in range(c_):
                            target[c] = grads[c] * kind(taps[c] == want)
                if wp > 2 * ow_:
                    # an odd width leaves the last column outside every window
                    target_row[2 * ow_ :, :] = 0.0
        gx[n, 2 * oh_ :, :, :] = 0.0


def _col2im_position_major_loop(
    wide, image, oh_, ow_, kh, kw, sh, sw, dh, dw
):  # pragma: no cover - runs compiled
    # wide (oh·ow·N, kh·kw·C): the input gradient's window values, rows position-major (i, j, n),
    # columns (a, b, c); image (Hp, N, Wp·C), zeroed: gets each value added at pixel
    # (i·sh + a·dh, j·sw + b·dw). Output positions run backwards so that every pixel receives its
    # taps in increasing (a, b) order, the order NumPy's tap-by-tap scatter adds them in; rows of
    # different n land in different image rows, so consecutive adds never touch the same values.
    # Undilated, a window row's kw·C values are one contiguous run on both sides. Slices index
    # the runs: a plain index may be negative as far as the compiler knows, and its wrap-around
    # check stops the loop vectorising (LeNet's second convolution: 267 -> 126 µs)
    n_ = image.shape[1]
    c_ = wide.shape[1] // (kh * kw)
    run = kw * c_
    for i in range(oh_ - 1, -1, -1):
        for j in range(ow_ - 1, -1, -1):
            first = (i * ow_ + j) * n_
            for n in range(n_):
                values = wide[first + n]
                for a in range(kh):
                    row = image[i * sh + a * dh, n]
                    if dw == 1:
                        start = j * sw * c_
                        target = row[start : start + run]
                        source = values[a * run : a * run + run]
                        for q in range(run):
                            target[q] += source[q]
                    else:
                        for b in range(kw):
                            start = (j * sw + b * dw) * c_
                            target = row[start : start + c_]
                            source = values[(a * kw + b) * c_ : (a * kw + b + 1) * c_]
                            for c in range(c_):
                                target[c] += source[c]


@kernels.reassociating
def _single_channel_conv_loop(
    image, weights, bias, offsets, out, hp, wp, sums, relu
):  # pragma: no cover - runs compiled
    # out[n, i, j, o] = bias[o] + sum_t weights[t, o] · image[n·hp·wp + i·wp + j + offsets[t]]:
    # a stride-1 convolution of a single-channel padded image (flattened), max(·, 0) when
    # relu. Per image, channel-first sums over the output rows' span of the padded grid
    # (sums: (O', span) scratch) in passes of two taps by three channels that stream the two
    # shifted runs once, then one transposing write (LeNet's first convolution: 105 µs of sums
    # and 95 µs of writing, against 320 µs for im2col and its GEMM). weights (T, O'), bias
    # (O',) zero-padded so that T is even and O' a multiple of 3
    n_, oh_, ow_, o_ = out.shape
    taps = offsets.shape[0]
    rows = weights.shape[1]
    span = (oh_ - 1) * wp + ow_
    for n in range(n_):
        first = n * hp * wp
        for o in range(0, rows, 3):
            s0 = sums[o, :span]
            s1 = sums[o + 1, :span]
            s2 = sums[o + 2, :span]
            s0[:] = bias[o]
            s1[:] = bias[o + 1]
            s2[:] = bias[o + 2]
            for t in range(0, taps, 2):
                x0 = image[first + offsets[t] : first + offsets[t] + span]
                x1 = image[first + offsets[t + 1] : first + offsets[t + 1] + span]
                k00, k01, k02 = weights[t, o], weights[t, o + 1], weights[t, o + 2]
                k10, k11, k12 = weights[t + 1, o], weights[t + 1, o + 1], weights[t + 1, o + 2]
                for p in range(span):
                    u = x0[p]
                    v = x1[p]
                    s0[p] += k00 * u + k10 * v
                    s1[p] += k01 * u + k11 * v
                    s2[p] += k02 * u + k12 * v
        for i in range(oh_):
            for j in range(ow_):
                q = i * wp + j
                target = out[n, i, j]
                for o in range(o_):
                    value = sums[o, q]
                    # max(value, 0) keeping NaN, as NumPy's maximum does
                    target[o] = 0.0 if relu and value <= 0.0 else value


def _planar_positions_loop(g, planar, hp, wp):  # pragma: no cover - runs compiled
    # g (N, oh, ow, O) -> planar (O', N·hp·wp): row o holds channel o's gradient at its output
    # position's top-left pixel in the padded input, 0 in the gutters (positions whose window
    # would leave the image) and in rows from O on. A row at a time: one write stream, and the
    # reads stride over channels (87 µs for LeNet's first map against 145 µs for a pixel at a
    # time into six streams)
    n_, oh_, ow_, o_ = g.shape
    for o in range(planar.shape[0]):
        row = planar[o]
        for n in range(n_):
            for i in range(hp):
                base = (n * hp + i) * wp
                if i < oh_ and o < o_:
                    values = g[n, i]
                    for j in range(ow_):
                        row[base + j] = values[j, o]
                    for j in range(ow_, wp):
                        row[base + j] = 0.0
                else:
                    for j in range(wp):
                        row[base + j] = 0.0


@kernels.reassociating
def _single_channel_kernel_grad_loop(
    image, planar, offsets, length, out, block
):  # pragma: no cover - runs compiled
    # out[t, o] = sum_p image[p + offsets[t]] · planar[o, p] over p < length: the kernel
    # gradient of a stride-1 convolution of a single-channel padded image (flattened), tap t's
    # window value at position p sitting offsets[t] pixels after the position's own. Two taps
    # by three channels per pass over a block of positions: six sums in registers against five
    # loads, where one GEMM over the im2col matrix streams it from memory (LeNet's first
    # convolution: 417 -> 103 µs). T even and O' a multiple of 3 (the callers pad both)
    taps = offsets.shape[0]
    rows = planar.shape[0]
    zero = planar.dtype.type(0.0)
    out[:] = 0.0
    for start in range(0, length, block):
        size = min(block, length - start)
        for o in range(0, rows, 3):
            g0 = planar[o, start : start + size]
            g1 = planar[o + 1, start : start + size]
            g2 = planar[o + 2, start : start + size]
            for t in range(0, taps, 2):
                x0 = image[start + offsets[t] : start + offsets[t] + size]
                x1 = image[start + offsets[t + 1] : start + offsets[t + 1] + size]
                s00 = s01 = s02 = s10 = s11 = s12 = zero
                for p in range(size):
                    a = x0[p]
                    b = x1[p]
                    s00 += a * g0[p]
                    s01 += a * g1[p]
                    s02 += a * g2[p]
                    s10 += b * g0[p]
                    s11 += b * g1[p]
                    s12 += b * g2[p]
                out[t, o] += s00
                out[t, o + 1] += s01
                out[t, o + 2] += s02
                out[t + 1, o] += s10
                out[t + 1, o + 1] += s11
                out[t + 1, o + 2] += s12


_LOOPS = kernels.LoopSet(
    max_pool_2x2=_max_pool_2x2_loop,
    max_pool_2x2_grad=_max_pool_2x2_grad_loop,
    max_pool_2x2_grad_rows=_max_pool_2x2_grad_rows_loop,
    col2im_position_major=_col2im_position_major_loop,
    single_channel_conv=_single_channel_conv_loop,
    planar_positions=_planar_positions_loop,
    single_channel_kernel_grad=_single_channel_kernel_grad_loop,
)
