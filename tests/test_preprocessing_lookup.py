"""StringLookup, IntegerLookup, CategoryEncoding, Hashing and Discretization.

Oracles: Keras 3 where it computes without TensorFlow (CategoryEncoding, Discretization's
bins); Keras's lookups and Hashing need TensorFlow, so their expected values are literal
fixtures taken from Keras's own test suite (values TensorFlow computed), checked always, plus a
live comparison that runs only where TensorFlow is installed; FarmHash against ``pyfarmhash``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import axonal
from axonal import layers, weight_budget
from axonal.layers.preprocessing.hashing_functions import (
    fingerprint64,
    fingerprint64_many,
    hash_to_buckets,
)
from axonal.models import Model, Sequential, load_model
from axonal.saving import UnsafeOrCorruptFileError

os.environ.setdefault("KERAS_BACKEND", "torch")


def _keras():
    return pytest.importorskip("keras")


def _keras_tf_layer(name: str, **kwargs):
    """A Keras layer that needs TensorFlow, or a skip where TensorFlow is missing."""
    keras = _keras()
    try:
        return getattr(keras.layers, name)(**kwargs)
    except ImportError:
        pytest.skip(f"keras.layers.{name} needs TensorFlow")


def _np(x):
    return np.asarray(x.data if hasattr(x, "data") else x)


# ---------------------------------------------------------------- hashing
# (input, num_bins, salt, mask_value, expected): Keras's hashing_test.py values
HASH_FIXTURES = [
    (["A", "B", "C", "D", "E"], 3, None, None, [1, 0, 1, 1, 2]),
    (["omar", "stringer", "marlo", "wire", "skywalker"], 2, None, None, [0, 0, 1, 0, 0]),
    (["A", "B", "C", "D", "E"], 3, [133, 137], None, [1, 2, 1, 0, 2]),
    (["A", "B", "C", "D", "E"], 3, 133, None, [0, 0, 2, 1, 0]),
    (["omar", "stringer", "marlo", "wire", "skywalker"], 2, [133, 137], None, [0, 1, 0, 1, 0]),
    (["omar", "stringer", "marlo", "wire", "skywalker"], 2, [211, 137], None, [1, 0, 1, 0, 1]),
    (["A", "B", "", "C", "D"], 3, None, "", [1, 1, 0, 2, 2]),
    (["omar", "stringer", "marlo", "wire", "skywalker"], 3, None, "", [1, 1, 2, 1, 1]),
    (["omar", "stringer", "marlo", "wire", "skywalker"], 3, None, "omar", [0, 1, 2, 1, 1]),
    ([0, 1, 2, 3, 4], 3, None, None, [1, 0, 1, 0, 2]),
    ([0, 1, 2, 3, 4], 3, [133, 137], None, [1, 1, 2, 0, 1]),
]


@pytest.mark.parametrize("values, bins, salt, mask, expected", HASH_FIXTURES)
def test_hashing_matches_keras_fixtures(values, bins, salt, mask, expected):
    layer = layers.Hashing(num_bins=bins, salt=salt, mask_value=mask)
    out = _np(layer(np.array(values)[:, None]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.array(expected)[:, None])


def test_fingerprint64_known_values_and_pyfarmhash():
    # FarmHash Fingerprint64 of "" is k2, and of b"hello" a published value
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F
    farmhash = pytest.importorskip("farmhash")
    rng = np.random.default_rng(0)
    # every code path: 0-16, 17-32, 33-64 and the 64-byte-block loop
    for length in list(range(0, 140)) + [255, 256, 257, 1000]:
        data = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
        assert fingerprint64(data) == farmhash.fingerprint64(data), length


def test_vectorised_fingerprint_equals_the_scalar_one():
    rng = np.random.default_rng(1)
    items = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in range(0, 140)]
    # trailing zero bytes: fixed-width NumPy bytes drop them, the lengths must restore them
    items += [b"a\x00\x00", b"\x00", b"\x00" * 20, "Ωmega".encode()]
    many = fingerprint64_many(items)
    assert many.dtype == np.uint64
    assert [int(v) for v in many] == [fingerprint64(item) for item in items]


def test_hash_to_buckets_hashes_each_distinct_value_once_and_keeps_shape():
    values = np.array([["a", "b"], ["a", "a"], ["b", "c"]])
    out = hash_to_buckets(values, 1000)
    assert out.shape == (3, 2)
    assert out[0, 0] == out[1, 0] == out[1, 1]
    assert out[0, 0] == fingerprint64(b"a") % 1000


def test_hashing_encodings_and_float_inputs():
    # Keras's hashing_test: integers 0..4 into 3 bins are [1, 0, 1, 0, 2]
    ints = np.array([[0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(
        _np(layers.Hashing(3, output_mode="multi_hot")(ints)), [[1.0, 1.0, 1.0]]
    )
    np.testing.assert_array_equal(
        _np(layers.Hashing(3, output_mode="count")(ints)), [[2.0, 2.0, 1.0]]
    )
    one_hot = _np(layers.Hashing(3, output_mode="one_hot")(np.array([[0], [1], [4]])))
    np.testing.assert_array_equal(one_hot, [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    # floats are truncated to integers, then hashed as their decimal strings
    np.testing.assert_array_equal(
        _np(layers.Hashing(3)(np.array([[0.7], [1.2], [4.9]]))), [[1], [0], [2]]
    )
    assert layers.Hashing(3, output_mode="one_hot").compute_output_shape((None, 1)) == (None, 3)


def test_hashing_against_keras_when_tensorflow_is_installed():
    keras_layer = _keras_tf_layer("Hashing", num_bins=7, salt=5)
    data = np.array([["x"], ["yy"], ["a longer string of text that is over 64 bytes long......"]])
    np.testing.assert_array_equal(
        _np(layers.Hashing(num_bins=7, salt=5)(data)), np.asarray(keras_layer(data))
    )


# ---------------------------------------------------------------- StringLookup / IntegerLookup
def test_string_lookup_keras_output_modes():
    # Keras's index_lookup_test.py test_output_modes
    kwargs = dict(
        max_tokens=7, mask_token="", oov_token="[OOV]", vocabulary=["one", "two", "three"]
    )
    single = np.array(["one", "two", "four"])
    batch = np.array([["one", "two", "four", "two"]])
    layer = layers.StringLookup(output_mode="int", **kwargs)
    np.testing.assert_array_equal(_np(layer(single)), [2, 3, 1])
    np.testing.assert_array_equal(_np(layer(batch)), [[2, 3, 1, 3]])
    layer = layers.StringLookup(output_mode="multi_hot", **kwargs)
    np.testing.assert_array_equal(_np(layer(single)), [1, 1, 1, 0])
    np.testing.assert_array_equal(_np(layer(batch)), [[1, 1, 1, 0]])
    layer = layers.StringLookup(output_mode="one_hot", **kwargs)
    np.testing.assert_array_equal(_np(layer(single)), [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
    layer = layers.StringLookup(output_mode="count", **kwargs)
    np.testing.assert_array_equal(_np(layer(single)), [1, 1, 1, 0])
    np.testing.assert_array_equal(_np(layer(batch)), [[1, 1, 2, 0]])
    layer = layers.StringLookup(output_mode="tf_idf", idf_weights=[0.1, 0.2, 0.3], **kwargs)
    np.testing.assert_allclose(_np(layer(single)), [0.2, 0.1, 0.2, 0.0], rtol=1e-6)
    np.testing.assert_allclose(_np(layer(batch)), [[0.2, 0.1, 0.4, 0.0]], rtol=1e-6)


def test_string_lookup_adapt_tf_idf_matches_keras():
    # Keras's index_lookup_test.py test_adapt_tf_idf (values computed by TensorFlow)
    kwargs = dict(max_tokens=7, mask_token="", oov_token="[OOV]", output_mode="tf_idf")
    layer = layers.StringLookup(**kwargs)
    layer.adapt(["one", "one", "one", "two", "two", "three"])
    idf = np.log(1 + 6 / (1 + np.array([3, 2, 1])))
    np.testing.assert_allclose(layer.idf_weights[1:], idf, rtol=1e-6)
    np.testing.assert_allclose(
        _np(layer(np.array(["one", "two", "four"]))),
        [1.1337324, 0.91629076, 1.0986123, 0.0],
        rtol=1e-6,
    )
    layer = layers.StringLookup(**kwargs)
    layer.adapt([["one", "one"], ["one", "two"], ["two", "three"]])
    np.testing.assert_allclose(
        _np(layer(np.array([["one", "two"], ["two", "four"]]))),
        [[0.0, 0.6931472, 0.6931472, 0.0], [0.76752836, 0.0, 0.6931472, 0.0]],
        rtol=1e-6,
    )


def test_adapt_orders_by_frequency_then_token_descending():
    # Keras sorts with a reversed lexsort over (token, count): equal counts put the greater
    # token first
    layer = layers.StringLookup()
    layer.adapt(np.array(["b", "a", "b", "c", "c", "d", "e", "e", "e"]))
    assert layer.get_vocabulary() == ["[UNK]", "e", "c", "b", "d", "a"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["e", "c", "b", "d", "a"]
    assert layer.vocabulary_size() == 6
    np.testing.assert_array_equal(_np(layer(np.array([["a"], ["e"], ["zzz"]]))), [[5], [1], [0]])
    numbers = layers.IntegerLookup()
    numbers.adapt(np.array([3, 1, 3, 7, 1, 9]))
    assert numbers.get_vocabulary() == [-1, 3, 1, 9, 7]


def test_integer_lookup_keras_fixtures():
    # Keras's index_lookup_test.py test_max_tokens_adapt and friends
    layer = layers.IntegerLookup(max_tokens=4, mask_token=0, oov_token=-1)
    layer.adapt([1, 1, 1, 2, 2, 3])
    assert layer.get_vocabulary() == [0, -1, 1, 2]
    np.testing.assert_array_equal(_np(layer(np.array([1, 2, 3, 4]))), [2, 3, 1, 1])
    padded = layers.IntegerLookup(
        max_tokens=5,
        mask_token=0,
        vocabulary=[1, 2],
        pad_to_max_tokens=True,
        output_mode="multi_hot",
    )
    np.testing.assert_array_equal(_np(padded(np.array([1, 2]))), [0, 1, 1, 0, 0])
    # several OOV slots: an unknown id goes to id mod num_oov_indices (floormod)
    layer = layers.IntegerLookup(vocabulary=[12, 36], num_oov_indices=2, mask_token=0)
    assert layer.get_vocabulary() == [0, -1, -1, 12, 36]
    np.testing.assert_array_equal(_np(layer(np.array([[12, 0, 7, 8]]))), [[3, 0, 2, 1]])


def test_string_lookup_several_oov_slots_use_farmhash():
    layer = layers.StringLookup(vocabulary=["a"], num_oov_indices=3)
    out = _np(layer(np.array(["a", "omar", "wire", "stringer"])))
    expected = hash_to_buckets(np.array(["omar", "wire", "stringer"]), 3)
    np.testing.assert_array_equal(out, np.concatenate([[3], expected]))
    salted = layers.StringLookup(vocabulary=["a"], num_oov_indices=3, salt=[133, 137])
    np.testing.assert_array_equal(
        _np(salted(np.array(["omar"]))), hash_to_buckets(np.array(["omar"]), 3, [133, 137])
    )


def test_invert():
    # Keras's index_lookup_test.py test_invert
    layer = layers.StringLookup(
        max_tokens=7,
        mask_token="",
        oov_token="[OOV]",
        vocabulary=["one", "two", "three"],
        invert=True,
    )
    assert _np(layer(np.array([2, 3, 1]))).tolist() == ["one", "two", "[OOV]"]
    assert _np(layer(np.array([[2, 3, 1, 3]]))).tolist() == [["one", "two", "[OOV]", "two"]]
    assert _np(layer(np.array([0, 9]))).tolist() == ["", "[OOV]"]
    numbers = layers.IntegerLookup(vocabulary=[12, 36], invert=True)
    np.testing.assert_array_equal(_np(numbers(np.array([[1, 2, 0, 9]]))), [[12, 36, -1, -1]])
    forward = layers.StringLookup(vocabulary=["a", "b", "c"])
    back = layers.StringLookup(vocabulary=forward.get_vocabulary(), invert=True)
    words = np.array([["c", "a", "q"]])
    assert _np(back(forward(words))).tolist() == [["c", "a", "[UNK]"]]


def test_layers_take_plain_python_lists_as_keras_does():
    layer = layers.StringLookup(vocabulary=["a", "b", "c"])
    np.testing.assert_array_equal(_np(layer(["b", "c", "d"])), [2, 3, 0])
    np.testing.assert_array_equal(_np(layer([["a", "b"], ["c", "z"]])), [[1, 2], [3, 0]])
    np.testing.assert_array_equal(_np(layers.CategoryEncoding(3)([0, 2])), [1.0, 0.0, 1.0])


def test_set_vocabulary_with_and_without_special_tokens():
    layer = layers.StringLookup(mask_token="[MASK]", oov_token="[OOV]")
    layer.set_vocabulary(["a", "b", "c"])
    assert layer.get_vocabulary() == ["[MASK]", "[OOV]", "a", "b", "c"]
    again = layers.StringLookup(mask_token="[MASK]", oov_token="[OOV]")
    again.set_vocabulary(layer.get_vocabulary())
    assert again.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(_np(again(np.array(["b", "c", "d", "[MASK]"]))), [3, 4, 1, 0])


def test_lookup_errors_name_the_problem():
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        layers.StringLookup(sparse=True, output_mode="multi_hot")
    with pytest.raises(ValueError, match="repeats"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="idf_weights"):
        layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        layers.StringLookup(invert=True, output_mode="one_hot")
    with pytest.raises(ValueError, match="max_tokens=2"):
        layers.StringLookup(vocabulary=["a", "b"], max_tokens=2)
    strict = layers.StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        strict(np.array(["b"]))
    fixed = layers.StringLookup(vocabulary=["a"])
    with pytest.raises(ValueError, match="fixed vocabulary"):
        fixed.adapt(["a", "b"])
    with pytest.raises(RuntimeError, match="needs its vocabulary"):
        layers.StringLookup(output_mode="one_hot")(np.array(["a"]))


def test_adapt_from_an_iterable_of_batches_and_steps():
    def batches():
        while True:
            yield np.array(["cat", "dog"])
            yield np.array(["bird", "cat"])

    layer = layers.StringLookup()
    layer.adapt(batches(), steps=2)
    assert layer.get_vocabulary() == ["[UNK]", "cat", "dog", "bird"]


def test_lookup_get_config_keys_and_from_config():
    layer = layers.StringLookup(vocabulary=["a", "b"], mask_token="[MASK]")
    config = layer.get_config()
    for key in (
        "invert",
        "max_tokens",
        "num_oov_indices",
        "oov_token",
        "mask_token",
        "output_mode",
        "sparse",
        "pad_to_max_tokens",
        "idf_weights",
        "vocabulary",
        "vocabulary_size",
        "oov_method",
        "salt",
        "encoding",
        "name",
        "trainable",
        "dtype",
    ):
        assert key in config, key
    assert "vocabulary_dtype" not in config
    assert config["vocabulary"] == ["a", "b"]
    rebuilt = layers.StringLookup.from_config(config)
    assert rebuilt.get_vocabulary() == layer.get_vocabulary()
    assert layers.IntegerLookup(vocabulary=[4]).get_config()["vocabulary_dtype"] == "int64"


def _as_text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]


LOOKUP_CASES = [
    {},
    {"num_oov_indices": 3},
    {"num_oov_indices": 3, "salt": [5, 9]},
    {"mask_token": "a"},
    {"max_tokens": 5},
    {"output_mode": "multi_hot"},
    {"output_mode": "count", "mask_token": "b"},
    {"output_mode": "tf_idf"},
    {"output_mode": "tf_idf", "max_tokens": 8, "pad_to_max_tokens": True},
]


@pytest.mark.parametrize("kwargs", LOOKUP_CASES)
def test_string_lookup_against_keras_when_tensorflow_is_installed(kwargs):
    theirs = _keras_tf_layer("StringLookup", **kwargs)
    rng = np.random.default_rng(0)
    words = np.array(["b", "a", "c", "d", "ee", "f", "gg", "Ω", "é", "z"])
    data = words[rng.integers(0, 10, size=(40, 3))]
    theirs.adapt(data)
    ours = layers.StringLookup(**kwargs)
    ours.adapt(data)
    assert ours.get_vocabulary() == _as_text(theirs.get_vocabulary())
    probe = np.array([["a", "zz", "Ω"], ["q", "b", "é"]])
    np.testing.assert_allclose(_np(ours(probe)), np.asarray(theirs(probe)), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_oov_indices": 3}, {"num_oov_indices": 2, "oov_method": "farmhash", "salt": 7},
     {"mask_token": 0}, {"output_mode": "multi_hot", "max_tokens": 6}],
)  # fmt: skip
def test_integer_lookup_against_keras_when_tensorflow_is_installed(kwargs):
    theirs = _keras_tf_layer("IntegerLookup", **kwargs)
    data = np.random.default_rng(1).integers(-3, 12, size=(50, 2))
    theirs.adapt(data)
    ours = layers.IntegerLookup(**kwargs)
    ours.adapt(data)
    assert ours.get_vocabulary() == [int(v) for v in theirs.get_vocabulary()]
    probe = np.array([[1, 100, -7], [5, 3, 13]])
    np.testing.assert_array_equal(_np(ours(probe)), np.asarray(theirs(probe)))


# ---------------------------------------------------------------- CategoryEncoding
CATEGORY_INPUTS = [
    np.array([0, 1, 1]),
    np.array([[0, 1], [1, 1]]),
    np.array([[0], [3]]),
    np.array([[[0, 1], [1, 3]]]),
]


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("index", range(len(CATEGORY_INPUTS)))
def test_category_encoding_matches_keras(mode, index):
    keras = _keras()
    data = CATEGORY_INPUTS[index]
    expected = np.asarray(keras.layers.CategoryEncoding(num_tokens=4, output_mode=mode)(data))
    ours = layers.CategoryEncoding(num_tokens=4, output_mode=mode)
    out = _np(ours(data))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    shape = (None,) + data.shape[1:]
    keras_shape = keras.layers.CategoryEncoding(4, mode).compute_output_shape(shape)
    assert ours.compute_output_shape(shape) == tuple(keras_shape)


def test_category_encoding_count_weights_and_fixture():
    layer = layers.CategoryEncoding(num_tokens=4, output_mode="count")
    out = _np(layer(np.array([[0, 1, 1]]), count_weights=np.array([[0.5, 1.0, 2.0]])))
    np.testing.assert_allclose(out, [[0.5, 3.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"indices in \[0, 4\)"):
        layer(np.array([[4]]))
    with pytest.raises(ValueError, match="count_weights is only used"):
        layers.CategoryEncoding(4, "one_hot")(np.array([[1]]), count_weights=np.array([[1.0]]))


# ---------------------------------------------------------------- Discretization
def test_discretization_bins_match_keras():
    keras = _keras()
    data = np.array([[-1.5, 0.0, 0.5, 1.0, 2.0], [0.999, 1.001, -0.0, 3.0, -7.0]], "float32")
    for mode in ("int", "one_hot", "multi_hot", "count"):
        ours = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=mode)
        theirs = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=mode)
        expected = np.asarray(theirs(data[:, :1] if mode == "one_hot" else data))
        out = _np(ours(data[:, :1] if mode == "one_hot" else data))
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out, expected)


def test_discretization_fixture_without_keras():
    layer = layers.Discretization(bin_boundaries=[0.0, 1.0])
    out = _np(layer(np.array([[-1.0, 0.5, 2.0, 1.0, 0.0]])))
    np.testing.assert_array_equal(out, [[0, 1, 2, 2, 1]])
    assert out.dtype == np.int32
    adapted = layers.Discretization(num_bins=4)
    adapted.adapt(np.arange(100.0))
    # Keras's quantile summary of 0..99 (values from Keras 3.15.1's algorithm)
    np.testing.assert_allclose(adapted.bin_boundaries, [24.0, 49.0, 74.0], atol=1e-3)


@pytest.mark.parametrize("num_bins, epsilon", [(4, 0.01), (5, 0.05), (3, 0.2)])
def test_discretization_adapt_matches_keras(num_bins, epsilon):
    keras = _keras()
    rng = np.random.default_rng(num_bins)
    batches = [rng.normal(size=(300, 2)), rng.exponential(size=(120, 2))]
    theirs = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    # Keras's adapt() needs TensorFlow for its dataset check; its own update/finalize do not
    for batch in batches:
        theirs.update_state(batch)
    theirs.finalize_state()
    ours = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    ours.adapt(iter(batches))
    np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)


# ---------------------------------------------------------------- models, saving, export
def test_string_inputs_flow_through_fit_predict_evaluate():
    axonal.utils.set_random_seed(0)
    words = np.array(["red", "green", "blue", "teal"])
    rng = np.random.default_rng(0)
    x = words[rng.integers(0, 4, size=400)]
    y = np.isin(x, ["red", "blue"]).astype("float32")
    inputs = axonal.Input(shape=(1,), dtype="string")
    lookup = layers.StringLookup(vocabulary=["red", "green", "blue"])
    embedded = layers.Flatten()(layers.Embedding(lookup.vocabulary_size(), 4)(lookup(inputs)))
    model = Model(inputs, layers.Dense(1, activation="sigmoid")(embedded))
    model.compile(axonal.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy == 1.0
    np.testing.assert_array_equal(model.predict(words, verbose=0).ravel() > 0.5, [1, 0, 1, 0])
    # the lookup has no weights; the Embedding and Dense trained
    assert lookup.weights == []


def test_sequential_starting_with_a_string_layer_takes_strings():
    model = Sequential(
        [layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot"), layers.Dense(2)]
    )
    out = model.predict(np.array([["a"], ["b"], ["c"]]), verbose=0)
    assert out.shape == (3, 2)
    # a plain list of strings is the data (one string per sample), even of length one
    np.testing.assert_array_equal(model.predict(["a", "b", "c"], verbose=0), out)
    np.testing.assert_array_equal(model.predict(["b"], verbose=0), out[1:2])
    numeric = Sequential([axonal.Input((1,)), layers.Dense(1)])
    numeric.compile("sgd", "mse")
    with pytest.raises(TypeError, match="must be numeric"):
        numeric.fit(np.array([["a"]]), np.zeros(1), verbose=0)


def test_structured_data_program_learns():
    # Keras's structured-data recipe: one Input per feature, each encoded by its own
    # preprocessing layer, concatenated, then Dense layers
    axonal.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    n = 1200
    age = rng.normal(50, 12, size=(n, 1)).astype("float32")
    rooms = rng.integers(1, 6, size=(n, 1))
    city = np.array(["paris", "lyon", "nice", "brest"])[rng.integers(0, 4, size=(n, 1))]
    score = (age[:, 0] - 50) / 12 + (rooms[:, 0] >= 3) * 1.5 - (city[:, 0] == "lyon") * 2.0
    target = (score + rng.normal(0, 0.3, size=n) > 0.2).astype("float32")
    normalizer = layers.Normalization()
    normalizer.adapt(age)
    room_lookup = layers.IntegerLookup(output_mode="one_hot")
    room_lookup.adapt(rooms)
    city_lookup = layers.StringLookup(output_mode="one_hot")
    city_lookup.adapt(city)
    age_in = axonal.Input((1,), name="age")
    rooms_in = axonal.Input((1,), dtype="int64", name="rooms")
    city_in = axonal.Input((1,), dtype="string", name="city")
    features = layers.concatenate([normalizer(age_in), room_lookup(rooms_in), city_lookup(city_in)])
    hidden = layers.Dense(16, activation="relu")(features)
    model = Model(
        {"age": age_in, "rooms": rooms_in, "city": city_in},
        layers.Dense(1, activation="sigmoid")(hidden),
    )
    model.compile(axonal.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    data = {"age": age, "rooms": rooms, "city": city}
    model.fit(data, target, epochs=30, batch_size=64, verbose=0, validation_split=0.2)
    _, accuracy = model.evaluate(data, target, verbose=0)
    assert accuracy > 0.9


def test_preprocessing_model_round_trip_and_adapt_after_reload(tmp_path):
    rng = np.random.default_rng(0)
    texts = np.array(["x", "y", "y", "z", "z", "z"])[:, None]
    inputs = axonal.Input((1,), dtype="string")
    lookup = layers.StringLookup(output_mode="tf_idf", num_oov_indices=2)
    lookup.adapt(texts)
    model = Model(inputs, layers.Dense(2)(lookup(inputs)))
    probe = np.array([["x"], ["q"], ["z"]])
    before = model.predict(probe, verbose=0)
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), before)
    reloaded = loaded.layers[-2] if isinstance(loaded.layers[-2], layers.StringLookup) else None
    reloaded = reloaded or next(l for l in loaded.layers if isinstance(l, layers.StringLookup))
    assert reloaded.get_vocabulary() == lookup.get_vocabulary()
    np.testing.assert_array_equal(reloaded.idf_weights, lookup.idf_weights)
    # a learned vocabulary stays learned: adapt() may replace it (the vocabulary size is
    # frozen once called, as in Keras, so the new data has as many tokens)
    reloaded.adapt(np.array(["a", "b", "b", "c"])[:, None])
    assert reloaded.get_vocabulary()[2:] == ["b", "c", "a"]
    del rng


def test_huge_vocabulary_in_a_file_is_refused_by_the_budget(tmp_path, monkeypatch):
    lookup = layers.StringLookup(vocabulary=[f"w{i}" for i in range(300)])
    model = Sequential([axonal.Input((1,), dtype="string"), lookup, layers.Embedding(301, 2)])
    model.save(tmp_path / "m.axonal")
    monkeypatch.setattr(weight_budget, "MAX_TABLE_ENTRIES", 200)
    with pytest.raises(UnsafeOrCorruptFileError, match="300 entries"):
        load_model(tmp_path / "m.axonal")
    monkeypatch.setattr(weight_budget, "MAX_TABLE_ENTRIES", 1000)
    assert load_model(tmp_path / "m.axonal").predict(np.array([["w5"]]), verbose=0).shape == (
        1,
        1,
        2,
    )


def test_huge_encoding_width_in_a_file_is_refused(tmp_path):
    model = Sequential([axonal.Input((1,), dtype="int64"), layers.CategoryEncoding(num_tokens=8)])
    model.save(tmp_path / "m.axonal")
    import json
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.axonal") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    text = json.dumps(config).replace('"num_tokens": 8', '"num_tokens": 1000000000000')
    members["config.json"] = text.encode()
    with zipfile.ZipFile(tmp_path / "hostile.axonal", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(UnsafeOrCorruptFileError):
        load_model(tmp_path / "hostile.axonal")


def test_onnx_export_refuses_preprocessing_layers_by_name(tmp_path):
    pytest.importorskip("onnx")
    from axonal.export import OnnxExportError, to_onnx

    inputs = axonal.Input((1,), dtype="string")
    model = Model(
        inputs,
        layers.Dense(2)(layers.StringLookup(vocabulary=["a"], output_mode="one_hot")(inputs)),
    )
    with pytest.raises(OnnxExportError, match=r"'string_lookup.*' \(StringLookup\).*preprocessing"):
        to_onnx(model, tmp_path / "m.onnx")
    numeric = Sequential(
        [axonal.Input((1,)), layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")]
    )
    with pytest.raises(OnnxExportError, match="Discretization"):
        to_onnx(numeric, tmp_path / "n.onnx")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}),
        ("Discretization", {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"}),
    ],
)
def test_config_keys_cover_keras(name, kwargs):
    keras = _keras()
    theirs = set(getattr(keras.layers, name)(**kwargs).get_config())
    ours = set(getattr(layers, name)(**kwargs).get_config())
    assert theirs - ours == set()


def test_values_recorded_from_keras_with_tensorflow():
    # computed by Keras 3.15.1 with TensorFlow 2.21 (KERAS_BACKEND=torch), recorded as literals
    salted = layers.StringLookup(num_oov_indices=3, salt=[5, 9], mask_token="<m>")
    salted.adapt(np.array([["x", "y", "y"], ["z", "z", "z"]]))
    assert salted.get_vocabulary() == ["<m>", "[UNK]", "[UNK]", "[UNK]", "z", "y", "x"]
    np.testing.assert_array_equal(
        _np(salted(np.array([["x", "<m>", "omar", "wire", "q", "z"]]))), [[6, 0, 3, 2, 2, 4]]
    )
    hashed = layers.IntegerLookup(num_oov_indices=2, oov_method="farmhash")
    hashed.adapt(np.array([4, 4, 9, 1, 1, 1, 12]))
    assert hashed.get_vocabulary() == [-1, -1, 1, 4, 12, 9]
    np.testing.assert_array_equal(_np(hashed(np.array([[4, 9, 3, 100, -2]]))), [[3, 5, 1, 1, 1]])
    long_text = np.array(
        [["apple"], ["a string longer than thirty-two bytes, and more"], ["x" * 100]]
    )
    np.testing.assert_array_equal(
        _np(layers.Hashing(num_bins=1000)(long_text)).ravel(), [601, 124, 719]
    )
    salted_hash = layers.Hashing(num_bins=1000, salt=[12345, 67890])
    np.testing.assert_array_equal(
        _np(salted_hash(np.array([["apple"], ["a string longer than eight"]]))).ravel(),
        [875, 592],
    )
