"""Whole training runs against PyTorch: ``model.fit`` equals a hand-written torch loop.

Each case builds a small network in axonal, copies its initial ``get_weights()`` into the
equivalent ``torch.nn`` network (Dense kernel ``(in, out)`` = Linear weight transposed), trains
both for three epochs in the same batches (``shuffle=False``; the last batch may be short) and
compares the final weights. Each batch's loss is the per-batch mean, as Keras's
``'sum_over_batch_size'`` reduction and torch's ``reduction='mean'`` both compute it.

Conventions mapped onto torch:
- A softmax (sigmoid) output layer feeding a cross-entropy is computed by axonal from the
  logits, so the torch side uses ``cross_entropy`` (``binary_cross_entropy_with_logits``) on the
  last Linear's output.
- Keras SGD with momentum keeps ``velocity = mu * velocity - lr * g``, torch ``buf = mu * buf + g``
  and steps ``lr * buf``: with a constant learning rate the two are the same update.
- Keras Adam adds epsilon to ``sqrt(v)`` and scales by ``sqrt(1 - beta_2**t)`` afterwards; torch
  adds eps to ``sqrt(v) / sqrt(1 - beta_2**t)``. Setting torch's eps to
  ``epsilon / sqrt(1 - beta_2**t)`` before step t makes the two updates identical, so Keras's
  default ``epsilon=1e-7`` is kept rather than approximated.
- An L2 kernel regularizer adds ``l2 * sum(kernel**2)`` to the loss in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from axonal import optimizers, regularizers
from axonal.datasets import load_iris, standardize, train_test_split
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.utils import clear_session, set_random_seed
from tolerance import assert_sums_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

EPOCHS = 3
BATCH_SIZE = 10
DTYPES = ["float32", "float64"]


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(7)
    yield
    clear_session()


# ---------------------------------------------------------------- data


def iris_data():
    x, y = load_iris()
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=42)
    x_train, _ = standardize(x_train, x_test)
    return x_train, y_train  # 120 rows: 12 full batches per epoch


def regression_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 5))  # 64 rows: the last batch of each epoch has 4
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - x[:, 3] + 0.1 * rng.standard_normal(64)
    return x, y


def binary_data():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((55, 3))
    y = (x[:, 0] + x[:, 1] ** 2 - 0.5 > 0).astype(np.float64)
    return x, y


# ---------------------------------------------------------------- the two sides


@dataclass(frozen=True)
class Network:
    """A Dense stack, its loss and data, built the same way in axonal and torch."""

    id: str
    data: object  # () -> (x, y)
    layers: tuple  # (units, activation) per Dense layer
    loss: str
    torch_loss: object  # (last Linear's output, y tensor) -> batch-mean loss
    l2: float = 0.0  # kernel regularizer on every layer


def _sparse_ce(out, y):
    return TF.cross_entropy(out, y.long())


def _mse(out, y):
    return TF.mse_loss(out, y[:, None])  # y (n,) against a (n, 1) output, as Keras expands it


def _bce(out, y):
    return TF.binary_cross_entropy_with_logits(out, y[:, None])


NETWORKS = {
    "iris": Network(
        "iris",
        iris_data,
        ((4, "relu"), (3, "softmax")),
        "sparse_categorical_crossentropy",
        _sparse_ce,
    ),
    "regression": Network(
        "regression", regression_data, ((8, "tanh"), (6, "relu"), (1, None)), "mse", _mse
    ),
    "regression-l2": Network(
        "regression-l2", regression_data, ((8, "relu"), (1, None)), "mse", _mse, l2=0.01
    ),
    "binary": Network(
        "binary", binary_data, ((6, "tanh"), (1, "sigmoid")), "binary_crossentropy", _bce
    ),
}

TORCH_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, None: lambda t: t}
# the output activation is folded into the torch loss (see the module docstring)
OUTPUT_ACTIVATIONS = {"softmax", "sigmoid", None}

# (id, axonal optimizer, torch optimizer factory, per-step hook for torch before each step)
OPTIMIZERS = {
    "sgd": (lambda: optimizers.SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum": (
        lambda: optimizers.SGD(0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd-nesterov": (
        lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (
        lambda: optimizers.Adam(0.01),  # Keras defaults: betas 0.9, 0.999, epsilon 1e-7
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999)),
    ),
}


def keras_adam_eps(optimizer, step: int, epsilon: float = 1e-7) -> None:
    """Give torch Adam the eps that puts Keras's epsilon where Keras puts it, for step ``step``."""
    for group in optimizer.param_groups:
        beta_2 = group["betas"][1]
        group["eps"] = epsilon / math.sqrt(1.0 - beta_2**step)


def build_axonal(net: Network, dtype: str, n_features: int, optimizer) -> Sequential:
    model = Sequential()
    for i, (units, activation) in enumerate(net.layers):
        kwargs = {"input_dim": n_features} if i == 0 else {}
        reg = regularizers.L2(net.l2) if net.l2 else None
        model.add(
            Dense(units, activation=activation, kernel_regularizer=reg, dtype=dtype, **kwargs)
        )
    model.compile(optimizer=optimizer, loss=net.loss)
    return model


def build_torch(net: Network, weights: list, dtype) -> list:
    """``torch.nn.Linear`` layers holding axonal's weights (kernel transposed)."""
    linears = []
    for i, (units, _) in enumerate(net.layers):
        kernel, bias = weights[2 * i], weights[2 * i + 1]
        linear = torch.nn.Linear(kernel.shape[0], units, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias))
        linears.append(linear)
    return linears


def torch_forward(net: Network, linears: list, x):
    out = x
    for (_, activation), linear in zip(net.layers[:-1], linears[:-1], strict=True):
        out = TORCH_ACTIVATIONS[activation](linear(out))
    assert net.layers[-1][1] in OUTPUT_ACTIVATIONS
    return linears[-1](out)


def train_torch(net: Network, linears: list, make_optimizer, adam: bool, x, y) -> tuple:
    """Train ``linears`` in place; return (steps taken, per parameter the sum of |its changes|)."""
    params = [p for linear in linears for p in (linear.weight, linear.bias)]
    optimizer = make_optimizer(params)
    moved = [np.zeros(p.shape) for p in params]
    step = 0
    for _ in range(EPOCHS):
        for start in range(0, len(x), BATCH_SIZE):
            xb, yb = x[start : start + BATCH_SIZE], y[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = net.torch_loss(torch_forward(net, linears, xb), yb)
            if net.l2:
                loss = loss + sum(net.l2 * torch.sum(linear.weight**2) for linear in linears)
            loss.backward()
            step += 1
            if adam:
                keras_adam_eps(optimizer, step)
            before = [p.detach().numpy().astype(np.float64) for p in params]
            optimizer.step()
            for total, old, p in zip(moved, before, params, strict=True):
                total += np.abs(p.detach().numpy() - old)
    return step, moved


def torch_weights(linears: list) -> list:
    return [
        array
        for linear in linears
        for array in (linear.weight.detach().numpy().T, linear.bias.detach().numpy())
    ]


# ---------------------------------------------------------------- the comparison


def train_both(net_id: str, optimizer_id: str, dtype: str):
    """Train both sides; return initial, our and torch's final weights, history, and per weight
    the number of terms summed into it and the sum of their absolute values."""
    net = NETWORKS[net_id]
    make_ours, make_theirs = OPTIMIZERS[optimizer_id]
    x, y = net.data()
    x, y = x.astype(dtype), y.astype(dtype)
    model = build_axonal(net, dtype, x.shape[1], make_ours())
    initial = model.get_weights()
    linears = build_torch(net, initial, getattr(torch, dtype))

    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=False, verbose=0)
    steps, moved = train_torch(
        net,
        linears,
        make_theirs,
        optimizer_id == "adam",
        torch.from_numpy(x),
        torch.from_numpy(y),
    )
    # a final weight is its initial value plus one update per step, each a gradient summed over
    # a batch: BATCH_SIZE * steps terms, sized by the initial value and the steps' movements
    fan_in = steps * BATCH_SIZE
    moved = [m.T if m.ndim == 2 else m for m in moved]  # Linear weight -> Keras kernel
    magnitudes = [np.abs(w0.astype(np.float64)) + m for w0, m in zip(initial, moved, strict=True)]
    return initial, model.get_weights(), torch_weights(linears), history, fan_in, magnitudes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer_id", list(OPTIMIZERS))
@pytest.mark.parametrize("net_id", list(NETWORKS))
def test_fit_matches_a_torch_training_loop(net_id, optimizer_id, dtype):
    initial, ours, theirs, history, fan_in, magnitudes = train_both(net_id, optimizer_id, dtype)
    assert len(history.history["loss"]) == EPOCHS
    weights = zip(initial, ours, theirs, magnitudes, strict=True)
    for i, (start, got, want, magnitude) in enumerate(weights):
        assert got.dtype == np.dtype(dtype)
        # training moved every weight array, so equal final weights are not a trivial match
        assert not np.allclose(got, start), f"weight {i} did not change"
        assert_sums_close(
            got,
            want,
            fan_in=fan_in,
            magnitude=magnitude,
            err_msg=f"{net_id}/{optimizer_id}: weight {i}",
        )


def test_epoch_loss_matches_torch_mean_loss():
    # the reported epoch loss is the sample-weighted mean of the batch losses seen while training
    net = NETWORKS["regression"]
    x, y = net.data()
    model = build_axonal(net, "float64", x.shape[1], optimizers.SGD(0.0))
    linears = build_torch(net, model.get_weights(), torch.float64)
    history = model.fit(x, y, epochs=1, batch_size=BATCH_SIZE, shuffle=False, verbose=0)
    with torch.no_grad():
        out = torch_forward(net, linears, torch.from_numpy(x))
        expected = net.torch_loss(out, torch.from_numpy(y)).item()
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)
