"""keras.ops.numpy / ops.nn additions: values against NumPy and Keras 3, gradients against
finite differences."""

import numpy as np
import pytest

import axonal
from axonal import ops
from axonal.gradcheck import check_gradients

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4))
B = RNG.normal(size=(4, 2))
C = RNG.normal(size=(2, 3, 4))

# name -> (function of Tensors, inputs); each is checked against finite differences
DIFFERENTIABLE = {
    "tile": (lambda a: ops.tile(a, (2, 1, 3)), [A]),
    "repeat": (lambda a: ops.repeat(a, 3, axis=1), [A]),
    "repeat_flat": (lambda a: ops.repeat(a, 2), [A]),
    "split": (lambda a: ops.split(a, [1, 3], axis=1)[1], [A]),
    "einsum_matmul": (lambda a, b: ops.einsum("ij,jk->ik", a, b), [A, B]),
    "einsum_batched": (lambda c, a: ops.einsum("bij,kj->bik", c, a), [C, A]),
    "einsum_reduce": (lambda c: ops.einsum("bij->bj", c), [C]),
    "einsum_outer_sum": (lambda a, b: ops.einsum("ij,kl->ik", a, b), [A, B]),
    "tensordot": (lambda c, b: ops.tensordot(c, b, axes=1), [C, B]),
    "cumsum": (lambda c: ops.cumsum(c, axis=1), [C]),
    "cumsum_flat": (lambda a: ops.cumsum(a), [A]),
    "sort": (lambda a: ops.sort(a, axis=0), [A]),
    "take_along_axis": (
        lambda a: ops.take_along_axis(a, np.array([[0, 0, 3], [1, 2, 2], [3, 3, 3]]), axis=1),
        [A],
    ),
    "top_k": (lambda a: ops.top_k(a, 2)[0], [A]),
    "norm": (lambda c: ops.norm(c, axis=-1), [C]),
    "norm_1": (lambda c: ops.norm(c, ord=1, axis=1), [C]),
    "prod": (lambda a: ops.prod(a, axis=1), [A]),
    "tril": (lambda a: ops.tril(a, k=1), [A]),
    "swapaxes": (lambda c: ops.swapaxes(c, 0, 2), [C]),
    "moveaxis": (lambda c: ops.moveaxis(c, 0, -1), [C]),
    "average": (lambda a: ops.average(a, axis=1, weights=np.array([1.0, 2.0, 3.0, 4.0])), [A]),
    "moments_var": (lambda c: ops.moments(c, axes=[0, 2])[1], [C]),
    "log2": (lambda a: ops.log2(ops.square(a) + 1.0), [A]),
    "attention": (
        lambda q, k, v: ops.dot_product_attention(q, k, v, is_causal=True),
        [
            RNG.normal(size=(1, 3, 2, 4)),
            RNG.normal(size=(1, 3, 2, 4)),
            RNG.normal(size=(1, 3, 2, 2)),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradients_match_finite_differences(name):
    fn, inputs = DIFFERENTIABLE[name]
    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def test_values_equal_numpy():
    np.testing.assert_allclose(ops.tile(A, (2, 1, 3)).data, np.tile(A, (2, 1, 3)))
    np.testing.assert_allclose(ops.repeat(A, 3, axis=1).data, np.repeat(A, 3, axis=1))
    np.testing.assert_allclose(ops.einsum("bij,kj->bik", C, A).data, np.einsum("bij,kj->bik", C, A))
    np.testing.assert_allclose(ops.tensordot(C, B, axes=1).data, np.tensordot(C, B, axes=1))
    np.testing.assert_allclose(ops.cumsum(C, axis=1).data, np.cumsum(C, axis=1))
    np.testing.assert_allclose(ops.sort(A, axis=0).data, np.sort(A, axis=0))
    values, indices = ops.top_k(A, 2)
    np.testing.assert_array_equal(indices.data, np.argsort(-A, axis=-1)[:, :2])
    np.testing.assert_allclose(values.data, -np.sort(-A, axis=-1)[:, :2])
    np.testing.assert_allclose(ops.norm(C, axis=-1).data, np.linalg.norm(C, axis=-1))
    np.testing.assert_allclose(ops.prod(A, axis=1).data, np.prod(A, axis=1))
    pieces = ops.split(A, 2, axis=1)
    np.testing.assert_allclose(np.concatenate([p.data for p in pieces], axis=1), A)
    assert ops.shape(C) == (2, 3, 4) and ops.ndim(C) == 3 and ops.size(C) == 24
    assert ops.equal([1, 2], [1, 3]).data.tolist() == [True, False]
    assert ops.argmax(A, axis=1).data.dtype == np.int32


def test_creation_dtypes_follow_keras():
    assert ops.arange(5).data.dtype == np.int32
    assert ops.arange(0.0, 1.0, 0.25).data.dtype == np.float32
    assert ops.zeros((2, 3)).data.dtype == np.float32
    assert ops.ones((2,), dtype="float64").data.dtype == np.float64
    np.testing.assert_array_equal(ops.eye(3).data, np.eye(3))


def test_one_hot_and_an_out_of_range_label():
    out = ops.one_hot(np.array([0, 2, 5]), 3).data
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    assert ops.one_hot(np.array([[1]]), 3, axis=0).data.shape == (3, 1, 1)


def test_stop_gradient_and_convert_to_numpy():
    x = axonal.Tensor(A.copy(), requires_grad=True)
    y = ops.sum(ops.multiply(x, ops.stop_gradient(x)))
    y.backward()
    np.testing.assert_allclose(x.grad, A)  # d/dx (x * const(x)) = const(x)
    assert isinstance(ops.convert_to_numpy(x), np.ndarray)


def test_an_einsum_axonal_cannot_differentiate_is_named():
    x = axonal.Tensor(np.eye(3), requires_grad=True)
    with pytest.raises(ValueError, match="explicit output subscripts"):
        ops.einsum("ii", x)
    assert float(ops.einsum("ii", np.eye(3)).data) == 3.0


def test_submodules_import_and_the_flat_namespace_holds_their_names():
    from axonal.ops import nn, numpy

    assert ops.einsum is numpy.einsum and ops.one_hot is nn.one_hot
    assert {"nn", "numpy", "einsum", "one_hot", "top_k"} <= set(ops.__all__)


def test_values_match_keras_ops():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")

    def theirs(t):
        return keras.ops.convert_to_numpy(t)

    np.testing.assert_allclose(ops.tile(A, (2, 3)).data, theirs(keras.ops.tile(A, (2, 3))))
    np.testing.assert_allclose(
        ops.repeat(A, 2, axis=0).data, theirs(keras.ops.repeat(A, 2, axis=0))
    )
    np.testing.assert_allclose(
        ops.one_hot(np.array([1, 0, 3]), 4).data, theirs(keras.ops.one_hot(np.array([1, 0, 3]), 4))
    )
    np.testing.assert_array_equal(ops.arange(2, 9, 3).data, theirs(keras.ops.arange(2, 9, 3)))
    q, k, v = (
        RNG.normal(size=s).astype("float32") for s in [(2, 5, 3, 4), (2, 6, 3, 4), (2, 6, 3, 2)]
    )
    np.testing.assert_allclose(
        ops.dot_product_attention(q, k, v).data,
        theirs(keras.ops.dot_product_attention(q, k, v)),
        rtol=1e-5,
        atol=1e-6,
    )


WELL_CONDITIONED = np.eye(3) * 3 + RNG.normal(size=(3, 3)) * 0.3


@pytest.mark.parametrize(
    "fn, inputs",
    [
        (ops.linalg.inv, [WELL_CONDITIONED]),
        (ops.linalg.det, [WELL_CONDITIONED]),
        (ops.linalg.solve, [WELL_CONDITIONED, RNG.normal(size=(3, 2))]),
        (ops.linalg.solve, [WELL_CONDITIONED, RNG.normal(size=(3,))]),
    ],
)
def test_linalg_gradients_match_finite_differences(fn, inputs):
    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def test_linalg_values_and_the_factorizations_without_a_gradient():
    a = WELL_CONDITIONED
    np.testing.assert_allclose(ops.linalg.inv(a).data, np.linalg.inv(a))
    np.testing.assert_allclose(ops.linalg.det(a).data, np.linalg.det(a))
    spd = a @ a.T
    np.testing.assert_allclose(ops.linalg.cholesky(spd).data, np.linalg.cholesky(spd))
    q, r = ops.linalg.qr(a)
    np.testing.assert_allclose(q.data @ r.data, a, atol=1e-12)
    with pytest.raises(ValueError, match="ops.linalg.eig has no gradient"):
        ops.linalg.eig(axonal.Tensor(a, requires_grad=True))
    assert ops.linalg.norm is ops.norm


def test_new_ops_work_on_symbolic_tensors_and_save(tmp_path):
    inputs = axonal.Input((4, 3))
    tiled = ops.cumsum(ops.tile(inputs, (1, 2, 1)), axis=1)
    mixed = ops.einsum("btd,de->bte", tiled, np.ones((3, 2), "float32"))
    outputs = axonal.layers.Dense(1)(ops.norm(mixed, axis=-1, keepdims=True))
    model = axonal.Model(inputs, outputs)
    x = RNG.random((2, 4, 3)).astype("float32")
    expected = np.cumsum(np.tile(x, (1, 2, 1)), axis=1) @ np.ones((3, 2))
    kernel, bias = model.layers[-1].get_weights()
    want = np.linalg.norm(expected, axis=-1, keepdims=True) * kernel[0, 0] + bias[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5)
    model.save(tmp_path / "ops.axonal")
    loaded = axonal.models.load_model(tmp_path / "ops.axonal")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
