"""Per-example gradients from one batched backward pass, without a loop over examples.

After an ordinary batched forward pass, the graph is walked backward once as ``autograd`` would,
but weights get no summed gradient. Instead, every op where a weight meets the batch (the "use"
of the weight: an affine map, a convolution, a normalization's scale, an embedding lookup, a
recurrence...) records the gradient of the loss with respect to its output, ``g``. Row ``i`` of
``g`` belongs to example ``i`` alone (the ops do not mix examples), so a per-op rule turns the
op's saved inputs and ``g`` into each example's gradient:

- affine map ``y = x W + b``: ``dW_i = x_i^T g_i``, ``db_i = sum g_i`` (summed over any axes
  between batch and features, e.g. time steps);
- convolution: the same with the op's saved im2col matrix in place of ``x``;
- normalization: ``dgamma_i = sum(g_i * xhat_i)``, ``dbeta_i = sum(g_i)``;
- embedding lookup: each example's rows of ``g`` added into the rows it looked up;
- recurrence: ``dR_i = sum_t h_{t-1,i}^T dz_{t,i}`` from the pre-activation gradients that the
  recurrence's own backward computes (captured as it runs);
- elementwise ops with a broadcast weight (PReLU's ``alpha``): the full-shape gradient summed
  per example down to the weight's shape.

Clipping needs only each example's gradient norm, and the sum of the clipped gradients is the
op's usual weight gradient computed from ``g`` with row ``i`` scaled by example ``i``'s factor.
So where a weight is used once, its per-example gradients are never stored: the norms come from
``||x_i||^2 ||g_i||^2`` (a matrix input) or from Gram matrices ("ghost clipping", Goodfellow
2015; Li et al. 2022), whichever costs less, and the clipped sum from one call of the op's own
backward. A weight used several times (shared layers, a GRU's bias split in two, a weight
reshaped before use) gets its per-example gradients materialised, ``(batch, *shape)``, carried
back through the reshaping ops to the variable and summed.

Ops that mix examples (batch statistics) have no per-example gradient: they raise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from axonal import primitives as P
from axonal.autograd import Function, no_grad, unbroadcast
from axonal.backend import xp
from axonal.primitives.conv import kernel_from_2d
from axonal.primitives.core import relu_grad
from axonal.tensor import Tensor

# ---------------------------------------------------------------- small array helpers


def _group_rows(array, batch: int):
    """``array`` with leading axis ``batch * k`` as ``(batch, k, ...)`` (rows of an example are
    contiguous: TimeDistributed folds time into the batch axis that way)."""
    rows = array.shape[0]
    if rows == batch:
        return array[:, None]
    if batch == 0 or rows % batch:
        raise ValueError(
            f"An op's leading axis has {rows} rows for a batch of {batch} examples: per-example "
            "gradients need the batch on the leading axis (possibly folded with time, as "
            "TimeDistributed does)."
        )
    return array.reshape((batch, rows // batch) + array.shape[1:])


def _sum_groups(per_row, batch: int):
    """Per-row results ``(batch * k, ...)`` summed into per-example ``(batch, ...)``."""
    if per_row.shape[0] == batch:
        return per_row
    return _group_rows(per_row, batch).sum(axis=1)


def _scale_rows(g, factors, batch: int):
    """``g`` with example ``i``'s rows multiplied by ``factors[i]``."""
    grouped = _group_rows(g, batch)
    shape = (batch,) + (1,) * (grouped.ndim - 1)
    return (grouped * factors.astype(g.dtype, copy=False).reshape(shape)).reshape(g.shape)


def per_example_sum(full, shape: tuple, batch: int):
    """A weight's full-shape gradient ``(rows, ...)`` summed per example down to ``shape``.

    The weight broadcast along its missing leading axes and its size-1 axes; those are summed,
    example by example. A weight that varies along the batch axis would mix examples: refused.
    """
    per = _sum_groups(full, batch)  # (batch, *rest)
    rest = per.shape[1:]
    shape = tuple(shape)
    aligned = shape
    while len(aligned) > len(rest):
        if aligned[0] != 1:
            raise ValueError(
                f"A weight of shape {shape} varies along the batch axis of an output of shape "
                f"{full.shape}: it would mix examples, so it has no per-example gradient."
            )
        aligned = aligned[1:]
    lead = len(rest) - len(aligned)
    axes = tuple(range(1, 1 + lead)) + tuple(
        1 + lead + i for i, size in enumerate(aligned) if size == 1 and rest[lead + i] != 1
    )
    if axes:
        per = per.sum(axis=axes, keepdims=True)
    return per.reshape((batch,) + shape)


def _squared_norms(per_example) -> xp.ndarray:
    """Each example's squared L2 norm (float64) of ``(batch, ...)`` gradients."""
    flat = per_example.reshape(per_example.shape[0], -1)
    return xp.einsum("ij,ij->i", flat, flat, dtype=xp.float64)


def _gram_norms(a, b) -> xp.ndarray:
    """``||a_i^T b_i||_F^2`` for ``a`` ``(B, P, K)``, ``b`` ``(B, P, O)`` via ``P x P`` Grams."""
    gram_a = xp.matmul(a, a.transpose(0, 2, 1))
    gram_b = xp.matmul(b, b.transpose(0, 2, 1))
    return xp.einsum("ipq,ipq->i", gram_a, gram_b, dtype=xp.float64)


def _outer_norms(a, b) -> xp.ndarray:
    """``||a_i^T b_i||_F^2`` for ``a`` ``(B, P, K)``, ``b`` ``(B, P, O)``: the cheaper of the
    Gram route (``P^2 (K + O)``) and forming each product (``P K O``)."""
    _, positions, k = a.shape
    o = b.shape[2]
    if positions == 1:
        # a rank-one product: its norm is the product of the two norms
        return _squared_norms(a) * _squared_norms(b)
    if positions * (k + o) < k * o:
        return _gram_norms(a, b)
    return _squared_norms(xp.matmul(a.transpose(0, 2, 1), b))


# ---------------------------------------------------------------- rules


class Rule:
    """How per-example gradients of one op's weight inputs are found from its output gradient.

    ``ghost`` lists the weight inputs whose per-example norms and clipped sum the rule can give
    without forming per-example gradients.
    """

    ghost: tuple[int, ...] = ()

    def prepare(self, ctx: Function, weights: Sequence[int]) -> bool:
        """Called before the op's backward in the main walk; True forces that backward to run."""
        return False

    def materialize(self, ctx: Function, g, index: int, batch: int):
        """Per-example gradients ``(batch, *shape)`` of weight input ``index``."""
        raise NotImplementedError

    def ghost_norms(self, ctx: Function, g, indices: Sequence[int], batch: int) -> xp.ndarray:
        """Squared per-example norms of the gradients of weight inputs ``indices`` together."""
        total = xp.zeros(batch)
        for index in indices:
            total += _squared_norms(self.materialize(ctx, g, index, batch))
        return total

    def clipped_sum(self, ctx: Function, g, indices: Sequence[int], factors, batch: int) -> dict:
        """``sum_i factors[i] * grad_i`` for weight inputs ``indices``: the op's own weight
        gradient from ``g`` with each example's rows scaled."""
        for i in range(len(ctx.needs_grad)):
            ctx.needs_grad[i] = i in indices
        grads = ctx.backward(_scale_rows(g, factors, batch))
        out = {}
        for index in indices:
            grad = grads[index]
            shape = ctx.inputs[index].data.shape
            out[index] = grad if grad.shape == shape else unbroadcast(grad, shape)
        return out


class _AffineRule(Rule):
    """``x @ kernel + bias`` (Dense), and ``relu`` of it."""

    ghost = (1, 2)

    @staticmethod
    def _parts(ctx, g, batch: int):
        if isinstance(ctx, P.AffineRelu):
            g = relu_grad(g, ctx.out)
        x = ctx.x
        x3 = x.reshape(batch, -1, x.shape[-1])
        g3 = g.reshape(batch, -1, g.shape[-1])
        return x3, g3

    def materialize(self, ctx, g, index, batch):
        x3, g3 = self._parts(ctx, g, batch)
        if index == 2:
            return g3.sum(axis=1)
        if x3.shape[1] == 1:
            per = x3[:, 0, :, None] * g3[:, 0, None, :]
        else:
            per = xp.matmul(x3.transpose(0, 2, 1), g3)
        return per.reshape((batch,) + ctx.inputs[1].data.shape)

    def ghost_norms(self, ctx, g, indices, batch):
        x3, g3 = self._parts(ctx, g, batch)
        total = xp.zeros(batch)
        if 1 in indices:
            total += _outer_norms(x3, g3)
        if 2 in indices:
            total += _squared_norms(g3.sum(axis=1))
        return total


class _MatMulRule(Rule):
    """``x @ W`` with a matrix ``W`` on the right (the batch on ``x``'s leading axis)."""

    ghost = (1,)

    @staticmethod
    def _parts(ctx, g, batch):
        if ctx.a.ndim < 2:
            raise ValueError(
                "Per-example gradients of a matmul need a batched left operand and a 2-D weight "
                f"on the right, got shapes {ctx.a.shape} @ {ctx.b.shape}."
            )
        x3 = ctx.a.reshape(batch, -1, ctx.a.shape[-1])
        g3 = g.reshape(batch, -1, g.shape[-1])
        return x3, g3

    def materialize(self, ctx, g, index, batch):
        if ctx.b.ndim > 2:
            return self._stacked(ctx, g, batch)
        x3, g3 = self._parts(ctx, g, batch)
        return xp.matmul(x3.transpose(0, 2, 1), g3)

    def ghost_norms(self, ctx, g, indices, batch):
        if ctx.b.ndim > 2:
            return super().ghost_norms(ctx, g, indices, batch)
        return _outer_norms(*self._parts(ctx, g, batch))

    @staticmethod
    def _stacked(ctx, g, batch):
        """A stack of weight matrices ``(..., 1, in, out)`` broadcast along the batch, which
        sits on one of the stacking axes of ``x`` (a gated RNN's per-gate input projection
        under dropout: ``(gates, batch, time, in) @ (gates, 1, in, out)``)."""
        a, b = ctx.a, ctx.b
        stack = g.shape[:-2]
        padded = (1,) * (len(stack) - (b.ndim - 2)) + b.shape[:-2]
        axes = [
            k for k, (w, o) in enumerate(zip(padded, stack, strict=True)) if w == 1 and o == batch
        ]
        if len(axes) != 1:
            raise ValueError(
                "Per-example gradients of a matmul need the batch on the leading axis of the "
                f"left operand, or on one stacking axis, got shapes {a.shape} @ {b.shape}."
            )
        full = xp.matmul(xp.swapaxes(a, -1, -2), g)  # (*stack, in, out)
        moved = xp.moveaxis(full, axes[0], 0)
        squeezed = tuple(s for k, s in enumerate(padded) if k != axes[0]) + b.shape[-2:]
        return per_example_sum(moved, squeezed, batch).reshape((batch,) + b.shape)


def _example_columns(cols, batch: int, groups: int):
    """The im2col matrix of a convolution as ``(groups, batch, positions, taps)`` views.

    A "planar" matrix is stored transposed (taps first); both layouts are handled.
    """
    if cols.ndim == 2:
        cols = cols[None]
    _, rows, taps = cols.shape
    per = rows // batch
    transposed = cols.transpose(0, 2, 1)
    if transposed.flags.c_contiguous:
        return transposed.reshape(groups, taps, batch, per).transpose(0, 2, 3, 1)
    return cols.reshape(groups, batch, per, taps)


class _ConvRule(Rule):
    """Conv1D / Conv2D / Conv3D (and relu of them): per-example products of im2col columns
    and ``g``. A Conv3D is a 2-D convolution of its depth-unfolded input: its products come
    out in the unfolded kernel's layout and are put back into the 3-D one."""

    ghost = (1, 2)

    @staticmethod
    def _output_grad(ctx, g):
        if isinstance(ctx, P.Conv1D):
            g = g[:, None]
        elif isinstance(ctx, P.Conv2DRelu):
            g = relu_grad(g, ctx.out)
        return g

    def _full(self, ctx, g, batch):
        """Per-example ``(batch, taps [+ 1 bias row], out)`` for an ungrouped convolution."""
        g4 = self._output_grad(ctx, g)
        cols = _example_columns(ctx.columns(), batch, 1)[0]
        g3 = g4.reshape(batch, -1, g4.shape[-1])
        return cols, g3

    def materialize(self, ctx, g, index, batch):
        if isinstance(ctx, P.Conv3D) and index == 1:
            kd, kh, kw, cg, out = ctx.kernel_shape
            per = self._materialize(ctx, g, index, batch, (kh, kw, kd * cg, out))
            return kernel_from_2d(per, ctx.kernel_shape)
        return self._materialize(ctx, g, index, batch, ctx.inputs[1].data.shape)

    def _materialize(self, ctx, g, index, batch, kernel_shape):
        taps = math.prod(kernel_shape[:-1])
        if index == 2 and (ctx.groups > 1 or not ctx.has_bias):
            g4 = self._output_grad(ctx, g)
            return g4.reshape(batch, -1, g4.shape[-1]).sum(axis=1)
        if ctx.groups == 1:
            cols, g3 = self._full(ctx, g, batch)
            if index == 2:
                # the bias rides in the GEMM as the last column of ones
                return xp.matmul(cols[:, :, taps][:, None, :], g3)[:, 0]
            per = xp.matmul(cols[:, :, :taps].transpose(0, 2, 1), g3)
            return per.reshape((batch,) + kernel_shape)
        g4 = self._output_grad(ctx, g)
        groups = ctx.groups
        out = g4.shape[-1]
        per_group = out // groups
        cols = _example_columns(ctx.cols, batch, groups)  # (G, B, P, taps)
        gg = g4.reshape(batch, -1, groups, per_group).transpose(2, 0, 1, 3)  # (G, B, P, og)
        per = xp.matmul(cols.transpose(0, 1, 3, 2), gg)  # (G, B, taps, og)
        kh_kw_cg = kernel_shape[:-1]
        per = per.reshape((groups, batch) + kh_kw_cg + (per_group,))
        order = (1,) + tuple(range(2, 2 + len(kh_kw_cg))) + (0, 2 + len(kh_kw_cg))
        return per.transpose(order).reshape((batch,) + kernel_shape)

    def ghost_norms(self, ctx, g, indices, batch):
        wanted = set(indices)
        together = {1, 2} if ctx.has_bias else {1}
        if ctx.groups > 1 or wanted != together:
            return super().ghost_norms(ctx, g, indices, batch)
        # kernel and bias at once: the bias is the im2col matrix's column of ones
        cols, g3 = self._full(ctx, g, batch)
        return _outer_norms(cols, g3)


class _ConvTransposeRule(Rule):
    """Conv1D/2D/3DTranspose: ``dK_i = sum over positions of windows(g_i) x x_i``.

    Reads the op's saved ``x``, ``kernel``, ``pads``, ``strides`` and ``dilation``, all of the
    same spatial rank (a Conv1DTranspose saves them with a unit height, as its 2-D op sees them).
    """

    def materialize(self, ctx, g, index, batch):
        if index == 2:
            return _sum_groups(g.reshape(g.shape[0], -1, g.shape[-1]).sum(axis=1), batch)
        x, kernel = ctx.x, ctx.kernel
        rank = x.ndim - 2
        if g.ndim < x.ndim:
            g = g[:, None]  # Conv1DTranspose: the unit height its 2-D op added
        kernel_size, spatial = kernel.shape[:rank], x.shape[1:-1]
        padded = xp.pad(g, ((0, 0),) + tuple(ctx.pads) + ((0, 0),))
        reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, ctx.dilation, strict=True))
        windows = xp.lib.stride_tricks.sliding_window_view(
            padded, reach, axis=tuple(range(1, rank + 1))
        )
        # (N, *spatial, out, *kernel_size): the window each input position was spread over
        index_ = (
            (slice(None),)
            + tuple(slice(0, s * (n - 1) + 1, s) for s, n in zip(ctx.strides, spatial, strict=True))
            + (slice(None),)
            + tuple(slice(None, None, d) for d in ctx.dilation)
        )
        positions, taps = "hwd"[:rank], "abe"[:rank]
        per = xp.einsum(
            f"n{positions}o{taps},n{positions}c->n{taps}oc", windows[index_], x, optimize=True
        )
        per = _sum_groups(per, batch)
        return per.reshape((batch,) + ctx.inputs[1].data.shape)


class _NormalizeRule(Rule):
    """LayerNormalization's scale and shift: sums of ``g * xhat`` and ``g`` per example."""

    def materialize(self, ctx, g, index, batch):
        full = g * ctx.xhat if index == 1 else g
        return per_example_sum(full, ctx.inputs[index].data.shape, batch)


class _TakeRule(Rule):
    """An embedding lookup ``take(W, indices, axis=0)``: rows of ``g`` added into rows of W."""

    ghost = (0,)

    @staticmethod
    def _parts(ctx, g, batch):
        if ctx.axis != 0:
            raise ValueError(
                "Per-example gradients of a gather need it along axis 0 (an embedding lookup), "
                f"got axis={ctx.axis}."
            )
        rows = ctx.shape[0]
        width = math.prod(ctx.shape[1:])
        indices = xp.asarray(ctx.indices).reshape(batch, -1)
        return rows, indices, g.reshape(batch, -1, width)

    def materialize(self, ctx, g, index, batch):
        rows, indices, g3 = self._parts(ctx, g, batch)
        out = xp.zeros((batch, rows, g3.shape[-1]), dtype=g.dtype)
        examples = xp.broadcast_to(xp.arange(batch)[:, None], indices.shape)
        xp.add.at(out, (examples, indices), g3)
        return out.reshape((batch,) + tuple(ctx.shape))

    def ghost_norms(self, ctx, g, indices, batch):
        rows, looked_up, g3 = self._parts(ctx, g, batch)
        if looked_up.size == 0:
            return xp.zeros(batch)
        # one key per (example, row): sum the rows of g sharing a key, then square
        keys = (xp.arange(batch)[:, None] * rows + looked_up).ravel()
        order = xp.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = xp.flatnonzero(xp.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sums = xp.add.reduceat(g3.reshape(-1, g3.shape[-1])[order], starts, axis=0)
        squares = xp.einsum("ij,ij->i", sums, sums, dtype=xp.float64)
        return xp.bincount(sorted_keys[starts] // rows, weights=squares, minlength=batch)


class _ElementwiseRule(Rule):
    """A broadcasting elementwise op with a weight (a scale, a shift, PReLU's slope)."""

    def materialize(self, ctx, g, index, batch):
        for i in range(len(ctx.needs_grad)):
            ctx.needs_grad[i] = i == index
        full = ctx.backward(g)[index]
        return per_example_sum(full, ctx.inputs[index].data.shape, batch)


class _CapturingProjection:
    """Stands in for a recurrence's recurrent projection during backward: keeps the states
    and pre-activation gradients its kernel gradient is made from, per example."""

    def __init__(self, inner):
        self.inner = inner
        self.saved = None
        self.dz = None

    def forward(self, h):
        return self.inner.forward(h)

    def backward_h(self, dz):
        return self.inner.backward_h(dz)

    def kernel_grad(self, saved, dz):
        self.saved, self.dz = saved, dz
        return None


class _SequenceRule(Rule):
    """SimpleRNN / LSTM / GRU kernels: ``dR_i = sum_t h_{t-1,i}^T dz_{t,i}``."""

    def prepare(self, ctx, weights):
        if any(i not in self.weight_inputs_of(ctx) for i in weights):
            raise ValueError(
                f"Per-example gradients of {type(ctx).__name__} support trainable recurrent "
                "kernels and biases, not trainable initial states."
            )
        ctx.projection = _CapturingProjection(ctx.projection)
        # the kernel gradient is where the captured arrays are handed over
        ctx.needs_grad[1] = True
        if isinstance(ctx, P.GRUSequence):
            ctx.needs_grad[2] = False
        return True

    @staticmethod
    def weight_inputs_of(ctx) -> tuple[int, ...]:
        return (1, 2) if isinstance(ctx, P.GRUSequence) else (1,)

    def materialize(self, ctx, g, index, batch):
        capture = ctx.projection
        dz = capture.dz  # (time, rows, gates * units)
        if index == 2:
            return _sum_groups(dz.sum(axis=0), batch)
        saved = capture.saved
        units = ctx.units
        if saved.ndim == 3:
            # (time, rows, units) states before each step
            per = xp.matmul(saved.transpose(1, 2, 0), dz.transpose(1, 0, 2))
        else:
            # recurrent dropout: (time, gates, rows, units) masked states, one per gate
            steps, gates, rows, _ = saved.shape
            dz_gates = dz.reshape(steps, rows, gates, units)
            per = xp.einsum("tkbu,tbkv->bukv", saved, dz_gates, optimize=True)
            per = per.reshape(rows, units, gates * units)
        return _sum_groups(per, batch)


_ELEMENTWISE_OPS = (
    P.Add,
    P.Sub,
    P.Mul,
    P.Div,
    P.Maximum,
    P.Minimum,
    P.Where,
    P.Pow,
    P.BroadcastTo,
)

RULES: dict[type, Rule] = {
    P.Affine: _AffineRule(),
    P.AffineRelu: _AffineRule(),
    P.MatMul: _MatMulRule(),
    P.Conv2D: _ConvRule(),
    P.Conv2DRelu: _ConvRule(),
    P.Conv1D: _ConvRule(),
    P.Conv3D: _ConvRule(),
    P.Conv2DTranspose: _ConvTransposeRule(),
    P.Conv1DTranspose: _ConvTransposeRule(),
    P.Conv3DTranspose: _ConvTransposeRule(),
    P.Normalize: _NormalizeRule(),
    P.NormalizeLastAxis: _NormalizeRule(),
    P.Take: _TakeRule(),
    P.SimpleRNNSequence: _SequenceRule(),
    P.LSTMSequence: _SequenceRule(),
    P.GRUSequence: _SequenceRule(),
}
for _op in _ELEMENTWISE_OPS:
    RULES[_op] = _ElementwiseRule()


# ---------------------------------------------------------------- weight-only ops, batched

# ops that only rearrange or cast a weight before it meets the batch
_SHAPE_OPS = (
    P.Reshape,
    P.Transpose,
    P.ExpandDims,
    P.Squeeze,
    P.GetItem,
    P.Cast,
    P.Concatenate,
    P.Stack,
)
# elementwise ops on weights alone (their backward broadcasts over a leading batch axis)
_WEIGHT_ELEMENTWISE = _ELEMENTWISE_OPS + (
    P.Neg,
    P.Square,
    P.Exp,
    P.Log,
    P.Sqrt,
    P.Abs,
    P.Tanh,
    P.Sigmoid,
    P.Softplus,
    P.Relu,
    P.Clip,
)


def _batched_axis(axis: int) -> int:
    """An axis of a weight, as an axis of the same weight with a batch axis in front."""
    return axis if axis < 0 else axis + 1


def _batched_backward(ctx: Function, grads, batch: int) -> list:
    """Per-example gradients of a weight-only op's inputs from per-example ``grads`` of its
    output, ``(batch, *out_shape)``: the op's backward with a leading batch axis."""
    inputs = ctx.inputs
    shapes = [None if t is None else t.data.shape for t in inputs]
    if isinstance(ctx, (P.Reshape, P.ExpandDims, P.Squeeze)):
        return [grads.reshape((batch,) + shapes[0])]
    if isinstance(ctx, P.Transpose):
        ndim = len(shapes[0])
        axes = tuple(reversed(range(ndim))) if ctx.axes is None else ctx.axes
        inverse = xp.argsort(axes)
        return [grads.transpose((0,) + tuple(int(a) + 1 for a in inverse))]
    if isinstance(ctx, P.GetItem):
        index = ctx.index if isinstance(ctx.index, tuple) else (ctx.index,)
        out = xp.zeros((batch,) + shapes[0], dtype=grads.dtype)
        xp.add.at(out, (slice(None),) + index, grads)
        return [out]
    if isinstance(ctx, P.Cast):
        return [grads.astype(inputs[0].data.dtype)]
    if isinstance(ctx, P.Concatenate):
        splits = xp.cumsum(ctx.sizes)[:-1]
        return list(xp.split(grads, splits, axis=_batched_axis(ctx.axis)))
    if isinstance(ctx, P.Stack):
        return [xp.take(grads, i, axis=_batched_axis(ctx.axis)) for i in range(ctx.count)]
    # elementwise: the backward's arithmetic broadcasts over the leading batch axis
    full = ctx.backward(grads)
    out = []
    for grad, shape in zip(full, shapes, strict=True):
        if grad is None or shape is None:
            out.append(None)
            continue
        out.append(per_example_sum(grad, shape, batch))
    return out


# ---------------------------------------------------------------- the graph walk


def _topological(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root``, each after all of its inputs."""
    order: list[Tensor] = []
    seen = {id(root)}
    stack = [(root, iter(root._ctx.inputs))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if (
                isinstance(parent, Tensor)
                and parent._ctx is not None
                and parent.requires_grad
                and id(parent) not in seen
            ):
                seen.add(id(parent))
                stack.append((parent, iter(parent._ctx.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _mixing_error(what: str) -> ValueError:
    return ValueError(
        f"{what} normalizes over the batch axis (batch statistics): each example's output "
        "depends on the others, so per-example gradients, and with them the DP-SGD guarantee, "
        "do not exist. Use LayerNormalization (or no normalization) in a private model."
    )


class _Use:
    """One op where weights meet the batch, with the gradient of the loss at its output."""

    __slots__ = ("ctx", "grad", "rule", "weights")

    def __init__(self, ctx, rule, weights):
        self.ctx = ctx
        self.rule = rule
        self.weights = weights  # input indices of weights (variables or weight-only tensors)
        self.grad = None


class PerExampleGradients:
    """Per-example gradient norms and clipped sums of a scalar loss ``root = sum_i L_i``.

    The constructor runs the backward walk; ``clipped_sums`` then finishes the job for DP-SGD
    (per-example norms, clip factors, sums), and ``materialized`` gives every example's
    gradient (for ``per_example_gradients`` and tests).

    Args:
        root: the scalar loss, a sum over examples of each example's own loss.
        variables: the trainable variables wanted (``Variable`` leaves of the graph).
        batch: number of examples.
        materialize_all: form every per-example gradient, even where the ghost norm would do.
    """

    def __init__(self, root: Tensor, variables: Sequence, batch: int, materialize_all=False):
        self.batch = batch
        self.variables = list(variables)
        self._tracked = {id(v) for v in self.variables}
        if root._ctx is None:
            raise ValueError("The loss does not depend on any weight through an operation.")
        order = _topological(root)
        self._classify(order)
        self._walk(root, order)
        self._plan(order, materialize_all)

    # ------------------------------------------------------------ graph analysis
    def _kind(self, tensor) -> str:
        """'weight' (a tracked variable or a function of them only), 'batch' (depends on the
        examples and leads to a weight) or 'other' (a constant for our purpose)."""
        if not isinstance(tensor, Tensor):
            return "other"
        if tensor._ctx is None:
            return "weight" if id(tensor) in self._tracked else "other"
        return self._kinds.get(id(tensor), "other")

    def _classify(self, order: list) -> None:
        self._kinds: dict[int, str] = {}
        self._uses: list[_Use] = []
        self._use_of: dict[int, _Use] = {}
        self._weight_nodes: list[Tensor] = []
        for node in order:
            ctx = node._ctx
            kinds = [self._kind(t) for t in ctx.inputs]
            if isinstance(ctx, P.Normalize) and 0 in ctx.axes:
                raise _mixing_error("A normalization in the model")
            weights = [i for i, k in enumerate(kinds) if k == "weight"]
            batched = "batch" in kinds
            if not weights and not batched:
                continue  # leads to no tracked weight
            if weights and not batched and self._weight_only(ctx, node, weights):
                self._kinds[id(node)] = "weight"
                self._weight_nodes.append(node)
                continue
            self._kinds[id(node)] = "batch"
            if weights:
                rule = RULES.get(type(ctx))
                if rule is None:
                    raise ValueError(
                        f"Per-example gradients are not available for the weights "
                        f"{self._weight_names(ctx, weights)} used by the operation "
                        f"{type(ctx).__name__}: no per-example rule for it. Supported: dense, "
                        "convolution, embedding, layer normalization, recurrent and "
                        "elementwise (e.g. PReLU) layers."
                    )
                use = _Use(ctx, rule, weights)
                self._uses.append(use)
                self._use_of[id(node)] = use

    @staticmethod
    def _weight_only(ctx, node, weights) -> bool:
        """Whether an op on weights alone still describes a weight (not a batched output)."""
        if isinstance(ctx, _SHAPE_OPS):
            return True
        if isinstance(ctx, _WEIGHT_ELEMENTWISE):
            shapes = [ctx.inputs[i].data.shape for i in weights]
            # a constant operand that broadcasts the weight up to a batch makes it a use
            return node.data.shape == xp.broadcast_shapes(*shapes)
        return False

    def _weight_names(self, ctx, weights) -> list[str]:
        names = []
        for i in weights:
            names.extend(self._variables_under(ctx.inputs[i]))
        return sorted(set(names))

    def _variables_under(self, tensor) -> list[str]:
        """Paths of the tracked variables a weight-only tensor is computed from."""
        stack, out = [tensor], []
        while stack:
            t = stack.pop()
            if t._ctx is None:
                out.append(getattr(t, "path", "?"))
            else:
                stack.extend(x for x in t._ctx.inputs if self._kind(x) == "weight")
        return out

    # ------------------------------------------------------------ the backward walk
    def _walk(self, root: Tensor, order: list) -> None:
        """Backpropagate through the batched part of the graph once, recording at each use of
        a weight the gradient of the loss with respect to the op's output."""
        grads = {id(root): xp.ones((), dtype=root.data.dtype)}
        with no_grad():
            for node in reversed(order):
                if self._kinds.get(id(node)) != "batch":
                    continue
                g = grads.pop(id(node), None)
                if g is None:
                    continue
                ctx = node._ctx
                wanted = [self._kind(t) == "batch" for t in ctx.inputs]
                for i, flag in enumerate(wanted):
                    ctx.needs_grad[i] = flag
                use = self._use_of.get(id(node))
                force = False
                if use is not None:
                    use.grad = g
                    force = use.rule.prepare(ctx, use.weights)
                if not any(wanted) and not force:
                    continue
                results = ctx.backward(g)
                for parent, parent_grad, flag in zip(ctx.inputs, results, wanted, strict=True):
                    if not flag or parent_grad is None:
                        continue
                    if parent_grad.shape != parent.data.shape:
                        parent_grad = unbroadcast(parent_grad, parent.data.shape)
                    key = id(parent)
                    # out of place: a backward may hand the same array to two inputs
                    grads[key] = parent_grad if key not in grads else grads[key] + parent_grad

    # ------------------------------------------------------------ ghost or materialized
    def _plan(self, order: list, materialize_all: bool) -> None:
        """Decide, per variable, between the ghost route and materialization."""
        uses_of: dict[int, int] = {}
        for node in order:
            kind = self._kinds.get(id(node))
            if kind is None:
                continue
            for t in node._ctx.inputs:
                if isinstance(t, Tensor) and t._ctx is None and id(t) in self._tracked:
                    uses_of[id(t)] = uses_of.get(id(t), 0) + 1
        self._ghost: list[tuple[_Use, list[int]]] = []
        self._materialize: list[tuple[_Use, list[int]]] = []
        for use in self._uses:
            if use.grad is None:
                continue  # its output does not reach the loss
            ghost, other = [], []
            for i in use.weights:
                tensor = use.ctx.inputs[i]
                single = tensor._ctx is None and uses_of.get(id(tensor)) == 1
                if single and i in use.rule.ghost and not materialize_all:
                    ghost.append(i)
                else:
                    other.append(i)
            if ghost:
                self._ghost.append((use, ghost))
            if other:
                self._materialize.append((use, other))

    def _materialized_per_variable(self) -> dict[int, xp.ndarray]:
        """Per-example gradients ``(batch, *shape)`` of every variable not on the ghost route."""
        pending: dict[int, xp.ndarray] = {}

        def add(tensor, value):
            key = id(tensor)
            pending[key] = value if key not in pending else pending[key] + value

        for use, indices in self._materialize:
            for i in indices:
                add(use.ctx.inputs[i], use.rule.materialize(use.ctx, use.grad, i, self.batch))
        with no_grad():
            for node in reversed(self._weight_nodes):
                grads = pending.pop(id(node), None)
                if grads is None:
                    continue
                parts = _batched_backward(node._ctx, grads, self.batch)
                for parent, part in zip(node._ctx.inputs, parts, strict=True):
                    if part is not None and self._kind(parent) == "weight":
                        add(parent, part)
        return pending

    # ------------------------------------------------------------ results
    def materialized(self) -> dict[int, xp.ndarray]:
        """Every variable's per-example gradients, ``{id(variable): (batch, *shape)}``."""
        out = self._materialized_per_variable()
        for use, indices in self._ghost:
            for i in indices:
                out[id(use.ctx.inputs[i])] = use.rule.materialize(use.ctx, use.grad, i, self.batch)
        return out

    def clipped_sums(self, l2_norm_clip: float) -> tuple[dict[int, xp.ndarray], xp.ndarray]:
        """Each example's gradient clipped to ``l2_norm_clip`` in total L2 norm, summed.

        Returns:
            ``({id(variable): summed clipped gradient}, per-example norms before clipping)``;
            variables the loss does not reach are absent.
        """
        squared = xp.zeros(self.batch)
        for use, indices in self._ghost:
            squared += use.rule.ghost_norms(use.ctx, use.grad, indices, self.batch)
        materialized = self._materialized_per_variable()
        for per_example in materialized.values():
            squared += _squared_norms(per_example)
        norms = xp.sqrt(squared)
        # Opacus's factor: min(1, C / (norm + 1e-6)); the 1e-6 keeps a zero gradient finite
        factors = xp.minimum(1.0, l2_norm_clip / (norms + 1e-6))
        sums: dict[int, xp.ndarray] = {}
        for use, indices in self._ghost:
            parts = use.rule.clipped_sum(use.ctx, use.grad, indices, factors, self.batch)
            for i, grad in parts.items():
                sums[id(use.ctx.inputs[i])] = grad
        for key, per_example in materialized.items():
            weights = factors.astype(per_example.dtype)
            flat = per_example.reshape(self.batch, -1)
            sums[key] = weights.dot(flat).reshape(per_example.shape[1:])
        return sums, norms


__all__ = ["PerExampleGradients", "RULES", "Rule", "per_example_sum"]
