"""Conv3D, Conv1DTranspose, Conv3DTranspose, DepthwiseConv1D, SeparableConv1D and
``data_format='channels_first'`` on every convolution layer.

Values and gradients (w.r.t. the input and every weight) against real Keras 3 layers given the
same weights (torch backend, gradients by torch autograd), and the 3-D and transposed primitives
against ``torch.nn.functional`` in float64 with the weights permuted. Finite-difference checks
are rows of ``test_conv_layers.py``, per-example gradients rows of ``test_privacy.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import axonal
from axonal import config, layers
from axonal import functional as F
from axonal.tensor import Tensor
from axonal.utils import clear_session

CF = {"data_format": "channels_first"}

# (id, make(layers module) -> layer, input shape): every convolution layer, both layouts
KERAS_ROWS = [
    ("Conv3D-valid", lambda L: L.Conv3D(3, (2, 3, 2)), (2, 4, 5, 4, 2)),
    (
        "Conv3D-same-s2",
        lambda L: L.Conv3D(2, 3, strides=(2, 1, 2), padding="same"),
        (2, 5, 4, 5, 3),
    ),
    (
        "Conv3D-d2",
        lambda L: L.Conv3D(2, 2, dilation_rate=(2, 1, 2), padding="same"),
        (2, 4, 4, 5, 2),
    ),
    ("Conv3D-groups", lambda L: L.Conv3D(4, 2, groups=2, activation="relu"), (2, 3, 4, 4, 4)),
    ("Conv3D-cf", lambda L: L.Conv3D(3, 2, strides=2, padding="same", **CF), (2, 2, 5, 4, 3)),
    ("Conv1DTranspose-valid", lambda L: L.Conv1DTranspose(3, 3), (2, 5, 2)),
    ("Conv1DTranspose-same-s2", lambda L: L.Conv1DTranspose(2, 3, 2, "same"), (2, 5, 3)),
    (
        "Conv1DTranspose-output_padding",
        lambda L: L.Conv1DTranspose(2, 3, strides=3, output_padding=2),
        (2, 4, 2),
    ),
    ("Conv1DTranspose-cf", lambda L: L.Conv1DTranspose(2, 4, strides=2, **CF), (2, 3, 5)),
    ("Conv3DTranspose-valid", lambda L: L.Conv3DTranspose(2, (2, 3, 2)), (2, 3, 2, 3, 2)),
    (
        "Conv3DTranspose-same-s2",
        lambda L: L.Conv3DTranspose(3, 3, strides=(2, 1, 2), padding="same"),
        (2, 2, 3, 2, 2),
    ),
    (
        "Conv3DTranspose-output_padding",
        lambda L: L.Conv3DTranspose(2, 2, strides=2, padding="same", output_padding=(1, 0, 1)),
        (2, 2, 3, 2, 2),
    ),
    (
        "Conv3DTranspose-cf",
        lambda L: L.Conv3DTranspose(2, 2, strides=2, activation="tanh", **CF),
        (2, 3, 2, 3, 2),
    ),
    ("DepthwiseConv1D", lambda L: L.DepthwiseConv1D(3, depth_multiplier=2), (2, 7, 3)),
    (
        "DepthwiseConv1D-same-s2-cf",
        lambda L: L.DepthwiseConv1D(3, strides=2, padding="same", **CF),
        (2, 3, 7),
    ),
    ("SeparableConv1D", lambda L: L.SeparableConv1D(4, 3, depth_multiplier=2), (2, 7, 3)),
    ("SeparableConv1D-cf", lambda L: L.SeparableConv1D(2, 3, padding="same", **CF), (2, 3, 6)),
    ("Conv1D-cf", lambda L: L.Conv1D(3, 3, padding="causal", dilation_rate=2, **CF), (2, 2, 9)),
    ("Conv2D-cf", lambda L: L.Conv2D(3, (3, 2), strides=2, padding="same", **CF), (2, 2, 7, 6)),
    (
        "Conv2D-cf-relu-groups",
        lambda L: L.Conv2D(4, 3, groups=2, activation="relu", **CF),
        (2, 4, 5, 5),
    ),
    ("DepthwiseConv2D-cf", lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, **CF), (2, 3, 6, 5)),
    ("SeparableConv2D-cf", lambda L: L.SeparableConv2D(3, 2, padding="same", **CF), (2, 2, 5, 4)),
    (
        "Conv2DTranspose-cf",
        lambda L: L.Conv2DTranspose(2, 3, strides=2, padding="same", **CF),
        (2, 3, 4, 3),
    ),
]


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def _weights(layer, shape, seed):
    layer.build(shape)
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.get_weights()]


def _keras_run(keras_layer, x, weights, r):
    """Keras's output and the gradients of ``sum(out * r)`` w.r.t. x and each weight."""
    torch = pytest.importorskip("torch")
    keras_layer.build(x.shape)
    keras_layer.set_weights(weights)
    xt = torch.tensor(x, requires_grad=True)
    out = keras_layer(xt)
    (out * torch.tensor(r)).sum().backward()
    grads = [xt.grad.numpy()] + [v.value.grad.numpy() for v in keras_layer.weights]
    return out.detach().numpy(), grads


def _axonal_run(layer, x, weights, r):
    layer.build(x.shape)
    layer.set_weights(weights)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    (out * Tensor(r)).sum().backward()
    grads = [xt.grad] + [v.grad for v in layer.weights]
    return out.numpy(), grads


@pytest.mark.parametrize("make, shape", [r[1:] for r in KERAS_ROWS], ids=[r[0] for r in KERAS_ROWS])
def test_values_and_gradients_match_keras(make, shape):
    keras = pytest.importorskip("keras")
    ours, theirs = make(layers), make(keras.layers)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    weights = _weights(make(layers), shape, 1)
    r = _r(theirs, x)
    want, want_grads = _keras_run(theirs, x, weights, r)
    got, got_grads = _axonal_run(ours, x, weights, r)
    assert got.shape == want.shape == tuple(ours.compute_output_shape(shape))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in theirs.weights
    ]
    for g, w in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def _r(keras_layer, x):
    """A fixed random cotangent of the layer's output shape."""
    shape = keras_layer.compute_output_shape(x.shape)
    return np.random.default_rng(2).normal(size=shape).astype("float32")


@pytest.mark.parametrize("make, shape", [r[1:] for r in KERAS_ROWS], ids=[r[0] for r in KERAS_ROWS])
def test_config_matches_keras_and_round_trips(make, shape):
    keras = pytest.importorskip("keras")
    ours, theirs = make(layers), make(keras.layers)
    config_ = ours.get_config()
    assert set(config_) <= set(theirs.get_config())
    for key in ("kernel_size", "strides", "padding", "data_format", "dilation_rate"):
        want = theirs.get_config()[key]
        assert config_[key] == (list(want) if isinstance(want, tuple) else want), key
    again = type(ours).from_config(config_)
    assert again.get_config() == config_
    # symbolic shapes with an unknown batch, in the layer's own layout
    want = theirs.compute_output_shape((None,) + shape[1:])
    assert tuple(again.compute_output_shape((None,) + shape[1:])) == tuple(want)


# ---------------------------------------------------------------- primitives against torch


def _same_pads(size, kernel, stride, dilation):
    extent = dilation * (kernel - 1) + 1
    total = max((math.ceil(size / stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize(
    "strides, padding, dilation, groups",
    [
        ((1, 1, 1), "valid", (1, 1, 1), 1),
        ((2, 1, 3), "same", (1, 1, 1), 1),
        ((1, 1, 1), "same", (2, 1, 2), 2),
        ((2, 2, 2), "valid", (1, 1, 1), 4),
    ],
)
def test_conv3d_matches_torch(strides, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 6, 7, 4))
    kernel = rng.normal(size=(3, 2, 3, 4 // groups, 8))
    bias = rng.normal(size=8)
    tensors = [Tensor(a, requires_grad=True) for a in (x, kernel, bias)]
    out = F.conv3d(
        *tensors, strides=strides, padding=padding, dilation_rate=dilation, groups=groups
    )
    r = rng.normal(size=out.shape)
    (out * Tensor(r)).sum().backward()

    xt, kt, bt = (torch.tensor(a, requires_grad=True) for a in (x, kernel, bias))
    pads = [(0, 0)] * 3
    if padding == "same":
        pads = [
            _same_pads(x.shape[1 + i], kernel.shape[i], strides[i], dilation[i]) for i in range(3)
        ]
    flat = [p for pair in reversed(pads) for p in pair]  # torch lists the last axis first
    ncdhw = torch.nn.functional.pad(xt.permute(0, 4, 1, 2, 3), flat)
    want = torch.nn.functional.conv3d(
        ncdhw, kt.permute(4, 3, 0, 1, 2), bt, strides, 0, dilation, groups
    ).permute(0, 2, 3, 4, 1)
    (want * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(tensors, (xt, kt, bt), strict=True):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("strides, dilation", [(1, 1), (2, 1), (1, 2), (3, 1)])
def test_valid_transposed_convolutions_match_torch(rank, strides, dilation):
    # Keras's 'valid' transposed output equals torch's unpadded one when the kernel reaches
    # at least one stride (kernel 3 here)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2,) + (4, 3, 5)[:rank] + (3,))
    kernel = rng.normal(size=(3,) * rank + (2, 3))
    bias = rng.normal(size=2)
    tensors = [Tensor(a, requires_grad=True) for a in (x, kernel, bias)]
    fn = F.conv1d_transpose if rank == 1 else F.conv3d_transpose
    out = fn(*tensors, strides=strides, dilation_rate=dilation)
    r = rng.normal(size=out.shape)
    (out * Tensor(r)).sum().backward()

    xt, kt, bt = (torch.tensor(a, requires_grad=True) for a in (x, kernel, bias))
    to_first = (0, rank + 1) + tuple(range(1, rank + 1))
    to_last = (0,) + tuple(range(2, rank + 2)) + (1,)
    weight = kt.permute((rank + 1, rank) + tuple(range(rank)))  # (in, out, *k)
    torch_fn = (
        torch.nn.functional.conv_transpose1d if rank == 1 else torch.nn.functional.conv_transpose3d
    )
    want = torch_fn(xt.permute(to_first), weight, bt, strides, dilation=dilation).permute(to_last)
    (want * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(tensors, (xt, kt, bt), strict=True):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv3d_transpose_is_the_adjoint_of_conv3d():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 6, 7, 3))
    kernel = rng.normal(size=(3, 3, 3, 3, 4))
    y = F.conv3d(x, kernel, strides=2, padding="same").numpy()
    g = rng.normal(size=y.shape)
    back = F.conv3d_transpose(g, kernel, strides=2, padding="same", output_padding=(0, 1, 0))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * back.numpy()), rtol=1e-10)


# ---------------------------------------------------------------- layouts, shapes and errors


def test_channels_first_equals_channels_last_transposed():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 4, 5, 3, 2)).astype("float32")
    last = layers.Conv3D(3, 2, padding="same", activation="relu")
    first = layers.Conv3D(3, 2, padding="same", activation="relu", data_format="channels_first")
    out_last = np.asarray(last(x))
    first.build((None, 2, 4, 5, 3))
    first.set_weights(last.get_weights())  # the kernel layout does not depend on the format
    out_first = np.asarray(first(np.moveaxis(x, -1, 1)))
    np.testing.assert_allclose(out_first, np.moveaxis(out_last, -1, 1), rtol=1e-6)


def test_data_format_none_follows_the_image_data_format():
    config.set_image_data_format("channels_first")
    try:
        layer = layers.Conv1DTranspose(2, 3)
        assert layer.data_format == "channels_first"
        assert layer(np.zeros((1, 3, 5), "float32")).shape == (1, 2, 7)
    finally:
        config.set_image_data_format("channels_last")
    assert layers.Conv3D(2, 3).data_format == "channels_last"


def test_wrong_channels_first_input_names_the_layout():
    layer = layers.Conv3D(2, 2, data_format="channels_first", name="vol")
    layer(np.zeros((1, 3, 4, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"'vol'.*3 channels, \(batch, 3, depth, height, width\)"):
        layer(np.zeros((1, 4, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match=r"rank 5, \(batch, channels, depth, height, width\)"):
        layers.Conv3D(2, 2, data_format="channels_first")(np.zeros((1, 3, 4, 4), "float32"))
    with pytest.raises(ValueError, match="data_format"):
        layers.Conv1DTranspose(2, 2, data_format="NCW")


def test_aliases_and_weight_layouts():
    assert layers.Convolution3D is layers.Conv3D
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    shapes = {
        layers.Conv3D(4, (2, 3, 1), groups=2): [(2, 3, 1, 3, 4), (4,)],
        layers.Conv1DTranspose(4, 3): [(3, 4, 6), (4,)],
        layers.Conv3DTranspose(4, 2): [(2, 2, 2, 4, 6), (4,)],
        layers.DepthwiseConv1D(3, depth_multiplier=2): [(3, 6, 2), (12,)],
        layers.SeparableConv1D(5, 3): [(3, 6, 1), (1, 6, 5), (5,)],
    }
    for layer, want in shapes.items():
        rank = len(want[0]) - 2
        layer.build((None,) + (8,) * rank + (6,))
        assert [w.data.shape for w in layer.weights] == want, layer.name


def test_conv3d_transpose_keeps_keras_argument_order():
    layer = layers.Conv3DTranspose(2, 3, 2, "same", "channels_first", 1)
    assert layer.data_format == "channels_first" and layer.output_padding == (1, 1, 1)


# ---------------------------------------------------------------- training


def test_a_small_conv3d_model_learns_which_half_holds_the_blob():
    axonal.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 192
    x = rng.normal(scale=0.3, size=(n, 6, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 2, size=n)
    for i in range(n):
        d = rng.integers(0, 3) + 3 * y[i]  # the blob's depth: front half for 0, back for 1
        h, w = rng.integers(0, 5, size=2)
        x[i, d, h : h + 2, w : w + 2] += 2.0
    model = axonal.Sequential(
        [
            layers.Input((1, 6, 6, 6)),
            layers.Conv3D(4, 3, padding="same", activation="relu", data_format="channels_first"),
            layers.Conv3D(4, 2, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_first = np.moveaxis(x, -1, 1)
    history = model.fit(x_first, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_a_real_keras_channels_first_model_loads_with_equal_predictions(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    from axonal.models import load_model

    model = keras.Sequential(
        [
            keras.Input((2, 4, 5, 4)),
            keras.layers.Conv3D(4, 2, padding="same", groups=2, data_format="channels_first"),
            keras.layers.Conv3DTranspose(3, 2, strides=2, data_format="channels_first"),
            keras.layers.Reshape((3, -1)),
            keras.layers.SeparableConv1D(2, 3, data_format="channels_first"),
            keras.layers.Conv1DTranspose(2, 3, activation="tanh"),
        ]
    )
    rng = np.random.default_rng(7)
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype("f4") for w in layer.get_weights()])
    path = tmp_path / "volumes.keras"
    model.save(path)
    x = rng.normal(size=(3, 2, 4, 5, 4)).astype("f4")
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(
        load_model(path).predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4
    )
