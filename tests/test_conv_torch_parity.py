"""Convolution and pooling layers against PyTorch: forward values and gradients, both float types.

Each row builds an axonal layer (channels-last) and the same computation in PyTorch (NCHW),
with the weights converted between the layouts in the test: a Keras kernel
``(kh, kw, in, out)`` is torch's ``(out, in, kh, kw)``, a depthwise kernel
``(kh, kw, in, multiplier)`` is a grouped torch kernel ``(in * multiplier, 1, kh, kw)``, a
transposed-convolution kernel ``(kh, kw, out, in)`` is torch's ``(in, out, kh, kw)``.
Keras's 'same' padding (TensorFlow's: the odd pad at the end, any stride) is spelled out as
explicit pads computed here from the definition, since torch's ``padding='same'`` is
symmetric and stride-1 only. Both sides get ``sum(out * R)`` for a fixed random R; outputs and
the gradients w.r.t. the input and every weight must agree within the rounding of the sums behind
each element (``tolerance.assert_sums_close``): how many terms it sums and their absolute sizes
come from the torch side run in float64 on all-ones and on absolute-valued inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from axonal.layers import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Cropping2D,
    Cropping3D,
    DepthwiseConv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    SeparableConv2D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import distinct
from tolerance import assert_sums_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def fresh_names():
    clear_session()
    yield
    clear_session()


# ---------------------------------------------------------------- Keras's padding, from scratch


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple:
    """TensorFlow's 'same': ceil(size / stride) outputs; the odd pad goes after."""
    extent = dilation * (kernel - 1) + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def pads_for(padding: str, size: int, kernel: int, stride: int, dilation: int = 1) -> tuple:
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return dilation * (kernel - 1), 0
    return same_pads(size, kernel, stride, dilation)


def pad_nchw(x, rows: tuple, cols: tuple, value: float = 0.0):
    """Pad H by ``rows`` and W by ``cols`` (torch's F.pad lists the last axis first)."""
    return TF.pad(x, (cols[0], cols[1], rows[0], rows[1]), value=value)


def to_nchw(t):
    return t.permute(0, 3, 1, 2)


def to_nhwc(t):
    return t.permute(0, 2, 3, 1)


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """``make()`` is the axonal layer; ``torch_fn(x_nhwc, *weights)`` the same in torch.

    ``torch_fn`` takes torch tensors in axonal's layouts (channels-last input, Keras-layout
    weights) and converts them itself, so gradients come back in axonal's layouts.
    """

    id: str
    make: Callable
    torch_fn: Callable
    x_shape: tuple
    distinct_inputs: bool = False


def _conv2d_torch(strides, padding, dilation, groups=1, activation=None):
    def fn(x, kernel, bias=None):
        sh, sw = strides
        dh, dw = dilation
        rows = pads_for(padding, x.shape[1], kernel.shape[0], sh, dh)
        cols = pads_for(padding, x.shape[2], kernel.shape[1], sw, dw)
        weight = kernel.permute(3, 2, 0, 1)
        out = TF.conv2d(
            pad_nchw(to_nchw(x), rows, cols), weight, bias, strides, 0, dilation, groups
        )
        if activation == "relu":
            out = torch.relu(out)
        return to_nhwc(out)

    return fn


def _conv1d_torch(stride, padding, dilation):
    def fn(x, kernel, bias=None):
        before, after = pads_for(padding, x.shape[1], kernel.shape[0], stride, dilation)
        ncl = TF.pad(x.permute(0, 2, 1), (before, after))
        out = TF.conv1d(ncl, kernel.permute(2, 1, 0), bias, stride, 0, dilation)
        return out.permute(0, 2, 1)

    return fn


def _depthwise_weight(kernel):
    kh, kw, channels, multiplier = kernel.shape
    # output channel c * multiplier + m of group c: torch's grouped layout (C * M, 1, kh, kw)
    return kernel.reshape(kh, kw, channels * multiplier).permute(2, 0, 1).unsqueeze(1)


def _depthwise_torch(strides, padding, dilation):
    def fn(x, kernel, bias=None):
        rows = pads_for(padding, x.shape[1], kernel.shape[0], strides[0], dilation[0])
        cols = pads_for(padding, x.shape[2], kernel.shape[1], strides[1], dilation[1])
        out = TF.conv2d(
            pad_nchw(to_nchw(x), rows, cols),
            _depthwise_weight(kernel),
            bias,
            strides,
            0,
            dilation,
            groups=x.shape[3],
        )
        return to_nhwc(out)

    return fn


def _separable_torch(strides, padding, dilation):
    depthwise = _depthwise_torch(strides, padding, dilation)

    def fn(x, depthwise_kernel, pointwise_kernel, bias=None):
        mid = to_nchw(depthwise(x, depthwise_kernel))
        return to_nhwc(TF.conv2d(mid, pointwise_kernel.permute(3, 2, 0, 1), bias))

    return fn


def _keras_transpose_length(size, kernel, stride, dilation, padding, output_padding):
    extent = dilation * (kernel - 1) + 1
    if output_padding is None:
        return size * stride + max(extent - stride, 0) if padding == "valid" else size * stride
    pad = extent // 2 if padding == "same" else 0
    return (size - 1) * stride + extent - 2 * pad + output_padding


def _transpose_torch(strides, padding, dilation, output_padding=None):
    def fn(x, kernel, bias=None):
        extra = (None, None) if output_padding is None else output_padding
        out_hw, crops = [], []
        for axis in range(2):
            size, k = x.shape[1 + axis], kernel.shape[axis]
            s, d = strides[axis], dilation[axis]
            out = _keras_transpose_length(size, k, s, d, padding, extra[axis])
            # TensorFlow: the forward conv of an `out`-sized input, padded so it yields `size`
            full = (size - 1) * s + d * (k - 1) + 1
            total = max(full - out, 0)
            out_hw.append(out)
            crops.append(total // 2)
        # torch: no padding, then crop Keras's window out of the full result (zeros past it)
        weight = kernel.permute(3, 2, 0, 1)
        full_out = TF.conv_transpose2d(to_nchw(x), weight, None, strides, 0, 0, 1, dilation)
        rows_needed = crops[0] + out_hw[0] - full_out.shape[2]
        cols_needed = crops[1] + out_hw[1] - full_out.shape[3]
        full_out = pad_nchw(full_out, (0, max(rows_needed, 0)), (0, max(cols_needed, 0)))
        out = full_out[:, :, crops[0] : crops[0] + out_hw[0], crops[1] : crops[1] + out_hw[1]]
        if bias is not None:
            out = out + bias[None, :, None, None]
        return to_nhwc(out)

    return fn


def _pool2d_torch(kind, pool, strides, padding):
    def fn(x):
        rows = pads_for(padding, x.shape[1], pool[0], strides[0])
        cols = pads_for(padding, x.shape[2], pool[1], strides[1])
        nchw = to_nchw(x)
        if kind == "max":
            out = TF.max_pool2d(pad_nchw(nchw, rows, cols, -math.inf), pool, strides)
        else:
            # Keras leaves padding out of the mean: window sums over window cell counts
            total = TF.avg_pool2d(pad_nchw(nchw, rows, cols), pool, strides) * math.prod(pool)
            ones = torch.ones_like(nchw[:1, :1])
            count = TF.avg_pool2d(pad_nchw(ones, rows, cols), pool, strides) * math.prod(pool)
            out = total / count
        return to_nhwc(out)

    return fn


def _pool1d_torch(kind, pool, stride, padding):
    def fn(x):
        before, after = pads_for(padding, x.shape[1], pool, stride)
        ncl = x.permute(0, 2, 1)
        if kind == "max":
            out = TF.max_pool1d(TF.pad(ncl, (before, after), value=-math.inf), pool, stride)
        else:
            total = TF.avg_pool1d(TF.pad(ncl, (before, after)), pool, stride) * pool
            ones = torch.ones_like(ncl[:1, :1])
            out = total / (TF.avg_pool1d(TF.pad(ones, (before, after)), pool, stride) * pool)
        return out.permute(0, 2, 1)

    return fn


def to_ncdhw(t):
    return t.permute(0, 4, 1, 2, 3)


def to_ndhwc(t):
    return t.permute(0, 2, 3, 4, 1)


def _pool3d_torch(kind, pool, strides, padding):
    def fn(x):
        pads = [pads_for(padding, x.shape[1 + i], pool[i], strides[i]) for i in range(3)]
        # torch's F.pad lists the last axis first
        flat = tuple(v for pair in reversed(pads) for v in pair)
        ncdhw = to_ncdhw(x)
        if kind == "max":
            out = TF.max_pool3d(TF.pad(ncdhw, flat, value=-math.inf), pool, strides)
        else:
            total = TF.avg_pool3d(TF.pad(ncdhw, flat), pool, strides) * math.prod(pool)
            ones = torch.ones_like(ncdhw[:1, :1])
            count = TF.avg_pool3d(TF.pad(ones, flat), pool, strides) * math.prod(pool)
            out = total / count
        return to_ndhwc(out)

    return fn


def _channels_first(torch_fn):
    """A channels-last torch function applied to channels-first (NCHW) inputs."""
    return lambda x: to_nchw(torch_fn(to_nhwc(x)))


def _conv_rows() -> list:
    rows = []
    for strides, padding, dilation in [
        ((1, 1), "valid", (1, 1)),
        ((1, 1), "same", (1, 1)),
        ((2, 2), "same", (1, 1)),
        ((2, 1), "valid", (1, 1)),
        ((1, 1), "same", (2, 2)),
        ((1, 1), "valid", (2, 1)),
    ]:
        tag = f"s{strides[0]}{strides[1]}-{padding}-d{dilation[0]}{dilation[1]}"
        for shape in [(2, 7, 5, 3), (2, 6, 11, 1)]:
            rows.append(
                Row(
                    f"Conv2D-{tag}-{shape[1]}x{shape[2]}x{shape[3]}",
                    lambda s=strides, p=padding, d=dilation: Conv2D(
                        4, (3, 2), strides=s, padding=p, dilation_rate=d
                    ),
                    _conv2d_torch(strides, padding, dilation),
                    shape,
                )
            )
        rows.append(
            Row(
                f"DepthwiseConv2D-{tag}",
                lambda s=strides, p=padding, d=dilation: DepthwiseConv2D(
                    (3, 2), strides=s, padding=p, dilation_rate=d, depth_multiplier=2
                ),
                _depthwise_torch(strides, padding, dilation),
                (2, 7, 5, 3),
            )
        )
        rows.append(
            Row(
                f"SeparableConv2D-{tag}",
                lambda s=strides, p=padding, d=dilation: SeparableConv2D(
                    3, (3, 2), strides=s, padding=p, dilation_rate=d, depth_multiplier=2
                ),
                _separable_torch(strides, padding, dilation),
                (2, 7, 5, 2),
            )
        )
    rows += [
        Row(
            "Conv2D-groups-relu",
            lambda: Conv2D(4, 3, groups=2, padding="same", activation="relu"),
            _conv2d_torch((1, 1), "same", (1, 1), groups=2, activation="relu"),
            (2, 6, 5, 4),
        ),
        Row(
            "Conv2D-lenet-relu",
            lambda: Conv2D(6, 5, activation="relu"),
            _conv2d_torch((1, 1), "valid", (1, 1), activation="relu"),
            (4, 28, 28, 1),
        ),
        Row(
            "Conv2D-no-bias-s3-same",
            lambda: Conv2D(3, 4, strides=3, padding="same", use_bias=False),
            _conv2d_torch((3, 3), "same", (1, 1)),
            (2, 10, 11, 2),
        ),
    ]
    for stride, padding, dilation in [
        (1, "valid", 1),
        (1, "same", 1),
        (2, "same", 1),
        (1, "causal", 2),
        (2, "causal", 1),
        (1, "valid", 2),
    ]:
        rows.append(
            Row(
                f"Conv1D-s{stride}-{padding}-d{dilation}",
                lambda s=stride, p=padding, d=dilation: Conv1D(
                    4, 3, strides=s, padding=p, dilation_rate=d
                ),
                _conv1d_torch(stride, padding, dilation),
                (2, 11, 3),
            )
        )
    # 32 input channels: stride-1 convolutions run as per-tap GEMMs (conv_taps) in both dtypes
    for padding, dilation, bias in [("same", 1, True), ("causal", 2, True), ("valid", 1, False)]:
        rows.append(
            Row(
                f"Conv1D-taps-{padding}-d{dilation}-bias{bias}",
                lambda p=padding, d=dilation, b=bias: Conv1D(
                    5, 3, padding=p, dilation_rate=d, use_bias=b
                ),
                _conv1d_torch(1, padding, dilation),
                (2, 9, 32),
            )
        )
    for strides, padding, dilation, output_padding in [
        ((1, 1), "valid", (1, 1), None),
        ((1, 1), "same", (1, 1), None),
        ((2, 2), "same", (1, 1), None),
        ((2, 2), "valid", (1, 1), None),
        ((3, 2), "valid", (1, 1), None),
        ((1, 1), "same", (2, 2), None),
        ((2, 2), "same", (1, 1), (1, 1)),
        ((2, 3), "valid", (1, 1), (1, 2)),
    ]:
        tag = f"s{strides[0]}{strides[1]}-{padding}-d{dilation[0]}-op{output_padding}"
        rows.append(
            Row(
                f"Conv2DTranspose-{tag}",
                lambda s=strides, p=padding, d=dilation, o=output_padding: Conv2DTranspose(
                    3, (3, 2), strides=s, padding=p, dilation_rate=d, output_padding=o
                ),
                _transpose_torch(strides, padding, dilation, output_padding),
                (2, 4, 5, 2),
            )
        )
    return rows


def _pool_rows() -> list:
    rows = []
    for kind, cls in [("max", MaxPooling2D), ("avg", AveragePooling2D)]:
        for pool, strides, padding in [
            ((2, 2), (2, 2), "valid"),
            ((2, 2), (2, 2), "same"),
            ((3, 2), (1, 1), "valid"),
            ((3, 3), (2, 2), "same"),
            ((3, 2), (2, 1), "same"),
        ]:
            rows.append(
                Row(
                    f"{cls.__name__}-p{pool[0]}{pool[1]}-s{strides[0]}{strides[1]}-{padding}",
                    lambda c=cls, p=pool, s=strides, pad=padding: c(p, strides=s, padding=pad),
                    _pool2d_torch(kind, pool, strides, padding),
                    (2, 7, 5, 3),
                    distinct_inputs=kind == "max",
                )
            )
    for kind, cls in [("max", MaxPooling1D), ("avg", AveragePooling1D)]:
        for pool, stride, padding in [(2, 2, "valid"), (3, 2, "same"), (2, 1, "same")]:
            rows.append(
                Row(
                    f"{cls.__name__}-p{pool}-s{stride}-{padding}",
                    lambda c=cls, p=pool, s=stride, pad=padding: c(p, strides=s, padding=pad),
                    _pool1d_torch(kind, pool, stride, padding),
                    (2, 7, 3),
                    distinct_inputs=kind == "max",
                )
            )
    for kind, cls in [("max", MaxPooling3D), ("avg", AveragePooling3D)]:
        for pool, strides, padding in [
            ((2, 2, 2), (2, 2, 2), "valid"),
            ((3, 2, 2), (2, 1, 2), "same"),
            ((2, 3, 1), (1, 2, 1), "same"),
        ]:
            tag = "".join(map(str, pool)) + "-s" + "".join(map(str, strides))
            rows.append(
                Row(
                    f"{cls.__name__}-p{tag}-{padding}",
                    lambda c=cls, p=pool, s=strides, pad=padding: c(p, strides=s, padding=pad),
                    _pool3d_torch(kind, pool, strides, padding),
                    (2, 5, 6, 4, 2),
                    distinct_inputs=kind == "max",
                )
            )
    for kind, cls in [("max", MaxPooling2D), ("avg", AveragePooling2D)]:
        rows.append(
            Row(
                f"{cls.__name__}-channels_first-p32-s21-same",
                lambda c=cls: c(
                    (3, 2), strides=(2, 1), padding="same", data_format="channels_first"
                ),
                _channels_first(_pool2d_torch(kind, (3, 2), (2, 1), "same")),
                (2, 3, 7, 5),
                distinct_inputs=kind == "max",
            )
        )
    rows += [
        Row(
            "UpSampling3D",
            lambda: UpSampling3D((2, 1, 3)),
            lambda x: to_ndhwc(TF.interpolate(to_ncdhw(x), scale_factor=(2, 1, 3), mode="nearest")),
            (2, 2, 3, 2, 2),
        ),
        Row(
            "UpSampling2D-channels_first",
            lambda: UpSampling2D((2, 3), data_format="channels_first"),
            lambda x: TF.interpolate(x, scale_factor=(2, 3), mode="nearest"),
            (2, 2, 3, 4),
        ),
        Row(
            "ZeroPadding3D",
            lambda: ZeroPadding3D(((1, 2), (0, 1), (3, 0))),
            lambda x: to_ndhwc(TF.pad(to_ncdhw(x), (3, 0, 0, 1, 1, 2))),
            (2, 2, 3, 2, 2),
        ),
        Row(
            "Cropping3D-channels_first",
            lambda: Cropping3D(((1, 0), (0, 2), (1, 1)), data_format="channels_first"),
            lambda x: x[:, :, 1:, :-2, 1:-1],
            (2, 2, 4, 5, 4),
        ),
        Row(
            "GlobalMaxPooling2D",
            GlobalMaxPooling2D,
            lambda x: x.amax(dim=(1, 2)),
            (2, 7, 5, 3),
            distinct_inputs=True,
        ),
        Row(
            "GlobalAveragePooling2D-keepdims",
            lambda: GlobalAveragePooling2D(keepdims=True),
            lambda x: x.mean(dim=(1, 2), keepdim=True),
            (2, 7, 5, 3),
        ),
        Row(
            "GlobalMaxPooling1D",
            GlobalMaxPooling1D,
            lambda x: x.amax(dim=1),
            (2, 7, 3),
            distinct_inputs=True,
        ),
        Row("GlobalAveragePooling1D", GlobalAveragePooling1D, lambda x: x.mean(dim=1), (2, 7, 3)),
        Row(
            "UpSampling2D",
            lambda: UpSampling2D((2, 3)),
            lambda x: to_nhwc(TF.interpolate(to_nchw(x), scale_factor=(2, 3), mode="nearest")),
            (2, 3, 4, 2),
        ),
        Row(
            "ZeroPadding2D",
            lambda: ZeroPadding2D(((1, 2), (3, 0))),
            lambda x: to_nhwc(pad_nchw(to_nchw(x), (1, 2), (3, 0))),
            (2, 3, 4, 2),
        ),
        Row(
            "Cropping2D",
            lambda: Cropping2D(((1, 2), (0, 1))),
            lambda x: x[:, 1:-2, 0:-1],
            (2, 6, 4, 2),
        ),
    ]
    return rows


CONV_ROWS = _conv_rows()
POOL_ROWS = _pool_rows()
ROWS = CONV_ROWS + POOL_ROWS


def test_row_ids_are_unique():
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids))


def _torch_float64(row: Row, x, weights, weighting) -> list:
    """``row``'s torch side in float64: [output, d input, d weight...] as arrays."""
    x_t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    w_t = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    out = row.torch_fn(x_t, *w_t)
    out.backward(torch.tensor(weighting, dtype=torch.float64))
    return [out.detach().numpy(), x_t.grad.numpy()] + [w.grad.numpy() for w in w_t]


def _sum_scales(row: Row, x, weights, weighting) -> tuple:
    """Per element of each compared array: how many terms it sums, and their absolute sum.

    Every row is sums of products with ReLU or max on top, so the same computation on all-ones
    inputs counts the terms and on absolute values adds up their sizes. A max routes by the
    actual values, which absolute values may change, so the run at the actual inputs (with
    absolute weights and R) is taken too, and the larger of the two kept.
    """
    ones = _torch_float64(
        row, np.ones_like(x), [np.ones_like(w) for w in weights], np.ones_like(weighting)
    )
    absolute = [np.abs(w) for w in weights], np.abs(weighting)
    at_abs = _torch_float64(row, np.abs(x), *absolute)
    at_x = _torch_float64(row, x, *absolute)
    magnitudes = [np.maximum(a, np.abs(b)) for a, b in zip(at_abs, at_x, strict=True)]
    return ones, magnitudes


def _check(row: Row, dtype) -> None:
    rng = np.random.default_rng(5)
    x = distinct(*row.x_shape) if row.distinct_inputs else rng.standard_normal(row.x_shape)
    x = x.astype(dtype)
    layer = row.make()
    layer.dtype = np.dtype(dtype).name
    layer.build((None,) + row.x_shape[1:])
    layer.built = True
    weights = [(rng.standard_normal(w.shape) * 0.5).astype(dtype) for w in layer.get_weights()]
    layer.set_weights(weights)

    ours_x = Tensor(x.copy(), requires_grad=True)
    out = layer(ours_x)
    assert out.dtype == dtype
    weighting = np.random.default_rng(1234).standard_normal(out.shape).astype(dtype)
    out.backward(weighting)

    theirs_x = torch.tensor(x.copy(), requires_grad=True)
    theirs_w = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    theirs = row.torch_fn(theirs_x, *theirs_w)
    assert tuple(theirs.shape) == out.shape, f"torch gives {tuple(theirs.shape)}"
    theirs.backward(torch.tensor(weighting))

    counts, magnitudes = _sum_scales(row, x, weights, weighting)
    ours = [out.data, ours_x.grad] + [variable.grad for variable in layer.weights]
    expected = [theirs.detach().numpy(), theirs_x.grad.numpy()] + [w.grad.numpy() for w in theirs_w]
    names = ["output", "d input"] + [f"d {variable.path}" for variable in layer.weights]
    for got, want, n, m, name in zip(ours, expected, counts, magnitudes, names, strict=True):
        assert got.dtype == dtype, f"{name}: {got.dtype}"
        assert_sums_close(got, want, fan_in=n, magnitude=m, err_msg=f"{row.id}: {name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("row", CONV_ROWS, ids=[r.id for r in CONV_ROWS])
def test_conv_matches_torch(row: Row, dtype):
    _check(row, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("row", POOL_ROWS, ids=[r.id for r in POOL_ROWS])
def test_pooling_and_reshaping_match_torch(row: Row, dtype):
    _check(row, dtype)
