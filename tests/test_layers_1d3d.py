"""The 1-D and 3-D shape layers: UpSampling1D, ZeroPadding1D, Cropping1D, GlobalAverage/Max
Pooling3D, SpatialDropout3D, against Keras 3 and finite differences."""

import numpy as np
import pytest

from axonal import layers
from axonal.gradcheck import check_gradients

SEQ = np.random.default_rng(0).normal(size=(2, 5, 3))
VOL = np.random.default_rng(1).normal(size=(2, 3, 4, 2, 3))

CASES = {
    "UpSampling1D": (lambda L: L.UpSampling1D(3), SEQ),
    "ZeroPadding1D": (lambda L: L.ZeroPadding1D((1, 2)), SEQ),
    "Cropping1D": (lambda L: L.Cropping1D((1, 2)), SEQ),
    "GlobalAveragePooling3D": (lambda L: L.GlobalAveragePooling3D(), VOL),
    "GlobalMaxPooling3D": (lambda L: L.GlobalMaxPooling3D(keepdims=True), VOL),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences(name):
    make, x = CASES[name]
    check_gradients(make(layers), x).assert_ok()


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_keras(name):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    make, x = CASES[name]
    x = x.astype("float32")
    expected = keras.ops.convert_to_numpy(make(keras.layers)(x))
    np.testing.assert_allclose(np.asarray(make(layers)(x)), expected, rtol=1e-6)


def test_spatial_dropout_3d_drops_whole_channels():
    x = np.ones((4, 3, 3, 3, 8), "float32")
    out = np.asarray(layers.SpatialDropout3D(0.5, seed=0)(x, training=True))
    per_channel = out.reshape(4, -1, 8)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))  # one draw per channel
    assert set(np.unique(out)) <= {0.0, 2.0}
    np.testing.assert_array_equal(np.asarray(layers.SpatialDropout3D(0.5)(x)), x)
