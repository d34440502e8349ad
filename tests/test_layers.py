"""Behaviour of the core layers: weights, layouts, names, configs and building (Keras semantics)."""

import json
import math

import numpy as np
import pytest

from axonal import activations, regularizers
from axonal.layers import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from axonal.models import Sequential
from axonal.registry import deserialize, serialize
from axonal.tensor import Tensor
from axonal.utils import clear_session


@pytest.fixture(autouse=True)
def fresh_names():
    """Each test starts with automatic names from scratch (``dense``, ``dense_1``…)."""
    clear_session()
    yield
    clear_session()


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _out(layer, x, training=False):
    out = layer(x, training=training)
    assert isinstance(out, Tensor)
    return out.data


# ---------------------------------------------------------------- Dense


def test_dense_weights_are_kernel_in_out_then_bias():
    layer = Dense(3)
    layer(_x(2, 5))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3)
    assert bias.shape == (3,)
    assert kernel.dtype == np.float32 and bias.dtype == np.float32
    # bias_initializer defaults to zeros
    np.testing.assert_array_equal(bias, np.zeros(3, "float32"))


def test_dense_computes_x_kernel_plus_bias():
    layer = Dense(3)
    x = _x(4, 5)
    layer(x)
    kernel = _x(5, 3, seed=1)
    bias = np.array([0.5, -1.0, 2.0], "float32")
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(_out(layer, x), x @ kernel + bias, rtol=1e-6, atol=1e-6)


def test_dense_without_bias_has_only_a_kernel():
    layer = Dense(3, use_bias=False)
    x = _x(4, 5)
    layer(x)
    assert [w.name for w in layer.weights] == ["kernel"]
    assert layer.count_params() == 15
    (kernel,) = layer.get_weights()
    np.testing.assert_allclose(_out(layer, x), x @ kernel, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "activation, reference",
    [
        ("relu", lambda z: np.maximum(z, 0.0)),
        ("tanh", np.tanh),
        ("sigmoid", lambda z: 1.0 / (1.0 + np.exp(-z))),
        ("softmax", lambda z: np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)),
        (None, lambda z: z),
        ("linear", lambda z: z),
    ],
)
def test_dense_activation_by_name(activation, reference):
    layer = Dense(4, activation=activation)
    x = _x(6, 3)
    layer(x)
    kernel, bias = layer.get_weights()
    bias = np.array([0.1, -0.2, 0.3, 0.0], "float32")
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(_out(layer, x), reference(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_activation_by_callable():
    double = lambda t: t * 2.0
    layer = Dense(3, activation=double)
    x = _x(4, 2)
    layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(_out(layer, x), 2.0 * (x @ kernel + bias), rtol=1e-6, atol=1e-6)
    # a registered function works as a callable too, and serializes by name
    layer = Dense(3, activation=activations.relu)
    assert layer.get_config()["activation"] == "relu"


def test_dense_default_kernel_is_glorot_uniform():
    fan_in, fan_out = 200, 100
    layer = Dense(fan_out)
    layer.build((None, fan_in))
    kernel = layer.get_weights()[0]
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= limit
    # uniform on [-limit, limit]: fills the range, mean 0, variance limit**2 / 3
    assert np.abs(kernel).max() > 0.98 * limit
    assert abs(kernel.mean()) < 0.02 * limit
    assert kernel.var() == pytest.approx(limit**2 / 3.0, rel=0.05)
    assert layer.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert layer.get_config()["bias_initializer"]["class_name"] == "Zeros"


def test_dense_on_rank3_input_transforms_the_last_axis():
    layer = Dense(5)
    x = _x(2, 3, 4)
    out = _out(layer, x)
    assert out.shape == (2, 3, 5)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 5)
    np.testing.assert_allclose(
        out, np.einsum("bti,io->bto", x, kernel) + bias, rtol=1e-5, atol=1e-6
    )
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 5)


@pytest.mark.parametrize(
    "kernel_regularizer, bias_regularizer, formula",
    [
        ("l2", None, lambda k, b: 0.01 * np.sum(k**2)),
        ("l1", None, lambda k, b: 0.01 * np.sum(np.abs(k))),
        ("l1_l2", None, lambda k, b: 0.01 * np.sum(np.abs(k)) + 0.01 * np.sum(k**2)),
        (
            regularizers.L1(0.3),
            regularizers.L2(0.5),
            lambda k, b: 0.3 * np.sum(np.abs(k)) + 0.5 * np.sum(b**2),
        ),
        (
            regularizers.l1_l2(l1=0.1, l2=0.2),
            None,
            lambda k, b: 0.1 * np.sum(np.abs(k)) + 0.2 * np.sum(k**2),
        ),
        (
            regularizers.L1L2(l1=0.05, l2=0.0),
            regularizers.L1L2(l1=0.0, l2=0.07),
            lambda k, b: 0.05 * np.sum(np.abs(k)) + 0.07 * np.sum(b**2),
        ),
    ],
)
def test_dense_regularizers_add_the_formula_to_layer_losses(
    kernel_regularizer, bias_regularizer, formula
):
    layer = Dense(3, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
    layer(_x(2, 4))
    kernel = _x(4, 3, seed=2)
    bias = np.array([1.0, -2.0, 0.5], "float32")
    layer.set_weights([kernel, bias])
    total = sum(float(np.asarray(loss.data)) for loss in layer.losses)
    assert total == pytest.approx(
        formula(kernel.astype("float64"), bias.astype("float64")), rel=1e-5
    )


def test_dense_without_regularizers_has_no_losses():
    layer = Dense(3)
    layer(_x(2, 4))
    assert layer.losses == []


def test_unknown_activation_name_lists_close_names():
    with pytest.raises(ValueError) as info:
        Dense(3, activation="relu7")
    message = str(info.value)
    assert "'relu7'" in message
    assert "relu6" in message and "'relu'" in message


@pytest.mark.parametrize("units", [0, -1, 2.5, "3", None, True])
def test_dense_units_must_be_a_positive_integer(units):
    with pytest.raises((ValueError, TypeError), match="units"):
        Dense(units)


def test_dense_accepts_numpy_integer_units():
    assert Dense(np.int64(3)).units == 3


# ---------------------------------------------------------------- Activation, Dropout


def test_activation_layer_by_name_and_callable():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]], "float32")
    np.testing.assert_array_equal(_out(Activation("relu"), x), [[0.0, 0.0, 0.0, 1.5]])
    np.testing.assert_allclose(_out(Activation("tanh"), x), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(_out(Activation(lambda t: t * t), x), x * x)
    assert Activation("relu").get_weights() == []
    with pytest.raises(ValueError, match="sigmod.*sigmoid"):
        Activation("sigmod")


def test_dropout_is_identity_when_not_training():
    x = _x(50, 20)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(_out(layer, x), x)
    np.testing.assert_array_equal(_out(layer, x, training=False), x)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_when_training_drops_rate_and_rescales(rate):
    x = np.ones((400, 250), "float32")
    out = _out(Dropout(rate, seed=3), x, training=True)
    dropped = out == 0.0
    assert dropped.mean() == pytest.approx(rate, abs=0.01)
    # survivors are scaled by 1 / (1 - rate), so the expected value is preserved
    np.testing.assert_allclose(out[~dropped], 1.0 / (1.0 - rate), rtol=1e-6)
    assert out.mean() == pytest.approx(1.0, abs=0.03)


def test_dropout_preserves_expected_value_of_varied_inputs():
    x = np.abs(_x(300, 300)) + 1.0
    out = _out(Dropout(0.4, seed=11), x, training=True)
    assert out.mean() == pytest.approx(x.mean(), rel=0.02)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.6, rtol=1e-6)


def test_dropout_with_seed_is_reproducible():
    x = np.ones((20, 30), "float32")
    first = _out(Dropout(0.5, seed=42), x, training=True)
    second = _out(Dropout(0.5, seed=42), x, training=True)
    other = _out(Dropout(0.5, seed=43), x, training=True)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_dropout_rate_zero_is_identity_when_training():
    x = _x(10, 10)
    np.testing.assert_array_equal(_out(Dropout(0.0), x, training=True), x)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_dropout_rate_validation(rate):
    with pytest.raises(ValueError, match=r"rate.*\[0, 1\)"):
        Dropout(rate)


# ---------------------------------------------------------------- Flatten, Reshape


def test_flatten_keeps_batch_and_row_major_order():
    x = _x(2, 3, 4)
    layer = Flatten()
    out = _out(layer, x)
    np.testing.assert_array_equal(out, x.reshape(2, 12))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 12)
    assert layer.get_weights() == []


def test_flatten_of_an_empty_batch_keeps_the_feature_count():
    # regression: reshape (0, -1) is ambiguous to NumPy, so an empty batch raised ValueError
    out = _out(Flatten(), np.zeros((0, 3, 4), "float32"))
    assert out.shape == (0, 12)
    model = Sequential([Input((3, 4)), Flatten(), Dense(2)])
    assert model.predict(np.zeros((0, 3, 4), "float32"), verbose=0).shape == (0, 2)


def test_reshape_with_and_without_minus_one():
    x = _x(5, 12)
    np.testing.assert_array_equal(_out(Reshape((3, 4)), x), x.reshape(5, 3, 4))
    np.testing.assert_array_equal(_out(Reshape((-1, 2)), x), x.reshape(5, 6, 2))
    assert Reshape((-1, 2)).compute_output_shape((None, 12)) == (None, 6, 2)
    assert Reshape((2, -1, 3)).compute_output_shape((None, 3, 4)) == (None, 2, 2, 3)


@pytest.mark.parametrize("target", [(5,), (5, -1), (7, 2)])
def test_reshape_to_a_bad_size_names_the_layer(target):
    layer = Reshape(target, name="my_reshape")
    with pytest.raises(ValueError) as info:
        layer(_x(2, 12))
    message = str(info.value)
    assert "my_reshape" in message
    assert "12" in message and str(target) in message


@pytest.mark.parametrize("target", [(-1, -1), (0, 3), (-2, 6)])
def test_reshape_target_validation(target):
    with pytest.raises(ValueError, match="target_shape"):
        Reshape(target)


# ---------------------------------------------------------------- Input, names, paths


@pytest.mark.parametrize("declaration", [lambda: Input(shape=(4,)), lambda: InputLayer((4,))])
def test_input_first_in_sequential_builds_the_model(declaration):
    model = Sequential([declaration(), Dense(3), Dense(2)])
    assert model.built
    assert model.input_shape == (None, 4)
    assert model.output_shape == (None, 2)
    # the input declaration is not one of the model's layers, as in Keras
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (3, 2), (2,)]


def test_input_dim_and_input_shape_on_first_layer_build_at_once():
    model = Sequential([Dense(3, input_dim=4)])
    assert model.built and model.get_weights()[0].shape == (4, 3)
    model = Sequential([Dense(3, input_shape=(6,))])
    assert model.built and model.get_weights()[0].shape == (6, 3)


def test_automatic_names_are_unique_like_keras():
    assert [Dense(1).name, Dense(1).name, Dense(1).name] == ["dense", "dense_1", "dense_2"]
    assert Dropout(0.1).name == "dropout"
    assert Reshape((1,)).name == "reshape"
    assert Sequential().name == "sequential"
    assert Sequential().name == "sequential_1"
    # an explicit name is kept and takes no number from the automatic sequence
    assert Dense(1, name="head").name == "head"
    assert Dense(1).name == "dense_3"


def test_clear_session_restarts_names():
    Dense(1)
    Dense(1)
    clear_session()
    assert Dense(1).name == "dense"


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_bad_layer_names_are_refused(name):
    with pytest.raises(ValueError, match="name"):
        Dense(1, name=name)


def test_weights_are_keyed_layer_name_slash_weight_name():
    model = Sequential([Input(shape=(3,)), Dense(4), Dense(2, use_bias=False)])
    assert [w.path for w in model.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel"]
    assert [w.name for w in model.weights] == ["kernel", "bias", "kernel"]


# ---------------------------------------------------------------- set_weights errors


def test_set_weights_with_wrong_count_changes_nothing():
    layer = Dense(2)
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError) as info:
        layer.set_weights([np.ones((3, 2))])
    message = str(info.value)
    assert layer.name in message and "2" in message and "1" in message
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_set_weights_with_wrong_shape_changes_nothing():
    layer = Dense(2)
    layer.build((None, 3))
    before = layer.get_weights()
    # the kernel is fine, the bias is not: neither may be written
    with pytest.raises(ValueError) as info:
        layer.set_weights([np.full((3, 2), 7.0), np.ones(3)])
    message = str(info.value)
    assert "bias" in message and "(2,)" in message and "(3,)" in message
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_model_set_weights_with_wrong_shape_changes_nothing():
    model = Sequential([Input(shape=(3,)), Dense(4), Dense(2)])
    before = model.get_weights()
    bad = [np.full(w.shape, 5.0) for w in before]
    bad[-1] = np.ones(5)
    with pytest.raises(ValueError, match="dense_1/bias"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="4.*3"):
        model.set_weights(bad[:3])
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


# ---------------------------------------------------------------- configs


def _config_cases():
    return [
        (
            lambda: Dense(
                3,
                activation="tanh",
                kernel_regularizer=regularizers.l1_l2(0.1, 0.2),
                bias_regularizer="l2",
                kernel_initializer="he_normal",
                bias_initializer="ones",
            ),
            (4, 5),
        ),
        (lambda: Dense(2, use_bias=False, input_dim=5), (4, 5)),
        (lambda: Activation("softmax"), (4, 5)),
        (lambda: Dropout(0.3, seed=5), (4, 5)),
        (lambda: Flatten(), (4, 2, 3)),
        (lambda: Reshape((-1, 2)), (4, 6)),
        (lambda: InputLayer(shape=(5,)), (4, 5)),
    ]


@pytest.mark.parametrize(
    "make, shape",
    _config_cases(),
    ids=["dense", "dense_nobias", "activation", "dropout", "flatten", "reshape", "input_layer"],
)
def test_config_round_trip_rebuilds_an_equivalent_layer(make, shape):
    layer = make()
    x = _x(*shape)
    expected = _out(layer, x)
    config = json.loads(json.dumps(layer.get_config()))  # JSON values only
    rebuilt = type(layer).from_config(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    if layer.get_weights():
        rebuilt(x)
        rebuilt.set_weights(layer.get_weights())
    np.testing.assert_array_equal(_out(rebuilt, x), expected)
    # through the registry, as saving does
    again = deserialize("layer", json.loads(json.dumps(serialize(layer))))
    assert again.get_config() == layer.get_config()


def test_dense_config_keeps_regularizers_and_they_still_apply():
    layer = Dense(3, kernel_regularizer=regularizers.L2(0.5))
    layer(_x(2, 4))
    rebuilt = Dense.from_config(json.loads(json.dumps(layer.get_config())))
    rebuilt(_x(2, 4))
    rebuilt.set_weights(layer.get_weights())
    assert float(rebuilt.losses[0].data) == pytest.approx(float(layer.losses[0].data))


def test_sequential_config_round_trip():
    model = Sequential(
        [
            Input(shape=(4,)),
            Dense(3, activation="relu"),
            Dropout(0.2),
            Dense(2, activation="softmax"),
        ]
    )
    config = json.loads(json.dumps(model.get_config()))
    clear_session()
    rebuilt = Sequential.from_config(config)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    x = _x(6, 4)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


# ---------------------------------------------------------------- building, trainable


def test_layer_builds_lazily_on_first_call():
    layer = Dense(3)
    assert not layer.built
    assert layer.weights == [] and layer.get_weights() == []
    layer(_x(2, 7))
    assert layer.built
    assert layer.input_shape_built == (None, 7)
    assert [w.shape for w in layer.get_weights()] == [(7, 3), (3,)]
    # a later call with another batch size reuses the same weights
    kernel = layer.kernel
    layer(_x(9, 7))
    assert layer.kernel is kernel


def test_sequential_without_input_shape_builds_on_first_data():
    model = Sequential([Dense(3), Dense(2)])
    assert not model.built and model.get_weights() == []
    out = model.predict(_x(4, 6), verbose=0)
    assert out.shape == (4, 2)
    assert model.built and model.input_shape == (None, 6)
    assert model.count_params() == 6 * 3 + 3 + 3 * 2 + 2


def test_trainable_false_moves_weights_to_non_trainable():
    layer = Dense(3)
    layer.build((None, 2))
    assert [w.path for w in layer.trainable_weights] == ["dense/kernel", "dense/bias"]
    assert layer.non_trainable_weights == []
    layer.trainable = False
    assert layer.trainable_weights == []
    assert [w.path for w in layer.non_trainable_weights] == ["dense/kernel", "dense/bias"]
    # weights still lists them all, so get_weights/set_weights are unaffected
    assert len(layer.get_weights()) == 2
    layer.trainable = True
    assert len(layer.trainable_weights) == 2


def test_trainable_false_in_constructor_and_config():
    layer = Dense(3, trainable=False)
    layer.build((None, 2))
    assert layer.trainable_weights == []
    assert Dense.from_config(layer.get_config()).trainable is False


def test_nested_layers_reaches_every_depth_once():
    from axonal import Input, Model
    from axonal.layers import LSTM, Bidirectional, Dense, Layer
    from axonal.models import Sequential

    class Block(Layer):
        def __init__(self):
            super().__init__()
            self.inner = Dense(2)
            self.parts = [Dense(2), self.inner]

        def call(self, x):
            return self.parts[0](self.inner(x))

    inner = Sequential([Input((3, 4)), Bidirectional(LSTM(2)), Dense(4)])
    inputs = Input((3, 4))
    block = Block()
    model = Model(inputs, block(inner(inputs)))
    names = [layer.name for layer in model.nested_layers()]
    assert names[0] == model.name
    assert len(names) == len(set(names))
    wrapped = inner.layers[0]
    expected = (inner, wrapped, wrapped.forward_layer, wrapped.backward_layer, block, block.inner)
    for layer in expected:
        assert layer.name in names
    assert block.parts[0].name in names


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["float16", np.float16, "longdouble", "complex64"])
def test_a_float_type_other_than_float32_or_float64_is_refused(dtype):
    name = np.dtype(dtype).name
    with pytest.raises(ValueError, match=rf"Unsupported dtype '{name}'.*float32 or float64 only"):
        Dense(2, dtype=dtype)


def test_keras_mixed_precision_and_unknown_dtypes_are_named():
    with pytest.raises(ValueError, match="'mixed_float16' is a Keras mixed-precision policy"):
        Dense(2, dtype="mixed_float16")
    # 'Unknown' on its own, 'Unsupported' once Keras or JAX has registered ml_dtypes' bfloat16
    with pytest.raises(ValueError, match="dtype 'bfloat16'.*float32 or float64 only"):
        Dense(2, dtype="bfloat16")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    with pytest.raises(ValueError, match="Unsupported dtype 'bfloat16'"):
        Dense(2, dtype=ml_dtypes.bfloat16)


def test_supported_dtypes_still_pass():
    assert Dense(2, dtype="float64").dtype == "float64"
    assert Dense(2, dtype=np.float32).dtype == "float32"
    assert Input((3,), dtype="int32").dtype == "int32"  # indices for an Embedding


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_data_format_matches_keras(data_format):
    keras = pytest.importorskip("keras")
    x = np.arange(2 * 2 * 3 * 4, dtype="float32").reshape(2, 2, 3, 4)
    layer = Flatten(data_format=data_format)
    expected = keras.layers.Flatten(data_format=data_format)(x)
    np.testing.assert_array_equal(layer(x).data, keras.ops.convert_to_numpy(expected))
    assert layer.get_config()["data_format"] == data_format
    assert Flatten.from_config(layer.get_config()).data_format == data_format
    assert Flatten()(np.zeros((3,), "float32")).shape == (3, 1)  # a batch of scalars
