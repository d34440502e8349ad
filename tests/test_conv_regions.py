"""A padded stride-1 convolution by border regions (axonal.primitives.conv_regions) equals the
im2col product within float rounding, and runs only where it pays."""

import numpy as np
import pytest

from axonal import primitives as P
from axonal.primitives import conv_regions
from tolerance import assert_sums_close


def _check(x, kernel, bias, pads, got):
    """``got`` against the im2col convolution (the op keeping its matrix), within the rounding
    of sums over the window's taps."""
    kept = P.Conv2D()
    kept.needs_grad = (True, True, True)
    want = kept.forward(x, kernel, bias, pads=pads)
    assert kept.cols is not None  # the im2col path
    wide = np.abs(bias).astype(np.float64) if bias is not None else None
    magnitude = P.Conv2D().forward(
        np.abs(x).astype(np.float64), np.abs(kernel).astype(np.float64), wide, pads=pads
    )
    fan_in = kernel[..., 0].size + (bias is not None)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert_sums_close(got, want, fan_in=fan_in, magnitude=magnitude)


@pytest.mark.parametrize(
    "shape, kernel_hw, pads",
    [
        ((5, 4, 4, 8), (3, 3), ((1, 1), (1, 1))),  # 'same' on the digits CNN's 4x4 maps
        ((3, 5, 7, 4), (3, 3), ((1, 1), (1, 1))),
        ((3, 6, 6, 4), (5, 5), ((2, 2), (2, 2))),
        ((2, 5, 6, 3), (3, 2), ((0, 2), (1, 0))),  # uneven padding
        ((2, 3, 3, 2), (3, 3), ((3, 3), (1, 4))),  # rows of windows wholly on the padding
        ((2, 6, 5, 3), (3, 3), ((0, 0), (0, 0))),  # no padding: one region
    ],
)
@pytest.mark.parametrize("biased", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regions_equal_the_im2col_product(shape, kernel_hw, pads, biased, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal(kernel_hw + (shape[-1], 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype) if biased else None
    h = shape[1] + sum(pads[0]) - kernel_hw[0] + 1
    w = shape[2] + sum(pads[1]) - kernel_hw[1] + 1
    matrix = kernel.reshape(-1, 5)
    if biased:
        matrix = np.concatenate([matrix, bias[None]])
    got = conv_regions.product(x, matrix, kernel_hw, (h, w), pads, biased)
    _check(x, kernel, bias, pads, got.reshape(shape[0], h, w, 5))


def test_regions_in_blocks_of_images_equal_one_block(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((37, 4, 4, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 16, 8)).astype(np.float32)
    matrix = np.concatenate([kernel.reshape(-1, 8), rng.standard_normal((1, 8))]).astype(x.dtype)
    pads = ((1, 1), (1, 1))
    whole = conv_regions.product(x, matrix, (3, 3), (4, 4), pads, True)
    inside = 1 - conv_regions.padding_share((4, 4), (3, 3), (4, 4), pads)
    per_image = 16 * (9 * 16 * inside + 1) * 4  # the bytes of an image's region matrices
    monkeypatch.setattr(conv_regions, "_BLOCK_BYTES", 5 * per_image)  # 5 images a block, then 2
    calls = []
    real = conv_regions._regions
    monkeypatch.setattr(conv_regions, "_regions", lambda x, *a: calls.append(len(x)) or real(x, *a))
    blocks = conv_regions.product(x, matrix, (3, 3), (4, 4), pads, True)
    # the same terms per output; BLAS may round a product of fewer rows differently
    magnitude = np.abs(x.reshape(37, -1)).sum(axis=1).max() * np.abs(matrix).max()
    assert_sums_close(blocks, whole, fan_in=9 * 16 + 1, magnitude=magnitude)
    assert calls == [5] * 7 + [2]


@pytest.mark.parametrize("relu", [False, True])
def test_a_convolution_without_kernel_gradient_runs_by_regions(monkeypatch, relu):
    # integrated gradients' case: a large batch of small padded maps, input gradients only
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 4, 4, 32)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 32, 16)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)
    pads = ((1, 1), (1, 1))
    calls = []
    real = conv_regions.product
    monkeypatch.setattr(conv_regions, "product", lambda *a: calls.append(1) or real(*a))
    op = P.Conv2DRelu() if relu else P.Conv2D()
    op.needs_grad = (True, False, False)
    got = op.forward(x, kernel, bias, pads=pads)
    assert calls == [1] and op.cols is None
    kept = P.Conv2DRelu() if relu else P.Conv2D()
    kept.needs_grad = (True, True, True)
    want = kept.forward(x, kernel, bias, pads=pads)
    plain = P.Conv2D()
    plain.needs_grad = (True, False, False)
    before_relu = plain.forward(x, kernel, bias, pads=pads)
    _check(x, kernel, bias, pads, before_relu)
    if relu:
        np.testing.assert_array_equal(got, np.maximum(before_relu, 0))
    # backward reads the kernel, not the forward's matrices: the same input gradient
    g = rng.standard_normal(want.shape).astype(np.float32)
    plain_kept = P.Conv2D()
    plain_kept.needs_grad = (True, True, True)
    plain_kept.forward(x, kernel, bias, pads=pads)
    np.testing.assert_array_equal(plain.backward(g)[0], plain_kept.backward(g)[0])
    np.testing.assert_array_equal(plain.columns(), plain_kept.columns())  # DP rebuilds it


def test_regions_run_only_where_they_pay():
    x = np.zeros((300, 4, 4, 32), np.float32)
    same = ((1, 1), (1, 1))
    assert conv_regions.padding_share((4, 4), (3, 3), (4, 4), same) == pytest.approx(44 / 144)
    assert conv_regions.suits(x, (3, 3), (4, 4), (1, 1), (1, 1), same, planar=False)
    assert not conv_regions.suits(x, (3, 3), (4, 4), (1, 1), (1, 1), same, planar=True)
    assert not conv_regions.suits(x, (3, 3), (2, 2), (2, 2), (1, 1), same, planar=False)
    assert not conv_regions.suits(x, (3, 3), (2, 2), (1, 1), (2, 2), same, planar=False)
    assert not conv_regions.suits(x[:100], (3, 3), (4, 4), (1, 1), (1, 1), same, planar=False)
    assert not conv_regions.suits(x[..., :8], (3, 3), (4, 4), (1, 1), (1, 1), same, False)
    # an 8x8 'same' map: 17% of the taps on padding, not worth nine GEMMs
    wide = np.zeros((300, 8, 8, 32), np.float32)
    assert conv_regions.padding_share((8, 8), (3, 3), (8, 8), same) < 0.25
    assert not conv_regions.suits(wide, (3, 3), (8, 8), (1, 1), (1, 1), same, planar=False)
    # no padding: one region, the plain product
    valid = ((0, 0), (0, 0))
    assert conv_regions.padding_share((4, 4), (3, 3), (2, 2), valid) == 0
