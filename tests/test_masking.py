"""Timestep masks travel through layers that keep the time axis, as in Keras."""

import numpy as np
import pytest

import axonal
from axonal.layers import LSTM, Dense, Dropout, Embedding, Input
from axonal.layers.masking import mask_of
from axonal.models import Model, Sequential


def _tokens():
    tokens = np.array([[3, 1, 0, 0], [2, 2, 2, 1]])
    return tokens


def test_mask_passes_through_dropout_and_dense_to_the_lstm():
    axonal.utils.set_random_seed(0)
    embed = Embedding(5, 3, mask_zero=True)
    lstm = LSTM(2)
    direct = Sequential([embed, lstm])
    through = Sequential(
        [embed, Dropout(0.5), Dense(3, kernel_initializer="identity", use_bias=False), lstm]
    )
    x = _tokens()
    np.testing.assert_allclose(
        direct.predict(x, verbose=0), through.predict(x, verbose=0), rtol=1e-6
    )
    # the mask matters here: without it the padded steps change the first sequence's result
    plain = Sequential([Embedding(5, 3), lstm])
    plain.predict(x, verbose=0)
    plain.layers[0].set_weights(embed.get_weights())
    assert not np.allclose(plain.predict(x, verbose=0)[0], direct.predict(x, verbose=0)[0])
    out = Dense(3)(embed(x))
    np.testing.assert_array_equal(mask_of(out), x != 0)


def test_an_lstm_that_returns_one_vector_ends_the_mask():
    embed = Embedding(5, 3, mask_zero=True)
    out = LSTM(2)(embed(_tokens()))
    assert mask_of(out) is None


def test_integer_tokens_stay_integers_for_a_leading_embedding():
    model = Sequential([Embedding(5, 3), LSTM(2)])
    assert model._input_dtype(np.array([1, 2])).kind == "i"
    inputs = Input((4,), dtype="int64")
    functional = Model(inputs, LSTM(2)(Embedding(5, 3)(inputs)))
    assert functional._input_dtype(np.array([1, 2])).kind == "i"
    assert functional.dtype == "float32"


def test_a_masked_sequence_output_leaves_padded_steps_out_of_the_loss():
    from axonal.layers import Masking

    axonal.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((4, 5, 2)).astype(np.float32)
    x[:, 3:] = 0.0  # the last two steps are padding
    y = np.random.default_rng(1).standard_normal((4, 5, 1)).astype(np.float32)
    model = Sequential([Input((5, 2)), Masking(), LSTM(3, return_sequences=True), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    # the mean squared error over the real steps only
    expected = float(np.mean((pred[:, :3] - y[:, :3]) ** 2))
    assert loss == pytest.approx(expected, rel=1e-5)
    y_other = y.copy()
    y_other[:, 3:] = 100.0  # targets at padded steps do not matter
    assert model.evaluate(x, y_other, verbose=0) == pytest.approx(loss, rel=1e-6)
