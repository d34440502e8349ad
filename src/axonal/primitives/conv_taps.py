"""A stride-1 1-D convolution as one GEMM per kernel tap, with no im2col matrix.

Seen as one matrix ``X`` ``(N·P, C)``, the padded input ``(N, P, C)`` holds every window of a
stride-1 convolution as ``k`` rows ``d`` apart (``d`` the dilation), so output row ``r`` is
``Σ_j X[r + j·d] · W_j``: ``k`` GEMMs over row-shifted slices of ``X``, each added into the
output. Rows whose window runs into the next series are computed and dropped (``(k-1)·d`` of
every ``P``). The kernel gradient is the same shifted slices transposed times the output
gradient laid out on ``X``'s rows (zeros in the dropped rows), and the input gradient the same
convolution of that gradient with the kernel flipped.

Against im2col this skips writing and rereading a matrix ``k`` times the input and keeps the
padded input (not the ``k``-times larger matrix) for backward; the price is ``k`` GEMMs with an
inner dimension of ``C`` instead of one of ``k·C`` and ``k - 1`` adds of the output. With 64
channels and 3 taps (Keras's FordA classifier) forward took 2.8 against 6.1 ms and backward 5.7
against 6.5 ms; forward and backward together, 32 channels 4.6 against 5.2 ms and 128 channels
15.0 against 22.3 ms (batch 32 × 500 steps, 64 filters). With 16 channels the two were even,
and with one channel (a first layer) the per-tap GEMMs are far slower, so ``suits`` keeps those
on im2col. Sums run in a different order
from im2col's, so results agree to float rounding, not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from axonal.backend import xp
from axonal.primitives.core import column_sums
from axonal.primitives.scratch import release, take

# a GEMM whose inner dimension spans fewer bytes than this runs far below BLAS's rate
_MIN_ROW_BYTES = 128


def suits(x, kernel, strides: tuple, groups: int) -> bool:
    """Whether a 1-D convolution of ``x`` ``(N, L, C)`` runs as per-tap GEMMs."""
    return (
        tuple(strides) == (1,)
        and groups == 1
        and x.ndim == 3
        and x.shape[0] > 0
        and x.dtype == kernel.dtype
        and x.shape[2] * x.dtype.itemsize >= _MIN_ROW_BYTES
    )


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution: ``N`` series of ``length`` steps and ``channels`` values,
    ``taps`` kernel taps ``dilation`` apart, ``before``/``after`` zero steps of padding."""

    series: int
    length: int
    channels: int
    taps: int
    dilation: int
    before: int
    after: int

    @property
    def padded(self) -> int:
        """Steps per padded series (``P``)."""
        return self.length + self.before + self.after

    @property
    def span(self) -> int:
        """Rows between a window's first and last tap."""
        return (self.taps - 1) * self.dilation

    @property
    def out_length(self) -> int:
        """Output steps per series."""
        return self.padded - self.span

    @property
    def rows(self) -> int:
        """Rows every tap's GEMM covers: all of ``X``'s but the last window's span."""
        return self.series * self.padded - self.span


def _pad(x, geometry: Geometry):
    """``x`` zero-padded along its steps, as the matrix ``X`` ``(N·P, C)`` (a scratch array)."""
    n, length, before = geometry.series, geometry.length, geometry.before
    padded = take((n, geometry.padded, geometry.channels), x.dtype)
    padded[:, :before] = 0
    padded[:, before + length :] = 0
    padded[:, before : before + length] = x
    return padded.reshape(n * geometry.padded, geometry.channels)


# The shifted GEMMs run over blocks of whole series whose product is about this size: the
# product and the rows it is added from stay in cache between the GEMM and the add (the Conv1D
# classifier's step 27.6 -> 26.0 ms best, 31.6 -> 29.3 ms median, alternating A/B; 256 KB to
# 2 MB all did about as well).
_BLOCK_BYTES = 1 << 20


def _shifted_sum(source, matrices, geometry: Geometry, keep: slice, out):
    """``out[n, t] = Σ_j (source[j·d : j·d + N·P] · matrices[j])`` at step ``keep`` of each
    series: the ``k`` shifted GEMMs, each added into ``out`` ``(N, kept steps, width)``, a
    block of series at a time."""
    n, p, d = geometry.series, geometry.padded, geometry.dilation
    width = matrices.shape[2]
    per = max(1, _BLOCK_BYTES // (p * width * out.dtype.itemsize))
    product = take((min(per, n) * p, width), out.dtype)
    for first in range(0, n, per):
        last = min(n, first + per)
        rows = min((last - first) * p, source.shape[0] - geometry.span - first * p)
        for j in range(matrices.shape[0]):
            start = first * p + j * d
            xp.matmul(source[start : start + rows], matrices[j], out=product[:rows])
            kept = product[: (last - first) * p].reshape(last - first, p, width)[:, keep]
            if j == 0:
                out[first:last] = kept
            else:
                out[first:last] += kept
    release(product)
    return out


def forward(x, kernel, bias, geometry: Geometry):
    """The convolution ``(N, out_length, O)`` and the padded input matrix saved for backward."""
    padded = _pad(x, geometry)
    out = xp.empty((geometry.series, geometry.out_length, kernel.shape[2]), dtype=x.dtype)
    _shifted_sum(padded, kernel, geometry, slice(0, geometry.out_length), out)
    if bias is not None:
        out += bias
    return out, padded


def backward(g, padded, kernel, geometry: Geometry, needs: tuple):
    """``(gx, gk, gb)`` from the output gradient ``g``; ``needs`` says which are wanted."""
    n, p, span = geometry.series, geometry.padded, geometry.span
    width = g.shape[2]
    gb = column_sums(g.reshape(-1, width)) if needs[2] else None
    if not (needs[0] or needs[1]):
        return None, None, gb
    # g on X's rows, after ``span`` zero rows: the gradient of every row, dropped ones zero
    spread = take((span + n * p, width), g.dtype)
    spread[:span] = 0
    on_rows = spread[span:].reshape(n, p, width)
    on_rows[:, geometry.out_length :] = 0
    on_rows[:, : geometry.out_length] = g
    gk = gx = None
    if needs[1]:
        rows, d = geometry.rows, geometry.dilation
        gk = xp.empty_like(kernel)
        for j in range(geometry.taps):
            xp.matmul(padded[j * d : j * d + rows].T, spread[span : span + rows], out=gk[j])
    if needs[0]:
        # input row q gets Σ_j g-row (q - j·d) · W_jᵀ: the forward's shifts over the flipped kernel
        flipped = kernel[::-1].transpose(0, 2, 1)
        gx = xp.empty((n, geometry.length, geometry.channels), dtype=g.dtype)
        steps = slice(geometry.before, geometry.before + geometry.length)
        _shifted_sum(spread, flipped, geometry, steps, gx)
    release(spread)
    return gx, gk, gb


def columns(padded, geometry: Geometry, ones: bool):
    """The im2col matrix ``(N·out_length, k·C [+ 1])`` these GEMMs avoid (for per-example
    gradients, which need each series' windows)."""
    n, p, c = geometry.series, geometry.padded, geometry.channels
    series = padded.reshape(n, p, c)
    windows = xp.lib.stride_tricks.sliding_window_view(series, geometry.span + 1, axis=1)
    windows = windows[..., :: geometry.dilation]  # (N, out_length, C, k)
    matrix = xp.empty((n * geometry.out_length, geometry.taps * c + int(ones)), dtype=padded.dtype)
    target = matrix[:, : geometry.taps * c].reshape(n, geometry.out_length, geometry.taps, c)
    target[...] = windows.transpose(0, 1, 3, 2)
    if ones:
        matrix[:, -1] = 1
    return matrix
