"""The ONNX graph under construction: named values, nodes, weights, and opset-aware helpers.

Nothing here knows about axonal layers. Converters (``onnx_layers``, ``onnx_recurrent``) ask
a ``GraphBuilder`` for nodes and constants and pass ``Value`` records between them: each holds
the ONNX name of a tensor with its Keras-style shape (batch first, channels last, None where
unknown), its dtype and the timestep mask that travels with it (itself a graph value).

The ``onnx`` package is imported when a builder is made, never at import time, so that
``import axonal.export`` needs only NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the symbolic name of the batch axis on every graph input and output
BATCH = "batch"
# the lowest opset this exporter writes (Squeeze/Unsqueeze/Split take axes as inputs from here)
MIN_OPSET = 13
# Slice bounds meaning "to the end" / "past the start" (the ONNX convention for int64)
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class OnnxExportError(ValueError):
    """A model (or one of its layers) that cannot be written as ONNX; the message says why."""


def layer_error(layer, reason: str) -> OnnxExportError:
    """The error for a layer that cannot be exported, naming it and its class."""
    return OnnxExportError(
        f"Cannot export layer '{layer.name}' ({type(layer).__name__}) to ONNX: {reason}"
    )


def import_onnx():
    """The ``onnx`` module, or an ImportError that names the pip extra."""
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package: pip install -e '.[onnx]' in the axonal checkout "
            "(or pip install onnx)."
        ) from None
    return onnx


@dataclass
class Value:
    """One tensor of the graph between layers, always in Keras's layout (channels last).

    Attributes:
        name: the ONNX value name.
        shape: batch shape with None for unknown sizes, e.g. ``(None, 8, 8, 1)``.
        dtype: NumPy dtype name, e.g. ``'float32'`` or ``'int64'``.
        mask: the ONNX name of the boolean ``(batch, time)`` timestep mask that goes with it
            (made by Embedding ``mask_zero`` or ``Masking``, True where a step is real), or
            None.
    """

    name: str
    shape: tuple
    dtype: str
    mask: str | None = None

    @property
    def masked(self) -> bool:
        """Whether a timestep mask goes with this value."""
        return self.mask is not None


class GraphBuilder:
    """Collects nodes and initializers and turns them into an ``onnx.ModelProto``.

    Args:
        opset: the default-domain opset the graph is written for (>= ``MIN_OPSET``).
    """

    def __init__(self, opset: int):
        self.onnx = import_onnx()
        self.helper = self.onnx.helper
        self.opset = int(opset)
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = set()
        self._constants: dict = {}
        # NHWC value name -> the NCHW value it was transposed from (or to), so a conv block
        # that follows another reuses the channels-first tensor instead of transposing twice
        self._channels_first: dict[str, str] = {}

    # ------------------------------------------------------------ names
    def reserve(self, name: str) -> str:
        """Claim ``name`` exactly (graph inputs and outputs); it must be free."""
        if name in self._names:
            raise OnnxExportError(f"Two graph inputs or outputs would both be called {name!r}.")
        self._names.add(name)
        return name

    def fresh(self, base: str) -> str:
        """A value name not used yet: ``base``, else ``base_1``, ``base_2``…"""
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    # ------------------------------------------------------------ nodes
    def op(self, op_type: str, inputs: list, n_outputs: int = 1, base: str | None = None, **attrs):
        """Add a node; returns its output name (a list of names when ``n_outputs`` > 1).

        ``inputs`` may hold '' for an omitted optional input. Attributes that are None are
        left out.
        """
        stem = base or op_type.lower()
        outputs = [self.fresh(stem) for _ in range(n_outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = self.helper.make_node(
            op_type, list(inputs), outputs, name=self.fresh(f"{stem}_node"), **attrs
        )
        self.nodes.append(node)
        return outputs[0] if n_outputs == 1 else outputs

    def identity(self, source: str, target: str) -> None:
        """An Identity node writing ``source`` to the (reserved) name ``target``."""
        node = self.helper.make_node(
            "Identity", [source], [target], name=self.fresh(f"{target}_identity")
        )
        self.nodes.append(node)

    # ------------------------------------------------------------ constants
    def constant(self, array, base: str, key=None) -> str:
        """An initializer holding ``array`` (its dtype kept); ``key`` reuses an earlier one.

        Converters key a layer's weights by ``(id(layer), what)``, so a layer called twice
        (a shared layer) stores its weights once.
        """
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.fresh(base)
        tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.initializers.append(tensor)
        if key is not None:
            self._constants[key] = name
        return name

    def ints(self, values) -> str:
        """A 1-D int64 constant (shapes, axes, pads), shared between nodes that need it."""
        values = tuple(int(v) for v in values)
        return self.constant(np.asarray(values, dtype=np.int64), "ints", key=("ints", values))

    def scalar(self, value: float, dtype: str) -> str:
        """A 0-d constant of ``dtype``, shared between nodes that need it."""
        array = np.asarray(value, dtype=dtype)
        return self.constant(array, "scalar", key=("scalar", dtype, array.item()))

    # ------------------------------------------------------------ opset-aware helpers
    def reduce(self, op_type: str, x: str, axes, keepdims: bool = True) -> str:
        """``Reduce*`` over ``axes``: axes are an input from opset 18 (ReduceSum: from 13)."""
        keep = int(bool(keepdims))
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=keep)
        return self.op(op_type, [x], axes=[int(a) for a in axes], keepdims=keep)

    def squeeze(self, x: str, axes) -> str:
        """Remove the length-1 ``axes``."""
        return self.op("Squeeze", [x, self.ints(axes)])

    def unsqueeze(self, x: str, axes) -> str:
        """Insert length-1 ``axes``."""
        return self.op("Unsqueeze", [x, self.ints(axes)])

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        """``Slice`` with constant bounds."""
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            inputs.append(self.ints(steps))
        return self.op("Slice", inputs)

    def cast(self, x: str, dtype: str) -> str:
        """``Cast`` to the NumPy dtype ``dtype``."""
        return self.op("Cast", [x], to=self.tensor_type(dtype))

    def tensor_type(self, dtype: str) -> int:
        """The ONNX element type of a NumPy dtype."""
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    # ------------------------------------------------------------ layouts
    def channels_first(self, x: str, spatial_rank: int) -> str:
        """``(N, *spatial, C)`` -> ``(N, C, *spatial)``, reusing an existing transposition."""
        known = self._channels_first.get(x)
        if known is not None:
            return known
        perm = [0, spatial_rank + 1] + list(range(1, spatial_rank + 1))
        out = self.op("Transpose", [x], perm=perm, base="to_channels_first")
        self._channels_first[x] = out
        return out

    def channels_last(self, x: str, spatial_rank: int) -> str:
        """``(N, C, *spatial)`` -> ``(N, *spatial, C)``; remembers ``x`` as its NCHW twin."""
        perm = [0] + list(range(2, spatial_rank + 2)) + [1]
        out = self.op("Transpose", [x], perm=perm, base="to_channels_last")
        self._channels_first[out] = x
        return out

    # ------------------------------------------------------------ the model
    def value_info(self, name: str, dtype: str, shape: tuple, unknown: str | None = None):
        """A typed value description; axis 0 is the symbolic batch, other unknown sizes are
        named ``{unknown}_dim{i}`` (graph inputs) or left anonymous."""
        dims = []
        for i, size in enumerate(shape):
            if i == 0:
                dims.append(BATCH)
            elif size is None:
                dims.append(None if unknown is None else f"{unknown}_dim{i}")
            else:
                dims.append(int(size))
        return self.helper.make_tensor_value_info(name, self.tensor_type(dtype), dims)

    def _live(self, outputs: list) -> tuple[list, list]:
        """The nodes and initializers the outputs depend on (unused transposes are dropped)."""
        needed = {info.name for info in outputs}
        nodes = []
        for node in reversed(self.nodes):
            if any(name in needed for name in node.output):
                nodes.append(node)
                needed.update(name for name in node.input if name)
        nodes.reverse()
        return nodes, [t for t in self.initializers if t.name in needed]

    def make_model(self, inputs: list, outputs: list, graph_name: str, doc: str = ""):
        """The finished ``ModelProto`` with graph ``inputs``/``outputs`` (value infos)."""
        nodes, initializers = self._live(outputs)
        graph = self.helper.make_graph(
            nodes, graph_name, inputs, outputs, initializer=initializers, doc_string=doc
        )
        opset = self.helper.make_opsetid("", self.opset)
        # the oldest IR version that can carry this opset: the widest range of runtimes loads it
        ir_version = self.helper.find_min_ir_version_for([opset])
        return self.helper.make_model(
            graph, opset_imports=[opset], ir_version=ir_version, producer_name="axonal"
        )
