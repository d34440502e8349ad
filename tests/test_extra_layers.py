"""RepeatVector, Permute, ReLU, LeakyReLU, PReLU, ELU, Softmax, Identity, Masking, Rescaling,
Lambda: Keras 3 maths, gradients, configs, masks and saving."""

import numpy as np
import pytest

from axonal import functional as F
from axonal import optimizers, registry, saving
from axonal.layers import (
    ELU,
    LSTM,
    Dense,
    Identity,
    Input,
    Lambda,
    LeakyReLU,
    Masking,
    Permute,
    PReLU,
    ReLU,
    RepeatVector,
    Rescaling,
    Softmax,
)
from axonal.layers.masking import mask_of
from axonal.models import Model, Sequential
from axonal.tensor import Tensor
from gradcheck import away_from, gradcheck, randn


def _f64(layer):
    """A float64 copy of ``layer`` (gradchecks run in float64)."""
    config = layer.get_config()
    config.update(dtype="float64", name=None)
    return type(layer).from_config(config)


def _layer_fn(layer):
    return lambda x: layer(x)


# ---------------------------------------------------------------- outputs vs NumPy


def _keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    out = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        out = np.minimum(out, max_value)
    return out - negative_slope * np.maximum(threshold - x, 0.0)


RELU_SETTINGS = [
    {},
    {"max_value": 6.0},
    {"negative_slope": 0.1},
    {"threshold": 0.5},
    {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.5},
]


@pytest.mark.parametrize("settings", RELU_SETTINGS)
def test_relu_matches_keras_formula(settings):
    x = np.linspace(-8, 8, 33).reshape(3, 11)
    out = ReLU(**settings, dtype="float64")(x).data
    np.testing.assert_allclose(out, _keras_relu(x, **settings))


def test_activation_layers_match_numpy():
    x = np.linspace(-3, 3, 12).reshape(3, 4).astype("float64")
    np.testing.assert_allclose(LeakyReLU(dtype="float64")(x).data, np.where(x >= 0, x, 0.3 * x))
    np.testing.assert_allclose(
        LeakyReLU(negative_slope=0.05, dtype="float64")(x).data, np.where(x >= 0, x, 0.05 * x)
    )
    np.testing.assert_allclose(
        ELU(alpha=0.7, dtype="float64")(x).data, np.where(x > 0, x, 0.7 * (np.exp(x) - 1))
    )
    e = np.exp(x - x.max(axis=0, keepdims=True))
    np.testing.assert_allclose(Softmax(axis=0, dtype="float64")(x).data, e / e.sum(0))
    e = np.exp(x - x.max())
    np.testing.assert_allclose(
        Softmax(axis=[0, 1], dtype="float64")(x).data, e / e.sum(), rtol=1e-12
    )
    np.testing.assert_array_equal(Identity(dtype="float64")(x).data, x)


def test_keras_defaults():
    assert LeakyReLU().negative_slope == 0.3
    assert LeakyReLU(alpha=0.1).negative_slope == 0.1
    relu = ReLU()
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (None, 0.0, 0.0)
    assert ELU().alpha == 1.0
    assert Softmax().axis == -1
    assert Masking().mask_value == 0.0
    assert Rescaling(2.0).offset == 0.0
    with pytest.raises(ValueError, match="max_value"):
        ReLU(max_value=-1.0)
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(negative_slope=-0.1)


def test_prelu_starts_as_relu_and_learns_alpha_per_shared_axes():
    x = randn(2, 5, 3)
    layer = PReLU(dtype="float64")
    np.testing.assert_allclose(layer(x).data, np.maximum(x, 0))
    assert layer.alpha.shape == (5, 3)
    shared = PReLU(shared_axes=[1], alpha_initializer="ones", dtype="float64")
    np.testing.assert_allclose(shared(x).data, x)
    assert shared.alpha.shape == (1, 3)
    shared.set_weights([np.array([[0.1, 0.2, 0.3]])])
    expected = np.where(x >= 0, x, np.array([0.1, 0.2, 0.3]) * x)
    np.testing.assert_allclose(shared(x).data, expected)
    assert [w.path for w in shared.trainable_weights] == [f"{shared.name}/alpha"]


def test_repeat_vector_permute_rescaling_match_numpy():
    x = randn(2, 4)
    out = RepeatVector(3, dtype="float64")(x).data
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, np.repeat(x[:, None, :], 3, axis=1))
    y = randn(2, 3, 4, 5)
    np.testing.assert_array_equal(
        Permute((3, 1, 2), dtype="float64")(y).data, y.transpose(0, 3, 1, 2)
    )
    np.testing.assert_allclose(
        Rescaling(1 / 255.0, offset=-1.0, dtype="float64")(y).data, y / 255.0 - 1.0
    )
    np.testing.assert_allclose(
        Rescaling([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float64")(y).data, y * np.arange(1, 6)
    )
    with pytest.raises(ValueError, match="permutation"):
        Permute((1, 3))
    with pytest.raises(ValueError, match="rank"):
        Permute((2, 1))(randn(2, 3))
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        RepeatVector(2)(randn(2, 3, 4))


def test_output_shapes_and_symbolic_calls():
    cases = [
        (RepeatVector(3), (None, 4), (None, 3, 4)),
        (Permute((2, 1)), (None, 3, 4), (None, 4, 3)),
        (ReLU(), (None, 3), (None, 3)),
        (PReLU(), (None, 3), (None, 3)),
        (Softmax(), (None, 3), (None, 3)),
        (Masking(), (None, 5, 3), (None, 5, 3)),
        (Rescaling(0.5), (None, 3), (None, 3)),
        (Lambda(lambda t: t[:, :2] * 2.0), (None, 3), (None, 2)),
        (Lambda(lambda t: t, output_shape=(7,)), (None, 3), (None, 7)),
    ]
    for layer, shape, expected in cases:
        assert layer.compute_output_shape(shape) == expected, type(layer).__name__
    inputs = Input((None, 3))
    assert Lambda(lambda t: t[:, :, :1])(inputs).shape == (None, None, 1)


# ---------------------------------------------------------------- gradients (float64)


GRAD_CASES = [
    ("relu", ReLU(), randn(3, 4)),
    ("relu_capped", ReLU(max_value=1.0), randn(3, 4)),
    ("relu_leaky", ReLU(negative_slope=0.1), randn(3, 4)),
    ("relu_threshold", ReLU(negative_slope=0.2, threshold=0.5, max_value=1.5), randn(3, 4)),
    ("leaky_relu", LeakyReLU(), randn(3, 4)),
    ("elu", ELU(alpha=0.5), randn(3, 4)),
    ("softmax", Softmax(), randn(3, 4)),
    ("softmax_axis0", Softmax(axis=0), randn(3, 4)),
    ("softmax_axes", Softmax(axis=[1, 2]), randn(2, 3, 4)),
    ("permute", Permute((2, 3, 1)), randn(2, 3, 4, 5)),
    ("repeat_vector", RepeatVector(3), randn(2, 4)),
    ("rescaling", Rescaling([0.5, -2.0, 3.0], offset=1.0), randn(2, 3)),
    ("identity", Identity(), randn(2, 3)),
]


@pytest.mark.parametrize("name,layer,x", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_layer_gradients(name, layer, x):
    # keep clear of the kinks at 0, the threshold 0.5 and the caps 1.0 and 1.5
    x = away_from(x, (0.0, 0.5, 1.0, 1.5))
    gradcheck(_layer_fn(_f64(layer)), [x])


def test_masking_gradients():
    # a masked step is a jump (any nudge unmasks it), so the padding is a constant here
    layer = Masking(dtype="float64")
    padding = np.zeros((2, 2, 3))
    gradcheck(lambda t: layer(F.concatenate([t, padding], axis=1)), [randn(2, 3, 3)])
    x = Tensor(np.concatenate([randn(2, 3, 3), padding], axis=1), requires_grad=True)
    layer(x).backward(np.ones((2, 5, 3)))
    np.testing.assert_array_equal(x.grad[:, 3:], 0.0)
    np.testing.assert_array_equal(x.grad[:, :3], 1.0)


def test_prelu_gradients_wrt_input_and_alpha():
    x = away_from(randn(2, 4, 3))
    alpha = randn(1, 3)
    layer = PReLU(shared_axes=[1], dtype="float64")
    layer(x)

    def fn(inputs, alpha_value):
        layer.alpha = alpha_value
        return layer(inputs)

    gradcheck(fn, [x, alpha])


def test_prelu_alpha_gets_trained():
    x = np.full((4, 2), -1.0, "float32")
    y = np.full((4, 2), -0.5, "float32")
    model = Sequential([Input((2,)), PReLU()])
    model.compile(optimizers.SGD(learning_rate=0.5), loss="mse")
    model.fit(x, y, epochs=50, verbose=0)
    np.testing.assert_allclose(model.layers[-1].get_weights()[0], 0.5, atol=0.05)


# ---------------------------------------------------------------- configs


CONFIG_CASES = [
    RepeatVector(3),
    Permute((2, 1)),
    ReLU(max_value=6.0, negative_slope=0.1, threshold=0.2),
    LeakyReLU(negative_slope=0.05),
    PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1, 2]),
    ELU(alpha=0.5),
    Softmax(axis=1),
    Softmax(axis=[1, 2]),
    Identity(),
    Masking(mask_value=-1.0),
    Rescaling([0.5, 2.0], offset=1.0),
]


@pytest.mark.parametrize("layer", CONFIG_CASES, ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    import json

    config = layer.get_config()
    json.dumps(config)  # JSON values only
    rebuilt = registry.deserialize("layer", registry.serialize(layer))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config


def test_keras_config_keys():
    assert {"max_value", "negative_slope", "threshold"} <= set(ReLU().get_config())
    assert "negative_slope" in LeakyReLU().get_config()
    assert {"alpha_initializer", "shared_axes"} <= set(PReLU().get_config())
    assert Permute((2, 1)).get_config()["dims"] == [2, 1]
    assert RepeatVector(2).get_config()["n"] == 2
    assert {"scale", "offset"} <= set(Rescaling(2.0).get_config())
    assert Masking().get_config()["mask_value"] == 0.0


def test_model_with_the_new_layers_saves_and_loads(tmp_path):
    inputs = Input((3, 4))
    x = Masking()(inputs)
    x = Permute((2, 1))(x)
    x = Rescaling(0.5)(x)
    x = PReLU(alpha_initializer="ones")(x)
    x = LSTM(2)(Permute((2, 1))(x))
    x = RepeatVector(2)(ReLU(max_value=6.0)(x))
    outputs = Softmax()(LeakyReLU()(ELU()(Identity()(x))))
    model = Model(inputs, outputs)
    data = np.random.default_rng(0).standard_normal((5, 3, 4)).astype("float32")
    expected = model.predict(data, verbose=0)
    path = tmp_path / "extra.axonal"
    model.save(path)
    loaded = saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-6)


# ---------------------------------------------------------------- Masking


def test_masking_zeroes_masked_steps_and_attaches_the_mask():
    x = np.ones((2, 4, 3), "float32")
    x[0, 2:] = 5.0
    x[1, 1, :2] = 5.0  # only some features equal the mask value: the step is kept
    out = Masking(mask_value=5.0)(x)
    np.testing.assert_array_equal(mask_of(out), [[True, True, False, False], [True] * 4])
    np.testing.assert_array_equal(out.data[0, 2:], 0.0)
    np.testing.assert_array_equal(out.data[1], x[1])


def test_masking_then_lstm_ignores_post_padding():
    rng = np.random.default_rng(0)
    short = rng.standard_normal((2, 3, 4)).astype("float32")
    padded = np.concatenate([short, np.zeros((2, 2, 4), "float32")], axis=1)
    for return_sequences in (False, True):
        model = Sequential(
            [Input((None, 4)), Masking(), LSTM(5, return_sequences=return_sequences)]
        )
        want = model.predict(short, verbose=0)
        got = model.predict(padded, verbose=0)
        if return_sequences:
            got = got[:, :3]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        # and the Tensor path (the one fit uses) agrees
        called = model(padded).data
        if return_sequences:
            called = called[:, :3]
        np.testing.assert_allclose(called, want, rtol=1e-5, atol=1e-6)


def test_lstm_without_masking_sees_the_padding():
    rng = np.random.default_rng(0)
    short = rng.standard_normal((2, 3, 4)).astype("float32")
    padded = np.concatenate([short, np.zeros((2, 2, 4), "float32")], axis=1)
    model = Sequential([Input((None, 4)), LSTM(5)])
    assert not np.allclose(model.predict(padded, verbose=0), model.predict(short, verbose=0))


# ---------------------------------------------------------------- Lambda


def test_lambda_in_a_sequential_trains():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) * 2.0).astype("float32")
    model = Sequential([Input((3,)), Dense(1), Lambda(lambda t, k: t * k, arguments={"k": 2.0})])
    model.compile(optimizers.Adam(learning_rate=0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.2 * before


def test_lambda_with_several_inputs_in_a_functional_model():
    a, b = Input((3,)), Input((3,))
    out = Lambda(lambda ts: ts[0] * ts[1])([a, b])
    assert out.shape == (None, 3)
    model = Model([a, b], out)
    xa, xb = randn(2, 3).astype("float32"), randn(2, 3).astype("float32")
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), xa * xb, rtol=1e-6)


def test_lambda_save_refuses_with_a_clear_message(tmp_path):
    model = Sequential([Input((3,)), Lambda(lambda t: t * 2.0)])
    with pytest.raises(ValueError, match="register_serializable") as info:
        model.save(tmp_path / "lambda.axonal")
    assert "cannot be saved" in str(info.value)
    assert "code" in str(info.value)
    assert not (tmp_path / "lambda.axonal").exists()


def double_it(x):
    return x * 2.0


@pytest.fixture
def registered_double():
    before = registry.snapshot()
    saving.register_serializable(package="tests")(double_it)
    yield
    registry.restore(before)


def test_lambda_with_a_registered_function_saves_by_name(tmp_path, registered_double):
    layer = Lambda(double_it, output_shape=(3,))
    assert layer.get_config()["function"] == "double_it"
    model = Sequential([Input((3,)), layer, Dense(2)])
    x = randn(4, 3).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "lambda.axonal")
    loaded = saving.load_model(tmp_path / "lambda.axonal")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)


def test_lambda_from_config_never_runs_code():
    with pytest.raises(ValueError, match="not registered"):
        Lambda.from_config({"function": "no_such_function", "name": "lam"})
    with pytest.raises(ValueError, match="registered name"):
        Lambda.from_config({"function": {"class_name": "__lambda__", "config": {"code": "x"}}})


# ---------------------------------------------------------------- Dense on 3-D inputs


def test_dense_applies_over_the_last_axis_of_3d_inputs():
    x = randn(2, 5, 4)
    layer = Dense(3, dtype="float64")
    out = layer(x).data
    kernel, bias = layer.get_weights()
    assert out.shape == (2, 5, 3)
    np.testing.assert_allclose(out, x @ kernel + bias)
    assert layer.compute_output_shape((None, 5, 4)) == (None, 5, 3)
    inputs = Input((5, 4))
    model = Model(inputs, Dense(3)(inputs))
    assert model.predict(x.astype("float32"), verbose=0).shape == (2, 5, 3)
    gradcheck(_layer_fn(layer), [x])
