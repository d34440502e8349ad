"""Sequence kernels: whole recurrences (SimpleRNN, LSTM, GRU) as one op each, and time slicing.

A recurrent layer projects its inputs for every time step with one GEMM before the loop; the
kernels here run the loop over that projection in NumPy, one recurrent GEMM per step, and
backpropagate through time in NumPy too (one GEMM per step for the state gradient, and one GEMM
for the whole recurrent-kernel gradient). The graph holds one node per sequence instead of a
dozen per step. ``layers.recurrent`` also has the composite, op-by-op loop; tests show both give
the same outputs and gradients.

Shared conventions of the three kernels:

- ``xproj``: ``(batch, time, gates * units)``, the input projection with the input bias added.
- ``recurrent_kernel``: ``(units, gates * units)``, Keras's layout and gate order.
- ``mask``: optional boolean ``(batch, time)``; at a masked step the state is carried over,
  and the output is the carried state (``zero_output=False``, Keras's RNN default) or zeros
  (``zero_output=True``, what Bidirectional asks for when it returns sequences).
- ``reverse``: process the steps from last to first (Keras ``go_backwards``).
- ``recurrent_masks``: optional ``(gates, batch, units)``, recurrent dropout: gate ``k`` sees
  ``h * recurrent_masks[k]``.
- The output packs ``(batch, time + n_states, units)``: the outputs in processing order, then
  the final states (h, and c for the LSTM). ``SliceSteps`` takes them apart.
"""

from __future__ import annotations

from axonal import kernels, recurrent_kernels
from axonal.autograd import Function
from axonal.backend import xp
from axonal.primitives.core import inner_product, relu_values


def _sigmoid(z, out=None):
    """Logistic sigmoid as ``(1 + tanh(z / 2)) / 2``, written into ``out`` when given.

    Four in-place passes and no overflow for any z (the per-step cost of a gate matters here).
    The absolute error is within a rounding of 1; only gate values far below that resolution
    lose relative precision, which no gate product can notice.
    """
    out = xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _gate_views(acts, units: int) -> tuple:
    """The four gate blocks of ``(batch, 4 * units)`` activations, as views."""
    return tuple(acts[:, k * units : (k + 1) * units] for k in range(4))


# per gate block of z: the sigmoid gates (i, f, o) take tanh(z / 2), the candidate tanh(z)
_GATE_SCALES: dict = {}


def _gate_scales(units: int, dtype):
    """``(4 * units,)``: 0.5 for the sigmoid gates' columns, 1 for the candidate's."""
    key = (units, xp.dtype(dtype).str)
    scales = _GATE_SCALES.get(key)
    if scales is None:
        scales = xp.full(4 * units, 0.5, dtype=dtype)
        scales[2 * units : 3 * units] = 1
        _GATE_SCALES[key] = scales
    return scales


def _lstm_cell(z, c, acts, tanh_c, units: int):
    """One LSTM step from its pre-activations ``z`` ``(rows, 4u)`` and cell ``c``: writes the
    gate activations into ``acts`` and ``tanh(c')`` into ``tanh_c``; returns ``(h', c')``.

    Every gate's ``tanh`` is one call over the whole contiguous block (the sigmoid is
    ``(1 + tanh(z / 2)) / 2``); the rest is one compiled pass where ``recurrent_kernels`` runs,
    NumPy's five calls otherwise, with the same float operations.
    """
    u = units
    xp.multiply(z, _gate_scales(u, z.dtype), out=acts)
    xp.tanh(acts, out=acts)
    c_new = xp.empty_like(tanh_c)
    loops = recurrent_kernels.compiled() if kernels.usable(acts, c, c_new) else None
    if loops is not None:
        loops.lstm_gates(acts, c, c_new)
    else:
        for gate in (acts[:, : 2 * u], acts[:, 3 * u :]):
            gate *= 0.5
            gate += 0.5
        i, f, cand, _ = _gate_views(acts, u)
        xp.multiply(f, c, out=c_new)
        c_new += i * cand
    tc = xp.tanh(c_new, out=tanh_c)
    return acts[:, 3 * u :] * tc, c_new


def _lstm_cell_grad(dh_new, dc, acts, tanh_c, c_prev, dz, units: int):
    """Back through one LSTM step: the gradients reaching its fresh h and its cell give the
    pre-activation gradients (into ``dz``); returns the previous cell's gradient."""
    u = units
    i, f, cand, o = _gate_views(acts, u)
    dct = dh_new * o
    dct *= 1 - tanh_c * tanh_c
    dct += dc
    dz[:, :u] = dct * cand * i * (1 - i)
    dz[:, u : 2 * u] = dct * c_prev * f * (1 - f)
    dz[:, 2 * u : 3 * u] = dct * i * (1 - cand * cand)
    dz[:, 3 * u :] = dh_new * tanh_c * o * (1 - o)
    return dct * f


class _RecurrentProjection:
    """``h @ R``, or per gate ``(h * masks[k]) @ R_k`` under recurrent dropout."""

    def __init__(self, kernel, masks, gates: int):
        self.kernel = kernel
        self.masks = masks
        self.gates = gates
        units = kernel.shape[0]
        if masks is not None:
            # (gates, units, units): the gate blocks of the kernel side by side
            blocks = kernel.reshape(units, gates, units).transpose(1, 0, 2)
            self.blocks = xp.ascontiguousarray(blocks)

    def forward(self, h):
        """Return the projection ``(batch, gates * units)`` and what the kernel gradient needs."""
        if self.masks is None:
            return h.dot(self.kernel), h
        masked = h[None] * self.masks
        z = xp.matmul(masked, self.blocks)
        return z.transpose(1, 0, 2).reshape(h.shape[0], -1), masked

    def backward_h(self, dz):
        """Gradient with respect to h of the projection, given its gradient ``dz``."""
        if self.masks is None:
            return dz.dot(self.kernel.T)
        batch, units = dz.shape[0], self.kernel.shape[0]
        dz_gates = dz.reshape(batch, self.gates, units).transpose(1, 0, 2)
        return (xp.matmul(dz_gates, self.blocks.transpose(0, 2, 1)) * self.masks).sum(axis=0)

    def kernel_grad(self, saved, dz):
        """Gradient of the kernel from every step at once: ``saved`` and ``dz`` stacked on time."""
        units = self.kernel.shape[0]
        if self.masks is None:
            return inner_product(saved.reshape(-1, units).T, dz.reshape(-1, dz.shape[-1]))
        steps, batch = dz.shape[0], dz.shape[1]
        dz_gates = dz.reshape(steps, batch, self.gates, units).transpose(2, 0, 1, 3)
        dz_gates = dz_gates.reshape(self.gates, steps * batch, units)
        masked = saved.transpose(1, 0, 2, 3).reshape(self.gates, steps * batch, units)
        blocks = xp.matmul(masked.transpose(0, 2, 1), dz_gates)
        return blocks.transpose(1, 0, 2).reshape(units, self.gates * units)


class _Sequence(Function):
    """The loop bookkeeping the three kernels share: step order, masks and packing."""

    gates = 1
    n_states = 1

    def _setup(self, xproj, kernel, h0, mask, reverse, zero_output, recurrent_masks):
        batch, steps, _ = xproj.shape
        units = h0.shape[1]
        self.steps, self.units, self.dtype = steps, units, xproj.dtype
        self.order = list(range(steps - 1, -1, -1)) if reverse else list(range(steps))
        self.reverse = reverse
        self.mask = None if mask is None else xp.asarray(mask, dtype=bool)
        self.zero_output = zero_output
        self.projection = _RecurrentProjection(kernel, recurrent_masks, self.gates)
        if recurrent_masks is None:
            self.saved = None  # the kernel gradient reads the stored states instead
        else:
            self.saved = xp.empty((steps, self.gates, batch, units), dtype=self.dtype)
        self.hidden = xp.empty((steps + 1, batch, units), dtype=self.dtype)
        self.hidden[0] = h0
        return xp.empty((batch, steps + self.n_states, units), dtype=self.dtype)

    def _project(self, s, h):
        z, saved = self.projection.forward(h)
        if self.saved is not None:
            self.saved[s] = saved
        return z

    def _step_mask(self, t):
        return None if self.mask is None else self.mask[:, t, None]

    def _emit(self, out, s, m, new, previous):
        """Write step ``s``'s output and return the state after it (masks carry it over)."""
        if m is None:
            out[:, s] = new
            return new
        out[:, s] = xp.where(m, new, 0 if self.zero_output else previous)
        return xp.where(m, new, previous)

    def _split_grad(self, m, dstate, gout):
        """Gradient reaching a step's fresh state, and the part that skips the step."""
        if m is None:
            return dstate + gout, None
        if self.zero_output:
            return xp.where(m, dstate + gout, 0), xp.where(m, 0, dstate)
        total = dstate + gout
        return xp.where(m, total, 0), xp.where(m, 0, total)

    def _batch_major(self, dz_steps):
        """Gradients stacked in processing order -> ``(batch, time, features)`` in time order."""
        if self.reverse:
            dz_steps = dz_steps[::-1]
        return xp.ascontiguousarray(dz_steps.transpose(1, 0, 2))

    def _kernel_grad(self, dz_steps):
        saved = self.hidden[:-1] if self.saved is None else self.saved
        return self.projection.kernel_grad(saved, dz_steps)


class SimpleRNNSequence(_Sequence):
    """``h_t = activation(xproj_t + h_{t-1} @ R)`` over a whole sequence (tanh or relu).

    forward(xproj, recurrent_kernel, h0, mask=None, reverse=False, zero_output=False,
    recurrent_masks=None, activation='tanh') -> ``(batch, time + 1, units)``.
    """

    def forward(
        self,
        xproj,
        recurrent_kernel,
        h0,
        mask=None,
        reverse=False,
        zero_output=False,
        recurrent_masks=None,
        activation="tanh",
    ):
        out = self._setup(xproj, recurrent_kernel, h0, mask, reverse, zero_output, recurrent_masks)
        self.activation = activation
        self.fresh = xp.empty((self.steps,) + h0.shape, dtype=self.dtype)
        h = h0
        for s, t in enumerate(self.order):
            pre = self._project(s, h)
            pre += xproj[:, t]
            new = xp.tanh(pre, out=pre) if activation == "tanh" else relu_values(pre, out=pre)
            self.fresh[s] = new
            h = self._emit(out, s, self._step_mask(t), new, h)
            self.hidden[s + 1] = h
        out[:, self.steps] = h
        return out

    def backward(self, g):
        steps = self.steps
        dz_steps = xp.empty_like(self.fresh)
        dh = g[:, steps].copy()
        for s in range(steps - 1, -1, -1):
            m = self._step_mask(self.order[s])
            dnew, skip = self._split_grad(m, dh, g[:, s])
            new = self.fresh[s]
            if self.activation == "tanh":
                dz = dnew * (1 - new * new)
            else:
                dz = dnew * (new > 0)
            dz_steps[s] = dz
            dh = self.projection.backward_h(dz)
            if skip is not None:
                dh += skip
        gx = self._batch_major(dz_steps) if self.needs_grad[0] else None
        gk = self._kernel_grad(dz_steps) if self.needs_grad[1] else None
        return gx, gk, dh


class LSTMSequence(_Sequence):
    """The Keras LSTM recurrence (gates i, f, c, o; tanh and sigmoid) over a whole sequence.

    forward(xproj, recurrent_kernel, h0, c0, mask=None, reverse=False, zero_output=False,
    recurrent_masks=None) -> ``(batch, time + 2, units)``: outputs, final h, final c.
    """

    gates = 4
    n_states = 2

    def forward(
        self,
        xproj,
        recurrent_kernel,
        h0,
        c0,
        mask=None,
        reverse=False,
        zero_output=False,
        recurrent_masks=None,
    ):
        out = self._setup(xproj, recurrent_kernel, h0, mask, reverse, zero_output, recurrent_masks)
        u = self.units
        steps = self.steps
        self.acts = xp.empty((steps,) + xproj.shape[:1] + (4 * u,), dtype=self.dtype)
        self.cells = xp.empty((steps + 1,) + c0.shape, dtype=self.dtype)
        self.tanh_c = xp.empty((steps,) + c0.shape, dtype=self.dtype)
        self.cells[0] = c0
        self.loops = self._compiled_loops(xproj, mask)
        h, c = h0, c0
        for s, t in enumerate(self.order):
            z = self._project(s, h)
            z += xproj[:, t]
            fresh, c_new = _lstm_cell(z, c, self.acts[s], self.tanh_c[s], u)
            m = self._step_mask(t)
            h = self._emit(out, s, m, fresh, h)
            c = c_new if m is None else xp.where(m, c_new, c)
            self.hidden[s + 1] = h
            self.cells[s + 1] = c
        out[:, steps] = h
        out[:, steps + 1] = c
        return out

    def _compiled_loops(self, xproj, mask):
        """The compiled backward steps when they apply (no mask, no recurrent dropout, one
        float dtype), else None."""
        if (
            mask is not None
            or self.projection.masks is not None
            or not kernels.usable(self.acts, self.projection.kernel)
        ):
            return None
        return recurrent_kernels.compiled()

    def backward(self, g):
        u, steps = self.units, self.steps
        dz_steps = xp.empty_like(self.acts)
        dh = g[:, steps].copy()
        dc = g[:, steps + 1].copy()
        loops = self.loops
        if loops is not None and g.dtype == self.dtype:
            dc_next = xp.empty_like(dc)
            for s in range(steps - 1, -1, -1):
                loops.lstm_grad_step(
                    dh,
                    g[:, s],
                    dc,
                    self.acts[s],
                    self.tanh_c[s],
                    self.cells[s],
                    dz_steps[s],
                    dc_next,
                )
                dc, dc_next = dc_next, dc
                dh = self.projection.backward_h(dz_steps[s])
            gx = self._batch_major(dz_steps) if self.needs_grad[0] else None
            gk = self._kernel_grad(dz_steps) if self.needs_grad[1] else None
            return gx, gk, dh, dc
        for s in range(steps - 1, -1, -1):
            m = self._step_mask(self.order[s])
            dh_new, dh_skip = self._split_grad(m, dh, g[:, s])
            if m is None:
                dc_new, dc_skip = dc, None
            else:
                dc_new, dc_skip = xp.where(m, dc, 0), xp.where(m, 0, dc)
            dz = dz_steps[s]
            dc = _lstm_cell_grad(dh_new, dc_new, self.acts[s], self.tanh_c[s], self.cells[s], dz, u)
            dh = self.projection.backward_h(dz)
            if dh_skip is not None:
                dh += dh_skip
                dc += dc_skip
        gx = self._batch_major(dz_steps) if self.needs_grad[0] else None
        gk = self._kernel_grad(dz_steps) if self.needs_grad[1] else None
        return gx, gk, dh, dc


class GRUSequence(_Sequence):
    """The Keras GRU recurrence with ``reset_after=True`` (gates z, r, h) over a whole sequence.

    ``z = σ(xz + hz)``, ``r = σ(xr + hr)``, ``n = tanh(xh + r * hh)``, ``h' = z*h + (1-z)*n``,
    where ``[hz, hr, hh] = h @ R + recurrent_bias``.

    forward(xproj, recurrent_kernel, recurrent_bias, h0, mask=None, reverse=False,
    zero_output=False, recurrent_masks=None) -> ``(batch, time + 1, units)``; the recurrent bias
    may be None.
    """

    gates = 3

    def forward(
        self,
        xproj,
        recurrent_kernel,
        recurrent_bias,
        h0,
        mask=None,
        reverse=False,
        zero_output=False,
        recurrent_masks=None,
    ):
        out = self._setup(xproj, recurrent_kernel, h0, mask, reverse, zero_output, recurrent_masks)
        u, steps = self.units, self.steps
        self.has_bias = recurrent_bias is not None
        self.acts = xp.empty((steps,) + xproj.shape[:1] + (3 * u,), dtype=self.dtype)
        self.inner_h = xp.empty((steps,) + h0.shape, dtype=self.dtype)
        h = h0
        for s, t in enumerate(self.order):
            inner = self._project(s, h)
            if recurrent_bias is not None:
                inner += recurrent_bias
            x_t = xproj[:, t]
            acts = self.acts[s]
            _sigmoid(x_t[:, : 2 * u] + inner[:, : 2 * u], out=acts[:, : 2 * u])
            z, r = acts[:, :u], acts[:, u : 2 * u]
            self.inner_h[s] = inner[:, 2 * u :]
            n = acts[:, 2 * u :]
            xp.tanh(x_t[:, 2 * u :] + r * inner[:, 2 * u :], out=n)
            new = h - n
            new *= z
            new += n
            h = self._emit(out, s, self._step_mask(t), new, h)
            self.hidden[s + 1] = h
        out[:, steps] = h
        return out

    def backward(self, g):
        u, steps = self.units, self.steps
        dx_steps = xp.empty_like(self.acts)
        dinner_steps = xp.empty_like(self.acts)
        dh = g[:, steps].copy()
        for s in range(steps - 1, -1, -1):
            m = self._step_mask(self.order[s])
            dnew, skip = self._split_grad(m, dh, g[:, s])
            acts = self.acts[s]
            z, r, n = acts[:, :u], acts[:, u : 2 * u], acts[:, 2 * u :]
            h_prev = self.hidden[s]
            dan = dnew * (1 - z) * (1 - n * n)
            dx = dx_steps[s]
            dx[:, :u] = dnew * (h_prev - n) * z * (1 - z)
            dx[:, u : 2 * u] = dan * self.inner_h[s] * r * (1 - r)
            dx[:, 2 * u :] = dan
            dinner = dinner_steps[s]
            dinner[:, : 2 * u] = dx[:, : 2 * u]
            dinner[:, 2 * u :] = dan * r
            dh = self.projection.backward_h(dinner)
            dh += dnew * z
            if skip is not None:
                dh += skip
        gx = self._batch_major(dx_steps) if self.needs_grad[0] else None
        gk = self._kernel_grad(dinner_steps) if self.needs_grad[1] else None
        gb = None
        if self.has_bias and self.needs_grad[2]:
            gb = dinner_steps.sum(axis=(0, 1))
        return gx, gk, gb, dh


class SliceSteps(Function):
    """``a[:, index]`` or ``a[:, start:stop]`` along axis 1 (time), with a cheap backward.

    forward(a, start=0, stop=None): without ``stop`` the one step ``start`` is taken and the axis
    dropped; with ``stop`` the range is kept.
    """

    def forward(self, a, start=0, stop=None):
        self.shape, self.dtype = a.shape, a.dtype
        self.index = (slice(None), start if stop is None else slice(start, stop))
        return a[self.index]

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=self.dtype)
        out[self.index] = g
        return (out,)


class ReverseSteps(Function):
    """Reverse the order of axis 1 (time)."""

    def forward(self, a):
        return a[:, ::-1]

    def backward(self, g):
        return (g[:, ::-1],)


__all__ = [
    "GRUSequence",
    "LSTMSequence",
    "ReverseSteps",
    "SimpleRNNSequence",
    "SliceSteps",
]
