"""The engine: accumulation, shared nodes, deep graphs, no_grad, dtype discipline, stability."""

from __future__ import annotations

import numpy as np
import pytest

from axonal import autograd
from axonal import functional as F
from axonal.autograd import enable_grad, is_grad_enabled, no_grad, unbroadcast
from axonal.tensor import Tensor
from test_gradcheck import CASES, Case


def _leaf(values, dtype=np.float64) -> Tensor:
    return Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------- accumulation and shared nodes


def test_gradient_accumulates_across_backward_calls():
    x = _leaf([1.0, -2.0, 3.0])
    (x * 2.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 + 2 * x.data)
    x.zero_grad()
    assert x.grad is None


def test_tensor_used_twice_in_one_graph():
    x = _leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)

    y = _leaf([1.0, -2.0, 3.0])
    (y + y).sum().backward()
    np.testing.assert_allclose(y.grad, [2.0, 2.0, 2.0])


def test_diamond_graph_sums_both_paths():
    x = _leaf([0.5, -1.5])
    y = x * 3.0
    (y * y + y).sum().backward()
    np.testing.assert_allclose(x.grad, (2 * y.data + 1) * 3.0)


def test_max_and_min_share_the_gradient_between_ties():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    (F.max(x, axis=1).sum() + F.min(x, axis=1).sum()).backward()
    np.testing.assert_allclose(x.grad, [[1.0, 0.5, 0.5], [0.5, 0.5, 1.0]])


def test_constant_inputs_get_no_gradient():
    x = _leaf([[1.0, 2.0]])
    w = Tensor(np.array([[3.0], [4.0]]))
    (x @ w).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad, [[3.0, 4.0]])


def test_detach_cuts_the_graph():
    x = _leaf([1.0, 2.0])
    y = x * 2.0
    z = y.detach() * x
    z.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)


# ---------------------------------------------------------------- deep graphs and freeing


DEPTH = 5000


def test_deep_chain_backward_is_iterative_and_frees_the_graph():
    x = _leaf([1.0, 2.0])
    nodes = []
    y = x
    for _ in range(DEPTH // 2):
        y = y * 1.0001
        nodes.append(y)
        y = y + 0.5
        nodes.append(y)
    assert len(nodes) == DEPTH
    assert all(node._ctx is not None for node in nodes)
    y.sum().backward()  # deeper than the default recursion limit of 1000
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001 ** (DEPTH // 2)))
    # every Function (and the arrays it saved) is released once backward has walked it
    assert all(node._ctx is None for node in nodes)


def test_retain_graph_allows_a_second_backward():
    x = _leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert y._ctx is not None
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)
    assert y._ctx is None


def test_unbroadcast_sums_to_the_input_shape():
    grad = np.ones((2, 3, 4))
    assert unbroadcast(grad, (2, 3, 4)) is grad
    np.testing.assert_array_equal(unbroadcast(grad, (4,)), np.full(4, 6.0))
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(unbroadcast(grad, ()), np.array(24.0))


# ---------------------------------------------------------------- no_grad


def test_no_grad_builds_nothing():
    x = _leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = F.exp(x * 2.0).sum()
    assert y._ctx is None
    assert y.requires_grad is False
    assert is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_nests_with_enable_grad():
    x = _leaf([1.0, 2.0])
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            y = x * 3.0
            with no_grad():
                z = x * 3.0
            assert is_grad_enabled()
        assert not is_grad_enabled()
        w = x * 3.0
    assert is_grad_enabled()
    assert y.requires_grad and y._ctx is not None
    assert not z.requires_grad and z._ctx is None
    assert not w.requires_grad and w._ctx is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_no_grad_restores_the_state_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0  # noqa: B018 - the error is the point
    assert autograd.is_grad_enabled()


# ---------------------------------------------------------------- backward errors


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = _leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(ValueError, match=r"needs a scalar, got shape \(2, 3\)"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = _leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2, 3\)"):
        y.backward(np.ones(3))


# ---------------------------------------------------------------- float32 end to end


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_float32_stays_float32_through_every_op(row: Case):
    tensors = [Tensor(np.asarray(x, dtype=np.float32), requires_grad=True) for x in row.inputs]
    out = row.fn(*tensors)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    wrt = range(len(tensors)) if row.wrt is None else row.wrt
    for i in wrt:
        assert tensors[i].grad.dtype == np.float32, f"input {i}"


_MASK = np.array([True, False, True])

# (id, fn of a float32 tensor of shape (2, 3) with a constant on either side)
CONSTANT_CASES = [
    ("python-add", lambda x: x + 1),
    ("python-radd", lambda x: 1.5 + x),
    ("python-sub-rsub", lambda x: (x - 1.0) * (2.0 - x)),
    ("python-mul-rmul", lambda x: 2.5 * x * 3),
    ("python-div-rdiv", lambda x: x / 3 + 3.0 / (x * x + 1.0)),
    ("python-pow", lambda x: (x * x + 1.0) ** 1.5),
    ("python-rpow", lambda x: 2.0**x),
    ("python-maximum", lambda x: F.maximum(x, 0.5)),
    ("python-clip", lambda x: F.clip(x, 0.0, 1.0)),
    ("python-where", lambda x: F.where(_MASK, x, 0.0)),
    ("numpy-float64-array-add", lambda x: x + np.ones(3)),
    ("numpy-float64-array-radd", lambda x: np.ones(3) + x),
    ("numpy-float64-array-rmul", lambda x: np.full(3, 2.0) * x),
    ("numpy-float64-array-rsub", lambda x: np.ones((2, 3)) - x),
    ("numpy-float64-scalar-mul", lambda x: x * np.float64(2.0)),
    ("numpy-float64-scalar-rmul", lambda x: np.float64(2.0) * x),
    ("numpy-float64-maximum", lambda x: F.maximum(x, np.float64(0.5))),
    ("numpy-float64-clip", lambda x: F.clip(x, np.float64(0.0), np.float64(1.0))),
    ("numpy-float64-where", lambda x: F.where(_MASK, x, np.zeros(3))),
    ("numpy-float64-matmul", lambda x: x @ np.ones((3, 2))),
    ("numpy-float64-dense", lambda x: F.dense(x, np.ones((3, 2)), np.ones(2))),
    ("numpy-float64-kernel-rmatmul", lambda x: np.ones((4, 2)) @ x),
    ("numpy-float64-concatenate", lambda x: F.concatenate([x, np.ones((1, 3))])),
    ("numpy-float64-targets", lambda x: F.softmax_cross_entropy(x, np.full((2, 3), 1 / 3))),
    ("numpy-float64-sigmoid-targets", lambda x: F.sigmoid_cross_entropy(x, np.ones((2, 3)))),
]


@pytest.mark.parametrize("fn", [fn for _, fn in CONSTANT_CASES], ids=[i for i, _ in CONSTANT_CASES])
def test_constants_do_not_upcast_float32(fn):
    x = _leaf([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    out = fn(x)
    assert isinstance(out, Tensor)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_cast_round_trip_gives_the_gradient_in_the_input_dtype():
    x = _leaf([0.5, -1.0], dtype=np.float32)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 2 * x.data)


# ---------------------------------------------------------------- numerical stability


LARGE = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -2.0]])

STABLE_CASES = [
    ("softmax", F.softmax),
    ("softmax-axis-0", lambda z: F.softmax(z, axis=0)),
    ("log_softmax", F.log_softmax),
    ("log_softmax-axis-0", lambda z: F.log_softmax(z, axis=0)),
    ("logsumexp", lambda z: F.logsumexp(z, axis=-1)),
    ("sigmoid", F.sigmoid),
    ("softplus", F.softplus),
    ("tanh", F.tanh),
    ("elu", F.elu),
    ("selu", F.selu),
    ("silu", F.silu),
    ("gelu", F.gelu),
    ("softsign", F.softsign),
    ("sigmoid_cross_entropy", lambda z: F.sigmoid_cross_entropy(z, np.eye(3))),
    ("sparse_softmax_cross_entropy", lambda z: F.sparse_softmax_cross_entropy(z, [1, 0, 2])),
    ("softmax_cross_entropy", lambda z: F.softmax_cross_entropy(z, np.eye(3)[[1, 0, 2]])),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [fn for _, fn in STABLE_CASES], ids=[i for i, _ in STABLE_CASES])
def test_large_logits_give_finite_values_and_gradients(fn, dtype):
    z = _leaf(LARGE, dtype=dtype)
    # overflow, inf - inf or 0 * inf inside an op is a bug even when a later where() hides it
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        out = fn(z)
        assert np.all(np.isfinite(out.data))
        out.backward(np.ones(out.shape, dtype=dtype))
    assert np.all(np.isfinite(z.grad))
    assert out.dtype == dtype and z.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_give_the_limiting_values(dtype):
    z = Tensor(LARGE.astype(dtype))
    np.testing.assert_allclose(F.softmax(z).data[1], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(F.log_softmax(z).data[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(F.sigmoid(z).data[0], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(F.softplus(z).data[0], [1e4, 0.0, np.log(2.0)], rtol=1e-6)
    # the label's logit is 2e4 below the row max: the loss is that gap, not inf
    loss = F.sparse_softmax_cross_entropy(z, [1, 0, 2]).data
    np.testing.assert_allclose(loss, [2e4, 2e4, 1e4 + 2.0], rtol=1e-6)


def test_a_primitive_learns_before_forward_whether_a_graph_records_it():
    from axonal.tensor import apply

    seen = []

    class Probe(autograd.Function):
        def forward(self, a, b):
            seen.append(getattr(self, "needs_grad", "unset"))
            return a + b

        def backward(self, g):
            return g, g

    x = Tensor(np.ones(3), requires_grad=True)
    apply(Probe, x, np.ones(3))
    with no_grad():
        apply(Probe, x, np.ones(3))
    apply(Probe, Tensor(np.ones(3)), np.ones(3))  # nothing requires a gradient
    Probe().forward(np.ones(3), np.ones(3))  # called directly, outside the engine
    assert seen == [[True, False], None, None, "unset"]
