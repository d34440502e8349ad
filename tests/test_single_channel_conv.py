"""The compiled kernel gradient of single-channel convolutions (an image's first layer).

``conv._single_channel_conv`` and ``conv._single_channel_kernel_grad`` sum shifted runs of the
flattened padded image (against the kernel, or the output gradient laid out channel-first)
instead of GEMMs over an im2col matrix, which is never built. The sums are grouped differently
from the GEMMs', so the output and the kernel and bias gradients agree with the im2col path
within float32 rounding of their terms (``tolerance.assert_sums_close``); the input gradient is
the same arithmetic and equal bit for bit.
"""

import numpy as np
import pytest

from axonal import kernels
from axonal.primitives import conv
from axonal.primitives.conv import Conv1D, Conv2D, Conv2DRelu
from tolerance import assert_sums_close

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def _run(op_class, x, kernel, bias, g, **attrs):
    op = op_class()
    op.needs_grad = (True, True, True)
    out = op.forward(x, kernel, bias, **attrs)
    return op, out, op.backward(g)


def _magnitude(x, g, kernel_shape, attrs):
    """Sum of |terms| of each kernel-gradient entry: the im2col GEMM on absolute values."""
    op = Conv2D()
    op.needs_grad = (False, True, False)
    op.forward(np.abs(x).astype(np.float64), np.zeros(kernel_shape), **attrs)
    return op.backward(np.abs(g).astype(np.float64))[1]


CASES = [
    # x shape, kernel shape, attrs, dtype
    ((64, 28, 28, 1), (5, 5, 1, 6), {}, np.float32),  # LeNet's first convolution
    ((3, 20, 18, 1), (3, 3, 1, 4), {"pads": ((1, 1), (1, 1))}, np.float32),  # 9 taps, 4 channels
    ((2, 24, 21, 1), (2, 3, 1, 3), {"dilation": (2, 1), "pads": ((1, 0), (0, 2))}, np.float64),
    ((5, 6, 6, 1), (1, 1, 1, 1), {}, np.float32),
]


@pytest.mark.parametrize("op_class", [Conv2D, Conv2DRelu])
@pytest.mark.parametrize("x_shape, kernel_shape, attrs, dtype", CASES)
def test_single_channel_convolution_agrees_with_the_im2col_path(
    monkeypatch, op_class, x_shape, kernel_shape, attrs, dtype
):
    rng = np.random.default_rng(sum(x_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    bias = rng.standard_normal(kernel_shape[-1]).astype(dtype)
    before_relu = Conv2D().forward(x, kernel, bias, **attrs)
    g = rng.standard_normal(before_relu.shape).astype(dtype)
    # no gradient where rounding could put an output on either side of ReLU's kink
    g[np.abs(before_relu) < 1e-3] = 0
    op, out, (gx, gk, gb) = _run(op_class, x, kernel, bias, g, **attrs)
    assert op.image is not None and op.cols is None  # the compiled path ran
    monkeypatch.setattr(conv, "_single_channel_direct", lambda *args: False)
    ref, ref_out, (ref_gx, ref_gk, ref_gb) = _run(op_class, x, kernel, bias, g, **attrs)
    assert ref.cols is not None
    taps = kernel_shape[0] * kernel_shape[1]
    window_sums = Conv2D().forward(
        np.abs(x).astype(np.float64), np.abs(kernel).astype(np.float64), np.abs(bias), **attrs
    )
    assert out.dtype == dtype and out.flags.c_contiguous
    assert_sums_close(out, ref_out, fan_in=taps + 1, magnitude=window_sums)
    np.testing.assert_array_equal(gx, ref_gx)
    assert gk.shape == kernel.shape and gk.dtype == dtype and gk.flags.c_contiguous
    positions = before_relu.shape[0] * before_relu.shape[1] * before_relu.shape[2]
    assert_sums_close(gk, ref_gk, fan_in=positions, magnitude=_magnitude(x, g, kernel_shape, attrs))
    # the bias gradient: column sums here, the GEMM's ones column there
    magnitude = np.abs(g.astype(np.float64)).reshape(-1, g.shape[-1]).sum(axis=0)
    assert_sums_close(gb, ref_gb, fan_in=positions, magnitude=magnitude)
    # per-example rules (DP) read the im2col matrix: built again, the same as the kept one
    np.testing.assert_array_equal(op.columns(), ref.columns())


def test_the_fused_relu_keeps_nan_and_zeroes_negatives():
    x = np.zeros((1, 6, 6, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    kernel = np.ones((3, 3, 1, 2), np.float32)
    bias = np.array([-1.0, 2.0], np.float32)
    out = Conv2DRelu().forward(x, kernel, bias)
    assert np.isnan(out[0, 0, 0]).all()  # the window holding the NaN
    np.testing.assert_array_equal(out[0, 1:, 1:, 0], 0)  # -1 -> 0
    np.testing.assert_array_equal(out[0, 1:, 1:, 1], 2)


def test_one_dimensional_single_channel_convolutions_take_it_too(monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 50, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 1, 5)).astype(np.float32)
    g = rng.standard_normal((4, 50, 5)).astype(np.float32)
    attrs = {"pads": ((2, 0),)}  # causal
    op, out, (gx, gk) = _run(Conv1D, x, kernel, None, g, **attrs)
    assert op.image is not None
    monkeypatch.setattr(conv, "_single_channel_direct", lambda *args: False)
    _, ref_out, (ref_gx, ref_gk) = _run(Conv1D, x, kernel, None, g, **attrs)
    window_sums = Conv1D().forward(np.abs(x).astype(np.float64), np.abs(kernel), **attrs)
    assert_sums_close(out, ref_out, fan_in=3, magnitude=window_sums)
    np.testing.assert_array_equal(gx, ref_gx)
    magnitude = _magnitude(x[:, None], g[:, None], (1,) + kernel.shape, {"pads": ((0, 0), (2, 0))})
    assert_sums_close(gk, ref_gk, fan_in=200, magnitude=magnitude[0])


@pytest.mark.parametrize(
    "x_shape, kernel_shape, attrs",
    [
        ((2, 20, 20, 1), (3, 3, 1, 2), {"strides": (2, 2)}),
        ((2, 20, 20, 2), (3, 3, 2, 2), {}),  # two input channels
        ((2, 20, 20, 1), (3, 3, 1, 8), {}),  # as many output channels as a register holds
        ((2, 8, 8, 1), (3, 3, 1, 2), {"pads": ((1, 1), (1, 1))}),  # the gutters: 1.56x
    ],
)
def test_other_convolutions_keep_the_im2col_matrix(x_shape, kernel_shape, attrs):
    rng = np.random.default_rng(8)
    op = Conv2D()
    op.needs_grad = (False, True)
    x = rng.standard_normal(x_shape).astype(np.float32)
    op.forward(x, rng.standard_normal(kernel_shape).astype(np.float32), **attrs)
    assert op.image is None and op.cols is not None
