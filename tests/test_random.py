"""axonal.random (keras.random): distributions, dtypes, and the three ways of seeding."""

import subprocess
import sys

import numpy as np
import pytest

import axonal
from axonal import random as ar

N = 200_000


def _values(t):
    return np.asarray(t.data)


@pytest.mark.parametrize(
    "draw, mean, std",
    [
        (lambda s: ar.normal((N,), mean=2.0, stddev=3.0, seed=s), 2.0, 3.0),
        (lambda s: ar.uniform((N,), minval=-1.0, maxval=3.0, seed=s), 1.0, 4 / np.sqrt(12)),
        # a standard normal truncated at two standard deviations has variance 0.774
        (lambda s: ar.truncated_normal((N,), mean=1.0, stddev=2.0, seed=s), 1.0, 2 * 0.8796),
        (lambda s: ar.gamma((N,), alpha=3.0, seed=s), 3.0, np.sqrt(3.0)),
        (lambda s: ar.beta((N,), alpha=2.0, beta=5.0, seed=s), 2 / 7, np.sqrt(10 / (49 * 8))),
        (lambda s: ar.binomial((N,), counts=10, probabilities=0.3, seed=s), 3.0, np.sqrt(2.1)),
    ],
)
def test_distributions_have_their_moments(draw, mean, std):
    values = _values(draw(0))
    assert values.dtype == np.float32 and values.shape == (N,)
    # five standard errors of the mean, and 2% on the spread
    assert abs(values.mean() - mean) < 5 * std / np.sqrt(N)
    assert values.std() == pytest.approx(std, rel=0.02)


def test_truncated_normal_stays_within_two_standard_deviations():
    values = _values(ar.truncated_normal((N,), mean=5.0, stddev=0.5, seed=1))
    assert values.min() >= 4.0 and values.max() <= 6.0


def test_randint_and_dtypes():
    values = _values(ar.randint((N,), 3, 7, seed=0))
    assert values.dtype == np.int32 and set(np.unique(values)) == {3, 4, 5, 6}
    assert _values(ar.normal((2,), dtype="float64", seed=0)).dtype == np.float64
    with pytest.raises(ValueError, match="float type"):
        ar.normal((2,), dtype="int32")
    with pytest.raises(ValueError, match="integer type"):
        ar.randint((2,), 0, 3, dtype="float32")


def test_an_int_seed_repeats_and_a_seed_generator_advances_reproducibly():
    np.testing.assert_array_equal(
        _values(ar.normal((5,), seed=7)), _values(ar.normal((5,), seed=7))
    )
    first = ar.SeedGenerator(42)
    a, b = _values(ar.uniform((5,), seed=first)), _values(ar.uniform((5,), seed=first))
    assert not np.array_equal(a, b)
    again = ar.SeedGenerator(42)
    np.testing.assert_array_equal(_values(ar.uniform((5,), seed=again)), a)
    np.testing.assert_array_equal(_values(ar.uniform((5,), seed=again)), b)
    assert ar.SeedGenerator.from_config(first.get_config()).get_config() == first.get_config()
    with pytest.raises(ValueError, match="non-negative integer"):
        ar.normal((2,), seed=-1)


def test_set_random_seed_makes_unseeded_draws_repeat_in_fresh_processes():
    program = (
        "import axonal; axonal.utils.set_random_seed(5); "
        "g = axonal.random.SeedGenerator(); "
        "print(axonal.random.normal((3,)).data.tolist(), "
        "axonal.random.uniform((2,), seed=g).data.tolist())"
    )
    runs = [
        subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()


def test_categorical_draws_follow_softmax_of_the_logits():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    samples = _values(ar.categorical(np.log(probabilities), 50_000, seed=0))
    assert samples.shape == (2, 50_000) and samples.dtype == np.int32
    for row in range(2):
        frequencies = np.bincount(samples[row], minlength=3) / 50_000
        np.testing.assert_allclose(frequencies, probabilities[row], atol=0.01)


def test_dropout_scales_the_kept_entries_and_passes_gradients_through():
    x = axonal.Tensor(np.ones((100, 100), np.float32), requires_grad=True)
    out = ar.dropout(x, 0.25, seed=3)
    values = _values(out)
    kept = values != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.02)
    np.testing.assert_allclose(values[kept], 1 / 0.75, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, values)  # d(x * mask)/dx = mask
    shared = _values(ar.dropout(np.ones((4, 6), np.float32), 0.5, noise_shape=(None, 1), seed=0))
    assert all(len(set(row)) == 1 for row in shared)  # one mask value per row


def test_shuffle_permutes_along_an_axis():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = _values(ar.shuffle(x, axis=1, seed=0))
    np.testing.assert_array_equal(np.sort(out, axis=1), x)
    assert not np.array_equal(out, x)
    np.testing.assert_array_equal(out[:, np.argsort(out[0])], x)  # the same order in every row
