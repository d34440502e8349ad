"""The one module that names the array library, the default float type and the random source.

Everything else reaches NumPy through ``backend.xp`` so another array library with the same API
(CuPy) can slot in later without touching the engine.
"""

from __future__ import annotations

import contextlib
import random as _py_random
from collections.abc import Iterator

import numpy

xp = numpy

_FLOATX = "float32"
_EPSILON = 1e-7
# made on first use: numpy.random (with secrets, hashlib and hmac) costs ~10 ms of every start-up
_rng: numpy.random.Generator | None = None


def floatx() -> str:
    """Return the default float type name (``'float32'`` unless changed by ``set_floatx``)."""
    return _FLOATX


# the float types axonal computes in: no half precision (NumPy has no fast float16 matmul, and
# Keras's mixed precision keeps float32 weights anyway); integer types are for indices
FLOAT_TYPES = ("float32", "float64")


def _mixed_precision_error(name: str, what: str) -> ValueError:
    return ValueError(
        f"{what} {name!r} is a Keras mixed-precision policy (keras.mixed_precision, computing "
        f"in float16 or bfloat16); axonal has no mixed precision and computes in one float "
        f"type, {' or '.join(FLOAT_TYPES)}: use 'float32' (Keras's default) instead."
    )


def set_floatx(value: str) -> None:
    """Set the default float type for new layers and data: ``'float32'`` or ``'float64'``.

    Raises:
        ValueError: any other value (``'float16'``, a mixed-precision policy name...).
    """
    global _FLOATX
    if isinstance(value, str) and value.startswith("mixed_"):
        raise _mixed_precision_error(value, "floatx")
    if value not in FLOAT_TYPES:
        raise ValueError(
            f"Unsupported floatx {value!r}: axonal computes in {' or '.join(FLOAT_TYPES)} only "
            "(no float16 or bfloat16)."
        )
    _FLOATX = value


def epsilon() -> float:
    """Return the fuzz factor used to keep probabilities away from 0 and 1 (Keras: 1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the fuzz factor returned by ``epsilon()``."""
    global _EPSILON
    _EPSILON = float(value)


# what clear_session resets, registered by the modules that keep session state (layer names)
_SESSION_RESETS: list = []


def on_clear_session(reset) -> None:
    """Register ``reset()`` to run on ``clear_session`` (the backend imports nothing above it)."""
    _SESSION_RESETS.append(reset)


def clear_session() -> None:
    """Forget session state, as Keras's ``keras.backend.clear_session``: automatic layer names
    start again from ``dense``, ``dense_1``…

    Example:
        >>> clear_session()
    """
    for reset in _SESSION_RESETS:
        reset()


def rng() -> numpy.random.Generator:
    """Return the library-wide random generator used for initialisation, shuffling and dropout."""
    global _rng
    if _rng is None:
        _rng = numpy.random.default_rng()
    return _rng


def set_random_seed(seed: int) -> None:
    """Seed every random source axonal uses (its own generator, NumPy's and Python's).

    Two runs in fresh processes that call this with the same seed produce bit-identical weights.

    Example:
        >>> set_random_seed(42)
    """
    global _rng
    if not isinstance(seed, (int, numpy.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    _rng = numpy.random.default_rng(int(seed))
    numpy.random.seed(int(seed) % (2**32))
    _py_random.seed(int(seed))


@contextlib.contextmanager
def use_generator(generator: numpy.random.Generator) -> Iterator[None]:
    """Make ``generator`` axonal's random source for the duration of a ``with`` block.

    Gives one computation (an estimator's ``random_state``) reproducible draws without reseeding
    the library-wide generator other code relies on; the previous one is restored afterwards.

    Example:
        >>> with use_generator(numpy.random.default_rng(0)):
        ...     model.fit(x, y)  # doctest: +SKIP
    """
    global _rng
    saved = _rng
    _rng = generator
    try:
        yield
    finally:
        _rng = saved


def make_rng(seed: int | None) -> numpy.random.Generator:
    """Return a generator: a private one seeded with ``seed``, or the library-wide one for None."""
    if seed is None:
        return rng()
    return numpy.random.default_rng(int(seed))


_HUGE_PAGE = 2 * 1024 * 1024
# NumPy asks the kernel for transparent huge pages only on allocations of at least this size
_NUMPY_HUGE_PAGE_MIN = 4 * 1024 * 1024


def empty_flat(size: int, dtype, zero: bool = False) -> numpy.ndarray:
    """A 1-D array of ``size`` elements for a buffer every training step sweeps end to end.

    Packed weights, their gradients and the optimizer's state are read and written whole at
    every step, after GEMMs have evicted them from cache. From 2 MiB up, the array starts on a
    huge-page boundary inside an allocation big enough for NumPy to ask the kernel for
    transparent huge pages, so the sweep misses the TLB far less often (Adam's update of the
    784-512-256-10 MLP: about 15% faster). Smaller buffers are plain ``empty`` arrays.

    Example:
        >>> empty_flat(10, "float32", zero=True)
        array([0., 0., 0., 0., 0., 0., 0., 0., 0., 0.], dtype=float32)
    """
    dtype = xp.dtype(dtype)
    if size * dtype.itemsize < _HUGE_PAGE or _HUGE_PAGE % dtype.itemsize:
        return xp.zeros(size, dtype=dtype) if zero else xp.empty(size, dtype=dtype)
    pad = _HUGE_PAGE // dtype.itemsize
    whole = xp.empty(max(size + pad, _NUMPY_HUGE_PAGE_MIN // dtype.itemsize), dtype=dtype)
    start = (-whole.__array_interface__["data"][0] % _HUGE_PAGE) // dtype.itemsize
    array = whole[start : start + size]
    if zero:
        array.fill(0)
    return array


def is_string_dtype(dtype) -> bool:
    """Whether ``dtype`` names text: Keras's ``"string"``, ``str``, or a NumPy ``str_``/``bytes_``
    dtype. String tensors hold NumPy arrays of ``str`` and only preprocessing layers read them."""
    if isinstance(dtype, str):
        return dtype == "string"
    if dtype is str or dtype is bytes:
        return True
    kind = getattr(dtype, "kind", None)
    if kind is None and isinstance(dtype, type) and issubclass(dtype, numpy.generic):
        kind = numpy.dtype(dtype).kind
    return kind in ("U", "S")


def numpy_dtype(name):
    """The NumPy dtype of a dtype name: ``"string"`` is NumPy's ``str_`` (kind ``"U"``)."""
    if is_string_dtype(name):
        return numpy.dtype(str)
    return numpy.dtype(name)


def standardize_dtype(dtype) -> str:
    """Return a dtype's canonical name (``'float32'``), accepting names, NumPy dtypes and None.

    Layers, weights, initializers and metrics take their dtype through here, so this is where
    an unsupported one is refused: floats must be float32 or float64; integer and bool types
    pass (indices, counters); ``"string"`` (also ``str``) names text, for the inputs of the
    preprocessing layers.

    Raises:
        ValueError: float16 and other float types (``'bfloat16'``, known to NumPy or not),
            complex types and Keras mixed-precision policy names (``'mixed_float16'``).
    """
    if dtype is None:
        return _FLOATX
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        raise _mixed_precision_error(dtype, "dtype")
    if is_string_dtype(dtype):
        return "string"
    try:
        name = numpy.dtype(dtype).name
    except TypeError:
        raise ValueError(
            f"Unknown dtype {dtype!r}: axonal computes in {' or '.join(FLOAT_TYPES)} only "
            "(integer types for indices)."
        ) from None
    # kind V: the ml_dtypes types (bfloat16, float8_*) that importing Keras or JAX registers
    if numpy.dtype(name).kind in "fcV" and name not in FLOAT_TYPES:
        raise ValueError(
            f"Unsupported dtype {name!r}: axonal computes in {' or '.join(FLOAT_TYPES)} only "
            "(no float16, bfloat16 or complex types)."
        )
    return name


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
