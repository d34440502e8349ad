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


# ---------------------------------------------------------------- keras.ops.numpy completion
# Elementwise functions share one backward: ``g * derivative(a, out)``; each subclass names the
# forward ufunc and its derivative in terms of the input and the output it already computed.


class _Elementwise(Function):
    """``fn(a)`` elementwise; the gradient is ``g * self.derivative(a, out)``."""

    def forward(self, a):
        self.a = a
        self.out = self.fn(a)
        return self.out

    def backward(self, g):
        return (g * self.derivative(self.a, self.out),)


class Sin(_Elementwise):
    """``sin(a)``; derivative ``cos(a)``."""

    fn = staticmethod(xp.sin)

    def derivative(self, a, out):
        return xp.cos(a)


class Cos(_Elementwise):
    """``cos(a)``; derivative ``-sin(a)``."""

    fn = staticmethod(xp.cos)

    def derivative(self, a, out):
        return -xp.sin(a)


class Tan(_Elementwise):
    """``tan(a)``; derivative ``1 + tan²(a)``."""

    fn = staticmethod(xp.tan)

    def derivative(self, a, out):
        return 1 + out * out


class Arcsin(_Elementwise):
    """``arcsin(a)``; derivative ``1 / sqrt(1 - a²)``."""

    fn = staticmethod(xp.arcsin)

    def derivative(self, a, out):
        return 1 / xp.sqrt(1 - a * a)


class Arccos(_Elementwise):
    """``arccos(a)``; derivative ``-1 / sqrt(1 - a²)``."""

    fn = staticmethod(xp.arccos)

    def derivative(self, a, out):
        return -1 / xp.sqrt(1 - a * a)


class Arctan(_Elementwise):
    """``arctan(a)``; derivative ``1 / (1 + a²)``."""

    fn = staticmethod(xp.arctan)

    def derivative(self, a, out):
        return 1 / (1 + a * a)


class Sinh(_Elementwise):
    """``sinh(a)``; derivative ``cosh(a)``."""

    fn = staticmethod(xp.sinh)

    def derivative(self, a, out):
        return xp.cosh(a)


class Cosh(_Elementwise):
    """``cosh(a)``; derivative ``sinh(a)``."""

    fn = staticmethod(xp.cosh)

    def derivative(self, a, out):
        return xp.sinh(a)


class Arcsinh(_Elementwise):
    """``arcsinh(a)``; derivative ``1 / sqrt(a² + 1)``."""

    fn = staticmethod(xp.arcsinh)

    def derivative(self, a, out):
        return 1 / xp.sqrt(a * a + 1)


class Arccosh(_Elementwise):
    """``arccosh(a)``; derivative ``1 / sqrt(a² - 1)``."""

    fn = staticmethod(xp.arccosh)

    def derivative(self, a, out):
        return 1 / xp.sqrt(a * a - 1)


class Arctanh(_Elementwise):
    """``arctanh(a)``; derivative ``1 / (1 - a²)``."""

    fn = staticmethod(xp.arctanh)

    def derivative(self, a, out):
        return 1 / (1 - a * a)


class Expm1(_Elementwise):
    """``exp(a) - 1``, accurate near 0; derivative ``exp(a) = out + 1``."""

    fn = staticmethod(xp.expm1)

    def derivative(self, a, out):
        return out + 1


class Exp2(_Elementwise):
    """``2 ** a``; derivative ``ln 2 · 2 ** a``."""

    fn = staticmethod(xp.exp2)

    def derivative(self, a, out):
        return out * xp.log(xp.asarray(2.0, dtype=out.dtype))


class Cbrt(_Elementwise):
    """The real cube root; derivative ``1 / (3 out²)`` (infinite at 0, as in torch)."""

    fn = staticmethod(xp.cbrt)

    def derivative(self, a, out):
        with xp.errstate(divide="ignore"):
            return 1 / (3 * out * out)


def _bessel_i1(a):
    """The modified Bessel function I₁ (I₀'s derivative) by its power series
    ``Σ (a/2)^(2k+1) / (k! (k+1)!)``, summed until the terms stop mattering."""
    half = a.astype(xp.float64) / 2
    term = half.copy()
    total = half.copy()
    square = half * half
    for k in range(1, 500):
        term = term * square / (k * (k + 1))
        total = total + term
        if not xp.any(xp.abs(term) > 1e-17 * xp.abs(total)):
            break
    return total.astype(a.dtype)


class I0(_Elementwise):
    """The modified Bessel function ``I₀(a)``; derivative ``I₁(a)``."""

    fn = staticmethod(xp.i0)

    def forward(self, a):
        # np.i0 returns float64 for float32 input: keep the input's precision
        return super().forward(a).astype(a.dtype, copy=False)

    def derivative(self, a, out):
        return _bessel_i1(a)


class Arctan2(Function):
    """``arctan2(a, b)`` (the angle of the point ``(b, a)``); gradients ``b / r²`` and
    ``-a / r²``."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp.arctan2(a, b)

    def backward(self, g):
        r2 = self.a * self.a + self.b * self.b
        return g * self.b / r2, -g * self.a / r2


class Hypot(Function):
    """``sqrt(a² + b²)`` without overflow; gradients ``a / out`` and ``b / out``."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = xp.hypot(a, b)
        return self.out

    def backward(self, g):
        return g * self.a / self.out, g * self.b / self.out


class CumProd(Function):
    """``cumprod(a, axis)``; the gradient of entry ``i`` is ``Σ_{j≥i} g_j out_j / a_i``, computed
    position by position where ``a`` holds zeros (the division would be 0/0 there)."""

    def forward(self, a, axis=None):
        self.shape = a.shape
        self.axis = axis
        self.a = a.reshape(-1) if axis is None else a
        self.out = xp.cumprod(self.a, axis=0 if axis is None else axis)
        return self.out

    def backward(self, g):
        axis = 0 if self.axis is None else self.axis
        a = xp.moveaxis(self.a, axis, -1)
        out = xp.moveaxis(self.out, axis, -1)
        g = xp.moveaxis(g.reshape(self.out.shape), axis, -1)
        if xp.all(a != 0):
            tail = xp.flip(xp.cumsum(xp.flip(g * out, -1), axis=-1), -1)
            grad = tail / a
        else:
            grad = xp.zeros_like(a)
            length = a.shape[-1]
            before = xp.concatenate([xp.ones_like(a[..., :1]), out[..., :-1]], axis=-1)
            for i in range(length):
                # d out_j / d a_i = (prod of a before i) * (prod of a from i+1 to j), j >= i
                after = xp.cumprod(a[..., i + 1 :], axis=-1)
                partial = xp.concatenate([xp.ones_like(a[..., :1]), after], axis=-1)
                grad[..., i] = before[..., i] * xp.sum(g[..., i:] * partial, axis=-1)
        return (xp.moveaxis(grad, -1, axis).reshape(self.shape),)


class LogAbsDet(Function):
    """``log |det(a)|`` over the last two axes; the gradient is ``g · A⁻ᵀ``."""

    def forward(self, a):
        self.a = a
        return xp.linalg.slogdet(a)[1]

    def backward(self, g):
        inverse_t = xp.swapaxes(xp.linalg.inv(self.a), -1, -2)
        return (g[..., None, None] * inverse_t,)


class Copy(Function):
    """A copy of ``a`` (a new array); the gradient passes through."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return (g,)


class Fmod(Function):
    """``fmod(a, b)``: the remainder with the sign of ``a`` (C's ``fmod``); gradients ``g`` and
    ``-g · trunc(a / b)``, as in torch."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp.fmod(a, b)

    def backward(self, g):
        return g, -g * xp.trunc(self.a / self.b)


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
