"""Scaled dot-product attention as one primitive: ``softmax(q kᵀ · scale + mask) v``.

Written as one op rather than a chain (matmul, scale, add, softmax, dropout, matmul) so the
forward pass keeps one ``(batch, heads, queries, keys)`` probability array and the backward pass
is four batched GEMMs and one softmax Jacobian product, with nothing else allocated per op.
"""

from __future__ import annotations

from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives.core import row_sums, softmax_limits, softmax_rows
from axonal.primitives.threads import in_halves

# what a masked score becomes before the softmax: Keras's value for float32 and float64
MASKED_SCORE = -1e9


class ScaledDotProductAttention(Function):
    """``(dropout(softmax(q @ kᵀ * scale + adder)) @ v``, batched over the leading axes.

    Inputs: ``q`` ``(..., T, K)``, ``k`` ``(..., S, K)``, ``v`` ``(..., S, V)``; ``adder``
    (constant, broadcast to ``(..., T, S)``: 0 where a key may be attended to, a large negative
    number where not) or None; ``keep`` (constant ``(..., T, S)`` dropout mask already scaled by
    ``1 / (1 - rate)``) or None. Output ``(..., T, V)``; ``probabilities`` holds the softmax
    (before dropout) afterwards.
    """

    def forward(self, q, k, v, adder=None, keep=None, scale: float = 1.0):
        weights = self._weights(q, k, v, adder, keep, scale)
        out = weights @ v
        if self.needs_grad is not None:
            self.out = out
        return out

    def _weights(self, q, k, v, adder, keep, scale):
        """The attention weights (probabilities after dropout); saves what backward reads."""
        scores = _probabilities(q, k, adder, scale)
        self.probabilities = scores
        weights = scores if keep is None else scores * keep
        if self.needs_grad is not None:
            self.q, self.k, self.v, self.keep, self.weights, self.scale = (
                q,
                k,
                v,
                keep,
                weights,
                scale,
            )
        return weights

    def _grads(self, g, out, dq=None, dk=None, dv=None, needs=(True, True, True)):
        """Gradients of q, k and v for output gradient ``g`` and output ``out`` (both
        ``(..., T, V)``), written into ``dq``/``dk``/``dv`` where given (views of one packed
        array), else into new arrays."""
        q, k, v, p, weights = self.q, self.k, self.v, self.probabilities, self.weights
        if needs[2]:
            dv = xp.matmul(xp.swapaxes(weights, -1, -2), g, out=dv)
        if needs[0] or needs[1]:
            dp = g @ xp.swapaxes(v, -1, -2)
            if self.keep is not None:
                dp *= self.keep
            # the softmax Jacobian p * (dp - sum_j dp_j p_j). That row sum is g · out (the
            # rows of out are sum_j p_j keep_j v_j): a product over V features per row rather
            # than over the S keys of two (..., T, S) arrays
            ds = dp
            in_halves(_jacobian_in_place, ds, xp.einsum("...ij,...ij->...i", g, out)[..., None], p)
            scale = ds.dtype.type(self.scale)
            # the scale on the small products, not on the (..., T, S) array
            if needs[0]:
                dq = xp.matmul(ds, k, out=dq)
                dq *= scale
            if needs[1]:
                dk = xp.matmul(xp.swapaxes(ds, -1, -2), q, out=dk)
                dk *= scale
        return dq, dk, dv

    def backward(self, g):
        needs = self.needs_grad
        dq, dk, dv = self._grads(g, self.out, needs=needs[:3])
        return (
            dq if needs[0] else None,
            dk if needs[1] else None,
            dv if needs[2] else None,
            None,
            None,
        )


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
        weights = self._weights(q, k, v, adder, keep, scale)
        batch, length, _, heads, size = qkv.shape
        out = xp.empty((batch, length, heads, size), dtype=qkv.dtype)
        xp.matmul(weights, v, out=out.transpose(0, 2, 1, 3))
        if self.needs_grad is not None:
            self.packed_shape, self.out = qkv.shape, out
        return out

    def backward(self, g):
        grad = xp.empty(self.packed_shape, dtype=g.dtype)
        dq, dk, dv = _heads(grad)
        self._grads(g.transpose(0, 2, 1, 3), self.out.transpose(0, 2, 1, 3), dq, dk, dv)
        return grad, None, None


def _scores(q, k, adder, scale):
    """``q @ kᵀ * scale + adder``; the scale on ``q``, a quarter of the scores' size or less."""
    scores = (q * q.dtype.type(scale)) @ xp.swapaxes(k, -1, -2)
    if adder is not None:
        scores += adder
    return scores


def _probabilities(q, k, adder, scale):
    """The softmax of the scores over the keys.

    Exponentiated in place without the shift by the row maximum: scores of attention are
    small, so that pass is wasted in all but rare cases, and those show in the row sums (an
    overflow makes a sum infinite, a row of underflows makes it tiny or zero: a fully masked
    row). Then the scores are made again and take the library's stable softmax.
    """
    scores = _scores(q, k, adder, scale)
    low, _, high = softmax_limits(scores.dtype)
    in_halves(_exp_in_place, scores)
    totals = row_sums(scores)
    if (
        totals.size
        and low < xp.minimum.reduce(totals, axis=None)
        and (xp.maximum.reduce(totals, axis=None) < high)
    ):
        in_halves(_divide_in_place, scores, totals)
        return scores
    return softmax_rows(_scores(q, k, adder, scale), overwrite=True)


def _exp_in_place(scores) -> None:
    with xp.errstate(over="ignore"):  # per thread: an overflow is caught by the row sums
        xp.exp(scores, out=scores)


def _divide_in_place(scores, totals) -> None:
    xp.divide(scores, totals, out=scores)


def _jacobian_in_place(dp, row_dots, p) -> None:
    xp.subtract(dp, row_dots, out=dp)
    xp.multiply(dp, p, out=dp)


def _heads(packed):
    """Queries, keys and values ``(batch, heads, L, d)`` as views of ``(batch, L, 3, heads, d)``."""
    return tuple(packed[:, :, part].transpose(0, 2, 1, 3) for part in range(3))


__all__ = ["MASKED_SCORE", "PackedSelfAttention", "ScaledDotProductAttention"]
