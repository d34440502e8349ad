"""Optimizers: parity with PyTorch and with the Keras 3 equations, state, configs, behaviour."""

from __future__ import annotations

import contextlib
import json
import math
import warnings

import numpy as np
import pytest

from axonal import optimizers
from axonal.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    Optimizer,
    RMSprop,
)


class Var:
    """The minimal variable an optimizer accepts: an array updated in place and its path."""

    def __init__(self, data, path):
        self.data = data
        self.path = path


SHAPES = [(), (5,), (3, 4), (2, 3, 4)]
STEPS = 10
TOLERANCES = {
    np.float32: {"rtol": 2e-5, "atol": 2e-6},
    np.float64: {"rtol": 1e-10, "atol": 1e-12},
}
DTYPES = [np.float32, np.float64]


def make_problem(seed=0, grad_scale=1.0):
    """Return float64 starting weights and a sequence of per-step gradients, one per shape."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[grad_scale * rng.standard_normal(shape) for shape in SHAPES] for _ in range(STEPS)]
    return weights, grads


def make_vars(weights, dtype):
    return [Var(np.array(w, dtype=dtype), f"layer/w{i}") for i, w in enumerate(weights)]


def run_axonal(optimizer, weights, grads, dtype):
    variables = make_vars(weights, dtype)
    for step_grads in grads:
        optimizer.apply_gradients(
            [(np.asarray(g, dtype=dtype), v) for g, v in zip(step_grads, variables, strict=True)]
        )
    return [v.data for v in variables]


def assert_all_close(actual, expected, dtype):
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOLERANCES[dtype])


# ------------------------------------------------------------------ parity with PyTorch
#
# Mapping of conventions, so the comparisons are exact to rounding:
# - Keras SGD keeps velocity = mu * velocity - lr * g; torch keeps buf = mu * buf + g and steps
#   lr * buf. With a constant learning rate the two are the same (velocity = -lr * buf), also
#   for Nesterov.
# - Keras weight_decay is decoupled (w -= w * wd * lr before the step). That is torch's AdamW,
#   and for momentum-free SGD it equals torch SGD's L2 term (w - lr * (g + wd * w)).
# - epsilon sits in different places: Keras RMSprop and Adagrad add it inside the square root
#   (torch outside), Keras Adam adds "epsilon hat" to sqrt(v) before the sqrt(1 - beta_2**t)
#   correction (torch after it), Keras Adamax adds it to u (torch inside the max). Those cases
#   use epsilon=0 in both frameworks; the float64 NumPy transcriptions of the Keras equations
#   further down check the epsilon placement with a large epsilon.
# - torch NAdam's momentum schedule is 0.96 ** (t * momentum_decay); Keras uses 0.96 ** t,
#   so momentum_decay=1. Nadam and Adadelta place epsilon as Keras does.
# - torch Adagrad: initial_accumulator_value and lr_decay=0 map directly.
# - torch's clip_grad_norm_ divides by (norm + 1e-6), so norm clipping is done in torch ops by
#   hand (g * min(1, c / norm)); clip_grad_value_ matches clipvalue exactly.


def _torch_clip_norm(torch, params, clipnorm):
    for p in params:
        norm = torch.linalg.vector_norm(p.grad)
        p.grad.mul_(torch.clamp(clipnorm / norm, max=1.0))


def _torch_clip_global_norm(torch, params, clipnorm):
    norm = torch.sqrt(sum(torch.sum(p.grad * p.grad) for p in params))
    for p in params:
        p.grad.mul_(torch.clamp(clipnorm / norm, max=1.0))


def _torch_clip_value(torch, params, clipvalue):
    torch.nn.utils.clip_grad_value_(params, clipvalue)


# (id, axonal optimizer factory, torch optimizer factory, torch clipping or None, grad scale)
TORCH_CASES = [
    ("sgd", lambda: SGD(0.1), lambda t, p: t.optim.SGD(p, lr=0.1), None, 1.0),
    (
        "sgd_momentum",
        lambda: SGD(0.1, momentum=0.9),
        lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9),
        None,
        1.0,
    ),
    (
        "sgd_nesterov",
        lambda: SGD(0.1, momentum=0.9, nesterov=True),
        lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        None,
        1.0,
    ),
    (
        "sgd_weight_decay",
        lambda: SGD(0.1, weight_decay=0.05),
        lambda t, p: t.optim.SGD(p, lr=0.1, weight_decay=0.05),
        None,
        1.0,
    ),
    (
        "rmsprop",
        lambda: RMSprop(0.01, rho=0.9, epsilon=0.0),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0),
        None,
        1.0,
    ),
    (
        "rmsprop_centered_momentum",
        lambda: RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=0.0, centered=True),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.8, momentum=0.5, eps=0.0, centered=True),
        None,
        1.0,
    ),
    (
        "adagrad",
        lambda: Adagrad(0.1, initial_accumulator_value=0.1, epsilon=0.0),
        lambda t, p: t.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0),
        None,
        1.0,
    ),
    (
        "adadelta",
        lambda: Adadelta(1.0, rho=0.95, epsilon=1e-7),
        lambda t, p: t.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7),
        None,
        1.0,
    ),
    (
        "adam",
        lambda: Adam(0.01, epsilon=0.0),
        lambda t, p: t.optim.Adam(p, lr=0.01, eps=0.0),
        None,
        1.0,
    ),
    (
        "adam_amsgrad",
        lambda: Adam(0.01, beta_1=0.8, beta_2=0.9, epsilon=0.0, amsgrad=True),
        lambda t, p: t.optim.Adam(p, lr=0.01, betas=(0.8, 0.9), eps=0.0, amsgrad=True),
        None,
        1.0,
    ),
    (
        "adam_weight_decay",
        lambda: Adam(0.01, epsilon=0.0, weight_decay=0.1),
        lambda t, p: t.optim.AdamW(p, lr=0.01, eps=0.0, weight_decay=0.1),
        None,
        1.0,
    ),
    (
        "adamw",
        lambda: AdamW(0.01, weight_decay=0.1, epsilon=0.0),
        lambda t, p: t.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=0.0),
        None,
        1.0,
    ),
    (
        "adamw_amsgrad",
        lambda: AdamW(0.01, epsilon=0.0, amsgrad=True),
        lambda t, p: t.optim.AdamW(p, lr=0.01, weight_decay=0.004, eps=0.0, amsgrad=True),
        None,
        1.0,
    ),
    (
        "adamax",
        lambda: Adamax(0.01, epsilon=0.0),
        lambda t, p: t.optim.Adamax(p, lr=0.01, eps=0.0),
        None,
        1.0,
    ),
    (
        "nadam",
        lambda: Nadam(0.01, epsilon=1e-7),
        lambda t, p: t.optim.NAdam(p, lr=0.01, eps=1e-7, momentum_decay=1.0),
        None,
        1.0,
    ),
    (
        "sgd_momentum_clipnorm",
        lambda: SGD(0.1, momentum=0.9, clipnorm=1.0),
        lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda t, p: _torch_clip_norm(t, p, 1.0),
        3.0,
    ),
    (
        "rmsprop_clipvalue",
        lambda: RMSprop(0.01, epsilon=0.0, clipvalue=0.5),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0),
        lambda t, p: _torch_clip_value(t, p, 0.5),
        1.0,
    ),
    (
        "sgd_global_clipnorm",
        lambda: SGD(0.1, momentum=0.5, global_clipnorm=2.0),
        lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.5),
        lambda t, p: _torch_clip_global_norm(t, p, 2.0),
        3.0,
    ),
]


@contextlib.contextmanager
def torch_default_dtype(torch, dtype):
    """Run with torch's default dtype matching ``dtype``.

    torch keeps scalar state (the step count, NAdam's mu_product) in the default dtype, float32
    unless set, which would cost float64 runs their precision.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def run_torch(torch, make_optimizer, clip, weights, grads, dtype):
    params = [torch.tensor(np.array(w, dtype=dtype), requires_grad=True) for w in weights]
    with torch_default_dtype(torch, dtype):
        optimizer = make_optimizer(torch, params)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = torch.tensor(np.array(g, dtype=dtype))
            if clip is not None:
                clip(torch, params)
            optimizer.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    "make_axonal, make_torch, clip, grad_scale",
    [case[1:] for case in TORCH_CASES],
    ids=[case[0] for case in TORCH_CASES],
)
def test_matches_torch_on_random_gradients(make_axonal, make_torch, clip, grad_scale, dtype):
    torch = pytest.importorskip("torch")
    weights, grads = make_problem(seed=1, grad_scale=grad_scale)
    expected = run_torch(torch, make_torch, clip, weights, grads, dtype)
    actual = run_axonal(make_axonal(), weights, grads, dtype)
    assert_all_close(actual, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    "make_axonal, make_torch",
    [
        (
            lambda: SGD(0.05, momentum=0.9, nesterov=True),
            lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        ),
        (lambda: Adam(0.05, epsilon=0.0), lambda t, p: t.optim.Adam(p, lr=0.05, eps=0.0)),
        (
            lambda: Nadam(0.05),
            lambda t, p: t.optim.NAdam(p, lr=0.05, eps=1e-7, momentum_decay=1.0),
        ),
    ],
    ids=["sgd_nesterov", "adam", "nadam"],
)
def test_matches_torch_on_quadratic_loss(make_axonal, make_torch, dtype):
    """Each framework differentiates loss = 0.5 * sum(a * (w - target)**2) itself."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    weights = [rng.standard_normal(shape) for shape in SHAPES]
    targets = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    scales = [rng.uniform(0.5, 2.0, shape).astype(dtype) for shape in SHAPES]

    params = [torch.tensor(np.array(w, dtype=dtype), requires_grad=True) for w in weights]
    with torch_default_dtype(torch, dtype):
        torch_optimizer = make_torch(torch, params)
        for _ in range(STEPS):
            torch_optimizer.zero_grad()
            loss = sum(
                0.5 * torch.sum(torch.tensor(a) * (p - torch.tensor(t)) ** 2)
                for p, t, a in zip(params, targets, scales, strict=True)
            )
            loss.backward()
            torch_optimizer.step()

    variables = make_vars(weights, dtype)
    optimizer = make_axonal()
    for _ in range(STEPS):
        grads = [a * (v.data - t) for v, t, a in zip(variables, targets, scales, strict=True)]
        optimizer.apply(grads, variables)

    assert_all_close([v.data for v in variables], [p.detach().numpy() for p in params], dtype)


# ------------------------------------------------------------------ Keras 3 equations in NumPy
#
# A direct float64 transcription of Keras 3's update_step formulas (keras/src/optimizers/*.py)
# and of its base optimizer's clipping and weight decay, written for clarity, not speed. These
# cover what torch cannot: Keras's epsilon placement, Nadam with a non-default epsilon,
# learning-rate schedules.


def keras_clip(grads, config):
    clipnorm = config.get("clipnorm")
    global_clipnorm = config.get("global_clipnorm")
    clipvalue = config.get("clipvalue")
    if clipnorm:
        return [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        scale = global_clipnorm * min(1.0 / norm, 1.0 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def keras_reference(kind, config, weights, grads, lr_at=None):
    """Run the Keras 3 equations in float64 and return the final weights."""
    c = config
    w = [np.array(x, dtype=np.float64) for x in weights]
    s = [{} for _ in w]
    u_product = 1.0
    for step_index, step_grads in enumerate(grads):
        lr = lr_at(step_index) if lr_at else c["learning_rate"]
        t = step_index + 1
        step_grads = keras_clip([np.array(g, dtype=np.float64) for g in step_grads], c)
        if c.get("weight_decay"):
            w = [x - x * c["weight_decay"] * lr for x in w]
        if kind == "nadam":
            u_product = u_product * c["beta_1"] * (1.0 - 0.5 * 0.96**t)
        for i, g in enumerate(step_grads):
            st = s[i]
            x = w[i]
            if kind == "sgd":
                mu = c["momentum"]
                if mu:
                    m = st.get("m", 0.0) * mu - g * lr
                    st["m"] = m
                    x = x + (m * mu - g * lr if c["nesterov"] else m)
                else:
                    x = x - g * lr
            elif kind == "rmsprop":
                rho, eps = c["rho"], c["epsilon"]
                v = rho * st.get("v", 0.0) + (1 - rho) * g**2
                st["v"] = v
                if c["centered"]:
                    a = rho * st.get("a", 0.0) + (1 - rho) * g
                    st["a"] = a
                    denominator = v - a**2 + eps
                else:
                    denominator = v + eps
                increment = lr * g / np.sqrt(denominator)
                if c["momentum"] > 0:
                    mom = c["momentum"] * st.get("mom", 0.0) + increment
                    st["mom"] = mom
                    x = x - mom
                else:
                    x = x - increment
            elif kind == "adagrad":
                acc = st.get("acc", c["initial_accumulator_value"]) + g**2
                st["acc"] = acc
                x = x - lr * g / np.sqrt(acc + c["epsilon"])
            elif kind == "adadelta":
                rho, eps = c["rho"], c["epsilon"]
                acc_g = rho * st.get("acc_g", 0.0) + (1 - rho) * g**2
                delta = -np.sqrt(st.get("acc_d", 0.0) + eps) * g / np.sqrt(acc_g + eps)
                st["acc_g"] = acc_g
                st["acc_d"] = rho * st.get("acc_d", 0.0) + (1 - rho) * delta**2
                x = x + lr * delta
            elif kind in ("adam", "adamw"):
                b1, b2 = c["beta_1"], c["beta_2"]
                alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                m = st.get("m", 0.0) + (g - st.get("m", 0.0)) * (1 - b1)
                v = st.get("v", 0.0) + (g**2 - st.get("v", 0.0)) * (1 - b2)
                st["m"], st["v"] = m, v
                if c["amsgrad"]:
                    v = np.maximum(st.get("v_hat", 0.0), v)
                    st["v_hat"] = v
                x = x - m * alpha / (np.sqrt(v) + c["epsilon"])
            elif kind == "adamax":
                b1, b2 = c["beta_1"], c["beta_2"]
                m = st.get("m", 0.0) + (g - st.get("m", 0.0)) * (1 - b1)
                u = np.maximum(b2 * st.get("u", 0.0), np.abs(g))
                st["m"], st["u"] = m, u
                x = x - lr * m / ((1 - b1**t) * (u + c["epsilon"]))
            elif kind == "nadam":
                b1, b2 = c["beta_1"], c["beta_2"]
                u_t = b1 * (1.0 - 0.5 * 0.96**t)
                u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
                u_product_t_1 = u_product * u_t_1
                m = st.get("m", 0.0) + (g - st.get("m", 0.0)) * (1 - b1)
                v = st.get("v", 0.0) + (g**2 - st.get("v", 0.0)) * (1 - b2)
                st["m"], st["v"] = m, v
                m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product)
                v_hat = v / (1 - b2**t)
                x = x - m_hat * lr / (np.sqrt(v_hat) + c["epsilon"])
            w[i] = x
    return w


# Large epsilons so that a misplaced epsilon shows up well above rounding.
REFERENCE_CASES = [
    ("sgd", SGD(0.1)),
    ("sgd", SGD(0.1, momentum=0.9)),
    ("sgd", SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("rmsprop", RMSprop(0.01, epsilon=0.1)),
    ("rmsprop", RMSprop(0.01, rho=0.8, momentum=0.7, epsilon=0.1, centered=True)),
    ("adagrad", Adagrad(0.1, initial_accumulator_value=0.2, epsilon=0.1)),
    ("adadelta", Adadelta(1.0, rho=0.9, epsilon=0.01)),
    ("adam", Adam(0.01, epsilon=0.1)),
    ("adam", Adam(0.01, beta_1=0.5, beta_2=0.8, epsilon=0.1, amsgrad=True)),
    ("adam", Adam(0.01, epsilon=0.1, weight_decay=0.2)),
    ("adamw", AdamW(0.01, epsilon=0.1)),
    ("adamax", Adamax(0.01, epsilon=0.1)),
    ("adamax", Adamax(0.01, beta_1=0.5, beta_2=0.7, epsilon=0.1, weight_decay=0.3)),
    ("nadam", Nadam(0.01, epsilon=0.1)),
    ("nadam", Nadam(0.01, beta_1=0.8, beta_2=0.9, epsilon=0.1, weight_decay=0.1)),
    ("adam", Adam(0.01, clipnorm=1.0)),
    ("adam", Adam(0.01, global_clipnorm=2.0)),
    ("sgd", SGD(0.1, momentum=0.9, clipnorm=1.0)),
    ("sgd", SGD(0.1, momentum=0.9, global_clipnorm=2.0)),
    ("sgd", SGD(0.1, momentum=0.9, clipvalue=0.5)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    "kind, prototype",
    REFERENCE_CASES,
    ids=[f"{kind}_{i}" for i, (kind, _) in enumerate(REFERENCE_CASES)],
)
def test_matches_keras_equations(kind, prototype, dtype):
    weights, grads = make_problem(seed=3, grad_scale=2.0)
    config = prototype.get_config()
    expected = keras_reference(kind, config, weights, grads)
    actual = run_axonal(type(prototype).from_config(config), weights, grads, dtype)
    assert_all_close(actual, expected, dtype)


@pytest.mark.parametrize("kind, cls", [("sgd", SGD), ("adam", Adam), ("nadam", Nadam)])
def test_schedule_is_evaluated_at_the_current_step(kind, cls):
    def schedule(step):
        return 0.1 / (1.0 + step)

    weights, grads = make_problem(seed=4)
    optimizer = cls(learning_rate=schedule, weight_decay=0.1)
    # A plain callable has no config: take the other hyper-parameters from a float twin.
    reference_config = cls(learning_rate=0.0, weight_decay=0.1).get_config()
    expected = keras_reference(kind, reference_config, weights, grads, lr_at=schedule)
    actual = run_axonal(optimizer, weights, grads, np.float64)
    assert_all_close(actual, expected, np.float64)
    assert optimizer.learning_rate == schedule(STEPS)


# ------------------------------------------------------------------ state

ALL_OPTIMIZERS = [
    SGD(0.1),
    SGD(0.1, momentum=0.9, nesterov=True),
    RMSprop(0.01, momentum=0.5, centered=True),
    Adagrad(0.1),
    Adadelta(1.0),
    Adam(0.01),
    Adam(0.01, amsgrad=True),
    AdamW(0.01),
    Adamax(0.01),
    Nadam(0.01),
]
OPTIMIZER_IDS = [repr(type(o).__name__) + str(i) for i, o in enumerate(ALL_OPTIMIZERS)]


def fresh(prototype):
    return type(prototype).from_config(prototype.get_config())


@pytest.mark.parametrize("prototype", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_state_round_trip_resumes_exactly(prototype, dtype):
    weights, grads = make_problem(seed=5)
    uninterrupted = run_axonal(fresh(prototype), weights, grads, dtype)

    first = fresh(prototype)
    halfway = run_axonal(first, weights, grads[:5], dtype)
    state = first.get_state()
    # A new optimizer and new variable objects: state is found again by path alone.
    resumed = fresh(prototype)
    resumed.set_state(state)
    assert resumed.iterations == 5
    variables = [Var(w.copy(), f"layer/w{i}") for i, w in enumerate(halfway)]
    for step_grads in grads[5:]:
        resumed.apply([g.astype(dtype) for g in step_grads], variables)

    for got, want in zip(variables, uninterrupted, strict=True):
        np.testing.assert_array_equal(got.data, want)
    assert sorted(resumed.get_state()) == sorted(state)


def test_state_keys_and_copies():
    optimizer = Adam(0.01, amsgrad=True)
    variables = [Var(np.ones((2, 3), np.float32), "dense_1/kernel")]
    optimizer.apply([np.ones((2, 3), np.float32)], variables)
    state = optimizer.get_state()
    assert sorted(state) == [
        "dense_1/kernel/m",
        "dense_1/kernel/v",
        "dense_1/kernel/v_hat",
        "iterations",
    ]
    assert int(state["iterations"]) == 1
    state["dense_1/kernel/m"][...] = 123.0
    assert not np.any(optimizer.get_state()["dense_1/kernel/m"] == 123.0)


def test_nadam_state_includes_u_product():
    optimizer = Nadam()
    optimizer.apply([np.ones(2)], [Var(np.zeros(2), "w")])
    state = optimizer.get_state()
    assert float(state["u_product"]) == pytest.approx(0.9 * (1 - 0.5 * 0.96))
    with pytest.raises(ValueError, match="'u_product'"):
        Nadam().set_state({"iterations": np.array(1)})


def test_set_state_on_used_optimizer_replaces_state():
    weights, grads = make_problem(seed=6)
    source = Adam(0.01)
    run_axonal(source, weights, grads[:3], np.float64)
    target = Adam(0.01)
    run_axonal(target, weights, grads[:7], np.float64)
    target.set_state(source.get_state())
    assert target.iterations == 3
    for key, value in source.get_state().items():
        np.testing.assert_array_equal(target.get_state()[key], value)


def test_set_state_errors_name_the_key():
    optimizer = Adam()
    variable = Var(np.zeros((2, 2)), "dense/kernel")
    optimizer.apply([np.ones((2, 2))], [variable])
    good = optimizer.get_state()

    missing = dict(good)
    del missing["dense/kernel/v"]
    with pytest.raises(ValueError, match="'dense/kernel/v'"):
        optimizer.set_state(missing)

    with pytest.raises(ValueError, match="'dense/kernel/velocity'"):
        optimizer.set_state({**good, "dense/kernel/velocity": np.zeros((2, 2))})

    with pytest.raises(ValueError, match="'dense/kernel/m'.*shape"):
        optimizer.set_state({**good, "dense/kernel/m": np.zeros(3)})

    with pytest.raises(ValueError, match="'iterations'"):
        optimizer.set_state({k: v for k, v in good.items() if k != "iterations"})

    with pytest.raises(ValueError, match="iterations"):
        optimizer.set_state({**good, "iterations": np.array(-1)})

    # A failed set_state changes nothing.
    np.testing.assert_array_equal(optimizer.get_state()["dense/kernel/m"], good["dense/kernel/m"])


def test_restored_state_is_checked_against_the_variable_on_first_step():
    optimizer = Adam()
    optimizer.set_state({"iterations": np.array(4), "w/m": np.zeros(3), "w/v": np.zeros(3)})
    variable = Var(np.zeros(4), "w")
    with pytest.raises(ValueError, match="'w/m'.*shape"):
        optimizer.apply([np.ones(4)], [variable])
    np.testing.assert_array_equal(variable.data, np.zeros(4))


def test_restored_state_takes_the_variable_dtype():
    optimizer = Adam()
    optimizer.set_state({"iterations": np.array(2), "w/m": np.ones(3), "w/v": np.ones(3)})
    variable = Var(np.zeros(3, np.float32), "w")
    optimizer.apply([np.ones(3, np.float32)], [variable])
    assert variable.data.dtype == np.float32
    assert all(
        value.dtype == np.float32
        for key, value in optimizer.get_state().items()
        if key.startswith("w/")
    )


def test_same_path_with_another_shape_is_refused():
    optimizer = SGD(0.1, momentum=0.9)
    optimizer.apply([np.ones(3)], [Var(np.zeros(3), "w")])
    with pytest.raises(ValueError, match="'w'"):
        optimizer.apply([np.ones(4)], [Var(np.zeros(4), "w")])


# ------------------------------------------------------------------ configs and lookup


@pytest.mark.parametrize("prototype", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_config_round_trip(prototype):
    config = prototype.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(prototype).from_config(config)
    assert type(rebuilt) is type(prototype)
    assert rebuilt.get_config() == config
    via_registry = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(prototype))))
    assert type(via_registry) is type(prototype)
    assert via_registry.get_config() == config
    assert optimizers.get(optimizers.serialize(prototype)).get_config() == config


def test_keras_only_config_keys():
    keras_config = {
        "name": "adam",
        "learning_rate": 0.002,
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "ema_momentum": 0.99,
        "ema_overwrite_frequency": None,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-07,
        "amsgrad": False,
    }
    assert Adam.from_config(keras_config).learning_rate == 0.002
    with pytest.raises(ValueError, match="use_ema"):
        Adam.from_config({**keras_config, "use_ema": True})


class HalvingSchedule:
    """A schedule with a config, as schedules.py classes have."""

    def __init__(self, initial_learning_rate):
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        return self.initial_learning_rate * 0.5**step

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_schedule_config_round_trip():
    schedule = HalvingSchedule(0.4)
    optimizer = SGD(learning_rate=schedule)
    config = optimizer.get_config()
    assert config["learning_rate"] == {
        "class_name": "HalvingSchedule",
        "config": {"initial_learning_rate": 0.4},
    }
    # Not registered, so it is resolved through custom_objects.
    rebuilt = SGD.from_config(
        json.loads(json.dumps(config)), custom_objects={"HalvingSchedule": HalvingSchedule}
    )
    assert isinstance(rebuilt._learning_rate, HalvingSchedule)
    rebuilt.apply([np.ones(1)], [Var(np.zeros(1), "w")])
    assert rebuilt.learning_rate == pytest.approx(0.2)


def test_plain_callable_learning_rate_cannot_be_serialized():
    with pytest.raises(TypeError, match="get_config"):
        SGD(learning_rate=lambda step: 0.1).get_config()


def test_learning_rate_setter():
    optimizer = Adam(0.01)
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate == 0.5
    assert isinstance(optimizer.learning_rate, float)
    scheduled = Adam(lambda step: 0.1)
    with pytest.raises(TypeError, match="schedule"):
        scheduled.learning_rate = 0.2
    with pytest.raises(ValueError, match="learning_rate"):
        Adam(learning_rate="fast")


def test_get_by_name_and_instance():
    assert isinstance(optimizers.get("adam"), Adam)
    assert isinstance(optimizers.get("Adam"), Adam)
    assert isinstance(optimizers.get("sgd"), SGD)
    assert optimizers.get("rmsprop").learning_rate == 0.001
    instance = Nadam()
    assert optimizers.get(instance) is instance


def test_get_unknown_name_suggests_close_names():
    with pytest.raises(ValueError) as error:
        optimizers.get("adma")
    message = str(error.value)
    assert "'adma'" in message
    assert "Did you mean" in message
    assert "'adam'" in message


def test_get_rejects_other_types():
    with pytest.raises(TypeError, match="int"):
        optimizers.get(3)


def test_defaults_follow_keras():
    assert SGD().learning_rate == 0.01
    for cls in (RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam):
        assert cls().learning_rate == 0.001
    assert AdamW().weight_decay == 0.004
    assert RMSprop().rho == 0.9
    assert Adadelta().rho == 0.95
    assert Adagrad().initial_accumulator_value == 0.1
    assert Adam().epsilon == 1e-7
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(weight_decay=None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clipnorm": 1.0, "global_clipnorm": 1.0},
        {"clipnorm": 1.0, "clipvalue": 1.0},
        {"clipvalue": 1.0, "global_clipnorm": 1.0},
    ],
)
def test_only_one_clipping_option(kwargs):
    with pytest.raises(ValueError, match="Only one of"):
        Adam(**kwargs)


def test_invalid_hyper_parameters():
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="clipnorm"):
        SGD(clipnorm=-1.0)


# ------------------------------------------------------------------ behaviour of a step


@pytest.mark.parametrize("prototype", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_float32_stays_float32(prototype):
    optimizer = fresh(prototype)
    variables = make_vars(make_problem()[0], np.float32)
    for _ in range(3):
        # float64 gradients are cast to the variable's dtype, as Keras does.
        optimizer.apply([np.ones(v.data.shape) for v in variables], variables)
    for v in variables:
        assert v.data.dtype == np.float32
    for key, value in optimizer.get_state().items():
        if key != "iterations" and "/" in key:
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("prototype", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_updates_in_place(prototype):
    optimizer = fresh(prototype)
    data = np.ones((3, 4), np.float32)
    view = data[0]
    variable = Var(data, "w")
    optimizer.apply([np.full((3, 4), 0.5, np.float32)], [variable])
    assert variable.data is data
    assert not np.all(view == 1.0)


def test_none_gradients_are_skipped():
    optimizer = Adam(0.1)
    a = Var(np.ones(3), "a")
    b = Var(np.ones(3), "b")
    with pytest.warns(UserWarning, match="'b'"):
        optimizer.apply_gradients([(np.ones(3), a), (None, b)])
    assert optimizer.iterations == 1
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert not np.allclose(a.data, 1.0)
    assert not any(key.startswith("b/") for key in optimizer.get_state())
    with pytest.raises(ValueError, match="No gradients"):
        optimizer.apply([None], [b])
    assert optimizer.iterations == 1


def test_empty_gradient_list_is_a_no_op():
    optimizer = SGD()
    optimizer.apply([], [])
    assert optimizer.iterations == 0


@pytest.mark.parametrize(
    "kwargs", [{"clipnorm": 0.1}, {"clipvalue": 0.1}, {"global_clipnorm": 0.1}]
)
def test_clipping_does_not_modify_the_callers_gradients(kwargs):
    optimizer = SGD(0.1, momentum=0.9, **kwargs)
    grads = [np.full(3, 5.0), np.full((2, 2), -5.0)]
    originals = [g.copy() for g in grads]
    variables = [Var(np.zeros(3), "a"), Var(np.zeros((2, 2)), "b")]
    optimizer.apply(grads, variables)
    for g, original in zip(grads, originals, strict=True):
        np.testing.assert_array_equal(g, original)
    # The clipped step is small: lr * 0.1 at most per element.
    assert np.all(np.abs(variables[0].data) <= 0.01 + 1e-12)


def test_global_clipnorm_non_finite_norm_gives_nan():
    optimizer = SGD(0.1, global_clipnorm=1.0)
    variable = Var(np.zeros(2), "w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        optimizer.apply([np.array([np.inf, 1.0])], [variable])
    assert np.all(np.isnan(variable.data))


def test_grads_are_read_only():
    """No update writes into the gradient arrays (it may be the caller's)."""
    for prototype in ALL_OPTIMIZERS:
        optimizer = fresh(prototype)
        grad = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
        grad.flags.writeable = False
        optimizer.apply([grad], [Var(np.ones((2, 3)), "w")])


def test_shape_mismatch_changes_nothing():
    optimizer = Adam(0.1)
    a = Var(np.ones(3), "a")
    b = Var(np.ones(2), "b")
    with pytest.raises(ValueError, match="'b'.*\\(3,\\).*\\(2,\\)"):
        optimizer.apply([np.ones(3), np.ones(3)], [a, b])
    np.testing.assert_array_equal(a.data, np.ones(3))
    assert optimizer.iterations == 0
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        optimizer.apply([np.ones(3), np.ones(3)], [a])


def test_sgd_and_weight_decay_by_hand():
    optimizer = SGD(0.5, weight_decay=0.1)
    variable = Var(np.array([2.0, -4.0]), "w")
    optimizer.apply([np.array([1.0, 1.0])], [variable])
    # decay first: w * (1 - 0.1 * 0.5), then w -= 0.5 * g
    np.testing.assert_allclose(variable.data, [2.0 * 0.95 - 0.5, -4.0 * 0.95 - 0.5])


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer().apply([np.ones(1)], [Var(np.zeros(1), "w")])


def test_adam_first_step_is_learning_rate_times_sign():
    # With bias correction, Adam's first step is lr * g / (|g| + eps') for every element.
    optimizer = Adam(0.1, epsilon=0.0)
    variable = Var(np.zeros(4), "w")
    optimizer.apply([np.array([3.0, -0.2, 7.0, -1e-3])], [variable])
    np.testing.assert_allclose(variable.data, [-0.1, 0.1, -0.1, 0.1], rtol=1e-12)
    assert math.isclose(optimizer.learning_rate, 0.1)
