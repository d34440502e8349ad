"""in_halves: elementwise passes split over two threads give the arrays one pass gives."""

import numpy as np
import pytest

from axonal.primitives import threads
from axonal.primitives.attention import ScaledDotProductAttention


def _jacobian(dp, row_dots, p):
    np.subtract(dp, row_dots, out=dp)
    np.multiply(dp, p, out=dp)


@pytest.mark.parametrize("rows", [1, 2, 7])
def test_halves_equal_one_pass_including_broadcast_operands(rows, monkeypatch):
    rng = np.random.default_rng(0)
    dp = rng.normal(size=(rows, 3, 5)).astype("float32")
    dots = rng.normal(size=(rows, 3, 1)).astype("float32")
    p = rng.random((1, 3, 5)).astype("float32")  # broadcast along the split axis: passed whole
    expected = dp.copy()
    _jacobian(expected, dots, p)
    monkeypatch.setattr(threads, "MIN_BYTES", 0)
    got = dp.copy()
    threads.in_halves(_jacobian, got, dots, p)
    np.testing.assert_array_equal(got, expected)


def test_attention_is_bit_identical_split_or_not(monkeypatch):
    rng = np.random.default_rng(1)
    q, k, v, g = (rng.normal(size=(6, 2, 9, 4)).astype("float32") for _ in range(4))
    results = []
    for min_bytes in (0, 1 << 62):
        monkeypatch.setattr(threads, "MIN_BYTES", min_bytes)
        op = ScaledDotProductAttention()
        op.needs_grad = (True, True, True, False, False)
        out = op.forward(q, k, v, None, None, 0.5)
        results.append([out, *op.backward(g)[:3]])
    for split, whole in zip(*results, strict=True):
        np.testing.assert_array_equal(split, whole)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_helper_thread(monkeypatch):
    import os

    monkeypatch.setattr(threads, "MIN_BYTES", 0)
    data = np.ones((4, 3))
    threads.in_halves(lambda a: np.multiply(a, 2, out=a), data)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: would hang on the parent's pool without the reset
        try:
            threads.in_halves(lambda a: np.multiply(a, 2, out=a), data)
            os._exit(0 if (data == 4).all() else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_layer_normalization_is_bit_identical_split_or_not(monkeypatch):
    from axonal.primitives.norm import NormalizeLastAxis

    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 8)).astype("float32")
    g = rng.normal(size=x.shape).astype("float32")
    gamma, beta = rng.normal(size=8).astype("float32"), rng.normal(size=8).astype("float32")
    results = []
    for min_bytes in (0, 1 << 62):
        monkeypatch.setattr(threads, "MIN_BYTES", min_bytes)
        op = NormalizeLastAxis()
        op.needs_grad = (True, True, True)
        out = op.forward(x, gamma, beta, epsilon=1e-3)
        results.append([out, *op.backward(g)])
    for split, whole in zip(*results, strict=True):
        np.testing.assert_array_equal(split, whole)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_relu_is_bit_identical_split_or_not(bias, monkeypatch):
    from axonal.primitives.core import Affine, AffineRelu

    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 5)).astype("float32")
    kernel = rng.normal(size=(5, 4)).astype("float32")
    b = rng.normal(size=4).astype("float32") if bias else None
    g = rng.normal(size=(9, 4)).astype("float32")
    for cls in (Affine, AffineRelu):
        results = []
        for min_bytes in (0, 1 << 62):
            monkeypatch.setattr(threads, "MIN_BYTES", min_bytes)
            op = cls()
            op.needs_grad = (True, True, True)
            op.inputs = (None, None, None)  # no gradient buffers: the engine is not involved
            args = (x, kernel) if b is None else (x, kernel, b)
            results.append([op.forward(*args), *op.backward(g)])
        for split, whole in zip(*results, strict=True):
            np.testing.assert_array_equal(split, whole)


def test_attention_with_dropout_and_a_mask_is_bit_identical_split_or_not(monkeypatch):
    rng = np.random.default_rng(5)
    q, k, v, g = (rng.normal(size=(6, 2, 9, 4)).astype("float32") for _ in range(4))
    keep = (rng.random((6, 2, 9, 9)) > 0.2).astype("float32") / np.float32(0.8)
    adder = np.where(np.tri(9, dtype=bool), 0.0, -1e9).astype("float32")  # (T, S): whole
    results = []
    for min_bytes in (0, 1 << 62):
        monkeypatch.setattr(threads, "MIN_BYTES", min_bytes)
        op = ScaledDotProductAttention()
        op.needs_grad = (True, True, True, False, False)
        out = op.forward(q, k, v, adder, keep, 0.5)
        results.append([out, op.probabilities, *op.backward(g)[:3]])
    for split, whole in zip(*results, strict=True):
        np.testing.assert_array_equal(split, whole)


def test_a_mask_with_fewer_axes_is_never_split_even_when_sizes_coincide(monkeypatch):
    monkeypatch.setattr(threads, "MIN_BYTES", 0)
    seen = []
    rows = np.zeros((4, 4, 3))
    mask = np.zeros((4, 3))  # (T, S) with T equal to the batch size
    threads.in_halves(lambda a, m: seen.append((a.shape, m.shape)), rows, mask)
    assert sorted(seen) == [((2, 4, 3), (4, 3)), ((2, 4, 3), (4, 3))]


def test_a_function_split_in_halves_may_split_again(monkeypatch):
    monkeypatch.setattr(threads, "MIN_BYTES", 0)
    data = np.arange(8.0).reshape(8, 1)

    def outer(a):  # the helper thread's half must not wait on itself
        threads.in_halves(lambda b: np.multiply(b, 2, out=b), a)

    threads.in_halves(outer, data)
    np.testing.assert_array_equal(data, 2 * np.arange(8.0).reshape(8, 1))
