"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D against real Keras 3 layers given the same weights.

Values (outputs and final states) and gradients w.r.t. the inputs and every weight are compared
with Keras's layer on the torch backend (gradients through torch autograd); masks, initial
states, go_backwards and channels-first inputs included. A small model learns on generated
data; the refusals name what they refuse.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from axonal import layers as L
from axonal.models import Sequential
from axonal.optimizers import Adam
from axonal.tensor import Tensor
from axonal.utils import clear_session

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def _pair(name: str, filters: int, kernel_size, x_shape: tuple, seed: int = 0, **kwargs):
    """An axonal and a Keras layer built for ``x_shape`` with the same random weights."""
    ours = getattr(L, name)(filters, kernel_size, **kwargs)
    theirs = getattr(keras.layers, name)(filters, kernel_size, **kwargs)
    theirs.build(x_shape)
    ours.build(x_shape)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _compare(ours, theirs, x: np.ndarray, **call_kwargs):
    """Outputs, input gradient and weight gradients of ``sum(out_k * R_k)`` on both sides."""
    xa = Tensor(x, requires_grad=True)
    outs = _as_list(ours(xa, **call_kwargs))
    rng = np.random.default_rng(11)
    upstream = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    total = None
    for out, r in zip(outs, upstream, strict=True):
        term = (out * Tensor(r)).sum()
        total = term if total is None else total + term
    total.backward()

    xt = torch.tensor(x, requires_grad=True)
    keras_kwargs = dict(call_kwargs)
    if "mask" in keras_kwargs:
        keras_kwargs["mask"] = torch.tensor(keras_kwargs["mask"])
    if "initial_state" in keras_kwargs:
        keras_kwargs["initial_state"] = [torch.tensor(s) for s in keras_kwargs["initial_state"]]
    expected = _as_list(theirs(xt, **keras_kwargs))
    loss = sum((e * torch.tensor(r)).sum() for e, r in zip(expected, upstream, strict=True))
    loss.backward()

    for out, e in zip(outs, expected, strict=True):
        assert out.shape == tuple(e.shape)
        np.testing.assert_allclose(np.asarray(out.data), e.detach().numpy(), **TOL)
    np.testing.assert_allclose(np.asarray(xa.grad), xt.grad.numpy(), **TOL)
    for ours_w, keras_w in zip(ours.weights, theirs.weights, strict=True):
        keras_grad = keras_w.value.grad.numpy()
        np.testing.assert_allclose(np.asarray(ours_w.grad), keras_grad, **TOL)
    return outs


CASES = [
    ("2d-same", "ConvLSTM2D", 3, 3, (2, 4, 6, 5, 2), dict(padding="same")),
    (
        "2d-strided-sequences-states",
        "ConvLSTM2D",
        2,
        3,
        (2, 3, 7, 6, 3),
        dict(strides=2, return_sequences=True, return_state=True),
    ),
    (
        "2d-channels-first-backwards",
        "ConvLSTM2D",
        3,
        (2, 3),
        (2, 3, 2, 6, 5),
        dict(data_format="channels_first", go_backwards=True, return_sequences=True),
    ),
    (
        "2d-dilated-no-forget-bias",
        "ConvLSTM2D",
        2,
        2,
        (1, 3, 6, 6, 2),
        dict(dilation_rate=2, padding="same", unit_forget_bias=False, return_state=True),
    ),
    (
        "2d-no-bias-activations",
        "ConvLSTM2D",
        2,
        3,
        (2, 3, 5, 5, 2),
        dict(use_bias=False, activation="relu", recurrent_activation="hard_sigmoid"),
    ),
    ("3d-same", "ConvLSTM3D", 2, (3, 2, 3), (2, 3, 4, 5, 4, 2), dict(padding="same")),
    (
        "3d-strided-channels-first-states",
        "ConvLSTM3D",
        2,
        2,
        (1, 3, 2, 5, 4, 5),
        dict(strides=(2, 1, 2), data_format="channels_first", return_state=True),
    ),
    (
        "3d-dilated-sequences",
        "ConvLSTM3D",
        2,
        2,
        (1, 2, 5, 4, 4, 1),
        dict(dilation_rate=(2, 1, 1), return_sequences=True),
    ),
    ("1d", "ConvLSTM1D", 3, 3, (2, 4, 9, 2), dict(return_sequences=True)),
    (
        "1d-channels-first-states",
        "ConvLSTM1D",
        2,
        2,
        (2, 3, 2, 8),
        dict(data_format="channels_first", padding="same", return_state=True),
    ),
]


@pytest.mark.parametrize("row", CASES, ids=[c[0] for c in CASES])
def test_matches_keras_values_and_gradients(row):
    _, name, filters, kernel_size, x_shape, kwargs = row
    ours, theirs = _pair(name, filters, kernel_size, x_shape, **kwargs)
    x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)
    _compare(ours, theirs, x)
    symbolic = (None,) + x_shape[1:]
    expected_shape = theirs.compute_output_shape(symbolic)
    if isinstance(expected_shape, tuple) and isinstance(expected_shape[0], tuple):
        expected_shape = list(expected_shape)
    assert ours.compute_output_shape(symbolic) == expected_shape


def test_weight_names_and_layouts_follow_keras():
    ours, theirs = _pair("ConvLSTM2D", 4, (3, 2), (None, 5, 8, 8, 3))
    assert [w.name.split("/")[-1] for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.kernel.data.shape == (3, 2, 3, 16)
    assert ours.recurrent_kernel.data.shape == (3, 2, 4, 16)
    fresh = L.ConvLSTM2D(4, 3)
    fresh.build((None, 2, 5, 5, 1))
    # unit_forget_bias: the forget gate (second block of the i, f, c, o order) starts at one
    np.testing.assert_array_equal(fresh.bias.data, np.repeat([0.0, 1.0, 0.0, 0.0], 4))


def test_mask_matches_keras():
    ours, theirs = _pair("ConvLSTM2D", 2, 3, (3, 5, 5, 5, 2), padding="same", return_sequences=True)
    x = np.random.default_rng(2).standard_normal((3, 5, 5, 5, 2)).astype(np.float32)
    mask = np.array(
        [[1, 1, 1, 1, 1], [1, 1, 0, 1, 0], [0, 1, 1, 0, 0]],
        dtype=bool,
    )
    _compare(ours, theirs, x, mask=mask)


def test_initial_state_matches_keras():
    ours, theirs = _pair("ConvLSTM2D", 2, 3, (2, 3, 6, 6, 2), return_state=True)
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6, 2)).astype(np.float32)
    rng = np.random.default_rng(4)
    states = [rng.standard_normal((2, 4, 4, 2)).astype(np.float32) for _ in range(2)]
    _compare(ours, theirs, x, initial_state=states)
    with pytest.raises(ValueError, match=r"initial states of shape \(2, 4, 4, 2\)"):
        ours(x, initial_state=[states[0][:, :3], states[1]])


def test_config_keys_match_keras_and_round_trip():
    kwargs = dict(padding="same", data_format="channels_first", return_sequences=True)
    ours = L.ConvLSTM2D(3, 2, **kwargs)
    theirs = keras.layers.ConvLSTM2D(3, 2, **kwargs)
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    rebuilt = L.ConvLSTM2D.from_config(config)
    assert rebuilt.get_config() == config


def test_dropout_is_seeded_and_off_at_inference():
    x = np.random.default_rng(5).standard_normal((2, 3, 5, 5, 2)).astype(np.float32)
    plain = L.ConvLSTM2D(2, 3, padding="same", seed=1)
    plain.build(x.shape)
    dropped = L.ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.3, seed=1)
    dropped.build(x.shape)
    dropped.set_weights(plain.get_weights())
    twin = L.ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.3, seed=1)
    twin.build(x.shape)
    twin.set_weights(plain.get_weights())
    reference = np.asarray(plain(x))
    np.testing.assert_array_equal(np.asarray(dropped(x, training=False)), reference)
    train = np.asarray(dropped(x, training=True))
    assert not np.allclose(train, reference)
    np.testing.assert_array_equal(np.asarray(twin(x, training=True)), train)


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match="stateful=True"):
        L.ConvLSTM2D(2, 3, stateful=True)
    with pytest.raises(ValueError, match="activity_regularizer"):
        L.ConvLSTM2D(2, 3, activity_regularizer="l2")
    with pytest.raises(ValueError, match="filters"):
        L.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="dilation_rate"):
        L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    layer = L.ConvLSTM2D(2, 3, name="clstm")
    with pytest.raises(ValueError, match=r"'clstm'.*rank 5.*\(batch, time, rows, cols, channels\)"):
        layer(np.ones((2, 5, 5, 1), np.float32))
    layer(np.ones((1, 2, 5, 5, 1), np.float32))
    with pytest.raises(ValueError, match="1 channels"):
        layer(np.ones((1, 2, 5, 5, 3), np.float32))


def test_small_model_learns_moving_squares():
    # does a bright square move right or left over 4 frames? it needs time and space both
    rng = np.random.default_rng(0)
    n, steps, size = 64, 4, 6
    x = np.zeros((n, steps, size, size, 1), np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    for i in range(n):
        row = rng.integers(0, size - 1)
        for t in range(steps):
            col = t if y[i] else size - 2 - t
            x[i, t, row : row + 2, col : col + 2] = 1.0
    model = Sequential(
        [
            L.Input((steps, size, size, 1)),
            L.ConvLSTM2D(4, 3, padding="same"),
            L.Flatten(),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    last = model.evaluate(x, y, verbose=0)
    assert last[0] < first[0] * 0.5
    assert last[1] >= 0.95


def test_a_real_keras_file_with_conv_lstm_and_volumes_loads_with_equal_predictions(tmp_path):
    pytest.importorskip("h5py")
    from axonal.saving import load_model

    inputs = keras.Input((3, 6, 6, 2))
    x = keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(inputs)
    x = keras.layers.MaxPooling3D((1, 2, 2))(x)
    x = keras.layers.ZeroPadding3D(1)(keras.layers.UpSampling3D((1, 2, 2))(x))
    x = keras.layers.AveragePooling3D(2)(keras.layers.Cropping3D(1)(x))
    pooled = keras.layers.GlobalMaxPooling3D()(x)
    x = keras.layers.Reshape((3, 3, 3))(x)  # read as channels first: (channels, rows, cols)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(
        keras.layers.MaxPooling2D(2, strides=1, data_format="channels_first")(x)
    )
    outputs = keras.layers.Dense(2)(keras.layers.Concatenate()([x, pooled]))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "conv_lstm.keras"
    model.save(path)
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 6, 2)).astype(np.float32)
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), expected, **TOL)
