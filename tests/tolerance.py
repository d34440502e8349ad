"""How far two libraries' floating-point sums may fairly disagree, and the check that uses it.

A float32 sum of ``n`` terms carries rounding error relative to the sum of the terms' *absolute*
values, not to the result: with random signs the result can be small while each partial sum was
large (a LeNet kernel gradient sums 2,304 products of size ~1 into ~0.5). Summing in a different
order — another library's blocking, a GEMM instead of a loop — changes that error, so a fixed
``atol``/``rtol`` is either too loose for small layers or fails on large ones. The probabilistic
bound for a sum of ``n`` rounded terms (Higham & Mary, 2019) is ``lambda * sqrt(n) * u *
sum(|terms|)``; ``sum_tolerance`` allows that much per side, plus a few roundings of the result
itself for the elementwise functions that follow a sum (an activation, a division by a count).

Example:
    >>> x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    >>> assert_sums_close(x @ w, np.full((2, 4), 3.0), fan_in=3, magnitude=np.abs(x) @ np.abs(w))
"""

from __future__ import annotations

import numpy as np

# lambda in the probabilistic bound, for both libraries together: the chance that a sum's
# rounding exceeds lambda * sqrt(n) * u * sum|terms| falls like exp(-lambda**2 / 2)
FACTOR = 4.0


def sum_tolerance(dtype, fan_in, magnitude, result=0.0) -> np.ndarray:
    """The absolute disagreement to allow between two ``dtype`` computations of the same sums.

    Args:
        dtype: the dtype both sides computed in; its machine epsilon is the unit of rounding.
        fan_in: how many terms each result sums (scalar, or an array broadcasting against it).
        magnitude: the sum of the terms' absolute values per result (scalar or array), e.g.
            the same computation evaluated in float64 at the absolute values of its inputs.
        result: the expected results, for the few roundings applied after the sum.

    Returns:
        ``FACTOR * eps * (sqrt(fan_in) * magnitude + |result|)``, elementwise.
    """
    eps = float(np.finfo(dtype).eps)
    fan_in = np.maximum(np.asarray(fan_in, dtype=np.float64), 1.0)
    magnitude = np.abs(np.asarray(magnitude, dtype=np.float64))
    result = np.abs(np.asarray(result, dtype=np.float64))
    return FACTOR * eps * (np.sqrt(fan_in) * magnitude + result)


def assert_sums_close(actual, desired, *, fan_in, magnitude, extra_atol=0.0, err_msg=""):
    """Assert ``actual`` equals ``desired`` within ``sum_tolerance`` (plus ``extra_atol``).

    ``actual``'s dtype sets the rounding unit. The message names the worst element, its two
    values, the allowed difference and the fan-in and magnitude behind it.
    """
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"{err_msg}: shape {actual.shape} != {desired.shape}"
    allowed = sum_tolerance(actual.dtype, fan_in, magnitude, desired) + extra_atol
    allowed = np.broadcast_to(allowed, actual.shape)
    difference = np.abs(actual.astype(np.float64) - desired.astype(np.float64))
    bad = ~(difference <= allowed)  # NaN differences count as bad
    if not bad.any():
        return
    # the element furthest past its allowance
    excess = np.where(bad, np.nan_to_num(difference - allowed, nan=np.inf), -np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), actual.shape)
    n = np.broadcast_to(np.asarray(fan_in), actual.shape)[worst]
    m = np.broadcast_to(np.asarray(magnitude), actual.shape)[worst]
    raise AssertionError(
        f"{err_msg}: {int(bad.sum())} of {actual.size} elements differ by more than the "
        f"{actual.dtype} rounding of their sums; worst at {tuple(int(i) for i in worst)}: "
        f"{actual[worst]!r} vs {desired[worst]!r}, difference {difference[worst]:.3g} > "
        f"allowed {allowed[worst]:.3g} (fan-in {float(n):g}, sum of |terms| {float(m):.3g})"
    )
