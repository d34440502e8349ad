"""The optional compiled loops (axonal.conv_kernels, axonal.recurrent_kernels,
axonal.pointwise_kernels) give NumPy's numbers.

Each case runs one primitive twice, with the compiled loops switched off (``enabled = False``)
and on, and asserts bit-identical outputs and gradients: the loops promise the NumPy path's
float operations in its order.
"""

import numpy as np
import pytest

from axonal import conv_kernels, kernels, pointwise_kernels
from axonal.primitives import core
from axonal.primitives import norm as core_norm
from axonal.primitives.attention import PackedSelfAttention
from axonal.primitives.conv import Conv2D, MaxPool2D
from axonal.primitives.core import AffineRelu, Relu, Take
from axonal.primitives.norm import NormalizeChannels, NormalizeLastAxis

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def _both(monkeypatch, run):
    monkeypatch.setattr(conv_kernels, "enabled", False)
    expected = run()
    monkeypatch.setattr(conv_kernels, "enabled", None)
    return expected, run()


def _max_pool(x, g, pads=((0, 0), (0, 0))):
    op = MaxPool2D()
    op.needs_grad = (True,)
    out = op.forward(x, pool=(2, 2), strides=(2, 2), pads=pads)
    (gx,) = op.backward(g[tuple(slice(0, size) for size in out.shape)].copy())
    return out, np.ascontiguousarray(gx), op.arg is not None


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, pads",
    [
        ((3, 8, 8, 5), ((0, 0), (0, 0))),
        ((2, 7, 9, 3), ((0, 0), (0, 0))),  # odd sizes: a row and a column outside every window
        ((2, 7, 9, 6), ((0, 1), (1, 0))),  # 'same' pooling pads with -inf
        ((64, 24, 24, 6), ((0, 0), (0, 0))),  # LeNet's first pooling
        # from MANY_CHANNELS channels the gradient is written by the row-wise loop
        ((4, 8, 8, 32), ((0, 0), (0, 0))),  # the digits CNN's pooling
        ((2, 7, 9, 20), ((0, 1), (1, 0))),
    ],
)
def test_compiled_max_pool_is_bit_identical(monkeypatch, dtype, shape, pads):
    rng = np.random.default_rng(0)
    # small integers: many ties, so the first-maximum rule decides where gradients go
    x = rng.integers(-2, 3, shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    g.reshape(-1)[:4] = [-0.0, np.inf, -np.inf, np.nan]
    with np.errstate(invalid="ignore"):
        expected, got = _both(monkeypatch, lambda: _max_pool(x, g, pads))
    assert expected[2] is False and got[2] is True  # each path really ran
    for want, have in zip(expected[:2], got[:2], strict=True):
        assert have.dtype == dtype
        np.testing.assert_array_equal(have, want)
        np.testing.assert_array_equal(np.signbit(have), np.signbit(want))


@needs_numba
def test_compiled_max_pool_propagates_nan_like_numpy(monkeypatch):
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype(np.float32)
    x[0, 1, 1, 1] = np.nan
    x[1, 4, 5, 2] = np.nan
    g = np.ones_like(x)
    expected, got = _both(monkeypatch, lambda: _max_pool(x, g))
    np.testing.assert_array_equal(got[0], expected[0])  # NaN where NumPy's max has NaN
    assert np.isnan(got[0]).sum() == 2


@needs_numba
def test_other_pool_shapes_and_strided_gradients_take_the_numpy_path(monkeypatch):
    x = np.random.default_rng(2).standard_normal((2, 9, 9, 4)).astype(np.float32)
    op = MaxPool2D()
    op.needs_grad = (True,)
    op.forward(x, pool=(3, 3), strides=(2, 2))
    assert op.arg is None
    op = MaxPool2D()
    op.needs_grad = (True,)
    out = op.forward(x, pool=(2, 2), strides=(2, 2))
    # a gradient the compiled loop cannot take (not contiguous) is routed through the same taps
    g = np.random.default_rng(3).standard_normal(out.shape[:3] + (8,)).astype(np.float32)
    (strided,) = op.backward(g[..., ::2])
    (contiguous,) = op.backward(np.ascontiguousarray(g[..., ::2]))
    np.testing.assert_array_equal(strided, contiguous)


def _conv_input_grad(x, kernel, g, **attrs):
    op = Conv2D()
    op.needs_grad = (True, False)
    op.forward(x, kernel, **attrs)
    return op.backward(g)[0]


@needs_numba
@pytest.mark.parametrize(
    "dtype, x_shape, kernel_shape, attrs",
    [
        # the few-channel, pixel-first layouts whose input gradient is scattered compiled
        (np.float32, (64, 12, 12, 6), (5, 5, 6, 16), {}),  # LeNet's second convolution
        (np.float64, (64, 12, 12, 3), (5, 5, 3, 16), {}),
        (np.float32, (3, 9, 5, 3), (3, 3, 3, 4), {"strides": (2, 1), "pads": ((1, 2), (0, 1))}),
        (
            np.float64,
            (2, 9, 10, 2),
            (2, 3, 2, 5),
            {"strides": (1, 2), "dilation": (2, 2), "pads": ((1, 0), (2, 1))},
        ),
        (np.float32, (2, 11, 9, 3), (3, 3, 3, 4), {"strides": (2, 3), "dilation": (1, 2)}),
    ],
)
def test_compiled_conv_input_gradient_is_bit_identical(
    monkeypatch, dtype, x_shape, kernel_shape, attrs
):
    from axonal.primitives import conv

    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    out_shape = Conv2D().forward(x, kernel, **attrs).shape
    g = rng.standard_normal(out_shape).astype(dtype)
    g.reshape(-1)[:4] = [-0.0, np.inf, -np.inf, np.nan]
    scattered = []
    scatter = conv._scatter_wide_products

    def counting(*args, **kwargs):
        result = scatter(*args, **kwargs)
        scattered.append(result is not None)
        return result

    monkeypatch.setattr(conv, "_scatter_wide_products", counting)
    with np.errstate(invalid="ignore"):
        expected, got = _both(monkeypatch, lambda: _conv_input_grad(x, kernel, g, **attrs))
    # the NumPy path, then the compiled scatter, once per block of images each
    blocks = len(scattered) // 2
    assert blocks >= 1 and scattered == [False] * blocks + [True] * blocks
    assert got.shape == x.shape and got.flags.c_contiguous and got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_switched_off_never_loads_the_kernels(monkeypatch):
    monkeypatch.setattr(conv_kernels, "enabled", False)
    assert conv_kernels.compiled() is None


@needs_numba
def test_prepare_loads_the_loops():
    assert conv_kernels.prepare("float64") is True
    assert conv_kernels.compiled() is not None


# ---------------------------------------------------------------- LSTM backward steps


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_compiled_lstm_backward_is_bit_identical(monkeypatch, dtype, reverse):
    from axonal import recurrent_kernels
    from axonal.primitives.recurrent import LSTMSequence

    rng = np.random.default_rng(6)
    batch, steps, units = 5, 7, 3
    xproj = rng.standard_normal((batch, steps, 4 * units)).astype(dtype)
    kernel = (rng.standard_normal((units, 4 * units)) * 0.5).astype(dtype)
    h0, c0 = (rng.standard_normal((batch, units)).astype(dtype) for _ in range(2))
    g = rng.standard_normal((batch, steps + 2, units)).astype(dtype)
    g[0, 0, 0] = -0.0

    def run():
        op = LSTMSequence()
        op.needs_grad = (True, True, True, True)
        out = op.forward(xproj, kernel, h0, c0, reverse=reverse)
        return [out, *op.backward(g)], op.loops is not None

    monkeypatch.setattr(recurrent_kernels, "enabled", False)
    expected, compiled_before = run()
    monkeypatch.setattr(recurrent_kernels, "enabled", None)
    got, compiled_after = run()
    assert (compiled_before, compiled_after) == (False, True)
    for want, have in zip(expected, got, strict=True):
        assert have.dtype == dtype
        np.testing.assert_array_equal(have, want)


@needs_numba
def test_lstm_with_a_mask_or_recurrent_dropout_keeps_the_numpy_steps():
    from axonal.primitives.recurrent import LSTMSequence

    rng = np.random.default_rng(7)
    xproj = rng.standard_normal((2, 4, 8)).astype(np.float32)
    kernel = rng.standard_normal((2, 8)).astype(np.float32)
    h0 = c0 = np.zeros((2, 2), np.float32)
    masked = LSTMSequence()
    masked.needs_grad = (True, True, True, True)
    masked.forward(xproj, kernel, h0, c0, mask=np.ones((2, 4), bool))
    dropped = LSTMSequence()
    dropped.needs_grad = (True, True, True, True)
    dropped.forward(xproj, kernel, h0, c0, recurrent_masks=np.ones((4, 2, 2), np.float32))
    assert masked.loops is None and dropped.loops is None


# ---------------------------------------------------------------- normalization and ReLU passes


def _both_pointwise(monkeypatch, run, loops: int):
    """``run()`` on the NumPy path and on the compiled one, which must hand out ``loops``
    compiled passes (so the comparison cannot pass by running NumPy twice)."""
    monkeypatch.setattr(pointwise_kernels, "enabled", False)
    expected = run()
    monkeypatch.setattr(pointwise_kernels, "enabled", None)
    handed_out = []
    real = pointwise_kernels.compiled

    def counting(*arrays):
        found = real(*arrays)
        handed_out.append(found is not None)
        return found

    monkeypatch.setattr(pointwise_kernels, "compiled", counting)
    got = run()
    assert sum(handed_out) == loops
    return expected, got


def _special(array):
    """``array`` with signed zeros, infinities and a NaN among its first values."""
    array.reshape(-1)[:5] = [-0.0, 0.0, np.inf, -np.inf, np.nan]
    return array


def _assert_identical(have, want, dtype):
    assert have.dtype == dtype
    np.testing.assert_array_equal(have, want)
    np.testing.assert_array_equal(np.signbit(have), np.signbit(want))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3), (32, 50, 64), (4, 128, 128), (2, 5, 6, 7)])
@pytest.mark.parametrize("relu", [False, True])
def test_compiled_batch_normalization_forward_is_bit_identical(monkeypatch, dtype, shape, relu):
    # given the same statistics, the forward passes are elementwise: NumPy's numbers, ReLU's
    # too when fused (signed zeros, NaN)
    rng = np.random.default_rng(1)
    x = _special((rng.standard_normal(shape) * 3 + 1).astype(dtype))
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    rows = np.where(np.isfinite(x), x, 0).reshape(-1, shape[-1])
    mean, var = rows.mean(axis=0), rows.var(axis=0)

    def run():
        op = NormalizeChannels()
        with np.errstate(invalid="ignore"):
            out = op.forward(x, gamma, beta, epsilon=1e-3, mean=mean, var=var, relu=relu)
        return out, op.xhat

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    for want, have in zip(expected, got, strict=True):
        _assert_identical(have, want, dtype)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
def test_compiled_batch_normalization_gradient_pass_is_bit_identical(dtype, relu):
    # given the same sums, the input gradient's pass is NumPy's (with ReLU's mask formed as
    # relu_grad forms it, when fused)
    rng = np.random.default_rng(8)
    g = _special(rng.standard_normal((300, 7)).astype(dtype))
    xhat, out = rng.standard_normal((2, 300, 7)).astype(dtype)
    out.reshape(-1)[:4] = [-0.0, 0.0, np.nan, -np.inf]
    slope, shift, scale = rng.standard_normal((3, 7)).astype(dtype)
    with np.errstate(invalid="ignore"):
        masked = core.relu_grad(g, out) if relu else g
        want = (xhat * slope + masked - shift) * scale
    loops = pointwise_kernels.compiled(g)
    have = np.empty_like(g)
    if relu:
        zero, one = dtype(0), dtype(1)
        loops.normalize_rows_relu_grad(g, out, xhat, slope, shift, scale, zero, one, have)
    else:
        loops.normalize_rows_grad(g, xhat, slope, shift, scale, have)
    _assert_identical(have, want, dtype)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3), (32, 500, 64), (2, 5, 6, 7)])
@pytest.mark.parametrize("relu", [False, True])
def test_compiled_batch_normalization_backward_is_within_rounding(monkeypatch, dtype, shape, relu):
    # the sums down the rows (beta's and gamma's gradients, and the input gradient's terms)
    # are compiled in blocks of rows: within their rounding of float64's, as NumPy's path is
    from tolerance import assert_sums_close

    rng = np.random.default_rng(9)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    rows = x.reshape(-1, shape[-1])
    mean, var = rows.mean(axis=0), rows.var(axis=0)

    def run(x=x, g=g, gamma=gamma, beta=beta, mean=mean, var=var):
        op = NormalizeChannels()
        op.needs_grad = (True, True, True)
        out = op.forward(x, gamma, beta, epsilon=1e-3, mean=mean, var=var, relu=relu)
        return op.backward(g), op.xhat, op.inv_std, out

    expected, got = _both_pointwise(monkeypatch, run, loops=2)
    wide = [a.astype(np.float64) for a in (x, g, gamma, beta, mean, var)]
    exact, xhat, inv_std, out = run(*wide)
    count = rows.shape[0]
    along = tuple(range(len(shape) - 1))
    active = np.abs(wide[1]) * (out > 0 if relu else 1)
    sum_gx = (active * np.abs(xhat)).sum(axis=along)
    # each input gradient: two sums over the rows (divided by the count) and its own terms
    per_row = np.abs(xhat) * sum_gx / count + active.sum(axis=along) / count + active
    gradient = per_row * np.abs(inv_std * wide[2])
    bounds = ((count, gradient), (count, sum_gx), (count, active.sum(axis=along)))
    for name, want, (fan_in, magnitude), numpy_path, compiled in zip(
        ("x", "gamma", "beta"), exact, bounds, expected[0], got[0], strict=True
    ):
        for have in (numpy_path, compiled):
            assert have.dtype == dtype
            assert_sums_close(have, want, fan_in=fan_in, magnitude=magnitude, err_msg=name)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3), (32, 500, 64), (2, 5, 6, 7), (1000, 2)])
@pytest.mark.parametrize("offset", [1.0, 1000.0])
def test_compiled_channel_moments_are_within_rounding(monkeypatch, dtype, shape, offset):
    # BatchNormalization's statistics: summed in blocks of rows, so equal to float64's within
    # the rounding of those sums, however far the mean sits from zero (offset)
    from tolerance import assert_sums_close

    rng = np.random.default_rng(6)
    x = (rng.standard_normal(shape) * 3 + offset).astype(dtype)
    rows = x.reshape(-1, shape[-1]).astype(np.float64)
    count = rows.shape[0]

    def run():
        mean, var, centered = core_norm.centered_moments(x)
        return mean, var, centered is None

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    assert expected[2] is False and got[2] is True  # only the compiled loop skips the copy
    mean, var = rows.mean(axis=0), rows.var(axis=0)
    for have in (expected, got):
        assert have[0].dtype == dtype and have[1].dtype == dtype
        assert_sums_close(
            have[0], mean, fan_in=count, magnitude=np.abs(rows).mean(axis=0), err_msg="mean"
        )
        # the mean's own rounding changes the variance only to second order (the deviations
        # from the exact mean sum to zero), which holds while the mean's error stays well
        # below the spread: offsets up to some thousands of standard deviations in float32
        assert_sums_close(
            have[1], var, fan_in=count, magnitude=((rows - mean) ** 2).mean(axis=0), err_msg="var"
        )


@needs_numba
def test_compiled_batch_normalization_trains_like_the_numpy_path(monkeypatch):
    # the whole training op, statistics included: within rounding of the NumPy path
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((16, 30, 8)) * 2 + 5).astype(np.float32)
    gamma, beta = rng.standard_normal(8).astype(np.float32), np.ones(8, np.float32)
    g = rng.standard_normal((16, 30, 8)).astype(np.float32)

    def run():
        op = NormalizeChannels()
        op.needs_grad = (True, True, True)
        out = op.forward(x, gamma, beta, epsilon=1e-3)
        return (out,) + tuple(op.backward(g))

    expected, got = _both_pointwise(monkeypatch, run, loops=3)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4)


def _layer_norm(x, g, gamma, beta, needs=(True, True, True)):
    """LayerNormalization's output, xhat and gradients (x, gamma, beta) from one op."""
    op = NormalizeLastAxis()
    op.needs_grad = needs
    out = op.forward(x, gamma, beta, epsilon=1e-3)
    with np.errstate(invalid="ignore"):
        return (out, op.xhat.copy()) + tuple(op.backward(g))


def _layer_norm_bounds(x, g, gamma, beta):
    """(fan-in, magnitude) per result of ``_layer_norm`` for ``assert_sums_close``: each value
    comes from row sums of ``F`` terms, and xhat's own rounding (about ``sqrt(F) * u`` times
    ``mean|x| / std + |xhat|``, from the mean and the variance) carries into the rest."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    features = x.shape[-1]
    gamma = np.ones(features) if gamma is None else gamma.astype(np.float64)
    beta = np.zeros(features) if beta is None else beta.astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    inv_std = 1 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-3)
    xhat = (x - mean) * inv_std
    spread = np.abs(x).mean(axis=-1, keepdims=True) * inv_std + np.abs(xhat)
    ghat = np.abs(g * gamma)
    mean_gx = (ghat * np.abs(xhat)).mean(axis=-1, keepdims=True)
    grad = inv_std * (ghat + ghat.mean(axis=-1, keepdims=True) + spread * mean_gx)
    grad += inv_std * np.abs(xhat) * (ghat * spread).mean(axis=-1, keepdims=True)
    rows = np.prod(x.shape[:-1])
    along = tuple(range(x.ndim - 1))
    return (
        (features, np.abs(gamma) * spread + np.abs(beta)),
        (features, spread),
        (features, grad),
        (rows * features, (np.abs(g) * spread).sum(axis=along)),
        (rows, np.abs(g).sum(axis=along)),
    )


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3), (32, 50, 64), (4, 128, 128), (2, 5, 6, 7), (3, 2048)])
@pytest.mark.parametrize("params", ["both", "no gamma", "no beta"])
def test_compiled_layer_normalization_is_within_rounding(monkeypatch, dtype, shape, params):
    # one loop per row takes the statistics too: sums in its own order, so equal within the
    # rounding of sums over a row, checked against float64 (and the NumPy path against it too)
    from tolerance import assert_sums_close

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma = None if params == "no gamma" else rng.standard_normal(shape[-1]).astype(dtype)
    beta = None if params == "no beta" else rng.standard_normal(shape[-1]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    # forward compiled only with both parameters; backward always
    expected, got = _both_pointwise(
        monkeypatch, lambda: _layer_norm(x, g, gamma, beta), loops=1 + (params == "both")
    )

    def wide(a):
        return None if a is None else a.astype(np.float64)

    exact = _layer_norm(x.astype(np.float64), g.astype(np.float64), wide(gamma), wide(beta))
    bounds = _layer_norm_bounds(x, g, gamma, beta)
    names = ("output", "xhat", "x gradient", "gamma gradient", "beta gradient")
    for name, want, numpy_path, compiled, (fan_in, magnitude) in zip(
        names, exact, expected, got, bounds, strict=True
    ):
        if want is None:  # no gamma: no gamma gradient on either path
            assert numpy_path is None and compiled is None
            continue
        assert compiled.dtype == dtype and compiled.shape == want.shape
        for have in (numpy_path, compiled):
            assert_sums_close(have, want, fan_in=fan_in, magnitude=magnitude, err_msg=name)


@needs_numba
def test_compiled_layer_normalization_keeps_nan_and_infinity_where_numpy_does(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 40)).astype(np.float32)
    x[1, 3], x[2, 5] = np.nan, np.inf
    gamma, beta = np.ones(40, np.float32), np.zeros(40, np.float32)
    g = _special(rng.standard_normal((6, 40)).astype(np.float32))
    with np.errstate(invalid="ignore", over="ignore"):
        expected, got = _both_pointwise(monkeypatch, lambda: _layer_norm(x, g, gamma, beta), 2)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(np.isnan(have), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(have), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(have[finite], want[finite], rtol=1e-4, atol=1e-4)


@needs_numba
@pytest.mark.parametrize("needs", [(True, False, False), (True, True, False), (False, True, True)])
def test_compiled_layer_normalization_returns_only_the_gradients_asked_for(monkeypatch, needs):
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((2, 8, 16)).astype(np.float32), np.ones((2, 8, 16), np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)
    _, got = _both_pointwise(
        monkeypatch, lambda: _layer_norm(x, g, gamma, beta, needs), loops=1 + needs[0]
    )
    assert [grad is not None for grad in got[2:]] == list(needs)


@needs_numba
@pytest.mark.parametrize("dropout", [False, True])
def test_compiled_attention_softmax_gradient_is_bit_identical(monkeypatch, dropout):
    rng = np.random.default_rng(5)
    qkv = rng.standard_normal((2, 9, 3, 2, 4)).astype(np.float32)
    keep = (rng.random((2, 2, 9, 9)) > 0.3).astype(np.float32) / 0.7 if dropout else None
    g = _special(rng.standard_normal((2, 9, 2, 4)).astype(np.float32))

    def run():
        op = PackedSelfAttention()
        op.needs_grad = (True, False, False)
        out = op.forward(qkv, None, keep, scale=0.5)
        with np.errstate(invalid="ignore"):
            return out, op.backward(g)[0]

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    for want, have in zip(expected, got, strict=True):
        _assert_identical(have, want, np.float32)


@needs_numba
def test_compiled_dense_relu_gradient_is_bit_identical(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((256, 96)).astype(np.float32)
    kernel = rng.standard_normal((96, 80)).astype(np.float32)
    bias = rng.standard_normal(80).astype(np.float32)
    g = _special(rng.standard_normal((256, 80)).astype(np.float32))

    def run():
        op = AffineRelu()
        op.needs_grad = (True, True, True)
        op.inputs = (None, None, None)  # no gradient buffers to write into
        out = op.forward(x, kernel, bias)
        with np.errstate(invalid="ignore"):
            return (out,) + tuple(op.backward(g))

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    for want, have in zip(expected, got, strict=True):
        _assert_identical(have, want, np.float32)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_gradient_is_bit_identical(monkeypatch, dtype):
    rng = np.random.default_rng(2)
    a = _special(rng.standard_normal((64, 300)).astype(dtype))
    g = _special(rng.standard_normal((64, 300)).astype(dtype))[::-1].copy()

    def run():
        op = Relu()
        out = op.forward(a)
        with np.errstate(invalid="ignore"):
            return out, op.backward(g)[0]

    assert a.size >= core._COMPILED_RELU_GRAD_MIN  # large enough for the compiled pass
    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    for want, have in zip(expected, got, strict=True):
        _assert_identical(have, want, dtype)


@needs_numba
def test_pointwise_loops_skip_arrays_they_cannot_take(monkeypatch):
    rows = np.ones((4, 3), np.float32)
    assert pointwise_kernels.compiled(rows, np.ones(3, np.float32)) is not None
    assert pointwise_kernels.compiled(rows, np.ones(3, np.float64)) is None  # mixed dtypes
    assert pointwise_kernels.compiled(rows[:, ::2]) is None  # strided
    assert pointwise_kernels.compiled(rows.astype(np.float16)) is None
    # a strided gradient still gets NumPy's numbers
    op = Relu()
    out = op.forward(np.linspace(-1, 1, 40000, dtype=np.float32).reshape(200, 200))
    g = np.arange(80000, dtype=np.float32).reshape(200, 400)[:, ::2]
    np.testing.assert_array_equal(op.backward(g)[0], g * (out > 0))


def test_pointwise_switched_off_never_loads_the_kernels(monkeypatch):
    monkeypatch.setattr(pointwise_kernels, "enabled", False)
    assert pointwise_kernels.compiled(np.ones(3)) is None


@needs_numba
def test_pointwise_prepare_loads_the_loops():
    assert pointwise_kernels.prepare("float64") is True


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vocabulary", [200, 20_000])
def test_compiled_embedding_scatter_is_bit_identical(monkeypatch, dtype, vocabulary):
    # up to eight occurrences per id, the compiled loop adds the rows as NumPy's rounds do
    rng = np.random.default_rng(7)
    table = rng.standard_normal((vocabulary, 6)).astype(dtype)
    # each of 150 ids exactly eight times, in random order
    ids = rng.permutation(np.repeat(rng.choice(vocabulary, 150, replace=False), 8))
    ids = ids.reshape(40, 30)
    g = _special(rng.standard_normal((40, 30, 6)).astype(dtype))

    def run():
        op = Take()
        op.forward(table, ids)
        with np.errstate(invalid="ignore"):
            return (op.backward(g)[0],)

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    _assert_identical(got[0], expected[0], dtype)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vocabulary", [5, 50, 20_000])
def test_compiled_embedding_scatter_of_a_padding_token_is_within_rounding(
    monkeypatch, dtype, vocabulary
):
    # an id's ninth and later rows are summed in order by the loop, pairwise by NumPy: both
    # within the rounding of those sums of the exact (float64) gradient
    from tolerance import assert_sums_close

    rng = np.random.default_rng(7)
    table = rng.standard_normal((vocabulary, 6)).astype(dtype)
    ids = rng.integers(0, vocabulary, (40, 30))
    ids[:, :10] = 0  # a padding token, 400 times
    g = rng.standard_normal((40, 30, 6)).astype(dtype)

    def run():
        op = Take()
        op.forward(table, ids)
        return (op.backward(g)[0],)

    expected, got = _both_pointwise(monkeypatch, run, loops=1)
    exact, magnitude = np.zeros((vocabulary, 6)), np.zeros((vocabulary, 6))
    np.add.at(exact, ids.reshape(-1), g.reshape(-1, 6).astype(np.float64))
    np.add.at(magnitude, ids.reshape(-1), np.abs(g.reshape(-1, 6)).astype(np.float64))
    count = np.bincount(ids.reshape(-1), minlength=vocabulary)[:, None]
    for have in (expected[0], got[0]):
        assert have.dtype == dtype
        assert_sums_close(have, exact, fan_in=count, magnitude=magnitude)
    # the first eight rows of each id are added alike: only ids beyond that may differ
    differs = np.any(expected[0] != got[0], axis=1)
    assert not differs[count[:, 0] <= 8].any()


def test_embedding_scatter_rejects_an_index_outside_the_table():
    # the compiled loop does not check bounds: such an index must never reach it
    out = np.zeros((10, 4), np.float32)
    rows = np.ones((300, 4), np.float32)
    indices = np.zeros(300, np.intp)
    indices[-1] = 10
    with pytest.raises(IndexError):
        core.scatter_add_rows(out, indices, rows)


def test_the_pooling_cases_cover_both_gradient_loops():
    # the bit-identity cases above have 3-6 channels and 20-32: one loop each side of the switch
    assert 6 < conv_kernels.MANY_CHANNELS <= 20
