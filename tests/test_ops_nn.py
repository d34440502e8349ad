"""keras.ops.nn additions: values and dtypes against Keras 3 (torch backend), gradients against
finite differences, CTC against PyTorch."""

import numpy as np
import pytest

import axonal
from axonal import ops
from axonal.gradcheck import check_gradients

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3, 4)).astype("float32") * 2
IMG = RNG.normal(size=(2, 6, 6, 4)).astype("float32")
SEQ = RNG.normal(size=(2, 7, 3)).astype("float32")
K2 = RNG.normal(size=(3, 3, 4, 5)).astype("float32")
K1 = RNG.normal(size=(3, 3, 2)).astype("float32")
DW = RNG.normal(size=(3, 3, 4, 2)).astype("float32")
PW = RNG.normal(size=(1, 1, 8, 3)).astype("float32")
CHW = RNG.normal(size=(2, 2, 5, 6)).astype("float32")
VOL = RNG.normal(size=(2, 5, 6, 4, 3)).astype("float32")
K3 = RNG.normal(size=(2, 3, 2, 3, 4)).astype("float32")
STATS = RNG.random(4).astype("float32") + 0.5

# name -> (call taking the ops namespace, positional inputs); run on axonal and Keras alike
KERAS_CASES = {
    "log_sigmoid": (lambda o, x: o.log_sigmoid(x), [X]),
    "celu": (lambda o, x: o.celu(x, alpha=0.7), [X]),
    "glu": (lambda o, x: o.glu(x), [X]),
    "glu_axis": (lambda o, x: o.glu(x, axis=0), [X]),
    "hard_shrink": (lambda o, x: o.hard_shrink(x, 0.6), [X]),
    "hard_swish": (lambda o, x: o.hard_swish(x), [X]),
    "hard_tanh": (lambda o, x: o.hard_tanh(x), [X]),
    "soft_shrink": (lambda o, x: o.soft_shrink(x), [X]),
    "sparse_plus": (lambda o, x: o.sparse_plus(x), [X]),
    "sparse_sigmoid": (lambda o, x: o.sparse_sigmoid(x), [X]),
    "squareplus": (lambda o, x: o.squareplus(x, 3), [X]),
    "tanh_shrink": (lambda o, x: o.tanh_shrink(x), [X]),
    "threshold": (lambda o, x: o.threshold(x, 0.3, -2.0), [X]),
    "max_pool2d": (lambda o, x: o.max_pool(x, 2, 1, "same"), [IMG]),
    "max_pool1d": (lambda o, x: o.max_pool(x, 3, 2), [SEQ]),
    "average_pool2d_same": (lambda o, x: o.average_pool(x, 3, 2, "same"), [IMG[:, :5, :5]]),
    "average_pool_cf": (lambda o, x: o.average_pool(x, 2, data_format="channels_first"), [CHW]),
    "max_pool3d": (lambda o, x: o.max_pool(x, 2), [VOL]),
    "max_pool3d_same": (lambda o, x: o.max_pool(x, (2, 3, 2), (2, 1, 2), "same"), [VOL]),
    "average_pool3d_same": (lambda o, x: o.average_pool(x, 3, 2, "same"), [VOL[:, :5, :5, :3]]),
    "average_pool3d_cf": (
        lambda o, x: o.average_pool(x, 2, data_format="channels_first"),
        [VOL.transpose(0, 4, 1, 2, 3)],
    ),
    "conv3d": (lambda o, x, k: o.conv(x, k), [VOL, K3]),
    "conv3d_same_strided": (lambda o, x, k: o.conv(x, k, 2, "same"), [VOL, K3]),
    "conv3d_grouped": (
        lambda o, x, k: o.conv(x, k, padding="same"),
        [np.concatenate([VOL, VOL * 0.5], -1), K3[:, :, :, :, :2].repeat(3, 4)],
    ),
    "conv3d_dilated": (lambda o, x, k: o.conv(x, k, dilation_rate=(2, 1, 1)), [VOL, K3]),
    "conv_transpose3d": (lambda o, x, k: o.conv_transpose(x, k, 2), [VOL, K3.swapaxes(3, 4)]),
    "conv_transpose3d_same": (
        lambda o, x, k: o.conv_transpose(x, k, (2, 1, 3), "same"),
        [VOL, K3.swapaxes(3, 4)],
    ),
    "conv_transpose3d_output_padding": (
        lambda o, x, k: o.conv_transpose(x, k, 2, output_padding=1),
        [VOL, K3.swapaxes(3, 4)],
    ),
    "conv_transpose3d_dilated": (
        lambda o, x, k: o.conv_transpose(x, k, 1, "same", dilation_rate=(1, 2, 1)),
        [VOL, K3.swapaxes(3, 4)],
    ),
    "adaptive_average_pool2d": (lambda o, x: o.adaptive_average_pool(x, (4, 3)), [IMG]),
    "adaptive_max_pool2d": (lambda o, x: o.adaptive_max_pool(x, 4), [IMG]),
    "adaptive_average_pool1d": (lambda o, x: o.adaptive_average_pool(x, 3), [SEQ]),
    "adaptive_max_pool_cf": (
        lambda o, x: o.adaptive_max_pool(x, (2, 4), data_format="channels_first"),
        [CHW],
    ),
    "conv2d": (lambda o, x, k: o.conv(x, k, strides=2, padding="same"), [IMG, K2]),
    "conv2d_dilated": (lambda o, x, k: o.conv(x, k, dilation_rate=2), [IMG, K2]),
    "conv1d": (lambda o, x, k: o.conv(x, k, padding="same"), [SEQ, K1]),
    "conv2d_cf": (
        lambda o, x, k: o.conv(x, k, data_format="channels_first"),
        [CHW, K2[:, :, :2]],
    ),
    "depthwise_conv": (lambda o, x, k: o.depthwise_conv(x, k, padding="same"), [IMG, DW]),
    "depthwise_conv1d": (lambda o, x, k: o.depthwise_conv(x, k[0], 2), [IMG[:, 0], DW]),
    "separable_conv": (lambda o, x, d, p: o.separable_conv(x, d, p), [IMG, DW, PW]),
    "conv_transpose": (lambda o, x, k: o.conv_transpose(x, k, 2), [IMG, K2.swapaxes(2, 3)]),
    "conv_transpose_same": (
        lambda o, x, k: o.conv_transpose(x, k, 2, "same"),
        [IMG, K2.swapaxes(2, 3)],
    ),
    "conv_transpose1d": (lambda o, x, k: o.conv_transpose(x, k, 2), [SEQ, K1.swapaxes(1, 2)]),
    "batch_normalization": (
        lambda o, x, m, v: o.batch_normalization(x, m, v, axis=-1, offset=m, scale=v),
        [IMG, STATS - 1, STATS],
    ),
    "batch_normalization_axis1": (
        lambda o, x, m, v: o.batch_normalization(x, m[:2], v[:2], axis=1),
        [CHW, STATS - 1, STATS],
    ),
    "layer_normalization": (lambda o, x, g: o.layer_normalization(x, g, g), [IMG, STATS]),
    "rms_normalization": (lambda o, x, g: o.rms_normalization(x, g), [IMG, STATS]),
    "normalize": (lambda o, x: o.normalize(x), [X]),
    "normalize_l1": (lambda o, x: o.normalize(x, axis=1, order=1), [X]),
    "depth_to_space": (lambda o, x: o.depth_to_space(x, 2), [IMG]),
    "depth_to_space_cf": (
        lambda o, x: o.depth_to_space(x, 2, data_format="channels_first"),
        [np.concatenate([IMG, IMG * 2], -1).transpose(0, 3, 1, 2)],
    ),
    "space_to_depth": (lambda o, x: o.space_to_depth(x, 2), [IMG]),
    "space_to_depth_cf": (
        lambda o, x: o.space_to_depth(x, 3, data_format="channels_first"),
        [IMG.transpose(0, 3, 1, 2)],
    ),
    "unfold": (lambda o, x: o.unfold(x, 3, padding=1, stride=2), [CHW]),
    "unfold_dilated": (lambda o, x: o.unfold(x, (2, 3), dilation=2), [CHW]),
    "fold": (
        lambda o, x: o.fold(x, (5, 6), 3, padding=1, stride=2),
        [RNG.normal(size=(2, 18, 9)).astype("float32")],
    ),
    "psnr": (lambda o, a, b: o.psnr(a, b, 2.0), [X, X * 0.9]),
    "multi_hot": (lambda o, x: o.multi_hot(x, 5), [np.array([[0, 3, 3], [1, 4, 0]])]),
    "multi_hot_1d": (lambda o, x: o.multi_hot(x, 4), [np.array([0, 2])]),
    "one_hot_like_order": (
        lambda o, t, y: o.categorical_crossentropy(t, y),
        [np.eye(4, dtype="float32")[[0, 2]], np.full((2, 4), 0.25, "float32")],
    ),
    "sparse_ce": (
        lambda o, t, y: o.sparse_categorical_crossentropy(t, y, from_logits=True),
        [np.array([1, 3, 0]), X[0]],
    ),
    "gelu_default_approximate": (lambda o, x: o.gelu(x), [X]),
    "gelu_exact": (lambda o, x: o.gelu(x, approximate=False), [X]),
    "binary_ce": (
        lambda o, t, y: o.binary_crossentropy(t, y, from_logits=True),
        [(X > 0).astype("float32"), X],
    ),
}


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras oracle runs on its torch backend")
    return keras


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_values_and_dtypes_match_keras(name):
    keras = _keras()
    fn, inputs = KERAS_CASES[name]
    ours = fn(ops, *inputs)
    theirs = keras.ops.convert_to_numpy(
        fn(keras.ops, *[keras.ops.convert_to_tensor(a) for a in inputs])
    )
    ours = np.asarray(ours.data)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1])
def test_sparsemax_is_the_projection_onto_the_simplex(axis):
    # Keras 3.15's torch sparsemax sums the cumulative sums over the support for its threshold
    # (its outputs need not sum to 1), so the oracle is the definition: the output sums to 1
    # and equals max(x - tau, 0) for the tau found by bisection
    out = ops.sparsemax(X, axis=axis).data
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-5)
    moved = np.moveaxis(X.astype(np.float64), axis, -1)
    low, high = moved.min(-1) - 1, moved.max(-1)
    for _ in range(100):
        tau = (low + high) / 2
        total = np.maximum(moved - tau[..., None], 0).sum(-1)
        low, high = np.where(total > 1, tau, low), np.where(total > 1, high, tau)
    want = np.moveaxis(np.maximum(moved - low[..., None], 0), -1, axis)
    np.testing.assert_allclose(out, want, atol=1e-5)


def _away(x, points=(0.0,), margin=0.1):
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + margin * np.where(x[near] >= p, 1.5, -1.5)
    return x


XD = _away(X, (-1.0, 0.0, 1.0, 0.5, -0.5, 0.3))
GRADIENT_CASES = {
    "log_sigmoid": (ops.log_sigmoid, [XD]),
    "celu": (lambda x: ops.celu(x, 0.7), [XD]),
    "glu": (ops.glu, [XD]),
    "hard_shrink": (ops.hard_shrink, [XD]),
    "soft_shrink": (ops.soft_shrink, [XD]),
    "sparse_plus": (ops.sparse_plus, [XD]),
    "sparse_sigmoid": (ops.sparse_sigmoid, [XD]),
    "sparsemax": (ops.sparsemax, [np.array([[0.1, 1.3, -0.4, 0.9], [2.0, -1.0, 0.2, 0.0]])]),
    "squareplus": (ops.squareplus, [XD]),
    "tanh_shrink": (ops.tanh_shrink, [XD]),
    "threshold": (lambda x: ops.threshold(x, 0.3, -2.0), [XD]),
    "adaptive_average_pool": (lambda x: ops.adaptive_average_pool(x, (4, 3)), [IMG[:1, :5]]),
    "adaptive_max_pool": (lambda x: ops.adaptive_max_pool(x, 4), [IMG[:1]]),
    "max_pool3d": (lambda x: ops.max_pool(x, 2, padding="same"), [VOL[:1, :3]]),
    "average_pool3d": (lambda x: ops.average_pool(x, 2, 1, "same"), [VOL[:1, :3]]),
    "conv3d": (lambda x, k: ops.conv(x, k, padding="same"), [VOL[:1, :3], K3]),
    "conv_transpose3d": (
        lambda x, k: ops.conv_transpose(x, k, 2, "same"),
        [VOL[:1, :2, :3, :2], K3.swapaxes(3, 4)],
    ),
    "conv_cf": (lambda x, k: ops.conv(x, k, data_format="channels_first"), [CHW, K2[:, :, :2]]),
    "conv_transpose1d": (lambda x, k: ops.conv_transpose(x, k, 2), [SEQ, K1.swapaxes(1, 2)]),
    "depthwise_conv1d": (lambda x, k: ops.depthwise_conv(x, k), [IMG[:, 0], DW[0]]),
    "batch_normalization": (
        lambda x, m, v, s: ops.batch_normalization(x, m, v, -1, offset=m, scale=s),
        [IMG[:1], STATS - 1, STATS, STATS * 2],
    ),
    "layer_normalization": (lambda x, g: ops.layer_normalization(x, g, g), [IMG[:1], STATS]),
    "rms_normalization": (lambda x, g: ops.rms_normalization(x, g), [IMG[:1], STATS]),
    "normalize": (ops.normalize, [X]),
    "depth_to_space": (lambda x: ops.depth_to_space(x, 2), [IMG[:1]]),
    "space_to_depth": (lambda x: ops.space_to_depth(x, 3), [IMG[:1]]),
    "unfold": (lambda x: ops.unfold(x, 3, padding=1, stride=2), [CHW[:1]]),
    "fold": (lambda x: ops.fold(x, (5, 6), 3, padding=1, stride=2), [RNG.normal(size=(1, 9, 9))]),
    "psnr": (lambda a, b: ops.psnr(a, b, 2.0), [X, X * 0.9]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, inputs = GRADIENT_CASES[name]
    inputs = [np.asarray(a, np.float64) for a in inputs]
    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def _ctc_case():
    labels = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 2, 2, 1]])
    label_lengths = np.array([3, 2, 4])
    logit_lengths = np.array([9, 6, 10])
    logits = RNG.normal(size=(3, 10, 5))
    return labels, logits, label_lengths, logit_lengths


def test_ctc_loss_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    labels, logits, label_lengths, logit_lengths = _ctc_case()
    x = axonal.Tensor(logits, requires_grad=True)
    loss = ops.ctc_loss(labels, x, label_lengths, logit_lengths)
    ops.sum(loss * np.array([1.0, 2.0, 0.5])).backward()
    t = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.ctc_loss(
        torch.log_softmax(t, -1).transpose(0, 1),
        torch.tensor(labels),
        torch.tensor(logit_lengths),
        torch.tensor(label_lengths),
        blank=0,
        reduction="none",
    )
    (theirs * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(loss.data, theirs.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-10)


def test_ctc_loss_with_another_blank_matches_keras_in_float32():
    keras = _keras()
    labels, logits, label_lengths, logit_lengths = _ctc_case()
    logits = logits.astype("float32")
    ours = ops.ctc_loss(labels + 1, logits, label_lengths, logit_lengths, mask_index=0)
    theirs = keras.ops.ctc_loss(labels + 1, logits, label_lengths, logit_lengths, mask_index=0)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.data, keras.ops.convert_to_numpy(theirs), rtol=1e-5)
    ours = ops.ctc_loss(labels, logits, label_lengths, logit_lengths, mask_index=4)
    theirs = keras.ops.ctc_loss(labels, logits, label_lengths, logit_lengths, mask_index=4)
    np.testing.assert_allclose(ours.data, keras.ops.convert_to_numpy(theirs), rtol=1e-5)


def test_an_impossible_ctc_alignment_gives_inf_and_no_gradient():
    logits = axonal.Tensor(RNG.normal(size=(2, 4, 5)), requires_grad=True)
    labels = np.array([[1, 1, 1, 2], [1, 2, 3, 4]])  # three repeats need 6 steps
    loss = ops.ctc_loss(labels, logits, np.array([4, 4]), np.array([4, 4]))
    assert np.isinf(loss.data[0]) and np.isfinite(loss.data[1])
    ops.sum(loss[1:]).backward()
    assert np.all(logits.grad[0] == 0) and np.all(np.isfinite(logits.grad))


def test_ctc_loss_gradient_matches_finite_differences():
    labels, logits, label_lengths, logit_lengths = _ctc_case()
    check_gradients(
        lambda x: ops.ctc_loss(labels, x, label_lengths, logit_lengths), logits[:, :, :]
    ).assert_ok()


def test_ctc_decode_matches_keras():
    keras = _keras()
    inputs = RNG.random((3, 8, 4)).astype("float32")
    inputs[0, 2:4, 2] = 5  # a repeat to merge
    lengths = np.array([8, 5, 7])
    for merge in (True, False):
        ours = ops.ctc_decode(inputs, lengths, merge_repeated=merge)
        theirs = keras.ops.ctc_decode(inputs, lengths, merge_repeated=merge)
        for a, b in zip(ours, theirs, strict=True):
            b = keras.ops.convert_to_numpy(b)
            assert a.data.shape == b.shape
            np.testing.assert_allclose(a.data, b, rtol=1e-6)


def test_every_keras_nn_op_has_keras_s_parameters():
    keras = _keras()
    import inspect

    for name in sorted(n for n in dir(keras.ops.nn) if not n.startswith("_")):
        theirs = inspect.signature(getattr(keras.ops.nn, name)).parameters
        ours = inspect.signature(getattr(ops.nn, name)).parameters
        plain = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        want = [(p.name, p.default) for p in theirs.values() if p.kind not in plain]
        assert [(p.name, p.default) for p in ours.values() if p.kind not in plain] == want, name


def test_attention_soft_cap_and_synchronized_moments():
    # Keras on torch refuses both (soft cap: JAX on TPU only), so the oracle is the formula
    q, k = IMG[:, :3, :2].astype(np.float64), IMG[:, 1:4, 2:4].astype(np.float64)
    out = ops.dot_product_attention(q, k, k, is_causal=True, attn_logits_soft_cap=2.0, scale=0.9)
    qh, kh = q.transpose(0, 2, 1, 3), k.transpose(0, 2, 1, 3)
    scores = 2.0 * np.tanh(qh @ kh.transpose(0, 1, 3, 2) * 0.9 / 2.0)
    scores = np.where(np.tri(3, dtype=bool), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.data, (weights @ kh).transpose(0, 2, 1, 3), rtol=1e-6)
    mean, var = ops.moments(X, [0, 2], synchronized=True)
    np.testing.assert_allclose(var.data, X.var(axis=(0, 2)), rtol=1e-5)


@pytest.mark.parametrize("beam_width, top_paths", [(10, 2), (3, 3), (100, 1)])
def test_ctc_beam_search_matches_keras(beam_width, top_paths):
    keras = _keras()
    x = (RNG.normal(size=(3, 8, 5)) * 2).astype("float32")
    lengths = np.array([8, 5, 7])
    kwargs = {"strategy": "beam_search", "beam_width": beam_width, "top_paths": top_paths}
    ours = ops.ctc_decode(x, lengths, **kwargs)
    theirs = keras.ops.ctc_decode(x, lengths, **kwargs)
    np.testing.assert_array_equal(ours[0].data, keras.ops.convert_to_numpy(theirs[0]))
    assert ours[1].dtype == np.float32
    np.testing.assert_allclose(ours[1].data, keras.ops.convert_to_numpy(theirs[1]), rtol=1e-5)


def test_polar_is_complex():
    keras = _keras()
    ours = ops.polar(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    theirs = keras.ops.convert_to_numpy(
        keras.ops.polar(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    )
    np.testing.assert_allclose(ours.data, theirs)


def test_new_nn_ops_work_on_symbolic_tensors_and_save(tmp_path):
    inputs = axonal.Input((6, 6, 4))
    x = ops.depth_to_space(ops.max_pool(inputs, 2), 2)
    x = ops.adaptive_average_pool(ops.conv(x, K2[:, :, :1], padding="same"), 2)
    outputs = ops.rms_normalization(ops.glu(ops.celu(ops.concatenate([x, x], -1))), axis=-1)
    model = axonal.Model(inputs, outputs)
    pooled = ops.adaptive_average_pool(
        ops.conv(ops.depth_to_space(ops.max_pool(IMG, 2), 2), K2[:, :, :1], padding="same"), 2
    )
    want = ops.rms_normalization(ops.glu(ops.celu(ops.concatenate([pooled, pooled], -1)))).data
    np.testing.assert_allclose(model.predict(IMG, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "nn.axonal")
    loaded = axonal.models.load_model(tmp_path / "nn.axonal")
    np.testing.assert_allclose(loaded.predict(IMG, verbose=0), want, rtol=1e-5, atol=1e-6)
