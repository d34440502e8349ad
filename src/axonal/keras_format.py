"""Import a Keras 3 ``.keras`` archive: its ``config.json`` and ``model.weights.h5``.

A Keras 3 archive is a zip holding ``metadata.json``, ``config.json`` (the model serialised as
``{"module", "class_name", "config", "registered_name"}``) and ``model.weights.h5`` (HDF5: the
variables of the layer that Keras walks as ``layers/<group>`` stored as ``vars/0``, ``vars/1``…
in the layer's variable order, sub-objects such as an LSTM's ``cell`` in their own groups).

Nothing in the file is executed: class names resolve only through ``axonal.registry`` (the
``module`` a config names is never imported), a ``Lambda`` or a class axonal does not have is
refused with an error naming it, config keys axonal does not know are dropped only when their
value cannot change what the model computes, and every weight's shape and dtype is checked
against the rebuilt model before any weight is assigned (each layer's group is matched to the
layer of the same name). A ``compile_config`` is restored through the registry, with the
optimizer's ``optimizer/vars`` where axonal knows their order (Adam, AdamW, SGD). The same
reader serves ``load_weights`` of a Keras ``.weights.h5``; ``axonal.keras_export`` writes
both kinds of file. The weights are read with ``h5py``,
an optional dependency (``pip install -e '.[keras-files]'`` in the checkout).

Example:
    >>> model = axonal.saving.load_model("keras_model.keras")  # detected and imported
"""

from __future__ import annotations

import inspect
import io
import re
import warnings
import zipfile
from typing import Any

import numpy as np

from axonal import registry
from axonal.layers.base import Layer

KERAS_CONFIG = "config.json"
KERAS_METADATA = "metadata.json"
KERAS_WEIGHTS = "model.weights.h5"
# the first bytes of every HDF5 file (a Keras .weights.h5)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_MEMBERS = (KERAS_CONFIG, KERAS_METADATA, KERAS_WEIGHTS, "assets")

# keys of Keras's serialised objects that carry no meaning for axonal
_WRAPPER_KEYS = ("module", "registered_name", "shared_object_id", "build_config")
# config keys axonal may drop whatever their value: they affect only initial randomness,
# bookkeeping or a feature whose "off" setting is checked separately
_ALWAYS_HARMLESS = {
    "seed",
    "autocast",
    "renorm_clipping",
    "renorm_momentum",
    "sparse",
    "ragged",
    "optional",
    "input_axes",
    "output_axes",
    "lora_rank",
    "lora_alpha",
}
# config keys axonal may drop when they hold exactly one of these values (Keras's "off" value)
_HARMLESS_VALUES: dict[str, tuple] = {
    "data_format": ("channels_last", None),
    "renorm": (False,),
    "stateful": (False,),
    "unroll": (False,),
    "zero_output_for_mask": (False,),
    "synchronized": (False,),
    "go_backwards": (False,),
    "groups": (1,),
    "use_gate": (False,),
}
# classes that hold code or state axonal will not rebuild from a file
_REFUSED = {
    "Lambda": "a Lambda layer holds Python code, and axonal never runs code from a file",
    "TFSMLayer": "a TFSMLayer wraps a TensorFlow SavedModel",
}


# lookups whose learned vocabulary a .keras archive stores outside the config
_VOCABULARY_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization")


class KerasImportError(ValueError):
    """A Keras archive describes something axonal cannot import (the message names it)."""


def is_keras_archive(names) -> bool:
    """Whether a zip's member names are those of a Keras 3 ``.keras`` archive."""
    names = set(names)
    return KERAS_METADATA in names and KERAS_WEIGHTS in names and KERAS_CONFIG in names


def to_snake_case(name: str) -> str:
    """Keras's group naming: ``Conv2D`` → ``conv2d``, ``BatchNormalization`` →
    ``batch_normalization``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------------------- config


def _accepted_arguments(cls: type) -> set[str] | None:
    """Keyword names the constructors along ``cls``'s MRO accept; None when any takes
    arbitrary keywords beyond the base Layer."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for parameter in parameters:
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                names.add(parameter.name)
        if klass is Layer:
            break
    names.discard("self")
    return names


def _plain_object(value: dict, where: str) -> Any:
    """A Keras-serialised initializer/regularizer/policy as axonal's ``{class_name, config}``."""
    class_name = value.get("class_name")
    if class_name in ("DTypePolicy", "DTypePolicyMap", "FloatDTypePolicy"):
        name = (value.get("config") or {}).get("name", "float32")
        if name not in ("float32", "float64"):
            raise KerasImportError(f"{where}: the dtype policy {name!r} is not supported.")
        return name
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise KerasImportError(f"{where}: the config of {class_name!r} is not an object.")
    config = {k: v for k, v in config.items() if k not in _ALWAYS_HARMLESS}
    return {"class_name": class_name, "config": config}


def _is_serialized(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _layer_config(entry: dict, where: str) -> dict:
    """One Keras layer entry as axonal's ``{class_name, config}`` (nested layers converted)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise KerasImportError(f"{where}: a layer entry has no class_name.")
    class_name = entry["class_name"]
    if class_name in _REFUSED:
        name = (entry.get("config") or {}).get("name", "?")
        raise KerasImportError(
            f"{where}: layer '{name}' is a {class_name}, which axonal cannot import: "
            f"{_REFUSED[class_name]}."
        )
    if class_name in ("Functional", "Model", "Sequential"):
        return _model_config(entry, where)
    try:
        cls = registry.lookup("layer", class_name)
    except ValueError:
        name = (entry.get("config") or {}).get("name", "?")
        raise KerasImportError(
            f"{where}: layer '{name}' has class {class_name!r}, which axonal does not have "
            "(nothing from the file is imported or run). Registered layers: "
            f"{', '.join(registry.registered_names('layer'))}."
        ) from None
    raw = entry.get("config") or {}
    if not isinstance(raw, dict):
        raise KerasImportError(f"{where}: the config of {class_name!r} is not an object.")
    if class_name in _VOCABULARY_LAYERS and raw.get("vocabulary") is None:
        # an adapted Keras lookup keeps its vocabulary in the archive's assets/ files
        raise KerasImportError(
            f"{where}: layer '{raw.get('name', '?')}' ({class_name}) keeps its vocabulary in the "
            "archive's assets, which axonal does not read; build the layer in axonal with "
            "vocabulary=layer.get_vocabulary() instead."
        )
    accepted = _accepted_arguments(cls)
    config: dict[str, Any] = {}
    layer_where = f"{where}: layer '{raw.get('name', '?')}' ({class_name})"
    for key, value in raw.items():
        if key in ("layer", "backward_layer") and _is_serialized(value):
            value = _layer_config(value, where)
        elif key == "dtype" and isinstance(value, dict):
            value = _plain_object(value, layer_where)
        elif _is_serialized(value):
            value = _plain_object(value, f"{layer_where}, {key}")
        if key == "batch_shape":
            key = "batch_input_shape"
        if key in accepted:
            config[key] = value
            continue
        if key in _ALWAYS_HARMLESS or value is None:
            continue
        if key in _HARMLESS_VALUES and _same(value, _HARMLESS_VALUES[key]):
            continue
        raise KerasImportError(
            f"{layer_where}: the setting {key}={value!r} is not supported by axonal's "
            f"{class_name}, and ignoring it would change the model."
        )
    return {"class_name": class_name, "config": config}


def _same(value, options) -> bool:
    return any(value == option and type(value) is type(option) for option in options)


def _is_tensor(value: Any) -> bool:
    """Whether a config value is a Keras tensor reference (a call's tensor argument)."""
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ref(value: Any, where: str) -> list:
    """``[layer_name, node_index, tensor_index]`` from a Keras tensor reference."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        value = (value.get("config") or {}).get("keras_history")
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    ):
        return [value[0], value[1], value[2]]
    raise KerasImportError(f"{where}: {value!r} is not a tensor reference this importer reads.")


def _refs(value: Any, where: str) -> tuple[list, bool]:
    """Flat references and whether the structure was one tensor (not a list)."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [_ref(value, where)], True
    if isinstance(value, (list, tuple)):
        return [_ref(item, where) for item in value], False
    return [_ref(value, where)], True


def _input_entry(entry: dict, where: str) -> dict:
    config = entry.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(shape, list) or not shape:
        raise KerasImportError(f"{where}: input layer {config.get('name')!r} has no batch_shape.")
    if config.get("sparse") or config.get("ragged"):
        raise KerasImportError(f"{where}: sparse or ragged inputs are not supported.")
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = _plain_object(dtype, where)
    name = entry.get("name") or config.get("name")
    return {
        "class_name": "InputLayer",
        "name": name,
        "config": {"batch_input_shape": shape, "dtype": dtype or "float32", "name": name},
        "inbound_nodes": [],
    }


def _model_config(document: dict, where: str) -> dict:
    """A Keras ``Sequential`` or ``Functional`` config as axonal's model config."""
    class_name = document.get("class_name")
    config = document.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise KerasImportError(
            f"{where}: the {class_name} config has no layer list; a subclassed Keras model "
            "cannot be imported (its code is not in the file)."
        )
    name = config.get("name")
    if class_name == "Sequential":
        layers = []
        batch_shape = config.get("build_input_shape")
        for entry in config["layers"]:
            if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
                batch_shape = _input_entry(entry, where)["config"]["batch_input_shape"]
                continue
            layers.append(_layer_config(entry, where))
        out = {"name": name, "trainable": config.get("trainable", True), "layers": layers}
        if batch_shape is not None:
            out["batch_input_shape"] = batch_shape
        return {"class_name": "Sequential", "config": out}
    entries = []
    for entry in config["layers"]:
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            entries.append(_input_entry(entry, where))
            continue
        converted = _layer_config(entry, where)
        converted["name"] = entry.get("name") or converted["config"].get("name")
        calls = []
        for node in entry.get("inbound_nodes") or []:
            node_where = f"{where}: a call of layer {converted['name']!r}"
            args = node.get("args") or []
            kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
            # a tensor given by keyword (attention_mask=mask) is a reference, like an argument
            tensor_kwargs = {}
            for key, value in kwargs.items():
                if _is_tensor(value):
                    tensor_kwargs[key] = _ref(value, node_where)
                elif (
                    isinstance(value, list)
                    and any(_is_tensor(v) for v in value)
                    and all(v is None or _is_tensor(v) for v in value)
                ):
                    tensor_kwargs[key] = [None if v is None else _ref(v, node_where) for v in value]
            kwargs = {k: v for k, v in kwargs.items() if k not in tensor_kwargs}
            for key, value in kwargs.items():
                if isinstance(value, (dict, list)):
                    raise KerasImportError(
                        f"{node_where}: the keyword argument {key}={value!r} is not supported."
                    )
            if not args:
                raise KerasImportError(f"{node_where}: the call has no positional argument.")
            refs, single = _refs(args[0], node_where)
            # positional tensors after the first (an endpoint layer's targets) stay separate
            extra = [_ref(arg, node_where) for arg in args[1:]]
            call = {"args": refs + extra, "single": single, "kwargs": kwargs}
            if extra:
                call["extra_args"] = len(extra)
            if tensor_kwargs:
                call["tensor_kwargs"] = tensor_kwargs
            calls.append(call)
        converted["inbound_nodes"] = calls
        entries.append(converted)
    inputs, single_input = _refs(config.get("input_layers"), f"{where}: input_layers")
    outputs, single_output = _refs(config.get("output_layers"), f"{where}: output_layers")
    out = {
        "name": name,
        "trainable": config.get("trainable", True),
        "layers": entries,
        "input_layers": inputs,
        "output_layers": outputs,
        "single_input": single_input,
        "single_output": single_output,
    }
    return {"class_name": "Functional", "config": out}


def model_from_keras_config(document: dict, where: str = "<config>"):
    """Build (fresh weights) the axonal model a Keras 3 ``config.json`` describes."""
    if not isinstance(document, dict) or document.get("class_name") not in (
        "Sequential",
        "Functional",
        "Model",
    ):
        found = document.get("class_name") if isinstance(document, dict) else document
        raise KerasImportError(
            f"{where}: the archive holds a {found!r}; axonal imports Sequential and functional "
            "Keras models."
        )
    config = _model_config(document, where)
    try:
        model = registry.deserialize("layer", config)
    except KerasImportError:
        raise
    except Exception as exc:
        at = registry.config_path(exc)
        at = f" at {at}" if at else ""
        raise KerasImportError(
            f"{where}: the model cannot be rebuilt{at} ({type(exc).__name__}: {exc})."
        ) from exc
    shape = config["config"].get("batch_input_shape")
    if not model.built and shape is not None:
        model.build(tuple(shape))
    return model


# ------------------------------------------------------------------------------- weights


def _require_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "Reading a Keras .keras archive needs h5py for its model.weights.h5: install it "
            "with `pip install -e '.[keras-files]'` in the axonal checkout (or `pip install h5py`)."
        ) from None
    return h5py


def _child(group, name: str, h5py, where: str):
    """``group[name]`` when it is a plain member of this file (no external or soft link)."""
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise KerasImportError(f"{where}: '{name}' is a link to elsewhere; refusing it.")
    return group[name]


def _group_variables(group, h5py, where: str) -> list:
    """The datasets of one Keras object: ``vars/0…`` first, then its sub-objects' datasets."""
    found = []
    variables = _child(group, "vars", h5py, where)
    if variables is not None:
        keys = sorted(variables.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        for key in keys:
            if not key.isdigit():
                raise KerasImportError(f"{where}: unexpected member 'vars/{key}'.")
            dataset = _child(variables, key, h5py, where)
            if not isinstance(dataset, h5py.Dataset):
                raise KerasImportError(f"{where}: 'vars/{key}' is not a dataset.")
            found.append((f"{group.name}/vars/{key}", dataset))
    # an RNN's cell, a wrapper's layer, Bidirectional's forward then backward layer
    # ... and MultiHeadAttention's projections in its weight order
    preferred = [
        "cell",
        "layer",
        "forward_layer",
        "backward_layer",
        "query_dense",
        "key_dense",
        "value_dense",
        "output_dense",
        "_query_dense",
        "_key_dense",
        "_value_dense",
        "_output_dense",
    ]
    children = [k for k in group.keys() if k != "vars"]
    children.sort(key=lambda k: (preferred.index(k) if k in preferred else len(preferred), k))
    for key in children:
        if key == "layers":
            raise KerasImportError(f"{where}: nested model weights are read through its config.")
        child = _child(group, key, h5py, where)
        if isinstance(child, h5py.Group):
            found.extend(_group_variables(child, h5py, where))
    return found


def _layer_groups(group, entries: list, skip_inputs: bool, h5py, where: str, outer=()) -> list:
    """``(layer name path, datasets)`` for every layer of a model config, its groups named as
    Keras names them (class in snake case, numbered in the config's order)."""
    found = []
    used: dict[str, int] = {}
    layers_group = _child(group, "layers", h5py, where)
    for entry in entries:
        class_name = entry.get("class_name", "")
        if skip_inputs and class_name == "InputLayer":
            continue
        name = to_snake_case(class_name)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        sub = None if layers_group is None else _child(layers_group, name, h5py, where)
        layer_name = entry.get("name") or (entry.get("config") or {}).get("name")
        if sub is None or class_name == "InputLayer":
            continue
        if class_name in ("Sequential", "Functional", "Model"):
            inner = entry.get("config") or {}
            found.extend(
                _layer_groups(
                    sub,
                    inner.get("layers") or [],
                    class_name == "Sequential",
                    h5py,
                    where,
                    (*outer, layer_name),
                )
            )
        else:
            found.append(((*outer, layer_name), _group_variables(sub, h5py, where)))
    return found


def _find_layer(model, names: tuple, where: str):
    layer = model
    for name in names:
        match = [child for child in getattr(layer, "layers", []) if child.name == name]
        if len(match) != 1:
            raise KerasImportError(f"{where}: the model has no layer '{'/'.join(names)}'.")
        layer = match[0]
    return layer


def read_keras_weights(model, h5_bytes: bytes, document: dict, where: str) -> dict:
    """The model's weights from ``model.weights.h5``, keyed by the axonal weight path.

    Each layer's datasets are matched to the model's layer of the same name (in order within
    the layer); every dataset's shape and dtype is checked before it is read.
    """
    h5py = _require_h5py()
    try:
        handle = h5py.File(io.BytesIO(h5_bytes), "r")
    except Exception as exc:
        raise KerasImportError(f"{where}: not a readable HDF5 file ({exc}).") from None
    with handle:
        entries = (document.get("config") or {}).get("layers") or []
        skip_inputs = document.get("class_name") == "Sequential"
        per_layer = _layer_groups(handle, entries, skip_inputs, h5py, where)
        pairs = []
        for names, datasets in per_layer:
            variables = list(_find_layer(model, names, where).weights)
            if len(datasets) != len(variables):
                raise KerasImportError(
                    f"{where}: the file holds {len(datasets)} weight arrays for layer "
                    f"'{'/'.join(names)}', the model's layer has {len(variables)} ("
                    f"{', '.join(v.path for v in variables[:8])})."
                )
            pairs.extend(zip(datasets, variables, strict=True))
        expected = list(model.weights)
        covered = {id(variable) for _, variable in pairs}
        if len(pairs) != len(expected) or any(id(v) not in covered for v in expected):
            missing = [v.path for v in expected if id(v) not in covered]
            raise KerasImportError(
                f"{where}: the file holds {len(pairs)} weight arrays, the model "
                f"'{model.name}' has {len(expected)}"
                + (f" (none for {', '.join(missing[:8])})." if missing else ".")
            )
        arrays = {}
        for (h5_path, dataset), variable in pairs:
            expected_shape = tuple(variable.data.shape)
            if tuple(dataset.shape) != expected_shape:
                raise KerasImportError(
                    f"{where}: weight '{variable.path}' expects shape {expected_shape}, the "
                    f"file's '{h5_path}' has {tuple(dataset.shape)}."
                )
            if dataset.dtype.kind not in "fiu" or dataset.dtype.itemsize > 8:
                raise KerasImportError(
                    f"{where}: '{h5_path}' has dtype {dataset.dtype}, not a number type."
                )
            if dataset.is_virtual or dataset.external:
                raise KerasImportError(f"{where}: '{h5_path}' refers to data outside the file.")
            array = np.asarray(dataset[()])
            arrays[variable.path] = array.astype(variable.data.dtype, copy=False)
    return arrays


def load_keras_archive(
    archive: zipfile.ZipFile,
    source,
    members: dict,
    read_member,
    check_finite=None,
    compile_model=None,
):
    """Import an open Keras 3 archive (members already checked) as an axonal model.

    ``read_member(info, limit, what)`` reads one member with a size bound; ``source`` makes the
    errors (``source.error(problem)``); ``check_finite(arrays)`` sees the weights before they
    are assigned; ``compile_model(model, settings)`` compiles it from the archive's
    ``compile_config`` (as axonal's compile settings, see ``compile_settings``) when it has one.
    The model is built under a budget of the numbers ``model.weights.h5`` can
    hold (its bytes over the smallest float size), so a config declaring huge layers is refused
    before they are allocated, and no initializer runs.
    """
    from axonal import load_checks, saving, weight_budget

    text = read_member(members[KERAS_CONFIG], saving.MAX_CONFIG_BYTES, KERAS_CONFIG)
    import json  # here, not at the top: `import axonal` stays light

    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise source.error(f"its config.json is not valid JSON ({exc}).") from None
    problem = load_checks.config_problem(document)
    if problem:
        raise source.inner(KERAS_CONFIG).error(f"refused before building anything: {problem}")
    where = "config.json"
    weights_info = members[KERAS_WEIGHTS]
    budget = weights_info.file_size // 2
    try:
        with weight_budget.rebuilding(budget, initialize=False):
            model = model_from_keras_config(document, where)
        expected = sum(int(v.data.nbytes) for v in model.weights)
        # HDF5 adds headers per dataset and group: allow generous room over the raw bytes
        limit = 2 * expected + 16 * 1024 * 1024 + 64 * 1024 * len(model.weights)
        raw = read_member(weights_info, limit, KERAS_WEIGHTS)
        arrays = read_keras_weights(model, raw, document, KERAS_WEIGHTS)
    except KerasImportError as exc:
        raise source.error(f"this Keras archive cannot be imported: {exc}") from exc
    except Exception as exc:  # RecursionError and MemoryError included
        if isinstance(exc, (saving.UnsafeOrCorruptFileError, ImportError)):
            raise
        raise source.error(
            f"this Keras archive cannot be imported ({type(exc).__name__}: {exc})."
        ) from exc
    if check_finite is not None:
        check_finite(arrays)
    if compile_model is not None and document.get("compile_config"):
        _restore_compile(model, document["compile_config"], raw, compile_model)
    for variable in model.weights:
        variable.data[...] = arrays[variable.path]
    return model


def _restore_compile(model, config: dict, h5_bytes: bytes, compile_model) -> None:
    """Compile the model as the file's ``compile_config`` says, with its optimizer state; as
    Keras does, settings that cannot be restored leave the model uncompiled with a warning
    (the architecture and weights are what the file is for)."""
    try:
        compile_model(model, compile_settings(config, len(model.output_names)))
        state = read_keras_optimizer(model, h5_bytes, KERAS_WEIGHTS)
        if state is not None:
            model.optimizer.set_state(state)
    except Exception as exc:  # any failure here is reported, never fatal
        if getattr(model, "compiled", False):
            model.compiled = False
        warnings.warn(
            f"The Keras file's compile settings could not be restored, so the model is loaded "
            f"uncompiled: call compile() before training ({type(exc).__name__}: {exc}).",
            RuntimeWarning,
            stacklevel=4,
        )


def read_keras_optimizer(model, h5_bytes: bytes, where: str) -> dict | None:
    """The compiled model's optimizer state from ``optimizer/vars`` (Keras's order: iterations,
    learning rate, then each trainable variable's slots), or None where the file has none or
    the optimizer's Keras variables are not ones axonal knows (then it starts afresh, as Keras
    does with a warning when the counts differ)."""
    from axonal import keras_export

    slots = keras_export.optimizer_slots(model.optimizer)
    if slots is None:
        return None
    h5py = _require_h5py()
    with h5py.File(io.BytesIO(h5_bytes), "r") as handle:
        group = _child(handle, "optimizer", h5py, where)
        group = None if group is None else _child(group, "vars", h5py, where)
        if not isinstance(group, h5py.Group):
            return None
        order = keras_export.keras_trainable_order(model)
        if len(group) != 2 + len(order) * len(slots):
            warnings.warn(
                f"{where}: the optimizer variables ({len(group)}) do not match "
                f"{type(model.optimizer).__name__} for this model "
                f"({2 + len(order) * len(slots)}); the optimizer starts afresh.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

        def read(index: int, shape: tuple):
            dataset = _child(group, str(index), h5py, where)
            if not isinstance(dataset, h5py.Dataset) or tuple(dataset.shape) != shape:
                found = getattr(dataset, "shape", None)
                raise KerasImportError(
                    f"{where}: optimizer/vars/{index} should have shape {shape}, found {found}."
                )
            if dataset.dtype.kind not in "fiu" or dataset.is_virtual or dataset.external:
                raise KerasImportError(f"{where}: optimizer/vars/{index} is not plain numbers.")
            return np.asarray(dataset[()])

        state: dict[str, Any] = {"iterations": np.asarray(read(0, ()), dtype=np.int64)}
        index = 2
        for variable in order:
            for slot in slots:
                array = read(index, tuple(variable.data.shape))
                state[f"{variable.path}/{slot}"] = array.astype(variable.data.dtype)
                index += 1
    return state


def _strip(value: Any) -> Any:
    """A Keras-serialised object as axonal's ``{class_name, config}`` (nested ones too)."""
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            config = value.get("config")
            if isinstance(config, dict):
                config = {
                    k: _strip(v)
                    for k, v in config.items()
                    if k not in _ALWAYS_HARMLESS and not (k == "dtype" and v in (None, "float32"))
                }
            return {"class_name": value["class_name"], "config": config}
        return {k: _strip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# Keras optimizer settings axonal has no use for when they hold these values
_OPTIMIZER_DEFAULTS = {
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def compile_settings(config: dict, outputs: int) -> dict:
    """Keras's ``compile_config`` as axonal's compile settings (one loss, loss weight and metric
    list per output), every object by class name only (nothing from the file is run)."""
    if not isinstance(config, dict) or not isinstance(config.get("optimizer"), (dict, str)):
        raise KerasImportError("the compile_config has no optimizer.")
    optimizer = _strip(config["optimizer"])
    if isinstance(optimizer, str):
        optimizer = {"class_name": optimizer, "config": {}}
    opt_config = dict(optimizer.get("config") or {})
    for key, default in _OPTIMIZER_DEFAULTS.items():
        if key in opt_config:
            if opt_config[key] != default:
                raise KerasImportError(
                    f"the optimizer setting {key}={opt_config[key]!r} is not supported."
                )
            del opt_config[key]
    optimizer = {"class_name": optimizer["class_name"], "config": opt_config}

    def per_output(value, what):
        if value is None:
            return [None] * outputs
        if isinstance(value, dict) and "class_name" not in value:
            raise KerasImportError(f"{what} given per output name is not supported.")
        if isinstance(value, list) and outputs > 1:
            if len(value) != outputs:
                raise KerasImportError(f"{what} has {len(value)} entries for {outputs} outputs.")
            return list(value)
        return [value] + [None] * (outputs - 1) if outputs > 1 and what == "loss" else [value]

    losses = [_strip(loss) for loss in per_output(config.get("loss"), "loss")]
    weights = config.get("loss_weights")
    if weights is None:
        weights = [1.0] * outputs
    elif not isinstance(weights, list):
        weights = [weights]
    metric_lists = []
    for key in ("metrics", "weighted_metrics"):
        value = config.get(key)
        if not value:
            metric_lists.append([[] for _ in range(outputs)])
        elif outputs > 1 and all(isinstance(v, list) or v is None for v in value):
            metric_lists.append([_strip(v or []) for v in value])
        else:
            metric_lists.append([_strip(list(value))] + [[] for _ in range(outputs - 1)])
    return {
        "optimizer": optimizer,
        "loss": losses,
        "loss_weights": weights,
        "metrics": metric_lists[0],
        "weighted_metrics": metric_lists[1],
    }
