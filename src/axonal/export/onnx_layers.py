"""One ONNX converter per axonal layer class (recurrent layers are in ``onnx_recurrent``).

A converter is ``convert(builder, layer, inputs) -> list of output names``: ``inputs`` are
``Value`` records in Keras's layout (channels last), already cast to the layer's dtype, and the
outputs must be in that layout too. The caller (``onnx_convert``) works out the output shapes,
dtypes and masks. Weights become initializers keyed by the layer, so a shared layer stores
them once.

Convolutions and pooling run channels-first in ONNX: their input is transposed to NCHW and
the output back to NHWC (``GraphBuilder.channels_first`` reuses the NCHW tensor when one conv
block feeds another), so ``Flatten`` and everything after see Keras's channels-last order. A
convolution layer with ``data_format='channels_first'`` takes and gives NCHW as it is.
"""

from __future__ import annotations

import numpy as np

from axonal.export.onnx_activations import apply_activation, check_activation, is_elementwise
from axonal.export.onnx_graph import INT64_MAX, GraphBuilder, Value, layer_error
from axonal.layers import conv, core, embedding, extra, merge, normalization, pooling
from axonal.layers import preprocessing as preprocessing_layers
from axonal.layers.base import TensorOperation
from axonal.primitives.conv import conv_pads, conv_transpose_output_length


def weight(b: GraphBuilder, layer, what: str, array) -> str:
    """The initializer for ``layer``'s ``what`` (stored once however often the layer is called)."""
    return b.constant(array, f"{layer.name}/{what}", key=(id(layer), what))


# ---------------------------------------------------------------- core


def convert_dense(b: GraphBuilder, layer: core.Dense, inputs: list) -> list:
    x = inputs[0]
    out = b.op("MatMul", [x.name, weight(b, layer, "kernel", layer.kernel.data)])
    if layer.bias is not None:
        out = b.op("Add", [out, weight(b, layer, "bias", layer.bias.data)])
    return [apply_activation(b, layer, layer.activation, out, layer.dtype)]


def convert_activation(b: GraphBuilder, layer: core.Activation, inputs: list) -> list:
    return [apply_activation(b, layer, layer.activation, inputs[0].name, layer.dtype)]


def convert_identity(b: GraphBuilder, layer, inputs: list) -> list:
    """Dropout, noise, Identity, ColumnNames: the identity at inference."""
    return [inputs[0].name]


def convert_flatten(b: GraphBuilder, layer: core.Flatten, inputs: list) -> list:
    x = inputs[0]
    name = x.name
    if layer.data_format == "channels_first" and len(x.shape) > 2:
        # Keras flattens channels-first data in channels-last order
        name = b.channels_last(name, len(x.shape) - 2)
    return [b.op("Flatten", [name], axis=1)]


def convert_reshape(b: GraphBuilder, layer: core.Reshape, inputs: list) -> list:
    # 0 copies the (dynamic) batch size; target_shape holds positive sizes and at most one -1
    shape = b.ints((0,) + tuple(layer.target_shape))
    return [b.op("Reshape", [inputs[0].name, shape])]


def convert_permute(b: GraphBuilder, layer: extra.Permute, inputs: list) -> list:
    return [b.op("Transpose", [inputs[0].name], perm=[0] + list(layer.dims))]


def convert_repeat_vector(b: GraphBuilder, layer: extra.RepeatVector, inputs: list) -> list:
    column = b.unsqueeze(inputs[0].name, [1])
    return [b.op("Expand", [column, b.ints((1, layer.n, 1))])]


# ---------------------------------------------------------------- activation layers


def convert_relu_layer(b: GraphBuilder, layer: extra.ReLU, inputs: list) -> list:
    x, dtype = inputs[0].name, layer.dtype
    if layer.threshold != 0.0:
        above = b.op("Greater", [x, b.scalar(layer.threshold, dtype)])
        out = b.op("Mul", [x, b.cast(above, dtype)])
    else:
        out = b.op("Relu", [x])
    if layer.max_value is not None:
        out = b.op("Min", [out, b.scalar(layer.max_value, dtype)])
    if layer.negative_slope != 0.0:
        below = b.op("Relu", [b.op("Sub", [b.scalar(layer.threshold, dtype), x])])
        out = b.op("Sub", [out, b.op("Mul", [below, b.scalar(layer.negative_slope, dtype)])])
    return [out]


def convert_leaky_relu(b: GraphBuilder, layer: extra.LeakyReLU, inputs: list) -> list:
    return [b.op("LeakyRelu", [inputs[0].name], alpha=layer.negative_slope)]


def convert_elu(b: GraphBuilder, layer: extra.ELU, inputs: list) -> list:
    return [b.op("Elu", [inputs[0].name], alpha=layer.alpha)]


def convert_prelu(b: GraphBuilder, layer: extra.PReLU, inputs: list) -> list:
    # alpha has one sample's shape: it broadcasts against (batch, ...) from the right
    return [b.op("PRelu", [inputs[0].name, weight(b, layer, "alpha", layer.alpha.data)])]


def convert_softmax(b: GraphBuilder, layer: extra.Softmax, inputs: list) -> list:
    x = inputs[0].name
    if isinstance(layer.axis, int):
        return [b.op("Softmax", [x], axis=layer.axis)]
    ndim = len(inputs[0].shape)
    axes = sorted(a % ndim for a in layer.axis)
    return [b.op("Exp", [b.op("Sub", [x, b.reduce("ReduceLogSumExp", x, axes)])])]


# ---------------------------------------------------------------- preprocessing


def convert_rescaling(b: GraphBuilder, layer: extra.Rescaling, inputs: list) -> list:
    dtype = layer.dtype
    scale = b.constant(np.asarray(layer.scale, dtype=dtype), f"{layer.name}/scale")
    offset = b.constant(np.asarray(layer.offset, dtype=dtype), f"{layer.name}/offset")
    return [b.op("Add", [b.op("Mul", [inputs[0].name, scale]), offset])]


def convert_normalization(
    b: GraphBuilder, layer: preprocessing_layers.Normalization, inputs: list
) -> list:
    mean, std = layer._statistics()
    mean_name = weight(b, layer, "mean", mean)
    std_name = weight(b, layer, "std", std)
    x = inputs[0].name
    if layer.invert:
        return [b.op("Add", [b.op("Mul", [x, std_name]), mean_name])]
    return [b.op("Div", [b.op("Sub", [x, mean_name]), std_name])]


def convert_masking(b: GraphBuilder, layer: extra.Masking, inputs: list) -> list:
    # zero the steps whose features all equal mask_value (the mask itself is tracked apart)
    x, dtype = inputs[0].name, layer.dtype
    differs = b.op("Not", [b.op("Equal", [x, b.scalar(layer.mask_value, dtype)])])
    keep = b.reduce("ReduceMax", b.cast(differs, dtype), [-1])
    return [b.op("Mul", [x, keep])]


# ---------------------------------------------------------------- normalization


def convert_batch_normalization(
    b: GraphBuilder, layer: normalization.BatchNormalization, inputs: list
) -> list:
    x = inputs[0]
    ndim = len(x.shape)
    axis = layer.axis % ndim
    dtype = np.dtype(layer.dtype)
    # the moving statistics folded into one scale and shift per channel, as axonal does
    mean = layer.moving_mean.data.astype(dtype)
    inv_std = 1.0 / np.sqrt(layer.moving_variance.data.astype(dtype) + dtype.type(layer.epsilon))
    scale = inv_std if layer.gamma is None else layer.gamma.data * inv_std
    shift = -(scale * mean)
    if layer.beta is not None:
        shift = shift + layer.beta.data
    shape = [1] * ndim
    shape[axis] = -1
    scale_name = weight(b, layer, "scale", scale.astype(dtype).reshape(shape))
    shift_name = weight(b, layer, "shift", shift.astype(dtype).reshape(shape))
    return [b.op("Add", [b.op("Mul", [x.name, scale_name]), shift_name])]


def convert_layer_normalization(
    b: GraphBuilder, layer: normalization.LayerNormalization, inputs: list
) -> list:
    x = inputs[0]
    ndim = len(x.shape)
    axes = layer._axes(ndim)
    trailing = axes == tuple(range(axes[0], ndim))
    # ONNX's op keeps its statistics in float32 (stash_type): exact for float32 models only
    if b.opset >= 17 and trailing and np.dtype(layer.dtype) == np.float32:
        return [_layer_norm_op(b, layer, x.name, axes[0])]
    return [_layer_norm_decomposed(b, layer, x.name, ndim, axes)]


def _layer_norm_op(b: GraphBuilder, layer, x: str, axis: int) -> str:
    gamma = layer.gamma.data if layer.gamma is not None else np.ones(layer._shape, layer.dtype)
    inputs = [x, weight(b, layer, "gamma", gamma)]
    if layer.beta is not None:
        inputs.append(weight(b, layer, "beta", layer.beta.data))
    return b.op("LayerNormalization", inputs, axis=axis, epsilon=layer.epsilon)


def _layer_norm_decomposed(b: GraphBuilder, layer, x: str, ndim: int, axes: tuple) -> str:
    centred = b.op("Sub", [x, b.reduce("ReduceMean", x, axes)])
    variance = b.reduce("ReduceMean", b.op("Mul", [centred, centred]), axes)
    std = b.op("Sqrt", [b.op("Add", [variance, b.scalar(layer.epsilon, layer.dtype)])])
    out = b.op("Div", [centred, std])
    # gamma and beta hold the normalized axes' sizes: give them the input's rank to broadcast
    shape = _full_shape(ndim, axes, layer)
    if layer.gamma is not None:
        out = b.op("Mul", [out, weight(b, layer, "gamma", layer.gamma.data.reshape(shape))])
    if layer.beta is not None:
        out = b.op("Add", [out, weight(b, layer, "beta", layer.beta.data.reshape(shape))])
    return out


def _full_shape(ndim: int, axes: tuple, layer) -> list:
    """The normalized axes' sizes at their places, 1 elsewhere."""
    sizes = dict(zip(axes, layer._shape, strict=True))
    return [sizes.get(d, 1) for d in range(ndim)]


# ---------------------------------------------------------------- embedding


def convert_embedding(b: GraphBuilder, layer: embedding.Embedding, inputs: list) -> list:
    indices = inputs[0]
    name = indices.name
    if indices.dtype not in ("int32", "int64"):
        name = b.cast(name, "int64")
    return [b.op("Gather", [weight(b, layer, "embeddings", layer.embeddings.data), name], axis=0)]


# ---------------------------------------------------------------- convolution


def _spatial_pads(layer, x: Value, kernel: tuple, strides: tuple, dilation: tuple) -> dict:
    """``pads`` (or ``auto_pad`` when a spatial size is unknown) of a conv or pooling node."""
    spatial = _spatial_shape(layer, x)
    padding = layer.padding
    unknown_strided = any(n is None and s > 1 for n, s in zip(spatial, strides, strict=True))
    if padding == "same" and unknown_strided:
        # TensorFlow's 'same' puts the odd pad at the end, as ONNX's SAME_UPPER does (ONNX
        # Runtime refuses SAME_UPPER with dilation, but Keras forbids dilation with strides)
        return {"auto_pad": "SAME_UPPER"}
    # with stride 1 the pads do not depend on the size, so an unknown size may stand in as 1
    pairs = [
        conv_pads(1 if n is None else n, k, s, d, padding)
        for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
    ]
    return {"pads": [p[0] for p in pairs] + [p[1] for p in pairs]}


def _channels_first(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _spatial_shape(layer, x: Value) -> tuple:
    """The spatial sizes of ``x`` in ``layer``'s layout."""
    return tuple(x.shape[2:] if _channels_first(layer) else x.shape[1:-1])


def _oihw(kernel: np.ndarray) -> np.ndarray:
    """Keras ``(*k, in, out)`` -> ONNX ``(out, in, *k)``."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank) + tuple(range(rank))))


def _bias(b: GraphBuilder, layer) -> list:
    """``[bias initializer]``, or ``[]`` for a layer without a bias."""
    return [] if layer.bias is None else [weight(b, layer, "bias", layer.bias.data)]


def _conv_block(b: GraphBuilder, layer, x: Value, conv_channels_first) -> list:
    """Transpose to channels-first, run ``conv_channels_first(x_nchw)``, activate, go back."""
    rank = len(x.shape) - 2
    check_activation(layer, layer.activation)
    if _channels_first(layer):
        out = conv_channels_first(x.name)
        return [apply_activation(b, layer, layer.activation, out, layer.dtype)]
    out = conv_channels_first(b.channels_first(x.name, rank))
    if is_elementwise(layer.activation):
        out = apply_activation(b, layer, layer.activation, out, layer.dtype)
        return [b.channels_last(out, rank)]
    return [apply_activation(b, layer, layer.activation, b.channels_last(out, rank), layer.dtype)]


def convert_conv(b: GraphBuilder, layer, inputs: list) -> list:
    """Conv1D, Conv2D and Conv3D (any groups, strides, dilation; 'valid', 'same', 'causal')."""
    x = inputs[0]
    attrs = _spatial_pads(layer, x, layer.kernel_size, layer.strides, layer.dilation_rate)
    params = [weight(b, layer, "kernel_oihw", _oihw(layer.kernel.data))] + _bias(b, layer)

    def run(x_nchw: str) -> str:
        return b.op(
            "Conv",
            [x_nchw, *params],
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.strides),
            dilations=list(layer.dilation_rate),
            group=layer.groups,
            **attrs,
        )

    return _conv_block(b, layer, x, run)


def convert_depthwise_conv(b: GraphBuilder, layer, inputs: list) -> list:
    """DepthwiseConv1D and DepthwiseConv2D: a Conv node with a group per input channel."""
    x = inputs[0]
    attrs = _spatial_pads(layer, x, layer.kernel_size, layer.strides, layer.dilation_rate)
    kernel = _depthwise_oihw(layer.kernel.data)
    params = [weight(b, layer, "kernel_oihw", kernel)] + _bias(b, layer)

    def run(x_nchw: str) -> str:
        return _depthwise_node(b, layer, [x_nchw, *params], attrs)

    return _conv_block(b, layer, x, run)


def _depthwise_oihw(kernel: np.ndarray) -> np.ndarray:
    # output channel c * multiplier + m comes from input channel c: a group per channel
    *size, channels, multiplier = kernel.shape
    return _oihw(kernel.reshape(*size, 1, channels * multiplier))


def _depthwise_node(b: GraphBuilder, layer, conv_inputs: list, attrs: dict) -> str:
    return b.op(
        "Conv",
        conv_inputs,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        group=layer.in_channels,
        **attrs,
    )


def convert_separable_conv(b: GraphBuilder, layer, inputs: list) -> list:
    """SeparableConv1D and SeparableConv2D: a depthwise Conv node, then a pointwise one."""
    x = inputs[0]
    attrs = _spatial_pads(layer, x, layer.kernel_size, layer.strides, layer.dilation_rate)
    depthwise = weight(b, layer, "depthwise_oihw", _depthwise_oihw(layer.depthwise_kernel.data))
    pointwise = weight(b, layer, "pointwise_oihw", _oihw(layer.pointwise_kernel.data))
    params = [pointwise] + _bias(b, layer)

    def run(x_nchw: str) -> str:
        spread = _depthwise_node(b, layer, [x_nchw, depthwise], attrs)
        return b.op("Conv", [spread, *params], kernel_shape=[1] * layer.rank)

    return _conv_block(b, layer, x, run)


def convert_conv_transpose(b: GraphBuilder, layer, inputs: list) -> list:
    """Conv1DTranspose, Conv2DTranspose and Conv3DTranspose: a ConvTranspose node."""
    x = inputs[0]
    rank = layer.rank
    spatial = _spatial_shape(layer, x)
    if any(size is None for size in spatial):
        raise layer_error(
            layer,
            f"ONNX needs its input {_SPATIAL_NAMES[rank]} to be known to place the padding, "
            f"got input shape {x.shape}.",
        )
    extra_rows = layer.output_padding or (None,) * rank
    pads, output_padding = [], []
    for i in range(rank):
        size, k, s, d = spatial[i], layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        out = conv_transpose_output_length(size, k, s, d, layer.padding, extra_rows[i])
        # axonal (like TensorFlow) crops what overshoots `out`, and pads with zeros what falls
        # short of it; ONNX: pads crop, output_padding adds rows at the end
        needed = (size - 1) * s + d * (k - 1) + 1 - out
        pads.append((needed // 2, needed - needed // 2) if needed > 0 else (0, 0))
        output_padding.append(-needed if needed < 0 else 0)
    # Keras (*k, filters, in) -> ONNX ConvTranspose (in, filters, *k)
    order = (rank + 1, rank) + tuple(range(rank))
    kernel = np.ascontiguousarray(np.transpose(layer.kernel.data, order))
    params = [weight(b, layer, "kernel_iohw", kernel)] + _bias(b, layer)

    def run(x_nchw: str) -> str:
        return b.op(
            "ConvTranspose",
            [x_nchw, *params],
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.strides),
            dilations=list(layer.dilation_rate),
            pads=[p[0] for p in pads] + [p[1] for p in pads],
            output_padding=output_padding if any(output_padding) else None,
        )

    return _conv_block(b, layer, x, run)


_SPATIAL_NAMES = {1: "length", 2: "height and width", 3: "depth, height and width"}


# ---------------------------------------------------------------- pooling and shape plumbing


def _spatial_axes(layer) -> list:
    """Positions of a layer's spatial axes in its own ``data_format``."""
    first = 2 if getattr(layer, "data_format", "channels_last") == "channels_first" else 1
    return list(range(first, first + layer.rank))


def _convert_pooling(op_type: str, **extra_attrs):
    def convert(b: GraphBuilder, layer, inputs: list) -> list:
        x = inputs[0]
        rank = layer.rank
        ones = (1,) * rank
        channels_first = _channels_first(layer)
        attrs = _spatial_pads(layer, x, layer.pool_size, layer.strides, ones)
        # ONNX pools channels-first: a channels-first layer needs no transposes
        nchw = x.name if channels_first else b.channels_first(x.name, rank)
        out = b.op(
            op_type,
            [nchw],
            kernel_shape=list(layer.pool_size),
            strides=list(layer.strides),
            **attrs,
            **extra_attrs,
        )
        return [out if channels_first else b.channels_last(out, rank)]

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


# padded cells never win a max, and are left out of an average (Keras): count_include_pad=0
convert_max_pooling = _convert_pooling("MaxPool")
convert_average_pooling = _convert_pooling("AveragePool", count_include_pad=0)


def _convert_global_pooling(op_type: str):
    def convert(b: GraphBuilder, layer, inputs: list) -> list:
        axes = _spatial_axes(layer)
        return [b.reduce(op_type, inputs[0].name, axes, keepdims=layer.keepdims)]

    convert.__name__ = f"convert_global_{op_type.lower()}"
    return convert


convert_global_average_pooling = _convert_global_pooling("ReduceMean")
convert_global_max_pooling = _convert_global_pooling("ReduceMax")


def convert_upsampling(b: GraphBuilder, layer, inputs: list) -> list:
    # nearest neighbour: output cell i reads input cell floor(i / size) along each spatial axis
    scales = [1.0] * (layer.rank + 2)
    for axis, factor in zip(_spatial_axes(layer), layer.size, strict=True):
        scales[axis] = float(factor)
    scales = b.constant(np.asarray(scales, dtype=np.float32), f"{layer.name}/scales")
    out = b.op(
        "Resize",
        [inputs[0].name, "", scales],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return [out]


def convert_zero_padding(b: GraphBuilder, layer, inputs: list) -> list:
    before, after = [0] * (layer.rank + 2), [0] * (layer.rank + 2)
    for axis, (head, tail) in zip(_spatial_axes(layer), layer.padding, strict=True):
        before[axis], after[axis] = head, tail
    return [b.op("Pad", [inputs[0].name, b.ints(before + after)], mode="constant")]


def convert_cropping(b: GraphBuilder, layer, inputs: list) -> list:
    axes = _spatial_axes(layer)
    starts = [head for head, _ in layer.cropping]
    ends = [-tail if tail else INT64_MAX for _, tail in layer.cropping]
    return [b.slice(inputs[0].name, starts, ends, axes)]


# ---------------------------------------------------------------- merging


def _convert_variadic(op_type: str):
    def convert(b: GraphBuilder, layer, inputs: list) -> list:
        return [b.op(op_type, [v.name for v in inputs])]

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


def _convert_chain(op_type: str):
    def convert(b: GraphBuilder, layer, inputs: list) -> list:
        out = inputs[0].name
        for v in inputs[1:]:
            out = b.op(op_type, [out, v.name])
        return [out]

    convert.__name__ = f"convert_{op_type.lower()}_chain"
    return convert


convert_add = _convert_chain("Add")
convert_multiply = _convert_chain("Mul")
convert_maximum = _convert_variadic("Max")
convert_minimum = _convert_variadic("Min")


def convert_subtract(b: GraphBuilder, layer: merge.Subtract, inputs: list) -> list:
    return [b.op("Sub", [inputs[0].name, inputs[1].name])]


def convert_average(b: GraphBuilder, layer: merge.Average, inputs: list) -> list:
    # the sum times 1/n, as axonal computes it
    total = convert_add(b, layer, inputs)[0]
    return [b.op("Mul", [total, b.scalar(1.0 / len(inputs), layer.dtype)])]


def convert_concatenate(b: GraphBuilder, layer: merge.Concatenate, inputs: list) -> list:
    axis = layer.axis % len(inputs[0].shape)
    return [b.op("Concat", [v.name for v in inputs], axis=axis)]


def convert_dot(b: GraphBuilder, layer: merge.Dot, inputs: list) -> list:
    a, c = inputs
    axis_a, axis_c = layer._pair((len(a.shape), len(c.shape)))
    out_shape = layer.compute_output_shape([a.shape, c.shape])
    size = a.shape[axis_a]
    if size is None or any(d is None for d in out_shape[1:]):
        raise layer_error(
            layer,
            f"ONNX export needs the contracted size and the output shape known, got inputs "
            f"{a.shape} and {c.shape}.",
        )
    left, right = a.name, c.name
    if layer.normalize:
        left = _l2_normalize(b, left, axis_a, layer.dtype)
        right = _l2_normalize(b, right, axis_c, layer.dtype)
    # move the contracted axis last in a and second in c: one batched MatMul, as axonal does
    rank_a, rank_c = len(a.shape), len(c.shape)
    left = b.op("Transpose", [left], perm=[i for i in range(rank_a) if i != axis_a] + [axis_a])
    right = b.op(
        "Transpose", [right], perm=[0, axis_c] + [i for i in range(1, rank_c) if i != axis_c]
    )
    left = b.op("Reshape", [left, b.ints((0, -1, size))])
    right = b.op("Reshape", [right, b.ints((0, size, -1))])
    out = b.op("MatMul", [left, right])
    return [b.op("Reshape", [out, b.ints((0,) + tuple(out_shape[1:]))])]


def _l2_normalize(b: GraphBuilder, x: str, axis: int, dtype: str) -> str:
    squares = b.reduce("ReduceSum", b.op("Mul", [x, x]), [axis])
    norm = b.op("Sqrt", [b.op("Add", [squares, b.scalar(1e-12, dtype)])])
    return b.op("Div", [x, norm])


# ---------------------------------------------------------------- ops on symbolic tensors

# axonal.ops names -> ONNX ops, for TensorOperation nodes (``x + y`` in the functional API)
_BINARY_OPS = {
    "add": "Add",
    "subtract": "Sub",
    "multiply": "Mul",
    "divide": "Div",
    "maximum": "Max",
    "minimum": "Min",
    "matmul": "MatMul",
    "power": "Pow",
}
_UNARY_OPS = {
    "negative": "Neg",
    "abs": "Abs",
    "absolute": "Abs",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softplus": "Softplus",
    "erf": "Erf",
    "sign": "Sign",
}


def convert_tensor_operation(b: GraphBuilder, layer: TensorOperation, inputs: list) -> list:
    """Elementwise arithmetic and simple functions recorded from ops on symbolic tensors."""
    op = layer.op
    if layer.op_kwargs or (op not in _BINARY_OPS and op not in _UNARY_OPS and op != "square"):
        exportable = ", ".join(sorted({*_BINARY_OPS, *_UNARY_OPS, "square"}))
        raise layer_error(
            layer,
            f"the operation {op!r} with arguments {layer.op_kwargs or 'none'} has no ONNX "
            f"converter (exportable without keyword arguments: {exportable}).",
        )
    dtype = next((v.dtype for v in inputs if np.dtype(v.dtype).kind == "f"), inputs[0].dtype)
    args = []
    for arg in layer.op_args:
        if isinstance(arg, dict) and "__tensor__" in arg:
            value = inputs[arg["__tensor__"]]
            name = value.name if value.dtype == dtype else b.cast(value.name, dtype)
            args.append(name)
        else:
            args.append(b.constant(np.asarray(_constant_of(arg), dtype=dtype), f"{layer.name}/c"))
    if op == "square":
        return [b.op("Mul", [args[0], args[0]])]
    if op in _UNARY_OPS:
        return [b.op(_UNARY_OPS[op], args[:1])]
    return [b.op(_BINARY_OPS[op], args[:2])]


def _constant_of(arg):
    if isinstance(arg, dict) and "__array__" in arg:
        return arg["__array__"]
    return arg


CONVERTERS = {
    core.Dense: convert_dense,
    core.Activation: convert_activation,
    core.Dropout: convert_identity,
    core.Flatten: convert_flatten,
    core.Reshape: convert_reshape,
    normalization.GaussianNoise: convert_identity,
    normalization.SpatialDropout1D: convert_identity,
    normalization.SpatialDropout2D: convert_identity,
    normalization.BatchNormalization: convert_batch_normalization,
    normalization.LayerNormalization: convert_layer_normalization,
    extra.Identity: convert_identity,
    extra.Permute: convert_permute,
    extra.RepeatVector: convert_repeat_vector,
    extra.ReLU: convert_relu_layer,
    extra.LeakyReLU: convert_leaky_relu,
    extra.ELU: convert_elu,
    extra.PReLU: convert_prelu,
    extra.Softmax: convert_softmax,
    extra.Rescaling: convert_rescaling,
    extra.Masking: convert_masking,
    preprocessing_layers.Normalization: convert_normalization,
    preprocessing_layers.ColumnNames: convert_identity,
    embedding.Embedding: convert_embedding,
    conv.Conv1D: convert_conv,
    conv.Conv2D: convert_conv,
    conv.Conv3D: convert_conv,
    conv.DepthwiseConv1D: convert_depthwise_conv,
    conv.DepthwiseConv2D: convert_depthwise_conv,
    conv.SeparableConv1D: convert_separable_conv,
    conv.SeparableConv2D: convert_separable_conv,
    conv.Conv1DTranspose: convert_conv_transpose,
    conv.Conv2DTranspose: convert_conv_transpose,
    conv.Conv3DTranspose: convert_conv_transpose,
    pooling.MaxPooling1D: convert_max_pooling,
    pooling.MaxPooling2D: convert_max_pooling,
    pooling.MaxPooling3D: convert_max_pooling,
    pooling.AveragePooling1D: convert_average_pooling,
    pooling.AveragePooling2D: convert_average_pooling,
    pooling.AveragePooling3D: convert_average_pooling,
    pooling.GlobalAveragePooling1D: convert_global_average_pooling,
    pooling.GlobalAveragePooling2D: convert_global_average_pooling,
    pooling.GlobalAveragePooling3D: convert_global_average_pooling,
    pooling.GlobalMaxPooling1D: convert_global_max_pooling,
    pooling.GlobalMaxPooling2D: convert_global_max_pooling,
    pooling.GlobalMaxPooling3D: convert_global_max_pooling,
    pooling.UpSampling2D: convert_upsampling,
    pooling.UpSampling3D: convert_upsampling,
    pooling.ZeroPadding2D: convert_zero_padding,
    pooling.ZeroPadding3D: convert_zero_padding,
    pooling.Cropping2D: convert_cropping,
    pooling.Cropping3D: convert_cropping,
    merge.Add: convert_add,
    merge.Subtract: convert_subtract,
    merge.Multiply: convert_multiply,
    merge.Average: convert_average,
    merge.Maximum: convert_maximum,
    merge.Minimum: convert_minimum,
    merge.Concatenate: convert_concatenate,
    merge.Dot: convert_dot,
    TensorOperation: convert_tensor_operation,
}
