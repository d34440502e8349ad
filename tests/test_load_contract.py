"""Issue 16's loading contract, one minimal case per failure class the fuzzer found.

Every loader raises only ``UnsafeOrCorruptFileError`` for a malformed input, naming the file and
where in it; a config is checked before anything is built and built under a parameter budget
(nothing huge is allocated); initializers of weights the file replaces never run; a model that
loads also predicts; non-finite numbers are refused in configs and reported in weights.
"""

import io
import json
import pickle
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import axonal
from axonal import initializers, layers, saving, weight_budget
from axonal.layers import Dense, Input
from axonal.models import Model, Sequential, load_model, model_from_json
from axonal.saving import UnsafeOrCorruptFileError


@pytest.fixture(autouse=True)
def _fresh_names():
    axonal.utils.clear_session()


def _mlp():
    model = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _edited(tmp_path, model, edit, name="m.axonal"):
    """Save ``model``, apply ``edit`` to its config document, write the archive back."""
    path = tmp_path / name
    model.save(path)
    members = _members(path.read_bytes())
    document = json.loads(members["config.json"])
    edit(document)
    members["config.json"] = json.dumps(document).encode()
    path.write_bytes(_zip(members))
    return path


def _layers_of(document):
    return document["model"]["config"]["layers"]


# ------------------------------------------------------------------ budgets before allocation


def test_huge_layer_in_config_is_refused_before_allocating(tmp_path):
    def edit(document):
        _layers_of(document)[0]["config"]["units"] = 10**9

    path = _edited(tmp_path, _mlp(), edit)
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeOrCorruptFileError, match="dense.*more than the 67 allowed"):
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


def test_huge_input_shape_in_config_is_refused(tmp_path):
    def edit(document):
        document["model"]["config"]["batch_input_shape"] = [None, 10**8]

    with pytest.raises(UnsafeOrCorruptFileError, match="allowed"):
        load_model(_edited(tmp_path, _mlp(), edit))


def test_model_from_json_takes_a_parameter_budget():
    text = _mlp().to_json()
    assert model_from_json(text).count_params() == 67
    with pytest.raises(UnsafeOrCorruptFileError, match="more than the 50 allowed"):
        model_from_json(text, max_parameters=50)
    assert model_from_json(text, max_parameters=None).count_params() == 67


def test_budget_scope_counts_and_ends():
    with weight_budget.rebuilding(10, initialize=False):
        assert weight_budget.reserve("a/w", (2, 3)) is False
        with pytest.raises(weight_budget.ParameterBudgetError, match="a/v"):
            weight_budget.reserve("a/v", (5,))
    assert weight_budget.reserve("a/w", (10**12,)) is True


def test_loading_runs_no_initializer_the_file_replaces(tmp_path, monkeypatch):
    model = Sequential([Input((5, 3)), layers.LSTM(16), Dense(2)])
    model.save(tmp_path / "rnn.axonal")
    expected = model.get_weights()

    def refuse(*args, **kwargs):
        raise AssertionError("an initializer ran while loading")

    for cls in (initializers.Orthogonal, initializers.GlorotUniform, initializers.Zeros):
        monkeypatch.setattr(cls, "__call__", refuse)
    loaded = load_model(tmp_path / "rnn.axonal")
    for got, want in zip(loaded.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_sequential_builds_each_added_layer_once(monkeypatch):
    calls = []
    original = layers.Activation.compute_output_shape

    def counted(self, shape):
        calls.append(self.name)
        return original(self, shape)

    monkeypatch.setattr(layers.Activation, "compute_output_shape", counted)
    model = Sequential([Input((4,))])
    for _ in range(300):
        model.add(layers.Activation("relu"))
    # one shape step per added layer, not a pass over every earlier layer (300 * 301 / 2)
    assert len(calls) == 300
    model.pop()
    model.add(layers.Activation("relu"))
    assert model.output_shape == (None, 4)


# ------------------------------------------------------------------ structure checks


def test_deep_nesting_is_refused_before_building():
    deep = []
    for _ in range(200):
        deep = [deep]
    text = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": deep}})
    with pytest.raises(UnsafeOrCorruptFileError, match="nested more than 64"):
        model_from_json(text)


def test_megabyte_class_name_is_refused_fast_and_briefly(tmp_path):
    def edit(document):
        _layers_of(document)[1]["class_name"] = "D" * 2_000_000

    with pytest.raises(UnsafeOrCorruptFileError, match="string of 2,000,000 characters") as info:
        load_model(_edited(tmp_path, _mlp(), edit))
    assert len(str(info.value)) < 1000


def test_long_unknown_name_gets_no_suggestions():
    error = axonal.registry.unknown_name_error("layer", "Dense" * 1000)
    assert "Did you mean" not in str(error) and "5000 characters" in str(error)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nonfinite_config_constants_are_refused(tmp_path, constant):
    model = Sequential([Input((2,)), layers.Normalization(mean=[0.0, 1.0], variance=[1.0, 4.0])])
    path = tmp_path / "norm.axonal"
    model.save(path)
    members = _members(path.read_bytes())
    text = members["config.json"].decode()
    assert '"mean": [\n' in text or '"mean": [' in text
    document = json.loads(text)
    _layers_of(document)[0]["config"]["mean"] = ["__X__", 1.0]
    members["config.json"] = json.dumps(document).replace('"__X__"', constant).encode()
    path.write_bytes(_zip(members))
    with pytest.raises(UnsafeOrCorruptFileError, match=r"mean\[0\] is .*finite numbers only"):
        load_model(path)


def test_saving_a_nonfinite_constant_is_refused_up_front(tmp_path):
    model = Sequential([Input((2,)), layers.Normalization(mean=[np.nan, 1.0], variance=[1, 1])])
    with pytest.raises(ValueError, match="finite numbers only"):
        model.save(tmp_path / "nan.axonal")
    assert not (tmp_path / "nan.axonal").exists()


def test_config_errors_name_the_layer_at_fault(tmp_path):
    def edit(document):
        _layers_of(document)[1]["config"]["bogus"] = 1

    with pytest.raises(UnsafeOrCorruptFileError, match="Sequential 'sequential' > Dense 'dense_1'"):
        load_model(_edited(tmp_path, _mlp(), edit))


@pytest.mark.parametrize(
    "class_name", [["Dense"], 7, None, {"a": 1}], ids=["list", "int", "null", "object"]
)
def test_non_string_class_name_is_refused(class_name):
    text = _mlp().to_json()
    document = json.loads(text)
    _layers_of(document)[0]["class_name"] = class_name
    with pytest.raises(UnsafeOrCorruptFileError):
        model_from_json(json.dumps(document))


def test_symbolic_constant_of_string_dtype_is_refused():
    x = Input((3,))
    model = Model(x, axonal.ops.add(x, np.ones(3, dtype="float32")))
    text = json.dumps(json.loads(model.to_json()))
    text = text.replace('1.0], "dtype": "float32"', '1.0], "dtype": "U100000"')
    assert "U100000" in text
    with pytest.raises(UnsafeOrCorruptFileError, match="number type"):
        model_from_json(text)


# ------------------------------------------------------------------ a loaded model works


def test_config_whose_layers_do_not_fit_is_refused_naming_the_layer(tmp_path):
    def edit(document):
        bad = {"class_name": "Reshape", "config": {"name": "bad", "target_shape": [5]}}
        _layers_of(document).insert(1, bad)

    with pytest.raises(UnsafeOrCorruptFileError, match="'bad'"):
        load_model(_edited(tmp_path, _mlp(), edit))


def test_wrong_keyword_in_a_functional_call_is_refused_at_load(tmp_path):
    x = Input((4,))
    model = Model(x, Dense(2, name="head")(Dense(3)(x)))

    def edit(document):
        layers_ = _layers_of(document)
        layers_[-1]["inbound_nodes"][0]["kwargs"] = {"bogus": 1}

    with pytest.raises(UnsafeOrCorruptFileError, match="head|bogus"):
        load_model(_edited(tmp_path, model, edit))


def test_a_plain_model_without_a_graph_is_refused():
    with pytest.raises(UnsafeOrCorruptFileError, match="needs its graph"):
        model_from_json(json.dumps({"class_name": "Model", "config": {"name": "m"}}))


def test_declared_input_without_a_batch_axis_is_refused():
    document = json.loads(_mlp().to_json())
    document["model"]["config"]["batch_input_shape"] = [4]
    with pytest.raises(UnsafeOrCorruptFileError, match="does not run.*'dense'"):
        model_from_json(json.dumps(document))


@pytest.mark.parametrize("axis", [True, 2.5, "4", -1, 0, [4]])
def test_declared_axis_lengths_must_be_positive_integers(axis):
    document = json.loads(_mlp().to_json())
    document["model"]["config"]["batch_input_shape"] = [None, axis]
    with pytest.raises(UnsafeOrCorruptFileError, match="positive integers or None"):
        model_from_json(json.dumps(document))
    with pytest.raises(ValueError, match="positive integers or None"):
        Input((axis,))


def test_a_one_input_model_declared_as_a_list_takes_one_array():
    x = Input((4,))
    model = Model([x], Dense(2)(x))
    assert model.predict(np.zeros((3, 4)), verbose=0).shape == (3, 2)
    assert model.predict([np.zeros((3, 4))], verbose=0).shape == (3, 2)
    assert model_from_json(model.to_json()).predict(np.zeros((2, 4)), verbose=0).shape == (2, 2)


def test_the_load_probe_leaves_stateful_layers_free_of_its_batch_size(tmp_path):
    model = Sequential([Input((3, 2)), layers.LSTM(4, stateful=True), Dense(1)])
    model.save(tmp_path / "stateful.axonal")
    loaded = load_model(tmp_path / "stateful.axonal")
    assert loaded.predict(np.zeros((5, 3, 2), "float32"), verbose=0).shape == (5, 1)
    text = model.to_json()
    assert model_from_json(text).predict(np.zeros((2, 3, 2)), verbose=0).shape == (2, 1)


def test_nonfinite_weights_warn_by_default_and_can_be_refused(tmp_path):
    model = _mlp()
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    model.save(tmp_path / "nan.axonal")
    with pytest.warns(RuntimeWarning, match="dense/kernel.*NaN"):
        load_model(tmp_path / "nan.axonal")
    with pytest.raises(UnsafeOrCorruptFileError, match="dense/kernel.*allow_nonfinite=False"):
        load_model(tmp_path / "nan.axonal", allow_nonfinite=False)
    with pytest.warns(RuntimeWarning):
        saving.load_weights(_mlp(), tmp_path / "nan.axonal")


@axonal.saving.register_serializable(package="contract")
class _TwoDense(Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = Dense(5, activation="relu")
        self.out = Dense(units)

    def call(self, inputs, training=False):
        return self.out(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.mark.parametrize("earlier_here, earlier_there", [(0, 2), (2, 0), (1, 3)])
def test_subclassed_model_reloads_whatever_layers_came_before(
    tmp_path, earlier_here, earlier_there
):
    for _ in range(earlier_there):
        Dense(1)
    model = _TwoDense()
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "sub.axonal")
    model.save_weights(tmp_path / "sub.weights.npz")

    axonal.utils.clear_session()  # a fresh process's names
    for _ in range(earlier_here):
        Dense(1)
    loaded = load_model(tmp_path / "sub.axonal")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)

    fresh = _TwoDense()
    fresh(x)
    fresh.load_weights(tmp_path / "sub.weights.npz")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=1e-6)


def test_order_matching_still_checks_shapes(tmp_path):
    model = _mlp()
    model.save_weights(tmp_path / "w.npz")
    other = Sequential([Input((4,)), Dense(3), Dense(8)], name="other")
    for layer, name in zip(other.layers, ("a", "b"), strict=True):
        layer.name = name
    with pytest.raises(UnsafeOrCorruptFileError, match="expected shape"):
        saving.load_weights(other, tmp_path / "w.npz")


# ------------------------------------------------------------------ the Keras importer


h5py = pytest.importorskip("h5py")


def _keras_like(tmp_path, vars_as_dataset=False):
    """A .keras archive of a Dense model, written with h5py in Keras's layout."""
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "in"}},
                {"class_name": "Dense", "config": {"name": "dense", "units": 2}},
            ],
        },
    }
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        group = handle.create_group("layers/dense")
        if vars_as_dataset:
            group.create_dataset("vars", data=np.zeros(3))
        else:
            group.create_dataset("vars/0", data=np.ones((4, 2), "float32"))
            group.create_dataset("vars/1", data=np.zeros(2, "float32"))
    members = {
        "metadata.json": b"{}",
        "config.json": json.dumps(config).encode(),
        "model.weights.h5": buffer.getvalue(),
    }
    path = tmp_path / "k.keras"
    path.write_bytes(_zip(members))
    return path


def test_keras_file_loads_and_a_damaged_one_gets_the_one_error(tmp_path):
    model = load_model(_keras_like(tmp_path))
    np.testing.assert_array_equal(model.predict(np.ones((1, 4)), verbose=0), [[4.0, 4.0]])
    with pytest.raises(UnsafeOrCorruptFileError, match="k.keras"):
        load_model(_keras_like(tmp_path, vars_as_dataset=True))


# ------------------------------------------------------------------ scikit-learn estimators


def test_sklearn_archive_must_fit_the_estimators_attributes():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris

    from axonal.sklearn import NeuralNetClassifier

    x, y = load_iris(return_X_y=True)
    estimator = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0)
    estimator.fit(x, y)
    state = estimator.__getstate__()
    assert pickle.loads(pickle.dumps(estimator)).predict(x[:3]).shape == (3,)

    other = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0)
    other.fit(x[:, :3], y)
    swapped = dict(state, _model_archive=other.__getstate__()["_model_archive"])
    with pytest.raises(UnsafeOrCorruptFileError, match="n_features_in_=4"):
        object.__new__(NeuralNetClassifier).__setstate__(swapped)

    for key, value in (("n_outputs_", 5), ("n_features_in_", "4"), ("classes_", np.arange(5))):
        with pytest.raises(UnsafeOrCorruptFileError, match=key.rstrip("_")):
            object.__new__(NeuralNetClassifier).__setstate__(dict(state, **{key: value}))
    for key, value in (("_batch_size", []), ("_target_type", np.array([])), ("_label_dtype", "x")):
        with pytest.raises(UnsafeOrCorruptFileError, match=key):
            object.__new__(NeuralNetClassifier).__setstate__(dict(state, **{key: value}))
    without = {k: v for k, v in state.items() if k != "_batch_size"}
    with pytest.raises(UnsafeOrCorruptFileError, match="lacks.*_batch_size"):
        object.__new__(NeuralNetClassifier).__setstate__(without)
    without = {k: v for k, v in state.items() if k != "_model_archive"}
    with pytest.raises(UnsafeOrCorruptFileError, match="fitted attributes.*no network"):
        object.__new__(NeuralNetClassifier).__setstate__(without)
    with pytest.raises(UnsafeOrCorruptFileError, match="not the bytes"):
        object.__new__(NeuralNetClassifier).__setstate__(dict(state, _model_archive=[1, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsafeOrCorruptFileError):
            object.__new__(NeuralNetClassifier).__setstate__(
                dict(state, _model_archive=state["_model_archive"][:-40])
            )
