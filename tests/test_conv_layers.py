"""Convolution, pooling and reshaping layers: gradients, shapes, configs, bad input, float32.

Every layer is gradient-checked in float64 against central differences (``gradcheck.py``) with
respect to its input and each weight, over strides, paddings, dilations and odd shapes (7x5
images, 2 and 3 channels, 3x2 kernels). Weights are swapped for the checked tensors for one call
(``call_with``), the way the Dense rows of ``test_gradcheck.py`` do it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from axonal import primitives as P
from axonal import regularizers
from axonal.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Cropping2D,
    DepthwiseConv1D,
    DepthwiseConv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    SeparableConv1D,
    SeparableConv2D,
    UpSampling2D,
    ZeroPadding2D,
)
from axonal.primitives import conv as conv_primitives
from axonal.primitives import scratch
from axonal.registry import deserialize, serialize
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import distinct, gradcheck, randn


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


def call_with(layer, x, **weights):
    """``layer(x)`` with some weights replaced by the given tensors for this one call."""
    saved = {name: getattr(layer, name) for name in weights}
    try:
        for name, value in weights.items():
            setattr(layer, name, value)
        return layer(x)
    finally:
        for name, value in saved.items():
            setattr(layer, name, value)


# ---------------------------------------------------------------- gradient checks


@dataclass(frozen=True)
class Case:
    """``make()`` builds the layer; it is checked on ``x_shape`` w.r.t. input and weights."""

    id: str
    make: Callable
    x_shape: tuple
    distinct_inputs: bool = False  # max pooling: no ties within a window


# weight attribute names per layer class, in get_weights order
_WEIGHT_NAMES = {
    Conv1D: ("kernel", "bias"),
    Conv2D: ("kernel", "bias"),
    DepthwiseConv2D: ("kernel", "bias"),
    Conv2DTranspose: ("kernel", "bias"),
    SeparableConv2D: ("depthwise_kernel", "pointwise_kernel", "bias"),
    Conv3D: ("kernel", "bias"),
    Conv1DTranspose: ("kernel", "bias"),
    Conv3DTranspose: ("kernel", "bias"),
    DepthwiseConv1D: ("kernel", "bias"),
    SeparableConv1D: ("depthwise_kernel", "pointwise_kernel", "bias"),
}


def _conv2d_cases() -> list:
    cases = []
    for shape in [(2, 7, 5, 3), (2, 5, 9, 1)]:
        for strides in (1, 2):
            for padding in ("valid", "same"):
                for dilation in (1, 2):
                    if strides > 1 and dilation > 1:
                        continue
                    tag = f"{'x'.join(map(str, shape[1:]))}-s{strides}-{padding}-d{dilation}"
                    cases.append(
                        Case(
                            f"Conv2D-{tag}",
                            lambda s=strides, p=padding, d=dilation: Conv2D(
                                4, (3, 2), strides=s, padding=p, dilation_rate=d
                            ),
                            shape,
                        )
                    )
    cases += [
        Case("Conv2D-no-bias", lambda: Conv2D(2, 3, use_bias=False, padding="same"), (2, 5, 4, 2)),
        Case("Conv2D-1x1", lambda: Conv2D(3, 1), (2, 3, 4, 2)),
        Case("Conv2D-strides-2-1", lambda: Conv2D(3, (2, 3), strides=(2, 1)), (2, 7, 5, 3)),
        Case("Conv2D-groups-2", lambda: Conv2D(4, (3, 2), groups=2), (2, 7, 5, 4)),
        Case(
            "Conv2D-groups-2-same-s2",
            lambda: Conv2D(2, 3, groups=2, strides=2, padding="same"),
            (2, 7, 5, 2),
        ),
        Case("Conv2D-tanh", lambda: Conv2D(3, (3, 2), activation="tanh"), (2, 7, 5, 2)),
    ]
    return cases


def _conv1d_cases() -> list:
    cases = []
    for strides in (1, 2):
        for padding in ("valid", "same", "causal"):
            for dilation in (1, 2):
                if strides > 1 and dilation > 1:
                    continue
                cases.append(
                    Case(
                        f"Conv1D-s{strides}-{padding}-d{dilation}",
                        lambda s=strides, p=padding, d=dilation: Conv1D(
                            3, 3, strides=s, padding=p, dilation_rate=d
                        ),
                        (2, 9, 2),
                    )
                )
    cases.append(Case("Conv1D-no-bias-k2", lambda: Conv1D(2, 2, use_bias=False), (3, 5, 3)))
    return cases


def _depthwise_cases() -> list:
    cases = []
    for multiplier in (1, 2):
        for strides, padding, dilation in [
            (1, "valid", 1),
            (2, "same", 1),
            (1, "same", 2),
            (2, "valid", 1),
        ]:
            cases.append(
                Case(
                    f"DepthwiseConv2D-m{multiplier}-s{strides}-{padding}-d{dilation}",
                    lambda m=multiplier, s=strides, p=padding, d=dilation: DepthwiseConv2D(
                        (3, 2), strides=s, padding=p, depth_multiplier=m, dilation_rate=d
                    ),
                    (2, 7, 5, 3),
                )
            )
    cases.append(
        Case(
            "DepthwiseConv2D-wide-1-channel",
            lambda: DepthwiseConv2D(3, depth_multiplier=2, use_bias=False),
            (2, 4, 9, 1),
        )
    )
    return cases


def _separable_cases() -> list:
    return [
        Case("SeparableConv2D-valid", lambda: SeparableConv2D(3, (3, 2)), (2, 7, 5, 2)),
        Case(
            "SeparableConv2D-same-s2-m2",
            lambda: SeparableConv2D(2, 3, strides=2, padding="same", depth_multiplier=2),
            (2, 7, 5, 3),
        ),
        Case(
            "SeparableConv2D-d2-no-bias",
            lambda: SeparableConv2D(2, (3, 2), dilation_rate=2, use_bias=False),
            (2, 7, 5, 2),
        ),
    ]


def _transpose_cases() -> list:
    cases = []
    for strides in (1, 2):
        for padding in ("valid", "same"):
            for dilation in (1, 2):
                if strides > 1 and dilation > 1:
                    continue
                cases.append(
                    Case(
                        f"Conv2DTranspose-s{strides}-{padding}-d{dilation}",
                        lambda s=strides, p=padding, d=dilation: Conv2DTranspose(
                            2, (3, 2), strides=s, padding=p, dilation_rate=d
                        ),
                        (2, 4, 3, 3),
                    )
                )
    cases += [
        Case(
            "Conv2DTranspose-output_padding",
            lambda: Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
            (2, 4, 3, 2),
        ),
        Case(
            "Conv2DTranspose-valid-output_padding-s3",
            lambda: Conv2DTranspose(2, (2, 3), strides=3, output_padding=(2, 1)),
            (2, 3, 2, 2),
        ),
        Case(
            "Conv2DTranspose-stride-above-kernel",
            lambda: Conv2DTranspose(2, 2, strides=3, use_bias=False),
            (2, 3, 2, 2),
        ),
        Case("Conv2DTranspose-wide", lambda: Conv2DTranspose(2, (2, 3)), (2, 3, 8, 1)),
    ]
    return cases


def _rank_1_3_cases() -> list:
    """Conv3D, the 1-D and 3-D transposes, DepthwiseConv1D, SeparableConv1D."""
    return [
        Case("Conv3D-valid", lambda: Conv3D(3, (2, 3, 2)), (2, 4, 5, 4, 2)),
        Case(
            "Conv3D-same-s2",
            lambda: Conv3D(2, 3, strides=(2, 1, 2), padding="same"),
            (2, 5, 4, 5, 2),
        ),
        Case(
            "Conv3D-d2-groups-2", lambda: Conv3D(4, 2, dilation_rate=2, groups=2), (2, 4, 4, 5, 4)
        ),
        Case("Conv3D-no-bias-1-channel", lambda: Conv3D(2, 2, use_bias=False), (2, 3, 4, 5, 1)),
        Case("Conv1DTranspose-valid", lambda: Conv1DTranspose(2, 3), (2, 5, 3)),
        Case(
            "Conv1DTranspose-same-s2-output_padding",
            lambda: Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1),
            (2, 4, 2),
        ),
        Case("Conv1DTranspose-d2", lambda: Conv1DTranspose(2, 3, dilation_rate=2), (2, 5, 2)),
        Case("Conv3DTranspose-valid", lambda: Conv3DTranspose(2, (2, 3, 2)), (2, 3, 2, 3, 2)),
        Case(
            "Conv3DTranspose-same-s2",
            lambda: Conv3DTranspose(2, 3, strides=(2, 1, 2), padding="same"),
            (2, 2, 3, 2, 3),
        ),
        Case(
            "Conv3DTranspose-s3-output_padding-no-bias",
            lambda: Conv3DTranspose(2, 2, strides=3, output_padding=(1, 2, 0), use_bias=False),
            (2, 2, 2, 2, 2),
        ),
        Case(
            "Conv3DTranspose-d2",
            lambda: Conv3DTranspose(2, 2, dilation_rate=(2, 1, 2)),
            (2, 2, 3, 2, 2),
        ),
        Case(
            "DepthwiseConv1D-m2-same-s2",
            lambda: DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2),
            (2, 7, 3),
        ),
        Case("DepthwiseConv1D-d2", lambda: DepthwiseConv1D(2, dilation_rate=2), (2, 7, 2)),
        Case(
            "SeparableConv1D-same-m2",
            lambda: SeparableConv1D(3, 3, padding="same", depth_multiplier=2),
            (2, 7, 2),
        ),
    ]


def _channels_first_cases() -> list:
    """Every convolution layer with ``data_format='channels_first'``."""
    cf = {"data_format": "channels_first"}
    return [
        Case("Conv1D-cf", lambda: Conv1D(3, 3, padding="causal", **cf), (2, 2, 7)),
        Case("Conv2D-cf-relu", lambda: Conv2D(3, (3, 2), activation="relu", **cf), (2, 2, 6, 5)),
        Case(
            "Conv2D-cf-same-s2", lambda: Conv2D(3, 3, strides=2, padding="same", **cf), (2, 2, 5, 6)
        ),
        Case("Conv3D-cf", lambda: Conv3D(2, 2, padding="same", **cf), (2, 3, 3, 4, 3)),
        Case("DepthwiseConv1D-cf", lambda: DepthwiseConv1D(3, depth_multiplier=2, **cf), (2, 2, 6)),
        Case(
            "DepthwiseConv2D-cf", lambda: DepthwiseConv2D(2, depth_multiplier=2, **cf), (2, 2, 4, 5)
        ),
        Case("SeparableConv1D-cf", lambda: SeparableConv1D(2, 3, **cf), (2, 3, 6)),
        Case(
            "SeparableConv2D-cf", lambda: SeparableConv2D(2, 2, padding="same", **cf), (2, 3, 4, 3)
        ),
        Case("Conv1DTranspose-cf", lambda: Conv1DTranspose(2, 3, strides=2, **cf), (2, 3, 4)),
        Case("Conv2DTranspose-cf", lambda: Conv2DTranspose(2, 3, strides=2, **cf), (2, 3, 3, 2)),
        Case(
            "Conv3DTranspose-cf",
            lambda: Conv3DTranspose(2, 2, strides=2, padding="same", **cf),
            (2, 2, 2, 3, 2),
        ),
    ]


def _pooling_cases() -> list:
    cases = []
    for cls in (MaxPooling2D, AveragePooling2D):
        for pool, strides, padding in [
            (2, None, "valid"),
            (2, None, "same"),
            ((3, 2), 1, "valid"),
            ((3, 2), (2, 1), "same"),
            (3, 2, "same"),
        ]:
            cases.append(
                Case(
                    f"{cls.__name__}-p{pool}-s{strides}-{padding}",
                    lambda c=cls, p=pool, s=strides, pad=padding: c(p, strides=s, padding=pad),
                    (2, 7, 5, 3),
                    distinct_inputs=cls is MaxPooling2D,
                )
            )
    for cls in (MaxPooling1D, AveragePooling1D):
        for pool, strides, padding in [(2, None, "valid"), (3, 2, "same"), (2, 1, "same")]:
            cases.append(
                Case(
                    f"{cls.__name__}-p{pool}-s{strides}-{padding}",
                    lambda c=cls, p=pool, s=strides, pad=padding: c(p, strides=s, padding=pad),
                    (2, 7, 3),
                    distinct_inputs=cls is MaxPooling1D,
                )
            )
    cases += [
        Case("GlobalMaxPooling2D", GlobalMaxPooling2D, (2, 7, 5, 3), distinct_inputs=True),
        Case(
            "GlobalMaxPooling2D-keepdims",
            lambda: GlobalMaxPooling2D(keepdims=True),
            (2, 3, 5, 2),
            distinct_inputs=True,
        ),
        Case("GlobalAveragePooling2D", GlobalAveragePooling2D, (2, 7, 5, 3)),
        Case(
            "GlobalAveragePooling2D-keepdims",
            lambda: GlobalAveragePooling2D(keepdims=True),
            (2, 3, 5, 2),
        ),
        Case("GlobalMaxPooling1D", GlobalMaxPooling1D, (2, 7, 3), distinct_inputs=True),
        Case("GlobalAveragePooling1D", GlobalAveragePooling1D, (2, 7, 3)),
        Case("UpSampling2D", UpSampling2D, (2, 3, 2, 3)),
        Case("UpSampling2D-2x3", lambda: UpSampling2D((2, 3)), (2, 3, 2, 2)),
        Case("ZeroPadding2D", ZeroPadding2D, (2, 3, 2, 3)),
        Case("ZeroPadding2D-pairs", lambda: ZeroPadding2D(((1, 0), (2, 3))), (2, 3, 2, 2)),
        Case("Cropping2D", lambda: Cropping2D(1), (2, 5, 4, 2)),
        Case("Cropping2D-pairs", lambda: Cropping2D(((2, 0), (1, 2))), (2, 5, 4, 2)),
    ]
    return cases


CONV_CASES = (
    _conv2d_cases()
    + _conv1d_cases()
    + _depthwise_cases()
    + _separable_cases()
    + _transpose_cases()
    + _rank_1_3_cases()
    + _channels_first_cases()
)
POOL_CASES = _pooling_cases()
CASES = CONV_CASES + POOL_CASES


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def _built(case: Case):
    """The case's float64 layer, built, with non-zero biases (a zero bias hides its gradient)."""
    layer = case.make()
    layer.dtype = "float64"
    layer.build((None,) + case.x_shape[1:])
    layer.built = True
    rng = np.random.default_rng(3)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradcheck(case: Case):
    layer = _built(case)
    x = distinct(*case.x_shape) if case.distinct_inputs else randn(*case.x_shape)
    names = _WEIGHT_NAMES.get(type(layer), ())
    names = tuple(n for n in names if getattr(layer, n) is not None)
    weights = [getattr(layer, n).data.copy() for n in names]

    def fn(x, *ws):
        return call_with(layer, x, **dict(zip(names, ws, strict=True)))

    gradcheck(fn, [x, *weights])


def test_the_layers_own_variables_get_the_checked_gradients():
    # the rows swap tensors in for the weights; the layer's Variables get the same gradients
    case = CONV_CASES[0]
    layer = _built(case)
    x = randn(*case.x_shape)
    kernel, bias = layer.kernel.data.copy(), layer.bias.data.copy()
    expected = gradcheck(lambda t, k, b: call_with(layer, t, kernel=k, bias=b), [x, kernel, bias])
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    out.backward(np.random.default_rng(1234).standard_normal(out.shape))
    for got, want in zip([xt.grad, layer.kernel.grad, layer.bias.grad], expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _away_from_zero_preactivations(layer, shape):
    """An input whose pre-activations keep off ReLU's kink at 0 by at least 0.02."""
    rng = np.random.default_rng(11)
    linear = Conv2D.from_config({**layer.get_config(), "activation": None, "name": "probe"})
    linear.dtype = "float64"
    linear.build((None,) + shape[1:])
    linear.set_weights(layer.get_weights())
    for _ in range(200):
        x = rng.standard_normal(shape)
        if np.min(np.abs(linear(x).data)) > 0.02:
            return x
    raise AssertionError("no input keeps the pre-activations off 0")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(2, (3, 2), activation="relu"),
        lambda: Conv2D(2, 2, strides=2, padding="same", activation="relu", groups=2),
    ],
    ids=["plain", "grouped-strided-same"],
)
def test_gradcheck_fused_conv_relu(make):
    case = Case("relu", make, (1, 4, 5, 2))
    layer = _built(case)
    x = _away_from_zero_preactivations(layer, case.x_shape)
    kernel, bias = layer.kernel.data.copy(), layer.bias.data.copy()
    gradcheck(lambda t, k, b: call_with(layer, t, kernel=k, bias=b), [x, kernel, bias])


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_both_im2col_layouts_give_the_same_convolution(monkeypatch, planar, groups):
    # the layout is a speed choice: each must compute the same values and gradients
    monkeypatch.setattr(conv_primitives, "_use_planar", lambda *args: planar)
    layer = Conv2D(4, (3, 2), strides=(2, 1), padding="same", groups=groups, dtype="float64")
    layer.build((None, 7, 5, 4))
    x = randn(2, 7, 5, 4)
    kernel, bias = layer.kernel.data.copy(), randn(4)
    gradcheck(lambda t, k, b: call_with(layer, t, kernel=k, bias=b), [x, kernel, bias])


@pytest.mark.parametrize("planar", [False, True])
def test_both_layouts_of_the_transposed_convolution(monkeypatch, planar):
    monkeypatch.setattr(conv_primitives, "_use_planar", lambda *args: planar)
    layer = Conv2DTranspose(3, (3, 2), strides=2, padding="same", dtype="float64")
    layer.build((None, 3, 4, 2))
    x = randn(2, 3, 4, 2)
    kernel, bias = layer.kernel.data.copy(), randn(3)
    gradcheck(lambda t, k, b: call_with(layer, t, kernel=k, bias=b), [x, kernel, bias])


@pytest.fixture
def scratch_for_all_sizes(monkeypatch):
    """Let even these small test arrays go through the scratch-buffer reuse."""
    monkeypatch.setattr(scratch, "MIN_BYTES", 0)
    monkeypatch.setattr(scratch, "_POOL", {})


def test_a_layer_used_twice_keeps_both_calls_apart(scratch_for_all_sizes):
    # each call's im2col matrix lives until its op is dropped: scratch reuse must not mix them
    layer = Conv2D(3, (3, 2), dtype="float64")
    x1, x2 = randn(2, 7, 5, 2), randn(2, 7, 5, 2)
    layer.build((None, 7, 5, 2))
    kernel, bias = layer.kernel.data.copy(), randn(3)
    gradcheck(
        lambda a, b, k, c: (
            call_with(layer, a, kernel=k, bias=c) * call_with(layer, b, kernel=k, bias=c)
        ),
        [x1, x2, kernel, bias],
    )


def test_backward_twice_with_retain_graph_and_inference_in_between(scratch_for_all_sizes):
    layer = MaxPooling2D(2, strides=1)
    conv = Conv2D(2, 3, padding="same", activation="relu", dtype="float64")
    x = Tensor(randn(2, 6, 5, 3), requires_grad=True)
    out = layer(conv(x))
    weights = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(weights, retain_graph=True)
    first = [x.grad.copy(), conv.kernel.grad.copy(), conv.bias.grad.copy()]
    # inference calls in between reuse scratch buffers; the retained graph must not see them
    for _ in range(3):
        layer(conv(randn(2, 6, 5, 3)))
    x.grad = conv.kernel.grad = conv.bias.grad = None
    out.backward(weights)
    for got, want in zip([x.grad, conv.kernel.grad, conv.bias.grad], first, strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- values


def test_conv2d_matches_a_direct_loop():
    # the definition, written out: out[n, i, j, o] = sum over taps and channels + bias
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 3))
    layer = Conv2D(4, (3, 2), strides=(2, 1), padding="same", dtype="float64")
    layer.build((None, 6, 5, 3))
    kernel, bias = rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)
    layer.set_weights([kernel, bias])
    # TensorFlow 'same': rows 6 -> 3 outputs, total pad 1 (0 top, 1 bottom); cols pad 1 (0, 1)
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    expected = np.zeros((2, 3, 5, 4))
    for i in range(3):
        for j in range(5):
            window = padded[:, 2 * i : 2 * i + 3, j : j + 2, :]
            expected[:, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-12)


def test_depthwise_output_channel_order_is_channel_major():
    # output channel c * depth_multiplier + m comes from input channel c (TensorFlow's order)
    x = np.zeros((1, 3, 3, 2))
    x[..., 1] = 1.0
    layer = DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, dtype="float64")
    layer.build((None, 3, 3, 2))
    kernel = np.zeros((3, 3, 2, 2))
    kernel[:, :, 1, 0] = 1.0
    kernel[:, :, 1, 1] = 2.0
    layer.set_weights([kernel])
    np.testing.assert_array_equal(layer(x).data.reshape(-1), [0.0, 0.0, 9.0, 18.0])


def test_separable_equals_depthwise_then_pointwise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 3))
    sep = SeparableConv2D(4, 3, padding="same", depth_multiplier=2, dtype="float64")
    sep.build((None, 6, 5, 3))
    depthwise, pointwise, bias = (rng.standard_normal(w.shape) for w in sep.get_weights())
    sep.set_weights([depthwise, pointwise, bias])
    dw = DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, dtype="float64")
    dw.build((None, 6, 5, 3))
    dw.set_weights([depthwise])
    pw = Conv2D(4, 1, dtype="float64")
    pw.build((None, 6, 5, 6))
    pw.set_weights([pointwise, bias])
    np.testing.assert_allclose(sep(x).data, pw(dw(x)).data, rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_is_the_adjoint_of_conv2d():
    # <conv(x), y> == <x, conv_transpose(y)> for the same kernel: transposed conv is the adjoint
    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((3, 2, 3, 4))  # conv: 3 -> 4 channels; transpose: 4 -> 3
    for strides, padding in [(1, "valid"), (2, "same"), (2, "valid")]:
        conv = Conv2D(4, (3, 2), strides=strides, padding=padding, use_bias=False)
        conv.dtype = "float64"
        x = rng.standard_normal((2, 8, 6, 3))
        conv.build((None, 8, 6, 3))
        conv.set_weights([kernel])
        y_shape = conv.compute_output_shape((2, 8, 6, 3))
        y = rng.standard_normal(y_shape)
        tconv = Conv2DTranspose(3, (3, 2), strides=strides, padding=padding, use_bias=False)
        tconv.dtype = "float64"
        tconv.build((None,) + y_shape[1:])
        tconv.set_weights([kernel])
        back = tconv(y).data
        # Keras sizes the transposed output from y alone: rows a valid conv never read (the 8th
        # with stride 2) are missing, extra rows no window reaches would be zero
        h, w = min(8, back.shape[1]), min(6, back.shape[2])
        np.testing.assert_allclose(
            np.sum(conv(x).data * y), np.sum(x[:, :h, :w] * back[:, :h, :w]), rtol=1e-12
        )


def test_causal_conv1d_does_not_see_the_future():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2, dtype="float64")
    layer.build((None, 10, 1))
    x = randn(1, 10, 1)
    changed = x.copy()
    changed[:, 6:] += 1.0
    out, out_changed = layer(x).data, layer(changed).data
    np.testing.assert_array_equal(out[:, :6], out_changed[:, :6])
    assert not np.allclose(out[:, 6:], out_changed[:, 6:])


def test_same_average_pooling_leaves_padding_out_of_the_mean():
    x = np.ones((1, 3, 3, 1))
    out = AveragePooling2D(2, padding="same")(x).data
    # every window averages ones only, even those hanging over the edge
    np.testing.assert_array_equal(out, np.ones((1, 2, 2, 1)))


def test_same_max_pooling_never_picks_the_padding():
    x = -np.ones((1, 3, 3, 1))
    out = MaxPooling2D(2, padding="same")(x).data
    np.testing.assert_array_equal(out, -np.ones((1, 2, 2, 1)))


def test_max_pooling_gradient_goes_to_the_first_maximum():
    x = Tensor(np.array([[[[1.0], [3.0]], [[3.0], [2.0]]]]), requires_grad=True)
    MaxPooling2D(2)(x).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.reshape(-1), [0.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("op", [P.MaxPool2D, P.AvgPool2D])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("channels", [1, 6, 16])
def test_pooling_of_channel_strided_input_equals_pooling_of_a_copy(op, dtype, channels):
    # pooling copies whole pixels at a time when each pixel's channels are contiguous; a view
    # that strides over the channels takes the plain copy, with the same results
    rng = np.random.default_rng(channels)
    wide = rng.standard_normal((3, 8, 10, 2 * channels)).astype(dtype)
    strided = wide[..., ::2]
    contiguous = np.ascontiguousarray(strided)
    g = rng.standard_normal((3, 4, 5, channels)).astype(dtype)
    results = []
    for x in (strided, contiguous):
        f = op()
        out = f.forward(x, pool=(2, 2), strides=(2, 2))
        results.append((out, f.backward(g)[0]))
    (out_a, gx_a), (out_b, gx_b) = results
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(gx_a, gx_b)
    # and against a direct computation over the 2x2 windows
    windows = contiguous.reshape(3, 4, 2, 5, 2, channels)
    if op is P.MaxPool2D:
        np.testing.assert_array_equal(out_b, windows.max(axis=(2, 4)))
    else:
        expected = windows.astype(np.float64).mean(axis=(2, 4))
        tolerance = 1e-2 if dtype == "float16" else 1e-6
        np.testing.assert_allclose(out_b, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, taps, channels", [(4096, 25, 6), (300, 9, 2), (300, 9, 16)])
def test_tap_major_products_equal_one_product_per_tap(dtype, rows, taps, channels):
    from axonal.primitives.conv import _tap_major_products

    rng = np.random.default_rng(rows + channels)
    g2 = rng.standard_normal((rows, 10)).astype(dtype)
    kernel2 = rng.standard_normal((taps * channels, 10)).astype(dtype)
    out = np.full((taps, rows, channels), np.nan, dtype)
    _tap_major_products(g2, kernel2, out)
    per_tap = kernel2.reshape(taps, channels, 10)
    for t in range(taps):
        np.testing.assert_allclose(out[t], g2 @ per_tap[t].T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((0, 1), (0, 1))])
def test_max_pooling_outside_a_graph_finds_the_first_maxima_only_when_asked(pads):
    # ties everywhere (small integers), so the first-maximum rule decides each gradient
    x = np.random.default_rng(0).integers(0, 3, size=(2, 5, 5, 3)).astype(np.float32)
    recorded = P.MaxPool2D()
    out = recorded.forward(x, pool=(2, 2), strides=(2, 2), pads=pads)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    expected = recorded.backward(g)[0]
    lazy = P.MaxPool2D()
    lazy.needs_grad = None  # what the engine sets when no graph records the call
    np.testing.assert_array_equal(lazy.forward(x, pool=(2, 2), strides=(2, 2), pads=pads), out)
    assert getattr(lazy, "first", None) is None  # the compiled loop keeps taps instead
    np.testing.assert_array_equal(lazy.backward(g)[0], expected)


@pytest.mark.parametrize(
    "strides, dilation, pads",
    [
        ((1, 1), (1, 1), ((0, 0), (0, 0))),
        ((2, 1), (1, 2), ((1, 2), (0, 1))),
        ((2, 2), (1, 1), ((1, 1), (1, 1))),
    ],
)
def test_position_major_col2im_equals_the_batch_major_scatter(strides, dilation, pads):
    from axonal.primitives.conv import _col2im_position_major, _col2im_taps, _crop_hw, _out_hw

    n, h, w, c, kh, kw = 3, 9, 8, 5, 3, 2
    padded = (n, h + sum(pads[0]), w + sum(pads[1]), c)
    oh, ow = _out_hw(padded[1:3], (kh, kw), strides, dilation)
    cols = np.random.default_rng(0).standard_normal((kh, kw, n, oh, ow, c)).astype(np.float32)
    expected = _crop_hw(_col2im_taps(cols, padded, strides, dilation), pads)
    by_position = np.ascontiguousarray(cols.transpose(0, 1, 3, 4, 2, 5))
    got = _col2im_position_major(by_position, padded, strides, dilation, pads)
    assert got.shape == (n, h, w, c) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_upsampling_repeats_pixels():
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    out = UpSampling2D((2, 1))(x).data[0, :, :, 0]
    np.testing.assert_array_equal(out, [[0, 1], [0, 1], [2, 3], [2, 3]])


# ---------------------------------------------------------------- shapes


SHAPE_CASES = [(c.id, c.make, c.x_shape) for c in CASES] + [
    ("Conv2D-28x28-5x5", lambda: Conv2D(6, 5), (3, 28, 28, 1)),
    ("Conv2D-same-s3", lambda: Conv2D(2, 4, strides=3, padding="same"), (2, 10, 11, 2)),
    ("Conv1D-causal-s3", lambda: Conv1D(2, 4, strides=3, padding="causal"), (2, 10, 2)),
    (
        "Conv2DTranspose-d2-same",
        lambda: Conv2DTranspose(2, 3, dilation_rate=2, padding="same"),
        (2, 5, 4, 1),
    ),
    ("MaxPooling2D-s3-same", lambda: MaxPooling2D(2, strides=3, padding="same"), (2, 10, 11, 2)),
]


@pytest.mark.parametrize(
    "make, shape", [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES]
)
def test_output_shape_matches_compute_output_shape(make, shape):
    layer = make()
    out = layer(np.zeros(shape, "float32"))
    assert out.shape == layer.compute_output_shape(shape)
    # an unknown batch size stays unknown
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]


@pytest.mark.parametrize(
    "layer, shape, expected",
    [
        (Conv2D(6, 5), (None, 28, 28, 1), (None, 24, 24, 6)),
        (Conv2D(3, 3, strides=2, padding="same"), (None, 7, 5, 2), (None, 4, 3, 3)),
        (Conv1D(4, 3, padding="causal"), (None, 10, 2), (None, 10, 4)),
        (DepthwiseConv2D(3, depth_multiplier=3), (None, 7, 5, 2), (None, 5, 3, 6)),
        (Conv2DTranspose(2, 3, strides=2), (None, 4, 4, 3), (None, 9, 9, 2)),
        (Conv2DTranspose(2, 3, strides=2, padding="same"), (None, 4, 4, 3), (None, 8, 8, 2)),
        (
            Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=0),
            (None, 4, 4, 3),
            (None, 7, 7, 2),
        ),
        (MaxPooling2D(), (None, 7, 5, 3), (None, 3, 2, 3)),
        (MaxPooling2D(padding="same"), (None, 7, 5, 3), (None, 4, 3, 3)),
        (AveragePooling1D(3, strides=2), (None, 7, 3), (None, 3, 3)),
        (GlobalAveragePooling2D(), (None, 7, 5, 3), (None, 3)),
        (UpSampling2D(2), (None, 7, 5, 3), (None, 14, 10, 3)),
        (ZeroPadding2D(((1, 2), (3, 4))), (None, 7, 5, 3), (None, 10, 12, 3)),
        (Cropping2D(((1, 2), (0, 1))), (None, 7, 5, 3), (None, 4, 4, 3)),
    ],
)
def test_output_shapes_follow_keras(layer, shape, expected):
    assert layer.compute_output_shape(shape) == expected


# ---------------------------------------------------------------- weights and configs


def test_weight_names_and_layouts_follow_keras():
    x = np.zeros((2, 7, 5, 3), "float32")
    cases = [
        (Conv2D(4, (3, 2)), {"kernel": (3, 2, 3, 4), "bias": (4,)}),
        (Conv2D(6, 3, groups=3, use_bias=False), {"kernel": (3, 3, 1, 6)}),
        (DepthwiseConv2D((3, 2), depth_multiplier=2), {"kernel": (3, 2, 3, 2), "bias": (6,)}),
        (
            SeparableConv2D(5, 3, depth_multiplier=2),
            {"depthwise_kernel": (3, 3, 3, 2), "pointwise_kernel": (1, 1, 6, 5), "bias": (5,)},
        ),
        (Conv2DTranspose(4, (3, 2)), {"kernel": (3, 2, 4, 3), "bias": (4,)}),
    ]
    for layer, expected in cases:
        layer(x)
        assert {w.name: w.shape for w in layer.weights} == expected
        assert [w.path for w in layer.weights] == [f"{layer.name}/{n}" for n in expected]
    conv1d = Conv1D(4, 3)
    conv1d(np.zeros((2, 9, 3), "float32"))
    assert [w.shape for w in conv1d.weights] == [(3, 3, 4), (4,)]


CONFIG_CASES = [
    ("Conv2D", lambda: Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu"), 4),
    (
        "Conv2D-options",
        lambda: Conv2D(
            4,
            3,
            dilation_rate=2,
            groups=2,
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizers.L2(0.01),
        ),
        4,
    ),
    ("Conv1D", lambda: Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh"), 3),
    (
        "DepthwiseConv2D",
        lambda: DepthwiseConv2D(3, depth_multiplier=2, depthwise_regularizer="l1"),
        4,
    ),
    ("SeparableConv2D", lambda: SeparableConv2D(5, 3, strides=2, depth_multiplier=2), 4),
    ("Conv2DTranspose", lambda: Conv2DTranspose(2, 3, strides=2, output_padding=1), 4),
    ("MaxPooling2D", lambda: MaxPooling2D((3, 2), strides=1, padding="same"), 4),
    ("AveragePooling2D", lambda: AveragePooling2D(2), 4),
    ("MaxPooling1D", lambda: MaxPooling1D(3, strides=2), 3),
    ("AveragePooling1D", lambda: AveragePooling1D(2, padding="same"), 3),
    ("GlobalMaxPooling2D", lambda: GlobalMaxPooling2D(keepdims=True), 4),
    ("GlobalAveragePooling2D", lambda: GlobalAveragePooling2D(), 4),
    ("GlobalMaxPooling1D", lambda: GlobalMaxPooling1D(), 3),
    ("GlobalAveragePooling1D", lambda: GlobalAveragePooling1D(keepdims=True), 3),
    ("UpSampling2D", lambda: UpSampling2D((2, 3)), 4),
    ("ZeroPadding2D", lambda: ZeroPadding2D(((1, 2), (0, 1))), 4),
    ("Cropping2D", lambda: Cropping2D((1, 2)), 4),
]


@pytest.mark.parametrize(
    "make, rank", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_config_round_trip_rebuilds_an_equivalent_layer(make, rank):
    layer = make()
    x = np.random.default_rng(0).normal(size=(2, 8, 7, 4)[:rank]).astype("float32")
    expected = layer(x).data
    config = json.loads(json.dumps(layer.get_config()))  # JSON values only
    rebuilt = type(layer).from_config(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    if layer.get_weights():
        rebuilt(x)
        rebuilt.set_weights(layer.get_weights())
    np.testing.assert_array_equal(rebuilt(x).data, expected)
    again = deserialize("layer", json.loads(json.dumps(serialize(layer))))
    assert again.get_config() == layer.get_config()


def test_config_keys_follow_keras():
    config = Conv2D(4, 3).get_config()
    assert config["kernel_size"] == [3, 3] and config["strides"] == [1, 1]
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    assert config["dilation_rate"] == [1, 1] and config["groups"] == 1
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert MaxPooling2D().get_config()["strides"] == [2, 2]
    assert ZeroPadding2D().get_config()["padding"] == [[1, 1], [1, 1]]
    assert DepthwiseConv2D(3).get_config()["depth_multiplier"] == 1
    assert Conv2DTranspose(2, 3).get_config()["output_padding"] is None


def test_regularizers_add_their_penalties():
    layer = SeparableConv2D(
        2, 3, depthwise_regularizer=regularizers.L2(0.5), pointwise_regularizer="l1"
    )
    layer(np.ones((1, 5, 5, 2), "float32"))
    depthwise, pointwise = layer.depthwise_kernel.data, layer.pointwise_kernel.data
    expected = 0.5 * np.sum(depthwise**2) + 0.01 * np.sum(np.abs(pointwise))
    assert len(layer.losses) == 2
    np.testing.assert_allclose(sum(float(t.data) for t in layer.losses), expected, rtol=1e-6)


# ---------------------------------------------------------------- bad input


def _conv_layers() -> list:
    return [
        Conv2D(2, 3),
        DepthwiseConv2D(3),
        SeparableConv2D(2, 3),
        Conv2DTranspose(2, 3),
    ]


@pytest.mark.parametrize("layer", _conv_layers(), ids=lambda layer: type(layer).__name__)
def test_wrong_channel_count_names_layer_and_shapes_and_changes_nothing(layer):
    layer(np.ones((2, 6, 6, 3), "float32"))
    before = layer.get_weights()
    with pytest.raises(ValueError) as info:
        layer(np.ones((2, 6, 6, 2), "float32"))
    message = str(info.value)
    assert layer.name in message and type(layer).__name__ in message
    assert "(2, 6, 6, 2)" in message and "3 channels" in message
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("layer", _conv_layers(), ids=lambda layer: type(layer).__name__)
def test_wrong_rank_names_layer_and_shapes_and_changes_nothing(layer):
    layer(np.ones((2, 6, 6, 3), "float32"))
    before = layer.get_weights()
    with pytest.raises(ValueError) as info:
        layer(np.ones((2, 6, 6), "float32"))
    message = str(info.value)
    assert layer.name in message and "(2, 6, 6)" in message
    assert "rank 4" in message and "(batch, height, width, channels)" in message
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_wrong_rank_on_first_call_creates_no_weights():
    layer = Conv2D(2, 3)
    # the first call builds the layer: the batch size is not part of what it was built for
    with pytest.raises(ValueError, match=r"rank 4.*got shape \(None, 6, 3\)"):
        layer(np.ones((6, 6, 3), "float32"))
    assert layer.weights == [] and not layer.built


def test_conv1d_fed_images_says_what_it_expects():
    layer = Conv1D(2, 3)
    with pytest.raises(ValueError, match=r"rank 3, \(batch, steps, channels\).*\(None, 6, 6, 3\)"):
        layer(np.ones((2, 6, 6, 3), "float32"))


def test_input_smaller_than_the_kernel():
    with pytest.raises(ValueError, match=r"too small for kernel_size \(5, 5\)"):
        Conv2D(2, 5)(np.ones((1, 4, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"smaller than pool_size"):
        MaxPooling2D(3)(np.ones((1, 2, 8, 1), "float32"))


def test_pooling_wrong_rank():
    with pytest.raises(ValueError, match=r"max_pooling2d.*rank 4.*\(None, 8\)"):
        MaxPooling2D()(np.ones((2, 8), "float32"))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Conv2D(2, 3, padding="causal"), "padding"),
        (lambda: Conv2D(2, 3, padding="full"), "padding"),
        (lambda: Conv2D(0, 3), "filters"),
        (lambda: Conv2D(3, 3, groups=2), "divisible"),
        (lambda: Conv2D(2, (3, 0)), "kernel_size"),
        (lambda: Conv2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: Conv2D(2, 3, data_format="channels_middle"), "data_format"),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
        (lambda: MaxPooling2D((2, 2, 2)), "pool_size"),
        (lambda: UpSampling2D(interpolation="bilinear"), "nearest"),
        (lambda: ZeroPadding2D(((1, 2, 3), (0, 0))), "padding"),
        (lambda: Cropping2D(-1), "cropping"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_grouped_conv_needs_divisible_channels():
    with pytest.raises(ValueError, match=r"5 input channels.*groups=2"):
        Conv2D(4, 3, groups=2)(np.ones((1, 6, 6, 5), "float32"))


def test_padding_is_case_insensitive_as_in_keras():
    assert Conv2D(2, 3, padding="SAME").padding == "same"


# ---------------------------------------------------------------- float32 end to end


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_float32_in_float32_out_and_gradients(case):
    layer = case.make()
    x = Tensor(np.random.default_rng(0).normal(size=case.x_shape).astype("float32"), True)
    out = layer(x)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, "float32"))
    assert x.grad.dtype == np.float32
    for weight in layer.weights:
        assert weight.data.dtype == np.float32 and weight.grad.dtype == np.float32


def test_float32_cnn_trains_end_to_end():
    from axonal.layers import Dense, Flatten
    from axonal.models import Sequential

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int64")
    model = Sequential(
        [
            Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            MaxPooling2D(),
            Conv2D(4, 3, activation="relu"),
            GlobalAveragePooling2D(),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float32


def test_primitive_shape_helpers_follow_keras():
    assert P.conv_output_length(7, 3, 2, 1, "same") == 4
    assert P.conv_output_length(7, 3, 2, 1, "valid") == 3
    assert P.conv_output_length(None, 3) is None
    assert P.conv_pads(7, 3, 2, 1, "same") == (1, 1)
    assert P.conv_pads(6, 3, 2, 1, "same") == (0, 1)  # the odd pad goes at the end
    assert P.conv_pads(5, 3, 1, 2, "causal") == (4, 0)
    assert P.conv_transpose_output_length(4, 3, 2, 1, "valid") == 9
    assert P.conv_transpose_output_length(4, 3, 2, 1, "same", 1) == 8


def test_a_convolution_alive_at_exit_releases_nothing_and_prints_nothing():
    # regression: with numba loaded, the interpreter could clear conv.py's names before an op
    # kept by a global was dropped, and its __del__ printed "TypeError: 'NoneType' object is
    # not callable" on the way out
    import subprocess
    import sys

    pytest.importorskip("numba")
    program = (
        "import numpy as np, numba\n"
        "import axonal.primitives.conv as C\n"
        "@numba.njit\n"
        "def touch(a):\n"
        "    return a\n"
        "op = C.Conv2D()\n"
        "op.needs_grad = [True, False, False]\n"
        "op.forward(np.ones((64, 12, 12, 6), np.float32), np.ones((5, 5, 6, 16), np.float32))\n"
        "touch(1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("planar", [False, True])
def test_a_convolution_without_kernel_gradient_keeps_no_im2col_matrix(planar):
    # input gradients only (integrated gradients) or no graph: the matrix is made and multiplied
    # a block of images at a time and dropped, and DP's columns() builds it again on request
    from axonal.primitives import conv
    from tolerance import assert_sums_close

    rng = np.random.default_rng(5)
    # planar: a 5-wide kernel on one channel (8 outputs: not the single-channel loop);
    # pixel-first: many channels
    x_shape, kernel_shape = (
        ((300, 20, 20, 1), (5, 5, 1, 8)) if planar else ((300, 6, 6, 16), (3, 3, 16, 8))
    )
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    pads = ((1, 1), (1, 1))
    kept = P.Conv2D()
    kept.needs_grad = (True, True, True)
    want = kept.forward(x, kernel, bias, pads=pads)
    blocked = P.Conv2D()
    blocked.needs_grad = (True, False, False)
    got = blocked.forward(x, kernel, bias, pads=pads)
    assert blocked.cols is None and blocked.buffer is None and blocked.planar is planar
    per_image = want.shape[1] * want.shape[2] * (kernel[..., 0].size + 1) * 4
    assert per_image * x.shape[0] > 2 * conv._BLOCK_BYTES  # it really ran in blocks
    window_sums = P.Conv2D().forward(
        np.abs(x).astype(np.float64), np.abs(kernel).astype(np.float64), np.abs(bias), pads=pads
    )
    assert_sums_close(got, want, fan_in=kernel[..., 0].size + 1, magnitude=window_sums)
    g = rng.standard_normal(want.shape).astype(np.float32)
    np.testing.assert_array_equal(blocked.backward(g)[0], kept.backward(g)[0])
    np.testing.assert_array_equal(blocked.columns(), kept.columns())


@pytest.mark.parametrize("channels", [6, 32])  # products side by side (narrow), or per tap
def test_the_input_gradient_is_the_same_in_blocks_of_images(monkeypatch, channels):
    from axonal.primitives import conv
    from tolerance import assert_sums_close

    rng = np.random.default_rng(6)
    x = rng.standard_normal((37, 7, 6, channels)).astype(np.float32)  # 7x5 outputs
    kernel = rng.standard_normal((3, 3, channels, 16)).astype(np.float32)
    attrs = {"pads": ((1, 1), (1, 0)), "strides": (1, 1)}

    def input_grad():
        op = P.Conv2D()
        op.needs_grad = (True, False)
        out = op.forward(x, kernel, **attrs)
        assert not op.planar
        return op.backward(np.linspace(-1, 1, out.size, dtype=np.float32).reshape(out.shape))[0]

    whole = input_grad()
    per_image = 7 * 5 * 9 * channels * 4
    monkeypatch.setattr(conv, "_BLOCK_BYTES", 5 * per_image)  # blocks of 5 images, then 2
    assert 37 * per_image > 4 * conv._BLOCK_BYTES
    # BLAS may round a product of fewer rows differently (its small-matrix kernels): the same
    # terms, so within float32 rounding of their sums (16 products per tap, 9 taps)
    g = np.abs(np.linspace(-1, 1, 37 * 7 * 5 * 16)).reshape(37, 7, 5, 16)
    op = P.Conv2D()
    op.needs_grad = (True, False)
    op.forward(np.zeros(x.shape), np.abs(kernel).astype(np.float64), **attrs)
    magnitude = op.backward(g)[0]
    assert_sums_close(input_grad(), whole, fan_in=9 * 16, magnitude=magnitude)
