"""Normalization, noise, embedding and sequence layers: gradients, Keras semantics, errors.

Gradient checks run in float64 against central differences (``gradcheck.py``), with respect to
the inputs and to every weight (weights are swapped for tensors for one call). The fused
recurrent kernels are checked directly and against the composite op-by-op loop, which must give
the same outputs and gradients. Behaviour tests pin the Keras conventions: weight order and
layout, moving statistics, masks, go_backwards, states, configs, and the errors a user can cause.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from axonal import functional as F
from axonal.backend import make_rng
from axonal.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Dense,
    Embedding,
    GaussianNoise,
    LayerNormalization,
    SimpleRNN,
    SpatialDropout1D,
    SpatialDropout2D,
    TimeDistributed,
)
from axonal.layers.embedding import mask_of
from axonal.models import Sequential
from axonal.registry import deserialize, serialize
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import gradcheck, randn


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj, dotted: str, value) -> None:
    *head, last = dotted.split(".")
    for part in head:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def _flat(out) -> Tensor:
    """One tensor from a layer's output(s): every output flattened and joined."""
    outs = out if isinstance(out, list) else [out]
    return F.concatenate([F.reshape(o, (o.shape[0], -1)) for o in outs], axis=1)


def check_layer(layer, x, names, training=False, seed=None, wrt_input=True, **call_kwargs):
    """Gradcheck ``layer`` at ``x`` w.r.t. the input and the weights ``names`` (dotted paths)."""

    def fn(xt, *weights):
        saved = [_get(layer, n) for n in names]
        if seed is not None:
            layer._rng = make_rng(seed)
        try:
            for n, w in zip(names, weights, strict=True):
                _set(layer, n, w)
            return _flat(layer(xt, training=training, **call_kwargs))
        finally:
            for n, w in zip(names, saved, strict=True):
                _set(layer, n, w)

    weights = [np.array(_get(layer, n).data, dtype=np.float64) for n in names]
    wrt = None if wrt_input else list(range(1, len(weights) + 1))
    return gradcheck(fn, [x] + weights, wrt=wrt)


def _built(layer, shape):
    layer.build_from_shape((None,) + tuple(shape[1:]))
    return layer


def _randomize(layer, scale=0.5, seed=0):
    """Non-trivial weights (gamma away from 1, biases away from 0) so every path is exercised."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [w + rng.standard_normal(w.shape) * scale if w.ndim else w for w in layer.get_weights()]
    )
    return layer


# ---------------------------------------------------------------- gradient checks: norm


@pytest.mark.parametrize(
    "shape, axis",
    [((6, 3), -1), ((3, 2, 2, 4), -1), ((4, 3, 2, 2), 1), ((5, 4, 3), 1)],
    ids=["dense", "channels-last", "channels-first", "middle-axis"],
)
def test_gradcheck_batch_norm_training(shape, axis):
    layer = _built(BatchNormalization(axis=axis, dtype="float64"), shape)
    _randomize(layer)
    check_layer(layer, randn(*shape), ["gamma", "beta"], training=True)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_gradcheck_batch_norm_training_without_center_or_scale(center, scale):
    layer = _built(BatchNormalization(center=center, scale=scale, dtype="float64"), (5, 3))
    names = (["gamma"] if scale else []) + (["beta"] if center else [])
    check_layer(layer, randn(5, 3), names, training=True)


def test_gradcheck_batch_norm_training_with_a_timestep_mask():
    layer = _randomize(_built(BatchNormalization(dtype="float64"), (3, 4, 2)))
    check_layer(layer, randn(3, 4, 2), ["gamma", "beta"], training=True, mask=MASK)


def test_gradcheck_batch_norm_inference():
    layer = _built(BatchNormalization(axis=1, dtype="float64"), (3, 4, 2))
    _randomize(layer)
    layer.moving_variance.data[...] = np.abs(layer.moving_variance.data) + 0.5
    check_layer(layer, randn(3, 4, 2), ["gamma", "beta"], training=False)


@pytest.mark.parametrize(
    "shape, axis",
    [((4, 5), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), 1), ((2, 3, 2, 2), [1, 3])],
    ids=["last", "trailing-two", "middle", "split-axes"],
)
def test_gradcheck_layer_norm(shape, axis):
    layer = _built(LayerNormalization(axis=axis, dtype="float64"), shape)
    _randomize(layer)
    check_layer(layer, randn(*shape), ["gamma", "beta"])


def test_gradcheck_layer_norm_without_params():
    layer = _built(LayerNormalization(center=False, scale=False, dtype="float64"), (3, 4))
    check_layer(layer, randn(3, 4), [])


def test_normalize_primitive_equals_composite():
    x, gamma, beta = randn(5, 4), randn(4), randn(4)
    fused = F.layer_normalization(Tensor(x), Tensor(gamma), Tensor(beta), axis=-1, epsilon=1e-3)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(
        fused.data, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-12, atol=1e-12
    )
    # gradients of the fused op against the same maths built from primitives
    ts = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    weights = randn(5, 4)
    F.layer_normalization(*ts, axis=-1).backward(weights)
    composite = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    xt, g, b = composite
    centered = F.subtract(xt, F.mean(xt, axis=-1, keepdims=True))
    variance = F.mean(F.square(centered), axis=-1, keepdims=True)
    out = F.add(F.multiply(F.divide(centered, F.sqrt(F.add(variance, 1e-3))), g), b)
    out.backward(weights)
    for fused_t, comp_t in zip(ts, composite, strict=True):
        np.testing.assert_allclose(fused_t.grad, comp_t.grad, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- gradient checks: noise


def test_gradcheck_gaussian_noise_and_spatial_dropout_in_training():
    check_layer(GaussianNoise(0.3, seed=5, dtype="float64"), randn(3, 4), [], training=True, seed=5)
    layer = SpatialDropout2D(0.5, seed=7, dtype="float64")
    check_layer(layer, randn(2, 3, 3, 4), [], training=True, seed=7)


# ---------------------------------------------------------------- gradient checks: embedding


def test_gradcheck_embedding_with_repeated_indices():
    layer = _built(Embedding(6, 3, dtype="float64"), (2, 5))
    indices = np.array([[1, 2, 1, 0, 5], [5, 5, 5, 2, 1]])
    grads = check_layer(layer, indices, ["embeddings"], wrt_input=False)
    # rows nobody looked up get exactly zero gradient
    assert np.all(grads[1][[3, 4]] == 0.0)


# ---------------------------------------------------------------- gradient checks: recurrent

RNN_CLASSES = {
    "SimpleRNN": (SimpleRNN, {}),
    "LSTM": (LSTM, {}),
    "GRU": (GRU, {}),
    "GRU-reset-before": (GRU, {"reset_after": False}),
}
WEIGHTS = ["kernel", "recurrent_kernel", "bias"]
MASK = np.array([[True, True, False, True], [False, True, True, False], [True, True, True, True]])


def _rnn(kind, units=3, **kwargs):
    cls, base = RNN_CLASSES[kind]
    layer = cls(units, dtype="float64", **base, **kwargs)
    return _randomize(_built(layer, (3, 4, 2)), scale=0.3)


@pytest.mark.parametrize("kind", list(RNN_CLASSES))
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"return_sequences": True},
        {"go_backwards": True},
        {"return_sequences": True, "go_backwards": True, "return_state": True},
    ],
    ids=["last", "sequences", "backwards", "sequences-backwards-state"],
)
def test_gradcheck_recurrent(kind, options):
    layer = _rnn(kind, **options)
    check_layer(layer, randn(3, 4, 2), WEIGHTS)


@pytest.mark.parametrize("kind", list(RNN_CLASSES))
@pytest.mark.parametrize("zero_output", [False, True])
def test_gradcheck_recurrent_with_mask(kind, zero_output):
    layer = _rnn(kind, return_sequences=True, return_state=True, zero_output_for_mask=zero_output)
    check_layer(layer, randn(3, 4, 2), WEIGHTS, mask=MASK)


@pytest.mark.parametrize("kind", list(RNN_CLASSES))
def test_gradcheck_recurrent_with_dropout_in_training(kind):
    layer = _rnn(kind, return_sequences=True, dropout=0.3, recurrent_dropout=0.4, seed=11)
    check_layer(layer, randn(3, 4, 2), WEIGHTS, training=True, seed=11)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gradcheck_recurrent_initial_state(kind):
    layer = _rnn(kind, return_sequences=True)
    n_states = 2 if kind == "LSTM" else 1
    states = [randn(3, 3) for _ in range(n_states)]

    def fn(x, *s):
        return _flat(layer(x, initial_state=list(s)))

    gradcheck(fn, [randn(3, 4, 2)] + states)


def test_gradcheck_recurrent_without_bias_and_custom_activations():
    layer = _built(
        LSTM(
            3,
            use_bias=False,
            activation="softsign",
            recurrent_activation="hard_sigmoid",
            dtype="float64",
        ),
        (2, 3, 2),
    )
    check_layer(layer, randn(2, 3, 2, scale=0.3), ["kernel", "recurrent_kernel"])
    layer = _built(GRU(3, use_bias=False, activation="softsign", dtype="float64"), (2, 3, 2))
    check_layer(layer, randn(2, 3, 2), ["kernel", "recurrent_kernel"])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_gradcheck_bidirectional(merge_mode):
    layer = Bidirectional(
        LSTM(3, return_sequences=True, dtype="float64"), merge_mode=merge_mode, dtype="float64"
    )
    _randomize(_built(layer, (2, 4, 2)), scale=0.3)
    names = [f"{d}_layer.{w}" for d in ("forward", "backward") for w in WEIGHTS]
    check_layer(layer, randn(2, 4, 2), names, mask=MASK[:2])


def test_gradcheck_bidirectional_gru_states():
    layer = Bidirectional(GRU(2, return_state=True, dtype="float64"), dtype="float64")
    _randomize(_built(layer, (2, 3, 2)), scale=0.3)
    names = [f"{d}_layer.{w}" for d in ("forward", "backward") for w in WEIGHTS]
    check_layer(layer, randn(2, 3, 2), names)


def test_gradcheck_time_distributed_dense():
    layer = _randomize(
        _built(TimeDistributed(Dense(3, activation="tanh", dtype="float64")), (2, 4, 5))
    )
    check_layer(layer, randn(2, 4, 5), ["layer.kernel", "layer.bias"])


# ---------------------------------------------------------------- fused kernels = composite


def _run_both(layer, x, training=False, seed=None, **kwargs):
    """Outputs and gradients (input and weights) with the fused kernel, then the composite."""
    results = []
    weights = layer.weights
    recurrent = (
        [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
    )
    for fused in (True, False):
        for inner in recurrent:
            inner._fused = fused
        if seed is not None:
            layer._rng = make_rng(seed)
        for w in weights:
            w.grad = None
        xt = Tensor(x, requires_grad=True)
        out = _flat(layer(xt, training=training, **kwargs))
        out.backward(np.random.default_rng(5).standard_normal(out.shape))
        results.append([out.data, xt.grad] + [w.grad for w in weights])
    return results


@pytest.mark.parametrize("kind", list(RNN_CLASSES) + ["SimpleRNN-relu"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_kernels_equal_the_composite_loop(kind, go_backwards, masked):
    if kind == "SimpleRNN-relu":
        layer = _randomize(
            _built(
                SimpleRNN(
                    4,
                    activation="relu",
                    return_sequences=True,
                    return_state=True,
                    go_backwards=go_backwards,
                    dtype="float64",
                ),
                (3, 4, 2),
            )
        )
    else:
        layer = _rnn(
            kind, units=4, return_sequences=True, return_state=True, go_backwards=go_backwards
        )
    fused, composite = _run_both(layer, randn(3, 4, 2), mask=MASK if masked else None)
    for a, b in zip(fused, composite, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_fused_kernels_equal_the_composite_loop_under_dropout(kind):
    layer = _rnn(kind, units=4, return_sequences=True, dropout=0.25, recurrent_dropout=0.5, seed=3)
    fused, composite = _run_both(layer, randn(3, 4, 2), training=True, seed=3, mask=MASK)
    for a, b in zip(fused, composite, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_fused_bidirectional_equals_composite():
    layer = Bidirectional(GRU(3, return_sequences=True, dtype="float64"), dtype="float64")
    _randomize(_built(layer, (3, 4, 2)), scale=0.3)
    fused, composite = _run_both(layer, randn(3, 4, 2), mask=MASK)
    for a, b in zip(fused, composite, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_fused_path_builds_one_node_per_sequence():
    layer = _built(LSTM(4, dtype="float64"), (2, 30, 3))
    out = layer(Tensor(randn(2, 30, 3), requires_grad=True))
    # slice <- LSTMSequence <- Affine: the loop is not in the graph
    assert type(out._ctx).__name__ == "SliceSteps"
    assert type(out._ctx.inputs[0]._ctx).__name__ == "LSTMSequence"


# ---------------------------------------------------------------- BatchNormalization behaviour


def test_batch_norm_weights_order_and_trainability():
    layer = _built(BatchNormalization(), (4, 3))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    gamma, beta, mean, var = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(3, "float32"))
    np.testing.assert_array_equal(beta, np.zeros(3, "float32"))
    np.testing.assert_array_equal(mean, np.zeros(3, "float32"))
    np.testing.assert_array_equal(var, np.ones(3, "float32"))
    assert all(w.dtype == np.float32 for w in layer.get_weights())
    assert layer.count_params() == 12


def test_batch_norm_training_updates_moving_statistics_like_keras():
    layer = _built(BatchNormalization(momentum=0.9, epsilon=1e-3), (8, 3))
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 3)).astype("float32")
    out = layer(x, training=True).data
    mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance, as Keras
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.data, 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.data, 0.9 + 0.1 * var, rtol=1e-6)
    moving = [layer.moving_mean.data, layer.moving_variance.data]
    layer(x, training=True)
    # updated in place: the arrays are the same objects
    assert layer.moving_mean.data is moving[0] and layer.moving_variance.data is moving[1]
    np.testing.assert_allclose(layer.moving_mean.data, 0.19 * mean, rtol=1e-5)


def test_batch_norm_inference_uses_moving_statistics_and_changes_nothing():
    layer = _built(BatchNormalization(axis=1), (2, 3, 4))
    gamma, beta = np.array([1.0, 2.0, 0.5], "float32"), np.array([0.0, -1.0, 3.0], "float32")
    mm, mv = np.array([0.5, -1.0, 2.0], "float32"), np.array([4.0, 0.25, 1.0], "float32")
    layer.set_weights([gamma, beta, mm, mv])
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    out = layer(x, training=False).data
    shape = (1, 3, 1)
    expected = (x - mm.reshape(shape)) / np.sqrt(mv.reshape(shape) + 1e-3)
    expected = expected * gamma.reshape(shape) + beta.reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.data, mm)
    np.testing.assert_array_equal(layer.moving_variance.data, mv)


def test_batch_norm_statistics_skip_masked_steps_like_keras():
    layer = _built(BatchNormalization(momentum=0.5), (2, 3, 2))
    x = np.random.default_rng(3).normal(size=(2, 3, 2)).astype("float32")
    mask = np.array([[True, False, True], [True, True, False]])
    out = layer(x, training=True, mask=mask).data
    real = x[mask]
    mean, var = real.mean(axis=0), real.var(axis=0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.data, 0.5 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.data, 0.5 + 0.5 * var, rtol=1e-5)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\)"):
        layer(x, training=True, mask=np.ones((2, 2), bool))


def test_masks_pass_through_normalization_and_noise_layers():
    tokens = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    x = Embedding(5, 4, mask_zero=True)(tokens)
    for layer in (
        LayerNormalization(),
        BatchNormalization(),
        GaussianNoise(0.1),
        SpatialDropout1D(0.2),
    ):
        x = layer(x, training=True)
        np.testing.assert_array_equal(mask_of(x), tokens != 0)


def test_frozen_batch_norm_runs_in_inference_mode():
    layer = _built(BatchNormalization(), (6, 2))
    layer.trainable = False
    x = np.random.default_rng(2).normal(5.0, 2.0, size=(6, 2)).astype("float32")
    out = layer(x, training=True).data
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.data, np.zeros(2, "float32"))
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 4


def test_model_fit_updates_moving_statistics_but_optimizer_leaves_them():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 4)).astype("float32")
    y = (x[:, 0] > 3.0).astype("int64")
    model = Sequential([BatchNormalization(input_shape=(4,)), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    bn = model.layers[0]
    assert bn.moving_mean not in model.trainable_weights
    assert [w.path for w in model.non_trainable_weights] == [
        "batch_normalization/moving_mean",
        "batch_normalization/moving_variance",
    ]
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    # 12 updates with momentum 0.99 toward the data's mean 3: 1 - 0.99**12 of the way
    np.testing.assert_allclose(bn.moving_mean.data, x.mean(axis=0) * (1 - 0.99**12), rtol=0.1)
    before = [w.copy() for w in model.get_weights()]
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(model.get_weights()) == 6


# ---------------------------------------------------------------- other layers' behaviour


def test_layer_norm_normalizes_each_sample():
    x = np.random.default_rng(0).normal(4.0, 3.0, size=(5, 6)).astype("float32")
    out = LayerNormalization(epsilon=1e-6)(x).data
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=-1), 1.0, rtol=1e-4)
    layer = LayerNormalization(axis=[1, 2])
    layer(np.zeros((2, 3, 4), "float32"))
    assert layer.gamma.shape == (3, 4) and layer.beta.shape == (3, 4)


def test_noise_and_spatial_dropout_are_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    for layer in (GaussianNoise(0.5), SpatialDropout2D(0.5), SpatialDropout1D(0.5)):
        data = x[:, 0] if isinstance(layer, SpatialDropout1D) else x
        np.testing.assert_array_equal(layer(data, training=False).data, data)


def test_gaussian_noise_has_the_requested_spread():
    out = GaussianNoise(0.5, seed=1)(np.zeros((200, 50), "float32"), training=True).data
    assert out.dtype == np.float32
    assert abs(out.std() - 0.5) < 0.01 and abs(out.mean()) < 0.01


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_2d_drops_whole_channels(data_format):
    layer = SpatialDropout2D(0.5, data_format=data_format, seed=3)
    shape = (8, 5, 5, 6) if data_format == "channels_last" else (8, 6, 5, 5)
    out = layer(np.ones(shape, "float32"), training=True).data
    maps = out if data_format == "channels_first" else np.moveaxis(out, -1, 1)
    per_map = maps.reshape(8, 6, -1)
    # every feature map is all zeros or all 2 (= 1 / (1 - rate))
    assert np.all(per_map.min(axis=-1) == per_map.max(axis=-1))
    assert set(np.unique(per_map)) <= {0.0, 2.0}
    assert 0 < (per_map[..., 0] == 0).sum() < per_map[..., 0].size


def test_embedding_looks_up_rows_and_defaults_to_keras_uniform():
    layer = Embedding(50, 7)
    out = layer(np.array([[0, 3], [49, 3]]))
    (table,) = layer.get_weights()
    assert table.shape == (50, 7) and table.dtype == np.float32
    assert table.min() >= -0.05 and table.max() <= 0.05 and table.std() > 0.01
    np.testing.assert_array_equal(out.data, table[[[0, 3], [49, 3]]])
    assert out.shape == (2, 2, 7)
    assert Embedding.integer_inputs is True
    # whole-number floats are accepted, as Keras casts them
    np.testing.assert_array_equal(layer(np.array([[3.0, 0.0]], "float32")).data, table[[[3, 0]]])


def test_embedding_mask_zero_produces_the_mask():
    layer = Embedding(10, 3, mask_zero=True)
    x = np.array([[4, 2, 0, 0], [1, 0, 3, 0]])
    out = layer(x)
    expected = np.array([[True, True, False, False], [True, False, True, False]])
    np.testing.assert_array_equal(mask_of(out), expected)
    np.testing.assert_array_equal(layer.compute_mask(x), expected)
    assert Embedding(10, 3).compute_mask(x) is None
    assert mask_of(Embedding(10, 3)(x)) is None


def test_recurrent_weight_layouts_follow_keras():
    lstm = _built(LSTM(5), (None, 7, 3))
    kernel, recurrent, bias = lstm.get_weights()
    assert (kernel.shape, recurrent.shape, bias.shape) == ((3, 20), (5, 20), (20,))
    # unit_forget_bias: the forget block (second of i, f, c, o) starts at one
    np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    # orthogonal recurrent kernel: the whole (5, 20) matrix has orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(5), atol=1e-5)
    gru = _built(GRU(5), (None, 7, 3))
    assert [w.shape for w in gru.get_weights()] == [(3, 15), (5, 15), (2, 15)]
    gru_v1 = _built(GRU(5, reset_after=False), (None, 7, 3))
    assert gru_v1.bias.shape == (15,)
    rnn = _built(SimpleRNN(5, use_bias=False), (None, 7, 3))
    assert [w.name for w in rnn.weights] == ["kernel", "recurrent_kernel"]
    plain = _built(LSTM(5, unit_forget_bias=False), (None, 7, 3))
    np.testing.assert_array_equal(plain.bias.data, np.zeros(20, "float32"))


def test_mask_carries_state_and_output_through_padding():
    layer = _built(LSTM(4, return_sequences=True, return_state=True), (2, 6, 3))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    mask = np.array([[True] * 4 + [False] * 2, [True, False, True, True, False, True]])
    seq, h, c = layer(x, mask=mask)
    # trailing padding: the final state equals running the real steps only
    short_seq, short_h, short_c = layer(x[:1, :4])
    # a batch of one and a batch of two run different GEMM kernels: equal to float32 rounding
    np.testing.assert_allclose(h.data[0], short_h.data[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(c.data[0], short_c.data[0], rtol=1e-5, atol=1e-7)
    # masked steps repeat the previous output
    np.testing.assert_array_equal(seq.data[0, 4], seq.data[0, 3])
    np.testing.assert_array_equal(seq.data[1, 1], seq.data[1, 0])
    np.testing.assert_array_equal(seq.data[0, 5], h.data[0])
    # a masked first step outputs the initial (zero) state
    assert mask_of(seq) is not None


def test_embedding_mask_reaches_stacked_recurrent_layers_in_a_sequential():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 9, size=(3, 5))
    padded = np.concatenate([tokens, np.zeros((3, 3), tokens.dtype)], axis=1)
    model = Sequential([Embedding(9, 4, mask_zero=True), GRU(3, return_sequences=True), LSTM(2)])
    model.build((None, None))
    np.testing.assert_allclose(
        model.predict(padded, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_bidirectional_zeroes_masked_steps_and_aligns_directions():
    layer = Bidirectional(SimpleRNN(2, return_sequences=True), merge_mode=None)
    x = np.random.default_rng(0).normal(size=(1, 4, 3)).astype("float32")
    mask = np.array([[True, True, True, False]])
    forward, backward = layer(x, mask=mask)
    np.testing.assert_array_equal(forward.data[0, 3], 0.0)
    np.testing.assert_array_equal(backward.data[0, 3], 0.0)
    # the backward output at time t is the backward layer having read steps t..end
    fwd_weights = layer.backward_layer.get_weights()
    reference = SimpleRNN(2, return_sequences=True)
    reference.build((None, 4, 3))
    reference.set_weights(fwd_weights)
    flipped = reference(x[:, :3][:, ::-1].copy()).data
    np.testing.assert_allclose(backward.data[0, :3], flipped[0, ::-1], rtol=1e-6)


def test_go_backwards_reads_the_sequence_reversed():
    layer = _built(GRU(3, return_sequences=True, go_backwards=True), (2, 5, 2))
    forward = GRU(3, return_sequences=True)
    forward.build((None, 5, 2))
    forward.set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")
    # Keras returns the outputs in processing order: no flip back
    np.testing.assert_allclose(layer(x).data, forward(x[:, ::-1].copy()).data, rtol=1e-6, atol=1e-7)


def test_return_state_and_initial_state():
    layer = _built(LSTM(3, return_state=True), (2, 4, 2))
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    out, h, c = layer(x)
    np.testing.assert_array_equal(out.data, h.data)
    # continuing from the returned states equals one pass over the joined sequence
    joined = layer(np.concatenate([x, x], axis=1))
    _, h2, c2 = layer(x, initial_state=[h, c])
    np.testing.assert_allclose(h2.data, joined[1].data, rtol=1e-6)
    np.testing.assert_allclose(c2.data, joined[2].data, rtol=1e-6)
    assert layer.compute_output_shape((None, 4, 2)) == [(None, 3), (None, 3), (None, 3)]


def test_stateful_layer_carries_states_between_calls():
    layer = _built(SimpleRNN(3, stateful=True), (2, 4, 2))
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    first = layer(x).data
    second = layer(x).data
    reference = SimpleRNN(3)
    reference.build((None, 8, 2))
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(second, reference(np.concatenate([x, x], axis=1)).data, rtol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(layer(x).data, first, rtol=1e-6)
    with pytest.raises(ValueError, match="batch size 2, got a batch of 3"):
        layer(np.zeros((3, 4, 2), "float32"))


def test_recurrent_dropout_only_while_training_and_seeded():
    layer = _built(LSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=1), (3, 5, 2))
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    plain = layer(x).data
    np.testing.assert_array_equal(layer(x, training=False).data, plain)
    dropped = layer(x, training=True).data
    assert not np.allclose(dropped, plain)
    layer._rng = make_rng(1)
    again = layer(x, training=True).data
    layer._rng = make_rng(1)
    np.testing.assert_array_equal(layer(x, training=True).data, again)


def test_time_distributed_applies_one_dense_to_every_step():
    layer = TimeDistributed(Dense(2))
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    out = layer(x).data
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert [w.path for w in layer.weights] == [
        "time_distributed/dense/kernel",
        "time_distributed/dense/bias",
    ]
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 2)


def test_bidirectional_weights_and_shapes():
    layer = Bidirectional(LSTM(4, return_sequences=True))
    out = layer(np.zeros((2, 3, 5), "float32"))
    assert out.shape == (2, 3, 8)
    assert [w.path for w in layer.weights][:3] == [
        "bidirectional/forward_lstm/kernel",
        "bidirectional/forward_lstm/recurrent_kernel",
        "bidirectional/forward_lstm/bias",
    ]
    assert layer.weights[3].path == "bidirectional/backward_lstm/kernel"
    assert layer.count_params() == 2 * 4 * 4 * (5 + 4 + 1)
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    for mode, last in (("sum", 4), ("concat", 8)):
        assert Bidirectional(GRU(4), merge_mode=mode).compute_output_shape((None, 3, 5)) == (
            None,
            last,
        )
    states = Bidirectional(LSTM(4, return_state=True))(np.zeros((2, 3, 5), "float32"))
    assert [s.shape for s in states] == [(2, 8)] + [(2, 4)] * 4


@pytest.mark.parametrize(
    "layer, x",
    [
        (SimpleRNN(3, return_sequences=True), np.zeros((2, 4, 2))),
        (LSTM(3, return_state=True), np.zeros((2, 4, 2))),
        (GRU(3, reset_after=False), np.zeros((2, 4, 2))),
        (Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"), np.zeros((2, 4, 2))),
        (Bidirectional(GRU(3), merge_mode=None), np.zeros((2, 4, 2))),
        (TimeDistributed(Dense(3)), np.zeros((2, 4, 2))),
        (Embedding(5, 3), np.zeros((2, 4), "int64")),
        (BatchNormalization(), np.zeros((2, 4, 2))),
        (LayerNormalization(axis=[1, 2]), np.zeros((2, 4, 2))),
    ],
)
def test_compute_output_shape_matches_the_output(layer, x):
    out = layer(x)
    got = [o.shape for o in out] if isinstance(out, list) else out.shape
    want = layer.compute_output_shape((2,) + x.shape[1:])
    assert got == (list(want) if isinstance(want, list) else want)


# ---------------------------------------------------------------- configs


CONFIG_CASES = [
    lambda: BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False),
    lambda: LayerNormalization(axis=[1, 2], epsilon=1e-5, scale=False),
    lambda: GaussianNoise(0.2, seed=3),
    lambda: SpatialDropout1D(0.3, seed=4),
    lambda: SpatialDropout2D(0.3, data_format="channels_first"),
    lambda: Embedding(12, 4, mask_zero=True, embeddings_regularizer="l2"),
    lambda: SimpleRNN(3, activation="relu", go_backwards=True, dropout=0.1),
    lambda: LSTM(3, return_sequences=True, unit_forget_bias=False, recurrent_dropout=0.2),
    lambda: GRU(3, reset_after=False, return_state=True, kernel_regularizer="l1", seed=7),
    lambda: Bidirectional(LSTM(3, return_sequences=True), merge_mode="sum"),
    lambda: TimeDistributed(Dense(4, activation="relu")),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_config_round_trips_through_json(make):
    layer = make()
    config = json.loads(json.dumps(serialize(layer)))
    clone = deserialize("layer", config)
    assert type(clone) is type(layer)
    assert json.dumps(serialize(clone), sort_keys=True) == json.dumps(config, sort_keys=True)


def test_config_keys_follow_keras():
    lstm = LSTM(3).get_config()
    for key in (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "unit_forget_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
        "seed",
    ):
        assert key in lstm
    assert lstm["recurrent_initializer"]["class_name"] == "Orthogonal"
    assert GRU(3).get_config()["reset_after"] is True
    bn = BatchNormalization().get_config()
    assert (bn["axis"], bn["momentum"], bn["epsilon"]) == (-1, 0.99, 1e-3)
    assert LayerNormalization().get_config()["epsilon"] == 1e-3
    emb = Embedding(3, 2).get_config()
    assert emb["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert {"input_dim", "output_dim", "mask_zero"} <= set(emb)


def test_bidirectional_round_trip_keeps_outputs():
    layer = Bidirectional(GRU(3, return_sequences=True))
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    out = layer(x).data
    clone = deserialize("layer", serialize(layer))
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).data, out)


# ---------------------------------------------------------------- float32 end to end


def test_float32_sequence_model_trains_end_to_end():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 9, size=200)
    tokens = rng.integers(1, 6, size=(200, 8))
    tokens[np.arange(8)[None, :] >= lengths[:, None]] = 0
    y = (lengths > 5).astype("int64")
    model = Sequential(
        [
            Embedding(6, 8, mask_zero=True),
            Bidirectional(GRU(8, return_sequences=True)),
            LayerNormalization(),
            LSTM(8),
            BatchNormalization(),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(tokens, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(tokens[:4], verbose=0).dtype == np.float32


def test_float32_layers_keep_float32_gradients():
    x = Tensor(
        np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32"), requires_grad=True
    )
    for layer in (
        LSTM(3, return_sequences=True),
        GRU(3),
        SimpleRNN(3),
        BatchNormalization(),
        LayerNormalization(),
        TimeDistributed(Dense(2)),
    ):
        x.grad = None
        out = layer(x, training=True)
        assert out.dtype == np.float32
        F.sum(out).backward()
        assert x.grad.dtype == np.float32
        assert all(w.grad is None or w.grad.dtype == np.float32 for w in layer.weights)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_recurrent_layer_fed_2d_data_names_the_layer_and_shapes(cls):
    layer = cls(4)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        layer(np.zeros((8, 5), "float32"))
    model = Sequential([cls(4, input_shape=(5, 3)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        model.fit(np.zeros((8, 5), "float32"), np.zeros((8, 1)), verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="(batch, time, features)"):
        Sequential([Dense(3, input_shape=(4,)), cls(2)])


def test_recurrent_layer_errors_for_features_masks_and_states():
    layer = _built(LSTM(3), (2, 4, 2))
    with pytest.raises(ValueError, match=r"\(batch, time, 2\), got shape \(2, 4, 5\)"):
        layer(np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\)"):
        layer(np.zeros((2, 4, 2), "float32"), mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="expects 2 initial state"):
        layer(np.zeros((2, 4, 2), "float32"), initial_state=[np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"initial states of shape \(2, 3\)"):
        layer(np.zeros((2, 4, 2), "float32"), initial_state=[np.zeros((2, 4))] * 2)
    with pytest.raises(ValueError, match="no time steps"):
        layer(np.zeros((2, 0, 2), "float32"))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        GRU(2, dropout=1.5)


def test_embedding_errors():
    layer = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 4\], got 5"):
        layer(np.array([[1, 5]]))
    with pytest.raises(ValueError, match=r"got -1"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="non-integer"):
        layer(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Embedding(0, 3)


def test_normalization_and_wrapper_errors():
    bn = _built(BatchNormalization(), (2, 3))
    with pytest.raises(ValueError, match=r"expects 3 channels on axis -1, got inputs of shape"):
        bn(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="axis=3, out of range"):
        BatchNormalization(axis=3)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="batch axis"):
        LayerNormalization(axis=0)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"rank 4 \(batch, rows, cols, channels\)"):
        SpatialDropout2D(0.5)(np.zeros((2, 3, 4), "float32"), training=True)
    with pytest.raises(ValueError, match="at least 3 axes"):
        TimeDistributed(Dense(2))(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="needs a recurrent layer"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="expects inputs of shape"):
        Bidirectional(LSTM(3))(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="different go_backwards"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_last_axis_normalize_equals_the_general_one(affine, dtype):
    from axonal import primitives as P

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 6, 16)) * 3 + 5).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    gamma = rng.normal(size=16).astype(dtype) if affine else None
    beta = rng.normal(size=16).astype(dtype) if affine else None
    results = []
    for cls in (P.Normalize, P.NormalizeLastAxis):
        op = cls()
        op.needs_grad = (True, affine, affine)
        out = op.forward(x, gamma, beta, axes=(2,), epsilon=1e-3)
        grads = op.backward(g)
        results.append([out] + [None if a is None else np.reshape(a, -1) for a in grads])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for general, fast in zip(*results, strict=True):
        if general is None:
            assert fast is None
            continue
        assert fast.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fast, general, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 6, 16), (64, 5), (3, 4, 5, 7)])
def test_the_channels_normalize_equals_the_general_one(affine, dtype, shape):
    from axonal import primitives as P

    rng = np.random.default_rng(4)
    x = (rng.normal(size=shape) * 3 + 5).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    channels = shape[-1]
    broadcast = (1,) * (len(shape) - 1) + (channels,)  # as batch_normalization_training passes
    gamma = rng.normal(size=broadcast).astype(dtype) if affine else None
    beta = rng.normal(size=broadcast).astype(dtype) if affine else None
    axes = tuple(range(len(shape) - 1))
    results = []
    for cls, stats in (
        (P.Normalize, P.moments(x, axes)),
        (P.NormalizeChannels, P.channel_moments(x)),
    ):
        op = cls()
        op.needs_grad = (True, affine, affine)
        out = op.forward(x, gamma, beta, axes=axes, epsilon=1e-3, mean=stats[0], var=stats[1])
        grads = op.backward(g)
        results.append([out, *stats] + [None if a is None else a for a in grads])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for general, fast in zip(*results, strict=True):
        if general is None:
            assert fast is None
            continue
        assert fast.dtype == np.dtype(dtype) and fast.shape == general.shape
        np.testing.assert_allclose(fast, general, rtol=tol, atol=tol * 10)


def test_batch_normalization_training_takes_the_channels_op_only_for_the_last_axis():
    from axonal import functional as F
    from axonal.tensor import Tensor

    x = Tensor(np.random.default_rng(5).normal(size=(6, 3, 4)).astype("float32"), True)
    last, _, _ = F.batch_normalization_training(x, axis=-1)
    middle, _, _ = F.batch_normalization_training(x, axis=1)
    assert type(last._ctx).__name__ == "NormalizeChannels"
    assert type(middle._ctx).__name__ == "Normalize"


@pytest.mark.parametrize("repeats", ["unique", "few", "padding"])
def test_the_embedding_gradient_scatter_equals_add_at(repeats):
    from axonal.primitives.core import scatter_add_rows

    rng = np.random.default_rng(11)
    if repeats == "unique":
        indices = rng.permutation(50)[:40]
    elif repeats == "few":
        indices = rng.integers(0, 50, size=200)
    else:  # one index far more often than the rounds, as a padding token
        indices = np.where(rng.random(300) < 0.6, 0, rng.integers(0, 50, size=300))
    rows = rng.normal(size=(indices.size, 6)).astype("float32")
    got = np.zeros((50, 6), "float32")
    scatter_add_rows(got, indices, rows)
    expected = np.zeros((50, 6), "float32")
    np.add.at(expected, indices, rows)
    if repeats == "padding":
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:  # each index gets its rows in their order, as add.at adds them
        np.testing.assert_array_equal(got, expected)
