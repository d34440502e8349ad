"""The per-tap GEMM 1-D convolution (``primitives.conv_taps``) against the im2col path.

Both compute the same sums in a different order: float64 agrees to ~1e-12 of each result's
scale, float32 to a few units in the last place of the sums (``tolerance.assert_sums_close``
bounds it from the terms' absolute sizes). Every case asserts that the tap path really ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from axonal import functional as F
from axonal import primitives as P
from axonal.layers import Conv1D
from axonal.primitives import conv_taps
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import gradcheck, randn
from tolerance import assert_sums_close


def _run(x, kernel, bias, pads, dilation, g):
    """Output and gradients of one ``P.Conv1D`` call, and whether it took the tap path."""
    op = P.Conv1D()
    op.needs_grad = (True, True, True) if bias is not None else (True, True)
    out = op.forward(x, kernel, bias, pads=(pads,), dilation=(dilation,))
    grads = op.backward(g)
    return out, grads, op.taps is not None


CASES = [
    # (length, channels, outputs, taps, dilation, pads)
    (12, 32, 5, 3, 1, (1, 1)),  # 'same'
    (12, 32, 4, 3, 2, (4, 0)),  # 'causal', dilated
    (9, 40, 3, 5, 1, (0, 0)),  # 'valid'
    (7, 32, 6, 1, 1, (0, 0)),  # pointwise
    (5, 32, 2, 4, 1, (1, 2)),  # even kernel, 'same' with the odd pad at the end
    (3, 32, 2, 3, 1, (0, 0)),  # one output step per series
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tap_gemms_equal_im2col(monkeypatch, case, bias, dtype):
    length, channels, outputs, taps, dilation, pads = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, length, channels)).astype(dtype)
    kernel = rng.standard_normal((taps, channels, outputs)).astype(dtype)
    b = rng.standard_normal(outputs).astype(dtype) if bias else None
    out_len = length + sum(pads) - (taps - 1) * dilation
    g = rng.standard_normal((3, out_len, outputs)).astype(dtype)
    out, grads, tapped = _run(x, kernel, b, pads, dilation, g)
    assert tapped
    monkeypatch.setattr(conv_taps, "suits", lambda *args: False)
    ref_out, ref_grads, ref_tapped = _run(x, kernel, b, pads, dilation, g)
    assert not ref_tapped
    assert out.shape == ref_out.shape and out.dtype == dtype and out.flags.c_contiguous
    # the same sums at the absolute values bound each result's rounding (tolerance.py)
    monkeypatch.undo()
    abs_b = None if b is None else np.abs(b).astype(np.float64)
    size_out, size_grads, _ = _run(
        *(np.abs(a).astype(np.float64) for a in (x, kernel)), abs_b, pads, dilation, np.abs(g)
    )
    fan_in = taps * channels + 1
    assert_sums_close(out, ref_out, fan_in=fan_in, magnitude=size_out)
    for got, want, size in zip(grads, ref_grads, size_grads, strict=True):
        assert got.shape == want.shape and got.dtype == dtype
        assert_sums_close(got, want, fan_in=3 * out_len * outputs, magnitude=size)


def test_gradcheck_on_the_tap_path():
    x, kernel, bias = randn(2, 8, 16), randn(3, 16, 3), randn(3)
    probe = P.Conv1D()
    probe.forward(x, kernel, bias, pads=((2, 2),), dilation=(2,))
    assert probe.taps is not None
    gradcheck(lambda t, k, c: F.conv1d(t, k, c, padding="same", dilation_rate=2), [x, kernel, bias])


def test_only_stride_one_ungrouped_wide_inputs_take_the_tap_path():
    wide = np.zeros((2, 10, 32), np.float32)
    kernel = np.zeros((3, 32, 4), np.float32)
    assert conv_taps.suits(wide, kernel, (1,), 1)
    assert not conv_taps.suits(wide, kernel, (2,), 1)
    assert not conv_taps.suits(wide, np.zeros((3, 16, 4), np.float32), (1,), 2)
    assert not conv_taps.suits(wide[:0], kernel, (1,), 1)  # an empty batch
    # a first layer's few channels: per-tap GEMMs with so short an inner axis are slow
    assert not conv_taps.suits(wide[..., :4], kernel[:, :4], (1,), 1)
    # float64 doubles the bytes per row: 16 channels suffice
    assert conv_taps.suits(np.zeros((2, 10, 16)), np.zeros((3, 16, 4)), (1,), 1)


def test_columns_equal_the_im2col_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 32))
    kernel = rng.standard_normal((3, 32, 4))
    bias = rng.standard_normal(4)
    op = P.Conv1D()
    op.forward(x, kernel, bias, pads=((2, 0),), dilation=(2,))
    assert op.taps is not None
    monkeypatch.setattr(conv_taps, "suits", lambda *args: False)
    ref = P.Conv1D()
    ref.forward(x, kernel, bias, pads=((2, 0),), dilation=(2,))
    np.testing.assert_array_equal(op.columns(), np.asarray(ref.columns()))


def test_the_layer_trains_the_same_on_either_path(monkeypatch):
    # two identical models, one per path: after a few Adam steps the weights still agree
    import axonal

    def train():
        clear_session()
        axonal.utils.set_random_seed(3)
        model = axonal.Sequential(
            [
                axonal.Input((20, 32)),
                Conv1D(32, 3, padding="same", activation="relu"),
                Conv1D(8, 5, padding="causal"),
                axonal.layers.GlobalAveragePooling1D(),
                axonal.layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.standard_normal((16, 20, 32)).astype(np.float32)
        y = rng.integers(0, 2, 16)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return [w.copy() for w in model.get_weights()], model.predict(x, verbose=0)

    weights, predictions = train()
    monkeypatch.setattr(conv_taps, "suits", lambda *args: False)
    ref_weights, ref_predictions = train()
    for got, want in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(predictions, ref_predictions, rtol=1e-4, atol=1e-5)


def test_inference_under_no_grad_equals_training_forward():
    from axonal.autograd import no_grad

    rng = np.random.default_rng(2)
    layer = Conv1D(6, 3, padding="same")
    x = rng.standard_normal((4, 11, 32)).astype(np.float32)
    with no_grad():
        first = layer(Tensor(x)).numpy().copy()
    second = layer(Tensor(x, requires_grad=True)).numpy()
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("block_bytes", [1, 2_000])
def test_series_blocks_give_the_same_convolution(monkeypatch, block_bytes):
    # blocks of one series (1 byte) or a few: every GEMM row range and the last block's shorter
    # range must still add up to the im2col convolution
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 11, 32))
    kernel = rng.standard_normal((3, 32, 4))
    bias = rng.standard_normal(4)
    g = rng.standard_normal((5, 11, 4))
    monkeypatch.setattr(conv_taps, "_BLOCK_BYTES", block_bytes)
    out, grads, tapped = _run(x, kernel, bias, (2, 0), 1, g)
    assert tapped
    monkeypatch.setattr(conv_taps, "suits", lambda *args: False)
    ref_out, ref_grads, _ = _run(x, kernel, bias, (2, 0), 1, g)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
