"""The ``.axonal`` archive: save a whole model, load it back without trusting the file.

An archive is a zip file holding three members:

``config.json``
    ``{"format": "axonal", "format_version": 1, "axonal_version": ..., "model": {...},
    "compile": {...} | null}``: the model as ``{"class_name", "config"}`` (the registry's
    serialisation) and the compile settings (optimizer config, one loss config per output, loss
    weights, metric and weighted-metric specs per output).
``model.weights.npz``
    Every weight, trainable or not, as an ``.npy`` array keyed by its path (``dense/kernel``) —
    the same file ``Model.save_weights`` writes, readable with ``numpy.load``.
``optimizer.npz``
    The optimizer state keyed as ``Optimizer.get_state()`` keys it (``iterations``,
    ``dense/kernel/m``…); present when the model is compiled.

Loading never runs code from the file: arrays are read with ``allow_pickle=False`` after their
headers are checked against the architecture; class names resolve only through
``axonal.registry``; member names are checked against the short list of expected names; every
size is bounded before anything is read, so a zip bomb is refused. Whatever is wrong with a
file, the error is an ``UnsafeOrCorruptFileError`` (a ``ValueError``) naming the file and the
problem. Every file is written through ``axonal.atomic.atomic_write``, so a crash mid-save
leaves the old file or the new one, never a torn one.

Keras's own files are written by ``axonal.keras_export`` when the name asks for one: a
``.keras`` name gives a Keras 3 archive, ``save_weights`` to a ``.weights.h5`` name Keras's HDF5
weights (both need h5py); a legacy Keras 2 ``.h5`` name is refused naming the alternatives.

Example:
    >>> model.save("model.axonal")
    >>> model = load_model("model.axonal")
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from axonal import autograd, registry, weight_budget
from axonal import initializers as initializers_module
from axonal import losses as losses_module
from axonal import metrics as metrics_module
from axonal import optimizers as optimizers_module
from axonal import regularizers as regularizers_module
from axonal.atomic import atomic_write
from axonal.layers.base import Layer
from axonal.serialization import (  # noqa: F401 - Keras names, re-exported
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

FORMAT = "axonal"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.weights.npz"
OPTIMIZER_NAME = "optimizer.npz"

# a config.json (or to_json text) larger than this is refused before it is read
MAX_CONFIG_BYTES = 16 * 1024 * 1024
# no file, member or array is read past this, whatever the architecture says
MAX_FILE_BYTES = 16 * 1024 * 1024 * 1024
# room for one array's .npy header and its zip headers, over the array's own bytes
_PER_ARRAY_OVERHEAD = 16 * 1024
# room for a zip's end records, over its members
_ZIP_SLACK = 64 * 1024
# a member this large that inflates more than this many times is refused as a likely zip bomb
_RATIO_CHECK_BYTES = 64 * 1024
_MAX_COMPRESSION_RATIO = 100
# a subclassed model is built by a call on one zero sample of at most this many numbers
_MAX_BUILD_ELEMENTS = 1 << 24
# model_from_json's default parameter budget (a config has no stored weights to set one)
DEFAULT_MAX_PARAMETERS = 1 << 25
# numpy's own default: headers longer than this are refused before they are parsed
_MAX_NPY_HEADER = 10000

# kinds a plain function may be used as (a custom activation, loss or metric function)
_FUNCTION_KINDS = ("activation", "loss", "metric", "metric_function")
_CUSTOM_LOCK = threading.RLock()
# (kind, name) -> object registered by register_serializable (these may be re-registered)
_CUSTOM_ENTRIES: dict[tuple[str, str], Any] = {}


class UnsafeOrCorruptFileError(ValueError):
    """A file axonal was asked to load is truncated, corrupted, hostile or of another format.

    The message names the file and what is wrong with it.
    """


# ------------------------------------------------------------------------------- registration


def _schedule_base() -> type | None:
    """The learning-rate schedule base class, when the schedules module provides one."""
    try:
        from axonal import schedules
    except ImportError:
        return None
    return getattr(schedules, "LearningRateSchedule", None)


def _kinds_of(obj: Any) -> tuple[str, ...]:
    """The registry kinds ``obj`` belongs under, from its base class (functions: several)."""
    if isinstance(obj, type):
        bases = [
            (Layer, "layer"),
            (losses_module.Loss, "loss"),
            (metrics_module.Metric, "metric"),
            (optimizers_module.Optimizer, "optimizer"),
            (initializers_module.Initializer, "initializer"),
            (regularizers_module.Regularizer, "regularizer"),
        ]
        schedule = _schedule_base()
        if schedule is not None:
            bases.append((schedule, optimizers_module.SCHEDULE_KIND))
        for base, kind in bases:
            if issubclass(obj, base):
                return (kind,)
        return ()
    if callable(obj):
        return _FUNCTION_KINDS
    return ()


def _registered(kind: str, name: str) -> Any:
    """What the registry holds under ``kind``/``name``, or None."""
    try:
        return registry.lookup(kind, name)
    except ValueError:
        return None


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator: make a custom layer, loss, metric, optimizer, initializer, regularizer,
    schedule or function savable and loadable, by registering it in ``axonal.registry``.

    The object is registered under its ``__name__`` (what saved configs refer to), under
    ``name`` when given, and under ``'package>name'`` (Keras's spelling). A class goes under the
    kind of its base class (a ``Layer`` subclass under ``'layer'``…); a plain function under the
    activation, loss and metric kinds.

    Args:
        package: a namespace for the ``'package>name'`` key. Defaults to ``'Custom'``.
        name: the registered name; defaults to the object's ``__name__``.

    Raises:
        TypeError: the object is neither a function nor a subclass of a serialisable base.
        ValueError: a different object already holds one of the names (a built-in, say).

    Example:
        >>> @register_serializable()
        ... class Scale(Layer):
        ...     def call(self, inputs, training=False):
        ...         return inputs * 2.0
    """

    def decorator(obj):
        kinds = _kinds_of(obj)
        if not kinds:
            raise TypeError(
                "register_serializable registers functions and subclasses of Layer, Loss, "
                "Metric, Optimizer, Initializer, Regularizer or LearningRateSchedule; got "
                f"{obj!r}."
            )
        own_name = getattr(obj, "__name__", None)
        short = name or own_name
        if not short:
            raise ValueError(f"register_serializable needs a name for {obj!r}; pass name=...")
        names = []
        for candidate in (own_name, short, f"{package}>{short}"):
            if candidate and candidate not in names:
                names.append(candidate)
        with _CUSTOM_LOCK:
            for kind in kinds:
                for entry in names:
                    existing = _registered(kind, entry)
                    ours = _CUSTOM_ENTRIES.get((kind, entry))
                    if existing is not None and existing is not obj and existing is not ours:
                        raise ValueError(
                            f"Cannot register {obj!r} as {kind} {entry!r}: axonal already has "
                            f"{existing!r} under that name. Rename the class or function."
                        )
            for kind in kinds:
                registry.register(kind, *names)(obj)
                for entry in names:
                    _CUSTOM_ENTRIES[(kind, entry)] = obj
        return obj

    return decorator


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict | None) -> Iterator[None]:
    """Within the block, resolve the names in ``custom_objects`` to the given objects.

    Deserialisation of nested configs (a layer inside a model inside a model) finds classes
    through the registry, so the custom objects are registered for the duration of the block
    and the previous entries restored afterwards.

    Example:
        >>> with custom_object_scope({"Scale": Scale}):
        ...     model = model_from_json(text)
    """
    if not custom_objects:
        yield
        return
    if not isinstance(custom_objects, dict):
        raise TypeError(
            f"custom_objects must be a dict of name -> class or function, got "
            f"{type(custom_objects).__name__}."
        )
    with _CUSTOM_LOCK:
        saved: list[tuple[str, str, Any]] = []
        # entries a scope adds must be removed again on exit, and shadowed ones put back
        try:
            for key, obj in custom_objects.items():
                for kind in _kinds_of(obj) or tuple(registry.kinds()):
                    saved.append((kind, key, registry.get_entry(kind, key)))
                    registry.set_entry(kind, key, obj)
            yield
        finally:
            for kind, key, previous in reversed(saved):
                registry.set_entry(kind, key, previous)


# ------------------------------------------------------------------------------- JSON


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays that slipped into a config become plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value.")


def _dumps(value: Any) -> str:
    import json  # here, not at the top: `import axonal` stays light

    return json.dumps(value, default=_json_default, indent=1, sort_keys=False)


def _axonal_version() -> str:
    # the package is fully imported by the time anything is saved
    from axonal import __version__

    return __version__


# ------------------------------------------------------------------------------- saving


def _weight_arrays(model) -> dict[str, np.ndarray]:
    """Every weight of ``model`` by path, refusing names that would not load back."""
    arrays: dict[str, np.ndarray] = {}
    for variable in model.weights:
        path = variable.path
        if path in arrays:
            raise ValueError(
                f"Two different weights of model '{model.name}' are named '{path}': give the "
                "layers distinct names before saving."
            )
        problem = _member_name_problem(path + ".npy")
        if problem:
            raise ValueError(
                f"Cannot save weight '{path}' of model '{model.name}': its name {problem}. "
                "Rename the layer."
            )
        arrays[path] = np.asarray(variable.data)
    return arrays


def _write_npz(stream, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed ``.npz`` (what ``numpy.savez`` writes) of ``arrays`` to ``stream``.

    Each array is streamed into its member: no second copy of the weights is held in memory.
    """
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def _stored_member(archive: zipfile.ZipFile, name: str):
    """An uncompressed member of ``archive`` opened for streaming writes."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_STORED
    return archive.open(info, "w", force_zip64=True)


def _loss_config(loss) -> dict | None:
    """One output's loss as JSON: a registered Loss's config, or a wrapped function's name."""
    if loss is None:
        return None
    if type(loss) is losses_module.LossFunctionWrapper:
        return {
            "function": getattr(loss.fn, "__name__", repr(loss.fn)),
            "config": loss.get_config(),
        }
    return registry.serialize(loss)


def _metric_config(spec) -> str | dict:
    """One ``compile(metrics=...)`` entry as JSON: a string stays a string."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, metrics_module.Metric):
        return registry.serialize(spec)
    if isinstance(spec, type):
        return {"class_name": spec.__name__, "config": {}}
    if isinstance(spec, dict):
        return spec
    name = getattr(spec, "__name__", None)
    if callable(spec) and name:
        return name
    raise ValueError(f"Cannot save the metric {spec!r}: it has no name to find it by on loading.")


def _compile_config(model) -> dict | None:
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    heads = model.output_heads
    return {
        "optimizer": registry.serialize(model.optimizer),
        "loss": [_loss_config(head.loss) for head in heads],
        "loss_weights": [float(head.weight) for head in heads],
        "metrics": [[_metric_config(s) for s in head.metric_specs] for head in heads],
        "weighted_metrics": [[_metric_config(s) for s in head.weighted_specs] for head in heads],
    }


def _optimizer_state(model) -> dict[str, np.ndarray]:
    """The optimizer's state, without slots of weights the model no longer has (after pop())."""
    paths = {variable.path for variable in model.weights}
    state = {}
    for key, value in model.optimizer.get_state().items():
        path, _, _ = key.rpartition("/")
        if not path or path in paths:
            state[key] = value
    return state


def _model_document(model) -> dict:
    """The format header and the model's config; a subclassed model also records the input
    shape it was built for, since its weights appear only when it is called."""
    from axonal import load_checks  # here: only loading needs it, not `import axonal`

    config = registry.serialize(model)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "axonal_version": _axonal_version(),
        "model": config,
    }
    problem = load_checks.config_problem(config, "model")
    if problem:
        # what would be written could not be loaded back
        raise ValueError(f"Cannot save model '{model.name}': {problem}")
    subclassed = "layers" not in config["config"]
    built_for = getattr(model, "input_shape_built", None)
    if subclassed and built_for is not None:
        document["build_input_shape"] = _shape_json(built_for)
    return document


def _shape_json(shape):
    if isinstance(shape, list):
        return [_shape_json(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def keras_file_kind(path: str | os.PathLike, method: str) -> str | None:
    """``"keras"`` for a ``.keras`` name, ``"weights.h5"`` for ``.weights.h5``, None for any
    other name (axonal's own format); a legacy Keras 2 ``.h5``/``.hdf5`` name, or a name of the
    wrong kind for ``method`` (``save`` or ``save_weights``), raises a ValueError naming the
    alternatives, before anything is written."""
    name = os.fspath(path).lower()
    if name.endswith(".weights.h5"):
        if method == "save":
            raise ValueError(
                f"Model.save cannot write {os.fspath(path)!r}: a '.weights.h5' file holds "
                "weights only; use save_weights for it, or save the whole model to a '.keras' "
                "(Keras 3) or '.axonal' file."
            )
        return "weights.h5"
    if name.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"Cannot write {os.fspath(path)!r}: the legacy Keras 2 HDF5 format ('.h5') is not "
            "written by axonal. Use '.keras' (a Keras 3 archive), '.weights.h5' (Keras 3 "
            "weights, with save_weights) or '.axonal' (axonal's own format)."
        )
    if name.endswith(".keras"):
        if method == "save_weights":
            raise ValueError(
                f"save_weights cannot write {os.fspath(path)!r}: a '.keras' file is a whole "
                "model; use Model.save for it, or name the weights file '*.weights.h5' "
                "(Keras 3) or '*.weights.npz' (axonal)."
            )
        return "keras"
    return None


def save_model(model, path: str | os.PathLike) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``path``.

    The file is a zip archive (see this module's docstring), written to a temporary file in the
    same folder, synced and renamed over ``path``: a crash at any moment leaves either the old
    file or the new one.

    Args:
        model: a ``Model`` or ``Sequential``.
        path: the file to write, conventionally ``*.axonal``.

    A name ending in ``.keras`` writes a genuine Keras 3 archive instead (see
    ``axonal.keras_export``; needs h5py), which ``keras.saving.load_model`` reads; a legacy
    ``.h5`` / ``.hdf5`` name is refused (see ``keras_file_kind``).

    Example:
        >>> save_model(model, "model.axonal")
    """
    kind = keras_file_kind(path, "save")
    if kind == "keras":
        from axonal import keras_export  # here: only Keras files need it, not `import axonal`

        keras_export.save_keras_archive(model, path)
        return
    document = _model_document(model)
    document["compile"] = _compile_config(model)
    config_text = _dumps(document).encode("utf-8")
    weights = _weight_arrays(model)
    state = None if document["compile"] is None else _optimizer_state(model)
    with atomic_write(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
            archive.writestr(CONFIG_NAME, config_text, compress_type=zipfile.ZIP_DEFLATED)
            with _stored_member(archive, WEIGHTS_NAME) as member:
                _write_npz(member, weights)
            if state is not None:
                with _stored_member(archive, OPTIMIZER_NAME) as member:
                    _write_npz(member, state)


def save_weights(model, path: str | os.PathLike) -> None:
    """Write every weight of ``model`` to ``path`` as an ``.npz`` keyed by weight path.

    A name ending in ``.weights.h5`` writes Keras 3's HDF5 weights file instead (needs h5py),
    which Keras's ``model.load_weights`` reads.

    Example:
        >>> save_weights(model, "model.weights.npz")
    """
    if keras_file_kind(path, "save_weights") == "weights.h5":
        from axonal import keras_export  # here: only Keras files need it, not `import axonal`

        keras_export.save_keras_weights(model, path)
        return
    weights = _weight_arrays(model)
    with atomic_write(path, "wb") as handle:
        _write_npz(handle, weights)


def model_to_json(model) -> str:
    """The model's architecture as JSON text (no weights); inverse: ``model_from_json``."""
    return _dumps(_model_document(model))


# ------------------------------------------------------------------------------- safe reading


def _member_name_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable archive member name, or None."""
    if not name:
        return "is empty"
    if "\\" in name:
        return "contains a backslash"
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return "contains a control character"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    parts = name.split("/")
    if any(part in ("..", ".", "") for part in parts):
        return "contains '..', '.' or an empty path part"
    return None


class _Source:
    """What is being read, for error messages: the file, and the member inside it."""

    def __init__(self, path: str, member: str | None = None):
        self.path = path
        self.member = member

    def inner(self, member: str) -> _Source:
        return _Source(self.path, member if self.member is None else f"{self.member}/{member}")

    def error(self, problem: str) -> UnsafeOrCorruptFileError:
        where = f"'{self.path}'" + (f" (member '{self.member}')" if self.member else "")
        return UnsafeOrCorruptFileError(f"Cannot load {where}: {problem}")


def _open_zip(data, source: _Source) -> zipfile.ZipFile:
    """Open ``data`` (a file object) as a zip, or raise the clear error."""
    try:
        return zipfile.ZipFile(data)
    except zipfile.BadZipFile as exc:
        raise source.error(f"not a valid zip archive, or truncated ({exc}).") from None
    except Exception as exc:  # damaged records raise OSError, ValueError, NotImplementedError…
        raise source.error(f"corrupted zip archive ({type(exc).__name__}: {exc}).") from None


def _checked_members(
    archive: zipfile.ZipFile,
    source: _Source,
    allowed: Callable[[str], bool],
    describe_allowed: str,
) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, after checking every name and flag, before any read."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename
        problem = _member_name_problem(name)
        if problem:
            raise source.error(f"member name {name!r} {problem}; refused.")
        if not allowed(name):
            raise source.error(f"unexpected member {name!r}; expected {describe_allowed}.")
        if name in members:
            raise source.error(f"member {name!r} appears twice.")
        if info.flag_bits & 0x1:
            raise source.error(f"member {name!r} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise source.error(
                f"member {name!r} uses compression method {info.compress_type}; only stored "
                "and deflated members are read."
            )
        members[name] = info
    return members


def _check_size(info: zipfile.ZipInfo, limit: int, source: _Source, what: str) -> None:
    """Refuse a member whose declared size exceeds ``limit`` or that inflates suspiciously."""
    limit = min(limit, MAX_FILE_BYTES)
    if info.file_size > limit:
        raise source.error(
            f"{what} declares {info.file_size} bytes, more than the {limit} bytes expected; "
            "refused before reading (a zip bomb or a file for another model)."
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_CHECK_BYTES and ratio > _MAX_COMPRESSION_RATIO:
        raise source.error(
            f"{what} inflates from {info.compress_size} to {info.file_size} bytes (more than "
            f"{_MAX_COMPRESSION_RATIO} times); refused as a likely zip bomb."
        )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, source: _Source, what: str
) -> bytes:
    """The member's bytes, at most ``limit`` of them, checked against its declared size."""
    _check_size(info, limit, source, what)
    try:
        with archive.open(info) as member:
            # zipfile stops at the declared size, so this never inflates past the limit
            data = member.read(info.file_size + 1)
    except zipfile.BadZipFile as exc:
        raise source.error(f"{what} is corrupted ({exc}).") from None
    except Exception as exc:  # zlib.error, OSError, EOFError… from a damaged stream
        raise source.error(f"{what} is corrupted ({type(exc).__name__}: {exc}).") from None
    if len(data) != info.file_size:
        raise source.error(
            f"{what} holds {len(data)} bytes but declares {info.file_size}; truncated or corrupted."
        )
    return data


class _ArraySpec:
    """What one array in an ``.npz`` must look like: its shape (None: any) and dtype rule."""

    def __init__(self, shape: tuple | None, dtype: np.dtype | None, kinds: str | None = None):
        self.shape = shape
        self.dtype = dtype
        self.kinds = kinds

    @property
    def max_bytes(self) -> int:
        if self.shape is None or self.dtype is None:
            return 64
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        dtype = self.dtype.name if self.dtype is not None else f"kind {self.kinds!r}"
        shape = "any shape" if self.shape is None else f"shape {self.shape}"
        return f"{shape}, dtype {dtype}"


def _read_npy(data: bytes, spec: _ArraySpec, source: _Source) -> np.ndarray:
    """One ``.npy`` array: header checked against ``spec`` first, then read without pickle."""
    stream = io.BytesIO(data)
    try:
        shape, dtype = _npy_header(stream)
    except Exception as exc:  # a damaged header raises ValueError, SyntaxError, TypeError…
        raise source.error(f"not a valid .npy array ({type(exc).__name__}: {exc}).") from None
    _refuse_unplain_dtype(dtype, source)
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise source.error(
            f"the array has dtype {dtype} (Python objects or a structure); only plain numeric "
            "arrays are read, never pickled objects. Refused."
        )
    expected = spec.describe()
    if spec.dtype is not None and dtype.newbyteorder("=") != spec.dtype.newbyteorder("="):
        raise source.error(f"expected {expected}, got dtype {dtype} (shape {shape}).")
    if spec.kinds is not None and dtype.kind not in spec.kinds:
        raise source.error(f"expected {expected}, got dtype {dtype} (shape {shape}).")
    if spec.shape is not None and tuple(shape) != tuple(spec.shape):
        raise source.error(f"expected {expected}, got shape {tuple(shape)} (dtype {dtype}).")
    size = math.prod(shape) * dtype.itemsize
    if len(data) - stream.tell() != size:
        raise source.error(
            f"the array data is {len(data) - stream.tell()} bytes, but shape {tuple(shape)} of "
            f"{dtype} needs {size}; truncated or corrupted."
        )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise source.error(f"the array cannot be read ({type(exc).__name__}: {exc}).") from None
    if not isinstance(array, np.ndarray):
        raise source.error("expected one .npy array.")
    return array


def _read_npz(
    data: bytes,
    specs: dict[str, _ArraySpec],
    required: set[str],
    source: _Source,
    by_order: bool = False,
    renamed: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays of the ``.npz`` held in ``data``, each checked against ``specs`` by key (see
    ``_read_arrays``), and the stored keys that were matched by order."""
    with _open_zip(io.BytesIO(data), source) as archive:
        return _read_arrays(archive, specs, required, source, by_order, renamed)


def _stored_keys(archive: zipfile.ZipFile) -> list[str]:
    return [info.filename[: -len(".npy")] for info in archive.infolist()]


def _order_renames(stored: list[str], specs: dict[str, _ArraySpec]) -> dict[str, str]:
    """Stored key -> model key, pairing them in order, when the names differ but the counts
    agree (as Keras matches weights: layers auto-named in another process are ``dense_2`` there
    and ``dense`` here); empty when the names already match or the counts differ."""
    if set(stored) == set(specs) or len(stored) != len(specs) or len(set(stored)) != len(stored):
        return {}
    return dict(zip(stored, specs, strict=True))


def _read_arrays(
    archive: zipfile.ZipFile,
    specs: dict[str, _ArraySpec],
    required: set[str],
    source: _Source,
    by_order: bool = False,
    renamed: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays of an open ``.npz`` archive, each checked against ``specs`` by key.

    Every member name, declared size and array header is checked before the array is read; a
    key in ``required`` that is missing, or a member not named in ``specs``, is an error. With
    ``by_order``, weights whose names all differ from the model's are paired with the model's
    weights in order (shapes still checked); ``renamed`` maps weight paths inside keys such as
    an optimizer slot's ``dense_2/kernel/m``.
    """
    stored = _stored_keys(archive)
    renames = _order_renames(stored, specs) if by_order else {}
    for key in stored if renamed else ():
        weight, _, slot = key.rpartition("/")
        if weight in renamed:
            renames[key] = f"{renamed[weight]}/{slot}"
    if renames:
        named = {key + ".npy": renames.get(key, key) for key in stored}
        wanted = {name: key for name, key in named.items() if key in specs}
    else:
        wanted = {key + ".npy": key for key in specs}
    members = _checked_members(
        archive, source, lambda name: name in wanted, _listing(sorted(wanted))
    )
    for name, info in members.items():
        _check_size(info, specs[wanted[name]].max_bytes + _PER_ARRAY_OVERHEAD, source, name)
    total = sum(info.file_size for info in members.values())
    limit = _npz_limit(specs)
    if total > min(limit, MAX_FILE_BYTES):
        raise source.error(
            f"its arrays declare {total} bytes in all, more than the {limit} bytes the "
            "architecture allows; refused before reading."
        )
    missing = sorted(required - {wanted[name] for name in members})
    if missing:
        raise source.error(f"missing array(s) {_listing(missing)}.")
    arrays = {}
    for name, info in members.items():
        key = wanted[name]
        spec = specs[key]
        raw = _read_member(archive, info, spec.max_bytes + _PER_ARRAY_OVERHEAD, source, name)
        arrays[key] = _read_npy(raw, spec, source.inner(name))
    return arrays, renames


def _npz_elements(data: bytes, source: _Source) -> int:
    """How many numbers the arrays of the ``.npz`` in ``data`` hold, from their headers alone:
    the budget a model rebuilt from the same archive must stay within."""
    total = 0
    with _open_zip(io.BytesIO(data), source) as archive:
        members = _checked_members(
            archive, source, lambda name: name.endswith(".npy"), "'.npy' arrays"
        )
        for name, info in members.items():
            _check_size(info, MAX_FILE_BYTES, source, name)
            try:
                with archive.open(info) as member:
                    shape, dtype = _npy_header(member)
            except UnsafeOrCorruptFileError:
                raise
            except Exception as exc:
                raise source.inner(name).error(
                    f"not a valid .npy array ({type(exc).__name__}: {exc})."
                ) from None
            _refuse_unplain_dtype(dtype, source.inner(name))
            total += math.prod(shape)
    return total


def _refuse_unplain_dtype(dtype: np.dtype, source: _Source) -> None:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise source.error(
            f"the array has dtype {dtype} (Python objects or a structure); only plain numeric "
            "arrays are read, never pickled objects. Refused."
        )


def _npy_header(stream) -> tuple[tuple, np.dtype]:
    """``(shape, dtype)`` from an ``.npy`` stream's header, at most ``_MAX_NPY_HEADER`` long."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        header = np.lib.format.read_array_header_1_0(stream, max_header_size=_MAX_NPY_HEADER)
    elif version == (2, 0):
        header = np.lib.format.read_array_header_2_0(stream, max_header_size=_MAX_NPY_HEADER)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = header
    return tuple(shape), dtype


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (shown + more) or "none"


def _weight_specs(model) -> dict[str, _ArraySpec]:
    """What each weight array must look like, by path: the built model's shape and dtype."""
    return {
        variable.path: _ArraySpec(tuple(variable.data.shape), variable.data.dtype)
        for variable in model.weights
    }


def _assign_weights(model, arrays: dict[str, np.ndarray]) -> None:
    """Copy checked arrays into the model's variables in place (packed buffers stay valid)."""
    for variable in model.weights:
        variable.data[...] = arrays[variable.path]


def _optimizer_specs(model) -> tuple[dict[str, _ArraySpec], set[str]]:
    optimizer = model.optimizer
    specs = {"iterations": _ArraySpec((), None, kinds="iu")}
    required = {"iterations"}
    for name in optimizer._scalar_state_names:
        specs[name] = _ArraySpec((), None, kinds="f")
        required.add(name)
    slot_names = optimizer._slot_names()
    for variable in model.weights:
        for slot in slot_names:
            specs[f"{variable.path}/{slot}"] = _ArraySpec(
                tuple(variable.data.shape), variable.data.dtype
            )
    return specs, required


def _file_bytes_limit(path: str) -> None:
    try:
        size = os.path.getsize(path)
    except OSError:
        return
    if size > MAX_FILE_BYTES:
        raise _Source(path).error(
            f"the file is {size} bytes, more than the {MAX_FILE_BYTES} bytes axonal reads."
        )


def _parse_document(text: bytes | str, source: _Source) -> dict:
    """The JSON document of an archive or of ``to_json``, checked for format and version."""
    from axonal import load_checks  # here: only loading needs it, not `import axonal`

    if len(text) > MAX_CONFIG_BYTES:
        raise source.error(f"the config is {len(text)} bytes, more than {MAX_CONFIG_BYTES}.")
    import json  # here, not at the top: `import axonal` stays light

    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise source.error(f"the config is not valid JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise source.error("the config is not a JSON object.")
    problem = load_checks.config_problem(document)
    if problem:
        raise source.error(f"refused before building anything: {problem}")
    if "format" not in document and "class_name" in document:
        # a bare {'class_name', 'config'} (Keras's to_json shape)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": document}
    if document.get("format") != FORMAT:
        raise source.error(
            f"the config's format is {document.get('format')!r}, not {FORMAT!r}; this is not "
            "an axonal file."
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise source.error(f"the config's format_version is {version!r}, not an integer.")
    if version > FORMAT_VERSION:
        raise source.error(
            f"it was written in format version {version} (by axonal "
            f"{document.get('axonal_version', '?')}); this axonal ({_axonal_version()}) reads "
            f"version {FORMAT_VERSION}. Upgrade axonal to load it."
        )
    if version < 1:
        raise source.error(f"unknown format_version {version}.")
    if not isinstance(document.get("model"), dict):
        raise source.error("the config has no 'model' object.")
    return document


def _build_model(
    document: dict,
    source: _Source,
    custom_objects: dict | None,
    max_parameters: int | None,
    initialize: bool,
):
    """The model the config describes, resolving every class name through the registry.

    Built under a parameter budget (``weight_budget``): a weight that would take the model past
    ``max_parameters`` is refused before it is allocated; ``initialize=False`` skips the
    initializers of weights the file replaces.
    """
    config = document["model"]
    try:
        with (
            custom_object_scope(custom_objects),
            weight_budget.rebuilding(max_parameters, initialize),
        ):
            model = registry.deserialize("layer", config)
            if isinstance(model, Layer) and hasattr(model, "compile"):
                shape = document.get("build_input_shape")
                if shape is not None and not model.weights:
                    _build_by_calling(model, shape, source)
    except UnsafeOrCorruptFileError:
        raise
    except Exception as exc:
        hint = ""
        if "Unknown" in str(exc):
            hint = (
                " A custom class or function must be registered with "
                "@axonal.saving.register_serializable() or passed as custom_objects=."
            )
        where = registry.config_path(exc)
        at = f" at {where}" if where else ""
        raise source.error(
            f"the model cannot be rebuilt from its config{at} ({type(exc).__name__}: {exc}).{hint}"
        ) from exc
    if not isinstance(model, Layer) or not hasattr(model, "compile"):
        raise source.error(
            f"the config describes a {type(model).__name__}, not a model (Model or Sequential)."
        )
    return model


def _build_by_calling(model, shape, source: _Source) -> None:
    """Create a subclassed model's weights by calling it once on zeros of the saved shape."""
    try:
        several = isinstance(shape, list) and bool(shape) and isinstance(shape[0], list)
        dims = [[1 if d is None else int(d) for d in s] for s in (shape if several else [shape])]
        if any(math.prod(d) > _MAX_BUILD_ELEMENTS or min(d, default=1) < 1 for d in dims):
            raise ValueError(f"refusing an input of shape {shape} to build the model")
        zeros = [np.zeros(d, dtype=model.dtype) for d in dims]
        with autograd.no_grad():
            model(zeros if several else zeros[0], training=False)
    except Exception as exc:
        raise source.error(
            f"the model cannot be built for input shape {shape} ({type(exc).__name__}: {exc})."
        ) from exc


def _resolve_loss(entry, custom_objects):
    if entry is None:
        return None
    if isinstance(entry, str):
        # a Keras compile_config names a loss as given to compile ("mse")
        if custom_objects and entry in custom_objects:
            return losses_module.get(custom_objects[entry])
        return losses_module.get(entry)
    if isinstance(entry, dict) and "function" in entry:
        name = entry["function"]
        fn = registry.lookup("loss", name, custom_objects)
        if isinstance(fn, type):
            raise ValueError(f"loss {name!r} names a class, not a function.")
        return losses_module.LossFunctionWrapper(fn, **dict(entry.get("config", {})))
    return registry.deserialize("loss", entry, custom_objects)


def _resolve_metric_spec(spec, custom_objects):
    if isinstance(spec, str):
        if custom_objects and spec in custom_objects:
            return custom_objects[spec]
        return spec
    if isinstance(spec, dict):
        return registry.deserialize("metric", spec, custom_objects)
    raise ValueError(f"a metric entry must be a name or a config, got {spec!r}.")


def _compile_model(model, settings: dict, source: _Source, custom_objects: dict | None) -> None:
    """Compile ``model`` with the saved settings (optimizer, losses, weights, metrics)."""
    try:
        with custom_object_scope(custom_objects):
            if not isinstance(settings, dict):
                raise ValueError("the compile settings are not a JSON object")
            optimizer = registry.deserialize("optimizer", settings["optimizer"])
            several = len(model.output_names) > 1
            losses = [_resolve_loss(e, custom_objects) for e in settings["loss"]]
            loss_weights = list(settings.get("loss_weights") or [1.0] * len(losses))
            metrics = [
                [_resolve_metric_spec(s, custom_objects) for s in specs]
                for specs in settings.get("metrics") or [[] for _ in losses]
            ]
            weighted = [
                [_resolve_metric_spec(s, custom_objects) for s in specs]
                for specs in settings.get("weighted_metrics") or [[] for _ in losses]
            ]
            if not several:
                model.compile(
                    optimizer=optimizer,
                    loss=losses[0],
                    loss_weights=loss_weights[0],
                    metrics=metrics[0],
                    weighted_metrics=weighted[0],
                )
            else:
                model.compile(
                    optimizer=optimizer,
                    loss=losses,
                    loss_weights=loss_weights,
                    metrics=metrics,
                    weighted_metrics=weighted,
                )
    except Exception as exc:
        raise source.error(
            f"the compile settings cannot be restored ({type(exc).__name__}: {exc}). Pass "
            "custom_objects= for custom losses or metrics, or load with compile=False."
        ) from exc


def _restore_optimizer(model, state: dict, source: _Source) -> None:
    try:
        model.optimizer.set_state(state)
    except Exception as exc:
        raise source.error(f"the optimizer state does not fit ({exc}).") from exc


def load_model(
    path: str | os.PathLike,
    custom_objects: dict | None = None,
    compile: bool = True,
    allow_nonfinite: bool = True,
):
    """Load a model saved by ``Model.save`` / ``save_model``, without running code from the file.

    Restores the architecture, every weight, and (with ``compile=True``) the compile settings
    and optimizer state, so continuing ``fit`` gives exactly what uninterrupted training would.

    A Keras 3 ``.keras`` archive (``config.json`` + ``model.weights.h5``) is detected by its
    members and imported through ``axonal.keras_format`` (needs ``h5py``); any file name works,
    the extension is never looked at.

    Nothing is trusted: the config's structure is checked before anything is built; the model
    is built under a budget of the parameters the file stores (a config declaring larger layers
    is refused before they are allocated), without running initializers; every array is checked
    against the model before any is read; and two samples of zeros of the model's declared input
    is run through it, so a model that loads also predicts.

    Args:
        path: the file ``Model.save`` wrote (any name, ``.axonal`` or ``.keras``…), or a Keras 3
            ``.keras`` archive.
        custom_objects: name -> class or function for custom objects not registered with
            ``register_serializable``.
        compile: restore the compile settings and optimizer state (default True).
        allow_nonfinite: weights holding NaN or infinity load with a warning naming them (the
            default); False refuses such a file.

    Returns:
        The model.

    Raises:
        FileNotFoundError: there is no such file.
        UnsafeOrCorruptFileError: the file is truncated, corrupted, hostile, of another format
            or does not match the architecture it describes; the message says which.

    Example:
        >>> model = load_model("model.axonal")
    """
    # here: only loading needs the checks and the .keras reader, not every `import axonal`
    from axonal import keras_format, load_checks

    path = os.fspath(path)
    source = _Source(path)
    _file_bytes_limit(path)
    with open(path, "rb") as handle, _one_error(source):
        archive = _open_zip(handle, source)
        with archive:
            names = [info.filename for info in archive.infolist()]
            if WEIGHTS_NAME not in names and keras_format.is_keras_archive(names):
                model = _load_keras(archive, source, allow_nonfinite, compile, custom_objects)
            else:
                model = _load_axonal(archive, source, custom_objects, compile, allow_nonfinite)
        problem = load_checks.probe_problem(model)
        if problem:
            raise source.error(f"the model it describes does not run: {problem}")
    return model


@contextlib.contextmanager
def _one_error(source: _Source) -> Iterator[None]:
    """Whatever goes wrong while loading surfaces as ``UnsafeOrCorruptFileError`` naming the
    file: a check this module lacks must still never let a raw exception through."""
    try:
        yield
    except (UnsafeOrCorruptFileError, ImportError):
        raise
    except Exception as exc:  # RecursionError and MemoryError included
        raise source.error(f"it cannot be read ({type(exc).__name__}: {exc}).") from exc


def _load_axonal(
    archive: zipfile.ZipFile,
    source: _Source,
    custom_objects: dict | None,
    compile: bool,
    allow_nonfinite: bool,
):
    """The model of an open ``.axonal`` archive: config, weights, compile settings, state."""
    expected = (CONFIG_NAME, WEIGHTS_NAME, OPTIMIZER_NAME)
    members = _checked_members(
        archive, source, lambda name: name in expected, _listing(list(expected))
    )
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if name not in members:
            raise source.error(f"the archive has no {name!r} member.")
    config_source = source.inner(CONFIG_NAME)
    text = _read_member(
        archive, members[CONFIG_NAME], MAX_CONFIG_BYTES, config_source, "config.json"
    )
    document = _parse_document(text, config_source)
    weights_source = source.inner(WEIGHTS_NAME)
    # the weights are read before the model is built: their headers set its budget
    raw = _read_member(archive, members[WEIGHTS_NAME], MAX_FILE_BYTES, source, WEIGHTS_NAME)
    stored = _npz_elements(raw, weights_source)
    model = _build_model(document, config_source, custom_objects, stored, initialize=False)

    specs = _weight_specs(model)
    arrays, renamed = _read_npz(raw, specs, set(specs), weights_source, by_order=True)
    del raw
    _check_finite(arrays, weights_source, allow_nonfinite)

    settings = document.get("compile")
    state = None
    if compile and settings is not None:
        _compile_model(model, settings, config_source, custom_objects)
        if OPTIMIZER_NAME in members:
            opt_specs, required = _optimizer_specs(model)
            opt_source = source.inner(OPTIMIZER_NAME)
            raw = _read_member(
                archive, members[OPTIMIZER_NAME], _npz_limit(opt_specs), source, OPTIMIZER_NAME
            )
            state, _ = _read_npz(raw, opt_specs, required, opt_source, renamed=renamed)
            del raw
    # everything was read and checked: only now does the model change
    _assign_weights(model, arrays)
    if state is not None:
        _restore_optimizer(model, state, source.inner(OPTIMIZER_NAME))
    return model


def _check_finite(arrays: dict, source: _Source, allow_nonfinite: bool) -> None:
    """Warn about (or, with ``allow_nonfinite=False``, refuse) arrays holding NaN or infinity."""
    from axonal import load_checks  # here: only loading needs it, not `import axonal`

    bad = load_checks.nonfinite_weights(arrays)
    if not bad:
        return
    problem = f"weight(s) {_listing(bad)} hold NaN or infinity"
    if not allow_nonfinite:
        raise source.error(f"{problem}; refused (allow_nonfinite=False).")
    warnings.warn(
        f"{source.error(problem).args[0]}; the model will predict NaN. Pass "
        "allow_nonfinite=False to refuse such files.",
        RuntimeWarning,
        stacklevel=3,
    )


def _load_keras(
    archive: zipfile.ZipFile,
    source: _Source,
    allow_nonfinite: bool,
    compile: bool = True,
    custom_objects: dict | None = None,
):
    """Import a Keras 3 ``.keras`` archive (see ``axonal.keras_format``); nothing is executed."""
    # here: the .keras reader is needed only to load Keras archives, not at `import axonal`
    from axonal import keras_format

    expected = (keras_format.KERAS_CONFIG, keras_format.KERAS_METADATA, keras_format.KERAS_WEIGHTS)
    members = _checked_members(
        archive, source, lambda name: name in expected, _listing(list(expected))
    )

    def read(info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
        return _read_member(archive, info, limit, source, what)

    def check_finite(arrays: dict) -> None:
        _check_finite(arrays, source.inner(keras_format.KERAS_WEIGHTS), allow_nonfinite)

    def compile_model(model, settings: dict) -> None:
        _compile_model(model, settings, source.inner(keras_format.KERAS_CONFIG), custom_objects)

    return keras_format.load_keras_archive(
        archive, source, members, read, check_finite, compile_model if compile else None
    )


def _npz_limit(specs: dict[str, _ArraySpec]) -> int:
    return sum(spec.max_bytes + _PER_ARRAY_OVERHEAD for spec in specs.values()) + _ZIP_SLACK


def load_weights(model, path: str | os.PathLike, allow_nonfinite: bool = True) -> None:
    """Set ``model``'s weights from a ``save_weights`` file (or a whole ``.axonal`` archive).

    Every array's name, shape and dtype is checked against the model before any weight
    changes. Arrays are matched by weight path; when none of the names match but their number
    does (layers auto-named differently in the process that saved them), they are matched in
    order, as Keras does, shapes still checked. Arrays holding NaN or infinity load with a
    warning, or are refused with ``allow_nonfinite=False``.

    Raises:
        UnsafeOrCorruptFileError: the file is corrupted, hostile, or holds weights for another
            architecture (the message names the weight, the expected and the found shape).

    Example:
        >>> model.load_weights("model.weights.npz")
    """
    path = os.fspath(path)
    source = _Source(path)
    _file_bytes_limit(path)
    specs = _weight_specs(model)
    if not specs and not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built, so it has no weights to load into: build it "
            "(declare the input shape or call it on data) first."
        )
    from axonal import keras_export, keras_format  # here: not needed by `import axonal`

    with open(path, "rb") as handle, _one_error(source):
        if handle.read(8) == keras_format.HDF5_SIGNATURE:
            # a Keras 3 .weights.h5: read in Keras's layout against this model's structure
            handle.seek(0)
            limit = 4 * sum(s.max_bytes for s in specs.values()) + 16 * 1024 * 1024
            raw = handle.read(limit + 1)
            if len(raw) > limit:
                raise source.error(f"it is larger than the model's weights allow ({limit} bytes).")
            try:
                document = keras_export.keras_config(model)
                arrays = keras_format.read_keras_weights(model, raw, document, "weights")
            except (keras_format.KerasImportError, keras_export.KerasExportError) as exc:
                raise source.error(f"its Keras weights do not fit this model: {exc}") from exc
            _check_finite(arrays, source, allow_nonfinite)
            _assign_weights(model, arrays)
            return
        handle.seek(0)
        archive = _open_zip(handle, source)
        with archive:
            names = {info.filename for info in archive.infolist()}
            if CONFIG_NAME not in names:
                arrays, _ = _read_arrays(archive, specs, set(specs), source, by_order=True)
                weights_source = source
            else:
                expected = (CONFIG_NAME, WEIGHTS_NAME, OPTIMIZER_NAME)
                members = _checked_members(
                    archive, source, lambda name: name in expected, _listing(list(expected))
                )
                if WEIGHTS_NAME not in members:
                    raise source.error(f"the archive has no {WEIGHTS_NAME!r} member.")
                raw = _read_member(
                    archive, members[WEIGHTS_NAME], _npz_limit(specs), source, WEIGHTS_NAME
                )
                weights_source = source.inner(WEIGHTS_NAME)
                arrays, _ = _read_npz(raw, specs, set(specs), weights_source, by_order=True)
        _check_finite(arrays, weights_source, allow_nonfinite)
    _assign_weights(model, arrays)


def model_from_json(
    json_string: str,
    custom_objects: dict | None = None,
    max_parameters: int | None = DEFAULT_MAX_PARAMETERS,
):
    """Rebuild a model's architecture (fresh weights) from ``Model.to_json()``'s text.

    Args:
        json_string: the text ``Model.to_json()`` (or Keras's ``to_json``) returned.
        custom_objects: name -> class or function for unregistered custom objects.
        max_parameters: refuse a config whose weights would hold more numbers than this, before
            allocating them (default 2**25, about 33.5 million: 128 MiB of float32, a
            ResNet-50's 25.6 million fit); None for no limit.

    Raises:
        UnsafeOrCorruptFileError: the text is not such a JSON document, names a class the
            registry does not know, exceeds ``max_parameters``, or describes layers that do not
            fit together (two samples of zeros are run through the model to prove it).

    Example:
        >>> clone = model_from_json(model.to_json())
    """
    from axonal import load_checks  # here: only loading needs it, not `import axonal`

    source = _Source("<json string>")
    if not isinstance(json_string, (str, bytes)):
        raise TypeError(f"model_from_json expects a JSON string, got {type(json_string).__name__}.")
    with _one_error(source):
        document = _parse_document(json_string, source)
        model = _build_model(document, source, custom_objects, max_parameters, initialize=True)
        problem = load_checks.probe_problem(model)
        if problem:
            raise source.error(f"the model it describes does not run: {problem}")
    return model


# Keras's class name for the scope; here the context manager itself
CustomObjectScope = custom_object_scope

__all__ = [
    "CustomObjectScope",
    "UnsafeOrCorruptFileError",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "serialize_keras_object",
    "load_model",
    "load_weights",
    "model_from_json",
    "model_to_json",
    "register_serializable",
    "save_model",
    "save_weights",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
