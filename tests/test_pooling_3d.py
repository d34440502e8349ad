"""3-D pooling and resampling layers, and channels-first layouts of every pooling layer.

Oracles: real Keras 3 layers (torch backend; gradients through torch autograd) for values,
input gradients, output shapes and config keys of every layer in both data formats, and
torch's own max_pool3d / avg_pool3d / interpolate / pad for the 3-D layers.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from axonal import config
from axonal import layers as L
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import distinct

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
TF = torch.nn.functional

CF = "channels_first"


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def _axonal_value_and_grad(layer, x: np.ndarray, upstream_seed: int = 7):
    """``layer(x)`` and the gradient of ``sum(layer(x) * R)`` w.r.t. x (R fixed random)."""
    tensor = Tensor(x, requires_grad=True)
    out = layer(tensor)
    weights = np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(x.dtype)
    out.backward(weights)
    return np.asarray(out.data), np.asarray(tensor.grad), weights


def _keras_value_and_grad(layer, x: np.ndarray, weights: np.ndarray):
    tensor = torch.tensor(x, requires_grad=True)
    out = layer(tensor)
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), tensor.grad.numpy()


# name, layer class name, kwargs, channels-last input shape, distinct inputs.
# Average pooling 'same' rows pad symmetrically: Keras's torch backend pads the odd cell with
# explicit zeros that its average then counts, unlike TensorFlow's (and Keras's documented)
# mean over real cells only; asymmetric 'same' is checked against that definition below.
ROWS = [
    ("max3d-valid", "MaxPooling3D", {}, (2, 4, 6, 5, 3), True),
    (
        "max3d-same",
        "MaxPooling3D",
        dict(pool_size=(2, 3, 2), strides=(1, 2, 2), padding="same"),
        (2, 5, 7, 4, 2),
        True,
    ),
    (
        "avg3d-valid",
        "AveragePooling3D",
        dict(pool_size=2, strides=(1, 2, 1)),
        (2, 4, 6, 5, 3),
        False,
    ),
    (
        "avg3d-same",
        "AveragePooling3D",
        dict(pool_size=3, strides=1, padding="same"),
        (1, 5, 6, 4, 2),
        False,
    ),
    (
        "max2d-same",
        "MaxPooling2D",
        dict(pool_size=3, strides=2, padding="same"),
        (2, 7, 5, 3),
        True,
    ),
    (
        "avg2d-same",
        "AveragePooling2D",
        dict(pool_size=3, strides=1, padding="same"),
        (2, 5, 4, 3),
        False,
    ),
    ("max1d", "MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 9, 3), True),
    ("avg1d", "AveragePooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 7, 3), False),
    ("gmax1d", "GlobalMaxPooling1D", {}, (2, 6, 3), True),
    ("gavg1d-keepdims", "GlobalAveragePooling1D", dict(keepdims=True), (2, 6, 3), False),
    ("gmax2d-keepdims", "GlobalMaxPooling2D", dict(keepdims=True), (2, 4, 5, 3), True),
    ("gavg2d", "GlobalAveragePooling2D", {}, (2, 4, 5, 3), False),
    ("gmax3d", "GlobalMaxPooling3D", {}, (2, 3, 4, 2, 3), True),
    ("gavg3d-keepdims", "GlobalAveragePooling3D", dict(keepdims=True), (2, 3, 4, 2, 3), False),
    ("up2d", "UpSampling2D", dict(size=(2, 3)), (2, 3, 2, 3), False),
    ("up3d", "UpSampling3D", dict(size=(1, 2, 3)), (2, 2, 3, 2, 3), False),
    ("up3d-default", "UpSampling3D", {}, (1, 2, 2, 2, 2), False),
    ("pad1d", "ZeroPadding1D", dict(padding=(2, 1)), (2, 5, 3), False),
    ("pad2d", "ZeroPadding2D", dict(padding=((1, 0), (2, 2))), (2, 3, 4, 3), False),
    ("pad3d", "ZeroPadding3D", dict(padding=((1, 0), (0, 2), (1, 1))), (2, 3, 2, 4, 3), False),
    ("pad3d-int", "ZeroPadding3D", dict(padding=2), (1, 2, 2, 2, 2), False),
    ("pad3d-triple", "ZeroPadding3D", dict(padding=(1, 0, 2)), (1, 2, 2, 2, 2), False),
    ("crop2d", "Cropping2D", dict(cropping=((1, 0), (0, 2))), (2, 5, 5, 3), False),
    ("crop3d", "Cropping3D", dict(cropping=((1, 0), (0, 1), (1, 1))), (2, 4, 4, 5, 3), False),
    ("crop3d-default", "Cropping3D", {}, (1, 4, 4, 4, 2), False),
]


def _input(shape: tuple, distinct_values: bool, data_format: str) -> np.ndarray:
    x = distinct(*shape) if distinct_values else np.random.default_rng(0).standard_normal(shape)
    x = x.astype(np.float32)
    if data_format == CF:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return x


def _row_params():
    return [
        pytest.param(row, data_format, id=f"{row[0]}-{data_format}")
        for row in ROWS
        for data_format in ("channels_last", CF)
    ]


@pytest.mark.parametrize(("row", "data_format"), _row_params())
def test_layer_matches_keras_values_gradients_and_shapes(row, data_format):
    _, name, kwargs, shape, distinct_values = row
    x = _input(shape, distinct_values, data_format)
    ours = getattr(L, name)(data_format=data_format, **kwargs)
    theirs = getattr(keras.layers, name)(data_format=data_format, **kwargs)
    out, grad, weights = _axonal_value_and_grad(ours, x)
    expected, expected_grad = _keras_value_and_grad(theirs, x, weights)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)
    symbolic = (None,) + x.shape[1:]
    assert tuple(ours.compute_output_shape(symbolic)) == tuple(
        theirs.compute_output_shape(symbolic)
    )
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    assert config["data_format"] == data_format
    rebuilt = type(ours).from_config(config)
    np.testing.assert_array_equal(np.asarray(rebuilt(x)), out)


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("UpSampling1D", dict(size=3), (2, 4, 3)),
        ("Cropping1D", dict(cropping=(1, 2)), (2, 6, 3)),
    ],
)
def test_1d_layers_without_data_format_match_keras(name, kwargs, shape):
    # Keras's UpSampling1D and Cropping1D take no data_format: (batch, steps, channels) only
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    out, grad, weights = _axonal_value_and_grad(ours, x)
    expected, expected_grad = _keras_value_and_grad(theirs, x, weights)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)
    assert set(ours.get_config()) == set(theirs.get_config())


# ---------------------------------------------------------------- torch's own 3-D ops


def _ncdhw(x: np.ndarray):
    return torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("pool", "strides"), [((2, 2, 2), (2, 2, 2)), ((3, 2, 2), (1, 2, 1)), ((1, 3, 2), (2, 1, 2))]
)
def test_pooling3d_matches_torch(pool, strides, dtype):
    x = distinct(2, 5, 6, 5, 3).astype(dtype)
    for ours, torch_fn in (
        (L.MaxPooling3D(pool, strides), TF.max_pool3d),
        (L.AveragePooling3D(pool, strides), TF.avg_pool3d),
    ):
        out, grad, weights = _axonal_value_and_grad(ours, x)
        assert out.dtype == dtype and grad.dtype == dtype
        xt = _ncdhw(x)
        yt = torch_fn(xt, pool, strides)
        (yt * torch.tensor(np.moveaxis(weights, -1, 1).copy())).sum().backward()
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, np.moveaxis(yt.detach().numpy(), 1, -1), atol=tol)
        np.testing.assert_allclose(grad, np.moveaxis(xt.grad.numpy(), 1, -1), atol=tol)


def test_pooling3d_same_matches_torch_with_explicit_padding():
    # Keras 'same' for pool 3 stride 2 on size 6: one cell of padding after (TensorFlow's rule);
    # padded cells never win a max and are left out of a mean
    x = distinct(1, 6, 6, 6, 2).astype(np.float64)
    out, _, _ = _axonal_value_and_grad(L.MaxPooling3D(3, 2, padding="same"), x)
    padded = TF.pad(_ncdhw(x), (0, 1, 0, 1, 0, 1), value=-float("inf"))
    expected = np.moveaxis(TF.max_pool3d(padded, 3, 2).detach().numpy(), 1, -1)
    np.testing.assert_allclose(out, expected)
    out, _, _ = _axonal_value_and_grad(L.AveragePooling3D(3, 2, padding="same"), x)
    sums = TF.avg_pool3d(TF.pad(_ncdhw(x), (0, 1, 0, 1, 0, 1)), 3, 2, divisor_override=1)
    ones = torch.ones((1, 1, 6, 6, 6), dtype=torch.float64)
    counts = TF.avg_pool3d(TF.pad(ones, (0, 1, 0, 1, 0, 1)), 3, 2, divisor_override=1)
    np.testing.assert_allclose(out, np.moveaxis((sums / counts).detach().numpy(), 1, -1))


def test_upsampling_padding_cropping_3d_match_torch():
    x = np.random.default_rng(2).standard_normal((2, 2, 3, 2, 3))
    out, grad, weights = _axonal_value_and_grad(L.UpSampling3D((2, 1, 3)), x)
    xt = _ncdhw(x)
    yt = TF.interpolate(xt, scale_factor=(2, 1, 3), mode="nearest")
    (yt * torch.tensor(np.moveaxis(weights, -1, 1).copy())).sum().backward()
    np.testing.assert_allclose(out, np.moveaxis(yt.detach().numpy(), 1, -1))
    np.testing.assert_allclose(grad, np.moveaxis(xt.grad.numpy(), 1, -1))

    out, grad, weights = _axonal_value_and_grad(L.ZeroPadding3D(((1, 2), (0, 1), (2, 0))), x)
    xt = _ncdhw(x)
    yt = TF.pad(xt, (2, 0, 0, 1, 1, 2))
    (yt * torch.tensor(np.moveaxis(weights, -1, 1).copy())).sum().backward()
    np.testing.assert_allclose(out, np.moveaxis(yt.detach().numpy(), 1, -1))
    np.testing.assert_allclose(grad, np.moveaxis(xt.grad.numpy(), 1, -1))

    big = np.random.default_rng(3).standard_normal((2, 4, 5, 4, 3))
    out, grad, weights = _axonal_value_and_grad(L.Cropping3D(((1, 0), (1, 2), (0, 1))), big)
    xt = _ncdhw(big)
    yt = TF.pad(xt, (0, -1, -1, -2, -1, 0))  # a negative pad crops
    (yt * torch.tensor(np.moveaxis(weights, -1, 1).copy())).sum().backward()
    np.testing.assert_allclose(out, np.moveaxis(yt.detach().numpy(), 1, -1))
    np.testing.assert_allclose(grad, np.moveaxis(xt.grad.numpy(), 1, -1))


# ---------------------------------------------------------------- defaults, errors, aliases


def test_aliases_and_keras_defaults():
    assert L.MaxPool3D is L.MaxPooling3D and L.AvgPool3D is L.AveragePooling3D
    assert L.MaxPooling3D().pool_size == (2, 2, 2)
    assert L.UpSampling3D().size == (2, 2, 2)
    assert L.ZeroPadding3D().padding == ((1, 1), (1, 1), (1, 1))
    assert L.Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))
    with pytest.raises(TypeError):
        L.AveragePooling3D()  # pool_size is required, as in Keras


def test_default_data_format_follows_the_config():
    previous = config.image_data_format()
    try:
        config.set_image_data_format(CF)
        for layer in (
            L.MaxPooling2D(),
            L.AveragePooling3D(2),
            L.GlobalMaxPooling1D(),
            L.UpSampling3D(),
            L.ZeroPadding1D(),
            L.Cropping3D(),
            L.SpatialDropout2D(0.5),
        ):
            assert layer.data_format == CF, type(layer).__name__
        out = L.MaxPooling2D()(np.ones((1, 3, 4, 6), np.float32))
        assert out.shape == (1, 3, 2, 3)
    finally:
        config.set_image_data_format(previous)
    assert L.MaxPooling2D().data_format == "channels_last"


def test_errors_name_the_layer_layout_and_argument():
    layer = L.MaxPooling3D(name="vol", data_format=CF)
    with pytest.raises(ValueError, match=r"'vol'.*\(batch, channels, depth, height, width\)"):
        layer(np.ones((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="data_format"):
        L.AveragePooling2D(data_format="channels_middle")
    with pytest.raises(ValueError, match="smaller than pool_size"):
        L.MaxPooling3D(3)(np.ones((1, 2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="removes every cell"):
        L.Cropping3D(2, data_format=CF)(np.ones((1, 1, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="padding"):
        L.ZeroPadding3D(((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        L.Cropping3D((1, -1, 0))


def test_pooling_is_vectorised_over_positions():
    # a large volume pools in a handful of array operations: the backward adds one strided slab
    # per tap (8 taps here), so it finishes at once even with 32768 windows
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 64, 2)).astype(np.float32)
    out, grad, _ = _axonal_value_and_grad(L.MaxPooling3D(), x)
    assert out.shape == (2, 32, 32, 32, 2) and grad.shape == x.shape
    # exactly one cell of each window gets its window's gradient
    assert np.count_nonzero(grad) == out.size


# ---------------------------------------------------------------- normalization, channels first


def test_batch_normalization_axis_1_on_channels_first_images_matches_keras():
    x = np.random.default_rng(4).standard_normal((4, 3, 5, 6)).astype(np.float32) * 2 + 1
    ours = L.BatchNormalization(axis=1, momentum=0.9)
    theirs = keras.layers.BatchNormalization(axis=1, momentum=0.9)
    tensor = Tensor(x, requires_grad=True)
    out = ours(tensor, training=True)
    weights = np.random.default_rng(5).standard_normal(out.shape).astype(np.float32)
    out.backward(weights)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, training=True)
    (yt * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(np.asarray(out.data), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(tensor.grad), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert ours.gamma.data.shape == (3,)
    np.testing.assert_allclose(
        ours.moving_mean.data, theirs.moving_mean.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        ours.moving_variance.data, theirs.moving_variance.numpy(), rtol=1e-5, atol=1e-6
    )
    inference = np.asarray(ours(x, training=False))
    expected = theirs(torch.tensor(x), training=False).detach().numpy()
    np.testing.assert_allclose(inference, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("cls", "shape"), [(L.SpatialDropout2D, (3, 4, 5, 6)), (L.SpatialDropout3D, (3, 4, 2, 5, 6))]
)
def test_spatial_dropout_channels_first_drops_whole_channels(cls, shape):
    out = np.asarray(cls(0.5, data_format=CF, seed=3)(np.ones(shape, np.float32), training=True))
    per_channel = out.reshape(shape[0], shape[1], -1)
    # every (sample, channel) map is all zeros or all 2s
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert cls(0.5, data_format=CF).get_config()["data_format"] == CF
