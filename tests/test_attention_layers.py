"""Attention (Luong) and AdditiveAttention (Bahdanau): against Keras 3 given the same weights,
masks (query, value, causal, an Embedding's), scores, dropout, gradients by finite differences,
functional models and saving."""

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.gradcheck import check_gradients
from axonal.tensor import Tensor

QUERY_MASK = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 1, 0]], bool)
VALUE_MASK = np.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]], bool)


def _data(b=2, t=5, s=7, d=6, dv=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(b, t, d)).astype("float32"),
        rng.normal(size=(b, s, dv)).astype("float32"),
        rng.normal(size=(b, s, d)).astype("float32"),
    )


def _allowed(causal: bool) -> np.ndarray:
    allowed = np.repeat(VALUE_MASK[:, None, :], 5, axis=1)
    if causal:
        allowed &= np.tri(5, 7, dtype=bool)[None]
    return allowed


# ---------------------------------------------------------------- behaviour


@pytest.mark.parametrize(
    "layer",
    [
        layers.Attention(),
        layers.Attention(use_scale=True, score_mode="concat"),
        layers.AdditiveAttention(),
    ],
    ids=["dot", "concat", "additive"],
)
def test_shapes_weights_and_scores(layer):
    query, value, key = _data()
    out, scores = layer([query, value, key], return_attention_scores=True)
    assert np.asarray(out).shape == (2, 5, 3)
    scores = np.asarray(scores)
    assert scores.shape == (2, 5, 7)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
    # the output is the scores' weighting of the values
    np.testing.assert_allclose(np.asarray(out), scores @ value, rtol=1e-5, atol=1e-6)


def test_weights_follow_keras_names_shapes_and_order():
    query, value, key = _data()
    dot = layers.Attention(use_scale=True, score_mode="concat")
    dot([query, value, key])
    assert [(w.path.split("/", 1)[1], w.data.shape) for w in dot.weights] == [
        ("scale", ()),
        ("concat_score_weight", ()),
    ]
    assert [np.asarray(w) for w in dot.get_weights()] == [1.0, 1.0]
    assert layers.Attention()([query, value, key]) is not None
    additive = layers.AdditiveAttention()
    additive([query, value, key])
    assert [(w.path.split("/", 1)[1], w.data.shape) for w in additive.weights] == [("scale", (6,))]
    plain = layers.AdditiveAttention(use_scale=False)
    plain([query, value, key])
    assert plain.weights == []


@pytest.mark.parametrize("cls", [layers.Attention, layers.AdditiveAttention])
@pytest.mark.parametrize("causal", [False, True])
def test_masks_zero_query_rows_and_exclude_keys(cls, causal):
    query, value, key = _data()
    layer = cls()
    out, scores = layer(
        [query, value, key],
        mask=[QUERY_MASK, VALUE_MASK],
        return_attention_scores=True,
        use_causal_mask=causal,
    )
    out, scores = np.asarray(out), np.asarray(scores)
    allowed = _allowed(causal)
    assert np.all(scores[~allowed] < 1e-6)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
    assert np.all(out[~QUERY_MASK] == 0.0)
    kept = np.where(QUERY_MASK[..., None], scores @ value, 0.0)
    np.testing.assert_allclose(out, kept, rtol=1e-5, atol=1e-6)
    # a masked query row's scores are still a distribution over its allowed keys (as Keras)
    assert np.all(scores[~QUERY_MASK].sum(-1) > 0.999)


def test_a_value_mask_alone_and_a_causal_mask_alone():
    query, _, value = _data(s=5)
    layer = layers.Attention()
    _, scores = layer([query, value], mask=[None, VALUE_MASK[:, :5]], return_attention_scores=True)
    assert np.all(np.asarray(scores)[~np.repeat(VALUE_MASK[:, None, :5], 5, axis=1)] < 1e-6)
    _, scores = layer([query, value], use_causal_mask=True, return_attention_scores=True)
    upper = ~np.tri(5, 5, dtype=bool)
    assert np.all(np.asarray(scores)[:, upper] < 1e-6)


@pytest.mark.parametrize("cls", [layers.Attention, layers.AdditiveAttention])
def test_an_embedding_mask_is_the_query_and_value_mask(cls):
    tokens = np.array([[3, 5, 0, 0], [2, 7, 9, 0]])
    embedding = layers.Embedding(10, 6, mask_zero=True)
    attention = cls()
    vectors = embedding(tokens)
    implicit = attention([vectors, vectors])
    mask = tokens != 0
    plain = Tensor(np.asarray(vectors).copy())
    explicit = np.asarray(attention([plain, plain], mask=[mask, mask]))
    np.testing.assert_array_equal(np.asarray(implicit), explicit)
    assert np.all(explicit[~mask] == 0.0)
    # the query mask travels on, as Keras's compute_mask returns it
    from axonal.layers.masking import mask_of

    np.testing.assert_array_equal(mask_of(implicit), mask)


def test_dropout_acts_only_in_training_and_is_seeded():
    inputs = list(_data())
    layer = layers.Attention(dropout=0.5, seed=1)
    inference = np.asarray(layer(inputs))
    np.testing.assert_array_equal(np.asarray(layer(inputs)), inference)
    trained, scores = layer(inputs, training=True, return_attention_scores=True)
    assert not np.allclose(np.asarray(trained), inference)
    scores = np.asarray(scores)
    # the returned scores are after dropout (as Keras's): zeros, the rest scaled by 2
    assert np.any(scores == 0.0) and np.any(scores.sum(-1) > 1.01)
    again = layers.Attention(dropout=0.5, seed=1)
    np.testing.assert_array_equal(np.asarray(again(inputs, training=True)), trained)


def test_bad_arguments_are_named():
    query, value, key = _data()
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match="dropout"):
        layers.AdditiveAttention(dropout=1.0)
    with pytest.raises(ValueError, match=r"list of inputs, \[query, value\]"):
        layers.Attention()(query)
    with pytest.raises(ValueError, match="list of 4 inputs"):
        layers.Attention()([query, value, value, value])
    with pytest.raises(ValueError, match="mask=\\[query_mask, value_mask\\]"):
        layers.Attention()([query, value, key], mask=QUERY_MASK)
    with pytest.raises(ValueError, match="as many features"):
        layers.Attention()([query, value])  # the value (3 features) is the key: 6 != 3
    with pytest.raises(ValueError, match="as many steps"):
        layers.Attention()([query, value, query])  # 7 values, 5 keys


# ---------------------------------------------------------------- functional models, gradients


def _model(layer, causal=False, masks=None, scores=False):
    query, value, key = (axonal.Input(shape) for shape in ((5, 6), (7, 3), (7, 6)))
    options = {"use_causal_mask": causal, "return_attention_scores": scores}
    if masks is not None:
        # fixed masks of the test batch's size, replayed on every call of the model
        options["mask"] = masks
    out = layer([query, value, key], **options)
    return axonal.Model([query, value, key], out)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Attention(use_scale=True),
        lambda: layers.Attention(use_scale=True, score_mode="concat"),
        lambda: layers.AdditiveAttention(),
    ],
    ids=["dot", "concat", "additive"],
)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked_causal"])
def test_gradients_match_finite_differences(make, masked):
    layer = make()
    masks = [QUERY_MASK, VALUE_MASK] if masked else None
    model = _model(layer, causal=masked, masks=masks)
    # weights away from their initial ones, so a wrong gradient of a scale cannot hide
    rng = np.random.default_rng(5)
    model.set_weights(
        [w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    report = check_gradients(model, list(_data()), dtype="float64")
    report.assert_ok()
    assert len(report.errors) == len(layer.weights) + 3


def test_gradients_through_the_returned_scores():
    layer = layers.AdditiveAttention()
    model = _model(layer, causal=True, masks=[QUERY_MASK, VALUE_MASK], scores=True)
    report = check_gradients(model, list(_data()), dtype="float64")
    report.assert_ok()
    assert len(report.errors) == 1 + 3


def test_a_functional_model_returns_output_and_scores_and_round_trips(tmp_path):
    model = _model(layers.Attention(use_scale=True), causal=True, scores=True)
    assert [tuple(t.shape) for t in model.outputs] == [(None, 5, 3), (None, 5, 7)]
    data = list(_data())
    out, scores = model.predict(data, verbose=0)
    assert out.shape == (2, 5, 3) and scores.shape == (2, 5, 7)
    path = tmp_path / "attention.axonal"
    model.save(path)
    loaded = axonal.models.load_model(path)
    for mine, theirs in zip(loaded.predict(data, verbose=0), (out, scores), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_configs_round_trip():
    for layer in (
        layers.Attention(use_scale=True, score_mode="concat", dropout=0.25, seed=3),
        layers.AdditiveAttention(use_scale=False, dropout=0.1),
    ):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
    assert "score_mode" not in layers.AdditiveAttention().get_config()


def test_a_sequence_model_learns_with_attention():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, (400, 8))
    tokens[:, 6:] *= rng.random((400, 2)) < 0.5  # padding at the end of some rows
    labels = np.isin(tokens, [3, 5]).any(axis=1).astype("int64")
    inputs = axonal.Input((8,), dtype="int32")
    embedded = layers.Embedding(20, 16, mask_zero=True)(inputs)
    attended = layers.AdditiveAttention()([embedded, embedded])
    pooled = layers.GlobalAveragePooling1D()(layers.Attention(use_scale=True)([attended, embedded]))
    model = axonal.Model(inputs, layers.Dense(2, activation="softmax")(pooled))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(tokens, labels, epochs=30, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] >= 0.9


# ---------------------------------------------------------------- against Keras 3


def _keras():
    return pytest.importorskip("keras")


def _compare_with_keras(ours, theirs, inputs, **call):
    expected, expected_scores = theirs(inputs, return_attention_scores=True, **call)
    ours(inputs)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    got, scores = ours(inputs, return_attention_scores=True, **call)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected.detach()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(scores), np.asarray(expected_scores.detach()), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
def test_attention_matches_keras(score_mode, use_scale):
    keras = _keras()
    query, value, key = _data()
    theirs = keras.layers.Attention(use_scale=use_scale, score_mode=score_mode)
    theirs([query, value, key])
    # weights away from ones, so the scale and the concat weight matter
    theirs.set_weights([np.asarray(w) * 0.7 for w in theirs.get_weights()])
    ours = layers.Attention(use_scale=use_scale, score_mode=score_mode)
    _compare_with_keras(ours, theirs, [query, value, key])
    _compare_with_keras(
        ours, theirs, [query, value, key], mask=[QUERY_MASK, VALUE_MASK], use_causal_mask=True
    )
    two = [query, key]  # the value is the key
    _compare_with_keras(ours, theirs, two, mask=[QUERY_MASK, VALUE_MASK])


@pytest.mark.parametrize("use_scale", [False, True])
def test_additive_attention_matches_keras(use_scale):
    keras = _keras()
    query, value, key = _data()
    theirs = keras.layers.AdditiveAttention(use_scale=use_scale)
    ours = layers.AdditiveAttention(use_scale=use_scale)
    _compare_with_keras(ours, theirs, [query, value, key])
    _compare_with_keras(
        ours, theirs, [query, value, key], mask=[QUERY_MASK, VALUE_MASK], use_causal_mask=True
    )
    _compare_with_keras(ours, theirs, [query, key], use_causal_mask=True)
    assert ours.get_config()["use_scale"] is use_scale
    assert set(ours.get_config()) >= set(theirs.get_config()) - {"dtype", "name", "trainable"}
