"""Keras 3 ``.keras`` archives: written in Keras's layout by the test (h5py), loaded by axonal."""

import json
import os
import sys
import zipfile

import numpy as np
import pytest

from axonal import layers
from axonal.models import Sequential
from axonal.saving import UnsafeOrCorruptFileError, load_model

h5py = pytest.importorskip("h5py")

POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}


def _layer(class_name, name, inbound=None, **config):
    entry = {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": POLICY, **config},
        "registered_name": None,
        "build_config": {"input_shape": None},
    }
    if inbound is not None:
        entry["name"] = name
        entry["inbound_nodes"] = [
            {
                "args": [
                    {
                        "class_name": "__keras_tensor__",
                        "config": {"shape": None, "dtype": "float32", "keras_history": [src, 0, 0]},
                    }
                ],
                "kwargs": {},
            }
            for src in inbound
        ]
    return entry


def _input(name, batch_shape, functional=False):
    entry = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape,
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
            "optional": False,
        },
        "registered_name": None,
    }
    if functional:
        entry["name"] = name
        entry["inbound_nodes"] = []
    return entry


INIT = {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": None}}


def _write_archive(path, config, groups):
    """A .keras zip: metadata.json, config.json and model.weights.h5 (groups: name -> arrays)."""
    h5_path = str(path) + ".h5"
    with h5py.File(h5_path, "w") as handle:
        layers_group = handle.create_group("layers")
        for name, arrays in groups.items():
            group = layers_group.create_group(name)
            variables = group.create_group("vars")
            for i, array in enumerate(arrays):
                variables.create_dataset(str(i), data=array)
        handle.create_group("vars")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.write(h5_path, "model.weights.h5")
    os.remove(h5_path)


def _sequential_config(layer_entries):
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": POLICY,
            "layers": [_input("input_layer", [None, 5]), *layer_entries],
            "build_input_shape": [None, 5],
        },
        "registered_name": None,
        "compile_config": None,
    }


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_sequential_dense_archive_predicts_like_numpy(tmp_path):
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(5, 8)).astype("f4"), rng.normal(size=8).astype("f4")
    w2, b2 = rng.normal(size=(8, 3)).astype("f4"), rng.normal(size=3).astype("f4")
    config = _sequential_config(
        [
            _layer(
                "Dense",
                "dense_7",
                units=8,
                activation="relu",
                use_bias=True,
                kernel_initializer=INIT,
                kernel_constraint=None,
                quantization_config=None,
            ),
            _layer("Dense", "dense_8", units=3, activation="softmax", use_bias=True),
        ]
    )
    # Keras names the weight groups by class (dense, dense_1), not by layer name
    path = tmp_path / "model.keras"
    _write_archive(path, config, {"dense": [w1, b1], "dense_1": [w2, b2]})
    model = load_model(path)
    x = rng.normal(size=(4, 5)).astype("f4")
    expected = _softmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers] == ["dense_7", "dense_8"]


def _functional_config():
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": [
                _input("input_layer", [None, 6, 6, 2], functional=True),
                _layer(
                    "Conv2D",
                    "conv2d",
                    ["input_layer"],
                    filters=3,
                    kernel_size=[3, 3],
                    strides=[1, 1],
                    padding="valid",
                    data_format="channels_last",
                    dilation_rate=[1, 1],
                    groups=1,
                    activation="relu",
                    use_bias=True,
                ),
                _layer(
                    "BatchNormalization",
                    "batch_normalization",
                    ["conv2d"],
                    axis=-1,
                    momentum=0.99,
                    epsilon=0.001,
                    center=True,
                    scale=True,
                    synchronized=False,
                    renorm=False,
                    renorm_clipping=None,
                ),
                _layer("Flatten", "flatten", ["batch_normalization"], data_format="channels_last"),
                _layer("Dense", "dense", ["flatten"], units=4, activation="softmax"),
            ],
            "input_layers": ["input_layer", 0, 0],
            "output_layers": ["dense", 0, 0],
        },
        "registered_name": "Functional",
    }


def _conv_valid(x, kernel, bias):
    kh, kw, _, out = kernel.shape
    n, h, w, _ = x.shape
    y = np.zeros((n, h - kh + 1, w - kw + 1, out), dtype=np.float64)
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = x[:, i : i + kh, j : j + kw, :]
            y[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return y + bias


def test_functional_conv_batchnorm_archive_predicts_like_numpy(tmp_path):
    rng = np.random.default_rng(1)
    kernel, kbias = rng.normal(size=(3, 3, 2, 3)).astype("f4"), rng.normal(size=3).astype("f4")
    gamma, beta = rng.uniform(0.5, 2, 3).astype("f4"), rng.normal(size=3).astype("f4")
    mean, var = rng.normal(size=3).astype("f4"), rng.uniform(0.5, 2, 3).astype("f4")
    dense, dbias = rng.normal(size=(48, 4)).astype("f4"), rng.normal(size=4).astype("f4")
    path = tmp_path / "functional.keras"
    groups = {
        "input_layer": [],
        "conv2d": [kernel, kbias],
        "batch_normalization": [gamma, beta, mean, var],
        "flatten": [],
        "dense": [dense, dbias],
    }
    _write_archive(path, _functional_config(), groups)
    model = load_model(path)
    x = rng.normal(size=(3, 6, 6, 2)).astype("f4")
    h = np.maximum(_conv_valid(x, kernel, kbias), 0)
    h = (h - mean) / np.sqrt(var + 0.001) * gamma + beta
    expected = _softmax(h.reshape(3, -1) @ dense + dbias)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_lambda_and_unknown_classes_are_refused_by_name(tmp_path):
    for class_name, layer_name in (("Lambda", "my_lambda"), ("FancyLayer", "fancy")):
        config = _sequential_config([_layer(class_name, layer_name, function="x")])
        path = tmp_path / f"{class_name}.keras"
        _write_archive(path, config, {})
        with pytest.raises(UnsafeOrCorruptFileError, match=class_name) as info:
            load_model(path)
        assert layer_name in str(info.value)


def test_a_setting_that_changes_the_model_is_refused(tmp_path):
    config = _sequential_config([_layer("Dense", "d", units=2, renorm=True)])
    path = tmp_path / "constraint.keras"
    _write_archive(path, config, {"dense": [np.zeros((5, 2), "f4"), np.zeros(2, "f4")]})
    with pytest.raises(UnsafeOrCorruptFileError, match="renorm=True"):
        load_model(path)


def test_wrong_weight_shape_is_refused_before_assignment(tmp_path):
    config = _sequential_config([_layer("Dense", "d", units=2)])
    path = tmp_path / "shape.keras"
    _write_archive(path, config, {"dense": [np.zeros((4, 2), "f4"), np.zeros(2, "f4")]})
    with pytest.raises(UnsafeOrCorruptFileError, match=r"\(5, 2\)"):
        load_model(path)


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    config = _sequential_config([_layer("Dense", "d", units=2)])
    path = tmp_path / "noh5.keras"
    _write_archive(path, config, {"dense": [np.zeros((5, 2), "f4"), np.zeros(2, "f4")]})
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="keras-files"):
        load_model(path)


def test_axonal_save_accepts_a_keras_file_name(tmp_path):
    model = Sequential([layers.Dense(3, input_shape=(4,))])
    path = tmp_path / "mine.keras"
    model.save(path)
    loaded = load_model(path)
    x = np.ones((2, 4), "f4")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_real_keras_model_loads_with_equal_predictions(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(2)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    functional = keras.Model(inputs, outputs)
    bn = functional.layers[2]
    bn.moving_mean.assign(rng.normal(size=3).astype("f4"))
    bn.moving_variance.assign(rng.uniform(0.5, 2, 3).astype("f4"))
    sequential = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.LSTM(5),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    cases = [
        (functional, rng.normal(size=(4, 6, 6, 2)).astype("f4")),
        (sequential, rng.integers(0, 20, size=(4, 7)).astype("int32")),
    ]
    for i, (model, x) in enumerate(cases):
        path = tmp_path / f"real_{i}.keras"
        model.save(path)
        ours = load_model(path)
        expected = np.asarray(model.predict(x, verbose=0))
        np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_a_real_keras_transformer_block_loads_with_equal_predictions(tmp_path):
    keras = pytest.importorskip("keras")
    tokens = keras.Input((9,), dtype="int32")
    vectors = keras.layers.Embedding(30, 8)(tokens)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)(
        vectors, vectors, use_causal_mask=True
    )
    hidden = keras.layers.LayerNormalization()(keras.layers.Add()([vectors, attended]))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling1D()(hidden)
    )
    model = keras.Model(tokens, outputs)
    path = tmp_path / "transformer.keras"
    model.save(path)
    x = np.random.default_rng(3).integers(0, 30, size=(4, 9)).astype("int32")
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(
        load_model(path).predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6
    )


def test_keras_lookup_with_inline_vocabulary_loads_and_one_in_assets_is_refused(tmp_path):
    # Keras 3's IntegerLookup config (vocabulary given at construction: it sits in the config)
    lookup = _layer(
        "IntegerLookup",
        "integer_lookup",
        invert=False,
        max_tokens=None,
        num_oov_indices=1,
        oov_token=-1,
        mask_token=None,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        vocabulary_dtype="int64",
        idf_weights=None,
        vocabulary=[1, 2, 3],
        vocabulary_size=4,
        oov_method="floormod",
        salt=None,
    )
    path = tmp_path / "inline.keras"
    _write_archive(path, _sequential_config([lookup]), {})
    model = load_model(path)
    np.testing.assert_array_equal(
        model.predict(np.array([[1.0, 2.0, 3.0, 4.0, 0.0]]), verbose=0), [[1, 2, 3, 0, 0]]
    )
    # adapted: Keras writes the vocabulary to assets/ and None in the config
    lookup["config"]["vocabulary"] = None
    path = tmp_path / "assets.keras"
    _write_archive(path, _sequential_config([lookup]), {})
    with pytest.raises(UnsafeOrCorruptFileError, match="integer_lookup.*assets"):
        load_model(path)
