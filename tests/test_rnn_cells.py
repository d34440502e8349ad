"""RNN cells and the generic RNN layer: against Keras 3, finite differences, a cell of your
own (Keras's MinimalRNNCell), masks, stacking, saving."""

import numpy as np
import pytest

import axonal
from axonal import layers, ops
from axonal.gradcheck import check_gradients
from axonal.layers.rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell

X = np.random.default_rng(0).normal(size=(3, 6, 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda: RNN(SimpleRNNCell(3), return_sequences=True),
        lambda: RNN(LSTMCell(3)),
        lambda: RNN(GRUCell(3), go_backwards=True),
        lambda: RNN(GRUCell(3, reset_after=False), return_sequences=True),
        lambda: RNN([LSTMCell(3), SimpleRNNCell(2)]),
    ],
)
def test_cells_match_finite_differences(make):
    check_gradients(make(), X).assert_ok()


class MinimalRNNCell(axonal.Layer):
    """Keras's documentation example of a cell of your own."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent")
        self.built = True

    def call(self, inputs, states):
        prev_output = states[0]
        h = ops.matmul(inputs, self.kernel)
        output = h + ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]


def test_a_cell_of_your_own_runs_trains_and_stacks():
    x = X.astype("float32")
    layer = RNN([MinimalRNNCell(4), MinimalRNNCell(2)], return_sequences=True)
    out = np.asarray(layer(x))
    first, second = layer.cell.cells
    h1, h2 = np.zeros((3, 4)), np.zeros((3, 2))
    for t in range(6):
        h1 = x[:, t] @ first.kernel.data + h1 @ first.recurrent_kernel.data
        h2 = h1 @ second.kernel.data + h2 @ second.recurrent_kernel.data
        np.testing.assert_allclose(out[:, t], h2, rtol=1e-4, atol=1e-5)


def test_rnn_layers_in_a_model_learn_and_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")
    inputs = axonal.Input((8, 2))
    hidden = RNN(LSTMCell(8), return_sequences=True)(inputs)
    hidden = RNN(GRUCell(6))(hidden)
    model = axonal.Model(inputs, layers.Dense(2, activation="softmax")(hidden))
    model.compile(
        axonal.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] >= 0.85
    model.save(tmp_path / "cells.axonal")
    loaded = axonal.models.load_model(tmp_path / "cells.axonal")
    np.testing.assert_array_equal(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0))


def test_return_state_and_initial_state():
    x = X.astype("float32")
    layer = RNN(LSTMCell(3), return_state=True)
    out, h, c = layer(x)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(h))
    again = np.asarray(layer(x, initial_state=[np.asarray(h), np.asarray(c)])[0])
    assert not np.allclose(again, np.asarray(out))
    assert layer.compute_output_shape((None, 6, 4)) == [(None, 3), (None, 3), (None, 3)]


@pytest.mark.parametrize(
    "theirs_cell, ours_cell, kwargs",
    [
        ("SimpleRNNCell", SimpleRNNCell, {}),
        ("LSTMCell", LSTMCell, {}),
        ("GRUCell", GRUCell, {}),
        ("GRUCell", GRUCell, {"reset_after": False}),
    ],
)
def test_cells_match_keras(theirs_cell, ours_cell, kwargs):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = X.astype("float32")
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    for options in ({}, {"return_sequences": True, "return_state": True, "go_backwards": True}):
        theirs = keras.layers.RNN(getattr(keras.layers, theirs_cell)(5, **kwargs), **options)
        expected = theirs(x, mask=mask)
        ours = RNN(ours_cell(5, **kwargs), **options)
        ours(x)
        ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
        got = ours(x, mask=mask)
        expected = expected if isinstance(expected, (list, tuple)) else [expected]
        got = got if isinstance(got, (list, tuple)) else [got]
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(
                np.asarray(g), keras.ops.convert_to_numpy(e), rtol=1e-5, atol=1e-6
            )


def test_bidirectional_over_an_rnn_of_cells_matches_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = X.astype("float32")
    theirs = keras.layers.Bidirectional(
        keras.layers.RNN(keras.layers.GRUCell(3), return_sequences=True)
    )
    expected = keras.ops.convert_to_numpy(theirs(x))
    ours = layers.Bidirectional(RNN(GRUCell(3), return_sequences=True))
    ours(x)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-5, atol=1e-6)
