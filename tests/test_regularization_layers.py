"""GroupNormalization, UnitNormalization, ActivityRegularization, GaussianDropout, AlphaDropout
and the functional merge helpers: against Keras 3, finite differences and statistics."""

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.gradcheck import check_gradients

X = np.random.default_rng(0).normal(size=(3, 5, 4, 6))


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.GroupNormalization(groups=3),
        lambda: layers.GroupNormalization(groups=-1, center=False),
        lambda: layers.UnitNormalization(),
        lambda: layers.UnitNormalization(axis=[1, 2]),
    ],
)
def test_normalizations_match_finite_differences(make):
    check_gradients(make(), X).assert_ok()


def test_group_and_unit_normalization_match_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = X.astype("float32")
    for ours, theirs in [
        (layers.GroupNormalization(groups=2), keras.layers.GroupNormalization(groups=2)),
        (layers.UnitNormalization(axis=-1), keras.layers.UnitNormalization(axis=-1)),
    ]:
        expected = keras.ops.convert_to_numpy(theirs(x))
        ours(x)
        weights = [np.random.default_rng(1).normal(size=w.shape) for w in theirs.get_weights()]
        if weights:
            theirs.set_weights(weights)
            ours.set_weights([w.astype("float32") for w in weights])
            expected = keras.ops.convert_to_numpy(theirs(x))
        np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-4, atol=1e-5)


def test_activity_regularization_adds_its_penalty_per_sample_to_the_loss():
    x = np.random.default_rng(2).normal(size=(8, 3)).astype("float32")
    y = np.zeros((8, 2), "float32")
    model = axonal.Sequential(
        [axonal.Input((3,)), layers.Dense(2), layers.ActivityRegularization(l1=0.1, l2=0.5)]
    )
    model.compile("sgd", "mse")
    out = model.predict(x, verbose=0)
    penalty = (0.1 * np.abs(out).sum() + 0.5 * (out**2).sum()) / 8
    mse = float(np.mean(out**2))
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(mse + penalty, rel=1e-5)


def test_gaussian_and_alpha_dropout_keep_their_statistics_and_vanish_at_inference():
    x = np.ones((400, 500), "float32")
    gaussian = layers.GaussianDropout(0.3, seed=0)
    np.testing.assert_array_equal(np.asarray(gaussian(x)), x)
    noisy = np.asarray(gaussian(x, training=True))
    assert noisy.mean() == pytest.approx(1.0, abs=0.01)
    assert noisy.std() == pytest.approx(np.sqrt(0.3 / 0.7), rel=0.02)
    selu_like = np.random.default_rng(3).normal(size=(400, 500)).astype("float32")
    alpha = layers.AlphaDropout(0.2, seed=0)
    np.testing.assert_array_equal(np.asarray(alpha(selu_like)), selu_like)
    dropped = np.asarray(alpha(selu_like, training=True))
    # the point of alpha dropout: zero mean and unit variance survive
    assert dropped.mean() == pytest.approx(0.0, abs=0.02)
    assert dropped.std() == pytest.approx(1.0, abs=0.03)


def test_functional_merge_helpers():
    a, b = axonal.Input((3,)), axonal.Input((3,))
    outputs = [
        layers.subtract([a, b]),
        layers.multiply([a, b]),
        layers.average([a, b]),
        layers.maximum([a, b]),
        layers.minimum([a, b]),
        layers.dot([a, b], axes=1),
    ]
    model = axonal.Model([a, b], outputs)
    x1, x2 = np.array([[1.0, 2.0, 3.0]], "float32"), np.array([[3.0, 2.0, 1.0]], "float32")
    got = model.predict([x1, x2], verbose=0)
    expected = [x1 - x2, x1 * x2, (x1 + x2) / 2, np.maximum(x1, x2), np.minimum(x1, x2), [[10.0]]]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e)


def test_group_normalization_refuses_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="4 groups do not divide 6 channels"):
        layers.GroupNormalization(groups=4)(X)
