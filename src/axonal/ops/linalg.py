"""``keras.ops.linalg``: linear algebra over the last two axes.

``inv``, ``solve``, ``det`` and ``norm`` are differentiable; the factorizations (``qr``,
``cholesky``, ``svd``, ``eig``, ``eigh``, ``lu_factor``) and ``solve_triangular`` give values only
and say so when asked for a gradient.
"""

from __future__ import annotations

import numpy as np

from axonal import primitives as P
from axonal.ops.numpy import norm
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


def cholesky(x) -> Tensor:
    """The lower Cholesky factor (values only)."""
    (a,) = _values_only("cholesky", x)
    return Tensor(np.linalg.cholesky(a))


def qr(x, mode: str = "reduced") -> tuple:
    """``(q, r)`` (values only)."""
    (a,) = _values_only("qr", x)
    q, r = np.linalg.qr(a, mode=mode)
    return Tensor(q), Tensor(r)


def svd(x, full_matrices: bool = True, compute_uv: bool = True):
    """``(u, s, vh)``, or ``s`` alone (values only)."""
    (a,) = _values_only("svd", x)
    if not compute_uv:
        return Tensor(np.linalg.svd(a, compute_uv=False))
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return Tensor(u), Tensor(s), Tensor(vh)


def eigh(x) -> tuple:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (values only)."""
    (a,) = _values_only("eigh", x)
    w, v = np.linalg.eigh(a)
    return Tensor(w), Tensor(v)


def eig(x) -> tuple:
    """Eigenvalues and eigenvectors of square matrices (values only)."""
    (a,) = _values_only("eig", x)
    w, v = np.linalg.eig(a)
    return Tensor(w), Tensor(v)


def solve_triangular(a, b, lower: bool = False) -> Tensor:
    """``x`` with ``a @ x = b`` for triangular ``a`` (values only)."""
    a, b = _values_only("solve_triangular", a, b)
    mask = np.tril(np.ones(a.shape[-2:], bool)) if lower else np.triu(np.ones(a.shape[-2:], bool))
    return Tensor(np.linalg.solve(np.where(mask, a, 0), b))


__all__ = [
    "cholesky",
    "det",
    "eig",
    "eigh",
    "inv",
    "norm",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]
