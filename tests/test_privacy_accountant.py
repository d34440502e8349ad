"""The RDP accountant: against Opacus's RDPAccountant, closed forms, monotonicity, inversion."""

import math
import warnings

import numpy as np
import pytest

from axonal.privacy import (
    DEFAULT_ORDERS,
    RDPAccountant,
    compute_epsilon,
    compute_rdp,
    noise_multiplier_for,
    rdp_to_epsilon,
)

# (n, batch size, noise multiplier, epochs, delta)
GRID = [
    (60_000, 256, 1.1, 60, 1e-5),  # the DP-SGD MNIST setting: Opacus gives about 2.60
    (1_000, 32, 0.8, 20, 1e-3),  # small data, little noise: a large epsilon
    (1_437, 64, 1.0, 30, 1e-5),  # the digits example's size
    (50_000, 512, 0.6, 10, 1e-5),
    (10_000, 100, 2.0, 5, 1e-6),
    (500, 500, 3.0, 50, 1e-4),  # full batches: no subsampling
]


def _opacus_epsilon(sample_rate, sigma, steps, delta):
    accountants = pytest.importorskip("opacus.accountants")
    accountant = accountants.RDPAccountant()
    accountant.history = [(sigma, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha" for big epsilon
        return accountant.get_epsilon(delta=delta)


@pytest.mark.parametrize("n, batch, sigma, epochs, delta", GRID)
def test_epsilon_agrees_with_opacus(n, batch, sigma, epochs, delta):
    mine = compute_epsilon(n, batch, sigma, epochs, delta)
    # the same steps and sample rate: the same mathematics, so agreement to rounding
    steps = epochs * math.ceil(n / batch)
    same = _opacus_epsilon(min(1.0, batch / n), sigma, steps, delta)
    assert mine == pytest.approx(same, rel=1e-5)
    # Opacus's own planning convention (sample rate 1 / batches per epoch) is within 10%
    per_epoch = math.ceil(n / batch)
    theirs = _opacus_epsilon(1 / per_epoch, sigma, epochs * per_epoch, delta)
    assert mine == pytest.approx(theirs, rel=0.10)


def test_the_mnist_setting_gives_opacus_figure():
    assert compute_epsilon(60_000, 256, 1.1, 60, 1e-5) == pytest.approx(2.60, abs=0.01)


def test_rdp_per_order_agrees_with_opacus():
    analysis = pytest.importorskip("opacus.accountants.analysis.rdp")
    for q, sigma in [(0.004, 1.1), (0.032, 0.8), (0.3, 2.0), (0.5, 0.7), (1e-5, 0.3), (0.9, 5.0)]:
        theirs = analysis.compute_rdp(
            q=q, noise_multiplier=sigma, steps=3, orders=list(DEFAULT_ORDERS)
        )
        np.testing.assert_allclose(compute_rdp(q, sigma, 3), theirs, rtol=1e-5)


def test_without_subsampling_it_is_the_gaussian_mechanism():
    # RDP of the Gaussian mechanism with sensitivity 1: alpha / (2 sigma^2), for any order
    orders = [1.5, 2.0, 7.25, 32.0]
    np.testing.assert_allclose(
        compute_rdp(1.0, 2.0, 5, orders), [5 * a / 8 for a in orders], rtol=1e-12
    )
    # and the conversion is Balle et al.'s formula, minimised over the orders
    eps, order = rdp_to_epsilon([2.0, 4.0], [0.5, 2.0], delta=1e-3)
    candidates = [
        r + math.log((a - 1) / a) - (math.log(1e-3) + math.log(a)) / (a - 1)
        for a, r in [(2.0, 0.5), (4.0, 2.0)]
    ]
    assert eps == pytest.approx(min(candidates)) and order == 4.0


def test_integer_and_fractional_orders_join_smoothly():
    # the binomial expansion (integer orders) and the two series (fractional) meet continuously
    values = compute_rdp(0.01, 1.0, 1, [2.999999, 3.0, 3.000001])
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    assert values[2] == pytest.approx(values[1], rel=1e-5)


def test_special_cases():
    assert compute_epsilon(100, 10, 1.0, 0, 1e-5) == 0.0
    assert compute_epsilon(100, 10, 0.0, 1, 1e-5) == math.inf
    np.testing.assert_array_equal(compute_rdp(0.0, 1.0, 10), np.zeros(len(DEFAULT_ORDERS)))


def test_epsilon_is_monotone_in_every_argument():
    base = dict(n=5_000, batch_size=100, noise_multiplier=1.0, epochs=10, delta=1e-5)

    def eps(**change):
        return compute_epsilon(**{**base, **change})

    def increasing(values):
        return all(a < b for a, b in zip(values, values[1:], strict=False))

    assert increasing([eps(batch_size=b) for b in (25, 50, 100, 200, 400)])
    assert increasing([eps(epochs=e) for e in (1, 2, 5, 10, 20)])
    assert increasing([eps(noise_multiplier=s) for s in (4.0, 2.0, 1.0, 0.8, 0.6)])
    assert increasing([eps(n=n) for n in (50_000, 20_000, 10_000, 5_000, 2_000)])
    assert increasing([eps(delta=d) for d in (1e-3, 1e-4, 1e-5, 1e-6, 1e-8)])


@pytest.mark.parametrize(
    "target, n, batch, epochs, delta",
    [
        (3.0, 60_000, 256, 60, 1e-5),
        (1.0, 1_000, 32, 20, 1e-3),
        (8.0, 1_437, 64, 30, 1e-5),
    ],
)
def test_noise_multiplier_for_inverts_compute_epsilon(target, n, batch, epochs, delta):
    sigma = noise_multiplier_for(target, delta, n, batch, epochs)
    reached = compute_epsilon(n, batch, sigma, epochs, delta)
    assert reached <= target
    assert reached == pytest.approx(target, rel=0.01)
    # a little less noise would overshoot
    assert compute_epsilon(n, batch, sigma * 0.99, epochs, delta) > target


def test_noise_multiplier_for_agrees_with_opacus():
    utils = pytest.importorskip("opacus.accountants.utils")
    mine = noise_multiplier_for(3.0, 1e-5, 60_000, 256, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = utils.get_noise_multiplier(
            target_epsilon=3.0,
            target_delta=1e-5,
            sample_rate=256 / 60_000,
            epochs=60,
            accountant="rdp",
        )
    assert mine == pytest.approx(theirs, rel=0.02)


def test_an_unreachable_target_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot be reached"):
        noise_multiplier_for(0.01, 1e-5, 60_000, 256, 60)


def test_accountant_composes_by_addition():
    accountant = RDPAccountant()
    accountant.step(noise_multiplier=1.0, sample_rate=0.01, steps=100)
    accountant.step(noise_multiplier=1.0, sample_rate=0.01, steps=50)
    accountant.step(noise_multiplier=2.0, sample_rate=0.05, steps=10)
    assert accountant.history == [(1.0, 0.01, 150), (2.0, 0.05, 10)]
    assert accountant.steps == 160
    rdp = compute_rdp(0.01, 1.0, 150) + compute_rdp(0.05, 2.0, 10)
    want = rdp_to_epsilon(DEFAULT_ORDERS, rdp, 1e-5)[0]
    assert accountant.get_epsilon(1e-5) == pytest.approx(want, rel=1e-12)
    assert RDPAccountant().get_epsilon(1e-5) == 0.0
    restored = RDPAccountant(accountant.history)
    assert restored.get_epsilon(1e-5) == accountant.get_epsilon(1e-5)


@pytest.mark.parametrize("delta", [0, 1, -1e-5, 2.0, float("nan")])
def test_delta_outside_0_1_is_refused(delta):
    with pytest.raises(ValueError, match="delta"):
        compute_epsilon(100, 10, 1.0, 1, delta)
    with pytest.raises(ValueError, match="delta"):
        noise_multiplier_for(1.0, delta, 100, 10, 1)
    with pytest.raises(ValueError, match="delta"):
        RDPAccountant().get_epsilon(delta)


def test_other_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="noise_multiplier"):
        compute_epsilon(100, 10, -1.0, 1, 1e-5)
    with pytest.raises(ValueError, match="`n`"):
        compute_epsilon(0, 10, 1.0, 1, 1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        compute_epsilon(100, 0, 1.0, 1, 1e-5)
    with pytest.raises(ValueError, match="epochs"):
        compute_epsilon(100, 10, 1.0, -1, 1e-5)
    with pytest.raises(ValueError, match="target_epsilon"):
        noise_multiplier_for(0.0, 1e-5, 100, 10, 1)
    with pytest.raises(ValueError, match="sample_rate"):
        compute_rdp(1.5, 1.0, 1)
    with pytest.raises(ValueError, match="orders"):
        compute_rdp(0.1, 1.0, 1, orders=[1.0])
