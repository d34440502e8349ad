"""The optional compiled convolution and pooling loops (axonal.conv_kernels) give NumPy's numbers.

Each case runs one primitive twice, with the compiled loops switched off (``enabled = False``)
and on, and asserts bit-identical outputs and gradients: the loops promise the NumPy path's
float operations in its order.
"""

import numpy as np
import pytest

from axonal import conv_kernels, kernels, parallel
from axonal.primitives import conv as conv_primitives
from axonal.primitives.conv import Conv2D, Conv2DRelu, MaxPool2D

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
@pytest.mark.parametrize("halves", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, pads",
    [
        ((3, 8, 8, 5), ((0, 0), (0, 0))),
        ((2, 7, 9, 3), ((0, 0), (0, 0))),  # odd sizes: a row and a column outside every window
        ((2, 7, 9, 6), ((0, 1), (1, 0))),  # 'same' pooling pads with -inf
        ((64, 24, 24, 6), ((0, 0), (0, 0))),  # LeNet's first pooling
    ],
)
def test_compiled_max_pool_is_bit_identical(monkeypatch, dtype, shape, pads, halves):
    # with halves, the two halves of the batch run side by side (where two CPUs are free)
    monkeypatch.setattr(conv_primitives, "PARALLEL_MIN_POOLED", 0 if halves else 1 << 62)
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


def test_switched_off_never_loads_the_kernels(monkeypatch):
    monkeypatch.setattr(conv_kernels, "enabled", False)
    assert conv_kernels.compiled() is None


# ---------------------------------------------------------------- batch halves in parallel


def _conv_pass(op_class, x, kernel, bias, needs_grad, g, **attrs):
    op = op_class()
    op.needs_grad = needs_grad
    out = op.forward(x, kernel, bias, **attrs)
    grads = op.backward(g)
    return [out] + [None if a is None else np.ascontiguousarray(a) for a in grads]


@pytest.mark.skipif(not parallel.available(), reason="needs two CPUs and NumPy's OpenBLAS")
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize(
    "x_shape, kernel_shape, attrs",
    [
        ((6, 12, 12, 1), (5, 5, 1, 6), {}),  # planar im2col (one input channel)
        ((5, 9, 9, 6), (3, 3, 6, 16), {"pads": ((1, 1), (1, 1))}),  # pixel-first, odd batch
        ((4, 11, 10, 3), (3, 2, 3, 4), {"strides": (2, 1), "dilation": (1, 2)}),
    ],
)
@pytest.mark.parametrize(
    "needs_grad",
    [(True, True, True), (False, True, True), (True, False, False), (False, False, True)],
)
def test_batch_halves_in_parallel_equal_the_whole_batch(
    monkeypatch, relu, x_shape, kernel_shape, attrs, needs_grad
):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    bias = rng.standard_normal(kernel_shape[-1]).astype(np.float32)
    op_class = Conv2DRelu if relu else Conv2D
    out = Conv2D().forward(x, kernel, bias, **attrs)
    g = rng.standard_normal(out.shape).astype(np.float32)
    calls = []
    real_run_pair = parallel.run_pair
    monkeypatch.setattr(conv_primitives, "PARALLEL_MIN_WORK", 1 << 62)
    whole = _conv_pass(op_class, x, kernel, bias, needs_grad, g, **attrs)
    monkeypatch.setattr(conv_primitives, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(parallel, "run_pair", lambda a, b: calls.append(1) or real_run_pair(a, b))
    halves = _conv_pass(op_class, x, kernel, bias, needs_grad, g, **attrs)
    assert len(calls) == 2  # forward and backward each ran two halves
    for want, have in zip(whole, halves, strict=True):
        if want is None:
            assert have is None
            continue
        assert have.dtype == want.dtype and have.shape == want.shape
        # images are independent: the halves differ only where a kernel or bias gradient adds
        # the two halves' sums (float32 rounding of a different order, relative to the sums'
        # scale where terms cancel)
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_run_pair_returns_both_results_and_raises_the_helpers_error():
    assert parallel.run_pair(lambda: 1, lambda: 2) == (1, 2)

    def fails():
        raise ValueError("from the helper")

    with pytest.raises(ValueError, match="from the helper"):
        parallel.run_pair(fails, lambda: 2)
    # the helper survives an error and the BLAS thread count is restored
    assert parallel.run_pair(lambda: "a", lambda: "b") == ("a", "b")
    controls = parallel._blas_controls()
    if controls:
        threads = controls[1]()
        parallel.run_pair(lambda: None, lambda: None)
        assert controls[1]() == threads


def test_run_pair_nested_runs_in_order():
    order = []
    inner = lambda: parallel.run_pair(lambda: order.append("x"), lambda: order.append("y"))  # noqa: E731
    parallel.run_pair(lambda: "helper", inner)
    assert sorted(order) == ["x", "y"]


@needs_numba
def test_prepare_loads_the_loops():
    assert conv_kernels.prepare("float64") is True
    assert conv_kernels.compiled() is not None


def test_run_pair_from_two_threads_at_once_gives_each_its_answers():
    # regression: a second thread's call while the helper worked handed it a job it then ran
    # as None
    import threading

    answers = {}

    def caller(name):
        answers[name] = [
            parallel.run_pair(lambda: (name, 1), lambda: (name, 2)) for _ in range(200)
        ]

    threads = [threading.Thread(target=caller, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in "ab":
        assert answers[name] == [((name, 1), (name, 2))] * 200
