"""Keras 3 files written by axonal: ``.keras`` archives and ``.weights.h5`` that real Keras
loads with equal predictions (marked ``keras_oracle``), and the HDF5 layout checked with h5py
alone (no Keras needed)."""

import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

import axonal
from axonal import layers as L
from axonal.keras_export import KerasExportError
from axonal.saving import load_model

h5py = pytest.importorskip("h5py")


def _randomize(model, seed=0):
    """Non-trivial weights (variances positive) so a misplaced array changes predictions."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(scale=0.5, size=variable.data.shape)
        if "variance" in variable.path:
            values = np.abs(values) + 0.5
        variable.data[...] = values.astype(variable.data.dtype)
    return model


def _h5_layout(data: bytes) -> dict:
    """``{path: shape or attrs}`` of an HDF5 file: the tests' own minimal reader."""
    found = {}
    with h5py.File(io.BytesIO(data), "r") as handle:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = tuple(obj.shape)
            elif "name" in obj.attrs:
                found[name] = str(obj.attrs["name"])

        handle.visititems(visit)
    return found


def _members(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ----------------------------------------------------------------- layout, without Keras


def test_sequential_archive_has_keras_members_config_and_layout(tmp_path):
    model = axonal.Sequential([axonal.Input((5,)), L.Dense(3, name="a"), L.Dense(2, name="b")])
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.ones((4, 5), "f4"), np.ones((4, 2), "f4"), verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    members = _members(path)
    assert set(members) == {"metadata.json", "config.json", "model.weights.h5"}
    assert json.loads(members["metadata.json"])["keras_version"].startswith("3.")
    config = json.loads(members["config.json"])
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras",
        "Sequential",
        None,
    )
    first, dense = config["config"]["layers"][:2]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 5]
    assert dense["module"] == "keras.layers" and dense["registered_name"] is None
    assert dense["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert dense["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert dense["config"]["quantization_config"] is None  # a key Keras 3.15 writes
    compiled = config["compile_config"]
    assert compiled["optimizer"]["class_name"] == "Adam" and compiled["metrics"] == ["mae"]
    layout = _h5_layout(members["model.weights.h5"])
    # groups named by class (dense, dense_1), not by the layers' names a and b
    assert layout["layers/dense/vars"] == "a" and layout["layers/dense_1/vars"] == "b"
    assert layout["layers/dense/vars/0"] == (5, 3) and layout["layers/dense_1/vars/1"] == (2,)
    # iterations, learning_rate, then m and v of each trainable variable in turn
    assert [layout[f"optimizer/vars/{i}"] for i in range(6)] == [(), (), (5, 3), (5, 3), (3,), (3,)]
    assert layout["vars"] == model.name


def test_functional_layout_names_inputs_cells_and_sub_layers(tmp_path):
    a = axonal.Input((6, 4))
    b = axonal.Input((6, 4), name="b")
    x = L.LSTM(3, return_sequences=True)(a)
    y = L.Bidirectional(L.GRU(2, return_sequences=True))(b)
    z = L.MultiHeadAttention(2, 3)(x, y)
    inner = axonal.Sequential([axonal.Input((6, 3)), L.Dense(2)])
    model = axonal.Model([a, b], inner(z))
    path = tmp_path / "f.keras"
    model.save(path)
    layout = _h5_layout(_members(path)["model.weights.h5"])
    assert (
        layout["layers/input_layer/vars"] == a.name and layout["layers/input_layer_1/vars"] == "b"
    )
    assert layout["layers/lstm/cell/vars/0"] == (4, 12)
    assert layout["layers/bidirectional/forward_layer/cell/vars/1"] == (2, 6)
    assert layout["layers/bidirectional/backward_layer/cell/vars/0"] == (4, 6)
    assert layout["layers/multi_head_attention/query_dense/vars/0"] == (3, 2, 3)
    assert layout["layers/multi_head_attention/output_dense/vars/1"] == (3,)
    assert layout["layers/sequential/layers/dense/vars/0"] == (3, 2)
    config = json.loads(_members(path)["config.json"])
    assert config["class_name"] == "Functional" and config["registered_name"] == "Functional"
    node = next(e for e in config["config"]["layers"] if e["class_name"] == "MultiHeadAttention")
    query = node["inbound_nodes"][0]["args"][0]
    assert query["class_name"] == "__keras_tensor__" and query["config"]["shape"] == [None, 6, 3]


def test_axonal_reads_its_keras_archive_back_compiled(tmp_path):
    model = _randomize(axonal.Sequential([axonal.Input((4,)), L.Dense(3), L.Dense(2)]))
    model.compile("sgd", "mse")
    path = tmp_path / "back.keras"
    model.save(path)
    loaded = load_model(path)
    x = np.random.default_rng(1).normal(size=(3, 4)).astype("f4")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "SGD"


def test_weights_h5_round_trip_in_axonal(tmp_path):
    def build():
        return axonal.Sequential([axonal.Input((4,)), L.Dense(3), L.BatchNormalization()])

    model = _randomize(build())
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with open(path, "rb") as handle:
        layout = _h5_layout(handle.read())
    assert layout["layers/batch_normalization/vars/3"] == (3,)
    other = build()
    other.load_weights(path)
    for a, b in zip(model.weights, other.weights, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    wrong = axonal.Sequential([axonal.Input((4,)), L.Dense(5), L.BatchNormalization()])
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        wrong.load_weights(path)


class Custom(L.Layer):
    def call(self, x):
        return x * 2


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (lambda: L.Lambda(lambda x: x + 1, name="plus_one"), "plus_one"),
        (lambda: Custom(name="doubler"), "doubler"),
    ],
)
def test_layers_keras_cannot_rebuild_are_refused_before_writing(tmp_path, layer, name):
    model = axonal.Sequential([axonal.Input((3,)), L.Dense(2), layer()])
    path = tmp_path / "refused.keras"
    with pytest.raises(KerasExportError, match=name):
        model.save(path)
    with pytest.raises(KerasExportError, match=name):
        model.save_weights(tmp_path / "refused.weights.h5")
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file left


def test_a_layer_registered_only_with_axonal_is_refused(tmp_path):
    from axonal import registry

    saved = registry.snapshot()
    try:

        @axonal.saving.register_serializable("KfilesTest")
        class Scaled(L.Layer):
            def call(self, x):
                return x * 3

        model = axonal.Sequential([axonal.Input((3,)), Scaled(name="scaled")])
        with pytest.raises(KerasExportError, match="scaled"):
            model.save(tmp_path / "custom.keras")
    finally:
        registry.restore(saved)
    assert os.listdir(tmp_path) == []


def test_a_custom_activation_is_refused_by_name(tmp_path):
    from axonal import registry

    saved = registry.snapshot()
    try:

        @axonal.saving.register_serializable("KfilesTest")
        def wiggle(x):
            return x * 0.5

        model = axonal.Sequential([axonal.Input((3,)), L.Dense(2, activation=wiggle)])
        with pytest.raises(KerasExportError, match="wiggle"):
            model.save(tmp_path / "activation.keras")
    finally:
        registry.restore(saved)
    assert os.listdir(tmp_path) == []


def test_an_existing_file_survives_a_refused_save(tmp_path):
    path = tmp_path / "kept.keras"
    axonal.Sequential([axonal.Input((3,)), L.Dense(2)]).save(path)
    before = path.read_bytes()
    bad = axonal.Sequential([axonal.Input((3,)), L.Lambda(lambda x: x, name="code")])
    with pytest.raises(KerasExportError, match="code"):
        bad.save(path)
    assert path.read_bytes() == before


def test_legacy_h5_and_mismatched_names_are_refused_naming_alternatives(tmp_path):
    model = axonal.Sequential([axonal.Input((3,)), L.Dense(2)])
    for call, name in (
        (model.save, "m.h5"),
        (model.save_weights, "m.h5"),
        (model.save, "m.weights.h5"),
        (model.save_weights, "m.keras"),
    ):
        with pytest.raises(ValueError) as info:
            call(tmp_path / name)
        assert ".keras" in str(info.value) or ".weights.h5" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_missing_h5py_stops_saving_with_the_extra_named(tmp_path, monkeypatch):
    model = axonal.Sequential([axonal.Input((3,)), L.Dense(2)])
    monkeypatch.setitem(sys.modules, "h5py", None)
    for call, name in ((model.save, "m.keras"), (model.save_weights, "m.weights.h5")):
        with pytest.raises(ImportError, match="keras-files"):
            call(tmp_path / name)
    assert os.listdir(tmp_path) == []
    model.save(tmp_path / "still.axonal")  # axonal's own format needs nothing extra


# ----------------------------------------------------------------- against real Keras


def _seq(*layers, shape):
    return lambda: axonal.Sequential([axonal.Input(shape), *layers])


def _functional_merges():
    a, b = axonal.Input((4,)), axonal.Input((4,))
    d1, d2 = L.Dense(4)(a), L.Dense(4)(b)
    merged = [
        L.Add()([d1, d2]),
        L.Subtract()([d1, d2]),
        L.Multiply()([d1, d2]),
        L.Average()([d1, d2]),
        L.Maximum()([d1, d2]),
        L.Minimum()([d1, d2]),
        L.Dot(axes=1)([d1, d2]),
    ]
    out1 = L.Dense(3)(L.Concatenate()(merged))
    out2 = L.Dense(2, activation="softmax")(L.Dense(4)(d2))
    return axonal.Model([a, b], [out1, out2])


def _nested():
    inner_seq = axonal.Sequential([axonal.Input((5,)), L.Dense(4, activation="relu"), L.Dense(4)])
    i = axonal.Input((4,))
    inner_fun = axonal.Model(i, L.LayerNormalization()(L.Dense(3)(i)))
    x = axonal.Input((5,))
    return axonal.Model(x, L.Dense(2)(inner_fun(inner_seq(x))))


def _transformer():
    tokens = axonal.Input((7,), dtype="int32")
    v = L.Embedding(20, 8)(tokens)
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)(v, v, use_causal_mask=True)
    h = L.LayerNormalization()(L.Add()([v, att]))
    g = L.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)(h, h)
    return axonal.Model(tokens, L.Dense(2)(L.GlobalAveragePooling1D()(L.Dropout(0.2)(g))))


def _attention():
    q, v = axonal.Input((4, 6)), axonal.Input((5, 6))
    a = L.Attention(use_scale=True)([q, v])
    b = L.AdditiveAttention()([q, v])
    return axonal.Model([q, v], L.Concatenate()([a, b]))


def _masked_tokens():
    tokens = axonal.Input((7,), dtype="int32")
    x = L.Embedding(20, 4, mask_zero=True)(tokens)
    return axonal.Model(tokens, L.Dense(2)(L.GRU(3)(x)))


def _normalization():
    layer = L.Normalization()
    layer.adapt(np.random.default_rng(0).normal(size=(20, 4)).astype("f4"))
    return axonal.Sequential([axonal.Input((4,)), layer, L.Dense(2)])


IMG = (8, 8, 3)
CASES = {
    "dense_activation_dropout": (
        _seq(L.Dense(6, activation="relu"), L.Dropout(0.3), L.Dense(3), L.Softmax(), shape=(5,)),
        (5,),
    ),
    "conv1d_pooling": (
        _seq(
            L.Conv1D(4, 3, padding="same"),
            L.MaxPooling1D(2),
            L.Conv1DTranspose(3, 3),
            L.AveragePooling1D(2),
            L.GlobalMaxPooling1D(),
            shape=(10, 2),
        ),
        (10, 2),
    ),
    "conv2d_batchnorm": (
        _seq(
            L.Conv2D(4, 3, activation="relu"),
            L.BatchNormalization(),
            L.DepthwiseConv2D(3),
            L.SeparableConv2D(3, 2),
            L.Conv2DTranspose(2, 2, strides=2),
            L.MaxPooling2D(),
            L.ZeroPadding2D(1),
            L.UpSampling2D(),
            L.Cropping2D(1),
            L.GlobalAveragePooling2D(),
            shape=IMG,
        ),
        IMG,
    ),
    "conv3d": (
        _seq(L.Conv3D(2, 2), L.AveragePooling3D(2), L.Flatten(), L.Dense(2), shape=(4, 4, 4, 1)),
        (4, 4, 4, 1),
    ),
    "normalizations": (
        _seq(
            L.LayerNormalization(),
            L.GroupNormalization(groups=2),
            L.UnitNormalization(),
            L.PReLU(),
            L.LeakyReLU(),
            L.Rescaling(0.5, offset=1.0),
            shape=(6,),
        ),
        (6,),
    ),
    "recurrent": (
        _seq(
            L.LSTM(4, return_sequences=True),
            L.GRU(3, return_sequences=True),
            L.Bidirectional(L.SimpleRNN(2, return_sequences=True)),
            L.TimeDistributed(L.Dense(2)),
            L.RNN(L.StackedRNNCells([L.GRUCell(3), L.SimpleRNNCell(2)])),
            shape=(5, 3),
        ),
        (5, 3),
    ),
    "conv_lstm": (
        _seq(L.ConvLSTM2D(2, 3, return_sequences=False), L.Flatten(), shape=(3, 6, 6, 1)),
        (3, 6, 6, 1),
    ),
    "reshaping": (
        _seq(
            L.Reshape((3, 4)),
            L.Permute((2, 1)),
            L.Flatten(),
            L.RepeatVector(2),
            L.Activation("tanh"),
            shape=(12,),
        ),
        (12,),
    ),
    "merges_multi_io": (_functional_merges, [(4,), (4,)]),
    "attention": (_attention, [(4, 6), (5, 6)]),
    "masked_tokens": (_masked_tokens, "tokens"),
    "normalization_adapted": (_normalization, (4,)),
    "one_d_misc": (
        _seq(
            L.SeparableConv1D(4, 3, padding="same"),
            L.DepthwiseConv1D(2),
            L.UpSampling1D(2),
            L.ZeroPadding1D(1),
            L.Cropping1D((1, 2)),
            L.SpatialDropout1D(0.2),
            L.GaussianNoise(0.1),
            L.GaussianDropout(0.1),
            L.AlphaDropout(0.1),
            L.ActivityRegularization(l1=0.01),
            L.ReLU(max_value=2.0),
            L.ELU(),
            L.Identity(),
            L.Reshape((3, 5, 4)),
            L.ConvLSTM1D(2, 2),
            shape=(9, 2),
        ),
        (9, 2),
    ),
    "three_d_misc": (
        _seq(
            L.Conv3DTranspose(2, 2, strides=2),
            L.MaxPooling3D(2),
            L.UpSampling3D(2),
            L.ZeroPadding3D(1),
            L.Cropping3D(1),
            L.SpatialDropout3D(0.1),
            L.GlobalMaxPooling3D(),
            shape=(3, 3, 3, 2),
        ),
        (3, 3, 3, 2),
    ),
    "two_d_misc": (
        _seq(
            L.AveragePooling2D(2),
            L.SpatialDropout2D(0.1),
            L.Conv2D(2, 1, kernel_regularizer="l2", use_bias=False),
            L.GlobalMaxPooling2D(),
            shape=IMG,
        ),
        IMG,
    ),
    "conv_lstm_3d": (
        _seq(L.ConvLSTM3D(2, 2), L.GlobalAveragePooling3D(), shape=(2, 3, 3, 3, 1)),
        (2, 3, 3, 3, 1),
    ),
    "nested_models": (_nested, (5,)),
    "transformer": (_transformer, "tokens"),
}


def _inputs(spec, rng):
    if spec == "tokens":
        return rng.integers(0, 20, size=(3, 7)).astype("int32")
    if isinstance(spec, list):
        return [rng.normal(size=(3, *s)).astype("f4") for s in spec]
    return rng.normal(size=(3, *spec)).astype("f4")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _as_list(value):
    return [np.asarray(v) for v in value] if isinstance(value, (list, tuple)) else [value]


def _same_keys(ours, theirs, where):
    """The same keys at every level of two serialised objects (values may differ)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.get("class_name") == "__keras_tensor__":
            return
        keys = set(theirs) - {"shared_object_id"}
        assert set(ours) == keys, f"{where}: {sorted(set(ours) ^ keys)}"
        for key in keys:
            if key == "layers" and isinstance(theirs[key], list):
                mine = {e.get("name") or e["config"]["name"]: e for e in ours[key]}
                for entry in theirs[key]:
                    if str(entry.get("module", "")).startswith("keras.src.ops"):
                        continue  # an operation Keras traced itself (a mask's not_equal)
                    name = entry.get("name") or entry["config"]["name"]
                    _same_keys(mine[name], entry, f"{where}/{name}")
            elif key not in ("build_config", "compile_config", "inbound_nodes"):
                _same_keys(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same_keys(a, b, f"{where}[{i}]")


def _same_structure_as_keras_writes(path, loaded, twin_path):
    """Our config.json has the keys, classes and modules Keras writes for the same model, and
    our model.weights.h5 the same groups and datasets."""
    loaded.save(twin_path)
    ours, theirs = _members(path), _members(twin_path)
    _same_keys(json.loads(ours["config.json"]), json.loads(theirs["config.json"]), "config")
    assert _h5_layout(ours["model.weights.h5"]).keys() == (
        _h5_layout(theirs["model.weights.h5"]).keys()
    )


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", sorted(CASES))
def test_real_keras_loads_axonal_archive_and_predicts_the_same(tmp_path, case):
    keras = _keras()
    build, spec = CASES[case]
    model = _randomize(build())
    x = _inputs(spec, np.random.default_rng(3))
    path = tmp_path / f"{case}.keras"
    model.save(path)
    theirs = keras.saving.load_model(path)
    ours = _as_list(model.predict(x, verbose=0))
    got = _as_list(theirs.predict(x, verbose=0))
    assert len(got) == len(ours)
    for a, b in zip(ours, got, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-4, atol=1e-5)
    _same_structure_as_keras_writes(path, theirs, tmp_path / f"{case}_twin.keras")
    # and the same weights through .weights.h5 into a Keras model of the same architecture
    weights = tmp_path / f"{case}.weights.h5"
    model.save_weights(weights)
    fresh = keras.saving.load_model(path)
    for variable in fresh.weights:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    fresh.load_weights(weights)
    for a, b in zip(ours, _as_list(fresh.predict(x, verbose=0)), strict=True):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-4, atol=1e-5)


def _saving_builders():
    from tests.test_saving import BUILDERS

    return BUILDERS


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name", sorted(_saving_builders()))
def test_every_saving_round_trip_model_loads_in_keras(tmp_path, name):
    """test_saving.py's table holds a model for every public layer: each one that Keras has
    too loads in Keras and predicts the same; any other is refused by name, nothing written."""
    keras = _keras()
    model, x = _saving_builders()[name]()
    path = tmp_path / f"{name}.keras"
    try:
        model.save(path)
    except KerasExportError as exc:
        assert not path.exists()
        assert any(f"'{layer.name}'" in str(exc) for layer in model.layers), exc
        pytest.skip(f"not exportable: {exc}")
    try:
        theirs = keras.saving.load_model(path)
    except (ImportError, TypeError) as exc:
        # Keras's lookup and hashing layers run only on TensorFlow, not on the torch backend
        if "requires TensorFlow" not in str(exc):
            raise
        pytest.skip("Keras needs TensorFlow for this model's lookup layers")
    for a, b in zip(
        _as_list(model.predict(x, verbose=0)), _as_list(theirs.predict(x, verbose=0)), strict=True
    ):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-4, atol=1e-5)


@pytest.mark.keras_oracle
def test_adam_state_continues_training_in_keras_as_in_axonal(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 5)).astype("f4"), rng.normal(size=(16, 2)).astype("f4")
    model = axonal.Sequential([axonal.Input((5,)), L.Dense(4, activation="tanh"), L.Dense(2)])
    model.compile(axonal.optimizers.Adam(0.01), "mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "trained.keras"
    model.save(path)
    theirs = keras.saving.load_model(path)
    assert int(theirs.optimizer.iterations.numpy()) == 4
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    # and back: Keras's file of the further-trained model continues the same way in axonal
    back = tmp_path / "back.keras"
    theirs.save(back)
    ours = load_model(back)
    assert ours.optimizer.iterations == 6
    ours.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5
    )


@pytest.mark.keras_oracle
def test_axonal_loads_weights_h5_written_by_keras(tmp_path):
    keras = _keras()
    theirs = keras.Sequential(
        [keras.Input((6, 3)), keras.layers.LSTM(4), keras.layers.Dense(2, activation="softmax")]
    )
    path = tmp_path / "keras.weights.h5"
    theirs.save_weights(path)
    ours = axonal.Sequential([axonal.Input((6, 3)), L.LSTM(4), L.Dense(2, activation="softmax")])
    ours.load_weights(path)
    x = np.random.default_rng(5).normal(size=(3, 6, 3)).astype("f4")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.keras_oracle
def test_config_keys_are_those_keras_writes(tmp_path):
    keras = _keras()
    model = axonal.Sequential(
        [axonal.Input((6, 3)), L.Conv1D(2, 3), L.LSTM(3), L.BatchNormalization(), L.Dense(2)]
    )
    path = tmp_path / "keys.keras"
    model.save(path)
    ours = json.loads(_members(path)["config.json"])
    twin = keras.saving.load_model(path)
    twin_path = tmp_path / "twin.keras"
    twin.save(twin_path)
    theirs = json.loads(_members(twin_path)["config.json"])
    assert set(ours) == set(theirs)
    for a, b in zip(ours["config"]["layers"], theirs["config"]["layers"], strict=True):
        assert (a["module"], a["class_name"], a["registered_name"]) == (
            b["module"],
            b["class_name"],
            b["registered_name"],
        )
        assert set(a["config"]) == set(b["config"]), a["class_name"]
    assert set(_h5_layout(_members(path)["model.weights.h5"])) == set(
        _h5_layout(_members(twin_path)["model.weights.h5"])
    )


@pytest.mark.keras_oracle
def test_keras_compile_settings_load_or_warn(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 4)).astype("f4"), rng.integers(0, 3, size=8)
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    theirs.compile(
        keras.optimizers.RMSprop(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    path = tmp_path / "compiled.keras"
    theirs.save(path)
    ours = load_model(path)
    assert ours.compiled and type(ours.optimizer).__name__ == "RMSprop"
    np.testing.assert_allclose(
        ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5, atol=1e-6
    )
    # a setting axonal does not have leaves the model uncompiled, with a warning saying so
    theirs.compile(keras.optimizers.Adam(use_ema=True), loss="mse")
    theirs.save(path)
    with pytest.warns(RuntimeWarning, match="use_ema"):
        ours = load_model(path)
    assert not ours.compiled
    assert not load_model(path, compile=False).compiled
