"""Gradient checking against float64 central differences, and inputs that suit it.

``gradcheck(fn, inputs)`` compares the engine's gradient of ``sum(fn(*inputs) * R)`` (``R`` a
fixed random array of the output's shape, so every output element is weighted and checked) with
central differences, for every differentiable input. The input helpers below build float64 arrays
that keep away from the points where a central difference is meaningless (kinks, ties, the edge
of a function's domain).

Example:
    >>> from axonal import functional as F
    >>> gradcheck(F.multiply, [randn(3, 1), randn(1, 4)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from axonal.autograd import no_grad
from axonal.tensor import Tensor

# ---------------------------------------------------------------- the check


def gradcheck(
    fn: Callable,
    inputs: Sequence,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    wrt: Sequence[int] | None = None,
) -> list:
    """Check the engine's gradients of ``fn`` against float64 central differences.

    Every input becomes a Tensor; those in ``wrt`` require grad. The engine's gradient of
    ``sum(fn(...) * R)`` must match ``(f(x + eps) - f(x - eps)) / (2 eps)`` elementwise within
    ``atol + rtol * |numeric|``, have the input's shape and dtype, and inputs not in ``wrt`` must
    get no gradient at all.

    Args:
        fn: takes one Tensor per input and returns a Tensor.
        inputs: arrays; the differentiable ones must be float64.
        eps: central-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance (relative to the numerical gradient).
        wrt: indices of the inputs to differentiate; default every floating input.

    Returns:
        The engine's gradients, one per input (None for inputs not in ``wrt``).

    Raises:
        AssertionError: naming the input, the worst element, both gradients and the error.
    """
    arrays = [np.array(x) for x in inputs]
    if wrt is None:
        wrt = [i for i, x in enumerate(arrays) if x.dtype.kind == "f"]
    wrt = sorted(i % len(arrays) for i in wrt)
    for i in wrt:
        assert arrays[i].dtype == np.float64, (
            f"gradcheck: input {i} must be float64 to be differentiated, got {arrays[i].dtype}."
        )

    tensors = [Tensor(x.copy(), requires_grad=i in wrt) for i, x in enumerate(arrays)]
    out = fn(*tensors)
    assert isinstance(out, Tensor), f"gradcheck: fn must return a Tensor, got {type(out)}."
    assert out.dtype == np.float64, f"gradcheck: float64 inputs gave a {out.dtype} output."
    assert out.requires_grad, "gradcheck: the output does not depend on any input in wrt."
    # a fixed, generic weighting: every output element contributes with its own weight
    weights = np.random.default_rng(1234).standard_normal(out.shape)
    out.backward(weights)

    analytic = []
    for i, t in enumerate(tensors):
        if i not in wrt:
            assert t.grad is None, f"gradcheck: input {i} is not in wrt but got a gradient."
            analytic.append(None)
            continue
        assert t.grad is not None, f"gradcheck: input {i} got no gradient."
        assert t.grad.shape == arrays[i].shape, (
            f"gradcheck: input {i} has shape {arrays[i].shape} but its gradient has shape "
            f"{t.grad.shape}."
        )
        assert t.grad.dtype == arrays[i].dtype, (
            f"gradcheck: input {i} is {arrays[i].dtype} but its gradient is {t.grad.dtype}."
        )
        analytic.append(t.grad)

    def objective(values: list) -> float:
        with no_grad():
            result = fn(*[Tensor(v) for v in values])
        return float(np.sum(np.asarray(result.data, dtype=np.float64) * weights))

    for i in wrt:
        numeric = np.zeros(arrays[i].shape)
        for index in np.ndindex(arrays[i].shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[i][index] += eps
            minus[i][index] -= eps
            numeric[index] = (objective(plus) - objective(minus)) / (2 * eps)
        _assert_close(analytic[i], numeric, atol, rtol, f"input {i}")
    return analytic


def _assert_close(analytic, numeric, atol: float, rtol: float, what: str) -> None:
    """Fail with the worst element when ``analytic`` and ``numeric`` differ beyond tolerance."""
    error = np.abs(analytic - numeric)
    excess = error - (atol + rtol * np.abs(numeric))
    # a non-finite engine gradient is the worst possible element
    score = np.where(np.isfinite(excess), excess, np.inf)
    if np.all(score <= 0):
        return
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(score), score.shape))
    raise AssertionError(
        f"gradcheck: gradient of {what} is wrong at {worst}: engine {analytic[worst]:.6g}, "
        f"numeric {numeric[worst]:.6g}, |error| {error[worst]:.3g} > atol {atol:g} + rtol {rtol:g} "
        f"* |numeric| ({int(np.sum(score > 0))} of {score.size} elements out of tolerance)."
    )


# ---------------------------------------------------------------- inputs


_RNG = np.random.default_rng(20240611)


def randn(*shape: int, scale: float = 1.0) -> np.ndarray:
    """Standard normal float64 values times ``scale``."""
    return _RNG.standard_normal(shape) * scale


def uniform(*shape: int, low: float, high: float) -> np.ndarray:
    """Uniform float64 values in ``[low, high)``."""
    return _RNG.uniform(low, high, shape)


def positive(*shape: int, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """Values in ``[low, high)``, by default well inside the domain of log, sqrt and pow."""
    return uniform(*shape, low=low, high=high)


def away_from(x: np.ndarray, points: Sequence[float] = (0.0,), margin: float = 0.05) -> np.ndarray:
    """``x`` with every value nearer than ``margin`` to one of ``points`` pushed out to the margin.

    Keeps central differences off kinks (relu at 0, clip at its bounds, hard_sigmoid at ±3).
    """
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin)
    return x


def distinct(*shape: int, scale: float = 1.0) -> np.ndarray:
    """Values at least ``scale / size`` apart, shuffled: max/min reductions have no ties."""
    size = int(np.prod(shape))
    values = (np.arange(size) - size / 2) / size * 2 * scale
    jitter = _RNG.uniform(0, 0.3 * scale / size, size)
    return _RNG.permutation(values + jitter).reshape(shape)


def distinct_pair(shape_a: tuple, shape_b: tuple, scale: float = 1.0) -> tuple:
    """Two arrays whose values are all distinct from each other: maximum/minimum see no ties."""
    size_a = int(np.prod(shape_a))
    values = distinct(size_a + int(np.prod(shape_b)), scale=scale)
    return values[:size_a].reshape(shape_a), values[size_a:].reshape(shape_b)
