"""Where Keras programs step off ``fit(x, y)``: a user's layer without ``compute_output_shape``
inside a ``Sequential`` (its shape comes from running ``call``; a failing ``call`` is named), the
open time axis of a sequence output in the target check, and data fit cannot take refused at
once, naming it."""

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.models import Sequential


class Project(layers.Layer):
    """Changes the feature width and defines no compute_output_shape, as many Keras layers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

    def call(self, x):
        return axonal.ops.matmul(x, self.w)


class Broken(layers.Layer):
    def call(self, x):
        raise RuntimeError("this layer cannot run")


@pytest.fixture(autouse=True)
def _fresh_names():
    axonal.utils.clear_session()


def test_declared_input_flows_through_a_width_changing_custom_layer():
    model = Sequential([layers.Input((10,)), Project(8), layers.Dense(2)])
    assert model.layers[1].kernel.data.shape == (8, 2)
    assert model.output_shape == (None, 2)
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(16, 10)).astype("float32")
    model.fit(x, np.zeros((16, 2)), epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 2)


def test_custom_layer_built_on_first_data_and_added_later():
    model = Sequential([Project(8)])
    model.add(layers.Dense(2))
    model.compile("adam", "mse")
    model.fit(np.zeros((4, 10)), np.zeros((4, 2)), verbose=0)
    assert model.predict(np.zeros((3, 10)), verbose=0).shape == (3, 2)

    declared = Sequential([layers.Input((5,))])
    declared.add(Project(3))
    declared.add(layers.Dense(1))
    assert declared.output_shape == (None, 1)


def test_a_custom_layer_whose_call_fails_is_named():
    with pytest.raises(RuntimeError, match="Layer 'broken' .*cannot run"):
        Sequential([layers.Input((4,)), Broken(), layers.Dense(2)])


def test_categorical_crossentropy_takes_any_length_on_an_open_time_axis():
    # regression: outputs (None, None, 46) refused one-hot targets (30, 27, 46)
    tokens = axonal.Input((None,), dtype="int32")
    hidden = layers.LSTM(16, return_sequences=True)(layers.Embedding(50, 8)(tokens))
    model = axonal.Model(tokens, layers.Dense(46, activation="softmax")(hidden))
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, size=(30, 27))
    y = np.eye(46, dtype="float32")[rng.integers(0, 46, size=(30, 27))]
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="one-hot targets of shape"):
        model.fit(x, y[:, :, :45], epochs=1, verbose=0)


class _Rows:
    """Has __len__ and a __getitem__ that never raises IndexError: NumPy iterates it forever."""

    def __len__(self):
        return 10

    def __getitem__(self, index):
        return np.zeros(3)


def test_fit_refuses_what_it_cannot_take_at_once_naming_it():
    # regression: a __len__/__getitem__ object hung fit and grew to gigabytes
    model = Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile("adam", "mse")
    before = model.get_weights()
    data = _Rows()
    for call in (
        lambda: model.fit(data, np.zeros((10, 2)), verbose=0),
        lambda: model.evaluate(data, np.zeros((10, 2)), verbose=0),
        lambda: model.predict(data, verbose=0),
    ):
        with pytest.raises(TypeError, match="got a _Rows.*must subclass axonal.utils.PyDataset"):
            call()
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
