"""The Keras module surface (config, constraints, preprocessing, get/serialize) and Keras inputs."""

import numpy as np
import pytest

import axonal
from axonal import (
    activations,
    config,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)
from axonal.preprocessing.sequence import pad_sequences

# ---------------------------------------------------------------------------- module surface


@pytest.mark.parametrize(
    "name",
    [
        "Input",
        "Model",
        "Sequential",
        "layers",
        "models",
        "ops",
        "activations",
        "initializers",
        "regularizers",
        "constraints",
        "losses",
        "metrics",
        "optimizers",
        "callbacks",
        "utils",
        "config",
        "saving",
        "preprocessing",
    ],
)
def test_keras_names_exist_at_top_level(name):
    assert hasattr(axonal, name)
    assert name in axonal.__all__


def test_schedules_reachable_from_optimizers():
    assert hasattr(optimizers, "schedules") or hasattr(axonal, "schedules")


def test_preprocessing_and_utils_expose_pad_sequences():
    assert preprocessing.sequence.pad_sequences is pad_sequences
    assert preprocessing.pad_sequences is pad_sequences
    assert utils.pad_sequences is pad_sequences


# ---------------------------------------------------------------------------- pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]


def test_pad_sequences_default_pads_and_truncates_pre():
    out = pad_sequences(SEQS)
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    assert out.dtype == np.int32


def test_pad_sequences_value():
    np.testing.assert_array_equal(
        pad_sequences(SEQS, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    )


def test_pad_sequences_padding_post():
    np.testing.assert_array_equal(
        pad_sequences(SEQS, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    )


def test_pad_sequences_maxlen_truncates_pre_by_default():
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=2), [[0, 1], [2, 3], [5, 6]])


def test_pad_sequences_truncating_post():
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]]
    )
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=2, padding="post", truncating="post"),
        [[1, 0], [2, 3], [4, 5]],
    )


def test_pad_sequences_longer_maxlen_and_empty_sequence():
    out = pad_sequences([[1, 2], []], maxlen=4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 2], [0, 0, 0, 0]])


def test_pad_sequences_dtype_float_and_object():
    out = pad_sequences([[0.5], [1.5, 2.5]], dtype="float32", value=-1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[-1.0, 0.5], [1.5, 2.5]])
    text = pad_sequences([["a"], ["b", "c"]], dtype=object, value="")
    assert text.tolist() == [["", "a"], ["b", "c"]]


def test_pad_sequences_int_dtype_truncates_floats_like_numpy():
    out = pad_sequences([[1.7, 2.2]])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[1, 2]])


def test_pad_sequences_element_shape_kept():
    out = pad_sequences([np.ones((1, 2)), np.ones((3, 2))])
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[0], [[0, 0], [0, 0], [1, 1]])


def test_pad_sequences_accepts_arrays_of_sequences():
    ragged = np.empty(2, dtype=object)
    ragged[0] = [1, 2, 3]
    ragged[1] = [4]
    np.testing.assert_array_equal(pad_sequences(ragged), [[1, 2, 3], [0, 0, 4]])


def test_pad_sequences_errors_are_clear():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences(SEQS, truncating="middle")
    with pytest.raises(ValueError, match="sequence 1"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="string"):
        pad_sequences([[1]], value="x")


# ---------------------------------------------------------------------------- utils


def test_normalize_l2_last_axis_and_zero_rows():
    out = utils.normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_normalize_axis_and_order():
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    out = utils.normalize(x, axis=0, order=1)
    np.testing.assert_allclose(out, x / np.abs(x).sum(axis=0, keepdims=True))
    assert out.dtype == np.float64
    ints = utils.normalize([[3, 4]])
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints, [[0.6, 0.8]], rtol=1e-6)


def test_to_categorical_still_there():
    np.testing.assert_array_equal(utils.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])


# ---------------------------------------------------------------------------- config


def test_config_functions():
    assert config.floatx() == "float32"
    assert config.epsilon() == pytest.approx(1e-7)
    assert config.image_data_format() == "channels_last"
    assert config.backend() == "numpy"
    config.set_image_data_format("channels_first")
    try:
        assert config.image_data_format() == "channels_first"
        with pytest.raises(ValueError, match="channels_last.*channels_first.*'nchw'"):
            config.set_image_data_format("nchw")
        assert config.image_data_format() == "channels_first"
    finally:
        config.set_image_data_format("channels_last")
    config.disable_traceback_filtering()
    assert not config.is_traceback_filtering_enabled()
    config.enable_traceback_filtering()
    assert config.is_traceback_filtering_enabled()


def test_config_set_floatx_and_epsilon_round_trip():
    try:
        config.set_floatx("float64")
        assert config.floatx() == "float64"
        assert axonal.floatx() == "float64"
        config.set_epsilon(1e-5)
        assert config.epsilon() == 1e-5
    finally:
        config.set_floatx("float32")
        config.set_epsilon(1e-7)
    with pytest.raises(ValueError, match="floatx"):
        config.set_floatx("int8")


@pytest.mark.parametrize("value", ["float16", "bfloat16", "int8"])
def test_set_floatx_refuses_what_axonal_does_not_compute_in(value):
    with pytest.raises(ValueError, match=rf"floatx '{value}'.*float32 or float64 only"):
        config.set_floatx(value)
    assert config.floatx() == "float32"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_set_floatx_names_keras_mixed_precision(policy):
    with pytest.raises(ValueError, match=rf"'{policy}' is a Keras mixed-precision policy"):
        config.set_floatx(policy)
    assert config.floatx() == "float32"


# ---------------------------------------------------------------------------- constraints


def test_max_norm_scales_only_long_columns():
    w = np.array([[3.0, 0.3], [4.0, 0.4]], dtype=np.float32)
    out = constraints.MaxNorm(max_value=2.0)(w)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, 0.5], rtol=1e-5)
    np.testing.assert_allclose(out[:, 1], w[:, 1], rtol=1e-5)


def test_max_norm_axis_1():
    w = np.array([[3.0, 4.0], [0.3, 0.4]])
    out = constraints.max_norm(1.0, axis=1)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1.0, 0.5], rtol=1e-5)


def test_non_neg_and_unit_norm():
    w = np.array([[-1.0, 2.0], [3.0, -4.0]])
    np.testing.assert_array_equal(constraints.NonNeg()(w), [[0.0, 2.0], [3.0, 0.0]])
    unit = constraints.UnitNorm()(w)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=0), [1.0, 1.0], rtol=1e-6)


def test_min_max_norm_with_rate():
    w = np.array([[0.3, 30.0], [0.4, 40.0]])
    strict = constraints.MinMaxNorm(min_value=1.0, max_value=2.0)(w)
    np.testing.assert_allclose(np.linalg.norm(strict, axis=0), [1.0, 2.0], rtol=1e-5)
    half = constraints.MinMaxNorm(min_value=1.0, max_value=2.0, rate=0.5)(w)
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [0.75, 26.0], rtol=1e-5)
    with pytest.raises(ValueError, match="min_value"):
        constraints.MinMaxNorm(min_value=3.0, max_value=1.0)


def test_constraint_defaults_match_keras():
    assert constraints.MaxNorm().get_config() == {"max_value": 2.0, "axis": 0}
    assert constraints.UnitNorm().get_config() == {"axis": 0}
    assert constraints.MinMaxNorm().get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }


@pytest.mark.parametrize(
    "obj",
    [
        constraints.MaxNorm(3.0, axis=[0, 1]),
        constraints.NonNeg(),
        constraints.UnitNorm(axis=1),
        constraints.MinMaxNorm(0.5, 1.5, rate=0.3),
    ],
)
def test_constraint_config_round_trip(obj):
    data = constraints.serialize(obj)
    assert data["class_name"] == type(obj).__name__
    again = constraints.deserialize(data)
    assert type(again) is type(obj)
    assert again.get_config() == obj.get_config()
    assert constraints.get(data).get_config() == obj.get_config()
    w = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(again(w), obj(w))


def test_constraints_get_names_and_errors():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    assert isinstance(constraints.get(constraints.UnitNorm), constraints.UnitNorm)
    assert constraints.get(None) is None
    with pytest.raises(ValueError, match="max_norm"):
        constraints.get("max_nrom")
    with pytest.raises(TypeError):
        constraints.serialize(lambda w: w)


def test_dense_accepts_and_saves_constraints():
    dense = layers.Dense(3, kernel_constraint=constraints.max_norm(3), bias_constraint="non_neg")
    cfg = dense.get_config()
    assert cfg["kernel_constraint"] == {
        "class_name": "MaxNorm",
        "config": {"max_value": 3.0, "axis": 0},
    }
    assert cfg["bias_constraint"]["class_name"] == "NonNeg"
    rebuilt = layers.Dense.from_config(cfg)
    assert isinstance(rebuilt.kernel_constraint, constraints.MaxNorm)
    assert layers.Dense(2).get_config()["kernel_constraint"] is None


# ---------------------------------------------------------------------------- get / serialize


def test_initializers_get_serialize():
    init = initializers.get("he_normal")
    assert isinstance(init, initializers.HeNormal)
    data = initializers.serialize(initializers.HeNormal(seed=3))
    assert data == {"class_name": "HeNormal", "config": {"seed": 3}}
    again = initializers.deserialize(data)
    np.testing.assert_array_equal(again((3, 2)), initializers.HeNormal(seed=3)((3, 2)))
    assert isinstance(initializers.get(data), initializers.HeNormal)


def test_activations_get_serialize_and_keras3_dict():
    assert activations.get("relu") is activations.relu
    assert activations.get(None) is activations.linear
    assert activations.serialize(activations.relu) == "relu"
    assert activations.deserialize("tanh") is activations.tanh
    keras3 = {
        "module": "keras.activations",
        "class_name": "function",
        "config": "sigmoid",
        "registered_name": "sigmoid",
    }
    assert activations.get(keras3) is activations.sigmoid
    with pytest.raises(ValueError, match="relu"):
        activations.get("rleu")


def test_losses_get_serialize():
    loss = losses.get("mse")
    assert isinstance(loss, losses.MeanSquaredError)
    data = losses.serialize(loss)
    assert data["class_name"] == "MeanSquaredError"
    assert isinstance(losses.deserialize(data), losses.MeanSquaredError)
    assert isinstance(losses.get(data), losses.MeanSquaredError)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)


def test_metrics_accept_name_and_round_trip():
    metric = metrics.SparseCategoricalAccuracy(name="acc")
    assert metric.name == "acc"
    assert metrics.MeanSquaredError(name="my_mse").name == "my_mse"
    assert metrics.Mean(name="avg").name == "avg"
    data = metrics.serialize(metric)
    assert data["class_name"] == "SparseCategoricalAccuracy"
    again = metrics.deserialize(data)
    assert isinstance(again, metrics.SparseCategoricalAccuracy)
    assert again.name == "acc"
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError)


def test_optimizers_get_serialize():
    opt = optimizers.get("adam")
    assert isinstance(opt, optimizers.Adam)
    data = optimizers.serialize(optimizers.Adam(learning_rate=0.01))
    assert data["class_name"] == "Adam"
    assert optimizers.deserialize(data).learning_rate == pytest.approx(0.01)
    assert isinstance(optimizers.get(data), optimizers.Adam)


def test_regularizers_get_serialize():
    reg = regularizers.get("l2")
    data = regularizers.serialize(reg)
    assert data == {"class_name": "L2", "config": {"l2": 0.01}}
    assert isinstance(regularizers.deserialize(data), regularizers.L2)
    assert isinstance(regularizers.get(data), regularizers.L2)


# ---------------------------------------------------------------------------- inputs as Keras


def _dense_model():
    model = axonal.Sequential(
        [layers.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("kind", ["bool", "int64", "int32", "float64"])
def test_non_float32_inputs_are_cast_and_model_stays_float32(kind):
    rng = np.random.default_rng(0)
    if kind == "bool":
        x = rng.random((16, 4)) > 0.5
    elif kind.startswith("int"):
        x = rng.integers(0, 5, (16, 4)).astype(kind)
    else:
        x = rng.random((16, 4))
    y = rng.random((16, 1))
    for model in (_dense_model(), _functional_dense_model()):
        assert np.dtype(model._input_dtype(x)) == np.float32
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        pred = model.predict(x, verbose=0)
        assert pred.dtype == np.float32
        assert all(w.dtype == np.float32 for w in model.get_weights())
        assert np.isfinite(model.evaluate(x, y, verbose=0))


def _functional_dense_model():
    inp = axonal.Input((4,))
    out = layers.Dense(1)(layers.Dense(3, activation="relu")(inp))
    model = axonal.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_variable_length_int_input_embedding_lstm_trains():
    rng = np.random.default_rng(1)
    inp = axonal.Input(shape=(None,), dtype="int32")
    hidden = layers.LSTM(8)(layers.Embedding(30, 6)(inp))
    out = layers.Dense(1, activation="sigmoid")(hidden)
    model = axonal.Model(inp, out)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x = rng.integers(1, 30, (48, 7))
    y = (x[:, -1] > 15).astype("int64")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 3
    assert all(np.isfinite(history.history["loss"]))
    assert np.dtype(model._input_dtype(x)).kind == "i"
    # the same model takes other lengths, as padded Keras batches of another length would be
    for length in (3, 12):
        batch = pad_sequences([rng.integers(1, 30, length)], maxlen=length)
        pred = model.predict(batch, verbose=0)
        assert pred.shape == (1, 1)
        assert pred.dtype == np.float32
    # shorter training batches too
    model.fit(rng.integers(1, 30, (8, 4)), np.ones(8), epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_sequential_embedding_on_padded_sequences():
    rng = np.random.default_rng(2)
    seqs = [list(rng.integers(1, 20, rng.integers(1, 9))) for _ in range(24)]
    x = pad_sequences(seqs, maxlen=8)
    model = axonal.Sequential(
        [layers.Embedding(20, 4), layers.LSTM(5), layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, rng.integers(0, 2, 24), epochs=1, batch_size=8, verbose=0)
    assert model.predict(x, verbose=0).shape == (24, 1)


def _two_input_model():
    a = axonal.Input((3,), name="a")
    b = axonal.Input((2,), name="b")
    merged = layers.Concatenate()([layers.Dense(4)(a), b])
    model = axonal.Model([a, b], layers.Dense(1)(merged))
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("container", ["list", "tuple", "dict"])
def test_multi_input_models_take_lists_tuples_dicts(container):
    rng = np.random.default_rng(3)
    xa = rng.random((10, 3))
    xb = rng.integers(0, 2, (10, 2))  # int data for a float input: cast
    y = rng.random((10, 1))
    model = _two_input_model()
    if container == "list":
        x = [xa, xb]
    elif container == "tuple":
        x = (xa, xb)
    else:
        x = {"b": xb, "a": xa}
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    pred = model.predict(x, verbose=0)
    assert pred.shape == (10, 1)
    assert pred.dtype == np.float32
    np.testing.assert_allclose(pred, model.predict([xa, xb], verbose=0), rtol=1e-6)


def test_dense_constraints_are_applied_after_every_training_update():
    from axonal.constraints import MaxNorm, NonNeg
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    axonal.utils.set_random_seed(0)
    dense = Dense(4, kernel_constraint=MaxNorm(0.5), bias_constraint=NonNeg())
    model = Sequential([Input((3,)), dense, Dense(1)])
    model.compile(optimizer=axonal.optimizers.SGD(1.0), loss="mse")
    x = np.random.default_rng(0).standard_normal((32, 3)).astype("float32") * 10
    y = np.random.default_rng(1).standard_normal((32, 1)).astype("float32") * 10
    model.fit(x, y, epochs=3, verbose=0)
    kernel, bias = dense.get_weights()
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.5 + 1e-6)
    assert np.all(bias >= 0)
    model.train_on_batch(x, y)
    assert np.all(np.linalg.norm(dense.get_weights()[0], axis=0) <= 0.5 + 1e-6)
