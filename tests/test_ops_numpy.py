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


# ---------------------------------------------------------------- keras.ops.numpy completion
# Each row runs the same expression with ``o = axonal.ops`` and ``o = keras.ops`` (torch
# backend): values and dtypes must agree.

X32 = RNG.normal(size=(3, 4)).astype("float32")
X64 = RNG.normal(size=(3, 4))
V32 = RNG.normal(size=(5,)).astype("float32")
W32 = RNG.normal(size=(3,)).astype("float32")
UNIT = RNG.uniform(-0.9, 0.9, size=(3, 4)).astype("float32")
ABOVE1 = RNG.uniform(1.1, 3.0, size=(3, 4)).astype("float32")
I32 = RNG.integers(-6, 7, size=(3, 4)).astype("int32")
POSI = RNG.integers(0, 9, size=(7,)).astype("int32")
NANS = X32.copy()
NANS[0, 1] = NANS[2, 3] = NANS[2, 0] = np.nan
INFS = np.array([1.0, -np.inf, np.inf, np.nan, -0.0, 0.0], "float32")
SQ = (np.eye(3) * 2 + RNG.normal(size=(3, 3)) * 0.3).astype("float32")
VEC3A = RNG.normal(size=(4, 3)).astype("float32")
VEC3B = RNG.normal(size=(4, 3)).astype("float32")
C3 = RNG.normal(size=(2, 3, 4)).astype("float32")

KERAS_CASES = {
    # element-wise maths
    **{
        f"{name}_{kind}": (lambda o, n=name, x=x: getattr(o, n)(x))
        for name in ("sin", "cos", "tan", "sinh", "cosh", "arctan", "arcsinh", "expm1", "exp2",
                     "cbrt", "deg2rad", "rad2deg", "fabs", "sinc", "trunc", "signbit", "i0")
        for kind, x in (("f32", X32), ("f64", X64), ("i32", I32))
    },
    "arcsin": lambda o: o.arcsin(UNIT),
    "arccos": lambda o: o.arccos(UNIT),
    "arctanh": lambda o: o.arctanh(UNIT),
    "arccosh": lambda o: o.arccosh(ABOVE1),
    "arctan2": lambda o: o.arctan2(X32, UNIT),
    "arctan2_int": lambda o: o.arctan2(I32, POSI[:4]),
    "hypot": lambda o: o.hypot(X32, UNIT),
    "logaddexp": lambda o: o.logaddexp(X32, UNIT * 100),
    "logaddexp_f64": lambda o: o.logaddexp(X64, X64[::-1]),
    "logaddexp2": lambda o: o.logaddexp2(X32, UNIT),
    "heaviside": lambda o: o.heaviside(np.array([-1.0, 0.0, 2.0], "float32"), 0.5),
    "heaviside_int": lambda o: o.heaviside(I32, I32),
    "ldexp": lambda o: o.ldexp(X32, np.array([1, -2, 3, 0], "int32")),
    "fmod": lambda o: o.fmod(X32 * 5, UNIT + 2),
    "fmod_int": lambda o: o.fmod(I32, np.int32(4)),
    "fmax": lambda o: o.fmax(NANS, X32[::-1]),
    "fmin": lambda o: o.fmin(NANS, 0.25),
    "floor_divide": lambda o: o.floor_divide(X32 * 5, UNIT + 2),
    "floor_divide_int": lambda o: o.floor_divide(I32, 4),
    "divide_no_nan": lambda o: o.divide_no_nan(X32, np.where(UNIT > 0, UNIT, 0)),
    "nextafter": lambda o: o.nextafter(X32, np.float32(0)),
    "angle": lambda o: o.angle(X32),
    "real": lambda o: o.real(X32),
    "conj": lambda o: o.conj(X32),
    "conjugate": lambda o: o.conjugate(I32),
    "isinf": lambda o: o.isinf(INFS),
    "isposinf": lambda o: o.isposinf(INFS),
    "isneginf": lambda o: o.isneginf(INFS),
    "isreal": lambda o: o.isreal(X32),
    "isclose": lambda o: o.isclose(X32, X32 + 1e-6),
    "allclose": lambda o: o.allclose(X32, X32 + 1e-3),
    "isin": lambda o: o.isin(I32, POSI),
    "isin_invert": lambda o: o.isin(I32, POSI, invert=True),
    "nan_to_num": lambda o: o.nan_to_num(INFS, nan=7.0),
    "nan_to_num_default": lambda o: o.nan_to_num(INFS),
    # integers and bits
    "bitwise_and": lambda o: o.bitwise_and(I32, POSI[:4]),
    "bitwise_or": lambda o: o.bitwise_or(I32, 5),
    "bitwise_xor": lambda o: o.bitwise_xor(I32, POSI[:4]),
    "bitwise_not": lambda o: o.bitwise_not(I32),
    "bitwise_invert": lambda o: o.bitwise_invert(I32 > 0),
    "bitwise_left_shift": lambda o: o.bitwise_left_shift(I32, 2),
    "bitwise_right_shift": lambda o: o.bitwise_right_shift(I32, 1),
    "left_shift": lambda o: o.left_shift(POSI, POSI % 3),
    "right_shift": lambda o: o.right_shift(POSI, 1),
    "gcd": lambda o: o.gcd(I32, np.int32(4)),
    "lcm": lambda o: o.lcm(I32, POSI[:4]),
    # reductions
    "amax": lambda o: o.amax(X32, axis=1),
    "amin": lambda o: o.amin(C3, axis=(0, 2), keepdims=True),
    "ptp": lambda o: o.ptp(X32, axis=0),
    "count_nonzero": lambda o: o.count_nonzero(I32, axis=1),
    "count_nonzero_all": lambda o: o.count_nonzero(I32),
    "median": lambda o: o.median(X32, axis=1),
    "median_all_int": lambda o: o.median(I32),
    "median_keepdims": lambda o: o.median(C3, axis=(0, 2), keepdims=True),
    "quantile": lambda o: o.quantile(X32, np.array([0.1, 0.5, 0.95], "float32"), axis=1),
    "quantile_f64": lambda o: o.quantile(X64, 0.3, axis=0),
    "quantile_keepdims": lambda o: o.quantile(C3, np.array([0.2, 0.7], "float32"), axis=1,
                                             keepdims=True),
    **{
        f"quantile_{method}": (lambda o, m=method: o.quantile(X32, 0.4, axis=1, method=m))
        for method in ("lower", "higher", "midpoint", "nearest")
    },
    "percentile": lambda o: o.percentile(C3, 30.0, axis=-1),
    "nansum": lambda o: o.nansum(NANS, axis=1),
    "nanprod": lambda o: o.nanprod(NANS, axis=0),
    "nanmean": lambda o: o.nanmean(NANS, axis=1),
    "nanvar": lambda o: o.nanvar(NANS),
    "nanstd": lambda o: o.nanstd(NANS, axis=0, keepdims=True),
    "nanmax": lambda o: o.nanmax(NANS, axis=1),
    "nanmin": lambda o: o.nanmin(NANS),
    "nanargmax": lambda o: o.nanargmax(NANS, axis=1),
    "nanargmin": lambda o: o.nanargmin(NANS, axis=0),
    "nancumsum": lambda o: o.nancumsum(NANS, axis=1),
    "nancumprod": lambda o: o.nancumprod(NANS, axis=0),
    "nanmedian": lambda o: o.nanmedian(NANS, axis=1),
    "nanquantile": lambda o: o.nanquantile(NANS, 0.3, axis=0),
    "nanpercentile": lambda o: o.nanpercentile(NANS, 75.0),
    "cumprod": lambda o: o.cumprod(X32, axis=1),
    "cumprod_flat_int": lambda o: o.cumprod(I32),
    # shapes, joins and splits
    "ravel": lambda o: o.ravel(C3),
    "copy": lambda o: o.copy(I32),
    "append": lambda o: o.append(X32, X32[:1]),
    "append_axis": lambda o: o.append(X32, X32[:, :2], axis=1),
    "hstack": lambda o: o.hstack([X32, X32[:, :1]]),
    "vstack": lambda o: o.vstack([V32, V32]),
    "dstack": lambda o: o.dstack([X32, X32]),
    "array_split": lambda o: o.array_split(np.arange(10, dtype="float32"), 3),
    "array_split_axis": lambda o: o.array_split(X32, 3, axis=1),
    "hsplit": lambda o: o.hsplit(X32, 2),
    "vsplit": lambda o: o.vsplit(X32, 3),
    "dsplit": lambda o: o.dsplit(C3, 2),
    "flip": lambda o: o.flip(C3, axis=(0, 2)),
    "flip_all": lambda o: o.flip(X32),
    "fliplr": lambda o: o.fliplr(X32),
    "flipud": lambda o: o.flipud(X32),
    **{f"rot90_{k}": (lambda o, k=k: o.rot90(X32, k=k)) for k in (1, 2, 3, -1)},
    "rot90_axes": lambda o: o.rot90(C3, axes=(1, 2)),
    "roll": lambda o: o.roll(X32, 2, axis=1),
    "roll_flat": lambda o: o.roll(X32, -3),
    "pad": lambda o: o.pad(X32, ((1, 2), (0, 3))),
    "pad_value": lambda o: o.pad(X32, ((1, 1), (1, 1)), constant_values=2.5),
    "pad_reflect": lambda o: o.pad(X32, ((2, 1), (3, 2)), mode="reflect"),
    "diag_vector": lambda o: o.diag(V32, k=1),
    "diag_matrix": lambda o: o.diag(X32, k=-1),
    "diagflat": lambda o: o.diagflat(X32[:2, :2], k=-2),
    "diagonal": lambda o: o.diagonal(C3, offset=1, axis1=1, axis2=2),
    "diagonal_neg": lambda o: o.diagonal(X32, offset=-1),
    "trace": lambda o: o.trace(C3, axis1=1, axis2=2),
    "trace_int": lambda o: o.trace(I32, offset=1),
    "diff": lambda o: o.diff(X32, n=2, axis=1),
    "diff_axis0": lambda o: o.diff(X32, axis=0),
    "cross": lambda o: o.cross(VEC3A, VEC3B),
    "cross_axis": lambda o: o.cross(VEC3A.T, VEC3B.T, axis=0),
    "kron": lambda o: o.kron(X32[:2, :3], SQ),
    "outer": lambda o: o.outer(V32, W32),
    "inner": lambda o: o.inner(X32, X32[:2]),
    "vdot": lambda o: o.vdot(V32, V32[::-1]),
    "meshgrid": lambda o: o.meshgrid(V32, W32),
    "meshgrid_ij": lambda o: o.meshgrid(V32, W32, V32[:2], indexing="ij"),
    "select": lambda o: o.select([X32 < -0.5, X32 > 0.5], [X32, X32 * 2], default=-1.0),
    "select_int_default": lambda o: o.select([X32 < 0], [X32]),
    "nanmean_axes": lambda o: o.nanmean(NANS[None], axis=[0, 2]),
    "nanmax_axes": lambda o: o.nanmax(NANS[None], axis=[0, 2], keepdims=True),
    "quantile_axes": lambda o: o.quantile(C3, 0.25, axis=[0, 2]),
    "trapezoid": lambda o: o.trapezoid(X32, axis=1),
    "trapezoid_dx": lambda o: o.trapezoid(X32, dx=0.5, axis=0),
    "trapezoid_x": lambda o: o.trapezoid(X32, x=np.array([0.0, 0.5, 2.0, 3.0], "float32")),
    "correlate_valid": lambda o: o.correlate(V32, W32),
    "correlate_same": lambda o: o.correlate(V32, W32, mode="same"),
    "correlate_full": lambda o: o.correlate(V32, W32[:2], mode="full"),
    "corrcoef": lambda o: o.corrcoef(X32),
    "vander": lambda o: o.vander(W32),
    "vander_inc": lambda o: o.vander(W32, N=4, increasing=True),
    # creation
    "array": lambda o: o.array([1.5, 2.0]),
    "array_int": lambda o: o.array([[1, 2]]),
    "array_dtype": lambda o: o.array(X32, dtype="float64"),
    "empty": lambda o: o.zeros_like(o.empty((2, 3))),
    "empty_like": lambda o: o.zeros_like(o.empty_like(I32)),
    "identity": lambda o: o.identity(3),
    "geomspace": lambda o: o.geomspace(1.0, 1000.0, num=4),
    "logspace": lambda o: o.logspace(0.0, 2.0, num=5, base=2),
    "bartlett": lambda o: o.bartlett(6),
    "blackman": lambda o: o.blackman(6),
    "hamming": lambda o: o.hamming(5),
    "hanning": lambda o: o.hanning(5),
    "kaiser": lambda o: o.kaiser(6, 3.0),
    # indices and counts
    "searchsorted": lambda o: o.searchsorted(np.sort(V32), X32),
    "searchsorted_right": lambda o: o.searchsorted(np.sort(V32), V32, side="right"),
    "digitize": lambda o: o.digitize(X32, np.array([-1.0, 0.0, 1.0], "float32")),
    "nonzero": lambda o: o.stack(o.nonzero(I32)) if o is ops else o.nonzero(I32),
    "unravel_index": lambda o: o.unravel_index(POSI, (3, 4)),
    "bincount": lambda o: o.bincount(POSI),
    "bincount_weights": lambda o: o.bincount(POSI, weights=np.arange(7, dtype="float32"),
                                             minlength=12),
    "histogram": lambda o: o.histogram(V32, bins=4),
    "histogram_range": lambda o: o.histogram(V32, bins=3, range=(-1.0, 1.0)),
    "unique": lambda o: o.unique(POSI),
    "unique_counts": lambda o: o.unique(POSI, return_inverse=True, return_counts=True),
    "unique_size": lambda o: o.unique(POSI, size=10, fill_value=-1),
    "slogdet": lambda o: o.slogdet(SQ),
    "view": lambda o: o.view(X32, "int32"),
    "vectorize": lambda o: o.vectorize(lambda a, b: a * 2 + b)(X32, V32[:4]),
    # Keras's signatures of the older ops
    "take_flat": lambda o: o.take(X32, np.array([[0, 5], [11, 2]])),
    "take_along_axis_flat": lambda o: o.take_along_axis(X32, np.array([3, 0, 7])),
    "where_nonzero": lambda o: o.stack(o.where(I32 > 2)) if o is ops else o.where(I32 > 2),
    "max_initial": lambda o: o.max(X32, axis=1, initial=0.5),
    "min_initial": lambda o: o.min(X32, axis=0, keepdims=True, initial=-0.5),
    "prod_dtype": lambda o: o.prod(I32, axis=1, dtype="float32"),
    "linspace_retstep": lambda o: o.linspace(0.0, 1.0, num=5, retstep=True),
    "arange_step_none": lambda o: o.arange(2, 7, None),
    "eye_names": lambda o: o.eye(N=3, M=4, k=1),
    "tri_names": lambda o: o.tri(N=3, M=2),
    "stack_x": lambda o: o.stack(x=[V32, V32], axis=1),
    # Keras's dtypes for integers, booleans and mixes (NumPy would widen to int64 / float64)
    "sum_int": lambda o: o.sum(I32, axis=0),
    "sum_bool": lambda o: o.sum(I32 > 0),
    "prod_int": lambda o: o.prod(POSI[:4] + 1),
    "cumsum_int": lambda o: o.cumsum(I32, axis=1),
    "cumsum_bool": lambda o: o.cumsum(I32 > 0),
    "nancumsum_int": lambda o: o.nancumsum(I32),
    "heaviside_bool": lambda o: o.heaviside(I32 > 0, I32 < 0),
    "kron_mixed": lambda o: o.kron(I32[:2, :2], X32[:2, :2]),
    "outer_mixed": lambda o: o.outer(POSI, V32),
    "inner_mixed": lambda o: o.inner(I32, X32),
    "vdot_mixed": lambda o: o.vdot(POSI[:5], V32),
    "where_mixed": lambda o: o.where(I32 > 0, I32, X32),
    "where_scalar": lambda o: o.where(I32 > 0, X32, 0),
    "trapezoid_int": lambda o: o.trapezoid(I32),
    "hstack_mixed": lambda o: o.hstack([I32, X32]),
    "append_mixed": lambda o: o.append(I32 > 0, I32),
    # ... and for the arithmetic and float functions axonal had before
    **{
        f"{name}_{kind}": (lambda o, n=name, x=x: getattr(o, n)(x))
        for name in ("exp", "log1p", "sqrt", "tanh", "log2", "log10", "reciprocal", "mean", "std",
                     "var", "norm", "average", "ceil", "floor", "square", "tril", "triu")
        for kind, x in (("int", POSI[:6].reshape(2, 3) + 1), ("bool", I32 > 0))
    },
    **{
        f"{name}_{kind}": (lambda o, n=name, a=a, b=b: getattr(o, n)(a, b))
        for name in ("add", "subtract", "multiply", "divide", "true_divide", "maximum",
                     "minimum", "power", "mod")
        for kind, a, b in (("int_f32", POSI[:4] + 1, X32), ("f32_int", X32, POSI[:4] + 1),
                           ("int_int", I32, POSI[:4] + 1), ("int_pyfloat", I32, 2.0),
                           ("int_pyint", I32, 3), ("f32_pyint", X32, 2))
    },
    "matmul_mixed": lambda o: o.matmul(I32, X32.T),
    "where_pyints": lambda o: o.where(I32 > 0, 1, 2),
    "sin_list": lambda o: o.sin([0.5, 1.0]),
    "hypot_lists": lambda o: o.hypot([1.0, 2.0], [2, 3]),
    "cross_lists": lambda o: o.cross([1, 2, 3], [3, 4, 5]),
    "add_list": lambda o: o.add(X32, [1.0, 2.0, 3.0, 4.0]),
    "sign_float": lambda o: o.sign(X32),
    "sign_int": lambda o: o.sign(I32),
    "sign_bool": lambda o: o.sign(I32 > 0),
    "clip_int_float_bounds": lambda o: o.clip(I32, 0, 2.5),
    "clip_int": lambda o: o.clip(I32, -1, 2),
    "clip_bool": lambda o: o.clip(I32 > 0, 0, 1),
    "dot_mixed": lambda o: o.dot(X32, I32.T),
}  # fmt: skip


def _to_numpy(out, convert):
    if isinstance(out, (list, tuple)):
        return [_to_numpy(o, convert) for o in out]
    return np.asarray(convert(out))


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_new_numpy_ops_match_keras(name):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    fn = KERAS_CASES[name]
    mine = _to_numpy(fn(ops), ops.convert_to_numpy)
    theirs = _to_numpy(fn(keras.ops), keras.ops.convert_to_numpy)
    mine, theirs = (m if isinstance(m, list) else [m] for m in (mine, theirs))
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        expected = b.dtype
        if name.endswith("_f64") and expected == np.float32:
            # Keras's result_type makes 64-bit results 32-bit (JAX's default); axonal keeps a
            # float64 input's precision (float64 gradient checks rely on it)
            expected = np.dtype("float64")
        assert a.dtype == expected, f"{name}: dtype {a.dtype} != Keras {b.dtype}"
        assert a.shape == b.shape, f"{name}: shape {a.shape} != Keras {b.shape}"
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)


# name -> (expression in ``o`` and float64 inputs); the gradients are checked against central
# differences and against torch autograd through keras.ops (torch backend)
G = RNG.normal(size=(3, 4))
GU = RNG.uniform(-0.8, 0.8, size=(3, 4))
GPOS = RNG.uniform(0.5, 2.0, size=(3, 4))
GNAN = G.copy()
GNAN[1, 2] = np.nan
GSQ = np.eye(3) * 2 + RNG.normal(size=(3, 3)) * 0.3
GV = RNG.normal(size=(5,))
GW = RNG.normal(size=(3,))
GC = RNG.normal(size=(2, 3, 4))
GZ = G.copy()
GZ[1, 1] = 0.0

GRAD_CASES = {
    "sin": (lambda o, x: o.sin(x), [G]),
    "cos": (lambda o, x: o.cos(x), [G]),
    "tan": (lambda o, x: o.tan(x), [GU]),
    "arcsin": (lambda o, x: o.arcsin(x), [GU]),
    "arccos": (lambda o, x: o.arccos(x), [GU]),
    "arctan": (lambda o, x: o.arctan(x), [G]),
    "sinh": (lambda o, x: o.sinh(x), [G]),
    "cosh": (lambda o, x: o.cosh(x), [G]),
    "arcsinh": (lambda o, x: o.arcsinh(x), [G]),
    "arccosh": (lambda o, x: o.arccosh(x), [GPOS + 1.0]),
    "arctanh": (lambda o, x: o.arctanh(x), [GU]),
    "expm1": (lambda o, x: o.expm1(x), [G]),
    "exp2": (lambda o, x: o.exp2(x), [G]),
    "cbrt": (lambda o, x: o.cbrt(x), [GPOS]),
    "i0": (lambda o, x: o.i0(x), [G * 3]),
    "sinc": (lambda o, x: o.sinc(x), [G]),
    "deg2rad": (lambda o, x: o.deg2rad(x), [G]),
    "rad2deg": (lambda o, x: o.rad2deg(x), [G]),
    "fabs": (lambda o, x: o.fabs(x), [G]),
    "arctan2": (lambda o, a, b: o.arctan2(a, b), [G, GU]),
    "hypot": (lambda o, a, b: o.hypot(a, b), [G, GU]),
    "logaddexp": (lambda o, a, b: o.logaddexp(a, b), [G, GU * 3]),
    "logaddexp2": (lambda o, a, b: o.logaddexp2(a, b), [G, GW[:, None]]),
    "ldexp": (lambda o, x: o.ldexp(x, np.array([1, 2, 3, 0])), [G]),
    "fmod": (lambda o, a, b: o.fmod(a, b), [G * 5, GPOS]),
    "fmax": (lambda o, a, b: o.fmax(a, b), [GNAN, GU]),
    "fmin": (lambda o, a, b: o.fmin(a, b), [G, GU]),
    "divide_no_nan": (lambda o, a, b: o.divide_no_nan(a, b), [G, GPOS]),
    "divide_no_nan_zero": (lambda o, a: o.divide_no_nan(a, np.where(GU > 0, GU, 0)), [G]),
    "nan_to_num": (lambda o, x: o.nan_to_num(x, nan=2.0), [GNAN]),
    "amax": (lambda o, x: o.amax(x, axis=1), [G]),
    "amin": (lambda o, x: o.amin(x, axis=0, keepdims=True), [G]),
    "ptp": (lambda o, x: o.ptp(x, axis=1), [G]),
    "median": (lambda o, x: o.median(x, axis=1), [G]),
    "median_odd": (lambda o, x: o.median(x, axis=0), [G]),
    "quantile": (lambda o, x: o.quantile(x, np.array([0.15, 0.6]), axis=-1), [GC]),
    "percentile": (lambda o, x: o.percentile(x, 35.0), [G]),
    "nansum": (lambda o, x: o.nansum(x, axis=0), [GNAN]),
    "nanmean": (lambda o, x: o.nanmean(x, axis=1), [GNAN]),
    "nanvar": (lambda o, x: o.nanvar(x, axis=1), [GNAN]),
    "nanstd": (lambda o, x: o.nanstd(x), [GNAN]),
    "nanmax": (lambda o, x: o.nanmax(x, axis=0), [GNAN]),
    "nanprod": (lambda o, x: o.nanprod(x, axis=1), [GNAN]),
    "nancumsum": (lambda o, x: o.nancumsum(x, axis=1), [GNAN]),
    "cumprod": (lambda o, x: o.cumprod(x, axis=1), [G]),
    "cumprod_zero": (lambda o, x: o.cumprod(x, axis=1), [GZ]),
    "cumprod_flat": (lambda o, x: o.cumprod(x), [G]),
    "ravel": (lambda o, x: o.ravel(x), [GC]),
    "copy": (lambda o, x: o.copy(x), [G]),
    "real": (lambda o, x: o.real(x), [G]),
    "conj": (lambda o, x: o.conj(x), [G]),
    "flip": (lambda o, x: o.flip(x, axis=(0, 2)), [GC]),
    "fliplr": (lambda o, x: o.fliplr(x), [G]),
    "flipud": (lambda o, x: o.flipud(x), [G]),
    "rot90": (lambda o, x: o.rot90(x, k=3), [G]),
    "roll": (lambda o, x: o.roll(x, 3, axis=1), [G]),
    "roll_flat": (lambda o, x: o.roll(x, -5), [G]),
    "pad": (lambda o, x: o.pad(x, ((1, 0), (2, 1)), constant_values=1.5), [G]),
    "pad_reflect": (lambda o, x: o.pad(x, ((2, 1), (1, 3)), mode="reflect"), [G]),
    "append": (lambda o, a, b: o.append(a, b, axis=0), [G, G[:1]]),
    "hstack": (lambda o, a, b: o.hstack([a, b]), [G, G[:, :2]]),
    "vstack": (lambda o, a, b: o.vstack([a, b]), [GV, GV[::-1].copy()]),
    "dstack": (lambda o, a, b: o.dstack([a, b]), [G, GU]),
    "array_split": (lambda o, x: o.array_split(x, 3, axis=1)[0], [G]),
    "hsplit": (lambda o, x: o.hsplit(x, 2)[1], [G]),
    "vsplit": (lambda o, x: o.vsplit(x, 3)[2], [G]),
    "dsplit": (lambda o, x: o.dsplit(x, 2)[0], [GC]),
    "diag_vector": (lambda o, x: o.diag(x, k=-1), [GV]),
    "diag_matrix": (lambda o, x: o.diag(x, k=1), [G]),
    "diagflat": (lambda o, x: o.diagflat(x), [G[:2, :2]]),
    "diagonal": (lambda o, x: o.diagonal(x, offset=1, axis1=1, axis2=2), [GC]),
    "trace": (lambda o, x: o.trace(x, axis1=0, axis2=2), [GC]),
    "diff": (lambda o, x: o.diff(x, n=2), [G]),
    "cross": (lambda o, a, b: o.cross(a, b), [RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))]),
    "kron": (lambda o, a, b: o.kron(a, b), [G[:2, :3], GSQ]),
    "outer": (lambda o, a, b: o.outer(a, b), [GV, GW]),
    "inner": (lambda o, a, b: o.inner(a, b), [G, GU[:2]]),
    "vdot": (lambda o, a, b: o.vdot(a, b), [GV, GV[::-1] * 2.0]),
    "meshgrid": (lambda o, a, b: o.meshgrid(a, b)[0] * o.meshgrid(a, b)[1], [GV, GW]),
    "select": (
        lambda o, a, b: o.select([a > 0.5, b < 0.0], [a, b * 2], default=-1.0),
        [G, GU],
    ),
    "trapezoid": (lambda o, y: o.trapezoid(y, axis=0), [G]),
    "trapezoid_x": (lambda o, y, x: o.trapezoid(y, x=x), [G, np.cumsum(GPOS[0])]),
    "correlate": (lambda o, a, v: o.correlate(a, v, mode="full"), [GV, GW]),
    "correlate_same": (lambda o, a, v: o.correlate(a, v, mode="same"), [GV, GW]),
    "corrcoef": (lambda o, x: o.corrcoef(x), [G]),
    "slogdet": (lambda o, x: o.slogdet(x)[1], [GSQ]),
    "vectorize": (lambda o, a, b: o.vectorize(lambda s, t: s * t + s)(a, b), [G, GU[0]]),
}

# gradients only checked by finite differences: Keras on torch pads "edge" and "wrap" not at
# all and "symmetric" as "replicate" (not NumPy's symmetric); its vander writes in place, which
# torch autograd refuses
FD_ONLY = {
    "vander": (lambda o, x: o.vander(x), [GW]),
    "pad_symmetric": (lambda o, x: o.pad(x, ((2, 1), (3, 2)), mode="symmetric"), [G]),
    "pad_edge": (lambda o, x: o.pad(x, ((0, 2), (1, 1), (2, 0)), mode="edge"), [GC]),
    "pad_wrap": (lambda o, x: o.pad(x, ((1, 1), (2, 3)), mode="wrap"), [G]),
    "fmod_int_exponent": (lambda o, x: o.fmod(x, 0.7), [G]),
}


@pytest.mark.parametrize("name", sorted({**GRAD_CASES, **FD_ONLY}))
def test_new_ops_gradients_match_finite_differences(name):
    fn, inputs = {**GRAD_CASES, **FD_ONLY}[name]
    check_gradients(lambda *ts: fn(ops, *ts), inputs if len(inputs) > 1 else inputs[0]).assert_ok()


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_new_ops_gradients_match_torch(name):
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    fn, inputs = GRAD_CASES[name]
    mine = [axonal.Tensor(x.copy(), requires_grad=True) for x in inputs]
    out = fn(ops, *mine)
    weights = np.cos(np.arange(out.data.size)).reshape(out.data.shape)
    ops.sum(ops.multiply(out, weights)).backward()
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    reference = fn(keras.ops, *theirs)
    assert tuple(reference.shape) == out.data.shape
    (reference * torch.tensor(weights, dtype=reference.dtype)).sum().backward()
    for t, r in zip(mine, theirs, strict=True):
        want = np.nan_to_num(r.grad.numpy())  # torch leaves NaN gradients at NaN inputs
        np.testing.assert_allclose(np.nan_to_num(t.grad), want, rtol=1e-4, atol=1e-5)


def test_what_keras_on_torch_cannot_compare_matches_numpy():
    for mode, widths in (("symmetric", ((2, 1), (3, 2))), ("edge", ((1, 1), (0, 2))),
                         ("wrap", ((1, 1), (2, 3)))):  # fmt: skip
        np.testing.assert_array_equal(ops.pad(X32, widths, mode=mode).data,
                                      np.pad(X32, widths, mode=mode))  # fmt: skip
    np.testing.assert_array_equal(ops.pad(I32, 2).data, np.pad(I32, 2))
    np.testing.assert_array_equal(ops.imag(X32).data, np.zeros_like(X32))
    np.testing.assert_allclose(
        ops.linspace(np.zeros(2), np.ones(2), num=3, axis=1).data,
        np.linspace(np.zeros(2), np.ones(2), num=3, axis=1),
    )
    # a negative index counts from the end of the flattened array, as in NumPy
    assert float(ops.take(X32, -1).data) == X32.flat[-1]
    rows, cols = ops.nonzero(I32)  # a tuple per axis, as NumPy (Keras on torch stacks them)
    np.testing.assert_array_equal(I32[rows.data, cols.data], I32[I32 != 0])
    parts = ops.array_split(X32, [1, 3], axis=1)
    assert [p.shape for p in parts] == [(3, 1), (3, 2), (3, 1)]
    order = ops.argpartition(X32, 1, axis=1).data
    assert order.dtype == np.int32
    ranked = np.take_along_axis(X32, order, axis=1)
    np.testing.assert_array_equal(ranked[:, 1], np.sort(X32, axis=1)[:, 1])
    assert np.all(ranked[:, :1] <= ranked[:, 1:2]) and np.all(ranked[:, 2:] >= ranked[:, 1:2])
    assert ops.cross(VEC3A[:, :2], VEC3B[:, :2]).shape == (4,)
    np.testing.assert_allclose(ops.cross(VEC3A[:, :2], VEC3B).data,
                               np.cross(VEC3A[:, :2], VEC3B), rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(
        ops.vectorize(lambda a, b: ops.sum(a * b), signature="(n),(n)->()")(X32, X32).data,
        np.sum(X32 * X32, axis=1),
        rtol=1e-6,
    )


def test_float64_stays_float64_and_integers_become_floatx():
    for fn in (ops.sin, ops.logaddexp2, ops.median, ops.nanmean, ops.corrcoef):
        args = (X64, X64) if fn is ops.logaddexp2 else (X64,)
        assert fn(*args).data.dtype == np.float64, fn.__name__
        args = (I32, I32) if fn is ops.logaddexp2 else (I32,)
        assert fn(*args).data.dtype == np.float32, fn.__name__


def test_numpy_ops_on_symbolic_tensors_in_a_functional_model(tmp_path):
    inputs = axonal.Input((3, 4))
    rolled = ops.roll(ops.flip(inputs, axis=-1), 1, axis=1)
    stacked = ops.hstack([ops.sin(rolled), ops.pad(inputs, ((0, 0), (0, 0), (1, 1)))[..., :4]])
    summary = ops.concatenate(
        [ops.median(stacked, axis=-1), ops.trace(stacked, axis1=1, axis2=2)[:, None]], axis=-1
    )
    outputs = axonal.layers.Dense(2)(ops.logaddexp(summary, ops.cumprod(summary, axis=-1)))
    model = axonal.Model(inputs, outputs)
    x = RNG.random((2, 3, 4)).astype("float32")
    r = np.roll(np.flip(x, -1), 1, axis=1)
    s = np.concatenate([np.sin(r), np.pad(x, ((0, 0), (0, 0), (1, 1)))[..., :4]], axis=1)
    t = np.concatenate([np.median(s, axis=-1), np.trace(s, axis1=1, axis2=2)[:, None]], axis=-1)
    kernel, bias = model.layers[-1].get_weights()
    want = np.logaddexp(t, np.cumprod(t, axis=-1)) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "numpy_ops.axonal")
    loaded = axonal.models.load_model(tmp_path / "numpy_ops.axonal")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # training reaches the weights through them
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.zeros((2, 2), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_symbolic_results_carry_the_ops_dtypes():
    inputs = axonal.Input((4,))
    codes = ops.cast(ops.multiply(inputs, 4.0), "int32")
    assert codes.dtype == "int32"
    assert ops.argpartition(inputs, 1).dtype == "int32" and ops.isin(codes, [1]).dtype == "bool"
    masked = ops.bitwise_and(codes, 3)  # probed with int32 zeros, not the layer's float32
    rows, cols = ops.unravel_index(masked, (2, 2))
    model = axonal.Model(inputs, [masked, rows, cols, ops.count_nonzero(masked, axis=1)])
    x = RNG.random((3, 4)).astype("float32")
    got = model.predict(x, verbose=0)
    want = (x * 4).astype("int32") & 3
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], want // 2)
    np.testing.assert_array_equal(got[2], want % 2)
    np.testing.assert_array_equal(got[3], np.count_nonzero(want, axis=1))
    assert [g.dtype for g in got] == [np.int32] * 4


def test_ops_numpy_signatures_are_keras_signatures():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    import inspect

    def parameters(fn):
        return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]

    # clip: axonal's bounds default to None (a superset); einsum takes no backend kwargs
    differing = {
        name
        for name in ops.numpy.__all__
        if hasattr(keras.ops.numpy, name)
        and parameters(getattr(ops.numpy, name)) != parameters(getattr(keras.ops.numpy, name))
    }
    assert differing == {"clip", "einsum"}
