"""MultiHeadAttention and the fused attention primitive: against Keras 3 and PyTorch, gradients
by finite differences, masks, dropout, saving, and a transformer block that learns."""

import numpy as np
import pytest

import axonal
from axonal import functional as F
from axonal import layers
from axonal.gradcheck import check_gradients
from axonal.tensor import Tensor


def _data(b=2, t=5, s=7, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(b, t, d)).astype("float32"),
        rng.normal(size=(b, s, d)).astype("float32"),
        rng.normal(size=(b, s, d + 1)).astype("float32"),
    )


def test_weights_have_keras_layout_and_order():
    query, value, key = _data()
    layer = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2, output_shape=5)
    out = layer(query, value, key)
    assert np.asarray(out).shape == (2, 5, 5)
    assert [w.path.split("/", 1)[1] for w in layer.weights] == [
        "query/kernel", "query/bias", "key/kernel", "key/bias",
        "value/kernel", "value/bias", "attention_output/kernel", "attention_output/bias",
    ]  # fmt: skip
    assert [w.data.shape for w in layer.weights] == [
        (6, 3, 4), (3, 4), (7, 3, 4), (3, 4), (6, 3, 2), (3, 2), (3, 2, 5), (5,),
    ]  # fmt: skip


def test_masks_combine_as_keras_combines_them():
    query, value, _ = _data()
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    value_mask = np.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]], bool)
    query_mask = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]], bool)
    _, scores = layer(
        query,
        value,
        value_mask=value_mask,
        query_mask=query_mask,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    scores = np.asarray(scores)
    allowed = query_mask[:, :, None] & value_mask[:, None, :] & np.tri(5, 7, dtype=bool)[None]
    for b in range(2):
        for t in range(5):
            if allowed[b, t].any():
                assert np.all(scores[b, :, t][:, ~allowed[b, t]] < 1e-6)
                np.testing.assert_allclose(scores[b, :, t].sum(-1), 1.0, rtol=1e-5)


def test_an_embedding_mask_is_the_query_and_value_mask():
    tokens = np.array([[3, 5, 0, 0], [2, 7, 9, 0]])
    embedding = layers.Embedding(10, 6, mask_zero=True)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    vectors = embedding(tokens)
    implicit = np.asarray(attention(vectors, vectors))
    mask = tokens != 0
    plain = Tensor(np.asarray(vectors).copy())
    explicit = np.asarray(attention(plain, plain, query_mask=mask, value_mask=mask))
    np.testing.assert_allclose(implicit, explicit, rtol=1e-6, atol=1e-7)


def test_dropout_acts_only_in_training_and_is_seeded():
    query, value, _ = _data()
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=1)
    inference = np.asarray(layer(query, value))
    np.testing.assert_array_equal(np.asarray(layer(query, value)), inference)
    trained = np.asarray(layer(query, value, training=True))
    assert not np.allclose(trained, inference)


def test_gradients_match_finite_differences():
    query, value, key = _data(b=2, t=3, s=4, d=5)
    inputs = [axonal.Input(a.shape[1:]) for a in (query, value, key)]
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)
    model = axonal.Model(inputs, attention(*inputs, use_causal_mask=True))
    report = check_gradients(model, [query, value, key], dtype="float64")
    report.assert_ok()
    assert len(report.errors) == 8 + 3  # every weight and every input was checked


def test_functional_transformer_block_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary, length, rows = 40, 10, 480
    tokens = rng.integers(1, vocabulary, (rows, length))
    tokens[:, 7:] *= rng.random((rows, 3)) < 0.5  # padding at the end of some rows
    labels = np.isin(tokens, [3, 5, 7]).any(axis=1).astype("int64")
    inputs = axonal.Input((length,), dtype="int32")
    embedded = layers.Embedding(vocabulary, 24, mask_zero=True)(inputs)
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=6)(embedded, embedded)
    hidden = layers.LayerNormalization()(layers.Add()([embedded, attended]))
    wide = layers.Dense(24, activation="relu")(hidden)
    hidden = layers.LayerNormalization()(layers.Add()([hidden, layers.Dense(24)(wide)]))
    outputs = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(hidden))
    model = axonal.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(tokens, labels, epochs=12, batch_size=32, validation_split=0.25, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.9
    path = tmp_path / "transformer.axonal"
    model.save(path)
    loaded = axonal.models.load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(tokens[:8], verbose=0), model.predict(tokens[:8], verbose=0)
    )


def test_unsupported_shapes_and_axes_are_named():
    with pytest.raises(ValueError, match="attention_axes"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=(1, 2))
    image = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=r"\(batch, sequence, features\)"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2)(image, image)
    with pytest.raises(TypeError, match="needs a query and a value"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2)(image)


torch = pytest.importorskip("torch")


def test_the_fused_attention_matches_torch_scaled_dot_product_attention():
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=shape) for shape in [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 2)])
    allowed = rng.random((2, 1, 5, 6)) > 0.3
    allowed[..., 0] = True  # every query sees at least one key
    grad_out = rng.normal(size=(2, 3, 5, 2))
    tensors = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    adder = np.where(allowed, 0.0, -1e9)
    out = F.scaled_dot_product_attention(*tensors, adder=adder)
    out.backward(grad_out)
    torch_in = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch.nn.functional.scaled_dot_product_attention(
        *torch_in, attn_mask=torch.tensor(allowed)
    )
    expected.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(tensors, torch_in, strict=True):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_multi_head_attention_matches_keras_given_the_same_weights():
    keras = pytest.importorskip("keras")
    query, value, key = _data()
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2, output_shape=5)
    ours = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2, output_shape=5)
    mask = np.random.default_rng(1).random((2, 5, 7)) > 0.3
    expected, expected_scores = theirs(
        query, value, key, attention_mask=mask, use_causal_mask=True, return_attention_scores=True
    )
    ours(query, value, key)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    got, scores = ours(
        query, value, key, attention_mask=mask, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(np.asarray(got), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(scores), expected_scores.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_per_example_gradients_through_attention_equal_a_loop_over_examples():
    from axonal.privacy import per_example_gradients

    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4, 3)).astype("float32")
    y = rng.integers(0, 2, size=5)
    inputs = axonal.Input((4, 3))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=2)(
        inputs, inputs, use_causal_mask=True
    )
    outputs = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(attended))
    model = axonal.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    batched = per_example_gradients(model, x, y)
    for i in range(5):
        single = per_example_gradients(model, x[i : i + 1], y[i : i + 1])
        for path, grads in batched.items():
            np.testing.assert_allclose(grads[i], single[path][0], rtol=2e-4, atol=1e-6)


def test_grouped_query_attention_shares_key_value_heads_and_round_trips(tmp_path):
    query, value, _ = _data()
    layer = layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    assert layers.GroupQueryAttention is layers.GroupedQueryAttention
    out = np.asarray(layer(query, value, use_causal_mask=True))
    assert out.shape == query.shape
    assert [w.data.shape for w in layer.weights][:6] == [
        (6, 4, 3), (4, 3), (6, 2, 3), (2, 3), (6, 2, 3), (2, 3),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="multiple of num_key_value_heads"):
        layers.GroupedQueryAttention(head_dim=2, num_query_heads=3, num_key_value_heads=2)
    inputs = [axonal.Input((5, 6)), axonal.Input((7, 6))]
    gqa = layers.GroupedQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=1)
    model = axonal.Model(inputs, gqa(*inputs))
    check_gradients(model, [query.astype("float64"), value.astype("float64")]).assert_ok()
    model.save(tmp_path / "gqa.axonal")
    loaded = axonal.models.load_model(tmp_path / "gqa.axonal")
    np.testing.assert_array_equal(
        loaded.predict([query, value], verbose=0), model.predict([query, value], verbose=0)
    )


def test_grouped_query_attention_matches_keras():
    keras = pytest.importorskip("keras")
    query, value, _ = _data()
    theirs = keras.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    expected, expected_scores = theirs(
        query, value, return_attention_scores=True, use_causal_mask=True
    )
    ours = layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    ours(query, value)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    got, scores = ours(query, value, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(np.asarray(got), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(scores), expected_scores.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def _mask_input_model():
    """A functional model whose attention mask is a model input (a tensor keyword argument)."""
    query = axonal.Input((5, 6))
    mask = axonal.Input((5, 7), dtype="bool")
    value = axonal.Input((7, 6))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(
        query, value, attention_mask=mask
    )
    return axonal.Model([query, value, mask], layers.Dense(2)(attended))


def _mask_data(seed=0):
    rng = np.random.default_rng(seed)
    query, value, _ = _data(b=3, t=5, s=7, seed=seed)
    mask = rng.random((3, 5, 7)) > 0.4
    mask[0, 2] = False  # a query that may see no key
    return query, value, mask


def test_an_attention_mask_given_as_a_model_input(tmp_path):
    model = _mask_input_model()
    query, value, mask = _mask_data()
    got = model.predict([query, value, mask], verbose=0)
    mha, dense = model.get_layer("mha"), model.layers[-1]
    direct = dense(mha(query, value, attention_mask=mask))
    np.testing.assert_allclose(got, np.asarray(direct), rtol=1e-6, atol=1e-6)
    # the mask changes the result, so it reached the layer
    assert not np.allclose(got, model.predict([query, value, ~mask], verbose=0))
    assert mha.input is model.inputs[0]
    # saved configs, saved files and clones keep the mask as the layer's keyword argument
    call = next(e for e in model.get_config()["layers"] if e["name"] == "mha")["inbound_nodes"]
    assert call[0]["tensor_kwargs"] == {"attention_mask": [model.inputs[2].name, 0, 0]}
    model.save(tmp_path / "masked.axonal")
    loaded = axonal.models.load_model(tmp_path / "masked.axonal")
    np.testing.assert_array_equal(loaded.predict([query, value, mask], verbose=0), got)
    clone = axonal.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict([query, value, mask], verbose=0), got)


def test_a_keras_model_with_an_attention_mask_input_loads_and_matches(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    query = keras.Input((5, 6))
    value = keras.Input((7, 6))
    mask = keras.Input((5, 7), dtype="bool")
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(
        query, value, attention_mask=mask, use_causal_mask=True
    )
    original = keras.Model([query, value, mask], attended)
    original.save(tmp_path / "masked.keras")
    loaded = axonal.models.load_model(tmp_path / "masked.keras")
    xs = list(_mask_data(1))
    np.testing.assert_allclose(
        loaded.predict(xs, verbose=0),
        np.asarray(original.predict(xs, verbose=0)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_attention_masks_given_as_a_list_of_model_inputs(tmp_path):
    # Attention's mask=[query_mask, value_mask], None entries kept, as a keyword list
    query, value = axonal.Input((5, 6)), axonal.Input((7, 6))
    value_mask = axonal.Input((7,), dtype="bool")
    layer = layers.Attention(use_scale=True, name="att")
    model = axonal.Model([query, value, value_mask], layer([query, value], mask=[None, value_mask]))
    q, v, _ = _data(b=3, t=5, s=7)
    vm = np.random.default_rng(2).random((3, 7)) > 0.5
    got = model.predict([q, v, vm], verbose=0)
    np.testing.assert_allclose(got, np.asarray(layer([q, v], mask=[None, vm])), rtol=1e-6)
    call = next(e for e in model.get_config()["layers"] if e["name"] == "att")["inbound_nodes"]
    assert call[0]["tensor_kwargs"] == {"mask": [None, [value_mask.name, 0, 0]]}
    model.save(tmp_path / "att.axonal")
    loaded = axonal.models.load_model(tmp_path / "att.axonal")
    np.testing.assert_array_equal(loaded.predict([q, v, vm], verbose=0), got)


def test_a_keras_attention_with_mask_inputs_loads_and_matches(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    query, value = keras.Input((5, 6)), keras.Input((7, 6))
    query_mask = keras.Input((5,), dtype="bool")
    value_mask = keras.Input((7,), dtype="bool")
    attended = keras.layers.Attention(use_scale=True)([query, value], mask=[query_mask, value_mask])
    original = keras.Model([query, value, query_mask, value_mask], attended)
    original.save(tmp_path / "attention.keras")
    loaded = axonal.models.load_model(tmp_path / "attention.keras")
    rng = np.random.default_rng(3)
    q, v, _ = _data(b=3, t=5, s=7)
    xs = [q, v, rng.random((3, 5)) > 0.3, rng.random((3, 7)) > 0.3]
    np.testing.assert_allclose(
        loaded.predict(xs, verbose=0),
        np.asarray(original.predict(xs, verbose=0)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_list_mixing_tensors_and_arrays_by_keyword_is_refused_by_name():
    query, value = axonal.Input((5, 6)), axonal.Input((7, 6))
    mask = axonal.Input((7,), dtype="bool")
    with pytest.raises(TypeError, match=r"'att'.*mask= a list mixing symbolic tensors"):
        layers.Attention(name="att")([query, value], mask=[np.ones((1, 5), bool), mask])


def _op_types(tensor) -> set:
    """Names of the primitives in ``tensor``'s graph."""
    seen, stack, names = set(), [tensor], set()
    while stack:
        node = stack.pop()
        ctx = node._ctx
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        names.add(type(ctx).__name__)
        stack.extend(t for t in ctx.inputs if isinstance(t, Tensor))
    return names


@pytest.mark.parametrize("masked", [False, True])
def test_self_attention_packs_the_projections_and_equals_the_general_path(masked):
    from axonal import autograd

    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 5, 8))
    mask = rng.random((3, 5, 5)) > 0.3 if masked else None
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4, dtype="float64")
    packed_in = Tensor(x, requires_grad=True)
    packed = layer(packed_in, packed_in, attention_mask=mask, use_causal_mask=masked)
    general_in = [Tensor(x.copy(), requires_grad=True) for _ in range(3)]
    general = layer(*general_in, attention_mask=mask, use_causal_mask=masked)
    assert "PackedSelfAttention" in _op_types(packed)
    assert "PackedSelfAttention" not in _op_types(general)
    np.testing.assert_allclose(packed.data, general.data, rtol=1e-12, atol=1e-12)
    seed = rng.normal(size=packed.shape)
    sources = layer.trainable_weights
    grads = autograd.gradients([packed], [seed], sources + [packed_in])
    expected = autograd.gradients([general], [seed], sources + general_in)
    expected = expected[: len(sources)] + [sum(expected[len(sources) :])]
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_packed_self_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(8)
    qkv = rng.normal(size=(2, 4, 3, 2, 3))
    adder = np.where(np.tri(4, dtype=bool), 0.0, -1e9)
    check_gradients(lambda t: F.packed_self_attention(t, adder, None, 0.5), [qkv]).assert_ok()


@pytest.mark.parametrize("size", [1.0, 100.0])
def test_huge_scores_and_fully_masked_rows_keep_a_stable_softmax(size):
    from axonal.primitives.attention import ScaledDotProductAttention

    rng = np.random.default_rng(9)
    q, k = (rng.normal(size=(2, 3, 4)) * size for _ in range(2))
    v = rng.normal(size=(2, 3, 4))
    adder = np.zeros((2, 3, 3))
    adder[0, 1] = -1e9  # a query that may see no key: uniform weights, as Keras
    for dtype in ("float32", "float64"):
        op = ScaledDotProductAttention()
        op.needs_grad = None
        args = [a.astype(dtype) for a in (q, k, v, adder)]
        # the scores as this dtype holds them (in float32, -1e9 + a small score is -1e9: the
        # masked row is uniform); at size 100, their exp overflows even in float64
        scores = (q @ np.swapaxes(k, -1, -2)).astype(dtype) + args[3]
        expected = np.exp(scores - scores.max(axis=-1, keepdims=True)).astype("float64")
        expected /= expected.sum(axis=-1, keepdims=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = op.forward(*args, None, 1.0)
        np.testing.assert_allclose(op.probabilities, expected, rtol=1e-4, atol=1e-6)
        if size == 1.0 and dtype == "float32":
            np.testing.assert_allclose(op.probabilities[0, 1], np.full(3, 1 / 3), rtol=1e-6)
        np.testing.assert_allclose(out, expected @ v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
def test_attention_gradients_with_a_dropout_mask_match_finite_differences(packed):
    rng = np.random.default_rng(10)
    keep = (rng.random((2, 2, 4, 4)) > 0.3) / 0.7
    adder = np.where(np.tri(4, dtype=bool), 0.0, -1e9)
    if packed:
        qkv = rng.normal(size=(2, 4, 3, 2, 3))
        report = check_gradients(lambda t: F.packed_self_attention(t, adder, keep, 0.5), [qkv])
    else:
        q, k, v = (rng.normal(size=(2, 2, 4, 3)) for _ in range(3))
        report = check_gradients(
            lambda a, b, c: F.scaled_dot_product_attention(a, b, c, adder, keep, 0.5), [q, k, v]
        )
    report.assert_ok()


def test_self_attention_on_one_tensor_returns_its_scores():
    # regression: one tensor as query and value took the packed path, whose q and k the
    # returned scores were made from did not exist (UnboundLocalError)
    x, _, _ = _data()
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    tensor = Tensor(x)
    out, scores = layer(tensor, tensor, return_attention_scores=True)
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(layer(x, x.copy())), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, rtol=1e-5)
    assert np.asarray(scores).shape == (2, 2, 5, 5)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("masks", ["none", "per example", "shared", "dropout", "both"])
def test_attention_in_blocks_of_the_batch_equals_one_block(monkeypatch, packed, masks):
    # the primitive works through the batch a cache-sized block at a time: the same numbers
    # whatever the block, masks and dropout cut with it or broadcast to every block
    from axonal.primitives import attention

    rng = np.random.default_rng(12)
    per_example = np.where(rng.random((6, 1, 16, 16)) < 0.2, -1e9, 0).astype(np.float32)
    adder = {"per example": per_example, "shared": per_example[0, 0], "both": per_example}
    keep = (rng.random((6, 2, 16, 16)) < 0.8).astype(np.float32) / np.float32(0.8)
    keep = keep if masks in ("dropout", "both") else None
    qkv = rng.standard_normal((6, 16, 3, 2, 8)).astype(np.float32)
    g = rng.standard_normal((6, 16, 2, 8)).astype(np.float32)

    def run(block_bytes):
        monkeypatch.setattr(attention, "_BLOCK_BYTES", block_bytes)
        if packed:
            op = attention.PackedSelfAttention()
            inputs, grad = (qkv,), g
        else:
            op = attention.ScaledDotProductAttention()
            inputs = tuple(np.ascontiguousarray(h) for h in attention._heads(qkv))
            grad = np.ascontiguousarray(g.transpose(0, 2, 1, 3))
        op.needs_grad = (True,) * len(inputs)
        out = op.forward(*inputs, adder.get(masks), keep, 0.3)
        return (out, op.probabilities) + tuple(op.backward(grad)[: len(inputs)])

    whole, blocks = run(1 << 30), run(1)  # one block; one example per block
    for want, have in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(have, want)
