"""Normalization, embedding and recurrent layers against PyTorch, in float32 and float64.

Both sides run on the same inputs and weights (converted between layouts in the test); the
outputs and the gradients of ``sum(out * R)`` (R fixed and random) with respect to the inputs
and every weight must agree. The conventions mapped here:

- BatchNormalization: torch's ``momentum`` is ``1 - keras momentum``; torch expects channels
  at axis 1; torch's running variance uses the unbiased batch variance, Keras's the biased one.
- LSTM: both use gates i, f, c(g), o; torch's weights are the transposed kernels and it has two
  biases: Keras's bias goes in ``bias_ih`` and zeros in ``bias_hh``.
- GRU (``reset_after=True``): Keras's gate blocks z, r, h are torch's r, z, n reordered; the
  input and recurrent biases are ``bias_ih`` and ``bias_hh`` reordered the same way.
- SimpleRNN: ``nn.RNN`` with tanh, transposed kernels, the bias in ``bias_ih``.
"""

from __future__ import annotations

import numpy as np
import pytest

from axonal.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Embedding,
    LayerNormalization,
    SimpleRNN,
)
from axonal.tensor import Tensor
from axonal.utils import clear_session
from tolerance import assert_sums_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def _rng(seed: int = 0):
    return np.random.default_rng(seed)


def _close(ours, theirs, dtype, what: str, fan_in: int) -> None:
    """``ours`` equals ``theirs`` within the rounding of sums of ``fan_in`` terms.

    The terms' size is taken as the largest value compared: normalisation and gates keep the
    terms of these layers' sums near the size of their results (the worst disagreement seen is
    3 eps times that), and the sums cannot be re-run on absolute values through the nonlinearity.
    """
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}, expected {dtype}"
    magnitude = np.abs(theirs.astype(np.float64)).max(initial=0.0)
    assert_sums_close(ours, theirs, fan_in=fan_in, magnitude=magnitude, err_msg=what)


def _t(array, grad: bool = False):
    return torch.tensor(np.array(array), requires_grad=grad)


def _backward_ours(out: Tensor, seed: int = 7):
    weights = _rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(weights)
    return weights


# ---------------------------------------------------------------- BatchNormalization


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 3, 5)], ids=["dense", "image"])
@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_batch_norm_training_matches_torch(dtype, shape, momentum):
    rng = _rng(1)
    x = rng.normal(1.5, 2.0, size=shape).astype(dtype)
    channels = shape[-1]
    gamma, beta = rng.normal(1, 0.3, channels).astype(dtype), rng.normal(0, 0.3, channels)
    beta = beta.astype(dtype)
    moving_mean = rng.normal(size=channels).astype(dtype)
    moving_var = rng.uniform(0.5, 2, channels).astype(dtype)

    layer = BatchNormalization(momentum=momentum, epsilon=1e-3, dtype=np.dtype(dtype).name)
    layer.build((None,) + shape[1:])
    layer.set_weights([gamma, beta, moving_mean, moving_var])
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, training=True)
    weights = _backward_ours(out)

    # torch: channels at axis 1, momentum = 1 - keras momentum
    perm = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
    x_torch = _t(x, grad=True)
    g_torch, b_torch = _t(gamma, grad=True), _t(beta, grad=True)
    running_mean, running_var = _t(moving_mean), _t(moving_var)
    theirs = TF.batch_norm(
        x_torch.permute(*perm),
        running_mean,
        running_var,
        g_torch,
        b_torch,
        training=True,
        momentum=1 - momentum,
        eps=1e-3,
    )
    back = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)
    theirs = theirs.permute(*back)
    (theirs * _t(weights)).sum().backward()

    n = x.size // channels  # the batch statistics and the gamma, beta gradients sum n terms
    _close(out.data, theirs, dtype, "output", n)
    _close(xt.grad, x_torch.grad, dtype, "d input", n)
    _close(layer.gamma.grad, g_torch.grad, dtype, "d gamma", n)
    _close(layer.beta.grad, b_torch.grad, dtype, "d beta", n)
    _close(layer.moving_mean.data, running_mean, dtype, "moving mean", n)
    # torch's running variance takes the unbiased batch variance; Keras the biased one
    unbiased = x.reshape(-1, channels).astype(np.float64).var(axis=0, ddof=1)
    expected = running_var.numpy() - (1 - momentum) * unbiased / n
    _close(layer.moving_variance.data, expected.astype(dtype), dtype, "moving variance", n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_inference_matches_torch(dtype):
    rng = _rng(2)
    x = rng.normal(size=(6, 4, 4, 3)).astype(dtype)
    gamma, beta = rng.normal(1, 0.3, 3).astype(dtype), rng.normal(0, 0.3, 3).astype(dtype)
    mean, var = rng.normal(size=3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    layer = BatchNormalization(dtype=np.dtype(dtype).name)
    layer.build((None, 4, 4, 3))
    layer.set_weights([gamma, beta, mean, var])
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, training=False)
    weights = _backward_ours(out)

    x_torch, g_torch, b_torch = _t(x, grad=True), _t(gamma, grad=True), _t(beta, grad=True)
    theirs = TF.batch_norm(
        x_torch.permute(0, 3, 1, 2), _t(mean), _t(var), g_torch, b_torch, training=False, eps=1e-3
    ).permute(0, 2, 3, 1)
    (theirs * _t(weights)).sum().backward()
    n = x.size // 3  # the gamma and beta gradients sum over everything but the channels
    _close(out.data, theirs, dtype, "output", 1)
    _close(xt.grad, x_torch.grad, dtype, "d input", 1)
    _close(layer.gamma.grad, g_torch.grad, dtype, "d gamma", n)
    _close(layer.beta.grad, b_torch.grad, dtype, "d beta", n)


# ---------------------------------------------------------------- LayerNormalization


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", [((5, 7), -1), ((3, 4, 6), [1, 2])], ids=["last", "two"])
def test_layer_norm_matches_torch(dtype, shape, axis):
    rng = _rng(3)
    x = rng.normal(2.0, 3.0, size=shape).astype(dtype)
    normalized = shape[-1:] if axis == -1 else shape[1:]
    gamma = rng.normal(1, 0.3, normalized).astype(dtype)
    beta = rng.normal(0, 0.3, normalized).astype(dtype)
    layer = LayerNormalization(axis=axis, dtype=np.dtype(dtype).name)
    layer.build((None,) + shape[1:])
    layer.set_weights([gamma, beta])
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    weights = _backward_ours(out)

    x_torch, g_torch, b_torch = _t(x, grad=True), _t(gamma, grad=True), _t(beta, grad=True)
    theirs = TF.layer_norm(x_torch, normalized, g_torch, b_torch, eps=1e-3)
    (theirs * _t(weights)).sum().backward()
    n = gamma.size  # the mean and variance sum over the normalised axes
    batch = x.size // gamma.size  # the gamma and beta gradients over the rest
    _close(out.data, theirs, dtype, "output", n)
    _close(xt.grad, x_torch.grad, dtype, "d input", n)
    _close(layer.gamma.grad, g_torch.grad, dtype, "d gamma", batch)
    _close(layer.beta.grad, b_torch.grad, dtype, "d beta", batch)


# ---------------------------------------------------------------- Embedding


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch(dtype):
    rng = _rng(4)
    table = rng.normal(size=(9, 5)).astype(dtype)
    indices = np.array([[1, 4, 4, 0], [8, 1, 1, 1], [3, 3, 2, 8]])
    layer = Embedding(9, 5, dtype=np.dtype(dtype).name)
    layer.build((None, 4))
    layer.set_weights([table])
    out = layer(indices)
    weights = _backward_ours(out)

    table_torch = _t(table, grad=True)
    theirs = TF.embedding(torch.as_tensor(indices), table_torch)
    (theirs * _t(weights)).sum().backward()
    _close(out.data, theirs, dtype, "output", 1)
    # a row's gradient sums one term per lookup of that row
    repeats = np.bincount(indices.ravel()).max()
    _close(layer.embeddings.grad, table_torch.grad, dtype, "d embeddings", repeats)


# ---------------------------------------------------------------- recurrent layers

BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5
# each step sums FEATURES + UNITS products into every gate, and the steps chain: an output's
# rounding gathers over all of them (the weight gradients sum BATCH * STEPS terms, fewer)
RECURRENT_FAN_IN = STEPS * (FEATURES + UNITS)


def _keras_weights(kind: str, dtype, seed: int = 5) -> list:
    rng = _rng(seed)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    kernel = rng.normal(0, 0.5, (FEATURES, gates * UNITS)).astype(dtype)
    recurrent = rng.normal(0, 0.5, (UNITS, gates * UNITS)).astype(dtype)
    bias_shape = (2, gates * UNITS) if kind == "GRU" else (gates * UNITS,)
    bias = rng.normal(0, 0.5, bias_shape).astype(dtype)
    return [kernel, recurrent, bias]


def _gru_blocks(matrix, axis: int):
    """Keras's z, r, h blocks reordered to torch's r, z, n."""
    z, r, h = np.split(matrix, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _torch_module(kind: str, weights: list, dtype, bidirectional: bool = False):
    cls = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    module = cls(FEATURES, UNITS, batch_first=True, bidirectional=bidirectional)
    module = module.to(torch.float64 if dtype == np.float64 else torch.float32)
    directions = [("", weights[:3])] + ([("_reverse", weights[3:])] if bidirectional else [])
    with torch.no_grad():
        for suffix, (kernel, recurrent, bias) in directions:
            if kind == "GRU":
                w_ih, w_hh = _gru_blocks(kernel, 1).T, _gru_blocks(recurrent, 1).T
                b_ih, b_hh = _gru_blocks(bias[0], 0), _gru_blocks(bias[1], 0)
            else:
                w_ih, w_hh, b_ih, b_hh = kernel.T, recurrent.T, bias, np.zeros_like(bias)
            getattr(module, f"weight_ih_l0{suffix}").copy_(torch.as_tensor(w_ih.copy()))
            getattr(module, f"weight_hh_l0{suffix}").copy_(torch.as_tensor(w_hh.copy()))
            getattr(module, f"bias_ih_l0{suffix}").copy_(torch.as_tensor(b_ih.copy()))
            getattr(module, f"bias_hh_l0{suffix}").copy_(torch.as_tensor(b_hh.copy()))
    return module


def _torch_grads_in_keras_layout(kind: str, module, suffix: str = "") -> list:
    """The torch module's parameter gradients as Keras's kernel, recurrent_kernel, bias."""
    w_ih = getattr(module, f"weight_ih_l0{suffix}").grad.numpy().T
    w_hh = getattr(module, f"weight_hh_l0{suffix}").grad.numpy().T
    b_ih = getattr(module, f"bias_ih_l0{suffix}").grad.numpy()
    b_hh = getattr(module, f"bias_hh_l0{suffix}").grad.numpy()
    if kind != "GRU":
        return [w_ih, w_hh, b_ih]

    def back(matrix, axis):  # torch's r, z, n -> Keras's z, r, h
        r, z, n = np.split(matrix, 3, axis=axis)
        return np.concatenate([z, r, n], axis=axis)

    return [back(w_ih, 1), back(w_hh, 1), np.stack([back(b_ih, 0), back(b_hh, 0)])]


LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composite"])
def test_recurrent_layer_matches_torch(dtype, kind, fused):
    weights = _keras_weights(kind, dtype)
    layer = LAYERS[kind](
        UNITS, return_sequences=True, return_state=True, dtype=np.dtype(dtype).name
    )
    layer.build((None, STEPS, FEATURES))
    layer.set_weights(weights)
    layer._fused = fused
    x = _rng(6).normal(size=(BATCH, STEPS, FEATURES)).astype(dtype)
    xt = Tensor(x, requires_grad=True)
    outputs = layer(xt)
    seed_weights = [
        _rng(10 + i).standard_normal(o.shape).astype(dtype) for i, o in enumerate(outputs)
    ]
    total = sum((o * w).sum() for o, w in zip(outputs, seed_weights, strict=True))
    total.backward()

    module = _torch_module(kind, weights, dtype)
    x_torch = _t(x, grad=True)
    sequence, final = module(x_torch)
    states = list(final) if kind == "LSTM" else [final]
    theirs = [sequence] + [s[0] for s in states]
    sum((t * _t(w)).sum() for t, w in zip(theirs, seed_weights, strict=True)).backward()

    for i, (ours, other) in enumerate(zip(outputs, theirs, strict=True)):
        _close(ours.data, other, dtype, f"output {i}", RECURRENT_FAN_IN)
    _close(xt.grad, x_torch.grad, dtype, "d input", RECURRENT_FAN_IN)
    expected = _torch_grads_in_keras_layout(kind, module)
    for name, variable, grad in zip(
        ("kernel", "recurrent_kernel", "bias"), layer.weights, expected, strict=True
    ):
        _close(variable.grad, grad, dtype, f"d {name}", RECURRENT_FAN_IN)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_matches_torch_bidirectional(dtype, kind):
    weights = _keras_weights(kind, dtype, seed=8) + _keras_weights(kind, dtype, seed=9)
    layer = Bidirectional(
        LAYERS[kind](UNITS, return_sequences=True, dtype=np.dtype(dtype).name),
        dtype=np.dtype(dtype).name,
    )
    layer.build((None, STEPS, FEATURES))
    layer.set_weights(weights)
    x = _rng(12).normal(size=(BATCH, STEPS, FEATURES)).astype(dtype)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    seed_weights = _backward_ours(out)

    module = _torch_module(kind, weights, dtype, bidirectional=True)
    x_torch = _t(x, grad=True)
    theirs, _ = module(x_torch)
    (theirs * _t(seed_weights)).sum().backward()
    _close(out.data, theirs, dtype, "output", RECURRENT_FAN_IN)
    _close(xt.grad, x_torch.grad, dtype, "d input", RECURRENT_FAN_IN)
    expected = _torch_grads_in_keras_layout(kind, module) + _torch_grads_in_keras_layout(
        kind, module, "_reverse"
    )
    for variable, grad in zip(layer.weights, expected, strict=True):
        _close(variable.grad, grad, dtype, f"d {variable.path}", RECURRENT_FAN_IN)
