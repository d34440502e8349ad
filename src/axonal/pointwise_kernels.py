"""Compiled elementwise passes for BatchNormalization, ReLU and the softmax of attention, the
embedding gradient's scatter, and LayerNormalization as one loop per row (optional, numba).

NumPy runs ``xhat = (x - mean) * inv_std; out = xhat * gamma + beta`` as four passes over the
activations, each reading and writing the whole array, and a normalization's input gradient
as four; ReLU's gradient ``g * (y > 0)`` makes a mask first, and the softmax Jacobian's
``(ds - sum) * p`` is two passes over the attention scores. An embedding's gradient adds
each batch row into the table in rounds of fancy-indexed copies; compiled, one loop adds the
rows in place in the same order (an IMDB batch of 6,400 tokens into 20,000 rows: see
``primitives.core.scatter_add_rows``). Compiled, each is one pass (on the
Conv1D classifier's 16,000 × 64 maps: normalize 0.75 -> 0.17 ms, its gradient 0.87 -> 0.19 ms,
ReLU's gradient 0.34 -> 0.15 ms).

Every elementwise loop performs the NumPy path's float operations, in its order, on the same
values, so results are bit-identical (signed zeros, infinities and NaN included): numba changes
the speed, never those numbers. That includes BatchNormalization fused with the ReLU after it
(``normalize_channels`` with ``relu``, ``normalize_rows_relu_grad``: ``models.fusion``), which forms
ReLU's output and gradient mask as ``primitives.core`` does.

The loops that also take statistics are within float32 rounding of the NumPy path instead, not
bit for bit: their sums run in the loop's order (``kernels.reassociating``: vectorised partial
sums, multiply-adds).
- ``layer_norm`` and ``layer_norm_grad``: a row of features fits in cache, so each loop takes
  the row's statistics and writes its results in one visit per row, where NumPy's path reads
  the activations five or six times (a transformer block's 4,096 × 128 rows: forward 1.0 ->
  0.3 ms, backward 0.9 -> 0.2 ms).
- ``channel_moments``: BatchNormalization's mean and variance per channel in two reading passes,
  summed a block of rows at a time, without NumPy's centred copy of the activations.
- ``channel_grad_sums``: its backward's two sums down the rows (of ``g`` and ``g * xhat``) in
  one pass, in the same blocks, masking ``g`` by ReLU's output on the way when fused.
- ``scatter_add_rows`` beyond its first rounds: an index's ninth and later rows (a padding
  token's) are summed in order where NumPy's path sums them pairwise. Up to eight occurrences
  per index, it is bit-identical.

The loops run when numba imports (``pip install -e '.[fast]'``) and ``enabled`` is not False;
numba is imported on the first op that can use them, never by ``import axonal``.
"""

from __future__ import annotations

from typing import Any

import numpy

from axonal import kernels

# None: follow whether numba imports; False: always the NumPy path (tests compare the two)
enabled: bool | None = None


def compiled(*arrays: Any) -> Any:
    """The compiled loops when ``arrays`` suit them (``kernels.usable``), else None."""
    if enabled is False or not kernels.usable(*arrays):
        return None
    return _LOOPS.get(enabled)


def prepare(dtype: Any = "float32") -> bool:
    """Import numba and compile (or load from its cache) the loops for ``dtype`` now, rather
    than on the first op; returns whether they are available."""
    rows, channel = numpy.ones((1, 1), dtype=dtype), numpy.ones(1, dtype=dtype)
    loops = compiled(rows, channel)
    if loops is None:
        return False
    one = rows.dtype.type(1)
    for relu in (False, True):
        loops.normalize_channels(
            rows, channel, channel, channel, channel, relu, rows.copy(), rows.copy()
        )
    loops.channel_moments(rows, one, channel.copy(), channel.copy())
    loops.normalize_rows_grad(rows, rows, channel, channel, channel, rows.copy())
    zero = rows.dtype.type(0)
    loops.normalize_rows_relu_grad(
        rows, rows, rows, channel, channel, channel, zero, one, rows.copy()
    )
    for masked in (False, True):
        loops.channel_grad_sums(rows, rows, rows, masked, zero, one, channel.copy(), channel.copy())
    loops.layer_norm(
        rows, channel, channel, one, one, one, rows.copy(), rows.copy(), channel.copy()
    )
    loops.layer_norm_grad(
        rows, rows, channel, channel, one, rows.copy(), channel.copy(), channel.copy()
    )
    loops.relu_grad(rows, rows, rows.copy())
    loops.softmax_grad(rows.copy(), channel, rows)
    loops.scatter_add_rows(rows.copy(), numpy.zeros(1, numpy.intp), rows, 8)
    return True


# ---------------------------------------------------------------- the loops, as plain Python


def _normalize_channels_loop(rows, mean, inv_std, gamma, beta, relu, xhat, out):  # pragma: no cover
    # BatchNormalization, rows (R, C): xhat = (rows - mean) * inv_std and out = xhat * gamma +
    # beta (NumPy: -, *=, *, +=), the centred rows never made; then, when ``relu``, ReLU as
    # primitives.core.relu_values computes it (NumPy's maximum against zeros): positive values
    # and NaN kept, everything else +0.0
    count, channels = rows.shape
    for i in range(count):
        for j in range(channels):
            v = (rows[i, j] - mean[j]) * inv_std[j]
            xhat[i, j] = v
            o = v * gamma[j] + beta[j]
            if relu and not (o > 0 or o != o):
                out[i, j] = 0
            else:
                out[i, j] = o


# rows per partial sum of _channel_moments_loop: a column's rounding grows with this plus the
# number of blocks, not with the number of rows
_MOMENT_BLOCK = 256


@kernels.reassociating
def _channel_moments_loop(rows, count, mean, var):  # pragma: no cover - runs compiled
    # column means of rows (R, C), then the mean squared deviation from them (two passes, never
    # E[x²] - E[x]²); each a block of rows summed into a partial row, added into the total
    total, channels = rows.shape
    zero = count - count
    partial = numpy.empty(channels, rows.dtype)
    for j in range(channels):
        mean[j] = zero
        var[j] = zero
    for start in range(0, total, _MOMENT_BLOCK):
        stop = min(total, start + _MOMENT_BLOCK)
        for j in range(channels):
            partial[j] = zero
        for i in range(start, stop):
            for j in range(channels):
                partial[j] += rows[i, j]
        for j in range(channels):
            mean[j] += partial[j]
    for j in range(channels):
        mean[j] = mean[j] / count
    for start in range(0, total, _MOMENT_BLOCK):
        stop = min(total, start + _MOMENT_BLOCK)
        for j in range(channels):
            partial[j] = zero
        for i in range(start, stop):
            for j in range(channels):
                centred = rows[i, j] - mean[j]
                partial[j] += centred * centred
        for j in range(channels):
            var[j] += partial[j]
    for j in range(channels):
        var[j] = var[j] / count


def _normalize_rows_grad_loop(g, xhat, slope, shift, scale, gx):  # pragma: no cover - compiled
    # gx = (xhat * slope + g - shift) * scale, NumPy's ``*``, ``+=``, ``-=``, ``*=`` in order
    rows, channels = g.shape
    for i in range(rows):
        for j in range(channels):
            v = xhat[i, j] * slope[j]
            v = v + g[i, j]
            v = v - shift[j]
            gx[i, j] = v * scale[j]


def _normalize_rows_relu_grad_loop(
    g, out, xhat, slope, shift, scale, zero, one, gx
):  # pragma: no cover - runs compiled
    # _normalize_rows_grad_loop on ReLU's gradient g * (out > 0), formed as relu_grad does
    # (times 1 or 0 in g's dtype: NaN and signed zeros as NumPy's), never stored
    rows, channels = g.shape
    for i in range(rows):
        for j in range(channels):
            masked = g[i, j] * one if out[i, j] > zero else g[i, j] * zero
            v = xhat[i, j] * slope[j]
            v = v + masked
            v = v - shift[j]
            gx[i, j] = v * scale[j]


@kernels.reassociating
def _channel_grad_sums_loop(g, xhat, out, masked, zero, one, sum_g, sum_gx):  # pragma: no cover
    # BatchNormalization's backward sums down the rows: of g and of g * xhat, g first masked by
    # ReLU's output (g * (out > 0)) when ``masked``; summed a block of rows at a time
    total, channels = g.shape
    partial_g = numpy.empty(channels, g.dtype)
    partial_gx = numpy.empty(channels, g.dtype)
    for j in range(channels):
        sum_g[j] = zero
        sum_gx[j] = zero
    for start in range(0, total, _MOMENT_BLOCK):
        stop = min(total, start + _MOMENT_BLOCK)
        for j in range(channels):
            partial_g[j] = zero
            partial_gx[j] = zero
        for i in range(start, stop):
            for j in range(channels):
                v = g[i, j]
                if masked:
                    v = v * one if out[i, j] > zero else v * zero
                partial_g[j] += v
                partial_gx[j] += v * xhat[i, j]
        for j in range(channels):
            sum_g[j] += partial_g[j]
            sum_gx[j] += partial_gx[j]


@kernels.reassociating
def _layer_norm_loop(x, gamma, beta, count, epsilon, one, xhat, out, inv_std):  # pragma: no cover
    # per row (R, F): the mean, the variance of the centred values (two passes over a row that
    # stays in cache), then xhat = (x - mean) * inv_std and out = xhat * gamma + beta; the
    # scalars come in x's dtype, so no step runs wider
    rows, features = x.shape
    zero = one - one
    for i in range(rows):
        total = zero
        for j in range(features):
            total += x[i, j]
        mean = total / count
        squares = zero
        for j in range(features):
            centred = x[i, j] - mean
            squares += centred * centred
        scale = one / numpy.sqrt(squares / count + epsilon)
        inv_std[i] = scale
        for j in range(features):
            v = (x[i, j] - mean) * scale
            xhat[i, j] = v
            out[i, j] = v * gamma[j] + beta[j]


@kernels.reassociating
def _layer_norm_grad_loop(g, xhat, gamma, inv_std, count, gx, ggamma, gbeta):  # pragma: no cover
    # gx = (ghat - mean(ghat) - xhat * mean(ghat * xhat)) * inv_std per row, ghat = g * gamma;
    # gamma's and beta's gradients (sums of g * xhat and g down the rows) added into ggamma and
    # gbeta, which come zeroed, on the same visit
    rows, features = g.shape
    zero = count - count
    for i in range(rows):
        sum_g = zero
        sum_gx = zero
        for j in range(features):
            ghat = g[i, j] * gamma[j]
            sum_g += ghat
            sum_gx += ghat * xhat[i, j]
            ggamma[j] += g[i, j] * xhat[i, j]
            gbeta[j] += g[i, j]
        mean_g = sum_g / count
        mean_gx = sum_gx / count
        scale = inv_std[i]
        for j in range(features):
            gx[i, j] = (g[i, j] * gamma[j] - mean_g - xhat[i, j] * mean_gx) * scale


def _softmax_grad_loop(ds, sums, p):  # pragma: no cover - runs compiled
    # in place: ds = (ds - sums[row]) * p over rows of the last axis, NumPy's -= then *=
    rows, width = p.shape
    for i in range(rows):
        total = sums[i]
        for j in range(width):
            ds[i, j] = (ds[i, j] - total) * p[i, j]


def _relu_grad_loop(g, y, gx):  # pragma: no cover - runs compiled
    # g * (y > 0) as NumPy computes it: the mask is 1.0 or 0.0, so NaN and -0.0 survive
    g1, y1, gx1 = g.reshape(-1), y.reshape(-1), gx.reshape(-1)
    for i in range(g1.shape[0]):
        gx1[i] = g1[i] * (y1[i] > 0)


def _scatter_add_rows_loop(out, indices, rows, rounds):  # pragma: no cover - compiled
    # out[indices[i]] += rows[i]: each index's first ``rounds`` rows one by one in their order,
    # as primitives.core.scatter_add_rows's rounds add them; the rows beyond (a padding token's)
    # summed per index in their order, that sum added last: where NumPy's path sums those
    # pairwise (add.reduceat), so this part is within rounding of it, not bit for bit
    size, width = indices.shape[0], rows.shape[1]
    seen = numpy.zeros(out.shape[0], numpy.int64)
    deeper = 0
    for i in range(size):
        t = indices[i]
        k = seen[t]
        seen[t] = k + 1
        if k < rounds:
            for c in range(width):
                out[t, c] = out[t, c] + rows[i, c]
        else:
            deeper += 1
    if deeper == 0:
        return
    slot = numpy.full(out.shape[0], -1, numpy.int64)
    owner = numpy.empty(deeper, numpy.int64)
    sums = numpy.empty((deeper, width), rows.dtype)
    used = 0
    seen[:] = 0
    for i in range(size):
        t = indices[i]
        k = seen[t]
        seen[t] = k + 1
        if k >= rounds:
            s = slot[t]
            if s < 0:
                slot[t] = used
                owner[used] = t
                for c in range(width):
                    sums[used, c] = rows[i, c]
                used += 1
            else:
                for c in range(width):
                    sums[s, c] = sums[s, c] + rows[i, c]
    for s in range(used):
        t = owner[s]
        for c in range(width):
            out[t, c] = out[t, c] + sums[s, c]


_LOOPS = kernels.LoopSet(
    normalize_channels=_normalize_channels_loop,
    normalize_rows_relu_grad=_normalize_rows_relu_grad_loop,
    channel_grad_sums=_channel_grad_sums_loop,
    channel_moments=_channel_moments_loop,
    normalize_rows_grad=_normalize_rows_grad_loop,
    layer_norm=_layer_norm_loop,
    layer_norm_grad=_layer_norm_grad_loop,
    softmax_grad=_softmax_grad_loop,
    scatter_add_rows=_scatter_add_rows_loop,
    relu_grad=_relu_grad_loop,
)
