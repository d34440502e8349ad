"""SimpleRNN, LSTM, GRU and Bidirectional as ONNX's ``RNN``, ``LSTM`` and ``GRU`` ops.

Layouts: Keras keeps ``kernel`` ``(features, gates * units)`` with gate blocks i, f, c, o
(LSTM) or z, r, h (GRU); ONNX wants ``W`` ``(1, gates * hidden, features)`` with gates
i, o, f, c (LSTM) or z, r, h (GRU), and ``B`` as the input bias then the recurrent bias. GRU
``reset_after=True`` (Keras's default) is ONNX's ``linear_before_reset=1``.

ONNX ops are time-major: the input is transposed to ``(time, batch, features)``. A layer with
``go_backwards`` runs forward over the time-reversed input, which gives Keras's result: its
returned sequence in processing (reversed) order, its last output the final state.

Timestep masks (``Embedding(mask_zero=True)``, ``Masking``) are refused: ONNX's
``sequence_lens`` only describes padding at the end of each sequence, while Keras masks may
sit anywhere (``pad_sequences`` pads at the front by default), so an exported graph could
silently disagree with ``predict``.
"""

from __future__ import annotations

import numpy as np

from axonal.export.onnx_activations import recurrent_activation
from axonal.export.onnx_graph import INT64_MIN, GraphBuilder, Value, layer_error
from axonal.layers import recurrent

# Keras gate block -> position in ONNX's order
_LSTM_GATES = (0, 3, 1, 2)  # ONNX i, o, f, c taken from Keras i, f, c, o
_GRU_GATES = (0, 1, 2)  # z, r, h in both


def _reorder(matrix: np.ndarray, gates: tuple, units: int) -> np.ndarray:
    """Keras ``(rows, gates * units)`` -> ONNX ``(1, gates * units, rows)`` in ONNX's order."""
    rows = matrix.shape[0]
    blocks = matrix.reshape(rows, len(gates), units)[:, list(gates)]
    return np.ascontiguousarray(blocks.reshape(rows, len(gates) * units).T[None])


def _check_layer(layer, x: Value) -> None:
    if x.masked:
        raise layer_error(
            layer,
            "its input carries a timestep mask (from Embedding(mask_zero=True) or Masking). "
            "ONNX recurrent ops can only skip padding at the end of a sequence, while a mask may "
            "mark any step, so the export would not match predict. Export a model without the "
            "mask (mask_zero=False, no Masking layer).",
        )
    if layer.stateful:
        raise layer_error(
            layer,
            "stateful=True carries states from one batch to the next, which an ONNX graph "
            "cannot hold. Rebuild the model with stateful=False and copy the weights.",
        )


def _activations(layer) -> dict:
    """The ``activations`` attribute and, where needed, ``activation_alpha``/``_beta``."""
    if isinstance(layer, recurrent.LSTM):
        fns = [layer.recurrent_activation, layer.activation, layer.activation]
    elif isinstance(layer, recurrent.GRU):
        fns = [layer.recurrent_activation, layer.activation]
    else:
        fns = [layer.activation]
    entries = [recurrent_activation(layer, fn) for fn in fns]
    attrs = {"activations": [name for name, _, _ in entries]}
    # the values are consumed in the order of the activations that take them
    alphas = [alpha for _, alpha, _ in entries if alpha is not None]
    betas = [beta for _, _, beta in entries if beta is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _weights(b: GraphBuilder, layer) -> list:
    """``W``, ``R`` and ``B`` initializers for the layer's ONNX op."""
    units = layer.units
    gates = _LSTM_GATES if isinstance(layer, recurrent.LSTM) else tuple(range(layer._gates))
    kernel = _reorder(layer.kernel.data, gates, units)
    recurrent_kernel = _reorder(layer.recurrent_kernel.data, gates, units)
    width = len(gates) * units
    if layer.bias is None:
        bias = np.zeros((1, 2 * width), dtype=layer.dtype)
    else:
        data = layer.bias.data
        if data.ndim == 2:
            # GRU reset_after: (input bias, recurrent bias)
            input_bias, recurrent_bias = data[0], data[1]
        else:
            input_bias, recurrent_bias = data, np.zeros_like(data)
        pieces = [_reorder(v[None], gates, units)[0, :, 0] for v in (input_bias, recurrent_bias)]
        bias = np.concatenate(pieces)[None]
    key = id(layer)
    return [
        b.constant(kernel, f"{layer.name}/W", key=(key, "W")),
        b.constant(recurrent_kernel, f"{layer.name}/R", key=(key, "R")),
        b.constant(bias.astype(layer.dtype), f"{layer.name}/B", key=(key, "B")),
    ]


def run_recurrent(b: GraphBuilder, layer, x: Value) -> list:
    """The layer's outputs as Keras returns them: ``[output]`` or ``[output, *states]``."""
    _check_layer(layer, x)
    if isinstance(layer, recurrent.LSTM):
        op_type, n_states = "LSTM", 2
    elif isinstance(layer, recurrent.GRU):
        op_type, n_states = "GRU", 1
    else:
        op_type, n_states = "RNN", 1
    attrs = _activations(layer)
    if isinstance(layer, recurrent.GRU):
        attrs["linear_before_reset"] = int(layer.reset_after)
    time_major = b.op("Transpose", [x.name], perm=[1, 0, 2])
    if layer.go_backwards:
        time_major = b.slice(time_major, [-1], [INT64_MIN], [0], [-1])
    outputs = b.op(
        op_type,
        [time_major] + _weights(b, layer),
        n_outputs=1 + n_states,
        base=layer.name,
        hidden_size=layer.units,
        **attrs,
    )
    sequence, states = outputs[0], outputs[1:]
    # ONNX: Y (time, 1, batch, units), Y_h and Y_c (1, batch, units)
    states = [b.squeeze(s, [0]) for s in states]
    if layer.return_sequences:
        output = b.op("Transpose", [b.squeeze(sequence, [1])], perm=[1, 0, 2])
    else:
        output = states[0]
    if layer.return_state:
        return [output] + states
    return [output]


def convert_recurrent(b: GraphBuilder, layer, inputs: list) -> list:
    """SimpleRNN, LSTM and GRU."""
    return run_recurrent(b, layer, inputs[0])


def convert_bidirectional(b: GraphBuilder, layer: recurrent.Bidirectional, inputs: list) -> list:
    x = inputs[0]
    if x.masked:
        _check_layer(layer, x)
    forward = run_recurrent(b, layer.forward_layer, x)
    backward = run_recurrent(b, layer.backward_layer, x)
    y, y_rev = forward[0], backward[0]
    if layer.return_sequences:
        # the backward layer's sequence is in processing order: flip it back to time order
        y_rev = b.slice(y_rev, [-1], [INT64_MIN], [1], [-1])
    mode = layer.merge_mode
    if mode == "concat":
        outputs = [b.op("Concat", [y, y_rev], axis=-1)]
    elif mode == "sum":
        outputs = [b.op("Add", [y, y_rev])]
    elif mode == "ave":
        outputs = [b.op("Mul", [b.op("Add", [y, y_rev]), b.scalar(0.5, layer.dtype)])]
    elif mode == "mul":
        outputs = [b.op("Mul", [y, y_rev])]
    else:
        outputs = [y, y_rev]
    if layer.return_state:
        return outputs + forward[1:] + backward[1:]
    return outputs


CONVERTERS = {
    recurrent.SimpleRNN: convert_recurrent,
    recurrent.LSTM: convert_recurrent,
    recurrent.GRU: convert_recurrent,
    recurrent.Bidirectional: convert_bidirectional,
}
