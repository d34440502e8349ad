"""Weight initializers with Keras 3 names, defaults and formulas, producing plain arrays.

An initializer is a callable ``init(shape, dtype=None) -> array``. Random initializers draw from
the library-wide generator (``backend.rng()``, reseeded by ``set_random_seed``) unless given an
integer ``seed``, in which case they own a private generator: two initializers built with the
same seed produce the same sequence of arrays, and successive calls on one initializer differ.

Example:
    >>> init = get("glorot_uniform")
    >>> init((3, 4)).shape
    (3, 4)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from axonal import backend, registry

_KIND = "initializer"

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes a truncated
# draw have the requested standard deviation (the constant Keras uses).
_TRUNCATED_STDDEV_FACTOR = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

ShapeLike = int | Sequence[int]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _standardize_shape(shape: ShapeLike, owner: str) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints, or raise naming the initializer."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{owner}: expected shape to be a tuple of non-negative integers, got {shape!r}."
        ) from None
    for dim in dims:
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or dim < 0:
            raise ValueError(
                f"{owner}: expected shape to be a tuple of non-negative integers, got {shape!r}."
            )
    return tuple(int(dim) for dim in dims)


def _float_dtype(dtype: Any, owner: str) -> str:
    """Return the canonical name of a floating dtype (floatx for None), or raise."""
    name = backend.standardize_dtype(dtype)
    if not backend.xp.issubdtype(backend.xp.dtype(name), backend.xp.floating):
        raise ValueError(f"{owner}: expected a floating dtype, got dtype={name!r}.")
    return name


def _check_real(value: Any, argument: str, owner: str) -> float:
    """Return ``value`` as a finite float, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {argument} to be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: expected {argument} to be finite, got {value!r}.")
    return value


def _check_seed(seed: Any, owner: str) -> int | None:
    """Return ``seed`` as an int or None, or raise."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"{owner}: expected seed to be a non-negative integer or None, got {seed!r}."
        )
    return int(seed)


def _truncated_standard_normal(generator, size: int):
    """Draw ``size`` unit normals, redrawing every value beyond 2 standard deviations."""
    values = generator.standard_normal(size)
    outside = backend.xp.abs(values) > 2.0
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = backend.xp.abs(values) > 2.0
    return values


def compute_fans(shape: ShapeLike) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a weight shape, as Keras computes them.

    Rank 0 gives ``(1, 1)``, rank 1 ``(n, n)``, rank 2 ``(rows, cols)``; higher ranks are taken
    as convolution kernels ``(*spatial, in, out)``, each fan multiplied by the receptive field
    size (the product of the spatial dimensions).

    Example:
        >>> compute_fans((3, 3, 16, 32))
        (144, 288)
    """
    shape = _standardize_shape(shape, "compute_fans")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


class Initializer:
    """Base class: a callable returning an array of a given shape and dtype.

    Subclasses implement ``__call__`` and, when they take arguments, ``get_config``.
    """

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return a new array of ``shape`` with ``dtype`` (default ``backend.floatx()``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement __call__.")

    def get_config(self) -> dict:
        """Return the constructor arguments as a dict of JSON values."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        """Rebuild an initializer from ``get_config``'s output."""
        return cls(**config)

    def clone(self) -> Initializer:
        """Return a fresh initializer with the same config (a seeded one restarts its stream)."""
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class RandomInitializer(Initializer):
    """Base class for initializers that draw random numbers.

    Args:
        seed: None to draw from the library-wide generator, or a non-negative int for a
            private, reproducible generator owned by this initializer.
    """

    def __init__(self, seed: int | None = None):
        self.seed = _check_seed(seed, type(self).__name__)
        # None means "look up backend.rng() at call time", so set_random_seed takes effect even
        # for initializers created before it was called.
        self._generator = None if self.seed is None else backend.make_rng(self.seed)

    def _rng(self):
        """Return the generator to draw from for this call."""
        if self._generator is None:
            return backend.rng()
        return self._generator

    def get_config(self) -> dict:
        """Return ``{'seed': seed}``."""
        return {"seed": self.seed}


# --------------------------------------------------------------------------------------------
# Constant initializers
# --------------------------------------------------------------------------------------------


@registry.register(_KIND, "Zeros", "zeros", "zero")
class Zeros(Initializer):
    """Initializer that returns an array of zeros.

    Example:
        >>> Zeros()((2, 2)).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return zeros of ``shape`` and ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "Zeros")
        return backend.xp.zeros(shape, dtype=backend.standardize_dtype(dtype))


@registry.register(_KIND, "Ones", "ones", "one")
class Ones(Initializer):
    """Initializer that returns an array of ones.

    Example:
        >>> Ones()((2, 2)).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return ones of ``shape`` and ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "Ones")
        return backend.xp.ones(shape, dtype=backend.standardize_dtype(dtype))


@registry.register(_KIND, "Constant", "constant")
class Constant(Initializer):
    """Initializer that fills the array with one scalar value.

    Args:
        value: a real scalar.

    Example:
        >>> Constant(0.5)((2,)).tolist()
        [0.5, 0.5]
    """

    def __init__(self, value: float = 0.0):
        if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
            value = value.item()  # a NumPy scalar or 0-d array becomes a JSON-friendly number
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Constant: expected value to be a real scalar, got {value!r}.")
        self.value = value

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return an array of ``shape`` and ``dtype`` (default floatx) filled with ``value``."""
        shape = _standardize_shape(shape, "Constant")
        return backend.xp.full(shape, self.value, dtype=backend.standardize_dtype(dtype))

    def get_config(self) -> dict:
        """Return ``{'value': value}``."""
        return {"value": self.value}


@registry.register(_KIND, "Identity", "identity")
class Identity(Initializer):
    """Initializer that returns ``gain`` times the identity matrix (2-D shapes only).

    For a non-square shape the ones run along the main diagonal, as ``eye(rows, cols)``.

    Args:
        gain: multiplicative factor.

    Example:
        >>> Identity(2.0)((2, 2)).tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """

    def __init__(self, gain: float = 1.0):
        self.gain = _check_real(gain, "gain", "Identity")

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return ``gain * eye(rows, cols)`` with ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(
                f"Identity: expected a 2-D shape (rows, cols), got shape={shape} "
                f"of rank {len(shape)}."
            )
        dtype = backend.standardize_dtype(dtype)
        return (self.gain * backend.xp.eye(shape[0], shape[1])).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'gain': gain}``."""
        return {"gain": self.gain}


# --------------------------------------------------------------------------------------------
# Random initializers
# --------------------------------------------------------------------------------------------


@registry.register(_KIND, "RandomNormal", "random_normal", "normal")
class RandomNormal(RandomInitializer):
    """Initializer drawing from a normal distribution ``N(mean, stddev**2)``.

    Args:
        mean: mean of the distribution.
        stddev: standard deviation (non-negative).
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> RandomNormal(stddev=1.0, seed=0)((2, 2)).shape
        (2, 2)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _check_real(mean, "mean", "RandomNormal")
        self.stddev = _check_real(stddev, "stddev", "RandomNormal")
        if self.stddev < 0:
            raise ValueError(f"RandomNormal: expected stddev >= 0, got stddev={stddev!r}.")
        super().__init__(seed)

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return normal samples of ``shape`` with ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "RandomNormal")
        dtype = _float_dtype(dtype, "RandomNormal")
        values = self._rng().normal(self.mean, self.stddev, size=shape)
        return backend.xp.asarray(values).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'mean', 'stddev', 'seed'}``."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@registry.register(_KIND, "TruncatedNormal", "truncated_normal")
class TruncatedNormal(RandomInitializer):
    """Initializer drawing from a normal distribution, redrawing values beyond 2 stddev.

    Every value lies in ``[mean - 2 * stddev, mean + 2 * stddev]``; the spread of the result is
    about ``0.88 * stddev`` because of the truncation (as in Keras).

    Args:
        mean: mean of the distribution.
        stddev: standard deviation of the normal before truncation (non-negative).
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> TruncatedNormal(stddev=1.0, seed=0)((2, 2)).shape
        (2, 2)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _check_real(mean, "mean", "TruncatedNormal")
        self.stddev = _check_real(stddev, "stddev", "TruncatedNormal")
        if self.stddev < 0:
            raise ValueError(f"TruncatedNormal: expected stddev >= 0, got stddev={stddev!r}.")
        super().__init__(seed)

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return truncated normal samples of ``shape`` with ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "TruncatedNormal")
        dtype = _float_dtype(dtype, "TruncatedNormal")
        unit = _truncated_standard_normal(self._rng(), math.prod(shape))
        values = self.mean + self.stddev * unit.reshape(shape)
        return backend.xp.asarray(values).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'mean', 'stddev', 'seed'}``."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@registry.register(_KIND, "RandomUniform", "random_uniform", "uniform")
class RandomUniform(RandomInitializer):
    """Initializer drawing from a uniform distribution on ``[minval, maxval)``.

    Args:
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive), at least ``minval``.
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> RandomUniform(0.0, 1.0, seed=0)((2, 2)).shape
        (2, 2)
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = _check_real(minval, "minval", "RandomUniform")
        self.maxval = _check_real(maxval, "maxval", "RandomUniform")
        if self.minval > self.maxval:
            raise ValueError(
                f"RandomUniform: expected minval <= maxval, got minval={minval!r}, "
                f"maxval={maxval!r}."
            )
        super().__init__(seed)

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return uniform samples of ``shape`` with ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "RandomUniform")
        dtype = _float_dtype(dtype, "RandomUniform")
        values = self._rng().uniform(self.minval, self.maxval, size=shape)
        return backend.xp.asarray(values).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'minval', 'maxval', 'seed'}``."""
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@registry.register(_KIND, "VarianceScaling", "variance_scaling")
class VarianceScaling(RandomInitializer):
    """Initializer whose spread adapts to the weight shape: variance ``scale / n``.

    ``n`` is ``fan_in``, ``fan_out`` or their mean (``mode``), from ``compute_fans`` and at
    least 1. ``'truncated_normal'`` draws a normal truncated to 2 stddev with stddev
    ``sqrt(scale / n) / 0.8796…`` so the truncated values have variance ``scale / n``;
    ``'untruncated_normal'`` uses stddev ``sqrt(scale / n)``; ``'uniform'`` draws from
    ``[-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.

    Args:
        scale: positive scaling factor.
        mode: ``'fan_in'``, ``'fan_out'`` or ``'fan_avg'``.
        distribution: ``'truncated_normal'`` (alias ``'normal'``), ``'untruncated_normal'``
            or ``'uniform'``.
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> VarianceScaling(2.0, "fan_in", "uniform", seed=0)((4, 3)).shape
        (4, 3)
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        owner = type(self).__name__
        self.scale = _check_real(scale, "scale", owner)
        if self.scale <= 0:
            raise ValueError(f"{owner}: expected scale > 0, got scale={scale!r}.")
        if mode not in _MODES:
            raise ValueError(
                f"{owner}: unknown mode {mode!r}; expected one of "
                f"{', '.join(repr(m) for m in _MODES)}."
            )
        canonical = distribution.lower() if isinstance(distribution, str) else distribution
        if canonical == "normal":
            canonical = "truncated_normal"
        if canonical not in _DISTRIBUTIONS:
            raise ValueError(
                f"{owner}: unknown distribution {distribution!r}; expected one of "
                f"{', '.join(repr(d) for d in _DISTRIBUTIONS)} (or 'normal')."
            )
        self.mode = mode
        self.distribution = canonical
        super().__init__(seed)

    def _variance(self, shape: tuple[int, ...]) -> float:
        """Return ``scale / n`` for this shape and mode."""
        fan_in, fan_out = compute_fans(shape)
        if self.mode == "fan_in":
            denominator = fan_in
        elif self.mode == "fan_out":
            denominator = fan_out
        else:
            denominator = (fan_in + fan_out) / 2.0
        return self.scale / max(1.0, denominator)

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return samples of ``shape`` with ``dtype`` (default floatx) scaled to the fans."""
        owner = type(self).__name__
        shape = _standardize_shape(shape, owner)
        dtype = _float_dtype(dtype, owner)
        variance = self._variance(shape)
        generator = self._rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_STDDEV_FACTOR
            unit = _truncated_standard_normal(generator, math.prod(shape))
            values = stddev * unit.reshape(shape)
        elif self.distribution == "untruncated_normal":
            values = generator.normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = generator.uniform(-limit, limit, size=shape)
        return backend.xp.asarray(values).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'scale', 'mode', 'distribution', 'seed'}``."""
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset: only ``seed`` is configurable."""

    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"

    def __init__(self, seed: int | None = None):
        super().__init__(
            scale=self._SCALE,
            mode=self._MODE,
            distribution=self._DISTRIBUTION,
            seed=seed,
        )

    def get_config(self) -> dict:
        """Return ``{'seed': seed}``."""
        return {"seed": self.seed}


@registry.register(_KIND, "GlorotUniform", "glorot_uniform")
class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> GlorotUniform(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 1.0
    _MODE = "fan_avg"
    _DISTRIBUTION = "uniform"


@registry.register(_KIND, "GlorotNormal", "glorot_normal")
class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with variance ``2 / (fan_in + fan_out)``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> GlorotNormal(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 1.0
    _MODE = "fan_avg"
    _DISTRIBUTION = "truncated_normal"


@registry.register(_KIND, "HeUniform", "he_uniform")
class HeUniform(_FixedVarianceScaling):
    """He uniform: ``U(-limit, limit)`` with ``limit = sqrt(6 / fan_in)``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> HeUniform(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 2.0
    _MODE = "fan_in"
    _DISTRIBUTION = "uniform"


@registry.register(_KIND, "HeNormal", "he_normal")
class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with variance ``2 / fan_in``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> HeNormal(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 2.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"


@registry.register(_KIND, "LecunUniform", "lecun_uniform")
class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)`` with ``limit = sqrt(3 / fan_in)``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> LecunUniform(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "uniform"


@registry.register(_KIND, "LecunNormal", "lecun_normal")
class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with variance ``1 / fan_in``.

    Args:
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> LecunNormal(seed=0)((3, 4)).shape
        (3, 4)
    """

    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"


@registry.register(_KIND, "Orthogonal", "orthogonal", "OrthogonalInitializer")
class Orthogonal(RandomInitializer):
    """Initializer returning ``gain`` times a random orthogonal matrix (Saxe et al., 2014).

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; the result has orthonormal
    columns when that matrix is tall or square and orthonormal rows when it is wide, and is
    reshaped back. Q comes from the QR factorisation of a normal matrix, with column signs fixed
    by ``diag(R)`` so the distribution is uniform over orthogonal matrices.

    Args:
        gain: multiplicative factor.
        seed: None for the library-wide generator, or an int for a private one.

    Example:
        >>> q = Orthogonal(seed=0)((4, 3))
        >>> bool(abs(q.T @ q - Identity()((3, 3))).max() < 1e-5)
        True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain = _check_real(gain, "gain", "Orthogonal")
        super().__init__(seed)

    def __call__(self, shape: ShapeLike, dtype: Any = None):
        """Return an orthogonal array of ``shape`` (rank >= 2) with ``dtype`` (default floatx)."""
        shape = _standardize_shape(shape, "Orthogonal")
        dtype = _float_dtype(dtype, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal: expected a shape of rank at least 2, got shape={shape} "
                f"of rank {len(shape)}."
            )
        xp = backend.xp
        num_rows = math.prod(shape[:-1])
        num_cols = shape[-1]
        flat_shape = (max(num_rows, num_cols), min(num_rows, num_cols))
        matrix = self._rng().standard_normal(flat_shape)
        q, r = xp.linalg.qr(matrix)
        # Multiply each column by the sign of R's diagonal: without it QR's sign convention
        # biases the distribution of Q. A zero diagonal entry (probability 0) keeps its sign.
        signs = xp.sign(xp.diag(r))
        signs[signs == 0] = 1.0
        q = q * signs
        if num_rows < num_cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self) -> dict:
        """Return ``{'gain', 'seed'}``."""
        return {"gain": self.gain, "seed": self.seed}


# --------------------------------------------------------------------------------------------
# Lookup and (de)serialisation
# --------------------------------------------------------------------------------------------


def serialize(initializer: Initializer) -> dict:
    """Return ``{'class_name': ..., 'config': ...}`` for an initializer.

    Example:
        >>> serialize(Constant(2.0))
        {'class_name': 'Constant', 'config': {'value': 2.0}}
    """
    if not isinstance(initializer, Initializer):
        raise TypeError(
            "serialize expected an Initializer instance (a plain function cannot be saved; "
            f"subclass Initializer and register it), got {initializer!r}."
        )
    return registry.serialize(initializer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    """Rebuild an initializer from ``serialize``'s output, resolving names via the registry.

    Example:
        >>> deserialize({"class_name": "Ones", "config": {}})
        Ones()
    """
    return registry.deserialize(_KIND, config, custom_objects)


def get(identifier: Any) -> Callable | None:
    """Return an initializer from a name, a config dict, an instance, a class or a callable.

    Args:
        identifier: a registered name (``'glorot_uniform'``, ``'GlorotUniform'``), a dict from
            ``serialize``, an ``Initializer`` instance (returned as is), an ``Initializer``
            subclass (instantiated with defaults), a callable ``f(shape, dtype=None)``, or None.

    Returns:
        The initializer, or None for None.

    Example:
        >>> get("he_normal")
        HeNormal(seed=None)
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        found = registry.lookup(_KIND, identifier)
        if isinstance(found, type):
            return found()
        return found
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type):
        if issubclass(identifier, Initializer):
            return identifier()
        raise TypeError(
            "Could not interpret initializer: expected a name, a config dict, an Initializer "
            f"or a callable f(shape, dtype=None), got the class {identifier.__name__!r}."
        )
    if callable(identifier):
        return identifier
    raise TypeError(
        "Could not interpret initializer: expected a name, a config dict, an Initializer "
        f"or a callable f(shape, dtype=None), got {identifier!r} of type "
        f"{type(identifier).__name__}."
    )


# Keras's lower-case spellings of the classes (``keras.initializers.he_normal(seed=0)``)
constant = Constant
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
identity = Identity
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
ones = Ones
orthogonal = Orthogonal
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
zeros = Zeros


__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "compute_fans",
    "deserialize",
    "get",
    "serialize",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
