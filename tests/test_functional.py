"""The functional API: Input, layer calls on symbolic tensors, Model(inputs, outputs), merges."""

from __future__ import annotations

import json

import numpy as np
import pytest

import axonal
from axonal import Input, Model
from axonal.layers import (
    Add,
    Average,
    Concatenate,
    Dense,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from axonal.registry import deserialize, serialize
from axonal.tensor import Tensor
from gradcheck import gradcheck, randn


@pytest.fixture(autouse=True)
def fresh_names():
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(0)


def _two_in_two_out():
    a, b = Input((4,), name="a"), Input((3,), name="b")
    shared = Dense(5, activation="tanh", name="shared")
    h = Concatenate()([shared(Dense(5, name="pa")(a)), shared(Dense(5, name="pb")(b))])
    cls = Dense(3, activation="softmax", name="cls")(h)
    reg = Dense(1, name="reg")(h)
    return Model([a, b], [cls, reg], name="two")


def _data(n=48):
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((n, 4)).astype(np.float32)
    xb = rng.standard_normal((n, 3)).astype(np.float32)
    y_cls = (xa[:, 0] > 0).astype(int) + (xb[:, 0] > 0)
    y_reg = xa[:, 1] - xb[:, 2]
    return xa, xb, y_cls, y_reg


def test_multi_input_multi_output_training_learns_and_logs_like_keras():
    model = _two_in_two_out()
    model.compile(
        optimizer=axonal.optimizers.Adam(0.02),
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics={"cls": ["accuracy"], "reg": ["mae"]},
    )
    xa, xb, y_cls, y_reg = _data()
    history = model.fit({"a": xa, "b": xb}, [y_cls, y_reg], epochs=30, batch_size=16, verbose=0)
    keys = ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    assert list(history.history) == keys
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    logs = model.evaluate([xa, xb], {"cls": y_cls, "reg": y_reg}, verbose=0, return_dict=True)
    # the total is the weighted sum of the outputs' losses
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + 0.5 * logs["reg_loss"], rel=1e-5)
    cls_pred, reg_pred = model.predict([xa, xb], verbose=0)
    assert cls_pred.shape == (48, 3) and reg_pred.shape == (48, 1)


def test_a_shared_layer_has_one_set_of_weights_trained_by_both_calls():
    model = _two_in_two_out()
    shared = next(layer for layer in model.layers if layer.name == "shared")
    assert sum(1 for w in model.weights if w.path.startswith("shared/")) == 2
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    xa, xb, y_cls, y_reg = _data(8)
    kernel = shared.kernel.numpy().copy()
    model.fit([xa, xb], [y_cls, y_reg], epochs=1, verbose=0)
    assert not np.array_equal(kernel, shared.kernel.numpy())
    names = [layer.name for layer in model.layers]
    assert names.count("shared") == 1


def test_a_model_nested_in_a_model_trains_its_inner_weights():
    inner_in = Input((4,), name="inner_in")
    inner = Model(inner_in, Dense(3, activation="relu", name="inner_dense")(inner_in), name="inner")
    x = Input((4,), name="x")
    outer = Model(x, Dense(1, name="head")(inner(x)), name="outer")
    assert [w.path for w in outer.weights] == [
        "inner_dense/kernel",
        "inner_dense/bias",
        "head/kernel",
        "head/bias",
    ]
    outer.compile(optimizer="adam", loss="mse")
    xa, _, _, y = _data()
    before = inner.get_weights()
    history = outer.fit(xa, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, inner.get_weights(), strict=True))


def test_single_output_functional_model_behaves_like_sequential():
    x = Input((4,))
    model = Model(x, Dense(3, activation="softmax")(Dense(8, activation="relu")(x)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    xa, _, y, _ = _data()
    history = model.fit(xa, y, epochs=2, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", "acc", "val_loss", "val_acc"]
    loss, acc = model.evaluate(xa, y, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert model.predict(xa[:5], verbose=0).shape == (5, 3)


def test_summary_lists_inputs_and_connections(capsys):
    _two_in_two_out().summary()
    text = capsys.readouterr().out
    assert "Connected to" in text
    assert "a (InputLayer)" in text and "(None, 4)" in text
    assert "shared[0][0], shared[1][0]" in text
    assert "pa[0][0], pb[0][0]" in text


def test_config_round_trip_rebuilds_the_same_graph():
    model = _two_in_two_out()
    config = json.loads(json.dumps(serialize(model)))
    axonal.utils.clear_session()
    rebuilt = deserialize("layer", config)
    rebuilt.set_weights(model.get_weights())
    xa, xb, _, _ = _data(5)
    for got, want in zip(
        rebuilt.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert [w.path for w in rebuilt.weights] == [w.path for w in model.weights]


def _compiled_two():
    model = _two_in_two_out()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"])
    xa, xb, y_cls, y_reg = _data(16)
    model.fit([xa, xb], [y_cls, y_reg], epochs=1, verbose=0)
    return model, (xa, xb, y_cls, y_reg)


def test_data_that_does_not_match_an_input_shape_is_refused_and_changes_nothing():
    model, (xa, xb, y_cls, y_reg) = _compiled_two()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"x\['b'\].*\(16, 5\).*5 features instead of 3"):
        model.fit([xa, np.ones((16, 5))], [y_cls, y_reg], verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_wrong_number_of_inputs_or_missing_names_are_clear_errors():
    model, (xa, xb, y_cls, y_reg) = _compiled_two()
    with pytest.raises(ValueError, match=r"2 inputs \(a, b\).*got one array"):
        model.fit(xa, [y_cls, y_reg], verbose=0)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        model.fit({"a": xa}, [y_cls, y_reg], verbose=0)
    with pytest.raises(ValueError, match=r"unknown output\(s\) \['clss'\]"):
        model.compile(optimizer="adam", loss={"clss": "mse"})
    with pytest.raises(ValueError, match="3 entries but the model has 2 outputs"):
        model.compile(optimizer="adam", loss=["mse", "mse", "mse"])


def test_an_output_that_depends_on_a_foreign_input_is_refused():
    a, b = Input((2,), name="a"), Input((2,), name="b")
    with pytest.raises(ValueError, match="Input 'b', which is not among the model's inputs"):
        Model(a, Add()([a, b]))


def test_merge_layers_compute_what_their_names_say():
    rng = np.random.default_rng(2)
    p, q, r = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3))
    expected = {
        Add: p + q + r,
        Multiply: p * q * r,
        Average: (p + q + r) / 3,
        Maximum: np.maximum(np.maximum(p, q), r),
        Minimum: np.minimum(np.minimum(p, q), r),
    }
    for cls, want in expected.items():
        np.testing.assert_allclose(cls()([p, q, r]).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(Subtract()([p, q]).numpy(), p - q, rtol=1e-6)
    np.testing.assert_allclose(Concatenate()([p, q]).numpy(), np.concatenate([p, q], 1))
    np.testing.assert_allclose(
        Dot(axes=1)([p, q]).numpy(), (p * q).sum(1, keepdims=True), rtol=1e-5
    )
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(
        Dot(axes=1, normalize=True)([p, q]).numpy(),
        (unit(p) * unit(q)).sum(1, keepdims=True),
        rtol=1e-5,
    )


def test_dot_over_sequences_matches_einsum():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 3))
    got = Dot(axes=(2, 2), dtype="float64")([a, b]).numpy()
    np.testing.assert_allclose(got, np.einsum("btk,bsk->bts", a, b))
    assert Dot(axes=(2, 2)).compute_output_shape([(None, 5, 3), (None, 4, 3)]) == (None, 5, 4)


@pytest.mark.parametrize(
    "layer",
    [
        Add,
        Subtract,
        Multiply,
        Average,
        Maximum,
        Minimum,
        Concatenate,
        lambda dtype: Dot(axes=1, normalize=True, dtype=dtype),
    ],
)
def test_merge_gradients(layer):
    merge = layer(dtype="float64")

    def fn(x, y):
        return merge([x, y])

    gradcheck(fn, (randn(3, 4), randn(3, 4) + 0.01 * np.arange(12).reshape(3, 4)))


def test_merges_refuse_mismatched_shapes_with_the_shapes_named():
    with pytest.raises(ValueError, match=r"\(None, 4\), \(None, 5\)"):
        Add()([Input((4,)), Input((5,))])
    with pytest.raises(ValueError, match="match on every other axis"):
        Concatenate(axis=1)([Input((2, 4)), Input((3, 5))])


def test_model_called_on_arrays_returns_tensors_per_output():
    model = _two_in_two_out()
    xa, xb, _, _ = _data(3)
    out = model([xa, xb])
    assert isinstance(out, list) and all(isinstance(t, Tensor) for t in out)
    assert out[0].shape == (3, 3)


def test_summary_wraps_a_long_cell_instead_of_breaking_the_table(capsys):
    from axonal import layers as L

    tokens = Input((12, 32))
    attended = L.MultiHeadAttention(num_heads=4, key_dim=8)(tokens, tokens)
    Model(tokens, L.Add()([tokens, attended])).summary()
    table = [line for line in capsys.readouterr().out.splitlines() if line[:1] in "┏┃┡│├└"]
    assert len({len(line) for line in table}) == 1  # every line as wide as the table
    text = "\n".join(table)
    assert "multi_head_attention" in text and "(MultiHeadAttention)" in text


def test_symbolic_slicing_builds_trains_and_saves(tmp_path):
    from axonal import layers as L

    tokens = Input((5, 6))
    first = tokens[:, 0]  # a CLS-token readout
    window = tokens[..., 2:5]
    reversed_steps = tokens[:, ::-1, None]
    model = Model(tokens, [L.Dense(2)(first), window, reversed_steps])
    x = np.random.default_rng(0).random((3, 5, 6)).astype("float32")
    head, got_window, got_reversed = model.predict(x, verbose=0)
    np.testing.assert_array_equal(got_window, x[..., 2:5])
    np.testing.assert_array_equal(got_reversed, x[:, ::-1, None])
    dense = next(layer for layer in model.layers if isinstance(layer, L.Dense))
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(head, x[:, 0] @ kernel + bias, rtol=1e-5)
    model.save(tmp_path / "sliced.axonal")
    loaded = axonal.models.load_model(tmp_path / "sliced.axonal")
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(a, b)
    classifier = Model(tokens, L.Dense(1)(tokens[:, -1]))
    classifier.compile("sgd", "mse")
    before = classifier.get_weights()[0].copy()
    classifier.fit(x, np.ones((3, 1), "float32"), verbose=0)
    assert not np.array_equal(classifier.get_weights()[0], before)  # gradients flow through
