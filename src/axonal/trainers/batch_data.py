"""Data as ``fit`` / ``evaluate`` take it, checked and converted before any weight changes.

``BatchData`` is mixed into ``Trainer``: it turns user data (arrays, lists or dicts of them,
DataFrames) into one array per model input and output, with errors that name the argument, the
input or output and the shape at fault. It reads the model's structure (input shapes, output
names, dtype) through the model's own attributes.
"""

from __future__ import annotations

from axonal import data as data_utils
from axonal import losses as losses_module
from axonal.backend import xp
from axonal.layers.symbolic import shape_str
from axonal.trainers import compile_utils

_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)
_ELEMENTWISE_LOSSES = (
    losses_module.mean_squared_error,
    losses_module.mean_absolute_error,
    losses_module.huber,
    losses_module.log_cosh,
    losses_module.binary_crossentropy,
)


class BatchData:
    """Validation and conversion of training data (mixed into ``Trainer``)."""

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
            strings = self.accepts_strings(i)
            array = data_utils.to_array(value, label, allow_strings=strings)
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

    def _ensure_built(self, xs: list) -> None:
        if not self.built:
            if len(xs) == 1:
                self.build_from_shape((None,) + tuple(xs[0].shape[1:]))
            else:
                self.build_from_shape([(None,) + tuple(x.shape[1:]) for x in xs])
        if not self._paths_checked:
            self._check_unique_paths()
            self._paths_checked = True

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


def _is_numeric_list(value) -> bool:
    """A plain list of numbers or strings (the data itself, ``["some text"]`` for a text
    input), rather than a list of arrays."""
    return bool(value) and all(isinstance(v, (int, float, str, bytes)) for v in value)


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
