"""Keras's serialization names (keras.saving / keras.utils): registering, naming, looking up,
serializing and deserializing custom objects."""

import numpy as np
import pytest

import axonal
from axonal import registry, saving, utils
from axonal.layers import Layer


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = registry.snapshot()
    yield
    registry.restore(saved)


def test_a_registered_layer_has_its_keras_name_and_round_trips(tmp_path):
    @saving.register_keras_serializable(package="MyLayers")
    class Doubler(Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    assert saving.get_registered_name(Doubler) == "MyLayers>Doubler"
    assert utils.get_registered_object("MyLayers>Doubler") is Doubler
    assert saving.get_custom_objects()["MyLayers>Doubler"] is Doubler
    description = saving.serialize_keras_object(Doubler(factor=3.0, name="d"))
    assert description["registered_name"] == "MyLayers>Doubler"
    rebuilt = saving.deserialize_keras_object(description)
    assert isinstance(rebuilt, Doubler) and rebuilt.factor == 3.0
    model = axonal.Sequential([axonal.Input((2,)), Doubler(factor=3.0)])
    model.save(tmp_path / "m.axonal")
    loaded = saving.load_model(tmp_path / "m.axonal")
    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), 3 * x)


def test_an_unregistered_object_is_named_by_its_own_name():
    def swish_like(x):
        return x

    assert utils.get_registered_name(swish_like) == "swish_like"
    assert utils.get_registered_object("no_such_thing") is None
    with pytest.raises(ValueError, match="no_such_thing"):
        saving.deserialize_keras_object("no_such_thing")


def test_adding_to_get_custom_objects_registers_a_function_for_activation_names():
    def shifted_relu(x):
        return axonal.ops.relu(x - 1.0)

    utils.get_custom_objects()["shifted_relu"] = shifted_relu
    layer = axonal.layers.Dense(2, activation="shifted_relu", kernel_initializer="ones")
    out = layer(np.full((1, 1), 3.0, "float32"))
    np.testing.assert_allclose(out.data, [[2.0, 2.0]])


def test_the_names_match_keras():
    keras = pytest.importorskip("keras")

    @keras.saving.register_keras_serializable(package="Pkg")
    def keras_fn(x):
        return x

    @saving.register_keras_serializable(package="Pkg")
    def axonal_fn(x):
        return x

    assert keras.saving.get_registered_name(keras_fn) == "Pkg>keras_fn"
    assert saving.get_registered_name(axonal_fn) == "Pkg>axonal_fn"


def test_utils_helpers():
    x = axonal.Input((3,))
    assert utils.is_keras_tensor(x) and not utils.is_keras_tensor(np.zeros(3))
    assert utils.standardize_dtype(np.float32) == "float32"
    packed = utils.pack_x_y_sample_weight(np.zeros(2), np.ones(2))
    x_out, y_out, w_out = utils.unpack_x_y_sample_weight(packed)
    assert w_out is None and np.array_equal(y_out, np.ones(2))
    with utils.CustomObjectScope({"Thing": Layer}):
        assert registry.lookup("layer", "Thing") is Layer


def test_input_spec_refuses_a_mismatching_input_by_layer_name():
    class Needs3D(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = axonal.layers.InputSpec(ndim=3, axes={-1: 4})

        def call(self, x):
            return x

    layer = Needs3D(name="needs3d")
    assert layer(np.zeros((2, 3, 4), "float32")).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="'needs3d' must have rank 3"):
        layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="axis -1 must have size 4"):
        layer(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="rank 3"):
        Needs3D()(axonal.Input((4,)))  # symbolic inputs are checked too
    assert Needs3D()(axonal.Input((3, 4))).shape == (None, 3, 4)


def test_top_level_scopes_and_names():
    with axonal.name_scope("block"), axonal.device("cpu:0"):
        pass
    with pytest.raises(ValueError, match="CPU only"):
        with axonal.device("gpu:0"):
            pass
    assert axonal.version() == axonal.__version__
    assert isinstance(axonal.Input((2,)), axonal.KerasTensor)
    assert issubclass(axonal.initializers.GlorotUniform, axonal.Initializer)
