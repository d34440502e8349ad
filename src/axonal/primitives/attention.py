"""Scaled dot-product attention as one primitive: ``softmax(q kᵀ · scale + mask) v``.

Written as one op rather than a chain (matmul, scale, add, softmax, dropout, matmul) so the
forward pass keeps one ``(batch, heads, queries, keys)`` probability array and the backward pass
is four batched GEMMs and one softmax Jacobian product, with nothing else allocated per op.
"""

from __future__ import annotations

from axonal import pointwise_kernels
from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives.core import row_sums, softmax_limits, softmax_rows

# what a masked score becomes before the softmax: Keras's value for float32 and float64
MASKED_SCORE = -1e9


class ScaledDotProductAttention(Function):
    """``(dropout(softmax(q @ kᵀ * scale + adder)) @ v``, batched over the leading axes.

    Inputs: ``q`` ``(..., T, K)``, ``k`` ``(..., S, K)``, ``v`` ``(..., S, V)``; ``adder``
    (constant, broadcast to ``(..., T, S)``: 0 where a key may be attended to, a large negative
    number where not) or None; ``keep`` (constant ``(..., T, S)`` dropout mask already scaled by
    ``1 / (1 - rate)``) or None. Output ``(..., T, V)``; ``probabilities`` holds the softmax
    (before dropout) afterwards.

    The products are batched GEMMs on all cores. Running the row-wise passes between them on
    a second thread, or whole halves of the batch on two threads with a one-thread BLAS, was
    slower in a transformer step (OpenBLAS's idle threads keep spinning on the other core).
    """

    def forward(self, q, k, v, adder=None, keep=None, scale: float = 1.0):
        out = xp.empty(q.shape[:-1] + v.shape[-1:], dtype=q.dtype)
        self._attend(q, k, v, adder, keep, scale, out)
        return out

    def _attend(self, q, k, v, adder, keep, scale, out) -> None:
        """Fill ``out`` (``(..., T, V)``, possibly a strided view) with the attention of q, k, v;
        saves what backward reads."""
        batch = xp.broadcast_shapes(q.shape[:-2], k.shape[:-2])
        probabilities = xp.empty(batch + (q.shape[-2], k.shape[-2]), dtype=q.dtype)
        weights = probabilities if keep is None else xp.empty_like(probabilities)
        _attend_rows(q, k, v, adder, keep, probabilities, weights, out, scale)
        self.probabilities = probabilities
        if self.needs_grad is not None:
            self.q, self.k, self.v, self.keep, self.weights, self.scale, self.out = (
                q,
                k,
                v,
                keep,
                weights,
                scale,
                out,
            )

    def _grads(self, g, out, dq, dk, dv) -> None:
        """Write the gradients of q, k and v for output gradient ``g`` and output ``out`` (both
        ``(..., T, V)``) into ``dq``, ``dk``, ``dv`` (each an array, a strided view of one packed
        array, or None where not needed)."""
        _attention_grads(
            g,
            out,
            self.q,
            self.k,
            self.v,
            self.probabilities,
            self.weights,
            self.keep,
            dq,
            dk,
            dv,
            self.scale,
        )

    def backward(self, g):
        needs = self.needs_grad
        dq = xp.empty_like(self.q) if needs[0] else None
        dk = xp.empty_like(self.k) if needs[1] else None
        dv = xp.empty_like(self.v) if needs[2] else None
        self._grads(g, self.out, dq, dk, dv)
        return dq, dk, dv, None, None


class PackedSelfAttention(ScaledDotProductAttention):
    """Self-attention on one packed projection: ``qkv`` ``(batch, L, 3, heads, d)`` → output
    ``(batch, L, heads, d)``.

    These are the layouts on either side of a multi-head layer's projections: one GEMM of the
    inputs with the query, key and value kernels side by side gives ``qkv``, and the output
    projection reads ``(batch * L, heads * d)`` rows. Taking and giving them directly (the
    heads as strided views that BLAS reads as they are) saves the transposed copies a
    ``(batch, heads, L, d)`` primitive needs on both sides, in both passes, and the backward
    writes the three gradients into one packed array. Same maths as the parent class.
    """

    def forward(self, qkv, adder=None, keep=None, scale: float = 1.0):
        q, k, v = _heads(qkv)
        batch, length, _, heads, size = qkv.shape
        out = xp.empty((batch, length, heads, size), dtype=qkv.dtype)
        self._attend(q, k, v, adder, keep, scale, out.transpose(0, 2, 1, 3))
        if self.needs_grad is not None:
            self.packed_shape = qkv.shape
        return out

    def backward(self, g):
        grad = xp.empty(self.packed_shape, dtype=g.dtype)
        self._grads(g.transpose(0, 2, 1, 3), self.out, *_heads(grad))
        return grad, None, None


def _scores(q, k, adder, scale, out):
    """``q @ kᵀ * scale + adder`` into ``out``; the scale on ``q``, a quarter of the scores'
    size or less."""
    if scale != 1.0:
        q = q * q.dtype.type(scale)
    xp.matmul(q, xp.swapaxes(k, -1, -2), out=out)
    if adder is not None:
        out += adder
    return out


# Attention runs over blocks of the leading (batch) axis whose scores take about this much
# memory: each block's scores are still in cache between their GEMM, the softmax passes and
# the GEMMs that read them (a transformer block's 32 × 4 heads of 128 × 128 scores, forward
# and backward alone: 12.1 -> 11.5 ms best, 14.8 -> 12.9 ms median, blocks of 512 KB to 2 MB
# alike; inside its training step, alternating: 10.7 -> 10.0 ms best, 11.3 -> 10.4 first
# quartile).
_BLOCK_BYTES = 1 << 20


def _blocks(scores, arrays: tuple):
    """``arrays`` cut along the leading axis of ``scores`` ``(n, ..., T, S)`` into blocks of
    about ``_BLOCK_BYTES`` of scores; an array without that axis (None, fewer dimensions, or a
    leading 1 that broadcasts) goes whole into every block."""
    n = scores.shape[0] if scores.ndim >= 3 else 1
    per = max(1, _BLOCK_BYTES // max(1, scores[:1].nbytes)) if scores.ndim >= 3 else 1
    if per >= n:
        yield arrays
        return
    cut = [a is not None and a.ndim == scores.ndim and a.shape[0] == n for a in arrays]
    for first in range(0, n, per):
        part = slice(first, first + per)
        yield tuple(a[part] if c else a for a, c in zip(arrays, cut, strict=True))


def _attend_rows(q, k, v, adder, keep, probabilities, weights, out, scale) -> None:
    """The softmax of the scores into ``probabilities``, with dropout into ``weights``
    (``probabilities`` itself without), and ``weights @ v`` into ``out``; a block of the
    batch at a time (``_blocks``)."""
    for block in _blocks(probabilities, (q, k, v, adder, keep, probabilities, weights, out)):
        _attend_block(*block, scale)


def _attend_block(q, k, v, adder, keep, probabilities, weights, out, scale) -> None:
    """``_attend_rows`` on one block.

    The scores are exponentiated in place without the shift by the row maximum: scores of
    attention are small, so that pass is wasted in all but rare cases, and those show in the row
    sums (an overflow makes a sum infinite, a row of underflows makes it tiny or zero: a fully
    masked row). Then the scores are made again and take the library's stable softmax.
    """
    scores = _scores(q, k, adder, scale, probabilities)
    low, _, high = softmax_limits(scores.dtype)
    with xp.errstate(over="ignore"):  # an overflow is caught by the row sums
        xp.exp(scores, out=scores)
    totals = row_sums(scores)
    if (
        totals.size
        and low < xp.minimum.reduce(totals, axis=None)
        and (xp.maximum.reduce(totals, axis=None) < high)
    ):
        scores /= totals
    else:
        stable = softmax_rows(_scores(q, k, adder, scale, scores), overwrite=True)
        if stable is not scores:  # softmax_rows may answer in a new array
            scores[...] = stable
    if keep is not None:
        xp.multiply(probabilities, keep, out=weights)
    xp.matmul(weights, v, out=out)


def _attention_grads(g, out, q, k, v, p, weights, keep, dq, dk, dv, scale) -> None:
    """The gradients of q, k and v written into ``dq``, ``dk``, ``dv`` (those not None), a
    block of the batch at a time (``_blocks``)."""
    for block in _blocks(p, (g, out, q, k, v, p, weights, keep, dq, dk, dv)):
        _block_grads(*block, scale)


def _block_grads(g, out, q, k, v, p, weights, keep, dq, dk, dv, scale) -> None:
    """``_attention_grads`` on one block."""
    if dv is not None:
        xp.matmul(xp.swapaxes(weights, -1, -2), g, out=dv)
    if dq is None and dk is None:
        return
    ds = g @ xp.swapaxes(v, -1, -2)
    if keep is not None:
        ds *= keep
    # the softmax Jacobian p * (dp - sum_j dp_j p_j). That row sum is g · out (the rows of out
    # are sum_j p_j keep_j v_j): a product over V features per row rather than over the S keys
    # of two (..., T, S) arrays
    # (einsum lays its result out like the strided heads: a small copy makes it row-major)
    sums = xp.ascontiguousarray(xp.einsum("...ij,...ij->...i", g, out))
    loops = pointwise_kernels.compiled(ds, sums, p)
    if loops is not None:
        width = p.shape[-1]
        loops.softmax_grad(ds.reshape(-1, width), sums.reshape(-1), p.reshape(-1, width))
    else:
        ds -= sums[..., None]
        ds *= p
    # the scale on the small products, not on the (..., T, S) array
    factor = ds.dtype.type(scale)
    if dq is not None:
        xp.matmul(ds, k, out=dq)
        if scale != 1.0:
            dq *= factor
    if dk is not None:
        xp.matmul(xp.swapaxes(ds, -1, -2), q, out=dk)
        if scale != 1.0:
            dk *= factor


def _heads(packed):
    """Queries, keys and values ``(batch, heads, L, d)`` as views of ``(batch, L, 3, heads, d)``."""
    return tuple(packed[:, :, part].transpose(0, 2, 1, 3) for part in range(3))


__all__ = ["MASKED_SCORE", "PackedSelfAttention", "ScaledDotProductAttention"]
