"""Compiled optimizer updates: one pass over the weights instead of a dozen (optional, numba).

An Adam step in NumPy is twelve array passes (``m``, ``v``, the square root, the division, the
scaling and the subtraction each read and write whole arrays), and single-threaded NumPy cannot
fuse them. With numba installed (``pip install -e '.[fast]'``), the same operations run as one
compiled loop: on the 536k weights of an MLP 784-512-256-10 the update drops from about 0.7 ms
to about 0.16 ms, bounded by the square root itself.

The compiled loop performs the NumPy path's float operations, in the same order and precision,
with no fused multiply-add (numba's ``fastmath`` stays off), so its results are bit-identical:
whether numba is installed changes the speed of training, never its numbers.

numba is imported on the first update that uses it, never by ``import axonal``; compiled code is
cached on disk where numba can write (otherwise compiled once per process). ``jit_compile``
chooses per optimizer: ``"auto"`` (default) uses the kernels when numba is installed and an
update covers at least ``AUTO_MIN_SIZE`` values (below that, the one-time import and compile
cost would not pay back); ``True`` uses them at every size (and warns if numba is missing);
``False`` never does.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy

# Values per update from which "auto" compiles: an update of this size takes ~30 µs compiled
# against ~90 µs in NumPy, so the ~0.5 s of importing numba and loading the compiled code pays
# back within ~8,000 steps; smaller models would rarely train long enough.
AUTO_MIN_SIZE = 1 << 16

FLOAT_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))

_MISSING = (
    "jit_compile=True: numba is not installed, so axonal's updates run as NumPy passes (same "
    "results, slower on large models); pip install -e '.[fast]' in the axonal checkout (or "
    "pip install numba) to compile them."
)


def check_mode(jit_compile: Any) -> bool | str:
    """Validate a ``jit_compile`` setting: ``"auto"``, True or False.

    True without numba warns (once per call) and training runs on NumPy, with the same results:
    Keras programs pass ``jit_compile=True`` for XLA and should still run unchanged.

    Raises:
        ValueError: any other value.
    """
    if jit_compile is not True and jit_compile is not False and jit_compile != "auto":
        raise ValueError(f"jit_compile must be 'auto', True or False, got {jit_compile!r}.")
    if jit_compile is True and not available():
        warnings.warn(_MISSING, stacklevel=3)
    return jit_compile


def available() -> bool:
    """Whether the compiled kernels can run (numba imports); loads them on first call."""
    return bool(_load())


def prepare(dtype: Any = "float32") -> bool:
    """Import numba and compile (or load from its cache) the kernels for ``dtype`` now.

    Otherwise this happens on the first update that uses them (about 0.5 s with a warm cache):
    call it first to keep that out of a timed run. Returns whether the kernels are available.

    Example:
        >>> from axonal import kernels
        >>> kernels.prepare("float32")  # doctest: +SKIP
        True
    """
    compiled = _load()
    if not compiled:
        return False
    one = numpy.zeros(1, dtype=dtype)
    ones = tuple(one.dtype.type(1) for _ in range(4))
    compiled.adam(one.copy(), one, one.copy(), one.copy(), *ones)
    compiled.amsgrad(one.copy(), one, one.copy(), one.copy(), one.copy(), *ones)
    return True


def adam(
    jit_compile: bool | str,
    data: Any,
    grad: Any,
    m: Any,
    v: Any,
    v_hat: Any,
    coefficients: tuple[float, float, float, float],
) -> bool:
    """Run Adam's update compiled, if ``jit_compile`` and the arrays allow; return whether it did.

    ``coefficients`` are ``(1 - beta_1, 1 - beta_2, alpha, epsilon)``; ``v_hat`` is the
    AMSGrad maximum or None. False means nothing was touched and the caller runs NumPy.
    """
    if jit_compile is False or (jit_compile == "auto" and data.size < AUTO_MIN_SIZE):
        return False
    compiled = _load()
    if not compiled:
        return False
    arrays = (data, grad, m, v) if v_hat is None else (data, grad, m, v, v_hat)
    flats = _flat_views(arrays)
    if flats is None:
        return False
    scalar = data.dtype.type
    # the NumPy path casts each Python float to the array's dtype before using it; so do we
    scalars = tuple(scalar(c) for c in coefficients)
    if v_hat is None:
        compiled.adam(*flats, *scalars)
    else:
        compiled.amsgrad(*flats, *scalars)
    return True


def usable(*arrays: Any) -> bool:
    """Whether ``arrays`` are C-contiguous float32/float64 NumPy arrays of one dtype: what the
    compiled loops take."""
    first = arrays[0]
    for array in arrays:
        if (
            type(array) is not numpy.ndarray
            or array.dtype != first.dtype
            or array.dtype not in FLOAT_DTYPES
            or not array.flags.c_contiguous
        ):
            return False
    return True


def _flat_views(arrays: tuple) -> tuple | None:
    """1-D views of same-size, same-dtype, C-contiguous float NumPy arrays; else None."""
    if not usable(*arrays) or any(array.size != arrays[0].size for array in arrays):
        return None
    return tuple(array.reshape(-1) for array in arrays)


# ---------------------------------------------------------------- the kernels, as plain Python
# Each line mirrors one NumPy pass of the optimizer's fallback path, in its order.


def _adam_loop(w, g, m, v, c1, c2, alpha, eps):  # pragma: no cover - runs compiled
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        m[i] = mi
        v[i] = vi
        w[i] -= mi / (numpy.sqrt(vi) + eps) * alpha


def _amsgrad_loop(w, g, m, v, v_hat, c1, c2, alpha, eps):  # pragma: no cover - runs compiled
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        vh = numpy.maximum(v_hat[i], vi)
        m[i] = mi
        v[i] = vi
        v_hat[i] = vh
        w[i] -= mi / (numpy.sqrt(vh) + eps) * alpha


def reassociating(function: Any) -> Any:
    """Mark a loop whose sums the compiler may reorder and fuse into multiply-adds.

    Only for loops whose results are promised within rounding of the NumPy path, not equal to
    it: reordering is what lets LLVM vectorise a reduction (several partial sums). Infinities
    and NaN keep their IEEE meaning.
    """
    function.fastmath = frozenset({"reassoc", "contract"})
    return function


def jit(numba: Any, function: Any) -> Any:
    """``function`` compiled by ``numba`` in nopython mode, cached on disk where possible."""
    # error_model="numpy": no Python-style ZeroDivisionError check, which would keep LLVM from
    # vectorising the loop (and the NumPy path divides by zero the IEEE way too)
    options = {"nogil": True, "error_model": "numpy"}
    fastmath = getattr(function, "fastmath", None)
    if fastmath:
        options["fastmath"] = set(fastmath)
    try:
        return numba.njit(cache=True, **options)(function)
    except Exception:
        # no writable cache location for this file: compile once per process instead
        return numba.njit(**options)(function)


# None: not tried yet; False: numba is missing; else the module
_numba: Any = None


def numba_module() -> Any:
    """The numba module, imported on first call; None when it is missing or broken."""
    global _numba
    if _numba is None:
        try:
            import numba
        except Exception:  # missing, or an install that does not match this NumPy
            _numba = False
        else:
            _numba = numba
    return _numba or None


class LoopSet:
    """Plain-Python loops compiled by numba on first use, as one namespace of dispatchers.

    ``get(enabled)`` answers None when ``enabled`` is False (callers then run NumPy) or numba
    is missing; the compiled namespace otherwise, built once.
    """

    def __init__(self, **functions: Any):
        self._functions = functions
        self._compiled: Any = None  # None: not tried yet; False: numba is missing

    def get(self, enabled: bool | None) -> Any:
        if enabled is False:
            return None
        if self._compiled is None:
            numba = numba_module()
            self._compiled = False
            if numba is not None:
                names = {name: jit(numba, loop) for name, loop in self._functions.items()}
                self._compiled = SimpleNamespace(**names)
        return self._compiled or None


_LOOPS = LoopSet(adam=_adam_loop, amsgrad=_amsgrad_loop)


def _load() -> Any:
    """The compiled Adam and AMSGrad updates, or None without numba."""
    return _LOOPS.get(None)
