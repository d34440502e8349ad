"""Compiled elementwise passes for Batch- and LayerNormalization, ReLU and the softmax of
attention, and the embedding gradient's scatter (optional, numba).

NumPy runs ``xhat = centered * inv_std; out = xhat * gamma + beta`` as three passes over the
activations, each reading and writing the whole array, and a normalization's input gradient
as four; ReLU's gradient ``g * (y > 0)`` makes a mask first, and the softmax Jacobian's
``(ds - sum) * p`` is two passes over the attention scores. An embedding's gradient adds
each batch row into the table in rounds of fancy-indexed copies; compiled, one loop adds the
rows in place in the same order (an IMDB batch of 6,400 tokens into 20,000 rows: see
``primitives.core.scatter_add_rows``). Compiled, each is one pass (on the
Conv1D classifier's 16,000 × 64 maps: normalize 0.75 -> 0.17 ms, its gradient 0.87 -> 0.19 ms,
ReLU's gradient 0.34 -> 0.15 ms).

Every loop performs the NumPy path's float operations, in its order, on the same values, so
results are bit-identical (signed zeros, infinities and NaN included): numba changes the speed,
never the numbers. The reductions (BatchNormalization's statistics and sums) stay in NumPy,
where a compiled loop would sum in another order.

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
    loops.normalize_rows(rows.copy(), channel, channel, channel, rows.copy())
    loops.normalize_rows_grad(rows, rows, channel, channel, channel, rows.copy())
    loops.normalize_features(rows.copy(), channel, channel, channel, rows.copy())
    loops.normalize_features_grad(rows, rows, channel, channel, channel, rows.copy())
    loops.relu_grad(rows, rows, rows.copy())
    loops.softmax_grad(rows.copy(), channel, rows)
    loops.scatter_add_rows(rows.copy(), numpy.zeros(1, numpy.intp), rows, 8)
    return True


# ---------------------------------------------------------------- the loops, as plain Python


def _normalize_rows_loop(centered, inv_std, gamma, beta, out):  # pragma: no cover - compiled
    # centered (R, C) becomes xhat in place; out = xhat * gamma + beta (NumPy: *=, *, +=)
    rows, channels = centered.shape
    for i in range(rows):
        for j in range(channels):
            v = centered[i, j] * inv_std[j]
            centered[i, j] = v
            out[i, j] = v * gamma[j] + beta[j]


def _normalize_rows_grad_loop(g, xhat, slope, shift, scale, gx):  # pragma: no cover - compiled
    # gx = (xhat * slope + g - shift) * scale, NumPy's ``*``, ``+=``, ``-=``, ``*=`` in order
    rows, channels = g.shape
    for i in range(rows):
        for j in range(channels):
            v = xhat[i, j] * slope[j]
            v = v + g[i, j]
            v = v - shift[j]
            gx[i, j] = v * scale[j]


def _normalize_features_loop(centered, inv_std, gamma, beta, out):  # pragma: no cover
    # LayerNormalization: one inv_std per row; centered becomes xhat in place
    rows, features = centered.shape
    for i in range(rows):
        scale = inv_std[i]
        for j in range(features):
            v = centered[i, j] * scale
            centered[i, j] = v
            out[i, j] = v * gamma[j] + beta[j]


def _normalize_features_grad_loop(ghat, xhat, mean_g, mean_gx, inv_std, gx):  # pragma: no cover
    # gx = (ghat - mean_g - xhat * mean_gx) * inv_std, per-row statistics, NumPy's order
    rows, features = ghat.shape
    for i in range(rows):
        for j in range(features):
            v = ghat[i, j] - mean_g[i]
            v = v - xhat[i, j] * mean_gx[i]
            gx[i, j] = v * inv_std[i]


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
    # out[indices[i]] += rows[i] for each index's first ``rounds`` rows, one by one in their
    # order, as primitives.core.scatter_add_rows's rounds add them; returns how many rows lie
    # beyond (that function sums those the NumPy way)
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
    return deeper


_LOOPS = kernels.LoopSet(
    normalize_rows=_normalize_rows_loop,
    normalize_rows_grad=_normalize_rows_grad_loop,
    normalize_features=_normalize_features_loop,
    normalize_features_grad=_normalize_features_grad_loop,
    softmax_grad=_softmax_grad_loop,
    scatter_add_rows=_scatter_add_rows_loop,
    relu_grad=_relu_grad_loop,
)
