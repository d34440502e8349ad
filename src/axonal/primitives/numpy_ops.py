"""NumPy-style primitives behind ``keras.ops``: cumulative sums, gathers along an axis and
two-operand ``einsum``, each with its backward."""

from __future__ import annotations

from axonal.autograd import Function
from axonal.backend import xp


class CumSum(Function):
    """``cumsum(a, axis)``; the gradient is the reversed cumulative sum of ``g``."""

    def forward(self, a, axis=None):
        self.shape = a.shape
        self.axis = axis
        return xp.cumsum(a, axis=axis)

    def backward(self, g):
        axis = self.axis
        if axis is None:
            return (xp.flip(xp.cumsum(xp.flip(g)))[...].reshape(self.shape),)
        return (xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis),)


class TakeAlongAxis(Function):
    """``take_along_axis(a, indices, axis)``; the gradient adds ``g`` back where it came from
    (repeated indices accumulate)."""

    def forward(self, a, indices, axis=-1):
        self.shape, self.dtype = a.shape, a.dtype
        self.indices = indices
        self.axis = axis % a.ndim
        return xp.take_along_axis(a, indices, axis=axis)

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=self.dtype)
        index = list(xp.indices(self.indices.shape, sparse=True))
        index[self.axis] = self.indices
        xp.add.at(out, tuple(index), g)
        return out, None


class Einsum(Function):
    """``einsum(subscripts, a, b)`` with explicit output subscripts and no index repeated
    within an operand; each operand's gradient is another einsum of ``g`` and the other one."""

    def forward(self, a, b, operands=(), output=""):
        self.a, self.b, self.operands, self.output = a, b, operands, output
        return xp.einsum(f"{operands[0]},{operands[1]}->{output}", a, b)

    def backward(self, g):
        (sa, sb), out = self.operands, self.output
        ga = gb = None
        if self.needs_grad[0]:
            ga = _reduced_einsum(out, sb, sa, g, self.b, self.a.shape)
        if self.needs_grad[1]:
            gb = _reduced_einsum(out, sa, sb, g, self.a, self.b.shape)
        return ga, gb


def _reduced_einsum(out: str, other: str, target: str, g, other_array, shape):
    """``d out / d target`` contracted with ``g``: indices of ``target`` found in neither
    ``out`` nor ``other`` were summed away in the forward pass, so they come back broadcast."""
    present = set(out) | set(other)
    kept = "".join(c for c in target if c in present)
    grad = xp.einsum(f"{out},{other}->{kept}", g, other_array)
    if kept == target:
        return grad
    # an index summed within the target alone: its gradient is the same along that axis
    expanded = grad
    for position, c in enumerate(target):
        if c not in present:
            expanded = xp.expand_dims(expanded, position)
    return xp.broadcast_to(expanded, shape).copy()


class Inverse(Function):
    """``inv(a)`` over the last two axes; the gradient is ``-A⁻ᵀ g A⁻ᵀ``."""

    def forward(self, a):
        self.out = xp.linalg.inv(a)
        return self.out

    def backward(self, g):
        inverse_t = xp.swapaxes(self.out, -1, -2)
        return (-(inverse_t @ g @ inverse_t),)


class Solve(Function):
    """``solve(a, b)`` (``x`` with ``a x = b``); gradients ``a⁻ᵀ g`` for ``b`` and
    ``-(a⁻ᵀ g) xᵀ`` for ``a``."""

    def forward(self, a, b):
        self.a = a
        self.vector = b.ndim == a.ndim - 1
        self.x = xp.linalg.solve(a, b[..., None] if self.vector else b)
        return self.x[..., 0] if self.vector else self.x

    def backward(self, g):
        g = g[..., None] if self.vector else g
        gb = xp.linalg.solve(xp.swapaxes(self.a, -1, -2), g)
        ga = -(gb @ xp.swapaxes(self.x, -1, -2))
        return ga, (gb[..., 0] if self.vector else gb)


class Determinant(Function):
    """``det(a)``; the gradient is ``g · det(a) · A⁻ᵀ``."""

    def forward(self, a):
        self.a = a
        self.out = xp.linalg.det(a)
        return self.out

    def backward(self, g):
        inverse_t = xp.swapaxes(xp.linalg.inv(self.a), -1, -2)
        return ((g * self.out)[..., None, None] * inverse_t,)


class Closure(Function):
    """An op given as a NumPy function with its own vector-Jacobian product.

    ``compute(*arrays)`` returns ``(out, vjp)``; ``vjp(g)`` returns one gradient array (or None)
    per input. Ops whose backward is easiest written next to their forward on arrays (CTC's
    forward-backward recursion, segment reductions, factorization gradients, a user's
    ``custom_gradient``) use it instead of a class of their own each.
    """

    def forward(self, *arrays, compute=None):
        out, self.vjp = compute(*arrays)
        return out

    def backward(self, g):
        grads = self.vjp(g)
        return tuple(grads) if isinstance(grads, (list, tuple)) else (grads,)
