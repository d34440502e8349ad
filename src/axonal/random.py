"""``keras.random``: random tensors, seeded the Keras way.

``seed`` decides where each draw comes from, as in Keras 3:

- ``None``: axonal's library-wide generator, which ``axonal.utils.set_random_seed`` seeds, so
  a whole program is reproducible from one seed;
- an ``int``: a fresh generator from that seed, so the same call returns the same values every
  time (a stateless draw);
- a ``SeedGenerator``: its own generator, which advances with every draw, so a layer that
  keeps one draws new noise each call yet repeats exactly from the same starting seed.

Every function returns an ``axonal.Tensor`` of ``dtype`` (default ``floatx()``); ``dropout`` and
``shuffle`` are differentiable with respect to their input.

Example:
    >>> seed = axonal.random.SeedGenerator(1337)
    >>> noise = axonal.random.normal((32, 2), seed=seed)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from axonal import backend
from axonal import functional as F
from axonal.tensor import Tensor, as_tensor


class SeedGenerator:
    """A seed state that moves on with every draw (Keras's ``keras.random.SeedGenerator``).

    Args:
        seed: the starting seed; None draws one from axonal's generator (so
            ``set_random_seed`` makes it repeatable).
        name: a name, for Keras compatibility.

    Example:
        >>> generator = SeedGenerator(42)
        >>> a = normal((2,), seed=generator)
        >>> b = normal((2,), seed=generator)  # different from a; the same again from 42
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"SeedGenerator got unexpected argument(s): {sorted(kwargs)}.")
        if seed is None:
            seed = int(backend.rng().integers(2**62))
        self._initial_seed = _check_seed(seed)
        self.name = name or "seed_generator"
        self._generator = np.random.default_rng(self._initial_seed)

    @property
    def state(self) -> np.ndarray:
        """The generator's state, as two 64-bit words (changes with every draw)."""
        words = self._generator.bit_generator.state["state"]
        return np.array([words["state"] & (2**64 - 1), words["inc"] & (2**64 - 1)], np.uint64)

    def next(self) -> np.random.Generator:
        """The generator the next draw uses (it advances as it is drawn from)."""
        return self._generator

    def get_config(self) -> dict:
        """The starting seed and name."""
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SeedGenerator:
        """A generator starting again from the saved seed."""
        return cls(**config)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"A seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _generator(seed) -> np.random.Generator:
    if seed is None:
        return backend.rng()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    return np.random.default_rng(_check_seed(seed))


def _float_dtype(dtype) -> np.dtype:
    name = backend.standardize_dtype(dtype or backend.floatx())
    result = np.dtype(name)
    if result.kind != "f":
        raise ValueError(f"dtype must be a float type, got {name!r}.")
    return result


def _shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must not have negative sizes, got {shape}.")
    return shape


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Values from a normal distribution.

    Args:
        shape: the output shape.
        mean, stddev: the distribution's mean and standard deviation.
        dtype: a float type (default ``floatx()``).
        seed: None, an int or a ``SeedGenerator`` (see the module's docstring).
    """
    dtype = _float_dtype(dtype)
    values = _generator(seed).standard_normal(_shape(shape), dtype=np.float64)
    return Tensor((values * stddev + mean).astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None) -> Tensor:
    """Values drawn uniformly from ``[minval, maxval)``."""
    dtype = _float_dtype(dtype)
    values = _generator(seed).uniform(minval, maxval, _shape(shape))
    return Tensor(values.astype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Normal values, redrawn until within two standard deviations of the mean (as Keras)."""
    dtype = _float_dtype(dtype)
    generator = _generator(seed)
    values = generator.standard_normal(_shape(shape))
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return Tensor((values * stddev + mean).astype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None) -> Tensor:
    """Integers drawn uniformly from ``[minval, maxval)``."""
    dtype = np.dtype(backend.standardize_dtype(dtype))
    if dtype.kind not in "iu":
        raise ValueError(f"randint's dtype must be an integer type, got {dtype.name!r}.")
    values = _generator(seed).integers(minval, maxval, _shape(shape))
    return Tensor(values.astype(dtype))


def categorical(logits, num_samples: int, dtype="int32", seed=None) -> Tensor:
    """Class indices drawn from the categorical distributions ``softmax(logits)``.

    Args:
        logits: ``(batch, classes)`` unnormalized log-probabilities.
        num_samples: draws per row.

    Returns:
        ``(batch, num_samples)`` integer indices.
    """
    logits = np.asarray(getattr(logits, "data", logits), dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"categorical takes logits of shape (batch, classes), got {logits.shape}.")
    generator = _generator(seed)
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits)
    draws = generator.uniform(size=(logits.shape[0], int(num_samples), logits.shape[1]))
    gumbel = -np.log(-np.log(draws + 1e-300) + 1e-300)
    samples = np.argmax(logits[:, None, :] + gumbel, axis=-1)
    return Tensor(samples.astype(backend.standardize_dtype(dtype)))


def dropout(inputs, rate: float, noise_shape=None, seed=None) -> Tensor:
    """``inputs`` with each entry zeroed with probability ``rate`` and the rest scaled by
    ``1 / (1 - rate)``; ``noise_shape`` (broadcast against the input) shares the mask."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}.")
    inputs = inputs if isinstance(inputs, Tensor) else as_tensor(inputs)
    shape = (
        inputs.data.shape
        if noise_shape is None
        else tuple(inputs.data.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    )
    keep = _generator(seed).uniform(size=shape) >= rate
    mask = (keep / (1.0 - rate)).astype(inputs.data.dtype)
    return F.multiply(inputs, mask)


def shuffle(x, axis: int = 0, seed=None) -> Tensor:
    """``x`` with its entries along ``axis`` in a random order (differentiable)."""
    x = x if isinstance(x, Tensor) else as_tensor(x)
    order = _generator(seed).permutation(x.data.shape[axis])
    return F.take(x, order, axis=axis)


def gamma(shape, alpha, dtype=None, seed=None) -> Tensor:
    """Values from a gamma distribution of shape ``alpha`` (scale 1)."""
    dtype = _float_dtype(dtype)
    return Tensor(_generator(seed).gamma(alpha, 1.0, _shape(shape)).astype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None) -> Tensor:  # noqa: A002 - Keras's name
    """Values from a beta distribution with parameters ``alpha`` and ``beta``."""
    dtype = _float_dtype(dtype)
    return Tensor(_generator(seed).beta(alpha, beta, _shape(shape)).astype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None) -> Tensor:
    """Successes in ``counts`` trials of probability ``probabilities`` (as floats, as Keras)."""
    dtype = _float_dtype(dtype)
    values = _generator(seed).binomial(np.asarray(counts), np.asarray(probabilities), _shape(shape))
    return Tensor(values.astype(dtype))


__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
