"""TextVectorization: standardize, split, n-grams, vocabulary, output modes, saving, training.

Keras's TextVectorization needs TensorFlow, so the expected values are literal fixtures from
Keras's own test suite (computed by TensorFlow); a live comparison runs where TensorFlow is
installed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import axonal
from axonal import layers, registry
from axonal.models import Model, Sequential, load_model
from axonal.saving import register_serializable

os.environ.setdefault("KERAS_BACKEND", "torch")


def _np(x):
    return np.asarray(x.data if hasattr(x, "data") else x)


def test_adapt_and_int_output_with_sequence_length():
    # Keras's text_vectorization_test.py test_adapt_flow
    layer = layers.TextVectorization(max_tokens=5000, output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    out = _np(layer(np.array([["foo qux bar"], ["qux baz"]])))
    np.testing.assert_array_equal(out, [[4, 1, 3, 0], [1, 2, 0, 0]])
    assert out.dtype == np.int64
    # counts bar 2, baz 2, then boom, bada, foo (ties: the greater token first)
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]


def test_fixed_vocabulary_and_output_modes():
    layer = layers.TextVectorization(vocabulary=["baz", "bar", "foo"], output_sequence_length=4)
    np.testing.assert_array_equal(
        _np(layer(np.array([["foo qux bar"], ["qux baz"]]))), [[4, 1, 3, 0], [1, 2, 0, 0]]
    )
    multi = layers.TextVectorization(output_mode="multi_hot", vocabulary=["foo", "bar", "baz"])
    np.testing.assert_array_equal(
        _np(multi(np.array([["foo bar"], ["baz foo foo"]]))), [[0, 1, 1, 0], [0, 1, 0, 1]]
    )
    count = layers.TextVectorization(output_mode="count", vocabulary=["foo", "bar", "baz"])
    np.testing.assert_array_equal(
        _np(count(np.array(["foo bar", "baz foo foo"]))), [[0, 1, 1, 0], [0, 2, 0, 1]]
    )
    tfidf = layers.TextVectorization(
        output_mode="tf_idf", vocabulary=["foo", "bar", "baz"], idf_weights=[0.3, 0.5, 0.2]
    )
    np.testing.assert_allclose(
        _np(tfidf(np.array(["foo bar", "baz foo foo"]))),
        [[0.0, 0.3, 0.5, 0.0], [0.0, 0.6, 0.0, 0.2]],
        rtol=1e-6,
    )


def test_standardize_modes():
    vocabulary = ["hello", "world", "this", "is", "nice", "test"]
    text = np.array(["Hello, World!. This is just a nice test!"])
    layer = layers.TextVectorization(vocabulary=vocabulary)
    np.testing.assert_array_equal(_np(layer(text)), [[2, 3, 4, 5, 1, 1, 6, 7]])
    lower = layers.TextVectorization(standardize="lower", vocabulary=["hello,"] + vocabulary)
    # "world!." and "test!" keep their punctuation: out of vocabulary
    np.testing.assert_array_equal(_np(lower(text)), [[2, 1, 5, 6, 1, 1, 7, 1]])
    strip = layers.TextVectorization(standardize="strip_punctuation", vocabulary=["Hello"])
    np.testing.assert_array_equal(_np(strip(np.array(["Hello, hello"]))), [[2, 1]])
    raw = layers.TextVectorization(standardize=None, vocabulary=["Hi!"])
    np.testing.assert_array_equal(_np(raw(np.array(["Hi! hi"]))), [[2, 1]])
    # tf.strings.lower (no encoding) lowers ASCII letters only
    unicode = layers.TextVectorization(standardize="lower", vocabulary=["école"])
    np.testing.assert_array_equal(_np(unicode(np.array(["ÉCOLE école"]))), [[1, 2]])


def test_split_modes_and_ngrams():
    chars = layers.TextVectorization(split="character", standardize=None)
    chars.adapt(["abca"])
    assert chars.get_vocabulary() == ["", "[UNK]", "a", "c", "b"]
    np.testing.assert_array_equal(_np(chars(np.array(["cab", "a"]))), [[3, 2, 4], [2, 0, 0]])
    whole = layers.TextVectorization(split=None, vocabulary=["new york", "paris"])
    np.testing.assert_array_equal(_np(whole(np.array([["new york"], ["rome"]]))), [[2], [1]])
    grams = layers.TextVectorization(ngrams=2)
    grams.adapt(["a b c"])
    # unigrams first, then bigrams (tf.strings.ngrams's order), all with count 1
    assert sorted(grams.get_vocabulary()[2:]) == ["a", "a b", "b", "b c", "c"]
    out = _np(grams(np.array(["a b c"])))
    vocab = grams.get_vocabulary()
    assert [vocab[i] for i in out[0]] == ["a", "b", "c", "a b", "b c"]
    widths = layers.TextVectorization(ngrams=(2,), vocabulary=["x y"])
    np.testing.assert_array_equal(_np(widths(np.array(["x y z", "x"]))), [[2, 1], [0, 0]])


@pytest.fixture
def clean_registry():
    # the functions registered here must not outlive the test (other tests list the registry)
    before = registry.snapshot()
    yield
    registry.restore(before)


def test_callable_standardize_and_split_and_saving(tmp_path, clean_registry):
    @register_serializable(package="TextTest")
    def only_vowels(strings):
        return np.array([["".join(c for c in s if c in "aeiou ") for s in row] for row in strings])

    @register_serializable(package="TextTest")
    def split_on_commas(strings):
        return [s.split(",") for s in strings]

    layer = layers.TextVectorization(standardize=only_vowels, vocabulary=["ea", "o"])
    np.testing.assert_array_equal(_np(layer(np.array([["bear dog cat"]]))), [[2, 3, 1]])
    commas = layers.TextVectorization(
        standardize="lower", split=split_on_commas, vocabulary=["a b", "c"]
    )
    np.testing.assert_array_equal(_np(commas(np.array([["a b,c,d"]]))), [[2, 3, 1]])
    model = Sequential([axonal.Input((1,), dtype="string"), layer])
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    np.testing.assert_array_equal(loaded.predict(np.array([["bear dog"]]), verbose=0), [[2, 3]])
    unregistered = layers.TextVectorization(standardize=lambda s: s, vocabulary=["a"])
    with pytest.raises(ValueError, match="register"):
        unregistered.get_config()


def test_tf_idf_adapt_and_pad_to_max_tokens():
    layer = layers.TextVectorization(output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    layer.adapt(["a a b", "b c", "c c d e"])
    # documents: a 1, b 2, c 2, d 1, e 1 of 3; max_tokens 6 keeps OOV + 5 tokens
    assert layer.get_vocabulary() == ["[UNK]", "c", "b", "a", "e", "d"]
    idf = np.log(1 + 3 / (1 + np.array([2, 2, 1, 1, 1])))
    out = _np(layer(np.array(["c c a zz"])))
    assert out.shape == (1, 6)
    np.testing.assert_allclose(out[0, 1:], [2 * idf[0], 0, idf[2], 0, 0], rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], idf.mean(), rtol=1e-6)


def test_config_round_trip_and_errors():
    layer = layers.TextVectorization(max_tokens=10, ngrams=(1, 3), output_sequence_length=7)
    layer.adapt(["one two three", "two three", "three"])
    config = layer.get_config()
    for key in (
        "max_tokens",
        "standardize",
        "split",
        "ngrams",
        "output_mode",
        "output_sequence_length",
        "pad_to_max_tokens",
        "sparse",
        "ragged",
        "vocabulary",
        "idf_weights",
        "encoding",
        "vocabulary_size",
    ):
        assert key in config, key
    rebuilt = layers.TextVectorization.from_config(config)
    assert rebuilt.get_vocabulary() == layer.get_vocabulary()
    probe = np.array(["three two one four"])
    np.testing.assert_array_equal(_np(rebuilt(probe)), _np(layer(probe)))
    with pytest.raises(ValueError, match="ragged=True is not supported"):
        layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        layers.TextVectorization(sparse=True, output_mode="multi_hot")
    with pytest.raises(ValueError, match="output_sequence_length"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match=r"\(batch,\) or \(batch, 1\)"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


TEXT_CASES = [
    {},
    {"output_sequence_length": 5},
    {"ngrams": (1, 3), "output_sequence_length": 9},
    {"standardize": "lower"},
    {"standardize": None},
    {"standardize": "strip_punctuation"},
    {"split": "character"},
    {"split": None},
    {"max_tokens": 6},
    {"output_mode": "multi_hot"},
    {"output_mode": "count", "ngrams": 2},
    {"output_mode": "tf_idf"},
    {"output_mode": "tf_idf", "max_tokens": 10, "pad_to_max_tokens": True},
]


@pytest.mark.parametrize("kwargs", TEXT_CASES)
def test_against_keras_when_tensorflow_is_installed(kwargs):
    keras = pytest.importorskip("keras")
    try:
        theirs = keras.layers.TextVectorization(**kwargs)
    except ImportError:
        pytest.skip("keras.layers.TextVectorization needs TensorFlow")
    texts = np.array(
        [
            "The cat sat, on the MAT!",
            "a dog... and a cat",
            "  spaces\tand\ttabs\n",
            "",
            "Ünïcode ÉCOLE café's",
            "the the the end-to-end",
        ]
    )
    theirs.adapt(texts)
    ours = layers.TextVectorization(**kwargs)
    ours.adapt(texts)
    vocabulary = [v.decode() if isinstance(v, bytes) else str(v) for v in theirs.get_vocabulary()]
    assert ours.get_vocabulary() == vocabulary
    probe = np.array(["the dog sat on a café", "unknown words here", ""])
    for batch in (probe, probe[:, None]):
        np.testing.assert_allclose(_np(ours(batch)), np.asarray(theirs(batch)), rtol=1e-5)


def test_text_classifier_learns_from_raw_strings(tmp_path):
    # Keras's text-classification recipe: TextVectorization -> Embedding ->
    # GlobalAveragePooling1D -> Dense, trained on raw strings
    axonal.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    positive = ["great", "good", "lovely", "excellent", "fun"]
    negative = ["bad", "awful", "boring", "poor", "dull"]
    filler = ["the", "movie", "was", "a", "plot", "and", "actors", "really", "film"]
    texts, labels = [], []
    for _ in range(800):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(filler, size=5)) + list(
            rng.choice(positive if label else negative, size=2)
        )
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(label)
    texts = np.array(texts)
    labels = np.array(labels, dtype="float32")
    vectorize = layers.TextVectorization(max_tokens=100, output_sequence_length=10)
    vectorize.adapt(texts)
    inputs = axonal.Input((1,), dtype="string")
    x = layers.Embedding(100, 8)(vectorize(inputs))
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = Model(inputs, outputs)
    model.compile(axonal.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    model.fit(texts[:600], labels[:600], epochs=8, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(texts[600:], labels[600:], verbose=0)
    assert accuracy > 0.95
    fresh = np.array(["What a great, lovely film", "Boring and awful plot"])
    assert (model.predict(fresh, verbose=0).ravel() > 0.5).tolist() == [True, False]
    model.save(tmp_path / "text.axonal")
    loaded = load_model(tmp_path / "text.axonal")
    np.testing.assert_array_equal(
        loaded.predict(texts[:20], verbose=0), model.predict(texts[:20], verbose=0)
    )


# computed by Keras 3.15.1 with TensorFlow 2.21 (KERAS_BACKEND=torch), recorded as literals
FIXTURE_TEXTS = np.array(
    ["The cat sat, on the MAT!", "a dog... and a cat", "the the end-to-end", "Ünïcode ÉCOLE café's"]
)


def test_tf_idf_ngrams_match_values_recorded_from_keras():
    layer = layers.TextVectorization(output_mode="tf_idf", ngrams=2, max_tokens=12)
    layer.adapt(FIXTURE_TEXTS)
    assert layer.get_vocabulary() == [
        "[UNK]", "the", "cat", "a", "Ünïcode École", "Ünïcode", "École cafés", "École",
        "the the", "the mat", "the endtoend", "the cat",
    ]  # fmt: skip
    np.testing.assert_allclose(
        layer._lookup_layer.idf_weights,
        [1.052919, 0.847298, 0.847298] + [1.098612] * 9,
        rtol=1e-5,
    )
    out = _np(layer(np.array(["the cat and the dog", "café's école"])))
    expected = np.zeros((2, 12))
    expected[0, [0, 1, 2, 11]] = [
        5.264594078063965,
        1.6945960521697998,
        0.8472980260848999,
        1.0986119508743286,
    ]
    expected[1, 0] = 3.158756971359253
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_int_sequences_match_values_recorded_from_keras():
    layer = layers.TextVectorization(output_sequence_length=6)
    layer.adapt(FIXTURE_TEXTS)
    assert layer.get_vocabulary() == [
        "", "[UNK]", "the", "cat", "a", "Ünïcode", "École", "sat", "on", "mat", "endtoend",
        "dog", "cafés", "and",
    ]  # fmt: skip
    out = _np(layer(np.array(["the cat and the dog", "Café's ÉCOLE"])))
    np.testing.assert_array_equal(out, [[2, 3, 13, 2, 11, 0], [12, 6, 0, 0, 0, 0]])
