"""Scaled dot-product attention as one primitive: ``softmax(q kᵀ · scale + mask) v``.

Written as one op rather than a chain (matmul, scale, add, softmax, dropout, matmul) so the
forward pass keeps one ``(batch, heads, queries, keys)`` probability array and the backward pass
is four batched GEMMs and one softmax Jacobian product, with nothing else allocated per op.
"""

from __future__ import annotations

from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives.core import softmax_rows

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
        scores = q @ xp.swapaxes(k, -1, -2)
        scores *= scores.dtype.type(scale)
        if adder is not None:
            scores += adder
        # the library's softmax: one pass fewer than max/subtract/exp/sum/divide, still stable
        scores = softmax_rows(scores, overwrite=True)
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
        return weights @ v

    def backward(self, g):
        q, k, v, p, weights = self.q, self.k, self.v, self.probabilities, self.weights
        needs = self.needs_grad
        dv = xp.swapaxes(weights, -1, -2) @ g if needs[2] else None
        dq = dk = None
        if needs[0] or needs[1]:
            dp = g @ xp.swapaxes(v, -1, -2)
            if self.keep is not None:
                dp *= self.keep
            # the softmax Jacobian: p * (dp - sum(dp * p)); the row sums as one einsum
            ds = dp
            ds -= xp.einsum("...ij,...ij->...i", dp, p)[..., None]
            ds *= p
            scale = ds.dtype.type(self.scale)
            # the scale on the small products, not on the (..., T, S) array
            if needs[0]:
                dq = ds @ k
                dq *= scale
            if needs[1]:
                dk = xp.swapaxes(ds, -1, -2) @ q
                dk *= scale
        return dq, dk, dv, None, None
