"""``keras.ops.linalg``: linear algebra over the last two axes.

``inv``, ``solve``, ``det``, ``norm``, ``cholesky``, ``cholesky_inverse``, ``eigh``, ``qr``
(reduced, tall), ``pinv``, ``lstsq`` and ``svd`` (its vectors with ``full_matrices=False``) are
differentiable; ``eig``, ``lu_factor``, ``matrix_rank``, ``solve_triangular`` and full-matrices
``svd`` vectors give values only and say so when asked for a gradient. ``jvp`` builds the
Jacobian by reverse passes.
"""

from __future__ import annotations

import builtins

import numpy as np

from axonal import functional as F
from axonal import primitives as P
from axonal.autograd import enable_grad, gradients
from axonal.ops.numpy import norm
from axonal.primitives.numpy_ops import Closure
from axonal.tensor import Tensor, apply, as_tensor


def _values_only(name: str, *inputs) -> list:
    arrays = []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            raise ValueError(
                f"ops.linalg.{name} has no gradient in axonal; apply it to values "
                "(ops.stop_gradient(x)) or use inv / solve / det, which are differentiable."
            )
        arrays.append(x.data if isinstance(x, Tensor) else np.asarray(x))
    return arrays


def inv(x) -> Tensor:
    """The inverse of square matrices (differentiable)."""
    return apply(P.Inverse, as_tensor(x))


def solve(a, b) -> Tensor:
    """``x`` with ``a @ x = b`` (differentiable in both)."""
    return apply(P.Solve, as_tensor(a), as_tensor(b))


def det(x) -> Tensor:
    """The determinant of square matrices (differentiable)."""
    return apply(P.Determinant, as_tensor(x))


def _t(a):
    return np.swapaxes(a, -1, -2)


def _values_only_grad(name: str):
    def vjp(g):
        raise ValueError(
            f"ops.linalg.{name} has no gradient in axonal; apply it to values "
            "(ops.stop_gradient(x)) or differentiate another output."
        )

    return vjp


def cholesky(x, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices, lower (``L Lᵀ = x``) or
    upper (differentiable)."""
    x = as_tensor(x)

    def compute(a):
        low = np.linalg.cholesky(a)

        def vjp(g):
            g = _t(g) if upper else g
            # Murray (2016): Φ(Lᵀ Ḡ) in the lower triangle with a halved diagonal, brought back
            # through L⁻ᵀ · L⁻¹ and symmetrized (the input is symmetric)
            inner = np.tril(_t(low) @ g)
            inner = inner - 0.5 * np.eye(a.shape[-1], dtype=a.dtype) * inner
            inverse = np.linalg.inv(low)
            grad = _t(inverse) @ inner @ inverse
            return (0.5 * (grad + _t(grad)),)

        return (_t(low) if upper else low), vjp

    return apply(Closure, x, compute=compute)


def cholesky_inverse(x, upper: bool = False) -> Tensor:
    """The inverse of ``L Lᵀ`` (``Uᵀ U`` with ``upper``) from its Cholesky factor
    (differentiable)."""
    factor = as_tensor(x)
    factor_t = F.transpose(factor, (*range(factor.ndim - 2), factor.ndim - 1, factor.ndim - 2))
    product = F.matmul(factor_t, factor) if upper else F.matmul(factor, factor_t)
    return inv(product)


def qr(x, mode: str = "reduced") -> tuple:
    """``(q, r)`` with ``q`` orthonormal and ``r`` upper triangular; differentiable for
    ``mode="reduced"`` with as many rows as columns or more."""
    x = as_tensor(x)
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}.")
    rows, cols = x.shape[-2:]
    differentiable = mode == "reduced" and rows >= cols
    q_values, r_values = np.linalg.qr(x.data, mode=mode)

    def grad_a(gq, gr):
        # the reverse-mode rule of Seeger et al. / TensorFlow's QrGrad (reduced, m >= n)
        q, r = q_values, r_values
        qdq = _t(q) @ gq
        rdr = r @ _t(gr)
        lower = np.tril(qdq - _t(qdq) + rdr - _t(rdr))
        first = q @ (gr + _solve_upper_right(lower, r))
        second = _solve_upper_right(gq - q @ qdq, r)
        return first + second

    def make(which):
        def compute(a):
            if not differentiable:
                return (q_values if which == 0 else r_values), _values_only_grad("qr")

            def vjp(g):
                zero_q, zero_r = np.zeros_like(q_values), np.zeros_like(r_values)
                return (grad_a(g, zero_r) if which == 0 else grad_a(zero_q, g),)

            return (q_values if which == 0 else r_values), vjp

        return compute

    return apply(Closure, x, compute=make(0)), apply(Closure, x, compute=make(1))


def _solve_upper_right(b, r):
    """``b @ r⁻ᵀ`` for upper-triangular ``r``."""
    return _t(np.linalg.solve(r, _t(b)))


def svd(x, full_matrices: bool = True, compute_uv: bool = True):
    """``(u, s, vh)``, or ``s`` alone. The singular values are differentiable; so are ``u`` and
    ``vh`` with ``full_matrices=False`` and distinct nonzero singular values (PyTorch's rule)."""
    x = as_tensor(x)
    u, s, vh = np.linalg.svd(x.data, full_matrices=False)

    def grad_a(gu, gs, gvh):
        # Townsend / PyTorch's svd_backward for the reduced factors
        rows, cols = u.shape[-2], vh.shape[-1]
        k = s.shape[-1]
        squares = s * s
        gap = squares[..., None, :] - squares[..., :, None]
        gap = np.where(np.eye(k, dtype=bool), 1.0, gap)
        inner = np.zeros(u.shape[:-2] + (k, k), dtype=u.dtype)
        if gu is not None:
            uhgu = _t(u) @ gu
            inner = inner + ((uhgu - _t(uhgu)) / gap) * s[..., None, :]
        if gvh is not None:
            gv = _t(gvh)
            vhgv = vh @ gv
            inner = inner + s[..., :, None] * ((vhgv - _t(vhgv)) / gap)
        if gs is not None:
            inner = inner + gs[..., None, :] * np.eye(k, dtype=u.dtype)
        if rows > k and gu is not None:
            scaled = gu / s[..., None, :]
            return (u @ inner + scaled - u @ (_t(u) @ scaled)) @ vh
        if cols > k and gvh is not None:
            scaled = _t(gvh) / s[..., None, :]
            return u @ (inner @ vh + _t(scaled) - (_t(scaled) @ _t(vh)) @ vh)
        return u @ inner @ vh

    values = apply(Closure, x, compute=lambda a: (s, lambda g: (grad_a(None, g, None),)))
    if not compute_uv:
        return values
    if full_matrices:
        full_u, _, full_vh = np.linalg.svd(x.data, full_matrices=True)
        u_t = apply(Closure, x, compute=lambda a: (full_u, _values_only_grad("svd's u")))
        vh_t = apply(Closure, x, compute=lambda a: (full_vh, _values_only_grad("svd's vh")))
        return u_t, values, vh_t
    u_t = apply(Closure, x, compute=lambda a: (u, lambda g: (grad_a(g, None, None),)))
    vh_t = apply(Closure, x, compute=lambda a: (vh, lambda g: (grad_a(None, None, g),)))
    return u_t, values, vh_t


def eigh(x) -> tuple:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (differentiable for
    distinct eigenvalues)."""
    x = as_tensor(x)
    w, v = np.linalg.eigh(x.data)

    def values(a):
        return w, lambda g: ((v * g[..., None, :]) @ _t(v),)

    def vectors(a):
        def vjp(g):
            # V (F ∘ Vᵀ Ḡ) Vᵀ with F_ij = 1 / (w_j - w_i) off the diagonal, symmetrized
            gap = w[..., None, :] - w[..., :, None]
            off = ~np.eye(w.shape[-1], dtype=bool)
            factor = np.where(off, 1.0 / np.where(off, gap, 1.0), 0.0)
            grad = v @ (factor * (_t(v) @ g)) @ _t(v)
            return (0.5 * (grad + _t(grad)),)

        return v, vjp

    return apply(Closure, x, compute=values), apply(Closure, x, compute=vectors)


def eig(x) -> tuple:
    """Eigenvalues and eigenvectors of square matrices (values only)."""
    (a,) = _values_only("eig", x)
    w, v = np.linalg.eig(a)
    return Tensor(w), Tensor(v)


def pinv(x, rcond=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse (singular values below ``rcond`` times the largest
    count as zero); differentiable where the rank does not change."""
    x = as_tensor(x)
    cutoff = 1e-15 if rcond is None else rcond

    def compute(a):
        p = np.linalg.pinv(a, rcond=cutoff).astype(a.dtype)

        def vjp(g):
            # Golub & Pereyra: dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P, transposed
            eye_m = np.eye(a.shape[-2], dtype=a.dtype)
            eye_n = np.eye(a.shape[-1], dtype=a.dtype)
            grad = -_t(p) @ g @ _t(p)
            grad = grad + (eye_m - a @ p) @ _t(g) @ p @ _t(p)
            grad = grad + _t(p) @ p @ _t(g) @ (eye_n - p @ a)
            return (grad,)

        return p, vjp

    return apply(Closure, x, compute=compute)


def lstsq(a, b, rcond=None) -> Tensor:
    """The least-squares solution ``x`` of ``a @ x = b`` (``pinv(a) @ b``, differentiable in
    both while ``a``'s rank holds)."""
    return F.matmul(pinv(a, rcond), as_tensor(b))


def matrix_rank(x, tol=None) -> Tensor:
    """The number of singular values above ``tol`` (default: the largest times
    ``max(M, N)`` times the dtype's epsilon), as int32."""
    (a,) = _values_only("matrix_rank", x) if not isinstance(x, Tensor) else (x.data,)
    return Tensor(np.asarray(np.linalg.matrix_rank(a, tol=tol), dtype=np.int32))


def lu_factor(x) -> tuple:
    """``(lu, pivots)``: the packed LU factors of partial pivoting (unit lower triangle below
    the diagonal, upper on and above it) and the 0-based row swap of each step (values)."""
    (a,) = _values_only("lu_factor", x)
    lu = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64, copy=True)
    size = lu.shape[-1]
    pivots = np.zeros((*lu.shape[:-2], size), dtype=np.int32)
    for index in np.ndindex(*lu.shape[:-2]):
        m = lu[index]
        for k in range(size):
            p = k + int(np.argmax(np.abs(m[k:, k])))
            pivots[index + (k,)] = p
            if p != k:
                m[[k, p]] = m[[p, k]]
            if m[k, k] != 0:
                m[k + 1 :, k] /= m[k, k]
                m[k + 1 :, k + 1 :] -= np.outer(m[k + 1 :, k], m[k, k + 1 :])
    return Tensor(lu), Tensor(pivots)


def jvp(fun, primals, tangents, has_aux: bool = False) -> tuple:
    """Forward-mode product ``J · tangents`` of ``fun`` at ``primals``, as ``torch.func.jvp``:
    ``(outputs, output_tangents)`` (``(..., aux)`` with ``has_aux``).

    axonal differentiates in reverse mode only, so the Jacobian is built one output entry at a
    time by reverse passes (exact, and costs one backward pass per output entry: meant for small
    outputs).
    """
    primals = tuple(primals) if isinstance(primals, (list, tuple)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (list, tuple)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError("jvp: primals and tangents must have the same structure.")
    inputs = [Tensor(as_tensor(p).data, requires_grad=True) for p in primals]
    with enable_grad():
        result = fun(*inputs)
    aux = None
    if has_aux:
        result, aux = result
    several = isinstance(result, (list, tuple))
    outputs = list(result) if several else [result]
    directions = [np.asarray(getattr(t, "data", t), dtype=i.data.dtype) for t, i in zip(
        tangents, inputs, strict=True)]  # fmt: skip
    products = []
    for out in outputs:
        out = as_tensor(out)
        product = np.zeros(out.shape, dtype=out.data.dtype)
        if out.requires_grad:
            for position in np.ndindex(*out.shape):
                seed = np.zeros(out.shape, dtype=out.data.dtype)
                seed[position] = 1
                grads = gradients([out], [seed], inputs, retain_graph=True)
                product[position] = builtins.sum(
                    float(np.sum(g * d))
                    for g, d in zip(grads, directions, strict=True)
                    if g is not None
                )
        products.append(Tensor(product))
    values = [Tensor(as_tensor(o).data) for o in outputs]
    packed = (tuple(values), tuple(products)) if several else (values[0], products[0])
    return (*packed, aux) if has_aux else packed


def solve_triangular(a, b, lower: bool = False) -> Tensor:
    """``x`` with ``a @ x = b`` for triangular ``a`` (values only)."""
    a, b = _values_only("solve_triangular", a, b)
    mask = np.tril(np.ones(a.shape[-2:], bool)) if lower else np.triu(np.ones(a.shape[-2:], bool))
    return Tensor(np.linalg.solve(np.where(mask, a, 0), b))


__all__ = [
    "cholesky",
    "cholesky_inverse",
    "det",
    "eig",
    "eigh",
    "inv",
    "jvp",
    "lstsq",
    "lu_factor",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
