"""DP-SGD through the attention layers: per-example gradients of Attention, AdditiveAttention,
GroupedQueryAttention and MultiHeadAttention (over padded tokens too) equal the ordinary
gradient of one example at a time, so do the norms and clipped sums of the DP step, and DP-SGD
training of a small transformer classifier runs end to end."""

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.backend import set_floatx
from axonal.privacy import per_example_gradients
from axonal.privacy.gradients import sum_of_example_losses
from axonal.privacy.per_example import PerExampleGradients

STEPS, VOCAB = 6, 12


def _padded_tokens(rng, batch: int = 5) -> np.ndarray:
    """Token ids with zero padding at the end, one row all padding, one padded at the front."""
    ids = rng.integers(1, VOCAB, size=(batch, STEPS))
    lengths = rng.integers(1, STEPS + 1, size=batch)
    ids[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
    ids[0] = 0
    ids[1, :3] = 0
    return ids


def _over_tokens(attend):
    """ids -> Embedding(mask_zero=True) -> ``attend`` -> mean over time -> classifier."""
    tokens = axonal.Input((STEPS,), dtype="int64")
    vectors = layers.Embedding(VOCAB, 4, mask_zero=True)(tokens)
    pooled = layers.GlobalAveragePooling1D()(attend(vectors))
    return axonal.Model(tokens, layers.Dense(2, activation="softmax")(pooled))


def _over_floats(attend):
    inputs = axonal.Input((STEPS, 4))
    pooled = layers.GlobalAveragePooling1D()(attend(inputs))
    return axonal.Model(inputs, layers.Dense(2, activation="softmax")(pooled))


def _randomize(model, rng) -> None:
    # weights away from their initial values, so a scale of ones hides no wrong rule
    for w in model.trainable_weights:
        w.data[...] = rng.normal(0.0, 0.5, size=w.data.shape)


MODELS = {
    "attention_concat_scaled": lambda: _over_floats(
        lambda x: layers.Attention(use_scale=True, score_mode="concat")([x, layers.Dense(4)(x)])
    ),
    "attention_dot_scaled_causal_masked": lambda: _over_tokens(
        lambda x: layers.Attention(use_scale=True)([x, x], use_causal_mask=True)
    ),
    "attention_concat_masked": lambda: _over_tokens(
        lambda x: layers.Attention(use_scale=True, score_mode="concat")([x, x])
    ),
    "additive_attention": lambda: _over_floats(
        lambda x: layers.AdditiveAttention()([x, layers.Dense(4)(x)])
    ),
    "additive_attention_masked": lambda: _over_tokens(
        lambda x: layers.AdditiveAttention()([x, x], use_causal_mask=True)
    ),
    "grouped_query_attention": lambda: _over_floats(
        lambda x: layers.GroupedQueryAttention(
            head_dim=2, num_query_heads=4, num_key_value_heads=2
        )(x, x, use_causal_mask=True)
    ),
    "grouped_query_attention_masked": lambda: _over_tokens(
        lambda x: layers.GroupedQueryAttention(
            head_dim=2, num_query_heads=2, num_key_value_heads=1
        )(x, x)
    ),
    "multi_head_attention_masked_causal": lambda: _over_tokens(
        lambda x: layers.MultiHeadAttention(num_heads=2, key_dim=2)(x, x, use_causal_mask=True)
    ),
}


@pytest.fixture
def float64():
    set_floatx("float64")
    yield
    set_floatx("float32")


def _one_at_a_time(model, x, y) -> dict:
    """``{path: (n, *shape)}``: each example's ordinary gradient from a batch of it alone."""
    grads: dict = {}
    for i in range(len(x)):
        xs, ys, ws = model.prepare_batch(x[i : i + 1], y[i : i + 1], None)
        loss, _ = model.compute_losses(ys, model.compute_outputs(xs, training=True), ws)
        for v in model.trainable_weights:
            v.grad = None
        loss.backward()
        for v in model.trainable_weights:
            grads.setdefault(v.path, []).append(
                np.zeros_like(v.data) if v.grad is None else v.grad.copy()
            )
            v.grad = None
    return {path: np.stack(g) for path, g in grads.items()}


def _dp_step_route(model, x, y, clip: float):
    """The norms and clipped sums the DP step computes (ghost norms where it can)."""
    xs, ys, ws = model.prepare_batch(x, y, None)
    preds = model.compute_outputs(xs, training=True)
    _, per_output = model.compute_losses(ys, preds, ws)
    root = sum_of_example_losses(model, ys, preds, ws, per_output)
    sums, norms = PerExampleGradients(root, model.trainable_weights, len(x)).clipped_sums(clip)
    return {v.path: sums.get(id(v)) for v in model.trainable_weights}, norms


@pytest.mark.parametrize("name", sorted(MODELS))
def test_per_example_gradients_equal_one_example_at_a_time(name, float64):
    rng = np.random.default_rng(7)
    axonal.utils.set_random_seed(0)
    model = MODELS[name]()
    _randomize(model, rng)
    model.compile("sgd", "sparse_categorical_crossentropy")
    if "masked" in name:
        x = _padded_tokens(rng)
    else:
        x = rng.normal(size=(5, STEPS, 4))
    y = rng.integers(0, 2, size=5)
    found = per_example_gradients(model, x, y)
    expected = _one_at_a_time(model, x, y)
    assert set(found) == set(expected) == {w.path for w in model.trainable_weights}
    for path, want in expected.items():
        np.testing.assert_allclose(found[path], want, rtol=1e-9, atol=1e-12, err_msg=path)

    clip = 0.5
    sums, norms = _dp_step_route(model, x, y, clip)
    flat = np.concatenate([g.reshape(5, -1) for g in expected.values()], axis=1)
    want_norms = np.linalg.norm(flat, axis=1)
    np.testing.assert_allclose(norms, want_norms, rtol=1e-9)
    factors = np.minimum(1.0, clip / (want_norms + 1e-6))
    for path, per_example in expected.items():
        want = np.tensordot(factors, per_example, axes=1)
        np.testing.assert_allclose(sums[path], want, rtol=1e-9, atol=1e-12, err_msg=path)


def test_per_example_gradients_with_an_attention_mask_input(float64):
    # the mask is a model input, an example's own: one example at a time sees its own mask
    rng = np.random.default_rng(8)
    values = axonal.Input((STEPS, 4))
    mask = axonal.Input((STEPS, STEPS), dtype="bool")
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=2)(
        values, values, attention_mask=mask, use_causal_mask=True
    )
    pooled = layers.GlobalAveragePooling1D()(attended)
    model = axonal.Model([values, mask], layers.Dense(2, activation="softmax")(pooled))
    _randomize(model, rng)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.normal(size=(5, STEPS, 4))
    masks = rng.random((5, STEPS, STEPS)) > 0.4
    masks[0] = False
    y = rng.integers(0, 2, size=5)
    found = per_example_gradients(model, [x, masks], y)
    for i in range(5):
        single = per_example_gradients(model, [x[i : i + 1], masks[i : i + 1]], y[i : i + 1])
        for path, grads in found.items():
            np.testing.assert_allclose(grads[i], single[path][0], rtol=1e-9, atol=1e-12)


def test_dp_sgd_trains_a_small_transformer_classifier():
    # the label says whether token 1 occurs among the real (unpadded) tokens
    from axonal.optimizers import Adam
    from axonal.privacy import DPOptimizer, EpsilonLogger

    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.integers(2, VOCAB, size=(n, STEPS))
        lengths = rng.integers(2, STEPS + 1, size=n)
        x[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
        y = rng.integers(0, 2, size=n)
        hits = rng.integers(0, lengths)
        x[y == 1, hits[y == 1]] = 1
        return x, y

    x, y = draw(400)
    x_test, y_test = draw(200)
    axonal.utils.set_random_seed(0)
    tokens = axonal.Input((STEPS,), dtype="int64")
    h = layers.Embedding(VOCAB, 8, mask_zero=True)(tokens)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = layers.LayerNormalization()(layers.Add()([h, attended]))
    h = layers.LayerNormalization()(
        layers.Add()([h, layers.Dense(8)(layers.Dense(16, activation="relu")(h))])
    )
    outputs = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(h))
    model = axonal.Model(tokens, outputs)
    before = [w.data.copy() for w in model.trainable_weights]
    model.compile(
        optimizer=DPOptimizer(Adam(0.02), l2_norm_clip=1.0, noise_multiplier=0.5, seed=0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x, y, batch_size=50, epochs=8, verbose=0, callbacks=[EpsilonLogger(delta=1e-5)]
    )
    # every weight moved, privacy was spent, and the classifier learnt despite the noise
    assert all(
        not np.array_equal(b, w.data) for b, w in zip(before, model.trainable_weights, strict=True)
    )
    epsilons = history.history["epsilon"]
    assert np.all(np.diff(epsilons) > 0) and np.isfinite(epsilons[-1])
    assert history.history["accuracy"][-1] > 0.75
    assert model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"] > 0.75
