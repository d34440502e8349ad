"""Walk a model's layers and write each one through its converter: the whole-model export.

``build_model_proto`` replays a Sequential stack or a functional graph (several inputs and
outputs, shared layers, nested models) the way ``predict`` runs it, but on ``Value`` records
instead of arrays, and returns the ``onnx.ModelProto``. ``CONVERTERS`` is the table of every
exportable layer class; a class not in it (a ``Lambda``, a user's own layer, a subclassed
model) is refused with an error that names the layer, before anything is written.
"""

from __future__ import annotations

import numpy as np

from axonal.export import onnx_attention, onnx_layers, onnx_recurrent
from axonal.export.onnx_graph import GraphBuilder, OnnxExportError, Value, layer_error
from axonal.layers import extra, recurrent
from axonal.layers.embedding import Embedding
from axonal.layers.preprocessing.lookup import PreprocessingLayer
from axonal.layers.symbolic import shape_str
from axonal.models import Model, Sequential


def convert_layer(
    b: GraphBuilder, layer, inputs: list, single: bool = True, kwargs: dict | None = None
) -> list:
    """Write one call of ``layer`` on ``inputs`` (Values); returns its output Values.

    ``single`` says whether the layer was called on one tensor (not a list), which decides the
    shape passed to ``compute_output_shape``.
    """
    attention = onnx_attention.CONVERTERS.get(type(layer))
    if attention is not None:
        # its call arguments (causal mask, scores) change the graph: its converter reads them
        if not layer.built:
            raise layer_error(layer, "it is not built (it has no weights yet).")
        return attention(b, layer, [_cast(b, v, layer.dtype) for v in inputs], dict(kwargs or {}))
    converter = CONVERTERS.get(type(layer))
    if converter is None:
        raise layer_error(layer, _why_unsupported(layer))
    extra_args = {k: v for k, v in (kwargs or {}).items() if v is not None}
    if extra_args:
        raise layer_error(
            layer,
            f"it is called with {', '.join(sorted(extra_args))}=..., which the export does not "
            "carry over; call it on its inputs alone.",
        )
    if not layer.built:
        raise layer_error(layer, "it is not built (it has no weights yet).")
    if type(layer) in _KEEPS_INPUT_DTYPES:
        result = converter(b, layer, inputs)
    else:
        result = converter(b, layer, [_cast(b, v, layer.dtype) for v in inputs])
    return _typed_outputs(b, layer, inputs, result, single)


def _typed_outputs(b: GraphBuilder, layer, inputs: list, result: list, single: bool) -> list:
    """The converter's output names as Values with their shapes, dtypes and masks."""
    if result and isinstance(result[0], Value):
        return result
    shapes = [v.shape for v in inputs]
    out_shapes = layer.compute_output_shape(shapes[0] if single else shapes)
    out_shapes = out_shapes if isinstance(out_shapes, list) else [out_shapes]
    masks = _output_masks(b, layer, inputs, len(result))
    dtype = _output_dtype(layer, inputs)
    return [
        Value(name, tuple(shape), dtype, masked)
        for name, shape, masked in zip(result, out_shapes, masks, strict=True)
    ]


def _cast(b: GraphBuilder, value: Value, dtype: str) -> Value:
    # layers compute in their own dtype, casting their inputs first (as axonal's layers do)
    if value.dtype == dtype:
        return value
    return Value(b.cast(value.name, dtype), value.shape, dtype, value.mask)


def _output_dtype(layer, inputs: list) -> str:
    if isinstance(layer, onnx_layers.TensorOperation):
        floats = [v.dtype for v in inputs if np.dtype(v.dtype).kind == "f"]
        return floats[0] if floats else inputs[0].dtype
    return layer.dtype


def _output_masks(b: GraphBuilder, layer, inputs: list, count: int) -> list:
    """The timestep mask (a graph value, or None) of each output, following axonal's rules at
    inference: Embedding and Masking make one, layers that support masking pass theirs on."""
    none = [None] * count
    if isinstance(layer, Embedding):
        return [_embedding_mask(b, inputs[0]) if layer.mask_zero else None] + none[1:]
    if isinstance(layer, extra.Masking):
        return [_masking_mask(b, layer, inputs[0])] + none[1:]
    if len(inputs) != 1 or not inputs[0].masked:
        return none
    mask = inputs[0].mask
    if isinstance(layer, (recurrent._RNN, recurrent.Bidirectional)):
        # a mask follows the returned sequence(s), never the states
        if not layer.return_sequences:
            return none
        outputs = 2 if getattr(layer, "merge_mode", "concat") is None else 1
        return [mask] * outputs + none[outputs:]
    if count == 1 and layer.supports_masking:
        return [mask]
    return none


def _embedding_mask(b: GraphBuilder, ids: Value) -> str:
    """``ids != 0`` (on the indices as the Embedding reads them), as ``mask_zero`` does."""
    name = ids.name if ids.dtype in ("int32", "int64") else b.cast(ids.name, "int64")
    zero = b.scalar(0, "int64" if ids.dtype not in ("int32", "int64") else ids.dtype)
    return b.op("Not", [b.op("Equal", [name, zero])], base="mask")


def _masking_mask(b: GraphBuilder, layer, x: Value) -> str:
    """``any(x != mask_value, axis=-1)``, as ``Masking`` computes its mask."""
    data = x.name if x.dtype == layer.dtype else b.cast(x.name, layer.dtype)
    differs = b.op("Not", [b.op("Equal", [data, b.scalar(layer.mask_value, layer.dtype)])])
    # ReduceMax has no boolean kernel: reduce 0/1 integers
    hits = b.reduce("ReduceMax", b.cast(differs, "int32"), [-1], keepdims=False)
    return b.cast(hits, "bool")


def _why_unsupported(layer) -> str:
    if isinstance(layer, extra.Lambda):
        return (
            "a Lambda runs arbitrary Python code, which has no ONNX equivalent. Replace it with "
            "built-in layers (or ops on symbolic tensors such as x + y)."
        )
    if isinstance(layer, PreprocessingLayer):
        return (
            f"{type(layer).__name__} is a preprocessing layer (vocabularies, hashing, text "
            "processing on NumPy arrays), which axonal does not export to ONNX. Run it before "
            "the exported model: export a model that starts where it ends."
        )
    if isinstance(layer, Model):
        return (
            "it is a subclassed model: its call() is Python code, which has no ONNX "
            "equivalent. Build it with Sequential or Model(inputs, outputs) instead."
        )
    return (
        f"axonal has no ONNX converter for {type(layer).__name__} layers (exportable: see "
        "axonal.export.EXPORTABLE_LAYERS)."
    )


# ---------------------------------------------------------------- models and wrappers


def convert_model(b: GraphBuilder, model, inputs: list) -> list:
    """Replay ``model`` (Sequential or functional) on ``inputs``; returns its output Values."""
    if isinstance(model, Sequential):
        if not model.layers:
            raise layer_error(model, "it has no layers.")
        values, single = list(inputs), True
        for layer in model.layers:
            values = convert_layer(b, layer, values, single)
            single = len(values) == 1
        return values
    graph = model.graph
    if graph is None:
        raise layer_error(model, _why_unsupported(model))
    env = {id(t): v for t, v in zip(graph.inputs, inputs, strict=True)}
    for node in graph.nodes:
        values = [env[id(t)] for t in node.inputs]
        args = values[: len(node.positional)]
        outs = convert_layer(b, node.layer, args, node.single, node.call_kwargs(values))
        for symbol, value in zip(node.outputs, outs, strict=True):
            env[id(symbol)] = value
    return [env[id(t)] for t in graph.outputs]


def convert_nested_model(b: GraphBuilder, layer, inputs: list) -> list:
    """A Sequential or functional model used as a layer of another model."""
    return convert_model(b, layer, inputs)


def convert_time_distributed(
    b: GraphBuilder, layer: recurrent.TimeDistributed, inputs: list
) -> list:
    """Fold time into the batch, run the inner layer, unfold: ``(B, T, ...)`` throughout."""
    x = inputs[0]
    step_shape = tuple(x.shape[2:])
    inner_out = layer.layer.compute_output_shape((None,) + step_shape)
    out_step = tuple(inner_out[1:]) if isinstance(inner_out, tuple) else None
    if any(d is None for d in step_shape) or out_step is None or any(d is None for d in out_step):
        raise layer_error(
            layer,
            f"ONNX export needs every axis after time known, got input shape {shape_str(x.shape)}.",
        )
    folded = b.op("Reshape", [x.name, b.ints((-1,) + step_shape)])
    step = Value(folded, (None,) + step_shape, x.dtype)
    (result,) = convert_layer(b, layer.layer, [step])
    # (batch, time) of the input, then the inner output's step shape
    batch_time = b.slice(b.op("Shape", [x.name]), [0], [2], [0])
    shape = b.op("Concat", [batch_time, b.ints(out_step)], axis=0)
    out = b.op("Reshape", [result.name, shape])
    return [Value(out, tuple(x.shape[:2]) + out_step, result.dtype, x.mask)]


CONVERTERS = {
    **onnx_layers.CONVERTERS,
    **onnx_recurrent.CONVERTERS,
    recurrent.TimeDistributed: convert_time_distributed,
    Model: convert_nested_model,
    Sequential: convert_nested_model,
}

# layers that take their inputs' dtypes as they are (indices, or values they pass on)
_KEEPS_INPUT_DTYPES = {
    Embedding,
    Model,
    Sequential,
    recurrent.TimeDistributed,
    onnx_layers.TensorOperation,
}


# ---------------------------------------------------------------- the whole model


def _input_specs(model) -> list:
    """``(name, batch shape, dtype)`` of each model input; raises when the model is unbuilt."""
    if not isinstance(model, Model):
        raise OnnxExportError(
            f"to_onnx expects an axonal model (Sequential or Model), got {type(model).__name__}."
        )
    if isinstance(model, Sequential):
        shape = model.input_shape
        if shape is None or not model.built:
            raise OnnxExportError(
                f"Model '{model.name}' is not built, so its input shape is unknown: start it "
                "with an Input(shape=...), pass input_shape to its first layer, or call "
                "model.build(input_shape) (fit and predict build it too) before exporting."
            )
        first = model.layers[0] if model.layers else None
        dtype = "int64" if getattr(first, "integer_inputs", False) else model.dtype
        return [("input", tuple(shape), dtype)]
    if model.graph is None:
        raise layer_error(model, _why_unsupported(model))
    return [(t.name, tuple(t.shape), t.dtype) for t in model.graph.inputs]


def build_model_proto(model, opset: int):
    """The ONNX ``ModelProto`` computing ``model.predict`` (raises before building anything
    for a model that cannot be exported)."""
    for layer in model.nested_layers() if isinstance(model, Model) else ():
        # refused by name before anything else: their string inputs have no ONNX type here
        if isinstance(layer, PreprocessingLayer):
            raise layer_error(layer, _why_unsupported(layer))
    specs = _input_specs(model)
    b = GraphBuilder(opset)
    graph_inputs, values = [], []
    for name, shape, dtype in specs:
        b.reserve(name)
        graph_inputs.append(b.value_info(name, dtype, shape, unknown=name))
        values.append(Value(name, shape, dtype))
    # claimed before any node is made, so no inner value can take an output's name
    output_names = [b.reserve(name) for name in _output_names(model, specs)]
    outputs = convert_model(b, model, values)
    graph_outputs = []
    for name, value in zip(output_names, outputs, strict=True):
        b.identity(value.name, name)
        graph_outputs.append(b.value_info(name, value.dtype, value.shape))
    doc = f"axonal model '{model.name}' ({type(model).__name__}), inference only."
    return b.make_model(graph_inputs, graph_outputs, model.name, doc)


def _computing_output_names(model) -> list:
    """``model.output_names``, but naming each output after the layer that computed it.

    A layer marked ``metadata_only`` (ColumnNames, which ``axonal train --data`` appends) is the
    identity and only carries metadata, so an output it passes on is named after the layer
    before it: ``dense_2``, not ``column_names``.
    """
    names = list(model.output_names)
    if isinstance(model, Sequential):
        computing = [layer for layer in model.layers if not getattr(layer, "metadata_only", False)]
        if computing and computing[-1] is not model.layers[-1]:
            names = [computing[-1].name]
        return names
    for i, tensor in enumerate(model.outputs):
        original = tensor
        while tensor.node is not None and getattr(tensor.node.layer, "metadata_only", False):
            tensor = tensor.node.inputs[0]
        if tensor is not original:
            names[i] = tensor.name if tensor.index == 0 else f"{tensor.name}_{tensor.index}"
    return names


def _output_names(model, specs: list) -> list:
    """The output names (see ``_computing_output_names``), made distinct from the input names
    and from each other where they clash."""
    taken = {name for name, _, _ in specs}
    names = []
    for name in _computing_output_names(model):
        unique = name
        while unique in taken:
            unique += "_output"
        taken.add(unique)
        names.append(unique)
    return names


# the names of the layer classes to_onnx converts (the refusal message points here)
EXPORTABLE_LAYERS = tuple(sorted(cls.__name__ for cls in [*CONVERTERS, *onnx_attention.CONVERTERS]))
