"""Normalization kernels: mean/variance normalization fused with its scale and shift.

``Normalize`` is the one op behind BatchNormalization in training (statistics over every axis
but the channel axis) and LayerNormalization (statistics over the feature axes of each sample):
``(x - mean) / sqrt(var + epsilon) * gamma + beta``. Its backward is the closed form, one pass
over the saved normalized input, instead of the dozen ops of the composite.
"""

from __future__ import annotations

import math

from axonal import kernels, pointwise_kernels
from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives.core import column_sums, relu_grad, relu_values, row_sums


def moments(x, axes: tuple):
    """Mean and biased variance of ``x`` over ``axes`` (keepdims), in two stable passes.

    The variance is the mean of squared deviations from the mean, not E[x^2] - E[x]^2, which
    cancels catastrophically when the mean is large against the spread.

    Example:
        >>> mean, var = moments(np.ones((4, 3)), (0,))
    """
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = xp.mean(xp.square(centered, out=centered), axis=axes, keepdims=True)
    return mean, var


class Normalize(Function):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with statistics over ``axes``.

    Args (forward):
        x: any shape.
        gamma, beta: arrays that broadcast against ``x`` (aligned from the right), or None.
        axes: the axes the statistics are taken over (non-negative).
        epsilon: added to the variance.
        mean, var: the statistics (keepdims), when the caller has them already; computed here
            otherwise.

    The gradient with respect to x is the closed form
    ``inv_std * (ĝ - mean(ĝ) - x̂ * mean(ĝ * x̂))`` with ``ĝ = g * gamma``, means over ``axes``.
    """

    def forward(self, x, gamma=None, beta=None, axes=(), epsilon=1e-3, mean=None, var=None):
        if mean is None or var is None:
            mean, var = moments(x, axes)
        self.axes = axes
        self.inv_std = 1.0 / xp.sqrt(var + epsilon)
        xhat = x - mean
        xhat *= self.inv_std
        self.xhat = xhat
        self._keep_params(gamma, beta)
        # xhat is saved for backward: the output is always a new array
        out = xhat * gamma if gamma is not None else xhat.copy()
        if beta is not None:
            out += beta
        return out

    def _keep_params(self, gamma, beta) -> None:
        """Save gamma (backward scales by it) and both parameters' shapes (their gradients')."""
        self.gamma = gamma
        self.param_shapes = (
            None if gamma is None else gamma.shape,
            None if beta is None else beta.shape,
        )

    def backward(self, g):
        xhat = self.xhat
        ghat = g if self.gamma is None else g * self.gamma
        count = math.prod(xhat.shape[a] for a in self.axes)
        mean_g = ghat.sum(axis=self.axes, keepdims=True) / count
        mean_gx = (ghat * xhat).sum(axis=self.axes, keepdims=True) / count
        gx = None
        if self.needs_grad[0]:
            gx = ghat - mean_g
            gx -= xhat * mean_gx
            gx *= self.inv_std
        ggamma = gbeta = None
        if self.needs_grad[1]:
            axes = _param_axes(xhat.ndim, self.param_shapes[0])
            ggamma = (g * xhat).sum(axis=axes, keepdims=True)
        if self.needs_grad[2]:
            gbeta = g.sum(axis=_param_axes(g.ndim, self.param_shapes[1]), keepdims=True)
        return gx, ggamma, gbeta


def _normalized(rows, mean, centered, inv_std, gamma, beta, relu: bool):
    """``(xhat, out)``: ``xhat = (rows - mean) * inv_std`` and ``out = xhat * gamma + beta``,
    through ``relu_values`` when ``relu``.

    ``rows`` is ``(N, C)``; ``mean`` and ``inv_std`` ``(C,)``; ``centered`` is ``rows - mean``
    when the caller has it (scaled in place into xhat) or None; ``gamma``/``beta`` are ``(C,)``
    or None. With both given and ``pointwise_kernels`` running, one compiled pass does it all.
    """
    columns = rows.shape[1]
    # the compiled pass reads its vectors without bounds checks: sizes first
    if gamma is not None and beta is not None and gamma.size == beta.size == columns:
        loops = pointwise_kernels.compiled(rows, mean, inv_std, gamma, beta)
        if loops is not None:
            xhat, out = xp.empty_like(rows), xp.empty_like(rows)
            loops.normalize_channels(rows, mean, inv_std, gamma, beta, relu, xhat, out)
            return xhat, out
    xhat = rows - mean if centered is None else centered
    xhat *= inv_std
    # xhat is saved for backward: the output is always a new array
    out = xhat * gamma if gamma is not None else xhat.copy()
    if beta is not None:
        out += beta
    if relu:
        relu_values(out, out=out)
    return xhat, out


class NormalizeLastAxis(Normalize):
    """``Normalize`` over the last axis only (LayerNormalization's default), on 2-D rows.

    Same maths and saved state as the parent. With ``pointwise_kernels`` running, each pass is
    one compiled loop per row (``layer_norm``, ``layer_norm_grad``: the row's statistics, its
    outputs and its share of gamma's and beta's gradients on one visit, within float32 rounding
    of this NumPy path). Without, the row sums are matrix-vector products and the row and
    column dot products single ``einsum`` passes, so neither pass makes the temporary products
    and short-row reductions of the general version (LayerNormalization in a transformer step:
    about half the time). ``gamma`` and ``beta`` are ``(features,)`` or None.
    """

    def forward(self, x, gamma=None, beta=None, axes=(), epsilon=1e-3, mean=None, var=None):
        features = x.shape[-1]
        rows = x.reshape(-1, features)
        self.axes = (x.ndim - 1,)
        self._keep_params(gamma, beta)
        loops = None
        if gamma is not None and beta is not None and gamma.size == beta.size == features:
            rows = xp.ascontiguousarray(rows)
            loops = pointwise_kernels.compiled(rows, gamma, beta)
        if loops is not None:
            xhat, out = xp.empty_like(rows), xp.empty_like(rows)
            inv_std = xp.empty((rows.shape[0], 1), dtype=rows.dtype)
            scalar = rows.dtype.type
            loops.layer_norm(
                rows,
                gamma.reshape(-1),
                beta.reshape(-1),
                scalar(features),
                scalar(epsilon),
                scalar(1),
                xhat,
                out,
                inv_std.reshape(-1),
            )
        else:
            # two passes, as moments(): the variance from the centred rows, never E[x²] - E[x]²
            xhat = rows - row_sums(rows) / features
            var = xp.einsum("ij,ij->i", xhat, xhat)[:, None]
            var /= features
            inv_std = 1.0 / xp.sqrt(var + epsilon)
            xhat *= inv_std
            # xhat is saved for backward: the output is always a new array
            out = xhat * gamma if gamma is not None else xhat.copy()
            if beta is not None:
                out += beta
        self.inv_std = inv_std.reshape(x.shape[:-1] + (1,))
        self.xhat = xhat.reshape(x.shape)
        return out.reshape(x.shape)

    def backward(self, g):
        features = g.shape[-1]
        xhat = self.xhat.reshape(-1, features)
        g_rows = g.reshape(-1, features)
        gamma = self.gamma
        fits = gamma is None or gamma.size == features
        loops = None
        if fits and self.needs_grad[0]:
            g_rows = xp.ascontiguousarray(g_rows)
            scale = xp.ones(features, g.dtype) if gamma is None else gamma.reshape(-1)
            loops = pointwise_kernels.compiled(g_rows, xhat, scale)
        if loops is not None:
            gx = xp.empty_like(g_rows)
            ggamma, gbeta = xp.zeros(features, g.dtype), xp.zeros(features, g.dtype)
            inv_std = self.inv_std.reshape(-1)
            loops.layer_norm_grad(
                g_rows, xhat, scale, inv_std, g.dtype.type(features), gx, ggamma, gbeta
            )
            return (
                gx.reshape(g.shape),
                ggamma if self.needs_grad[1] else None,
                gbeta if self.needs_grad[2] else None,
            )
        ghat = g_rows * gamma if gamma is not None else g_rows.copy()
        gx = ggamma = gbeta = None
        if self.needs_grad[0]:
            mean_g = row_sums(ghat) / features
            mean_gx = xp.einsum("ij,ij->i", ghat, xhat)[:, None] / features
            gx = ghat
            gx -= mean_g
            gx -= xhat * mean_gx
            gx *= self.inv_std.reshape(-1, 1)
            gx = gx.reshape(g.shape)
        if self.needs_grad[1]:
            ggamma = xp.einsum("ij,ij->j", g_rows, xhat)
        if self.needs_grad[2]:
            gbeta = g_rows.sum(axis=0)
        return gx, ggamma, gbeta


def centered_moments(x):
    """``channel_moments`` as flat ``(C,)`` arrays, plus the centred rows ``x - mean``
    ``(N, C)`` they were computed from (a new array, which ``NormalizeChannels`` scales in
    place instead of centring ``x`` a second time), or None where ``pointwise_kernels``'
    ``channel_moments`` loop took the statistics without them."""
    channels = x.shape[-1]
    rows = x.reshape(-1, channels)
    count = rows.shape[0]
    loops = pointwise_kernels.compiled(rows) if count else None
    if loops is not None:
        mean, var = xp.empty(channels, rows.dtype), xp.empty(channels, rows.dtype)
        loops.channel_moments(rows, rows.dtype.type(count), mean, var)
        return mean, var, None
    mean = column_sums(rows) / count
    centered = rows - mean
    var = xp.einsum("ij,ij->j", centered, centered) / count
    return mean, var, centered


def channel_moments(x):
    """``moments(x, axes)`` over every axis but the last (keepdims): BatchNormalization's
    training statistics, channels last, in the same two passes without reducing across the
    leading axes.

    NumPy reduces a ``(batch, ..., channels)`` array over its leading axes one short row at a
    time; as rows ``(N, C)``, the sums are one matrix-vector product and the squared deviations
    one ``einsum`` pass with no squared temporary (a Conv1D model's 16,000 × 64 maps: 747 ->
    467 µs). Both accumulate in the array's dtype, as the reduction they replace does.
    """
    mean, var, _ = centered_moments(x)
    shape = (1,) * (x.ndim - 1) + (x.shape[-1],)
    return mean.reshape(shape), var.reshape(shape)


class NormalizeChannels(Normalize):
    """``Normalize`` over every axis but the last (BatchNormalization in training, channels
    last). Same maths and saved state as the parent, in fewer passes over the activations.

    Forward centres ``x`` once (``centered_moments``, or the caller's ``centered``) and scales
    those rows in place into ``xhat``; compiled, the statistics take two reading passes and
    ``xhat`` and the output a third, with no centred copy. The backward's four sums over the
    leading axes are two (``sum g`` is beta's gradient and ``sum g * xhat`` gamma's, and the
    input gradient is ``gamma * inv_std * (g - sum g / n - xhat * sum g * xhat / n)``), each a
    matrix-vector product or one ``einsum`` pass over rows ``(N, C)`` (the Conv1D model's
    normalizations: 2.3 -> 0.9 ms backward). The elementwise passes are one compiled loop each
    where ``pointwise_kernels`` runs. ``gamma`` and ``beta`` are ``(C,)``-sized or None.

    ``relu=True`` applies ReLU to the output in the same pass and masks the gradient by it
    first: BatchNormalization followed by ReLU, which models run as this one op while training
    (``models.fusion``), with the numbers of the two ops.
    """

    def forward(
        self,
        x,
        gamma=None,
        beta=None,
        axes=(),
        epsilon=1e-3,
        mean=None,
        var=None,
        centered=None,
        relu=False,
    ):
        channels = x.shape[-1]
        if mean is None or var is None:
            mean, var, centered = centered_moments(x)
        self.axes = tuple(range(x.ndim - 1))
        inv_std = 1.0 / xp.sqrt(var.reshape(channels) + epsilon)
        self.inv_std = inv_std.reshape((1,) * (x.ndim - 1) + (channels,))
        self._keep_params(gamma, beta)
        flat = [None if p is None else p.reshape(channels) for p in (gamma, beta)]
        rows = x.reshape(-1, channels)
        xhat, out = _normalized(rows, mean.reshape(channels), centered, inv_std, *flat, relu)
        self.xhat = xhat.reshape(x.shape)
        out = out.reshape(x.shape)
        # ReLU's backward reads its output: the gradient is masked by it first
        self.relu_out = out if relu else None
        return out

    def backward(self, g):
        channels = g.shape[-1]
        xhat = self.xhat.reshape(-1, channels)
        rows = g.reshape(-1, channels)
        count = rows.shape[0]
        relu_out = None if self.relu_out is None else self.relu_out.reshape(-1, channels)
        loops = pointwise_kernels.compiled(rows, xhat) if count else None
        if relu_out is not None and (loops is None or not kernels.usable(rows, relu_out)):
            # ReLU's gradient first, as its own op would give it (then the sums below)
            rows, relu_out = relu_grad(rows, relu_out), None
            loops = pointwise_kernels.compiled(rows, xhat) if count else None
        zero, one = rows.dtype.type(0), rows.dtype.type(1)
        if loops is not None:
            # one pass for both sums, masking by ReLU's output on the way when fused
            sum_g, sum_gx = xp.empty(channels, rows.dtype), xp.empty(channels, rows.dtype)
            loops.channel_grad_sums(
                rows,
                xhat,
                rows if relu_out is None else relu_out,
                relu_out is not None,
                zero,
                one,
                sum_g,
                sum_gx,
            )
        else:
            sum_g = column_sums(rows)
            sum_gx = xp.einsum("ij,ij->j", rows, xhat)
        gx = ggamma = gbeta = None
        if self.needs_grad[0]:
            scale = self.inv_std.reshape(channels)
            if self.gamma is not None:
                scale = scale * self.gamma.reshape(channels)
            slope, shift = sum_gx / -count, sum_g / count
            gx = xp.empty_like(rows)
            if loops is not None and kernels.usable(rows, slope, shift, scale):
                if relu_out is None:
                    loops.normalize_rows_grad(rows, xhat, slope, shift, scale, gx)
                else:
                    loops.normalize_rows_relu_grad(
                        rows, relu_out, xhat, slope, shift, scale, zero, one, gx
                    )
            else:
                if relu_out is not None:
                    # the sums above masked g on the way: so must this pass
                    rows = relu_grad(rows, relu_out)
                xp.multiply(xhat, slope, out=gx)
                gx += rows
                gx -= shift
                gx *= scale
            gx = gx.reshape(g.shape)
        if self.needs_grad[1]:
            ggamma = sum_gx.reshape(self.param_shapes[0])
        if self.needs_grad[2]:
            gbeta = sum_g.reshape(self.param_shapes[1])
        return gx, ggamma, gbeta


def _param_axes(ndim: int, shape: tuple) -> tuple:
    """Axes of an ``ndim`` array that a parameter of ``shape`` is broadcast along."""
    aligned = (1,) * (ndim - len(shape)) + tuple(shape)
    return tuple(i for i, n in enumerate(aligned) if n == 1)


__all__ = [
    "Normalize",
    "NormalizeChannels",
    "NormalizeLastAxis",
    "centered_moments",
    "channel_moments",
    "moments",
]
