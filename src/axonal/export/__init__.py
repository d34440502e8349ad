"""Export trained models to other formats: ONNX, for ONNX Runtime and other inference engines.

Example:
    >>> from axonal.export import to_onnx
    >>> to_onnx(model, "model.onnx")          # then: onnxruntime.InferenceSession("model.onnx")

Only NumPy is imported here; the ``onnx`` package (``pip install -e '.[onnx]'``) is imported
when ``to_onnx`` runs.
"""

from __future__ import annotations

import os

import numpy as np

from axonal.export.onnx_convert import EXPORTABLE_LAYERS, build_model_proto
from axonal.export.onnx_graph import MIN_OPSET, OnnxExportError, import_onnx

__all__ = ["EXPORTABLE_LAYERS", "OnnxExportError", "to_onnx"]

# protobuf cannot serialise a message of 2 GiB or more
_MAX_PROTO_BYTES = 2**31 - 1


def to_onnx(model, path: str | os.PathLike, opset: int = 17):
    """Write ``model`` as an ONNX file computing what ``model.predict`` computes.

    The graph has one input per model input (a Sequential model's is called ``input``) and one
    output per model output, named as ``model.output_names``; the batch axis is dynamic
    (``batch``), every other axis keeps its size. Data stays channels-last as in axonal.
    Inference semantics: Dropout and noise layers are the identity, BatchNormalization uses its
    moving statistics. The file is written atomically, and only once the whole model has
    converted and passed ``onnx.checker``.

    Args:
        model: a built Sequential or functional ``Model`` (nested models are fine).
        path: where to write the ``.onnx`` file.
        opset: the ONNX opset to target, from 13 to the newest the installed ``onnx`` knows.

    Returns:
        The ``onnx.ModelProto`` that was written.

    Raises:
        OnnxExportError: (a ValueError) for a layer without an ONNX equivalent — the message
            names the layer — or a model that is not built.
        ImportError: when the ``onnx`` package is missing.

    Example:
        >>> to_onnx(model, "iris.onnx")
        >>> session = onnxruntime.InferenceSession("iris.onnx")
        >>> session.run(None, {"input": x_test.astype("float32")})[0]
    """
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"to_onnx opset must be an integer, got {opset!r}.")
    opset = int(opset)
    onnx = import_onnx()
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"to_onnx opset must be between {MIN_OPSET} and {newest} (the newest the installed "
            f"onnx {onnx.__version__} knows), got {opset}."
        )
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"to_onnx path {path!r}: the folder {folder!r} does not exist.")
    proto = build_model_proto(model, opset)
    size = proto.ByteSize()
    if size > _MAX_PROTO_BYTES:
        raise OnnxExportError(
            f"Model '{model.name}' needs {size:,} bytes as ONNX, more than the 2 GiB one "
            "protobuf file can hold."
        )
    onnx.checker.check_model(proto, full_check=True)
    from axonal.atomic import atomic_write

    with atomic_write(path, "wb") as handle:
        handle.write(proto.SerializeToString())
    return proto
