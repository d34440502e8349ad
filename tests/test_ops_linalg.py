"""keras.ops.linalg: values and dtypes against Keras 3 (torch backend), gradients of the
factorizations against finite differences and PyTorch."""

import numpy as np
import pytest

import axonal
from axonal import ops
from axonal.gradcheck import check_gradients

RNG = np.random.default_rng(2)
M = RNG.normal(size=(4, 4)).astype("float32") + 3 * np.eye(4, dtype="float32")
SPD = (M @ M.T).astype("float32")
TALL = RNG.normal(size=(5, 3)).astype("float32")
B = RNG.normal(size=(5, 2)).astype("float32")


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras oracle runs on its torch backend")
    return keras


KERAS_CASES = {
    "cholesky": (lambda o, a: o.cholesky(a), [SPD]),
    "cholesky_upper": (lambda o, a: o.cholesky(a, upper=True), [SPD]),
    "cholesky_inverse": (lambda o, a: o.cholesky_inverse(o.cholesky(a)), [SPD]),
    "cholesky_inverse_upper": (
        lambda o, a: o.cholesky_inverse(o.cholesky(a, upper=True), upper=True),
        [SPD],
    ),
    "pinv": (lambda o, a: o.pinv(a), [TALL]),
    "lstsq": (lambda o, a, b: o.lstsq(a, b), [TALL, B]),
    "matrix_rank": (lambda o, a: o.matrix_rank(a), [TALL @ TALL.T]),
    "matrix_rank_tol": (lambda o, a: o.matrix_rank(a, tol=5.0), [M]),
    "lu_factor_lu": (lambda o, a: o.lu_factor(a)[0], [M]),
    "lu_factor_pivots": (lambda o, a: o.lu_factor(a)[1], [M.T]),
    "eigh_values": (lambda o, a: o.eigh(a)[0], [SPD]),
    "svd_values": (lambda o, a: o.svd(a, compute_uv=False), [TALL]),
    "qr_product": (lambda o, a: (lambda q, r: q @ r)(*o.qr(a)), [TALL]),
    "qr_complete_shape": (lambda o, a: (lambda q, r: q @ r)(*o.qr(a, mode="complete")), [TALL]),
    "det": (lambda o, a: o.det(a), [M]),
    "inv": (lambda o, a: o.inv(a), [M]),
    "solve": (lambda o, a, b: o.solve(a, b), [M, B[:4]]),
    "norm": (lambda o, a: o.norm(a, ord="fro"), [M]),
}


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_values_and_dtypes_match_keras(name):
    keras = _keras()
    fn, inputs = KERAS_CASES[name]
    ours = np.asarray(fn(ops.linalg, *inputs).data)
    theirs = keras.ops.convert_to_numpy(
        fn(keras.ops.linalg, *[keras.ops.convert_to_tensor(a) for a in inputs])
    )
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_linalg_names_are_flat_in_ops_as_in_keras():
    for name in ("cholesky", "cholesky_inverse", "lstsq", "pinv", "jvp", "svd", "inv", "qr"):
        assert getattr(ops, name) is getattr(ops.linalg, name)


def _d(a):
    return np.asarray(a, np.float64)


GRADIENT_CASES = {
    "cholesky": (ops.linalg.cholesky, [SPD]),
    "cholesky_upper": (lambda a: ops.linalg.cholesky(a, upper=True), [SPD]),
    "cholesky_inverse": (ops.linalg.cholesky_inverse, [np.linalg.cholesky(SPD)]),
    "pinv": (ops.linalg.pinv, [TALL]),
    "pinv_wide": (ops.linalg.pinv, [TALL.T]),
    "lstsq": (ops.linalg.lstsq, [TALL, B]),
    "qr_q": (lambda a: ops.linalg.qr(a)[0], [TALL]),
    "qr_r": (lambda a: ops.linalg.qr(a)[1], [TALL]),
    "qr_square": (lambda a: ops.linalg.qr(a)[0] + ops.linalg.qr(a)[1], [M]),
    "svd_values": (lambda a: ops.linalg.svd(a, compute_uv=False), [TALL]),
    "eigh_values": (lambda a: ops.linalg.eigh(a)[0], [SPD]),
    # an eigenvector's sign is arbitrary: differentiate a sign-free function of it
    "eigh_vectors": (lambda a: ops.square(ops.linalg.eigh(a)[1]), [SPD]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, inputs = GRADIENT_CASES[name]
    inputs = [_d(a) for a in inputs]
    if name.startswith(("cholesky", "eigh")) and name != "cholesky_inverse":
        # symmetric inputs: perturb through a symmetrization so differences stay symmetric
        inner = fn

        def fn(a):
            return inner((a + ops.transpose(a)) * 0.5)

    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def test_cholesky_and_qr_gradients_match_torch():
    torch = pytest.importorskip("torch")
    weights = RNG.normal(size=(4, 4))
    a = axonal.Tensor(_d(SPD), requires_grad=True)
    ops.sum(ops.linalg.cholesky(a) * weights).backward()
    t = torch.tensor(_d(SPD), requires_grad=True)
    (torch.linalg.cholesky(t) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)
    w_q, w_r = RNG.normal(size=(5, 3)), RNG.normal(size=(3, 3))
    a = axonal.Tensor(_d(TALL), requires_grad=True)
    q, r = ops.linalg.qr(a)
    (ops.sum(q * w_q) + ops.sum(r * w_r)).backward()
    t = torch.tensor(_d(TALL), requires_grad=True)
    tq, tr = torch.linalg.qr(t)
    ((tq * torch.tensor(w_q)).sum() + (tr * torch.tensor(w_r)).sum()).backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_svd_gradients_match_torch(shape):
    torch = pytest.importorskip("torch")
    a0 = RNG.normal(size=shape)
    k = min(shape)
    w_u, w_s, w_v = (
        RNG.normal(size=(shape[0], k)),
        RNG.normal(size=k),
        RNG.normal(size=(k, shape[1])),
    )
    a = axonal.Tensor(a0, requires_grad=True)
    u, s, vh = ops.linalg.svd(a, full_matrices=False)
    # |u| and |vh|: the sign of each singular pair is arbitrary, the loss must not see it
    (ops.sum(ops.abs(u) * w_u) + ops.sum(s * w_s) + ops.sum(ops.abs(vh) * w_v)).backward()
    t = torch.tensor(a0, requires_grad=True)
    tu, ts, tvh = torch.linalg.svd(t, full_matrices=False)
    loss = (tu.abs() * torch.tensor(w_u)).sum() + (ts * torch.tensor(w_s)).sum()
    (loss + (tvh.abs() * torch.tensor(w_v)).sum()).backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)
    check_gradients(
        lambda m: ops.sum(ops.abs(ops.linalg.svd(m, full_matrices=False)[0]) * w_u), a0
    ).assert_ok()


def test_full_matrices_svd_vectors_and_eig_say_they_have_no_gradient():
    a = axonal.Tensor(_d(TALL), requires_grad=True)
    u, s, vh = ops.linalg.svd(a)
    np.testing.assert_allclose((u.data[:, :3] * s.data) @ vh.data, TALL, atol=1e-5)
    with pytest.raises(ValueError, match="svd's u has no gradient"):
        ops.sum(u).backward()
    with pytest.raises(ValueError, match="ops.linalg.eig has no gradient"):
        ops.linalg.eig(axonal.Tensor(_d(M), requires_grad=True))


def test_jvp_matches_torch_func_jvp():
    torch = pytest.importorskip("torch")
    x, v = RNG.normal(size=(3,)), RNG.normal(size=(3,))
    w = RNG.normal(size=(3, 2))

    def ours(x):
        return ops.tanh(ops.matmul(x, w)) * ops.sum(x)

    def theirs(x):
        return torch.tanh(x @ torch.tensor(w)) * x.sum()

    out, tangent = ops.linalg.jvp(ours, (x,), (v,))
    want_out, want_tangent = torch.func.jvp(theirs, (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(out.data, want_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent.data, want_tangent.numpy(), rtol=1e-10)
    out, tangent, aux = ops.linalg.jvp(lambda x: (ops.sum(x * x), "aux"), [x], [v], has_aux=True)
    assert aux == "aux"
    np.testing.assert_allclose(tangent.data, 2 * x @ v)


def test_lu_factor_reconstructs_the_permuted_matrix():
    lu, pivots = ops.linalg.lu_factor(_d(M))
    lower = np.tril(lu.data, -1) + np.eye(4)
    upper = np.triu(lu.data)
    permuted = _d(M).copy()
    for k, p in enumerate(pivots.data):
        permuted[[k, p]] = permuted[[p, k]]
    np.testing.assert_allclose(lower @ upper, permuted, atol=1e-10)
