"""The float tolerance the torch-parity tests share: loose enough for another summation order,
tight enough to catch a missing term."""

from __future__ import annotations

import numpy as np
import pytest

from tolerance import assert_sums_close, sum_tolerance


def _products(n: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 products of normal values, centred so they cancel to a small sum."""
    rng = np.random.default_rng(seed)
    terms = rng.standard_normal(n) * rng.standard_normal(n) * 4
    return (terms - terms.mean()).astype(np.float32)


def _in_order(terms: np.ndarray) -> np.float32:
    """A sum one term at a time (a loop), unlike NumPy's pairwise np.sum."""
    return np.cumsum(terms, dtype=terms.dtype)[-1]


@pytest.mark.parametrize("n", [25, 2304, 100_000])
def test_two_summation_orders_agree_within_the_tolerance(n):
    terms = _products(n)
    magnitude = np.abs(terms.astype(np.float64)).sum()
    assert_sums_close(np.sum(terms), _in_order(terms), fan_in=n, magnitude=magnitude)


def test_a_fixed_tolerance_does_not_survive_a_large_fan_in():
    # the failure the helper replaces: a LeNet kernel gradient sums 2,304 products; the two
    # orders differ by more than the old fixed rtol = atol = 2e-5 allowed
    terms = _products(2304)
    pairwise, looped = np.sum(terms), _in_order(terms)
    assert abs(pairwise - looped) > 2e-5 + 2e-5 * abs(looped)
    magnitude = np.abs(terms.astype(np.float64)).sum()
    assert_sums_close(pairwise, looped, fan_in=2304, magnitude=magnitude)


@pytest.mark.parametrize("n", [25, 2304])
def test_a_missing_term_is_caught(n):
    terms = _products(n)
    # the smallest term that matters: a typical one, a quarter of the mean size
    k = int(np.argmin(np.abs(np.abs(terms) - np.abs(terms).mean() / 4)))
    magnitude = np.abs(terms.astype(np.float64)).sum()
    with pytest.raises(AssertionError, match="rounding of their sums"):
        assert_sums_close(np.sum(np.delete(terms, k)), np.sum(terms), fan_in=n, magnitude=magnitude)


def test_float64_is_held_to_float64_rounding():
    terms = _products(100).astype(np.float64)
    magnitude = np.abs(terms).sum()
    assert_sums_close(np.sum(terms), _in_order(terms), fan_in=100, magnitude=magnitude)
    with pytest.raises(AssertionError):
        # float32 rounding of a float64 result is far past float64's allowance
        assert_sums_close(
            np.sum(terms),
            np.float64(np.sum(terms.astype(np.float32))),
            fan_in=100,
            magnitude=magnitude,
        )


def test_the_tolerance_grows_with_fan_in_and_magnitude_and_names_the_worst_element():
    small = sum_tolerance(np.float32, 4, 1.0)
    assert sum_tolerance(np.float32, 16, 1.0) == pytest.approx(2 * small, rel=0.01)
    assert sum_tolerance(np.float32, 4, 10.0) == pytest.approx(10 * small, rel=0.01)
    actual = np.zeros((2, 3), np.float32)
    desired = np.zeros((2, 3), np.float32)
    desired[1, 2] = 1.0
    with pytest.raises(AssertionError, match=r"worst at \(1, 2\).*fan-in 9"):
        assert_sums_close(actual, desired, fan_in=9, magnitude=1.0, err_msg="kernel")
