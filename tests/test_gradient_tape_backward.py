"""The PyTorch-style loop: ``loss.backward(); optimizer.step(); optimizer.zero_grad()``.

``backward`` adds into each variable's ``.grad`` as PyTorch does; ``step`` applies ``.grad`` and
leaves it; ``zero_grad`` clears it. Two steps equal torch's SGD and Adam weight for weight, a
second ``backward`` without ``zero_grad`` accumulates, and a ``GradientTape`` never does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from axonal import GradientTape, losses, optimizers
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.utils import clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(11)
    yield
    clear_session()


def mlp(dtype="float64", n_in=4):
    return Sequential(
        [
            Dense(5, activation="tanh", input_dim=n_in, dtype=dtype),
            Dense(3, activation="softmax", dtype=dtype),
        ]
    )


def data(n=6, n_in=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.integers(0, classes, n)


def _torch_mlp(torch, weights):
    return [torch.tensor(w, requires_grad=True) for w in weights]


def _torch_loss(torch, params, x, y):
    hidden = torch.tanh(torch.from_numpy(x) @ params[0] + params[1])
    logits = hidden @ params[2] + params[3]
    return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))


@pytest.mark.parametrize(
    "make_ours, make_theirs, adam",
    [
        (lambda: optimizers.SGD(0.3), lambda t, p: t.optim.SGD(p, lr=0.3), False),
        (
            lambda: optimizers.SGD(0.3, momentum=0.9),
            lambda t, p: t.optim.SGD(p, lr=0.3, momentum=0.9),
            False,
        ),
        (lambda: optimizers.Adam(0.05), lambda t, p: t.optim.Adam(p, lr=0.05), True),
    ],
    ids=["sgd", "sgd_momentum", "adam"],
)
def test_backward_step_zero_grad_equals_torch(make_ours, make_theirs, adam):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((24, 4))
    y = rng.integers(0, 3, 24)
    model = mlp()
    params = _torch_mlp(torch, model.get_weights())
    theirs = make_theirs(torch, params)
    ours = make_ours()
    loss_fn = losses.SparseCategoricalCrossentropy()
    variables = model.trainable_weights
    for step, start in enumerate((0, 12), start=1):
        xb, yb = x[start : start + 12], y[start : start + 12]
        loss = loss_fn(yb, model(xb, training=True))
        loss.backward()
        ours.step(variables)
        ours.zero_grad(variables)

        _torch_loss(torch, params, xb, yb).backward()
        if adam:
            # Keras adds epsilon to sqrt(v) before the bias correction, torch after it
            for group in theirs.param_groups:
                group["eps"] = 1e-7 / math.sqrt(1.0 - group["betas"][1] ** step)
        theirs.step()
        theirs.zero_grad()
        assert all(v.grad is None for v in variables)
    for a, p in zip(model.get_weights(), params, strict=True):
        np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_step_and_zero_grad_default_to_built_variables():
    x, y = data()
    model = mlp()
    twin = mlp()
    twin.set_weights(model.get_weights())
    built = optimizers.SGD(0.2)
    built.build(model.trainable_weights)
    explicit = optimizers.SGD(0.2)
    for m in (model, twin):
        losses.SparseCategoricalCrossentropy()(y, m(x, training=True)).backward()
    built.step()
    built.zero_grad()
    explicit.step(twin.trainable_weights)
    explicit.zero_grad(twin.trainable_weights)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(v.grad is None for v in model.trainable_weights)


@pytest.mark.parametrize("after_fit", [False, True], ids=["fresh", "after_fit"])
def test_second_backward_without_zero_grad_accumulates_but_tapes_never_do(after_fit):
    model = mlp()
    x, y = data(n=16)
    if after_fit:
        # fit packs the gradients into one buffer that backward writes directly
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    loss_fn = losses.SparseCategoricalCrossentropy()
    variables = model.trainable_weights
    for v in variables:
        v.grad = None
    loss_fn(y, model(x, training=True)).backward()
    once = [v.grad.copy() for v in variables]
    loss_fn(y, model(x, training=True)).backward()
    for v, g in zip(variables, once, strict=True):
        np.testing.assert_allclose(v.grad, 2 * g, rtol=1e-12)
    for _ in range(2):
        with GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        for grad, g in zip(tape.gradient(loss, variables), once, strict=True):
            np.testing.assert_allclose(grad, g, rtol=1e-12)
    for v, g in zip(variables, once, strict=True):
        np.testing.assert_allclose(v.grad, 2 * g, rtol=1e-12)


def test_optimizer_errors_name_both_counts_and_the_fix():
    model = mlp()
    variables = model.trainable_weights
    grads = [np.zeros_like(v.data) for v in variables]
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="got 3 gradients for 4 variables"):
        opt.apply(grads[:3], variables)
    with pytest.raises(TypeError, match=r"\(gradient, variable\) pairs"):
        opt.apply_gradients(grads)
    with pytest.raises(ValueError, match=r"Call loss.backward\(\) before optimizer.step\(\)"):
        opt.step(variables)
    with pytest.raises(ValueError, match=r"optimizer.build\(model.trainable_weights\)"):
        opt.step()
    with pytest.raises(ValueError, match=r"zero_grad\(\) needs the variables"):
        opt.zero_grad()
    assert opt.iterations == 0
