"""BatchNormalization followed by a plain ReLU runs as one op while training (axonal.models.fusion),
with the numbers of the two layers run one by one."""

import numpy as np
import pytest

import axonal
from axonal import layers, pointwise_kernels
from axonal.layers.normalization import BatchNormalization
from axonal.models import fusion
from axonal.primitives.core import Relu
from axonal.primitives.norm import NormalizeChannels


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts ``call_then_relu`` calls that ran the fused op; ``off()`` makes every call
    decline, so models run their layers one by one."""
    real = BatchNormalization.call_then_relu
    ran = []
    state = {"on": True}

    def counting(self, inputs):
        out = real(self, inputs) if state["on"] else None
        ran.append(out is not None)
        return out

    monkeypatch.setattr(BatchNormalization, "call_then_relu", counting)

    class Calls:
        count = property(lambda self: sum(ran))
        declined = property(lambda self: len(ran) - sum(ran))

        @staticmethod
        def off():
            state["on"] = False

    return Calls()


@pytest.mark.parametrize("compiled", [None, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_op_equals_normalization_then_relu(monkeypatch, compiled, dtype):
    monkeypatch.setattr(pointwise_kernels, "enabled", compiled)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 50, 16)) * 2 + 1).astype(dtype)
    x[0, 0, :2] = [np.nan, -np.inf]  # NaN and infinities through both paths
    gamma, beta = rng.standard_normal(16).astype(dtype), rng.standard_normal(16).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    g[1, 2, :3] = [-0.0, np.inf, np.nan]
    finite = np.where(np.isfinite(x), x, 0)
    mean, var = finite.mean(axis=(0, 1)), finite.var(axis=(0, 1))
    with np.errstate(invalid="ignore"):
        fused = NormalizeChannels()
        fused.needs_grad = (True, True, True)
        out = fused.forward(x, gamma, beta, mean=mean, var=var, relu=True)
        grads = fused.backward(g)
        norm, relu = NormalizeChannels(), Relu()
        norm.needs_grad = (True, True, True)
        want = relu.forward(norm.forward(x, gamma, beta, mean=mean, var=var))
        want_grads = norm.backward(relu.backward(g)[0])
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    for have, expected in zip(grads, want_grads, strict=True):
        np.testing.assert_array_equal(have, expected)


def _conv_block_model(kind: str):
    """Conv1D → BatchNormalization → ReLU (twice) → pooling → softmax, functional or
    Sequential; ``relu`` is ReLU() in the first block and Activation('relu') in the second."""
    axonal.utils.set_random_seed(3)
    blocks = [
        layers.Conv1D(8, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv1D(8, 3, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(3, activation="softmax"),
    ]
    if kind == "sequential":
        model = axonal.Sequential([axonal.Input((20, 2))] + blocks)
    else:
        inputs = axonal.Input((20, 2))
        hidden = inputs
        for layer in blocks:
            hidden = layer(hidden)
        model = axonal.Model(inputs, hidden)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _train(model):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 20, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return [w.copy() for w in model.get_weights()], model.predict(x, verbose=0)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_models_train_the_same_fused_and_unfused(fused_calls, kind):
    weights, predictions = _train(_conv_block_model(kind))
    assert fused_calls.count == 2 * 4 * 2  # two blocks, four batches, two epochs
    fused_calls.off()
    want_weights, want_predictions = _train(_conv_block_model(kind))
    # the moving statistics too: they are among the weights
    for have, want in zip(weights, want_weights, strict=True):
        np.testing.assert_array_equal(have, want)
    np.testing.assert_array_equal(predictions, want_predictions)


def test_inference_runs_the_layers_one_by_one(fused_calls):
    model = _conv_block_model("functional")
    x = np.random.default_rng(2).standard_normal((5, 20, 2)).astype(np.float32)
    model.predict(x, verbose=0)
    model(x, training=False)
    assert fused_calls.count == 0 and fused_calls.declined == 0


def _pairs(inputs, outputs):
    return list(axonal.Model(inputs, outputs)._graph.relu_after.values())


def test_only_a_normalization_read_by_a_plain_relu_alone_is_fused():
    inputs = axonal.Input((10, 4))
    normed = layers.BatchNormalization()(inputs)
    # read by the ReLU and by the residual add: not fused
    shared = layers.Add()([layers.ReLU()(normed), normed])
    assert _pairs(inputs, shared) == []
    # the normalization's output is also a model output: not fused
    normed = layers.BatchNormalization()(inputs)
    assert _pairs(inputs, [layers.ReLU()(normed), normed]) == []
    for other in (
        layers.ReLU(max_value=6.0),
        layers.ReLU(negative_slope=0.1),
        layers.ReLU(threshold=0.5),
        layers.Activation("relu6"),
        layers.LeakyReLU(),
    ):
        assert _pairs(inputs, other(layers.BatchNormalization()(inputs))) == []
    # a LayerNormalization is not a BatchNormalization
    assert _pairs(inputs, layers.ReLU()(layers.LayerNormalization()(inputs))) == []
    relu = layers.ReLU()
    assert [node.layer for node in _pairs(inputs, relu(layers.BatchNormalization()(inputs)))] == [
        relu
    ]


@pytest.mark.parametrize("case", ["channels first", "frozen", "masked"])
def test_cases_the_fused_op_does_not_cover_train_unfused(fused_calls, case):
    axonal.utils.set_random_seed(4)
    rng = np.random.default_rng(5)
    if case == "masked":
        inputs = axonal.Input((6,), dtype="int32")
        hidden = layers.Embedding(10, 4, mask_zero=True)(inputs)
        x = rng.integers(0, 10, (8, 6))
        x[:, -2:] = 0
    else:
        inputs = axonal.Input((6, 4))
        hidden = inputs
        x = rng.standard_normal((8, 6, 4)).astype(np.float32)
    norm = layers.BatchNormalization(axis=1 if case == "channels first" else -1)
    hidden = layers.ReLU()(norm(hidden))
    model = axonal.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling1D()(hidden)))
    if case == "frozen":
        norm.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in norm.get_weights()]
    model.fit(x, np.zeros((8, 2), np.float32), batch_size=4, epochs=1, verbose=0)
    assert fused_calls.count == 0 and fused_calls.declined == 2
    moved = [not np.array_equal(a, b) for a, b in zip(before, norm.get_weights(), strict=True)]
    assert any(moved) is (case != "frozen")  # the layer still trained (or stayed frozen)


def test_plain_relu_names_the_layers_it_takes():
    assert fusion.plain_relu(layers.ReLU()) and fusion.plain_relu(layers.Activation("relu"))
    assert not fusion.plain_relu(layers.Activation("gelu"))

    class Capped(layers.ReLU):
        def call(self, inputs, training=False):
            return super().call(inputs) * 0.5

    assert not fusion.plain_relu(Capped())  # a subclass may compute something else


def test_a_relu_changed_after_the_model_was_built_is_not_fused(fused_calls):
    # the pairs are found when the graph is built; each training call checks them again
    model = _conv_block_model("functional")
    capped = next(layer for layer in model.layers if isinstance(layer, layers.ReLU))
    capped.max_value = 0.5
    x = np.random.default_rng(3).standard_normal((16, 20, 2)).astype(np.float32)
    model.fit(x, np.zeros(16, int), batch_size=16, epochs=1, verbose=0)
    assert fused_calls.count == 1  # the second block's Activation("relu") only
    assert axonal.Model(model.inputs, capped.output).predict(x, verbose=0).max() <= 0.5


@pytest.mark.skipif(not axonal.kernels.available(), reason="numba is not installed")
def test_the_fused_gradient_masks_g_when_its_last_pass_falls_back_to_numpy(monkeypatch):
    # the sums mask g by ReLU's output inside the compiled pass; should the input gradient's
    # own pass then take the NumPy path, it must mask g too (regression: it read g unmasked)
    from axonal import kernels

    real = kernels.usable
    # the one four-array check: the gradient pass's (g, slope, shift, scale)
    monkeypatch.setattr(kernels, "usable", lambda *a: len(a) != 4 and real(*a))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 10, 8)).astype(np.float32)
    gamma, beta = rng.standard_normal(8).astype(np.float32), np.zeros(8, np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    fused = NormalizeChannels()
    fused.needs_grad = (True, True, True)
    fused.forward(x, gamma, beta, mean=mean, var=var, relu=True)
    norm, relu = NormalizeChannels(), Relu()
    norm.needs_grad = (True, True, True)
    relu.forward(norm.forward(x, gamma, beta, mean=mean, var=var))
    for have, want in zip(fused.backward(g), norm.backward(relu.backward(g)[0]), strict=True):
        np.testing.assert_array_equal(have, want)
