"""Model: compile, fit, evaluate, predict and friends on top of a layer graph's ``call``."""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from typing import Any

from axonal import autograd, kernels
from axonal import data as data_utils
from axonal import functional as F
from axonal import losses as losses_module
from axonal import metrics as metrics_module
from axonal import optimizers as optimizers_module
from axonal.backend import rng, xp
from axonal.callbacks import (
    CallbackList,
    History,
    InterruptGuard,
    Progbar,
    ProgbarLogger,
    resolve_verbose,
)
from axonal.layers.base import CALLS, Layer, begin_top_level_call, infer_output_shape
from axonal.layers.masking import mask_of, masks_in_use
from axonal.layers.symbolic import shape_str
from axonal.models import compile_utils
from axonal.models.functional import Graph, flatten_structure
from axonal.parameter_buffer import ParameterBuffer
from axonal.registry import register
from axonal.tensor import Tensor, Variable
from axonal.trainers import step_loop
from axonal.trainers.compile_metrics import CompileMetrics
from axonal.trainers.trainer import Trainer, overridden_steps

_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)
# shuffled data up to this size is copied once per epoch; larger data is gathered per batch
_EPOCH_COPY_BYTES = 1 << 20
# losses that compare each target value with the output value at the same place
_ELEMENTWISE_LOSSES = (
    losses_module.mean_squared_error,
    losses_module.mean_absolute_error,
    losses_module.huber,
    losses_module.log_cosh,
    losses_module.binary_crossentropy,
)


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
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._output_heads: list[compile_utils.OutputHead] = []
        self._paths_checked = False
        # the regularized weights while training steps run (fixed per epoch, as the variables
        # are); None outside them, where each loss walks the layers
        self._step_regularized: list[tuple] | None = None
        # the running loss ('loss' in the logs) and compile(metrics=...) as Keras 3's metrics
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_metrics = CompileMetrics(self)
        # a strategy from compile(distribute=...), e.g. axonal.distributed.DataParallel
        self._distribute = None
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
            float_inputs = [t.dtype for t in flat_in if xp.dtype(t.dtype).kind == "f"]
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

    # ------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: list | None = None,
        weighted_metrics: list | None = None,
        distribute: Any = None,
        jit_compile: bool | str = "auto",
        **kwargs,
    ) -> None:
        """Configure training: optimizer, loss, metrics (names, functions or objects).

        Args:
            optimizer: name (Keras defaults) or Optimizer instance. Default ``'rmsprop'``.
            loss: name, function ``f(y_true, y_pred)`` or Loss instance.
            loss_weights: a scale for the loss (one output), or a one-element list/dict.
            metrics: e.g. ``['accuracy']``; evaluated unweighted.
            weighted_metrics: metrics that take ``sample_weight`` into account.
            distribute: None (one process), or a strategy such as
                ``axonal.distributed.DataParallel()`` that ``fit`` trains with over MPI ranks.
            jit_compile: ``"auto"`` runs the optimizer's update as one compiled loop when numba
                is installed (``pip install -e '.[fast]'``) and the model is large; True
                at every size (warns if numba is missing); False never. Results are identical.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
            ...               metrics=["accuracy"])
        """
        ignored = {"run_eagerly", "steps_per_execution", "auto_scale_loss"}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            raise TypeError(f"compile() got unexpected keyword argument(s): {', '.join(unknown)}.")
        if distribute is not None and not hasattr(distribute, "train_step"):
            raise TypeError(
                "compile(distribute=...) takes None or a strategy such as "
                f"axonal.distributed.DataParallel(), got {distribute!r}."
            )
        jit_compile = kernels.check_mode(jit_compile)
        names = self.output_names
        new_optimizer = optimizers_module.get(optimizer)
        specs = compile_utils.per_output(loss, names, "loss")
        heads_losses = [None if spec is None else losses_module.get(spec) for spec in specs]
        # no loss at all is allowed (Keras): add_loss terms, an overridden compute_loss or
        # train_step supply it, and fit says so when nothing does
        if loss is not None and all(head_loss is None for head_loss in heads_losses):
            raise ValueError(f"compile() needs a loss for at least one output of {names}.")
        if distribute is not None and loss is None:
            raise ValueError("compile(distribute=...) needs a loss for the strategy to train.")
        factors = compile_utils.loss_weights(loss_weights, names)
        metric_lists = compile_utils.metric_lists(metrics, names, "metrics")
        weighted_lists = compile_utils.metric_lists(weighted_metrics, names, "weighted_metrics")
        heads = []
        for i, name in enumerate(names):
            head_loss = heads_losses[i]
            loss_name = None if head_loss is None else compile_utils.loss_name(specs[i], head_loss)
            # resolve now so an unknown name fails here, not after the first epoch
            for spec in metric_lists[i] + weighted_lists[i]:
                compile_utils.resolve_metric(spec, loss_name)
            heads.append(
                compile_utils.OutputHead(
                    name, head_loss, loss_name, factors[i], metric_lists[i], weighted_lists[i]
                )
            )
        new_optimizer.jit_compile = jit_compile
        self.optimizer = new_optimizer
        self.jit_compile = jit_compile
        self.loss = heads_losses[0] if len(heads_losses) == 1 else heads_losses
        self._output_heads = heads
        self._distribute = distribute
        self.compiled = True

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(): the model has no loss or optimizer."
            )

    def _resolve_metrics(self, ys: list, out_shapes: list) -> None:
        """Resolve each output's metrics now that target and output shapes are known."""
        for head, y, out_shape in zip(self._output_heads, ys, out_shapes, strict=True):
            if not head.resolved:
                head.resolve_metrics(y.shape, out_shape)

    def _structure_changed(self) -> None:
        """Layers were added or removed: check weight names and resolve 'accuracy' again."""
        self._paths_checked = False
        for head in self._output_heads:
            head.metrics = []
            head.weighted_metrics = []

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns: ``['loss', *metrics]``."""
        return list(self._logs())

    # ------------------------------------------------------------ data preparation
    def _as_list(self, value, what: str, names: list[str], prefix: str) -> list:
        """User data for several inputs/outputs as a list in model order, or a clear error."""
        if len(names) == 1:
            if isinstance(value, (list, tuple)) and len(value) == 1 and not _is_numeric_list(value):
                value = value[0]
            elif isinstance(value, dict) and len(value) == 1:
                value = next(iter(value.values()))
            return [value]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                raise ValueError(
                    f"{prefix}{what} is missing {missing}; the model's {what} names are {names}."
                )
            return [value[n] for n in names]
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            got = f"{len(value)} arrays" if isinstance(value, (list, tuple)) else "one array"
            raise ValueError(
                f"Model '{self.name}' has {len(names)} {what}s ({', '.join(names)}): pass "
                f"{prefix}{what} as a list of {len(names)} arrays or a dict by name, got {got}."
            )
        return list(value)

    def _prepare_x(self, x, prefix: str = "") -> list:
        """Validate and convert the inputs; a list with one array per model input."""
        names = self.input_names if self._graph is not None else ["x"]
        values = self._as_list(x, "input", names, prefix)
        arrays = []
        for i, (value, shape) in enumerate(zip(values, self._input_shapes(), strict=True)):
            label = f"{prefix}x" if len(values) == 1 else f"{prefix}x['{names[i]}']"
            self._check_columns(value, i, label)
            array = data_utils.to_array(value, label)
            array = array.astype(self._input_dtype(array, i), copy=False)
            data_utils.check_finite(array, label)
            array = adjust_rank(array, shape)
            self._check_input_shape(array, label, shape)
            arrays.append(array)
        return arrays

    def _check_columns(self, value, index: int, label: str) -> None:
        """A DataFrame must have the columns the model was trained on (once it knows them)."""
        known = getattr(self, "_feature_names", None)
        got = data_utils.column_names(value)
        if known is None or got is None or known[index] is None:
            return
        data_utils.check_columns(got, known[index], label)

    def _remember_columns(self, x) -> None:
        """Keep the column names of the first DataFrame(s) trained or evaluated on.

        Held in memory only (``save`` does not store them); arrays carry no names and are
        never checked.
        """
        if getattr(self, "_feature_names", None) is not None:
            return
        names = self.input_names if self._graph is not None else ["x"]
        columns = [data_utils.column_names(v) for v in self._as_list(x, "input", names, "")]
        if any(c is not None for c in columns):
            self._feature_names = columns

    def _prepare(self, x, y, sample_weight=None, class_weight=None, prefix: str = ""):
        """Validate and convert one data set; raises before anything changes."""
        xs = self._prepare_x(x, prefix)
        names = self.output_names
        if y is None:
            raise ValueError(f"{prefix}y (the targets) is required for training and evaluation.")
        y_values = self._as_list(y, "output", names, prefix)
        y_labels = [f"{prefix}y" if len(names) == 1 else f"{prefix}y['{name}']" for name in names]
        ys = []
        for value, label in zip(y_values, y_labels, strict=True):
            array = data_utils.to_array(value, label, hint=data_utils.TARGET_HINT)
            data_utils.check_finite(array, label)
            ys.append(array)
        x_labels = (
            [f"{prefix}x"] if len(xs) == 1 else [f"{prefix}x['{n}']" for n in self.input_names]
        )
        data_utils.check_lengths(dict(zip(x_labels + y_labels, xs + ys, strict=True)))
        if len(xs[0]) == 0:
            # no batches would run and the logged loss would be a made-up 0.0
            raise ValueError(
                f"{x_labels[0]} has no samples (shape {xs[0].shape}); at least one is needed."
            )
        out_shapes = self._output_shapes(xs)
        ys = [
            self._check_targets(array, shape, label, head)
            for array, shape, label, head in zip(
                ys, out_shapes, y_labels, self._output_heads, strict=True
            )
        ]
        if class_weight is not None and len(names) > 1:
            raise ValueError("class_weight is only supported for models with a single output.")
        weight_dtype = xs[0].dtype if xs[0].dtype.kind == "f" else self.dtype
        if isinstance(sample_weight, (list, tuple, dict)) and len(names) > 1:
            per_output = compile_utils.per_output(sample_weight, names, "sample_weight")
        else:
            per_output = [sample_weight for _ in names]
        weights = [
            data_utils.sample_weights(y, w, class_weight, len(xs[0]), weight_dtype)
            for y, w in zip(ys, per_output, strict=True)
        ]
        if not prefix:
            # everything is valid: only now may the model learn the DataFrame's column names
            self._remember_columns(x)
        return xs, ys, weights, out_shapes

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
        that index with it (an Embedding first, or an ``Input`` declared with an int dtype)."""
        if x.dtype.kind in "biu":
            if self._graph is not None:
                declared = xp.dtype(self._graph.inputs[index].dtype)
                if declared.kind in "biu":
                    return declared
            elif self.layers and getattr(self.layers[0], "integer_inputs", False):
                return x.dtype
        return self.dtype

    def _check_input_shape(self, x, name: str, expected=None) -> None:
        if expected is None:
            expected = self._input_shapes()[0] if self._single_input else None
        if expected is None:
            return
        got = x.shape
        want = tuple(expected[1:])
        if got[1:] == want:
            return
        if len(got) - 1 != len(want) or any(
            w is not None and w != g for w, g in zip(want, got[1:], strict=False)
        ):
            detail = ""
            if len(want) == 1 and len(got) == 2:
                detail = f": {got[1]} features instead of {want[0]}"
            raise ValueError(
                f"Model '{self.name}' expects samples of shape {tuple(want)} (input shape "
                f"{shape_str(expected)}), got {name} with shape {got}{detail}."
            )

    def _check_targets(self, y, out_shape: tuple, name: str, head):
        loss_fn = getattr(head.loss, "fn", None)
        if loss_fn in _SPARSE_LOSSES:
            classes = out_shape[-1]
            if classes is not None:
                data_utils.check_sparse_labels(y, classes, name)
            return y.astype(xp.int64, copy=False)
        if loss_fn is losses_module.categorical_crossentropy:
            if not _fits_sample_shape(tuple(y.shape[1:]), tuple(out_shape[1:])):
                raise ValueError(
                    f"categorical_crossentropy needs one-hot targets of shape (samples, "
                    f"{', '.join(str(d) for d in out_shape[1:])}), got {name} with shape "
                    f"{y.shape}; "
                    "for integer labels use sparse_categorical_crossentropy "
                    "(or axonal.utils.to_categorical)."
                )
        if loss_fn in _ELEMENTWISE_LOSSES:
            _check_target_shape(y, out_shape, name, loss_fn.__name__)
        if y.dtype.kind != "f" or y.dtype != self.dtype:
            y = y.astype(self.dtype)
        return y

    def _pack_trainable_weights(self) -> None:
        """Pack the trainable weights into one ``ParameterBuffer`` and hand it to the optimizer,
        which then updates all of them with one fused step. Values are unchanged; packed again
        only when the set of weights changes or a weight was given a new array."""
        variables = self.trainable_weights
        key = tuple(id(v) for v in variables)
        packed = self.__dict__.get("_packed")
        if (
            packed is None
            or packed[0] != key
            or (packed[1] is not None and not packed[1].holds(variables))
        ):
            buffers = ParameterBuffer.pack(variables)
            # weights of several dtypes take the per-variable path
            packed = self._packed = (key, buffers[0] if len(buffers) == 1 else None)
        if self.optimizer is not None:
            self.optimizer.use_buffer(packed[1])

    @property
    def output_heads(self) -> list:
        """One ``OutputHead`` per model output once compiled: its loss, loss weight and
        metrics (what saving and the training strategies read)."""
        return self._output_heads

    def prepare_batch(self, x, y, sample_weight=None, class_weight=None) -> tuple:
        """``(xs, ys, weights)``: the data validated and converted as ``fit`` takes it, one
        array per input / output each; builds the model and resolves the metrics.

        Raises:
            ValueError: the data does not fit the model (nothing has changed then).
        """
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_built(xs)
        self._resolve_metrics(ys, out_shapes)
        return xs, ys, weights

    @property
    def graph(self):
        """The layer graph of a functional model (None for Sequential and subclassed ones)."""
        return self._graph

    def _ensure_built(self, xs: list) -> None:
        if not self.built:
            if len(xs) == 1:
                self.build_from_shape((None,) + tuple(xs[0].shape[1:]))
            else:
                self.build_from_shape([(None,) + tuple(x.shape[1:]) for x in xs])
        if not self._paths_checked:
            self._check_unique_paths()
            self._paths_checked = True

    # ------------------------------------------------------------ steps
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

    def compute_losses(self, ys: list, preds: list, weights: list) -> tuple[Tensor, list]:
        """The total loss (each output's compiled loss times its weight, plus regularization
        and ``add_loss`` terms) and each output's loss, for prepared targets ``ys``, outputs
        ``preds`` and sample weights (one entry per output each)."""
        total = None
        per_output = []
        for head, y, pred, w in zip(self._output_heads, ys, preds, weights, strict=True):
            if head.loss is None:
                per_output.append(None)
                continue
            if masks_in_use():
                w = _with_timestep_mask(w, mask_of(pred))
            value = head.loss(y, pred, w)
            per_output.append(value)
            if head.weight != 1.0:
                value = F.multiply(value, head.weight)
            total = value if total is None else F.add(total, value)
        pairs = self._step_regularized
        for variable, regularizer in self.regularized_weights() if pairs is None else pairs:
            total = F.add(total, regularizer(variable))
        if CALLS.losses_added:
            for term in self.added_losses():
                total = F.add(total, term if term.data.ndim == 0 else F.sum(term))
        return total, per_output

    def _reset_trackers(self) -> None:
        self._loss_tracker.reset_state()
        for head in self._output_heads:
            head.reset()

    def track_batch(self, loss: Tensor, per_output: list, ys: list, preds: list, weights: list):
        """Add one batch to the running loss and compiled metrics (``compute_losses``'s results
        and the batch it ran on)."""
        n = len(ys[0])
        if n == 0:
            # an empty batch (Poisson sampling can draw one) has no loss to average in
            return
        # totals added directly: Mean.update_state's checks cost more than this whole step
        tracker = self._loss_tracker
        tracker.total += float(loss.data) * n
        tracker.count += n
        several = len(self._output_heads) > 1
        for head, value, y, pred, w in zip(
            self._output_heads, per_output, ys, preds, weights, strict=True
        ):
            if several and value is not None:
                head.loss_tracker.total += float(value.data) * n
                head.loss_tracker.count += n
            head.update_metrics(y, pred.data, w)

    def metric_totals(self) -> list[float]:
        """Every loss and metric accumulator, flat (summed over ranks in distributed fit)."""
        values = [self._loss_tracker.total, self._loss_tracker.count]
        for head in self._output_heads:
            values += [head.loss_tracker.total, head.loss_tracker.count]
            for m in head.metrics + head.weighted_metrics:
                values += [m.total, m.count]
        return values

    def set_metric_totals(self, values: list[float]) -> None:
        """Put back what ``metric_totals`` returned (in the same order)."""
        values = iter(values)
        self._loss_tracker.total, self._loss_tracker.count = next(values), next(values)
        for head in self._output_heads:
            head.loss_tracker.total, head.loss_tracker.count = next(values), next(values)
            for m in head.metrics + head.weighted_metrics:
                m.total, m.count = next(values), next(values)

    def _logs(self) -> dict:
        logs = {"loss": self._loss_tracker.result()}
        several = len(self._output_heads) > 1
        if several:
            for head in self._output_heads:
                if head.loss is not None:
                    logs[f"{head.name}_loss"] = head.loss_tracker.result()
        for head in self._output_heads:
            for m in head.metrics + head.weighted_metrics:
                logs[f"{head.name}_{m.name}" if several else m.name] = m.result()
        return logs

    def _train_step(self, xs: list, ys: list, weights: list, variables: list | None = None):
        if variables is None:
            variables = self.trainable_weights
        private_step = getattr(self.optimizer, "private_train_step", None)
        if private_step is not None:
            # a DP optimizer needs per-example gradients, which it computes itself
            loss, per_output, preds = private_step(self, xs, ys, weights, variables)
            self.track_batch(loss, per_output, ys, preds, weights)
            return
        preds = self.compute_outputs(xs, training=True)
        loss, per_output = self.compute_losses(ys, preds, weights)
        if loss.requires_grad:
            for v in variables:
                v.grad = None
            loss.backward()
            self.optimizer.apply_gradients([(v.grad, v) for v in variables])
        self.track_batch(loss, per_output, ys, preds, weights)

    def _test_step(self, xs: list, ys: list, weights: list) -> None:
        preds = self.compute_outputs(xs, training=False)
        loss, per_output = self.compute_losses(ys, preds, weights)
        self.track_batch(loss, per_output, ys, preds, weights)

    # ------------------------------------------------------------ fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight=None,
        initial_epoch: int = 0,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
    ) -> History:
        """Train for ``epochs`` epochs on arrays ``x``, ``y``; returns a ``History``.

        ``x`` and ``y`` are arrays, or lists / dicts of arrays for models with several inputs
        or outputs. All input is validated before any weight changes: a bad call raises and
        leaves the model as it was.

        Ctrl-C stops training at the next step boundary: the weights and the History of the
        completed epochs are kept, ``on_train_end`` runs, one line says so and ``fit`` returns
        the History (a second Ctrl-C raises ``KeyboardInterrupt`` at once).

        Example:
            >>> history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
            >>> history.history["loss"][-1]
        """
        self._require_compiled("fit")
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        epochs = data_utils.check_positive_int(epochs, "epochs", minimum=0)
        initial_epoch = data_utils.check_positive_int(initial_epoch, "initial_epoch", minimum=0)
        validation_freq = data_utils.check_positive_int(validation_freq, "validation_freq")
        val_batch = (
            batch_size
            if validation_batch_size is None
            else data_utils.check_positive_int(validation_batch_size, "validation_batch_size")
        )
        verbose = resolve_verbose(verbose)
        callback_list = list(callbacks or [])
        if self._runs_steps("train_step", x, validation_data, steps_per_epoch):
            if class_weight is not None or validation_split:
                raise ValueError(
                    "class_weight and validation_split take in-memory arrays and the built-in "
                    "train_step; pass validation_data (and sample weights in the batches)."
                )
            return step_loop.fit(
                self,
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callback_list,
                validation_data=validation_data,
                shuffle=shuffle,
                sample_weight=sample_weight,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                validation_batch_size=val_batch,
                validation_freq=validation_freq,
            )

        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, class_weight)
        validation = None
        if validation_data is not None:
            validation = self._prepare_validation(validation_data)
        elif validation_split:
            arrays = xs + ys + weights
            train, held_out = data_utils.split_validation(arrays, validation_split)
            xs, ys, weights = _regroup(train, len(xs), len(ys))
            validation = _regroup(held_out, len(xs), len(ys))
        self._ensure_built(xs)
        self._pack_trainable_weights()
        self._resolve_metrics(ys, out_shapes)

        n = len(xs[0])
        dist = self._distribute
        if dist is not None and dist.num_replicas_in_sync == 1:
            dist = None  # a single process: nothing to share, the plain loop
        if dist is not None:
            # every rank checks the others got the same call and starts from rank 0's weights;
            # only rank 0 prints and runs the callbacks that write files
            dist.begin_fit(self, n, batch_size, epochs, initial_epoch)
            verbose, callback_list = dist.local_output(verbose, callback_list)
            if validation is not None:
                validation = dist.shard(validation)
        history = History()
        steps = math.ceil(n / batch_size) if dist is None else dist.steps(n, batch_size)
        builtin = [history] + ([ProgbarLogger()] if verbose else [])
        # the user's callbacks first, as in Keras: History then sees what they add to the logs
        cbs = CallbackList(
            callback_list + builtin,
            model=self,
            params={"verbose": verbose, "epochs": epochs, "steps": steps},
        )
        self.stop_training = False
        self.history = history
        logs: dict = {}
        arrays = xs + ys + weights
        small = sum(a.nbytes for a in xs) <= _EPOCH_COPY_BYTES
        # ``sampler(n, batch_size, shuffle)`` -> one index array per step
        sampler = getattr(self.optimizer, "epoch_batches", None)
        # Ctrl-C sets interrupt.requested; training stops at the next step boundary
        interrupt = InterruptGuard() if dist is None else dist.interrupt_guard()
        # distributed: forward and backward on this rank's slice, then one allreduce
        train_step = self._train_step if dist is None else dist.train_step
        epoch_now, steps_done = initial_epoch, 0
        with interrupt:
            try:
                cbs.call("on_train_begin", None)
                batch_begin = cbs.has("on_train_batch_begin")
                batch_end = cbs.has("on_train_batch_end")
                for epoch in range(initial_epoch, epochs):
                    if interrupt.requested:
                        break
                    epoch_now, steps_done = epoch, 0
                    # per epoch, not per step: a callback may freeze layers between epochs
                    variables = self.trainable_weights
                    self._step_regularized = self.regularized_weights()
                    self._reset_trackers()
                    cbs.call("on_epoch_begin", epoch, None)
                    epoch_arrays = arrays
                    if sampler is not None:
                        # the optimizer draws the batches (DP-SGD's Poisson sampling)
                        parts, order = sampler(n, batch_size, shuffle), None
                    elif dist is not None:
                        # this rank's slice of each global batch of rank 0's permutation
                        parts, order = dist.epoch_batches(n, batch_size, shuffle)
                    else:
                        parts = data_utils.batch_slices(n, batch_size)
                        order = rng().permutation(n) if shuffle else None
                    if order is not None and small:
                        # small data: one gather per epoch is cheaper than one per batch
                        epoch_arrays = [None if a is None else a[order] for a in arrays]
                        order = None
                    for step, part in enumerate(parts):
                        if interrupt.requested:
                            break
                        if batch_begin:
                            cbs.call("on_train_batch_begin", step, None)
                        if order is not None:
                            # large data: gather each batch by index, never a shuffled copy
                            part = order[part]
                        batch = [None if a is None else a[part] for a in epoch_arrays]
                        if train_step(*_regroup(batch, len(xs), len(ys)), variables):
                            # distributed: every rank agreed to stop, before this step's update
                            break
                        steps_done = step + 1
                        if batch_end:
                            cbs.call("on_train_batch_end", step, self._logs())
                        # distributed, a stop asked for here reaches all ranks with the next step
                        if self.stop_training and dist is None:
                            break
                    if interrupt.requested and steps_done < steps:
                        # an unfinished epoch gets no on_epoch_end and no place in History
                        break
                    if dist is not None:
                        # the loss and metrics over all ranks; the same BatchNorm statistics
                        dist.end_epoch(self)
                    logs = self._logs()
                    if validation is not None and (epoch + 1) % validation_freq == 0:
                        val_logs = self._evaluate_arrays(*validation, val_batch, cbs, None, dist)
                        logs.update({"val_" + k: v for k, v in val_logs.items()})
                    cbs.call("on_epoch_end", epoch, logs)
                    if dist is not None:
                        dist.agree_to_stop(self, interrupt)
                    if self.stop_training or interrupt.requested:
                        break
            except KeyboardInterrupt as error:
                if dist is not None:
                    # the other ranks wait in a collective this rank will never join
                    dist.fail(error)
                # Ctrl-C where no handler could be installed stops here; a second Ctrl-C
                # (the user insists) goes through
                if interrupt.requested:
                    raise
                interrupt.requested = True
            except Exception as error:
                if dist is None:
                    raise
                dist.fail(error)
            finally:
                self._step_regularized = None
        if dist is not None:
            dist.end_fit(self)
        if interrupt.requested:
            self.stop_training = True
        if interrupt.requested and (dist is None or dist.rank == 0):
            done = len(history.epoch)
            sys.stdout.write(
                ("\n" if verbose == 1 else "")
                + f"Training interrupted at epoch {epoch_now + 1}/{epochs}, step "
                + f"{steps_done}/{steps}: keeping the weights and the history of {done} "
                + f"completed epoch{'' if done == 1 else 's'}.\n"
            )
            sys.stdout.flush()
        cbs.call("on_train_end", logs)
        return history

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            got = type(validation_data).__name__
            if isinstance(validation_data, (tuple, list)):
                got += f" of length {len(validation_data)}"
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val), got {got}."
            )
        xv, yv = validation_data[0], validation_data[1]
        wv = validation_data[2] if len(validation_data) == 3 else None
        xv, yv, wv, _ = self._prepare(xv, yv, wv, None, prefix="validation_data ")
        return xv, yv, wv

    def _evaluate_arrays(
        self, xs, ys, weights, batch_size: int, cbs=None, progbar=None, distribute=None
    ) -> dict:
        self._reset_trackers()
        if cbs is not None:
            cbs.call("on_test_begin", None)
        arrays = xs + ys + weights
        with autograd.no_grad():
            for step, part in enumerate(data_utils.batch_slices(len(xs[0]), batch_size)):
                if cbs is not None:
                    cbs.call("on_test_batch_begin", step, None)
                batch = [None if a is None else a[part] for a in arrays]
                self._test_step(*_regroup(batch, len(xs), len(ys)))
                if cbs is not None:
                    cbs.call("on_test_batch_end", step, None)
                if progbar is not None:
                    progbar.update(step + 1, self._logs())
        if distribute is not None:
            # each rank evaluated its shard: combine them
            distribute.reduce_metrics(self)
        logs = self._logs()
        if progbar is not None:
            progbar.update(progbar.target, logs, finalize=True)
        if cbs is not None:
            cbs.call("on_test_end", logs)
        return logs

    # ------------------------------------------------------------ evaluate / predict
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight=None,
        callbacks: list | None = None,
        return_dict: bool = False,
        steps: int | None = None,
    ):
        """Loss and metrics on ``x``, ``y``: a scalar without metrics, else ``[loss, *metrics]``.

        ``x`` may also be data that streams (a generator, a ``PyDataset``, a ``Dataset``), read
        for ``steps`` batches or to its end.

        Example:
            >>> loss, accuracy = model.evaluate(x_test, y_test)
        """
        self._require_compiled("evaluate")
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        if self._runs_steps("test_step", x, None, steps):
            return step_loop.evaluate(
                self,
                x,
                y,
                batch_size=batch_size,
                verbose=verbose,
                sample_weight=sample_weight,
                steps=steps,
                callbacks=callbacks,
                return_dict=return_dict,
            )
        verbose = resolve_verbose(verbose)
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, None)
        self._ensure_built(xs)
        self._resolve_metrics(ys, out_shapes)
        steps = math.ceil(len(xs[0]) / batch_size)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        progbar = Progbar(steps, verbose) if verbose else None
        logs = self._evaluate_arrays(xs, ys, weights, batch_size, cbs, progbar)
        return self._result(logs, return_dict)

    def predict(
        self,
        x,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        steps: int | None = None,
    ):
        """Model outputs for ``x`` as a NumPy array (a list for several outputs), without a graph.

        ``x`` may also be data that streams (a generator, a ``PyDataset``, a ``Dataset``).

        Example:
            >>> probabilities = model.predict(x_test)
        """
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        if self._runs_steps("predict_step", x, None, steps):
            return step_loop.predict(self, x, batch_size=batch_size, steps=steps)
        # a progress bar per predict call floods loops; show it only on a terminal
        verbose = resolve_verbose(verbose)
        if not callbacks and self._takes_plain_batch(x, batch_size):
            # the common small call (one array, one batch): validated as below, minus the
            # conversions an array of the model's dtype does not need
            data_utils.check_finite(x, "x")
            expected = self.input_shape
            if expected is None or x.shape[1:] != tuple(expected[1:]):
                x = adjust_rank(x, expected)
                self._check_input_shape(x, "x")  # raises, unless an axis is left open (None)
            with autograd.no_grad():
                return self.infer(x)
        xs = self.prepare_inputs(x)
        n = len(xs[0])
        if n <= batch_size and not callbacks:
            # one batch, nobody listening: skip the callback and progress machinery
            return self._predict_batch(xs)
        steps = math.ceil(n / batch_size)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        progbar = Progbar(steps, 1) if verbose == 1 and n > batch_size else None
        cbs.call("on_predict_begin", None)
        outputs = []
        for step, part in enumerate(data_utils.batch_slices(n, batch_size)):
            cbs.call("on_predict_batch_begin", step, None)
            outputs.append(self._predict_batch([x[part] for x in xs]))
            cbs.call("on_predict_batch_end", step, {"outputs": outputs[-1]})
            if progbar is not None:
                progbar.update(step + 1)
        if progbar is not None:
            progbar.update(steps, finalize=True)
        cbs.call("on_predict_end", None)
        if not outputs:
            return self._predict_batch(xs)
        if len(outputs) == 1:
            return outputs[0]
        if isinstance(outputs[0], list):
            return [xp.concatenate(parts) for parts in zip(*outputs, strict=True)]
        return xp.concatenate(outputs)

    def _takes_plain_batch(self, x, batch_size: int) -> bool:
        """Whether ``x`` is one batch that ``_prepare_inputs`` would pass through unchanged."""
        return (
            type(x) is xp.ndarray
            and self.built
            and self._single_input
            and x.dtype == self.dtype
            and x.ndim > 1
            and 0 < len(x) <= batch_size
            and getattr(self, "_feature_names", None) is None
        )

    def prepare_inputs(self, x) -> list:
        """``x`` validated and converted: one array per model input (the model is built)."""
        xs = self._prepare_x(x)
        data_utils.check_lengths(
            {f"x['{n}']": a for n, a in zip(self.input_names, xs, strict=False)}
        )
        self._ensure_built(xs)
        return xs

    # ------------------------------------------------------------ single batches
    def _runs_steps(self, step: str, x, validation_data, steps: int | None) -> bool:
        """Whether fit/evaluate/predict go through the Keras step loop: the model overrides
        ``step``, the data streams, or a number of steps is given."""
        if steps is not None or step in overridden_steps(type(self)):
            return True
        if step != "predict_step" and not self._compiled_loss_only():
            return True
        if type(x) is not xp.ndarray and step_loop.is_streaming(x):
            return True
        return validation_data is not None and step_loop.is_streaming(validation_data)

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One gradient step on one batch; returns its loss (and metrics)."""
        self._require_compiled("train_on_batch")
        self._reset_trackers()
        return self._result(self._fit_batch(x, y, sample_weight, class_weight), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        self._reset_trackers()
        return self._result(self._evaluate_batch(x, y, sample_weight), return_dict)

    def _fit_batch(self, x, y, sample_weight, class_weight=None) -> dict:
        """One validated gradient step, added to the epoch's running loss and metrics."""
        self._require_compiled("fit")
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_built(xs)
        self._pack_trainable_weights()
        self._resolve_metrics(ys, out_shapes)
        self._train_step(xs, ys, weights)
        return self._logs()

    def _evaluate_batch(self, x, y, sample_weight) -> dict:
        """One validated batch's loss and metrics, added to the running totals."""
        self._require_compiled("evaluate")
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, None)
        self._ensure_built(xs)
        self._resolve_metrics(ys, out_shapes)
        with autograd.no_grad():
            self._test_step(xs, ys, weights)
        return self._logs()

    def predict_on_batch(self, x):
        """Outputs for one batch as an array (a list for several outputs)."""
        return self._predict_batch(self.prepare_inputs(x))

    def _predict_batch(self, xs: list):
        with autograd.no_grad():
            return self.infer(xs[0] if len(xs) == 1 else xs)

    @staticmethod
    def _result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

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
            parts = [
                f" {cells[0]:<{cols[0]}} ",
                f" {cells[1]:<{cols[1]}} ",
                f" {cells[2]:>{cols[2]}} ",
            ]
            if connected:
                parts.append(f" {cells[3]:<{cols[3]}} ")
            return edge + edge.join(parts) + edge + "\n"

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

        Example:
            >>> model.save("model.axonal")
            >>> model = axonal.models.load_model("model.axonal")
        """
        from axonal import saving

        _check_overwrite(filepath, overwrite)
        saving.save_model(self, filepath)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write every weight to an ``.npz`` keyed by weight path (``dense/kernel``), atomically.

        Example:
            >>> model.save_weights("model.weights.npz")
        """
        from axonal import saving

        _check_overwrite(filepath, overwrite)
        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Set the weights from ``save_weights``'s file (or a ``.axonal`` archive); every name,
        shape and dtype is checked before any weight changes.

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


def adjust_rank(x, batch_shape):
    """``x`` with a trailing axis of 1 added or dropped where that makes its rank the declared
    input's, as Keras does: images of shape (N, 28, 28) fed to ``Input((28, 28, 1))``."""
    if batch_shape is None:
        return x
    ndim = getattr(x, "ndim", None)
    want = len(batch_shape)
    if ndim is None or ndim == want:
        return x
    if ndim == want - 1 and batch_shape[-1] == 1:
        return x[..., None]
    if ndim == want + 1 and x.shape[-1] == 1:
        return x[..., 0]
    return x


def _check_overwrite(filepath, overwrite: bool) -> None:
    import os

    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False.")


def _with_timestep_mask(sample_weight, mask):
    """Fold an output's timestep mask into the sample weights, as Keras does for losses.

    Masked steps weigh 0 and the rest are scaled so ``sum_over_batch_size`` averages over the
    real steps only.
    """
    if mask is None:
        return sample_weight
    mask = xp.asarray(mask, dtype=xp.float32)
    real = float(mask.sum())
    weights = mask * (mask.size / real) if real else mask
    return data_utils.times_sample_weight(weights, sample_weight)


def _regroup(arrays: list, n_inputs: int, n_outputs: int) -> tuple[list, list, list]:
    """Split a flat ``inputs + targets + weights`` list back into its three parts."""
    return (
        arrays[:n_inputs],
        arrays[n_inputs : n_inputs + n_outputs],
        arrays[n_inputs + n_outputs :],
    )


def _is_numeric_list(value) -> bool:
    """A plain list of numbers (one sample's data), rather than a list of arrays."""
    return bool(value) and all(isinstance(v, (int, float)) for v in value)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _fits_sample_shape(got: tuple, want: tuple) -> bool:
    """Whether target samples of shape ``got`` match output samples of shape ``want``, where an
    axis the output leaves open (a sequence's time axis, None) takes any length."""
    return len(got) == len(want) and all(
        w is None or w == g for w, g in zip(want, got, strict=True)
    )


def _check_target_shape(y, out_shape: tuple, name: str, loss_name: str) -> None:
    """Targets must match the output sample for sample, before a broadcast makes nonsense."""
    want = tuple(out_shape[1:])
    got = tuple(y.shape[1:])
    # as in Keras, (samples,) targets meet (samples, 1) outputs, and the other way round
    if want and len(got) == len(want) - 1 and want[-1] == 1:
        got = got + (1,)
    elif len(got) == len(want) + 1 and got[-1] == 1:
        got = got[:-1]
    if _fits_sample_shape(got, want):
        return
    raise ValueError(
        f"{loss_name} compares each target with the model output in the same place: the model "
        f"outputs samples of shape {want}, but {name} has shape {y.shape} (samples of shape "
        f"{tuple(y.shape[1:])})."
    )


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
