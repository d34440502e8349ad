"""ONNX export: ONNX Runtime's outputs equal ``predict``'s for every exportable layer.

Each case builds a small model, gives every weight random values (so biases, moving
statistics and gate blocks all matter), exports it once and runs the file in ONNX Runtime at
batch sizes 1 and 7 (the batch axis is dynamic). The oracle is axonal's own ``predict``; the
exported file must also pass ``onnx.checker.check_model(..., full_check=True)``.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from axonal import layers as L  # noqa: E402
from axonal.backend import set_random_seed  # noqa: E402
from axonal.cli import main  # noqa: E402
from axonal.export import EXPORTABLE_LAYERS, OnnxExportError, to_onnx  # noqa: E402
from axonal.layers import Input  # noqa: E402
from axonal.layers.preprocessing import ColumnNames  # noqa: E402
from axonal.models import Model, Sequential  # noqa: E402
from axonal.registry import lookup, registered_names  # noqa: E402

TOLERANCE = 1e-5
BATCH_SIZES = (1, 7)


# ---------------------------------------------------------------- helpers


def _randomize(model, seed: int = 0) -> None:
    """Random values for every float weight (positive ones for variances)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.data.dtype.kind != "f":
            continue
        if "variance" in w.path:
            w.data[...] = rng.uniform(0.5, 1.5, size=w.data.shape)
        else:
            w.data[...] = rng.normal(0.0, 0.5, size=w.data.shape)


def floats(*shape, scale: float = 2.0, dtype: str = "float32"):
    return lambda rng, batch: [(rng.normal(size=(batch,) + shape) * scale).astype(dtype)]


def ints(*shape, high: int, dtype: str = "int64"):
    return lambda rng, batch: [rng.integers(0, high, size=(batch,) + shape).astype(dtype)]


def padded_ids(steps: int, high: int):
    """Token ids with zero padding (so masked keys and queries), one row of padding only (a
    query row with every key masked) and one with leading padding, at batch sizes over 2."""

    def make(rng, batch):
        ids = rng.integers(1, high, size=(batch, steps))
        lengths = rng.integers(1, steps + 1, size=batch)
        ids[np.arange(steps)[None, :] >= lengths[:, None]] = 0
        if batch > 2:
            ids[0] = 0
            ids[1, : steps // 2] = 0
        return [ids.astype("int64")]

    return make


def _embedded(steps: int, attend):
    """Token ids -> Embedding(mask_zero=True) -> ``attend(vectors)``: a model whose attention
    reads the padding mask."""
    tokens = Input(shape=(steps,), dtype="int64")
    return Model(tokens, attend(L.Embedding(9, 6, mask_zero=True)(tokens)))


def bools(*shape):
    """A random boolean mask; at batch sizes over 2 the first example hides every key and
    the second has one query that sees nothing."""

    def make(rng, batch):
        mask = rng.random((batch,) + shape) > 0.4
        if batch > 2:
            mask[0] = False
            mask[1, 1] = False
        return [mask]

    return make


def _attention_mask_model(attend, dtype: str = "bool", steps: int = 5):
    """Inputs ``(steps, 6)`` values and a ``(steps, steps)`` mask; ``attend(x, mask)``."""
    x = Input(shape=(steps, 6))
    mask = Input(shape=(steps, steps), dtype=dtype)
    return Model([x, mask], attend(x, mask))


def _padding_and_mask_input_model():
    # the padding mask of the token ids and an explicit mask, both inputs of the model
    tokens, mask = Input(shape=(5,), dtype="int64"), Input(shape=(5, 5), dtype="bool")
    vectors = L.Embedding(9, 6, mask_zero=True)(tokens)
    attended = L.MultiHeadAttention(num_heads=2, key_dim=2)(vectors, vectors, attention_mask=mask)
    return Model([tokens, mask], attended)


def _row_mask(steps: int):
    """A boolean ``(batch, steps)`` mask with one all-False row at batch sizes over 2."""

    def make(rng, batch):
        mask = rng.random((batch, steps)) > 0.4
        if batch > 2:
            mask[0] = False
        return [mask]

    return make


def _attention_masks_model(layer, with_query_mask: bool, **kwargs):
    """``layer([query, value], mask=[query_mask or None, value_mask])``, masks as inputs."""
    query, value = Input(shape=(5, 6)), Input(shape=(7, 6))
    query_mask = Input(shape=(5,), dtype="bool") if with_query_mask else None
    value_mask = Input(shape=(7,), dtype="bool")
    out = layer([query, value], mask=[query_mask, value_mask], **kwargs)
    masks = [query_mask, value_mask] if with_query_mask else [value_mask]
    return Model([query, value, *masks], out)


def several(*makers):
    return lambda rng, batch: [m(rng, batch)[0] for m in makers]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session, xs):
    feeds = {spec.name: x for spec, x in zip(session.get_inputs(), xs, strict=True)}
    return session.run(None, feeds)


def _predict(model, xs):
    out = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
    return out if isinstance(out, list) else [out]


def assert_exports_match(model, make_inputs, tmp_path, opset: int = 17, seed: int = 0):
    """Export ``model``; ORT's outputs equal predict's at batch sizes 1 and 7."""
    path = tmp_path / "model.onnx"
    to_onnx(model, path, opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = _session(path)
    rng = np.random.default_rng(seed)
    for batch in BATCH_SIZES:
        xs = make_inputs(rng, batch)
        got = _run(session, xs)
        want = _predict(model, xs)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=TOLERANCE, atol=TOLERANCE)


def seq(shape, *layers):
    return Sequential([Input(shape=shape), *layers])


def functional(shapes, build):
    """A functional model over float inputs of ``shapes``; ``build(*inputs)`` gives outputs."""
    inputs = [Input(shape=s) for s in shapes]
    return Model(inputs if len(inputs) > 1 else inputs[0], build(*inputs))


def _normalization_model():
    layer = L.Normalization()
    layer.adapt(np.random.default_rng(3).normal(2.0, 3.0, size=(50, 4)))
    return seq((4,), layer, L.Dense(2))


def _int32_embedding_model():
    # the mask of mask_zero reaches no recurrent layer (Flatten drops it): nothing to refuse
    x = Input(shape=(5,), dtype="int32")
    return Model(x, L.Dense(2)(L.Flatten()(L.Embedding(10, 3, mask_zero=True)(x))))


# name -> (model factory, input maker); every layer class of EXPORTABLE_LAYERS appears
CASES = {
    # core
    "dense": (lambda: seq((5,), L.Dense(3, activation="relu")), floats(5)),
    "dense_no_bias_rank3": (lambda: seq((4, 5), L.Dense(3, use_bias=False)), floats(4, 5)),
    "activation": (lambda: seq((6,), L.Activation("tanh")), floats(6)),
    "dropout": (lambda: seq((6,), L.Dropout(0.5), L.Dense(2)), floats(6)),
    "gaussian_noise": (lambda: seq((6,), L.GaussianNoise(1.0), L.Dense(2)), floats(6)),
    "spatial_dropout": (
        lambda: seq((5, 3), L.SpatialDropout1D(0.5), L.Reshape((5, 3, 1)), L.SpatialDropout2D(0.5)),
        floats(5, 3),
    ),
    "identity": (lambda: seq((6,), L.Identity(), L.Dense(2)), floats(6)),
    "flatten": (lambda: seq((3, 4, 2), L.Flatten(), L.Dense(3)), floats(3, 4, 2)),
    "flatten_channels_first": (
        lambda: seq((2, 3, 4), L.Flatten(data_format="channels_first"), L.Dense(3)),
        floats(2, 3, 4),
    ),
    "reshape": (lambda: seq((12,), L.Reshape((4, -1)), L.Dense(2)), floats(12)),
    "permute": (lambda: seq((3, 4), L.Permute((2, 1)), L.Dense(2)), floats(3, 4)),
    "repeat_vector": (lambda: seq((4,), L.RepeatVector(3), L.Dense(2)), floats(4)),
    # activation layers
    "relu_layer": (
        lambda: seq((6,), L.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.5)),
        floats(6),
    ),
    "relu_layer_plain": (lambda: seq((6,), L.ReLU()), floats(6)),
    "leaky_relu_layer": (lambda: seq((6,), L.LeakyReLU(0.3)), floats(6)),
    "elu_layer": (lambda: seq((6,), L.ELU(0.7)), floats(6)),
    "prelu": (lambda: seq((4, 3), L.PReLU(shared_axes=[1])), floats(4, 3)),
    "softmax_axis": (lambda: seq((4, 3), L.Softmax(axis=1)), floats(4, 3)),
    "softmax_axes": (lambda: seq((4, 3, 2), L.Softmax(axis=[1, 2])), floats(4, 3, 2)),
    # preprocessing
    "rescaling": (lambda: seq((3,), L.Rescaling([0.5, 2.0, -1.0], offset=0.1)), floats(3)),
    "normalization": (_normalization_model, floats(4, scale=5.0)),
    "column_names": (
        lambda: seq((3,), L.Dense(2), ColumnNames(["a", "b", "c"], "kind", ["p", "q"])),
        floats(3),
    ),
    # convolution
    "conv1d_valid_stride": (lambda: seq((9, 3), L.Conv1D(4, 3, strides=2)), floats(9, 3)),
    "conv1d_same_groups": (
        lambda: seq((8, 4), L.Conv1D(6, 3, padding="same", groups=2, activation="relu")),
        floats(8, 4),
    ),
    "conv1d_causal_dilated": (
        lambda: seq((10, 3), L.Conv1D(4, 3, padding="causal", dilation_rate=2)),
        floats(10, 3),
    ),
    "conv1d_unknown_length": (
        lambda: seq(
            (None, 3), L.Conv1D(4, 3, padding="same", dilation_rate=2), L.GlobalMaxPooling1D()
        ),
        floats(9, 3),
    ),
    "conv_pool_unknown_length_strided": (
        lambda: seq(
            (None, 3),
            L.Conv1D(4, 3, strides=2, padding="same"),
            L.MaxPooling1D(3, strides=2, padding="same"),
            L.AveragePooling1D(2, strides=1, padding="same"),
            L.GlobalAveragePooling1D(),
        ),
        floats(11, 3),
    ),
    "conv2d_valid_stride": (lambda: seq((7, 7, 2), L.Conv2D(3, 3, strides=2)), floats(7, 7, 2)),
    "conv2d_same_stride_odd": (
        lambda: seq((7, 6, 2), L.Conv2D(3, (3, 2), strides=2, padding="same")),
        floats(7, 6, 2),
    ),
    "conv2d_dilated_groups": (
        lambda: seq((8, 8, 4), L.Conv2D(4, 3, padding="same", dilation_rate=2, groups=2)),
        floats(8, 8, 4),
    ),
    "conv2d_softmax": (
        lambda: seq((5, 5, 2), L.Conv2D(3, 3, activation="softmax")),
        floats(5, 5, 2),
    ),
    "depthwise_conv2d": (
        lambda: seq((6, 6, 3), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")),
        floats(6, 6, 3),
    ),
    "separable_conv2d": (
        lambda: seq(
            (7, 7, 3), L.SeparableConv2D(4, 3, strides=2, depth_multiplier=2, padding="same")
        ),
        floats(7, 7, 3),
    ),
    "conv2d_transpose_same": (
        lambda: seq((4, 3, 2), L.Conv2DTranspose(3, 3, strides=2, padding="same")),
        floats(4, 3, 2),
    ),
    "conv2d_transpose_valid_short_kernel": (
        lambda: seq((3, 3, 2), L.Conv2DTranspose(2, 2, strides=3)),
        floats(3, 3, 2),
    ),
    "conv2d_transpose_output_padding": (
        lambda: seq((4, 4, 2), L.Conv2DTranspose(2, 3, strides=2, output_padding=1)),
        floats(4, 4, 2),
    ),
    "conv3d_same_stride": (
        lambda: seq((5, 6, 4, 2), L.Conv3D(3, (3, 2, 3), strides=2, padding="same")),
        floats(5, 6, 4, 2),
    ),
    "conv3d_groups_channels_first": (
        lambda: seq(
            (4, 5, 4, 3),
            L.Conv3D(4, 2, groups=2, activation="relu", data_format="channels_first"),
            L.Conv3D(2, 2, dilation_rate=2, padding="same", data_format="channels_first"),
            L.Flatten(),
        ),
        floats(4, 5, 4, 3),
    ),
    "conv_channels_first_mixed": (
        lambda: seq(
            (2, 7, 6),
            L.Conv2D(3, 3, strides=2, padding="same", data_format="channels_first"),
            L.DepthwiseConv2D(2, depth_multiplier=2, data_format="channels_first"),
            L.SeparableConv2D(2, 2, padding="same", data_format="channels_first"),
            L.Conv2DTranspose(2, 3, strides=2, data_format="channels_first"),
            L.Conv2D(2, 2),  # back to channels-last: the converter transposes as usual
        ),
        floats(2, 7, 6),
    ),
    "depthwise_separable_conv1d": (
        lambda: seq(
            (9, 3),
            L.DepthwiseConv1D(3, depth_multiplier=2, padding="same"),
            L.SeparableConv1D(4, 3, strides=2, data_format="channels_first"),
        ),
        floats(9, 3),
    ),
    "conv1d_transpose": (
        lambda: seq((5, 3), L.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=1)),
        floats(5, 3),
    ),
    "conv1d_transpose_channels_first": (
        lambda: seq((3, 5), L.Conv1DTranspose(2, 2, strides=3, data_format="channels_first")),
        floats(3, 5),
    ),
    "conv3d_transpose": (
        lambda: seq((2, 3, 2, 3), L.Conv3DTranspose(2, 3, strides=(2, 1, 2), padding="same")),
        floats(2, 3, 2, 3),
    ),
    "conv3d_transpose_valid_dilated": (
        lambda: seq((2, 3, 2, 2), L.Conv3DTranspose(2, 2, dilation_rate=(1, 2, 1))),
        floats(2, 3, 2, 2),
    ),
    # pooling and shape plumbing
    "max_pooling2d_same": (
        lambda: seq((7, 5, 2), L.MaxPooling2D(3, strides=2, padding="same")),
        floats(7, 5, 2),
    ),
    "average_pooling2d_same": (
        lambda: seq((7, 5, 2), L.AveragePooling2D(2, padding="same")),
        floats(7, 5, 2),
    ),
    "max_pooling1d": (lambda: seq((9, 3), L.MaxPooling1D(2)), floats(9, 3)),
    "average_pooling1d_same": (
        lambda: seq((7, 3), L.AveragePooling1D(3, strides=2, padding="same")),
        floats(7, 3),
    ),
    "global_pooling2d": (
        lambda: functional(
            [(5, 4, 3)],
            lambda x: [L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D(keepdims=True)(x)],
        ),
        floats(5, 4, 3),
    ),
    "global_pooling1d": (
        lambda: functional(
            [(6, 3)],
            lambda x: [L.GlobalAveragePooling1D(keepdims=True)(x), L.GlobalMaxPooling1D()(x)],
        ),
        floats(6, 3),
    ),
    "upsampling2d": (lambda: seq((3, 2, 2), L.UpSampling2D((2, 3))), floats(3, 2, 2)),
    "zero_padding2d": (lambda: seq((3, 3, 2), L.ZeroPadding2D(((1, 0), (2, 2)))), floats(3, 3, 2)),
    "cropping2d": (lambda: seq((5, 5, 2), L.Cropping2D(((1, 0), (0, 2)))), floats(5, 5, 2)),
    # volumes, and the channels-first layouts (ONNX pools channels-first: no transposes)
    "pooling3d": (
        lambda: seq(
            (6, 5, 4, 2),
            L.MaxPooling3D((2, 3, 2), strides=(1, 2, 2), padding="same"),
            L.AveragePooling3D(2, strides=1, padding="same"),
        ),
        floats(6, 5, 4, 2),
    ),
    "global_pooling3d": (
        lambda: functional(
            [(3, 4, 5, 2)],
            lambda x: [L.GlobalAveragePooling3D()(x), L.GlobalMaxPooling3D(keepdims=True)(x)],
        ),
        floats(3, 4, 5, 2),
    ),
    "resize3d": (
        lambda: seq(
            (3, 2, 4, 2),
            L.UpSampling3D((1, 2, 3)),
            L.ZeroPadding3D(((1, 0), (0, 2), (1, 1))),
            L.Cropping3D(((0, 1), (1, 1), (2, 0))),
        ),
        floats(3, 2, 4, 2),
    ),
    "pooling_channels_first": (
        lambda: seq(
            (2, 7, 5),
            L.MaxPooling2D(3, strides=2, padding="same", data_format="channels_first"),
            L.AveragePooling2D(2, strides=1, padding="same", data_format="channels_first"),
            L.UpSampling2D((2, 3), data_format="channels_first"),
            L.ZeroPadding2D(((1, 0), (2, 2)), data_format="channels_first"),
            L.Cropping2D(((1, 0), (0, 2)), data_format="channels_first"),
            L.GlobalAveragePooling2D(data_format="channels_first", keepdims=True),
        ),
        floats(2, 7, 5),
    ),
    "pooling_channels_first_1d_3d": (
        lambda: functional(
            [(2, 4, 5, 3)],
            lambda x: [
                L.GlobalMaxPooling3D(data_format="channels_first")(
                    L.MaxPooling3D(2, padding="same", data_format="channels_first")(x)
                ),
                L.AveragePooling1D(2, data_format="channels_first")(
                    L.Reshape((2, 720))(
                        L.UpSampling3D(data_format="channels_first")(
                            L.Cropping3D(((1, 0), (0, 1), (1, 1)), data_format="channels_first")(
                                L.ZeroPadding3D(1, data_format="channels_first")(x)
                            )
                        )
                    )
                ),
            ],
        ),
        floats(2, 4, 5, 3),
    ),
    # normalization
    "batch_normalization": (
        lambda: seq((4, 4, 3), L.BatchNormalization(), L.Flatten(), L.Dense(2)),
        floats(4, 4, 3),
    ),
    "batch_normalization_axis1": (
        lambda: seq((3, 5), L.BatchNormalization(axis=1, center=False)),
        floats(3, 5),
    ),
    "layer_normalization": (lambda: seq((6,), L.LayerNormalization()), floats(6)),
    "layer_normalization_trailing_axes": (
        lambda: seq((3, 4), L.LayerNormalization(axis=[1, 2], center=False)),
        floats(3, 4),
    ),
    "layer_normalization_middle_axis": (
        lambda: seq((3, 4), L.LayerNormalization(axis=1, scale=False)),
        floats(3, 4),
    ),
    # embedding
    "embedding": (
        lambda: Sequential([L.Embedding(10, 4, input_length=5), L.Flatten(), L.Dense(2)]),
        ints(5, high=10),
    ),
    "embedding_int32_input_mask_unused": (
        _int32_embedding_model,
        ints(5, high=10, dtype="int32"),
    ),
    # recurrent
    "simple_rnn_sequences": (
        lambda: seq((6, 3), L.SimpleRNN(4, return_sequences=True)),
        floats(6, 3),
    ),
    "simple_rnn_relu_backwards": (
        lambda: seq((6, 3), L.SimpleRNN(4, activation="relu", go_backwards=True)),
        floats(6, 3),
    ),
    "lstm": (lambda: seq((6, 3), L.LSTM(5)), floats(6, 3)),
    "lstm_backwards_sequences": (
        lambda: seq((6, 3), L.LSTM(5, return_sequences=True, go_backwards=True)),
        floats(6, 3),
    ),
    "lstm_hard_sigmoid_no_bias": (
        lambda: seq((6, 3), L.LSTM(4, recurrent_activation="hard_sigmoid", use_bias=False)),
        floats(6, 3),
    ),
    "lstm_leaky_relu_after_sigmoid": (
        lambda: seq((5, 3), L.LSTM(4, activation="leaky_relu", recurrent_activation="sigmoid")),
        floats(5, 3, scale=0.5),
    ),
    "lstm_return_state": (
        lambda: functional([(6, 3)], lambda x: L.LSTM(4, return_state=True)(x)),
        floats(6, 3),
    ),
    "gru": (lambda: seq((6, 3), L.GRU(5)), floats(6, 3)),
    "gru_reset_before_sequences": (
        lambda: seq((6, 3), L.GRU(4, reset_after=False, return_sequences=True)),
        floats(6, 3),
    ),
    "gru_return_state_backwards": (
        lambda: functional([(6, 3)], lambda x: L.GRU(4, return_state=True, go_backwards=True)(x)),
        floats(6, 3),
    ),
    "rnn_unknown_length": (
        lambda: seq((None, 3), L.GRU(4, return_sequences=True), L.LSTM(3)),
        floats(7, 3),
    ),
    "bidirectional_concat_sequences": (
        lambda: seq((6, 3), L.Bidirectional(L.LSTM(4, return_sequences=True))),
        floats(6, 3),
    ),
    "bidirectional_sum": (
        lambda: seq((6, 3), L.Bidirectional(L.GRU(4), merge_mode="sum")),
        floats(6, 3),
    ),
    "bidirectional_ave_mul": (
        lambda: functional(
            [(6, 3)],
            lambda x: [
                L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave")(x),
                L.Bidirectional(L.GRU(3), merge_mode="mul")(x),
            ],
        ),
        floats(6, 3),
    ),
    "bidirectional_none_states": (
        lambda: functional(
            [(6, 3)],
            lambda x: L.Bidirectional(L.LSTM(3, return_state=True), merge_mode=None)(x),
        ),
        floats(6, 3),
    ),
    "time_distributed": (
        lambda: seq(
            (4, 5, 5, 2), L.TimeDistributed(L.Conv2D(3, 3)), L.TimeDistributed(L.Flatten())
        ),
        floats(4, 5, 5, 2),
    ),
    "masking_without_rnn": (
        lambda: seq((5, 3), L.Masking(0.0), L.TimeDistributed(L.Dense(2))),
        lambda rng, batch: [
            np.where(rng.random((batch, 5, 1)) < 0.4, 0.0, rng.normal(size=(batch, 5, 3))).astype(
                "float32"
            )
        ],
    ),
    # merging
    "add_subtract_multiply": (
        lambda: functional(
            [(4,), (4,), (4,)],
            lambda a, b, c: [L.Add()([a, b, c]), L.Subtract()([a, b]), L.Multiply()([a, b, c])],
        ),
        several(floats(4), floats(4), floats(4)),
    ),
    "average_maximum_minimum": (
        lambda: functional(
            [(4,), (4,), (4,)],
            lambda a, b, c: [
                L.Average()([a, b, c]),
                L.Maximum()([a, b, c]),
                L.Minimum()([a, b]),
            ],
        ),
        several(floats(4), floats(4), floats(4)),
    ),
    "concatenate_broadcast_add": (
        lambda: functional(
            [(3, 2), (3, 4), (1, 2)],
            lambda a, b, c: [L.Concatenate(axis=-1)([a, b]), L.Add()([a, c])],
        ),
        several(floats(3, 2), floats(3, 4), floats(1, 2)),
    ),
    "dot": (
        lambda: functional(
            [(4,), (4,), (3, 5), (2, 5)],
            lambda a, b, c, d: [
                L.Dot(axes=1)([a, b]),
                L.Dot(axes=(2, 2), normalize=True)([c, d]),
            ],
        ),
        several(floats(4), floats(4), floats(3, 5), floats(2, 5)),
    ),
    "multi_head_attention_self_causal": (
        lambda: functional(
            [(5, 6)],
            lambda x: L.LayerNormalization()(
                L.Add()(
                    [x, L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, use_causal_mask=True)]
                )
            ),
        ),
        floats(5, 6),
    ),
    "multi_head_attention_cross_key": (
        lambda: functional(
            [(4, 6), (7, 5), (7, 3)],
            lambda q, v, k: L.MultiHeadAttention(
                num_heads=3, key_dim=2, value_dim=4, output_shape=8
            )(q, v, k),
        ),
        several(floats(4, 6), floats(7, 5), floats(7, 3)),
    ),
    "multi_head_attention_padding_mask_causal": (
        lambda: _embedded(
            6, lambda e: L.MultiHeadAttention(num_heads=2, key_dim=3)(e, e, use_causal_mask=True)
        ),
        padded_ids(6, high=9),
    ),
    "multi_head_attention_masked_query_and_key_with_scores": (
        lambda: _embedded(
            5,
            lambda e: L.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3)(
                e, e, L.Dense(4)(e), return_attention_scores=True
            ),
        ),
        padded_ids(5, high=9),
    ),
    "multi_head_attention_mask_input_causal": (
        lambda: _attention_mask_model(
            lambda x, m: L.MultiHeadAttention(num_heads=2, key_dim=3)(
                x, x, attention_mask=m, use_causal_mask=True
            )
        ),
        several(floats(5, 6), bools(5, 5)),
    ),
    "multi_head_attention_mask_input_and_padding": (
        _padding_and_mask_input_model,
        several(padded_ids(5, high=9), bools(5, 5)),
    ),
    "grouped_query_attention_float_mask_input": (
        lambda: _attention_mask_model(
            lambda x, m: L.GroupedQueryAttention(
                head_dim=2, num_query_heads=4, num_key_value_heads=2
            )(x, x, attention_mask=m),
            dtype="float32",
        ),
        several(floats(5, 6), lambda rng, batch: [bools(5, 5)(rng, batch)[0].astype("float32")]),
    ),
    "grouped_query_attention_causal": (
        lambda: functional(
            [(5, 6)],
            lambda x: L.GroupedQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=2)(
                x, x, use_causal_mask=True
            ),
        ),
        floats(5, 6),
    ),
    "grouped_query_attention_padding_mask": (
        lambda: _embedded(
            6,
            lambda e: L.GroupQueryAttention(head_dim=3, num_query_heads=3, num_key_value_heads=1)(
                e, e
            ),
        ),
        padded_ids(6, high=9),
    ),
    "attention_dot_scaled_masked_causal": (
        lambda: _embedded(6, lambda e: L.Attention(use_scale=True)([e, e], use_causal_mask=True)),
        padded_ids(6, high=9),
    ),
    "attention_concat_cross_with_scores": (
        lambda: functional(
            [(4, 5), (6, 3), (6, 5)],
            lambda q, v, k: L.Attention(use_scale=True, score_mode="concat")(
                [q, v, k], return_attention_scores=True
            ),
        ),
        several(floats(4, 5), floats(6, 3), floats(6, 5)),
    ),
    "additive_attention_masked": (
        lambda: _embedded(6, lambda e: L.AdditiveAttention()([e, L.Dense(6)(e)])),
        padded_ids(6, high=9),
    ),
    "attention_mask_inputs_dot": (
        lambda: _attention_masks_model(L.Attention(use_scale=True), with_query_mask=True),
        several(floats(5, 6), floats(7, 6), _row_mask(5), _row_mask(7)),
    ),
    "additive_attention_value_mask_input_causal": (
        lambda: _attention_masks_model(
            L.AdditiveAttention(), with_query_mask=False, use_causal_mask=True
        ),
        several(floats(5, 6), floats(7, 6), _row_mask(7)),
    ),
    "additive_attention_unscaled_causal": (
        lambda: functional(
            [(4, 5), (4, 5)],
            lambda q, v: L.AdditiveAttention(use_scale=False)([q, v], use_causal_mask=True),
        ),
        several(floats(4, 5), floats(4, 5)),
    ),
    "tensor_operations": (
        lambda: functional(
            [(4,), (4,)],
            lambda a, b: (abs(a) + 1.0) * b - a / 2.0 + L.Dense(4)(b) ** 2.0,
        ),
        several(floats(4), floats(4)),
    ),
}


# ---------------------------------------------------------------- every layer


def test_every_exportable_layer_has_a_case():
    built = set()
    for factory, _ in CASES.values():
        model = factory()
        stack = list(model.layers)
        while stack:
            layer = stack.pop()
            built.add(type(layer).__name__)
            stack.extend(getattr(layer, "layers", []) if isinstance(layer, Model) else [])
            for inner in ("layer", "forward_layer"):
                if hasattr(layer, inner):
                    stack.append(getattr(layer, inner))
    # containers are covered by the model tests below
    assert set(EXPORTABLE_LAYERS) - built <= {"Model", "Sequential"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_predict(case, tmp_path):
    set_random_seed(0)
    factory, make_inputs = CASES[case]
    model = factory()
    _randomize(model)
    assert_exports_match(model, make_inputs, tmp_path)


ACTIVATIONS = sorted(
    name
    for name in registered_names("activation")
    if name not in ("swish", "hard_swish")  # aliases of silu and hard_silu
)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_predict(name, tmp_path):
    set_random_seed(0)
    model = seq((6,), L.Dense(6, activation=name))
    _randomize(model)
    assert lookup("activation", name) is model.layers[0].activation
    # inputs of scale 3 reach every piece of the piecewise activations (relu6, hard_sigmoid)
    assert_exports_match(model, floats(6, scale=3.0), tmp_path)


@pytest.mark.parametrize("name", ["relu", "gelu", "log_softmax"])
def test_activation_inside_a_conv_block(name, tmp_path):
    model = seq((5, 5, 2), L.Conv2D(3, 3, activation=name), L.MaxPooling2D(), L.Flatten())
    _randomize(model)
    assert_exports_match(model, floats(5, 5, 2), tmp_path)


@pytest.mark.parametrize("opset", [13, 18, "newest"])
@pytest.mark.parametrize(
    "case",
    ["global_pooling2d", "layer_normalization", "softmax_axes", "masking_without_rnn", "dot"],
)
def test_opset_dependent_ops(case, opset, tmp_path):
    # reductions take their axes as an attribute before opset 18 and as an input from it on;
    # LayerNormalization is an op from 17 and a decomposition before
    opset = onnx.defs.onnx_opset_version() if opset == "newest" else opset
    factory, make_inputs = CASES[case]
    model = factory()
    _randomize(model)
    assert_exports_match(model, make_inputs, tmp_path, opset=opset)
    assert onnx.load(str(tmp_path / "model.onnx")).opset_import[0].version == opset


def test_float64_model(tmp_path):
    from axonal.backend import floatx, set_floatx

    previous = floatx()
    set_floatx("float64")
    try:
        # layers whose ONNX ops ONNX Runtime's CPU provider runs in double (it has no double
        # Conv, LSTM, GRU, RNN or Erf kernels; the exported graph is valid ONNX regardless)
        model = seq(
            (4, 4, 2),
            L.MaxPooling2D(),
            L.BatchNormalization(),
            L.Flatten(),
            L.LayerNormalization(),
            L.Dense(3, activation="tanh"),
        )
    finally:
        set_floatx(previous)
    _randomize(model)
    assert_exports_match(model, floats(4, 4, 2, dtype="float64"), tmp_path)
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


# ---------------------------------------------------------------- the example models


def test_iris_mlp(tmp_path):
    model = Sequential()
    model.add(L.Dense(4, input_dim=4, activation="relu"))
    model.add(L.Dense(3, activation="softmax"))
    _randomize(model)
    assert_exports_match(model, floats(4), tmp_path)


def test_digits_cnn(tmp_path):
    model = Sequential(
        [
            Input(shape=(8, 8, 1)),
            L.Conv2D(32, kernel_size=3, padding="same", activation="relu"),
            L.MaxPooling2D(pool_size=2),
            L.Conv2D(64, kernel_size=3, padding="same", activation="relu"),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    _randomize(model)
    assert_exports_match(model, floats(8, 8, 1, scale=1.0), tmp_path)
    # the conv blocks stay channels-first: one transpose in, one out before Flatten
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert sum(node.op_type == "Transpose" for node in graph.node) == 2


def test_sequence_lstm(tmp_path):
    model = Sequential([Input(shape=(8, 8)), L.LSTM(64), L.Dense(10, activation="softmax")])
    _randomize(model)
    assert_exports_match(model, floats(8, 8, scale=1.0), tmp_path)


def test_trained_model_matches(tmp_path):
    # weights straight out of fit: Adam-updated kernels and moving statistics
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, size=64)
    model = seq(
        (6, 6, 1),
        L.Conv2D(4, 3, activation="relu"),
        L.BatchNormalization(),
        L.Flatten(),
        L.Dropout(0.3),
        L.Dense(3, activation="softmax"),
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert_exports_match(model, floats(6, 6, 1), tmp_path)


# ---------------------------------------------------------------- graphs


def test_functional_graph_with_shared_layer_and_nested_model(tmp_path):
    inner = Sequential([Input(shape=(4,)), L.Dense(5, activation="tanh"), L.Dense(3)])
    shared = L.Dense(4, activation="relu", name="shared")
    a, b = Input(shape=(6,), name="left"), Input(shape=(6,), name="right")
    left, right = inner(shared(a)), inner(shared(b))
    model = Model([a, b], [L.Concatenate()([left, right]), L.Subtract()([left, right])])
    _randomize(model)
    assert_exports_match(model, several(floats(6), floats(6)), tmp_path)
    proto = onnx.load(str(tmp_path / "model.onnx"))
    assert [i.name for i in proto.graph.input] == ["left", "right"]
    assert [o.name for o in proto.graph.output] == model.output_names
    # the shared layer and the nested model are called twice; their weights are stored once
    kernels = [t.name for t in proto.graph.initializer if "kernel" in t.name]
    assert len(kernels) == 3


def test_outputs_are_named_after_the_layer_that_computed_them_not_column_names(tmp_path):
    # ColumnNames (what `axonal train --data` appends) passes its input on unchanged
    model = seq(
        (3,), L.Dense(2, activation="softmax", name="species"), ColumnNames(["a", "b", "c"], "y")
    )
    proto = to_onnx(model, tmp_path / "sequential.onnx")
    assert [o.name for o in proto.graph.output] == ["species"]
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    first = L.Dense(2, name="first")(a)
    model = Model([a, b], [ColumnNames(["a", "b", "c"], "y")(first), L.Dense(1, name="second")(b)])
    proto = to_onnx(model, tmp_path / "functional.onnx")
    assert [o.name for o in proto.graph.output] == ["first", "second"]
    # an output that is an input passed through is still distinct from that input
    x = Input(shape=(2,), name="x")
    proto = to_onnx(Model(x, ColumnNames(["u", "v"], "y")(x)), tmp_path / "through.onnx")
    assert [o.name for o in proto.graph.output] == ["x_output"]


def test_cli_export_names_the_output_after_the_trained_output_layer(tmp_path, capsys):
    table = tmp_path / "t.csv"
    rows = [f"{i % 5},{i % 3},{'pq'[i % 2]}" for i in range(20)]
    table.write_text("u,v,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    model_path, onnx_path = tmp_path / "m.axonal", tmp_path / "m.onnx"
    argv = ["train", "--data", str(table), "--target", "label", "--epochs", "1", "--verbose", "0"]
    assert main([*argv, "--out", str(model_path)]) == 0
    assert main(["export", str(model_path), "--onnx", str(onnx_path)]) == 0
    capsys.readouterr()
    from axonal.models import load_model

    dense = [layer for layer in load_model(model_path).layers if type(layer).__name__ == "Dense"]
    assert [o.name for o in onnx.load(str(onnx_path)).graph.output] == [dense[-1].name]


def test_nested_functional_model_inside_sequential(tmp_path):
    x = Input(shape=(3,))
    block = Model(x, L.Add()([x, L.Dense(3)(x)]))
    model = Sequential([Input(shape=(3,)), block, L.Dense(2, activation="sigmoid")])
    _randomize(model)
    assert_exports_match(model, floats(3), tmp_path)


def test_graph_has_a_dynamic_batch_axis(tmp_path):
    model = seq((8, 8, 1), L.Conv2D(2, 3), L.Flatten(), L.Reshape((6, -1)), L.Dense(2))
    proto = to_onnx(model, tmp_path / "model.onnx")
    (graph_input,) = proto.graph.input
    (graph_output,) = proto.graph.output
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == [8, 8, 1]
    assert graph_output.type.tensor_type.shape.dim[0].dim_param == "batch"
    # every Reshape target keeps the batch size with 0 (or infers it with -1)
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Reshape":
            assert initializers[node.input[1]][0] in (0, -1)


def test_returns_the_written_model(tmp_path):
    model = seq((3,), L.Dense(2))
    proto = to_onnx(model, str(tmp_path / "m.onnx"), opset=15)
    assert proto.SerializeToString() == (tmp_path / "m.onnx").read_bytes()
    assert proto.opset_import[0].version == 15
    assert proto.producer_name == "axonal"


# ---------------------------------------------------------------- refusals


def _double(x):
    return x * 2.0


class Scale(L.Layer):
    def call(self, inputs, training=False):
        return inputs * 3.0


class Subclassed(Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(2)

    def call(self, inputs, training=False):
        return self.dense(inputs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: seq((3,), L.Dense(3), L.Lambda(_double, name="doubler")),
            r"Cannot export layer 'doubler' \(Lambda\) to ONNX: a Lambda runs arbitrary Python",
        ),
        (
            lambda: seq((3,), Scale(name="scale")),
            r"Cannot export layer 'scale' \(Scale\) to ONNX: axonal has no ONNX converter",
        ),
        (
            lambda: seq((3,), L.Dense(2, activation=_double, name="custom")),
            r"layer 'custom' \(Dense\).*activation '_double' has no ONNX equivalent",
        ),
        (
            lambda: seq((4, 3), L.LSTM(2, activation="gelu", name="gelu_lstm")),
            r"layer 'gelu_lstm' \(LSTM\).*'gelu' is not one ONNX recurrent ops can apply",
        ),
        (
            lambda: Sequential([L.Embedding(9, 3, mask_zero=True, input_length=4), L.LSTM(2)]),
            r"layer 'lstm\w*' \(LSTM\).*timestep mask",
        ),
        (
            lambda: seq((4, 3), L.Masking(), L.Bidirectional(L.GRU(2), name="bi")),
            r"layer 'bi' \(Bidirectional\).*timestep mask",
        ),
        (
            lambda: Sequential(
                [L.LSTM(2, stateful=True, batch_input_shape=(2, 4, 3), name="keeper")]
            ),
            r"layer 'keeper' \(LSTM\).*stateful",
        ),
        (
            lambda: seq((None, 5, 2), L.Conv2DTranspose(2, 3, name="deconv")),
            r"layer 'deconv' \(Conv2DTranspose\).*height and width",
        ),
        (
            lambda: functional([(3,)], _op_with_kwargs),
            r"\(TensorOperation\).*'sum'",
        ),
    ],
)
def test_unexportable_layer_is_named_and_nothing_is_written(build, message, tmp_path):
    model = build()
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous contents")
    with pytest.raises(OnnxExportError, match=message):
        to_onnx(model, target)
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def _op_with_kwargs(x):
    from axonal import ops

    return ops.sum(x, axis=-1)


def test_subclassed_model_is_refused(tmp_path):
    model = Subclassed()
    model.predict(np.ones((2, 3), "float32"), verbose=0)
    with pytest.raises(OnnxExportError, match=r"'subclassed\w*' \(Subclassed\).*subclassed model"):
        to_onnx(model, tmp_path / "m.onnx")


def test_unbuilt_model_is_refused(tmp_path):
    model = Sequential([L.Dense(3)])
    with pytest.raises(OnnxExportError, match="is not built"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_not_a_model_is_refused(tmp_path):
    with pytest.raises(OnnxExportError, match="expects an axonal model"):
        to_onnx(L.Dense(3), tmp_path / "m.onnx")


@pytest.mark.parametrize(
    ("opset", "error", "message"),
    [
        (12, ValueError, "opset must be between 13 and"),
        (10_000, ValueError, "opset must be between 13 and"),
        ("17", TypeError, "opset must be an integer, got '17'"),
        (True, TypeError, "opset must be an integer"),
    ],
)
def test_bad_opset(opset, error, message, tmp_path):
    with pytest.raises(error, match=message):
        to_onnx(seq((3,), L.Dense(2)), tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        to_onnx(seq((3,), L.Dense(2)), tmp_path / "nowhere" / "m.onnx")


def test_mask_that_no_recurrent_layer_reads_still_exports(tmp_path):
    # GlobalAveragePooling1D ignores masks in axonal, so the mask does not change predict
    model = Sequential(
        [L.Embedding(10, 4, mask_zero=True, input_length=6), L.GlobalAveragePooling1D()]
    )
    _randomize(model)
    assert_exports_match(model, ints(6, high=10), tmp_path)


# ---------------------------------------------------------------- the command line


def test_cli_export(tmp_path, capsys):
    model = seq((5,), L.Dense(4, activation="relu"), L.Dense(3, activation="softmax"))
    _randomize(model)
    model.save(tmp_path / "model.axonal")
    out = tmp_path / "model.onnx"
    argv = ["export", str(tmp_path / "model.axonal"), "--onnx", str(out), "--opset", "15"]
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    session = _session(out)
    x = np.random.default_rng(0).normal(size=(7, 5)).astype("float32")
    np.testing.assert_allclose(_run(session, [x])[0], model.predict(x, verbose=0), atol=TOLERANCE)
    assert onnx.load(str(out)).opset_import[0].version == 15


def test_cli_export_refusal_names_the_layer(tmp_path, capsys):
    model = Sequential([L.Embedding(9, 3, mask_zero=True, input_length=4), L.GRU(2, name="gru_x")])
    model.save(tmp_path / "model.axonal")
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.axonal"), "--onnx", str(out)]) == 1
    err = capsys.readouterr().err
    assert "axonal export: error: Cannot export layer 'gru_x' (GRU)" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["export", "missing.axonal", "--onnx", "m.onnx"], 2, "missing.axonal: no such file"),
        (["export", "model.axonal"], 2, "--onnx"),
        (["export", "model.axonal", "--onnx", "m.onnx", "--opset", "9"], 1, "between 13 and"),
        (["export", "model.axonal", "--onnx", "m.onnx", "--opset", "x"], 2, "invalid"),
    ],
)
def test_cli_export_errors(argv, status, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seq((3,), L.Dense(2)).save(tmp_path / "model.axonal")
    assert main(argv) == status
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_transformer_block_over_padded_tokens(tmp_path):
    # the padding mask is computed in the graph from the token ids, as Embedding does
    tokens = Input(shape=(8,), dtype="int64")
    x = L.Embedding(30, 8, mask_zero=True)(tokens)
    attended = L.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = L.LayerNormalization()(L.Add()([x, attended]))
    x = L.LayerNormalization()(L.Add()([x, L.Dense(8)(L.Dense(16, activation="relu")(x))]))
    out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(x))
    model = Model(tokens, out)
    _randomize(model)
    assert_exports_match(model, padded_ids(8, high=30), tmp_path)


def test_mask_value_comes_from_masking_layer(tmp_path):
    # Masking's mask (rows of mask_value) reaches the attention through the graph
    values = Input(shape=(6, 4))
    x = L.Masking(mask_value=0.0)(values)
    model = Model(values, L.MultiHeadAttention(num_heads=2, key_dim=2)(x, x))
    _randomize(model)

    def make(rng, batch):
        x = rng.normal(size=(batch, 6, 4)).astype("float32")
        x[:, 4:] = 0.0
        x[0] = 0.0
        return [x]

    assert_exports_match(model, make, tmp_path)


@pytest.mark.parametrize("layer", ["mha", "attention"])
def test_attention_needs_opset_14(layer, tmp_path):
    x = Input(shape=(4, 6))
    if layer == "mha":
        out = L.MultiHeadAttention(num_heads=2, key_dim=3, name="attn")(x, x)
    else:
        out = L.Attention(name="attn")([x, x])
    with pytest.raises(OnnxExportError, match=r"'attn'.*opset 14"):
        to_onnx(Model(x, out), tmp_path / "m.onnx", opset=13)
