"""Model: the structure of a trainable network (layers, weights, inputs and outputs, ``call``,
config, summary, saving). Training (compile, fit, evaluate, predict) is inherited from
``axonal.trainers.Trainer``."""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Callable

from axonal import autograd
from axonal.backend import numpy_dtype
from axonal.layers.base import CALLS, Layer, begin_top_level_call, infer_output_shape
from axonal.layers.symbolic import shape_str
from axonal.models.functional import Graph, flatten_structure
from axonal.registry import register
from axonal.tensor import Variable
from axonal.trainers.batch_data import adjust_rank
from axonal.trainers.trainer import Trainer


@register("layer", "Model", "Functional")
class Model(Trainer, Layer):
    """A trainable graph of layers with the Keras training API.

    Three ways to make one, as in Keras: ``Model(inputs, outputs)`` over symbolic tensors from
    ``Input`` and layer calls (any graph: several inputs and outputs, shared layers, nested
    models); ``Sequential``; or a subclass that defines ``call(inputs, training=False)``. The
    model is compiled with an optimizer, loss and metrics, then trained with ``fit`` on NumPy
    arrays; every user-facing method takes and returns plain arrays.

    Example:
        >>> inputs = Input(shape=(4,))
        >>> hidden = Dense(8, activation="relu")(inputs)
        >>> model = Model(inputs, Dense(3, activation="softmax")(hidden))
    """

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._graph: Graph | None = None
        self._input_keys: list | None = None
        self._single_input = True
        self._single_output = True
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("A functional Model needs both inputs and outputs.")
            flat_in, self._input_keys, self._single_input = flatten_structure(inputs, "input")
            flat_out, _, self._single_output = flatten_structure(outputs, "output")
            self._graph = Graph(flat_in, flat_out)
            float_inputs = [t.dtype for t in flat_in if numpy_dtype(t.dtype).kind == "f"]
            self.dtype = float_inputs[0] if float_inputs else self.dtype
            self.built = True

    # ------------------------------------------------------------ structure (subclasses)
    @property
    def layers(self) -> list[Layer]:
        """The model's layers, in call order (inputs are not layers here)."""
        if self._graph is not None:
            return list(self._graph.layers)
        # a subclassed model: the layers assigned as attributes, in assignment order
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at position ``index`` of ``layers``.

        Example:
            >>> model.get_layer("dense_1").output
        """
        found = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer takes a name or an index (one of them).")
        if index is not None:
            if not -len(found) <= index < len(found):
                raise ValueError(
                    f"get_layer got index {index}, but model '{self.name}' has {len(found)} layers."
                )
            return found[index]
        for layer in found:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No layer named {name!r} in model '{self.name}'; its layers are "
            f"{[layer.name for layer in found]}."
        )

    @property
    def weights(self) -> list[Variable]:
        """Every layer's weights, layer by layer (each layer: trainable, then the rest)."""
        own = list(self._weights) if self._graph is None else []
        return _unique(own + [w for layer in self.layers for w in layer.weights])

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights that training updates."""
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable] if self._graph is None else []
        return _unique(own + [w for layer in self.layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Weights that training leaves alone."""
        if not self.trainable:
            return self.weights
        own = [w for w in self._weights if not w.trainable] if self._graph is None else []
        return _unique(own + [w for layer in self.layers for w in layer.non_trainable_weights])

    def weight_constraints(self) -> list[tuple]:
        """Every layer's ``(variable, constraint)`` pairs, each variable once."""
        own = list(self._constrained) if self._graph is None else []
        pairs = own + [pair for layer in self.layers for pair in layer.weight_constraints()]
        return _unique(pairs, key=lambda pair: pair[0])

    def regularized_weights(self) -> list[tuple]:
        """Every layer's ``(variable, regularizer)`` pairs."""
        own = list(self._regularized) if self._graph is None else []
        return own + [pair for layer in self.layers for pair in layer.regularized_weights()]

    @property
    def input_shape(self):
        """Batch input shape, e.g. ``(None, 4)`` (a list for several inputs), once known."""
        if self._graph is None:
            return None
        shapes = [t.shape for t in self._graph.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def inputs(self) -> list:
        """The symbolic inputs of a functional model."""
        return list(self._graph.inputs) if self._graph is not None else []

    @property
    def outputs(self) -> list:
        """The symbolic outputs of a functional model."""
        return list(self._graph.outputs) if self._graph is not None else []

    @property
    def input(self):
        """The symbolic input (a list, or a dict by name, for several), as Keras's
        ``model.input``."""
        inputs = self.inputs
        if not inputs:
            raise ValueError(
                f"Model '{self.name}' has no symbolic input: a subclassed model only gets "
                "concrete inputs; build it as Model(inputs, outputs) or a Sequential with an "
                "Input."
            )
        if self._input_keys:
            return dict(zip(self._input_keys, inputs, strict=True))
        return inputs[0] if len(inputs) == 1 and self._single_input else inputs

    @property
    def output(self):
        """The symbolic output (a list for several), as Keras's ``model.output``."""
        outputs = self.outputs
        if not outputs:
            raise ValueError(
                f"Model '{self.name}' has no symbolic output: a subclassed model only gets "
                "concrete outputs; build it as Model(inputs, outputs) or a Sequential with an "
                "Input."
            )
        return outputs[0] if len(outputs) == 1 and self._single_output else outputs

    @property
    def input_names(self) -> list[str]:
        """Names of the inputs, in order (keys for dict-shaped ``x``)."""
        if self._graph is None:
            return ["input"]
        return [t.name for t in self._graph.inputs]

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, in order (keys for dict-shaped ``y``, prefixes in the logs)."""
        if self._graph is None:
            layers = self.layers
            return [layers[-1].name if layers else "output"]
        names = []
        for t in self._graph.outputs:
            name = t.name if t.index == 0 else f"{t.name}_{t.index}"
            while name in names:
                name += "_1"
            names.append(name)
        return names

    def _input_shapes(self) -> list:
        """Expected batch shape of each input (None where unknown)."""
        shape = self.input_shape
        if self._single_input:
            return [shape]
        return list(shape)

    def call(self, inputs, training: bool = False):
        """Run the functional graph; a subclassed model overrides this."""
        if self._graph is None:
            raise NotImplementedError(
                f"Model '{self.name}' has no graph: build it as Model(inputs, outputs), use "
                "Sequential, or subclass Model and define call(inputs, training=False)."
            )
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.input_names]
        if len(self._graph.inputs) == 1 and isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]  # model((x,)) or model([x]) for one input, as Keras takes it
        # one array for a model of one input, even one declared as a list (as Keras takes it)
        alone = not isinstance(inputs, (list, tuple)) and len(self._graph.inputs) == 1
        values = [inputs] if self._single_input or alone else list(inputs)
        if len(values) != len(self._graph.inputs):
            raise ValueError(
                f"Model '{self.name}' takes {len(self._graph.inputs)} inputs "
                f"({', '.join(self.input_names)}), got {len(values)}."
            )
        values = [adjust_rank(v, t.shape) for v, t in zip(values, self._graph.inputs, strict=True)]
        outputs = self._graph.run(values, training)
        return outputs[0] if self._single_output else outputs

    def compute_output_shape(self, input_shape):
        if self._graph is None:
            if type(self).call is Model.call:
                return super().compute_output_shape(input_shape)
            # a subclassed model: run its call once on zeros to learn the shape
            single = not isinstance(input_shape, list)
            shapes = [tuple(input_shape)] if single else [tuple(s) for s in input_shape]
            return infer_output_shape(
                lambda xs: self(xs[0] if single else xs), shapes, [self.dtype] * len(shapes)
            )
        shapes = [t.shape for t in self._graph.outputs]
        return shapes[0] if self._single_output else shapes

    def get_config(self) -> dict:
        """A functional model's graph as JSON; a subclassed model returns its base config."""
        if self._graph is None:
            return super().get_config()
        config = {"name": self.name, "trainable": self.trainable}
        config.update(self._graph.get_config())
        config["single_input"] = self._single_input
        config["single_output"] = self._single_output
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Model:
        """Rebuild a functional model (new layers, same names and connections)."""
        if "input_layers" not in config:
            if cls is Model:
                raise ValueError(
                    "A functional Model's config needs its graph ('layers', 'input_layers', "
                    "'output_layers'); this one has none, and a plain Model without a graph "
                    "cannot compute anything."
                )
            return cls(**config)
        inputs, outputs = Graph.from_config(config, custom_objects)
        return cls(
            inputs[0] if config.get("single_input") else inputs,
            outputs[0] if config.get("single_output") else outputs,
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )

    def infer(self, inputs):
        out = self(inputs, training=False)
        return [o.data for o in out] if isinstance(out, (list, tuple)) else out.data

    def _check_unique_paths(self) -> None:
        seen: dict[str, Variable] = {}
        for w in self.weights:
            if w.path in seen and seen[w.path] is not w:
                raise ValueError(
                    f"Two different weights are named '{w.path}': give the layers distinct names."
                )
            seen[w.path] = w

    def _output_shapes(self, xs: list) -> list:
        """Batch shape of each output for inputs like ``xs`` (runs a subclassed model once)."""
        if (
            self._graph is None
            and type(self).call is not Model.call
            and type(self).compute_output_shape is Model.compute_output_shape
        ):
            with autograd.no_grad():
                out = self(xs[0][:1] if len(xs) == 1 else [x[:1] for x in xs])
            outs = out if isinstance(out, (list, tuple)) else [out]
            return [(None,) + tuple(o.shape[1:]) for o in outs]
        shape = self.compute_output_shape(
            (None,) + xs[0].shape[1:] if len(xs) == 1 else [(None,) + x.shape[1:] for x in xs]
        )
        return shape if isinstance(shape, list) else [shape]

    def _input_dtype(self, x, index: int = 0):
        """Float data becomes the model's float type; integer data stays integer for layers
        that index with it (an Embedding first, or an ``Input`` declared with an int dtype);
        strings stay strings (the input of a preprocessing layer: ``accepts_strings``)."""
        if x.dtype.kind in "USO":
            return x.dtype
        if x.dtype.kind in "biu":
            if self._graph is not None:
                declared = numpy_dtype(self._graph.inputs[index].dtype)
                if declared.kind in "biu":
                    return declared
            elif self.layers and getattr(self.layers[0], "integer_inputs", False):
                return x.dtype
        return self.dtype

    def accepts_strings(self, index: int = 0) -> bool:
        """Whether input ``index`` takes strings: an ``Input(dtype="string")``, or a Sequential
        whose first layer reads text (``StringLookup``, ``Hashing``, ``TextVectorization``)."""
        if self._graph is not None:
            return numpy_dtype(self._graph.inputs[index].dtype).kind == "U"
        return bool(self.layers) and getattr(self.layers[0], "string_inputs", False)

    @property
    def graph(self):
        """The layer graph of a functional model (None for Sequential and subclassed ones)."""
        return self._graph

    def compute_outputs(self, xs: list, training: bool) -> list:
        """The model's outputs (Tensors, one per output) for prepared inputs ``xs`` (one array
        per input), as one top-level call: part of the batch interface strategies use."""
        # a top-level call, as model(x) would be: add_loss terms start afresh
        begin_top_level_call(self)
        CALLS.outermost = self
        try:
            out = self._call_with_training(xs[0] if len(xs) == 1 else xs, training, {})
        finally:
            CALLS.outermost = None
        return list(out) if isinstance(out, (list, tuple)) else [out]

    # ------------------------------------------------------------ description
    def summary(self, line_length: int | None = None, print_fn: Callable | None = None) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        text = self._summary_text(line_length or 78)
        if print_fn is None:
            sys.stdout.write(text)
        else:
            for line in text.rstrip("\n").split("\n"):
                print_fn(line)

    def _summary_rows(self) -> list[tuple]:
        """Rows of the summary: (layer (type), output shape, params[, connected to])."""
        if self._graph is None:
            return [
                (f"{layer.name} ({_type_name(layer)})", "?", f"{layer.count_params():,}")
                for layer in self.layers
                if not getattr(layer, "metadata_only", False)
            ]
        rows = [
            (f"{t.name} (InputLayer)", shape_str(t.shape), "0", "-") for t in self._graph.inputs
        ]
        for layer in self._graph.layers:
            if getattr(layer, "metadata_only", False):
                continue  # an identity that carries metadata (ColumnNames): not a step to show
            nodes = [n for n in self._graph.nodes if n.layer is layer]
            shapes = [shape_str(o.shape) for o in nodes[0].outputs]
            sources = [label for n in nodes for label in self._graph.inbound(n)]
            rows.append(
                (
                    f"{layer.name} ({_type_name(layer)})",
                    ", ".join(shapes),
                    f"{layer.count_params():,}",
                    ", ".join(sources),
                )
            )
        return rows

    def _summary_text(self, width: int) -> str:
        rows = self._summary_rows()
        connected = bool(rows) and len(rows[0]) == 4
        if connected:
            width = max(width, 100)
            cols = [int(width * 0.3) - 2, int(width * 0.22) - 2, int(width * 0.12) - 2]
        else:
            cols = [int(width * 0.45) - 2, int(width * 0.33) - 2]
        cols.append(width - sum(cols) - len(cols) - 1)
        out = io.StringIO()
        out.write(f'Model: "{self.name}"\n')

        def border(left, mid, right, fill):
            return left + mid.join(fill * (c + 2) for c in cols) + right + "\n"

        def row(cells, edge="│"):
            # a cell longer than its column wraps onto more lines, as Keras's summary does
            count = len(cells) if connected else 3
            wrapped = [
                textwrap.wrap(str(cells[i]), cols[i], break_on_hyphens=False) or [""]
                for i in range(count)
            ]
            lines = []
            for line in range(max(len(w) for w in wrapped)):
                texts = [w[line] if line < len(w) else "" for w in wrapped]
                parts = [
                    f" {texts[0]:<{cols[0]}} ",
                    f" {texts[1]:<{cols[1]}} ",
                    f" {texts[2]:>{cols[2]}} ",
                ]
                if connected:
                    parts.append(f" {texts[3]:<{cols[3]}} ")
                lines.append(edge + edge.join(parts) + edge + "\n")
            return "".join(lines)

        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        out.write(border("┏", "┳", "┓", "━"))
        out.write(row(header, "┃"))
        out.write(border("┡", "╇", "┩", "━"))
        for i, cells in enumerate(rows):
            out.write(row(cells))
            if i < len(rows) - 1:
                out.write(border("├", "┼", "┤", "─"))
        out.write(border("└", "┴", "┘", "─"))
        trainable = sum(int(w.data.size) for w in self.trainable_weights)
        total = self.count_params()
        total_bytes = sum(int(w.data.nbytes) for w in self.weights)
        train_bytes = sum(int(w.data.nbytes) for w in self.trainable_weights)
        out.write(f" Total params: {total:,} ({_bytes(total_bytes)})\n")
        out.write(f" Trainable params: {trainable:,} ({_bytes(train_bytes)})\n")
        out.write(
            f" Non-trainable params: {total - trainable:,} ({_bytes(total_bytes - train_bytes)})\n"
        )
        return out.getvalue()

    # ------------------------------------------------------------ saving
    def save(self, filepath, overwrite: bool = True) -> None:
        """Write the whole model (architecture, weights, compile settings, optimizer state) to
        one ``.axonal`` file, atomically: a crash mid-save leaves the old file intact.

        A ``.keras`` name writes a Keras 3 archive that real Keras loads (needs h5py, the
        ``keras-files`` extra); a legacy ``.h5`` name is refused with the alternatives.

        Example:
            >>> model.save("model.axonal")
            >>> model = axonal.models.load_model("model.axonal")
        """
        from axonal import saving

        _check_overwrite(filepath, overwrite)
        saving.save_model(self, filepath)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write every weight to an ``.npz`` keyed by weight path (``dense/kernel``), atomically.

        A ``.weights.h5`` name writes Keras 3's HDF5 weights file instead (needs h5py).

        Example:
            >>> model.save_weights("model.weights.npz")
        """
        from axonal import saving

        _check_overwrite(filepath, overwrite)
        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Set the weights from ``save_weights``'s file (or a ``.axonal`` archive, or a Keras 3
        ``.weights.h5``); every name, shape and dtype is checked before any weight changes.

        Example:
            >>> model.load_weights("model.weights.npz")
        """
        from axonal import saving

        saving.load_weights(self, filepath)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON text (no weights); rebuild with ``models.model_from_json``.

        Args:
            **kwargs: passed to ``json.dumps`` after the config is built (e.g. ``indent``).
        """
        from axonal import saving

        text = saving.model_to_json(self)
        if kwargs:
            import json

            text = json.dumps(json.loads(text), **kwargs)
        return text


def _check_overwrite(filepath, overwrite: bool) -> None:
    import os

    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False.")


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _unique(items: list, key=None) -> list:
    """``items`` without repeats (by identity of ``key(item)``, or of the item), in order."""
    seen = set()
    out = []
    for item in items:
        marker = id(item if key is None else key(item))
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


def _type_name(layer) -> str:
    """The type shown in summaries (an op node shows its op, e.g. ``Add``)."""
    return getattr(layer, "_summary_type", None) or type(layer).__name__
