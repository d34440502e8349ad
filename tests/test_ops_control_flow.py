"""keras.ops core/math additions: control flow (gradients through loops against PyTorch and
finite differences), custom_gradient in a trained model, slices, scatters, segments, FFTs and
special functions against Keras 3 (torch backend)."""

import numpy as np
import pytest

import axonal
from axonal import ops
from axonal.gradcheck import check_gradients

RNG = np.random.default_rng(1)
A = RNG.normal(size=(4, 3)).astype("float32")
SIG = RNG.normal(size=(2, 32)).astype("float32")


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras oracle runs on its torch backend")
    return keras


# ---------------------------------------------------------------- control flow


def test_cond_switch_and_loops_follow_keras_semantics():
    assert ops.cond(ops.convert_to_tensor(True), lambda: 1, lambda: 2) == 1
    assert ops.switch(5, [lambda x: x + 1, lambda x: x * 10], 3) == 30  # clamped
    assert ops.switch(-2, [lambda x: x + 1, lambda x: x * 10], 3) == 4
    out = ops.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), [0, 0])
    assert isinstance(out, tuple) and out == (5, 10)
    assert ops.while_loop(lambda x: x < 100, lambda x: x * 2, 3) == 192
    assert ops.while_loop(lambda x: x < 100, lambda x: x * 2, 3, maximum_iterations=2) == 12
    assert ops.fori_loop(2, 5, lambda i, v: v + i, 0) == 9
    tensor_loop = ops.while_loop(
        lambda x: ops.sum(x) < 10.0, lambda x: x * 2.0, ops.convert_to_tensor([1.0, 1.0])
    )
    np.testing.assert_array_equal(tensor_loop.data, [8.0, 8.0])


def test_scan_matches_keras_forwards_and_reversed():
    keras = _keras()
    xs = RNG.normal(size=(5, 3)).astype("float32")

    def step(o):
        return lambda carry, x: (carry * 0.5 + x, o.sum(carry * x))

    for reverse in (False, True):
        carry, ys = ops.scan(step(ops), np.zeros(3, "float32"), xs, reverse=reverse)
        kc, ky = keras.ops.scan(step(keras.ops), np.zeros(3, "float32"), xs, reverse=reverse)
        np.testing.assert_allclose(carry.data, keras.ops.convert_to_numpy(kc), rtol=1e-6)
        np.testing.assert_allclose(ys.data, keras.ops.convert_to_numpy(ky), rtol=1e-6)
    carry, ys = ops.scan(lambda c, _: (c + 1, None), 0, length=4)
    assert carry == 4 and ys is None
    carry, ys = ops.scan(lambda c, x: (c + x["a"], (x["a"], x["b"])), 0.0, {"a": xs[:, 0], "b": xs})
    assert ys[1].shape == (5, 3)


def test_associative_scan_map_and_vectorized_map_match_keras():
    keras = _keras()
    xs = RNG.normal(size=(6, 2)).astype("float32")
    for reverse in (False, True):
        ours = ops.associative_scan(lambda a, b: a + b, xs, reverse=reverse)
        theirs = keras.ops.associative_scan(lambda a, b: a + b, xs, reverse=reverse)
        np.testing.assert_allclose(ours.data, keras.ops.convert_to_numpy(theirs), rtol=1e-5)
    ours = ops.associative_scan(ops.maximum, xs, axis=1)
    np.testing.assert_allclose(ours.data, np.maximum.accumulate(xs, axis=1))
    np.testing.assert_allclose(ops.map(lambda r: ops.sum(r**2), xs).data, (xs**2).sum(1), 1e-6)
    pair = ops.vectorized_map(lambda e: e[0] * e[1], (xs, xs))
    np.testing.assert_allclose(pair.data, xs * xs)


def _torch_loop(torch, w0, x0):
    w = torch.tensor(w0, requires_grad=True)
    x = torch.tensor(x0)
    h = torch.zeros(3, dtype=torch.float64)
    outs = []
    for t in range(x.shape[0]):
        h = torch.tanh(h @ w + x[t])
        outs.append(h.sum())
    (torch.stack(outs).sum() + h.pow(2).sum()).backward()
    return w.grad.numpy()


def test_scan_and_while_loop_gradients_match_torch_and_finite_differences():
    torch = pytest.importorskip("torch")
    w0 = RNG.normal(size=(3, 3)) * 0.5
    x0 = RNG.normal(size=(4, 3))

    def with_scan(w):
        def step(h, x):
            h = ops.tanh(ops.matmul(h, w) + x)
            return h, ops.sum(h)

        h, ys = ops.scan(step, np.zeros(3), x0)
        return ops.sum(ys) + ops.sum(h * h)

    def with_while(w):
        def body(i, h, total):
            h = ops.tanh(ops.matmul(h, w) + x0[i])
            return i + 1, h, total + ops.sum(h)

        _, h, total = ops.while_loop(lambda i, h, t: i < 4, body, (0, np.zeros(3), 0.0))
        return total + ops.sum(h * h)

    want = _torch_loop(torch, w0, x0)
    for fn in (with_scan, with_while):
        w = axonal.Tensor(w0, requires_grad=True)
        fn(w).backward()
        np.testing.assert_allclose(w.grad, want, rtol=1e-10)
        check_gradients(fn, w0).assert_ok()


# ---------------------------------------------------------------- custom_gradient


@ops.custom_gradient
def _clip_gradient(x):
    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return ops.clip(upstream, -0.01, 0.01)

    return x, grad


@ops.custom_gradient
def _log1pexp(x):
    e = ops.exp(x)

    def grad(upstream):
        return upstream * (1.0 - 1.0 / (1.0 + e))

    return ops.log(1.0 + e), grad


def test_control_flow_on_symbolic_tensors_points_to_a_layer():
    inputs = axonal.Input((3,))
    with pytest.raises(ValueError, match="Lambda"):
        _log1pexp(inputs)
    with pytest.raises(ValueError, match="Lambda"):
        ops.scan(lambda c, x: (c + x, x), inputs, inputs)
    with pytest.raises(ValueError, match="Lambda"):
        ops.cond(ops.sum(inputs), lambda: inputs, lambda: -inputs)


def test_custom_gradient_replaces_the_backward_pass():
    x = axonal.Tensor(np.array([0.0, 100.0]), requires_grad=True)
    y = _log1pexp(x)
    np.testing.assert_allclose(y.data, [np.log(2.0), 100.0])
    ops.sum(y).backward()
    np.testing.assert_allclose(x.grad, [0.5, 1.0])  # the naive gradient would be nan at 100
    z = axonal.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    ops.sum(_clip_gradient(z) * 5.0).backward()
    np.testing.assert_allclose(z.grad, [0.01, 0.01])


def test_a_functional_model_using_custom_gradient_trains():
    axonal.utils.set_random_seed(0)

    @ops.custom_gradient
    def straight_through_round(x):
        # rounding has a zero gradient; the straight-through estimator passes it unchanged
        return ops.round(x), lambda upstream: upstream

    inputs = axonal.Input((3,))
    first = axonal.layers.Dense(8, activation="relu")
    hidden = first(inputs)
    outputs = axonal.layers.Dense(1)(axonal.layers.Lambda(straight_through_round)(hidden))
    model = axonal.Model(inputs, outputs)
    model.compile(optimizer=axonal.optimizers.Adam(0.05), loss="mse")
    x = RNG.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")) * 3
    before = model.evaluate(x, y, verbose=0)
    kernel = first.get_weights()[0].copy()
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert not np.allclose(first.get_weights()[0], kernel)  # gradients reached it
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


# ---------------------------------------------------------------- core and math values


# name -> (call taking the ops namespace, inputs): compared with Keras values and dtypes
KERAS_CASES = {
    "slice": (lambda o, a: o.slice(a, (1, 0), (2, 2)), [A]),
    "slice_update": (lambda o, a: o.slice_update(a, (1, 1), np.ones((2, 2), "float32")), [A]),
    "scatter": (
        lambda o: o.scatter(
            np.array([[0, 1], [2, 0], [0, 1]]), np.array([1.0, 2.0, 3.0], "float32"), (3, 2)
        ),
        [],
    ),
    "scatter_rows": (
        lambda o: o.scatter(np.array([[1], [0]]), np.ones((2, 3), "float32"), (3, 3)),
        [],
    ),
    "scatter_update": (
        lambda o, a: o.scatter_update(
            a, np.array([[0, 0], [3, 2]]), np.array([9.0, 8.0], "float32")
        ),
        [A],
    ),
    "scatter_update_add": (
        lambda o, a: o.scatter_update(
            a, np.array([[0, 0], [0, 0]]), np.array([9.0, 8.0], "float32"), reduction="add"
        ),
        [A],
    ),
    "segment_sum": (lambda o, a: o.segment_sum(a, np.array([0, 0, 2, 1])), [A]),
    "segment_max": (lambda o, a: o.segment_max(a, np.array([1, 0, 1, 0]), num_segments=2), [A]),
    "segment_min": (lambda o, a: o.segment_min(a, np.array([1, 0, 1, 0])), [A]),
    "segment_prod": (lambda o, a: o.segment_prod(a, np.array([1, 0, 1, 0])), [A]),
    "unstack": (lambda o, a: o.unstack(a, axis=1)[2], [A]),
    "rsqrt": (lambda o, a: o.rsqrt(a * a + 0.5), [A]),
    "erfc": (lambda o, a: o.erfc(a), [A]),
    "erfinv": (lambda o, a: o.erfinv(np.tanh(a)), [A]),
    "logdet": (lambda o, a: o.logdet(a.T @ a + np.eye(3, dtype="float32")), [A]),
    "in_top_k": (lambda o, a: o.in_top_k(np.array([0, 2, 1, 1]), a, 2), [A]),
    "cdist": (lambda o, a, b: o.cdist(a, b), [A, A[:2] + 1]),
    "extract_sequences": (lambda o, s: o.extract_sequences(s, 8, 5), [SIG]),
    "saturate_cast": (lambda o, a: o.saturate_cast(a * 300, "uint8"), [A]),
    "saturate_cast_int8": (lambda o, a: o.saturate_cast(a * 300, "int8"), [A]),
    "fft": (lambda o, a: o.fft((a, a * 2))[1], [A]),
    "fft2": (lambda o, a: o.fft2((a, a * 0.5))[0], [A]),
    "ifft2": (lambda o, a: o.ifft2((a, -a))[1], [A]),
    "rfft": (lambda o, s: o.rfft(s)[0], [SIG]),
    "rfft_length": (lambda o, s: o.rfft(s, 20)[1], [SIG]),
    "irfft": (lambda o, s: o.irfft((s[:, :17], s[:, 15:]), 32), [SIG]),
    "irfft_odd": (lambda o, s: o.irfft((s[:, :9], s[:, 9:18]), 15), [SIG]),
    "stft": (lambda o, s: o.stft(s, 10, 4, 16)[0], [SIG]),
    "stft_imag_hamming": (
        lambda o, s: o.stft(s, 16, 8, 16, window="hamming", center=False)[1],
        [SIG],
    ),
    "istft": (lambda o, s: o.istft(o.stft(s, 16, 4, 16), 16, 4, 16, length=32), [SIG]),
    "istft_no_center": (
        lambda o, s: o.istft(o.stft(s, 8, 4, 8, center=False), 8, 4, 8, center=False),
        [SIG],
    ),
    "rearrange": (lambda o, c: o.rearrange(c, "b (h w) c -> b c h w", h=2), [SIG.reshape(2, 8, 4)]),
    "rearrange_merge": (lambda o, c: o.rearrange(c, "b h w -> (w b) h"), [SIG.reshape(2, 8, 4)]),
    "dtype_cast": (lambda o, a: o.cast(a, o.dtype(np.zeros(1, "int16"))), [A]),
}


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_values_and_dtypes_match_keras(name):
    keras = _keras()
    fn, inputs = KERAS_CASES[name]
    ours = np.asarray(fn(ops, *inputs).data)
    theirs = keras.ops.convert_to_numpy(
        fn(keras.ops, *[keras.ops.convert_to_tensor(a) for a in inputs])
    )
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_dtype_is_tensor_and_view_as_complex():
    assert ops.dtype(A) == "float32" and ops.dtype(ops.convert_to_tensor([1, 2])) == "int64"
    assert ops.is_tensor(ops.convert_to_tensor(A)) and not ops.is_tensor(A)
    assert not ops.is_tensor(axonal.Input((3,)))
    z = ops.view_as_complex(np.stack([A, -A], -1))
    np.testing.assert_allclose(z.data, A - 1j * A)
    np.testing.assert_allclose(ops.view_as_real(z).data, np.stack([A, -A], -1))


def _d(x):
    return np.asarray(x, np.float64)


GRADIENT_CASES = {
    "slice": (lambda a: ops.slice(a, (1, 0), (2, 2)), [A]),
    "slice_update": (lambda a, u: ops.slice_update(a, (1, 1), u), [A, np.ones((2, 2))]),
    "scatter": (lambda v: ops.scatter(np.array([[0, 1], [2, 0], [0, 1]]), v, (3, 2)), [A[:3, 0]]),
    "scatter_update": (
        lambda a, u: ops.scatter_update(a, np.array([[0, 0], [3, 2]]), u),
        [A, A[:2, 0]],
    ),
    "segment_sum": (lambda a: ops.segment_sum(a, np.array([0, 0, 2, 1])), [A]),
    "segment_max": (lambda a: ops.segment_max(a, np.array([1, 0, 1, 0])), [A]),
    "segment_prod": (lambda a: ops.segment_prod(a, np.array([1, 0, 1, 0])), [A]),
    "unstack": (lambda a: ops.unstack(a)[1], [A]),
    "rearrange": (
        lambda c: ops.rearrange(c, "b (h w) c -> (c b) w h", w=4),
        [SIG.reshape(2, 8, 4)],
    ),
    "erfinv": (lambda a: ops.erfinv(a), [np.tanh(A)]),
    "logdet": (lambda a: ops.logdet(a), [A.T @ A + np.eye(3)]),
    "cdist": (lambda a, b: ops.cdist(a, b), [A, A[:2] + 1]),
    "extract_sequences": (lambda s: ops.extract_sequences(s, 8, 5), [SIG[:1]]),
    "fft": (lambda a, b: ops.fft((a, b))[1], [A, A * 2]),
    "fft2": (lambda a, b: ops.fft2((a, b))[0], [A, A * 0.5]),
    "ifft2": (lambda a, b: ops.ifft2((a, b))[1], [A, -A]),
    "rfft": (lambda s: ops.rfft(s)[1], [SIG[:1, :10]]),
    "rfft_length": (lambda s: ops.rfft(s, 7)[0], [SIG[:1, :10]]),
    "irfft": (lambda a, b: ops.irfft((a, b)), [SIG[:1, :6], SIG[:1, 6:12]]),
    "irfft_odd": (lambda a, b: ops.irfft((a, b), 9), [SIG[:1, :6], SIG[:1, 6:12]]),
    "stft": (lambda s: ops.stft(s, 8, 4, 8)[0], [SIG[:1, :16]]),
    "istft": (
        lambda a, b: ops.istft((a, b), 8, 4, 8),
        [SIG[:1, :15].reshape(1, 3, 5), SIG[:1, 15:30].reshape(1, 3, 5)],
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, inputs = GRADIENT_CASES[name]
    inputs = [_d(a) for a in inputs]
    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def test_new_core_ops_work_on_symbolic_tensors_and_save(tmp_path):
    inputs = axonal.Input((32,))
    real, imag = ops.rfft(inputs)
    power = ops.sqrt(real * real + imag * imag + 1e-6)
    windows = ops.unstack(ops.extract_sequences(inputs, 8, 8), axis=1)
    outputs = ops.concatenate([power, ops.rsqrt(ops.square(windows[0] + windows[1]) + 1.0)], -1)
    model = axonal.Model(inputs, outputs)
    spectrum = np.fft.rfft(SIG)
    want = np.concatenate([np.abs(spectrum), 1 / np.sqrt((SIG[:, :8] + SIG[:, 8:16]) ** 2 + 1)], -1)
    np.testing.assert_allclose(model.predict(SIG, verbose=0), want, rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "core.axonal")
    loaded = axonal.models.load_model(tmp_path / "core.axonal")
    np.testing.assert_allclose(loaded.predict(SIG, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_core_linalg_and_image_ops_have_keras_s_parameters():
    keras = _keras()
    import inspect

    plain = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)

    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
                if p.kind not in plain]  # fmt: skip

    pairs = [(getattr(keras.ops, n), getattr(ops, n)) for n in ops.core.__all__]
    for module in ("linalg", "image"):
        theirs, ours = getattr(keras.ops, module), getattr(ops, module)
        pairs += [
            (getattr(theirs, n), getattr(ours, n)) for n in ours.__all__ if hasattr(theirs, n)
        ]
    for theirs, ours in pairs:
        assert params(ours) == params(theirs), ours.__name__


_F = RNG.normal(size=(4, 4)) + 3 * np.eye(4)
_S = _F @ _F.T
FLOAT32_CASES = [
    (ops.erfinv, np.tanh(A)),
    (ops.logdet, _S),
    (ops.linalg.cholesky, _S),
    (ops.linalg.pinv, _F),
    (lambda a: ops.linalg.eigh(a)[1], _S),
    (lambda a: ops.linalg.qr(a)[0], _F),
    (lambda a: ops.linalg.svd(a, compute_uv=False), _F),
    (lambda a: ops.fft((a, a)), _F),
    (lambda a: ops.rfft(a), _F),
    (lambda a: ops.irfft((a, a)), _F),
    (lambda a: ops.stft(a, 4, 2, 4)[0], _F),
    (lambda a: ops.istft((a[:, :3], a[:, 1:]), 4, 2, 4), _F),
    (lambda a: ops.segment_max(a, np.array([0, 1, 0, 1])), _F),
    (lambda a: ops.segment_prod(a, np.array([0, 1, 0, 1])), _F),
    (lambda a: ops.image.map_coordinates(a, RNG.uniform(0, 3, (2, 5)), 1), _F),
    (
        lambda a: ops.image.affine_transform(
            a[None, :, :, None], np.array([1.1, 0.1, 0, 0, 1, 0.2, 0, 0])
        ),
        _F,
    ),
    (
        lambda a: ops.image.scale_and_translate(a, (6, 3), (1.5, 0.7), (0.1, 0.0), (0, 1), "cubic"),
        _F,
    ),
    (lambda a: ops.ctc_loss(np.array([[1, 2]]), a[None], np.array([2]), np.array([4])), _F),
    (lambda a: ops.fold(a[None, :2, :4], (3, 2), (2, 1)), _F),
    (lambda a: ops.slice_update(a, (0, 1), np.ones((2, 2))), _F),
    (lambda a: ops.scatter_update(a, np.array([[0, 0]]), np.array([2.0])), _F),
    (lambda a: ops.image.rgb_to_hsv(a[None, :, :3]), np.abs(_F)),
    (
        lambda a: ops.image.ssim(a[None, :, :, None], a[None, :, :, None] * 0.5, filter_size=3),
        np.abs(_F),
    ),
    (
        lambda a: ops.conv(
            ops.tile(a[None, :, :, None, None], (1, 1, 1, 3, 1)),
            np.ones((2, 2, 2, 1, 2), "float32"),
        ),
        _F,
    ),
]


@pytest.mark.parametrize("index", range(len(FLOAT32_CASES)))
def test_float32_in_float32_values_and_gradients_out(index):
    """No op added here upcasts a float32 graph: values and gradients stay float32."""
    fn, array = FLOAT32_CASES[index]
    tensor = axonal.Tensor(array.astype("float32"), requires_grad=True)
    out = fn(tensor)
    out = out[0] if isinstance(out, (tuple, list)) else out
    assert out.data.dtype == np.float32
    ops.sum(out).backward()
    assert tensor.grad.dtype == np.float32
