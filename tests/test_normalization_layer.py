"""Normalization (Keras 3 semantics: statistics from adapt, stored as non-trainable weights) and
ColumnNames, the pass-through layer that carries a table's column names inside a model."""

import numpy as np
import pytest

from axonal.layers import Dense, Input, Normalization
from axonal.layers.preprocessing import ColumnNames
from axonal.models import Sequential
from axonal.registry import deserialize, serialize
from gradcheck import gradcheck, randn


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    # features on very different scales, as in a real table
    return rng.normal(size=(rows, 3)) * [1.0, 10.0, 1000.0] + [0.0, -5.0, 20000.0]


# ---------------------------------------------------------------- adapt


def test_adapt_matches_numpy_mean_and_population_variance():
    x = _data()
    layer = Normalization(dtype="float64")
    layer.adapt(x)
    np.testing.assert_allclose(layer.mean.data, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.variance.data, x.var(axis=0), rtol=1e-12)
    assert int(layer.count.data) == len(x)


def test_output_is_standardized():
    x = _data()
    layer = Normalization()
    layer.adapt(x)
    out = layer(x.astype("float32")).data
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-4)
    # predict's array path gives the same numbers
    np.testing.assert_allclose(layer.infer(x.astype("float32")), out, rtol=1e-6)


def test_adapt_replaces_earlier_statistics():
    layer = Normalization(dtype="float64")
    layer.adapt(_data(seed=1))
    x = _data(seed=2)
    layer.adapt(x)
    np.testing.assert_allclose(layer.mean.data, x.mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_batched_adapt_gives_the_same_statistics(batch_size):
    x = _data(rows=50)
    layer = Normalization(dtype="float64")
    layer.adapt(x, batch_size=batch_size)
    np.testing.assert_allclose(layer.mean.data, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(layer.variance.data, x.var(axis=0), rtol=1e-10)


def test_adapt_on_an_iterable_of_batches_and_pairs():
    x = _data(rows=40)
    y = np.zeros(40)
    layer = Normalization(dtype="float64")
    layer.adapt(iter([x[:13], x[13:30], x[30:]]))
    np.testing.assert_allclose(layer.variance.data, x.var(axis=0), rtol=1e-10)
    paired = Normalization(dtype="float64")
    paired.adapt((x[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10))
    np.testing.assert_allclose(paired.mean.data, x.mean(axis=0), rtol=1e-10)
    limited = Normalization(dtype="float64")
    limited.adapt(iter([x[:20], x[20:]]), steps=1)
    np.testing.assert_allclose(limited.mean.data, x[:20].mean(axis=0), rtol=1e-10)


def test_axis_none_keeps_one_scalar_mean_and_variance():
    x = _data()
    layer = Normalization(axis=None, dtype="float64")
    layer.adapt(x)
    assert layer.mean.data.shape == ()
    np.testing.assert_allclose(layer.mean.data, x.mean(), rtol=1e-12)
    np.testing.assert_allclose(layer(x).data, (x - x.mean()) / x.std(), rtol=1e-10)


def test_axis_in_the_middle_of_a_3d_input():
    x = np.random.default_rng(3).normal(size=(8, 5, 2)) * np.arange(1, 6)[None, :, None]
    layer = Normalization(axis=1, dtype="float64")
    layer.adapt(x)
    assert layer.mean.data.shape == (5,)
    np.testing.assert_allclose(layer.variance.data, x.var(axis=(0, 2)), rtol=1e-12)
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0.0, atol=1e-12)


def test_a_constant_feature_maps_to_zero_not_nan():
    x = np.column_stack([np.full(10, 3.0), np.arange(10.0)])
    layer = Normalization(dtype="float64")
    layer.adapt(x)
    out = layer(x).data
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 0], 0.0)


def test_fixed_mean_and_variance_and_invert():
    layer = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], dtype="float64")
    x = np.array([[3.0, 8.0]])
    np.testing.assert_allclose(layer(x).data, [[1.0, 2.0]])
    assert layer.weights == []
    inverse = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True, dtype="float64")
    np.testing.assert_allclose(inverse(layer(x)).data, x)


def test_invert_of_an_adapted_layer_round_trips():
    x = _data()
    forward = Normalization(dtype="float64")
    backward = Normalization(invert=True, dtype="float64")
    forward.adapt(x)
    backward.adapt(x)
    np.testing.assert_allclose(backward(forward(x)).data, x, rtol=1e-10)


# ---------------------------------------------------------------- weights and configs


def test_statistics_are_non_trainable_weights_in_keras_order():
    layer = Normalization()
    layer.build((None, 3))
    assert layer.trainable_weights == []
    assert [w.name for w in layer.non_trainable_weights] == ["mean", "variance", "count"]
    assert layer.count.data.dtype == np.int64
    assert [w.data.shape for w in layer.weights] == [(3,), (3,), ()]
    assert layer.count_params() == 7


def test_training_leaves_the_statistics_alone():
    x = _data().astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    norm = Normalization()
    model = Sequential([Input((3,)), norm, Dense(2, activation="softmax")])
    norm.adapt(x)
    before = [w.copy() for w in norm.get_weights()]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for got, want in zip(norm.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_config_round_trip_with_weights():
    x = _data()
    layer = Normalization(axis=-1, dtype="float64", name="scaler")
    layer.adapt(x)
    config = serialize(layer)
    assert config["class_name"] == "Normalization"
    assert config["config"]["axis"] == [-1]
    assert config["config"]["mean"] is None
    clone = deserialize("layer", config)
    clone.build((None, 3))
    clone.set_weights(layer.get_weights())
    assert clone.name == "scaler"
    np.testing.assert_allclose(clone(x).data, layer(x).data)


def test_config_round_trip_with_fixed_statistics():
    layer = Normalization(axis=None, mean=2.0, variance=4.0, invert=True)
    clone = Normalization.from_config(layer.get_config())
    assert clone.axis == ()
    assert clone.invert
    x = np.array([[1.0, 0.0]], dtype="float32")
    np.testing.assert_allclose(clone(x).data, layer(x).data)


def test_saved_model_keeps_the_statistics(tmp_path):
    pytest.importorskip("axonal.saving", reason="axonal.saving (model.save/load_model) not built")
    from axonal.models import load_model

    x = _data().astype("float32")
    norm = Normalization()
    model = Sequential([Input((3,)), norm, Dense(2)])
    norm.adapt(x)
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.layers[0].get_weights()[0], norm.get_weights()[0])


# ---------------------------------------------------------------- gradients


def test_gradcheck_through_normalization():
    layer = Normalization(dtype="float64")
    layer.adapt(_data())
    gradcheck(lambda t: layer(t), [randn(5, 3, scale=100.0)])


def test_gradcheck_through_inverted_normalization_on_axis_1():
    layer = Normalization(axis=1, invert=True, dtype="float64")
    layer.adapt(np.random.default_rng(4).normal(size=(6, 4, 2)) * 3.0 + 1.0)
    gradcheck(lambda t: layer(t), [randn(3, 4, 2)])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([[1.0, np.nan, 2.0]]), "NaN or infinite"),
        (np.ones((4, 2)), "keeps 3 statistics along axis 1"),
        (np.ones((4, 3, 1)), "built for inputs of shape"),
        (np.zeros((0, 3)), "no samples"),
        (np.array([["a", "b", "c"]]), "expects numbers"),
    ],
)
def test_adapt_rejects_bad_data(data, message):
    layer = Normalization()
    layer.build_from_shape((None, 3))
    with pytest.raises(ValueError, match=message):
        layer.adapt(data)


def test_mean_without_variance_is_refused():
    with pytest.raises(ValueError, match="both mean and variance"):
        Normalization(mean=[0.0])


def test_adapt_on_fixed_statistics_is_refused():
    layer = Normalization(mean=0.0, variance=1.0)
    with pytest.raises(ValueError, match="fixed mean and variance"):
        layer.adapt(np.ones((2, 3)))


def test_wrong_input_width_names_the_layer():
    layer = Normalization(name="scaler")
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="'scaler'.*expects inputs of shape \\(None, 3\\)"):
        layer(np.ones((2, 4), dtype="float32"))


def test_bad_axis_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        Normalization(axis=2).build((None, 3))
    with pytest.raises(ValueError, match="axis must be"):
        Normalization(axis="last")


# ---------------------------------------------------------------- ColumnNames


def test_column_names_passes_through_and_round_trips():
    layer = ColumnNames(["a", "b"], "species", ["cat", "dog", "eel"])
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(layer(x).data, x)
    assert layer.weights == []
    clone = deserialize("layer", serialize(layer))
    assert (clone.features, clone.target, clone.class_names) == (
        ["a", "b"],
        "species",
        ["cat", "dog", "eel"],
    )


def test_column_names_checks_the_class_count():
    with pytest.raises(ValueError, match="names 2 classes but receives 3 outputs"):
        Sequential([Input((4,)), Dense(3), ColumnNames(["a"], "y", ["p", "q"])])
    with pytest.raises(ValueError, match="list of strings"):
        ColumnNames(["a", 1], "y")
