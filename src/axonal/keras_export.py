"""Write Keras 3 files: a ``.keras`` archive and a ``.weights.h5`` file that real Keras loads.

``Model.save("m.keras")`` writes what Keras 3's ``model.save`` writes: a zip of
``metadata.json``, ``config.json`` (every object as ``{"module", "class_name", "config",
"registered_name"}``, Keras's class names and config keys) and ``model.weights.h5``, an HDF5
file in Keras's layout: each layer's variables as ``layers/<group>/vars/0``, ``vars/1``… in
the layer's variable order, the group named after the layer's class in snake case
(``dense``, ``dense_1``…; never after the layer's own name), sub-objects (an LSTM's ``cell``,
a ``Bidirectional``'s ``forward_layer``, ``MultiHeadAttention``'s ``query_dense``…) in their own
groups, and the optimizer's variables as ``optimizer/vars/<i>`` in Keras's order (``iterations``,
``learning_rate``, then each trainable variable's slots). ``save_weights("m.weights.h5")``
writes that HDF5 file alone.

Everything is checked before a byte is written: a layer Keras does not have (``ColumnNames``,
a custom or ``Lambda`` layer…) or a subclassed model is refused with an error naming it. The
files are written through ``axonal.atomic.atomic_write``. HDF5 needs ``h5py``, the optional
extra ``keras-files``; without it saving to a Keras name stops with an error saying so.

Example:
    >>> model.save("model.keras")          # keras.saving.load_model("model.keras") reads it
    >>> model.save_weights("model.weights.h5")
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from axonal import registry
from axonal.atomic import atomic_write
from axonal.keras_format import KERAS_CONFIG, KERAS_METADATA, KERAS_WEIGHTS, to_snake_case

# the Keras version whose layout and config keys this writer follows
KERAS_VERSION = "3.15.1"

# axonal layer classes Keras 3 has under the same config (the class_name Keras writes)
_KERAS_CLASS = {"GroupedQueryAttention": "GroupQueryAttention"}
# registered axonal layers that have no Keras counterpart, or hold code: never exported
_NOT_EXPORTABLE = {
    "ColumnNames": "it is an axonal-only layer (Keras has no ColumnNames)",
    "TensorOperation": (
        "it is an operation on symbolic tensors (x + y, ops.*) inside a functional model; "
        "Keras stores those as operation objects axonal does not write. Use a layer "
        "(layers.Add, layers.Multiply…) instead"
    ),
    "Lambda": "a Lambda layer holds Python code, which a Keras file would need to run",
}
# config keys Keras 3.15 writes that axonal's get_config leaves out, with Keras's defaults
_COMMON_CONV = {"activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
_DEPTHWISE = {"activity_regularizer": None, "depthwise_constraint": None, "bias_constraint": None}
_SEPARABLE = {
    "activity_regularizer": None,
    "depthwise_constraint": None,
    "pointwise_constraint": None,
    "bias_constraint": None,
}
_RECURRENT = {
    "activity_regularizer": None,
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
}
_CELL = {
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
}
_NORM = {"beta_constraint": None, "gamma_constraint": None}
_KERAS_ONLY_KEYS: dict[str, dict[str, Any]] = {
    "Dense": {"quantization_config": None},
    "Embedding": {
        "activity_regularizer": None,
        "embeddings_constraint": None,
        "quantization_config": None,
    },
    "BatchNormalization": {
        **_NORM,
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": 0.99,
    },
    "LayerNormalization": _NORM,
    "GroupNormalization": _NORM,
    "Flatten": {"data_format": "channels_last"},
    "MultiHeadAttention": {"use_gate": False, "sliding_window": None, "activity_regularizer": None},
    "GroupedQueryAttention": {
        "use_gate": False,
        "sliding_window": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    },
    "PReLU": {"alpha_constraint": None},
    "DepthwiseConv1D": _DEPTHWISE,
    "DepthwiseConv2D": _DEPTHWISE,
    "SeparableConv1D": _SEPARABLE,
    "SeparableConv2D": _SEPARABLE,
    "LSTM": _RECURRENT,
    "GRU": _RECURRENT,
    "SimpleRNN": _RECURRENT,
    "RNN": {"stateful": False, "unroll": False},
    "LSTMCell": _CELL,
    "GRUCell": _CELL,
    "SimpleRNNCell": _CELL,
}
for _name in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose"):
    _KERAS_ONLY_KEYS[_name] = _COMMON_CONV
_KERAS_ONLY_KEYS["Conv3DTranspose"] = _COMMON_CONV
# config keys axonal writes that Keras 3.15 leaves out of these classes' configs; their values
# change nothing a file holds (a dropout seed; trainable on a layer without weights)
_AXONAL_ONLY_KEYS = {
    "SimpleRNN": ("seed",),
    "SpatialDropout1D": ("trainable",),
    "SpatialDropout2D": ("trainable",),
    "SpatialDropout3D": ("trainable",),
}
# initializer config keys Keras 3.15 writes that axonal's leave out
_AXES = {"input_axes": None, "output_axes": None}
_KERAS_ONLY_INITIALIZER_KEYS = {
    name: _AXES
    for name in (
        "GlorotNormal",
        "GlorotUniform",
        "HeNormal",
        "HeUniform",
        "LecunNormal",
        "LecunUniform",
        "VarianceScaling",
    )
}
# Keras layers built when made (``self.built = True`` in their constructor): Keras never
# records a build_config for them
_NO_BUILD_CONFIG = {
    "Activation", "ActivityRegularization", "AlphaDropout", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "Dropout", "ELU", "GaussianDropout",
    "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "Identity", "LeakyReLU", "Masking", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "ReLU",
    "Reshape", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "UnitNormalization",
}  # fmt: skip
# recurrent layers whose variables Keras keeps in a ``cell`` sub-object
_CELL_LAYERS = {
    "LSTM": "lstm_cell",
    "GRU": "gru_cell",
    "SimpleRNN": "simple_rnn_cell",
    "ConvLSTM1D": "conv_lstm_cell",
    "ConvLSTM2D": "conv_lstm_cell",
    "ConvLSTM3D": "conv_lstm_cell",
}
_MODEL_CLASSES = ("Sequential", "Model", "Functional")
# module Keras writes for a nested object, by the registry kind it belongs to
_MODULES = {
    "initializer": "keras.initializers",
    "regularizer": "keras.regularizers",
    "constraint": "keras.constraints",
    "loss": "keras.losses",
    "metric": "keras.metrics",
    "optimizer": "keras.optimizers",
    "schedule": "keras.optimizers.schedules",
}
# optimizers whose variables axonal writes in Keras's order: slots per trainable variable,
# interleaved as Keras's ``add_optimizer_variables`` creates them
_OPTIMIZER_SLOTS = {"Adam": ("m", "v"), "AdamW": ("m", "v"), "SGD": ("momentum",)}


class KerasExportError(ValueError):
    """The model holds something a Keras 3 file cannot describe (the message names it)."""


def require_h5py():
    """``h5py``, or an ImportError naming the ``keras-files`` extra."""
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "Writing a Keras file (.keras or .weights.h5) needs h5py for its HDF5 weights: "
            "install it with `pip install -e '.[keras-files]'` in the axonal checkout (or "
            "`pip install h5py`), or save to a .axonal file, which needs nothing extra."
        ) from None
    return h5py


# ------------------------------------------------------------------------------- checks


def _class_name(layer) -> str:
    return type(layer).__name__


def check_exportable(layer, where: str = "") -> None:
    """Refuse, naming it, any layer (nested ones included) a Keras 3 file cannot describe."""
    name = _class_name(layer)
    label = f"{where}layer '{layer.name}' ({name})"
    if name in _NOT_EXPORTABLE:
        raise KerasExportError(
            f"Cannot write a Keras file: {label} cannot be exported: {_NOT_EXPORTABLE[name]}. "
            "Save to a .axonal file instead."
        )
    try:
        registered = registry.lookup("layer", name)
    except ValueError:
        registered = None
    if registered is not type(layer):
        raise KerasExportError(
            f"Cannot write a Keras file: {label} is a custom or unregistered class that Keras "
            "does not have (Keras could not rebuild it without its code). Save to a .axonal "
            "file instead."
        )
    if type(layer).__module__.split(".")[0] != "axonal":
        raise KerasExportError(
            f"Cannot write a Keras file: {label} is a custom class (registered with axonal, "
            "but Keras has no such class and would need its code). Save to a .axonal file "
            "instead."
        )
    shapes = getattr(layer, "input_shape_built", None)
    if name == "GroupedQueryAttention" and isinstance(shapes, list) and len(shapes) > 1:
        if shapes[0][-1] != shapes[1][-1]:
            raise KerasExportError(
                f"Cannot write a Keras file: {label} attends from features of size "
                f"{shapes[0][-1]} to values of size {shapes[1][-1]}; Keras's "
                "GroupQueryAttention requires them equal and would not load it. Save to a "
                ".axonal file instead."
            )
    if name in ("Sequential", "Model", "Functional") and not _is_graph_model(layer):
        raise KerasExportError(
            f"Cannot write a Keras file: model '{layer.name}' is a subclassed model; Keras files "
            "describe Sequential and functional models only. Save to a .axonal file instead."
        )
    for child in _children(layer):
        check_exportable(child, f"{where}{layer.name} > ")


def _is_graph_model(model) -> bool:
    return _class_name(model) == "Sequential" or getattr(model, "graph", None) is not None


def _children(layer) -> list:
    """The layers a layer holds that Keras serialises with it."""
    name = _class_name(layer)
    if name in _MODEL_CLASSES:
        return list(layer.layers)
    found = []
    for attribute in ("layer", "forward_layer", "backward_layer", "cell"):
        child = layer.__dict__.get(attribute)
        if child is not None and hasattr(child, "weights") and hasattr(child, "name"):
            found.append(child)
    found.extend(layer.__dict__.get("cells") or [])
    return found


# ------------------------------------------------------------------------------- config


def _policy(dtype: Any) -> dict:
    name = dtype if isinstance(dtype, str) else "float32"
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": name},
        "registered_name": None,
    }


def _kind_of_key(key: str) -> str | None:
    for suffix, kind in (
        ("_initializer", "initializer"),
        ("_regularizer", "regularizer"),
        ("_constraint", "constraint"),
    ):
        if key.endswith(suffix):
            return kind
    return None


def keras_object(value: dict, kind: str) -> dict:
    """An axonal ``{class_name, config}`` as Keras serialises it (module and registered_name)."""
    config = dict(value.get("config") or {})
    if kind == "initializer":
        for key, default in _KERAS_ONLY_INITIALIZER_KEYS.get(value["class_name"], {}).items():
            config.setdefault(key, default)
    for key, item in list(config.items()):
        if isinstance(item, dict) and "class_name" in item and "config" in item:
            nested = "schedule" if key == "learning_rate" else (_kind_of_key(key) or kind)
            config[key] = keras_object(item, nested)
    return {
        "module": _MODULES.get(kind, "keras"),
        "class_name": value["class_name"],
        "config": config,
        "registered_name": None,
    }


def _layer_config(entry: dict, where: str, model=None) -> dict:
    """One axonal layer entry ``{class_name, config}`` as Keras writes it (nested converted)."""
    class_name = entry["class_name"]
    if class_name in _MODEL_CLASSES:
        return _model_config(entry, where, model)
    config: dict[str, Any] = {}
    dropped = _AXONAL_ONLY_KEYS.get(class_name, ())
    for key, value in (entry.get("config") or {}).items():
        if key in dropped:
            continue
        if key == "dtype":
            value = _policy(value)
        elif key in ("layer", "backward_layer", "cell") and isinstance(value, dict):
            value = _layer_config(value, where, _sub_layer(model, class_name, key))
        elif key == "cells" and isinstance(value, list):
            cells = list(getattr(model, "cells", None) or [None] * len(value))
            value = [_layer_config(c, where, o) for c, o in zip(value, cells, strict=True)]
        elif isinstance(value, dict) and "class_name" in value and "config" in value:
            kind = _kind_of_key(key)
            if kind is None:
                raise KerasExportError(
                    f"Cannot write a Keras file: {where}layer '{config.get('name')}' "
                    f"({class_name}) has the setting {key}={value!r}, which Keras's config "
                    "would not read back."
                )
            value = keras_object(value, kind)
        elif key == "batch_input_shape":
            key = "batch_shape"
        elif key.endswith("activation") and isinstance(value, str):
            _check_activation(value, f"{where}layer '{config.get('name')}' ({class_name})")
        config[key] = value
    for key, default in _KERAS_ONLY_KEYS.get(class_name, {}).items():
        config.setdefault(key, default)
    out = {
        "module": "keras.layers",
        "class_name": _KERAS_CLASS.get(class_name, class_name),
        "config": config,
        "registered_name": None,
    }
    build = _build_config(model, class_name)
    if build is not None:
        out["build_config"] = build
    return out


def _check_activation(name: str, label: str) -> None:
    """Refuse an activation registered by the user: Keras knows only its own by name."""
    try:
        function = registry.lookup("activation", name)
    except ValueError:
        return  # an unknown name could not have been built; nothing of the user's to name
    if getattr(function, "__module__", "axonal").split(".")[0] != "axonal":
        raise KerasExportError(
            f"Cannot write a Keras file: {label} uses the custom activation {name!r}, which "
            "Keras does not have. Save to a .axonal file instead."
        )


def _sub_layer(layer, class_name: str, key: str):
    """The object behind a nested layer config (Bidirectional's ``layer`` is its forward one)."""
    if layer is None:
        return None
    if class_name == "Bidirectional":
        return getattr(layer, "forward_layer" if key == "layer" else key, None)
    return getattr(layer, key, None)


# layers Keras builds from several shapes: the names of their build() arguments
_BUILD_ARGUMENTS = {
    "MultiHeadAttention": ("query_shape", "value_shape", "key_shape"),
    "GroupedQueryAttention": ("query_shape", "value_shape", "key_shape"),
}


def _shape_list(shape) -> Any:
    if isinstance(shape, list):
        return [_shape_list(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def _build_config(layer, class_name: str) -> dict | None:
    """Keras's ``build_config``: the input shape the layer was built for (Keras builds the
    layer from it before reading its weights), or None for a layer never built."""
    shape = getattr(layer, "input_shape_built", None) if layer is not None else None
    if shape is None or class_name in _NO_BUILD_CONFIG:
        return None
    names = _BUILD_ARGUMENTS.get(class_name)
    if names is not None and isinstance(shape, list):
        shapes = dict(zip(names, _shape_list(shape), strict=False))
        return {"shapes_dict": shapes}
    return {"input_shape": _shape_list(shape)}


def _input_entry(name: str, shape: list, dtype: Any) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": list(shape),
            "dtype": dtype if isinstance(dtype, str) else "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
            "optional": False,
        },
        "registered_name": None,
    }


def _tensor(ref: list, shapes: dict) -> dict:
    """A Keras tensor reference (the layer, node and tensor index it comes from)."""
    shape, dtype = shapes.get(tuple(ref), (None, None))
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": shape, "dtype": dtype, "keras_history": [ref[0], ref[1], ref[2]]},
    }


def _tensor_shapes(model) -> dict:
    """``(layer name, node index, tensor index) -> (shape, dtype)`` of a functional model's
    symbolic tensors: Keras rebuilds each reference as a tensor of that shape."""
    graph = model.graph
    found = {}
    if graph is None:
        return found

    def describe(tensor):
        dtype = tensor.dtype if isinstance(tensor.dtype, str) else np.dtype(tensor.dtype).name
        return ([None if d is None else int(d) for d in tensor.shape], dtype)

    for tensor in graph.inputs:
        found[(tensor.name, 0, 0)] = describe(tensor)
    for node in graph.nodes:
        index = node.layer._symbolic_nodes.index(node)
        for i, tensor in enumerate(node.outputs):
            found[(node.layer.name, index, i)] = describe(tensor)
    return found


def _node(call: dict, shapes: dict) -> dict:
    """One axonal inbound call as Keras's ``{"args", "kwargs"}`` node."""
    refs = list(call.get("args") or [])
    extra = int(call.get("extra_args", 0))
    first, rest = refs[: len(refs) - extra], refs[len(refs) - extra :]
    if call.get("single", True):
        head = _tensor(first[0], shapes)
    else:
        head = [_tensor(r, shapes) for r in first]
    kwargs = dict(call.get("kwargs") or {})
    for key, value in (call.get("tensor_kwargs") or {}).items():
        if value and isinstance(value[0], str):
            kwargs[key] = _tensor(value, shapes)
        else:
            kwargs[key] = [None if v is None else _tensor(v, shapes) for v in value]
    return {"args": [head, *[_tensor(r, shapes) for r in rest]], "kwargs": kwargs}


def _call_parents(call: dict) -> list:
    """The references a call reads, in Keras's order (arguments, then keyword tensors)."""
    refs = [tuple(r) for r in call.get("args") or []]
    for value in (call.get("tensor_kwargs") or {}).values():
        if value and isinstance(value[0], str):
            refs.append(tuple(value))
        else:
            refs.extend(tuple(v) for v in value if v is not None)
    return refs


def keras_layer_order(config: dict) -> list[str]:
    """The names of a functional config's layers (inputs included) in the order Keras 3's
    ``Functional.layers`` lists them once it rebuilds the model: by depth from the outputs,
    deepest first, ties in the order a depth-first walk from the outputs meets them
    (``keras.src.ops.function.map_graph``). Keras names the weight groups in this order."""
    entries = {entry["name"]: entry for entry in config["layers"]}
    inputs = [tuple(r) for r in _flat_refs(config["input_layers"])]
    outputs = [tuple(r) for r in _flat_refs(config["output_layers"])]
    finished: set = set()
    nodes: list = []
    indices: dict[str, int] = {}

    def parents(key):
        entry = entries[key[0]]
        if entry["class_name"] == "InputLayer":
            return []
        return [(r[0], r[1]) for r in _call_parents(entry["inbound_nodes"][key[1]])]

    def visit(ref):
        key = (ref[0], ref[1])
        if key in finished:
            return
        is_input = entries[ref[0]]["class_name"] == "InputLayer"
        if not is_input and ref in inputs:
            finished.add(key)
            return
        indices.setdefault(ref[0], len(indices))
        if not is_input:
            for parent in _call_parents(entries[ref[0]]["inbound_nodes"][ref[1]]):
                visit(parent)
        finished.add(key)
        nodes.append(key)

    for ref in outputs:
        visit(ref)
    in_graph = set(nodes)
    node_depths: dict = {}
    layer_depths: dict[str, int] = {}
    for key in reversed(nodes):
        depth = node_depths.setdefault(key, 0)
        depth = max(depth, layer_depths.get(key[0], 0))
        layer_depths[key[0]] = depth
        node_depths[key] = depth
        for parent in parents(key):
            if parent in in_graph:
                node_depths[parent] = max(depth + 1, node_depths.get(parent, 0))
    for ref in inputs:
        if ref[0] not in layer_depths:
            layer_depths[ref[0]] = 0
            indices[ref[0]] = -1
    return sorted(layer_depths, key=lambda name: (-layer_depths[name], indices[name]))


def _flat_refs(value) -> list:
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _model_config(entry: dict, where: str, model=None) -> dict:
    """An axonal Sequential or functional config as Keras writes it (``model``: the axonal
    model it describes, for its tensors' shapes)."""
    config = entry["config"]
    name = config.get("name")
    where = f"{where}{name} > "
    if entry["class_name"] == "Sequential":
        shape = config.get("batch_input_shape")
        if shape is None:
            raise KerasExportError(
                f"Cannot write a Keras file: Sequential model '{name}' is not built; give it "
                "an Input (or call it on data) first."
            )
        layers = [
            _input_entry(
                f"{name}_input" if where.count(">") > 1 else "input_layer",
                shape,
                config.get("dtype"),
            )
        ]
        inner = [None] * len(config["layers"]) if model is None else list(model.layers)
        layers += [
            _layer_config(layer, where, sub)
            for layer, sub in zip(config["layers"], inner, strict=True)
        ]
        out = {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": name,
                "trainable": config.get("trainable", True),
                "dtype": _policy(config.get("dtype")),
                "layers": layers,
                "build_input_shape": list(shape),
            },
            "registered_name": None,
            "build_config": {"input_shape": list(shape)},
            "compile_config": {},
        }
    else:
        layers = []
        shapes = {} if model is None else _tensor_shapes(model)
        by_name = {} if model is None else {layer.name: layer for layer in model.layers}
        for layer in config["layers"]:
            if layer["class_name"] == "InputLayer":
                inner = layer["config"]
                converted = _input_entry(
                    layer["name"], inner["batch_input_shape"], inner.get("dtype")
                )
            else:
                converted = _layer_config(layer, where, by_name.get(layer["name"]))
            converted["name"] = layer["name"]
            converted["inbound_nodes"] = [
                _node(call, shapes) for call in layer.get("inbound_nodes", [])
            ]
            layers.append(converted)

        def refs(items, single):
            items = [list(r) for r in items]
            return items[0] if single else items

        out = {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": {
                "name": name,
                "trainable": config.get("trainable", True),
                "layers": layers,
                "input_layers": refs(config["input_layers"], config.get("single_input", True)),
                "output_layers": refs(config["output_layers"], config.get("single_output", True)),
            },
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
            "compile_config": {},
        }
    return out


def keras_config(model) -> dict:
    """The ``config.json`` Keras 3 writes for ``model`` (compile config not included)."""
    check_exportable(model)
    return _model_config(registry.serialize(model), "", model)


def _loss_entry(loss) -> Any:
    if loss is None:
        return None
    fn = getattr(loss, "fn", None)
    if type(loss).__name__ == "LossFunctionWrapper" and fn is not None:
        return getattr(fn, "__name__", None)
    return keras_object(registry.serialize(loss), "loss")


def _metric_entry(spec) -> Any:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        return keras_object(spec, "metric")
    if isinstance(spec, type):
        return {
            "module": "keras.metrics",
            "class_name": spec.__name__,
            "config": {},
            "registered_name": None,
        }
    if hasattr(spec, "get_config") and not callable(getattr(spec, "fn", None)):
        return keras_object(registry.serialize(spec), "metric")
    name = getattr(spec, "__name__", None)
    if name:
        return name
    raise KerasExportError(f"Cannot write a Keras file: the metric {spec!r} has no name.")


def compile_config(model) -> dict | None:
    """Keras's ``compile_config`` for a compiled model (None when it is not compiled)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    heads = model.output_heads
    single = len(heads) == 1
    losses = [_loss_entry(head.loss) for head in heads]
    weights = [float(head.weight) for head in heads]
    metrics = [[_metric_entry(s) for s in head.metric_specs] for head in heads]
    weighted = [[_metric_entry(s) for s in head.weighted_specs] for head in heads]
    return {
        "optimizer": keras_object(registry.serialize(model.optimizer), "optimizer"),
        "loss": losses[0] if single else losses,
        "loss_weights": None
        if all(w == 1.0 for w in weights)
        else (weights[0] if single else weights),
        "metrics": (metrics[0] if single else metrics) if any(metrics) else None,
        "weighted_metrics": (weighted[0] if single else weighted) if any(weighted) else None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


# ------------------------------------------------------------------------------- weights


def _unique(name: str, used: dict[str, int]) -> str:
    """Keras's ``_get_unique_name``: ``dense``, ``dense_1``, ``dense_2``…"""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _arrays(variables) -> list:
    # the variables themselves: their arrays are read only while the file is written
    return list(variables)


def _layer_groups(layer, path: str) -> list[tuple[str, str, list]]:
    """``(group path, object name, variables)`` for a layer and the sub-objects Keras saves,
    in Keras's variable order."""
    name = _class_name(layer)
    weights = list(layer.weights)
    if name in _MODEL_CLASSES:
        return _model_groups(layer, path)
    if name in _CELL_LAYERS:
        return [(path, layer.name, []), (f"{path}/cell", _CELL_LAYERS[name], _arrays(weights))]
    if name == "RNN":
        return [(path, layer.name, []), *_layer_groups(layer.cell, f"{path}/cell")]
    if name == "StackedRNNCells":
        groups = [(path, layer.name, [])]
        used: dict[str, int] = {}
        for cell in layer.cells:
            sub = _unique(to_snake_case(_class_name(cell)), used)
            groups += _layer_groups(cell, f"{path}/cells/{sub}")
        return groups
    if name == "Bidirectional":
        return [
            (path, layer.name, []),
            *_layer_groups(layer.forward_layer, f"{path}/forward_layer"),
            *_layer_groups(layer.backward_layer, f"{path}/backward_layer"),
        ]
    if name == "TimeDistributed":
        return [(path, layer.name, []), *_layer_groups(layer.layer, f"{path}/layer")]
    if name in ("MultiHeadAttention", "GroupQueryAttention", "GroupedQueryAttention"):
        prefix = "" if name == "MultiHeadAttention" else "_"
        per = 2 if layer.get_config().get("use_bias", True) else 1
        parts = (("query", "query"), ("key", "key"), ("value", "value"))
        parts += (("output", "attention_output"),)
        groups = [(path, layer.name, [])]
        for i, (part, label) in enumerate(parts):
            chunk = weights[i * per : (i + 1) * per]
            groups.append((f"{path}/{prefix}{part}_dense", label, _arrays(chunk)))
        groups.append((f"{path}/_dropout_layer", "dropout", []))
        groups.append((f"{path}/_softmax", "softmax", []))
        return groups
    return [(path, layer.name, _arrays(weights))]


def _model_groups(model, path: str) -> list[tuple[str, str, list]]:
    """The groups of a Sequential or functional model (its input layers counted, as Keras)."""
    prefix = f"{path}/" if path else ""
    groups = [(path, model.name, [])]
    used: dict[str, int] = {}
    if _class_name(model) == "Sequential":
        ordered = list(model.layers)
    else:
        # Keras lists a functional model's layers in its own graph order, its InputLayers
        # among them: the groups are named (dense, dense_1…) in that order
        by_name = {layer.name: layer for layer in model.layers}
        ordered = [by_name.get(name, name) for name in keras_layer_order(model.get_config())]
    for layer in ordered:
        if isinstance(layer, str):
            group = _unique("input_layer", used)
            groups.append((f"{prefix}layers/{group}", layer, []))
            continue
        # Keras names the group after its Python class (GroupedQueryAttention), not the alias
        class_name = _class_name(layer)
        class_name = "Functional" if class_name == "Model" else class_name
        group = _unique(to_snake_case(class_name), used)
        groups += _layer_groups(layer, f"{prefix}layers/{group}")
    return groups


def keras_trainable_order(model) -> list:
    """The model's trainable weights in the order of Keras's ``model.trainable_variables``
    (layers in Keras's graph order), which its optimizer variables follow."""
    trainable = {id(v) for v in model.trainable_weights}
    return [
        v for _, _, variables in _model_groups(model, "") for v in variables if id(v) in trainable
    ]


def optimizer_slots(optimizer) -> tuple[str, ...] | None:
    """The axonal slot names Keras stores per trainable variable, in its order, for an
    optimizer whose Keras variables axonal knows; None for any other."""
    slots = _OPTIMIZER_SLOTS.get(type(optimizer).__name__)
    if slots is None:
        return None
    config = optimizer.get_config()
    if getattr(optimizer, "amsgrad", False) or isinstance(config.get("learning_rate"), dict):
        return None
    if type(optimizer).__name__ == "SGD" and not optimizer.momentum:
        return ()
    return slots


def _optimizer_arrays(model) -> list[np.ndarray] | None:
    """The optimizer's variables in Keras's order, or None where axonal does not know it."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    optimizer = model.optimizer
    slots = optimizer_slots(optimizer)
    if slots is None:
        return None
    config = optimizer.get_config()
    state = optimizer.get_state()
    arrays = [
        np.asarray(state["iterations"], dtype=np.int64),
        np.asarray(config["learning_rate"], dtype=np.float32),
    ]
    for variable in keras_trainable_order(model):
        for slot in slots:
            value = state.get(f"{variable.path}/{slot}")
            # a slot not made yet is Keras's freshly built one: zeros
            arrays.append(np.zeros_like(variable.data) if value is None else np.asarray(value))
    return arrays


def _write_h5(handle, groups, optimizer: tuple[str, list] | None) -> None:
    """The HDF5 layout of Keras's ``H5IOStore`` into an open binary file."""
    h5py = require_h5py()
    with h5py.File(handle, "w") as h5:
        for path, name, arrays in groups:
            group = h5.require_group(f"{path}/vars" if path else "vars")
            group.attrs["name"] = name
            for i, variable in enumerate(arrays):
                group.create_dataset(str(i), data=np.asarray(variable.data))
        if optimizer is not None:
            group = h5.require_group("optimizer/vars")
            group.attrs["name"] = optimizer[0]
            for i, array in enumerate(optimizer[1]):
                group.create_dataset(str(i), data=array)


def _h5_parts(model):
    check_exportable(model)
    if not model.built:
        raise KerasExportError(
            f"Cannot write a Keras file: model '{model.name}' is not built, so it has no "
            "weights yet; give it an Input (or call it on data) first."
        )
    groups = _model_groups(model, "")
    arrays = _optimizer_arrays(model)
    optimizer = None if arrays is None else (model.optimizer.name, arrays)
    return groups, optimizer


def weights_h5_bytes(model) -> bytes:
    """``model.weights.h5`` as Keras 3 writes it (layers and optimizer variables)."""
    groups, optimizer = _h5_parts(model)
    buffer = io.BytesIO()
    _write_h5(buffer, groups, optimizer)
    return buffer.getvalue()


def save_keras_archive(model, path: str | os.PathLike) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive at ``path``, atomically.

    Raises:
        KerasExportError: a layer or setting Keras cannot describe (named), before writing.
        ImportError: h5py is not installed (the ``keras-files`` extra).
    """
    require_h5py()
    document = keras_config(model)
    document["compile_config"] = compile_config(model) or {}
    weights = weights_h5_bytes(model)
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    config_text = json.dumps(document, default=_json_default)
    with atomic_write(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            archive.writestr(KERAS_METADATA, json.dumps(metadata))
            archive.writestr(KERAS_CONFIG, config_text)
            archive.writestr(KERAS_WEIGHTS, weights, compress_type=zipfile.ZIP_STORED)


def save_keras_weights(model, path: str | os.PathLike) -> None:
    """Write ``model``'s weights as Keras 3's ``.weights.h5`` at ``path``, atomically."""
    require_h5py()
    groups, optimizer = _h5_parts(model)
    with atomic_write(path, "wb") as handle:
        _write_h5(handle, groups, optimizer)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value.")
