"""Preprocessing layers: ``Normalization`` (Keras 3 semantics, statistics from ``adapt``) and
``ColumnNames``, which records the table columns a model was trained on so they travel inside
the saved model."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy

from axonal import functional as F
from axonal.backend import epsilon, xp
from axonal.layers.base import Layer
from axonal.registry import register
from axonal.tensor import Tensor


def _axis_tuple(axis) -> tuple[int, ...]:
    """Keras's ``axis`` argument as a tuple: None keeps no axis (one scalar mean and variance)."""
    if axis is None:
        return ()
    if isinstance(axis, (int, xp.integer)) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(
        isinstance(a, (int, xp.integer)) and not isinstance(a, bool) for a in axis
    ):
        return tuple(int(a) for a in axis)
    raise ValueError(f"Normalization axis must be an int, a tuple of ints or None, got {axis!r}.")


@register("layer", "Normalization")
class Normalization(Layer):
    """Shifts and scales inputs to zero mean and unit variance: ``(x - mean) / sqrt(variance)``.

    The statistics are kept per index of ``axis`` (default: per feature, the last axis) and
    computed over every other axis. They come either from ``adapt(data)`` — stored as the
    non-trainable weights ``mean``, ``variance`` and ``count``, so they are saved with the model
    and training leaves them alone — or from the ``mean`` and ``variance`` arguments, which are
    constants and stored in the config. As in Keras, the standard deviation is floored at
    ``epsilon()`` so a constant feature maps to 0 instead of dividing by zero.

    Args:
        axis: the axis or axes to keep statistics for (default -1); None for one scalar mean
            and variance over everything.
        mean, variance: fixed statistics, broadcastable to the kept axes; pass both or neither.
        invert: apply the inverse, ``x * sqrt(variance) + mean`` (turns standardized values
            back into the original units).

    Example:
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> layer(np.array([[1.0, 10.0]])).data
        array([[-1., -1.]], dtype=float32)
    """

    supports_masking = True

    def __init__(
        self,
        axis: Any = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs,
    ):
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization needs both mean and variance, or neither (then call adapt()); "
                f"got mean={mean!r} and variance={variance!r}."
            )
        super().__init__(**kwargs)
        self.axis = _axis_tuple(axis)
        self.input_mean = None if mean is None else numpy.asarray(mean, dtype="float64")
        self.input_variance = None if variance is None else numpy.asarray(variance, "float64")
        if self.input_variance is not None and (self.input_variance < 0).any():
            raise ValueError(f"Normalization variance must be non-negative, got {variance!r}.")
        self.invert = bool(invert)
        self.mean = None
        self.variance = None
        self.count = None
        self._keep_axis: tuple[int, ...] = ()
        self._reduce_axis: tuple[int, ...] = ()
        self._broadcast_shape: tuple[int, ...] = ()
        self._constant_mean = None
        self._constant_variance = None

    # ------------------------------------------------------------ building
    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        keep = []
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) got axis={a}, out of range for inputs "
                    f"of rank {ndim} (shape {tuple(input_shape)})."
                )
            keep.append(a % ndim)
        if len(set(keep)) != len(keep):
            raise ValueError(
                f"Layer '{self.name}' (Normalization) got a repeated axis: {self.axis}."
            )
        self._keep_axis = tuple(sorted(keep))
        for a in self._keep_axis:
            if input_shape[a] is None:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) keeps statistics along axis {a}, whose "
                    f"size must be known; got input shape {tuple(input_shape)}."
                )
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(
            int(input_shape[d]) if d in self._keep_axis else 1 for d in range(ndim)
        )
        shape = tuple(int(input_shape[d]) for d in self._keep_axis)
        if self.input_mean is None:
            self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int64")
        else:
            self._constant_mean = self._broadcast_constant(self.input_mean, "mean")
            self._constant_variance = self._broadcast_constant(self.input_variance, "variance")
        self.built = True

    def _broadcast_constant(self, value, what: str):
        try:
            shaped = numpy.broadcast_to(value, self._broadcast_shape)
        except ValueError:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) got a {what} of shape {value.shape}, which "
                f"does not broadcast to the statistics shape {self._broadcast_shape}."
            ) from None
        return xp.asarray(shaped, dtype=self.dtype).copy()

    # ------------------------------------------------------------ statistics
    def adapt(self, data, batch_size: int | None = None, steps: int | None = None) -> None:
        """Compute ``mean`` and ``variance`` from ``data``, replacing any earlier statistics.

        The variance is the population variance (``numpy.var``), as in Keras.

        Args:
            data: an array of samples ``(samples, ...)``, or an iterable of such batches.
            batch_size: for an array, the samples per chunk (bounds the working memory; the
                result is the same).
            steps: for an iterable, the number of batches to read (default: all).

        Example:
            >>> layer = Normalization()
            >>> layer.adapt(x_train)
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was given a fixed mean and variance; "
                "adapt() cannot replace them. Create the layer without mean and variance."
            )
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise ValueError(f"adapt batch_size must be a positive integer, got {batch_size!r}.")
        if steps is not None and (isinstance(steps, bool) or int(steps) < 1):
            raise ValueError(f"adapt steps must be a positive integer, got {steps!r}.")
        total = 0
        mean = None
        m2 = None
        for batch in self._batches(data, batch_size, steps):
            n = math.prod(batch.shape[d] for d in self._reduce_axis)
            if n == 0:
                continue
            batch_mean = batch.mean(axis=self._reduce_axis)
            batch_m2 = batch.var(axis=self._reduce_axis) * n
            if mean is None:
                total, mean, m2 = n, batch_mean, batch_m2
                continue
            # Chan et al.'s pairwise update: exact for any split of the data into batches
            delta = batch_mean - mean
            combined = total + n
            mean = mean + delta * (n / combined)
            m2 = m2 + batch_m2 + delta**2 * (total * n / combined)
            total = combined
        if mean is None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): adapt() got no samples; it needs at least "
                "one to compute a mean and variance."
            )
        self.mean.assign(xp.asarray(mean, dtype=self.dtype))
        self.variance.assign(xp.asarray(m2 / total, dtype=self.dtype))
        self.count.assign(xp.asarray(total, dtype="int64"))

    def _batches(self, data, batch_size: int | None, steps: int | None) -> Iterable:
        """Yield float64 batches of ``data``, checked against the layer's input shape."""
        if isinstance(data, (xp.ndarray, list, tuple, Tensor)) or hasattr(data, "__array__"):
            array = self._checked(data.data if isinstance(data, Tensor) else data, None)
            size = len(array) if batch_size is None else int(batch_size)
            for start in range(0, max(len(array), 1), max(size, 1)):
                yield array[start : start + size]
            return
        try:
            iterator = iter(data)
        except TypeError:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): adapt() expects an array or an iterable "
                f"of arrays, got {type(data).__name__}."
            ) from None
        for index, batch in enumerate(iterator):
            if steps is not None and index >= int(steps):
                break
            if isinstance(batch, tuple) and len(batch) in (2, 3) and hasattr(batch[0], "shape"):
                batch = batch[0]  # (x, y) pairs: the features are what is normalized
            yield self._checked(batch, index)

    def _checked(self, data, index: int | None):
        where = "" if index is None else f" (batch {index})"
        array = numpy.asarray(data)
        if array.dtype.kind not in "biuf":
            raise ValueError(
                f"Layer '{self.name}' (Normalization): adapt() expects numbers, got an array of "
                f"dtype {array.dtype}{where}."
            )
        array = array.astype("float64", copy=False)
        if array.ndim == 0:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): adapt() expects samples along the first "
                f"axis, got a scalar{where}."
            )
        if not self.built:
            self.build_from_shape((None,) + array.shape[1:])
        built = self.input_shape_built
        if built is not None and len(built) != array.ndim:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was built for inputs of shape "
                f"{tuple(built)}; adapt() got data of shape {array.shape}{where}."
            )
        for a in self._keep_axis:
            if array.shape[a] != self._broadcast_shape[a]:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) keeps {self._broadcast_shape[a]} "
                    f"statistics along axis {a}; adapt() got data of shape {array.shape}{where}."
                )
        if not numpy.isfinite(array).all():
            raise ValueError(
                f"Layer '{self.name}' (Normalization): adapt() got NaN or infinite values{where}; "
                "the mean and variance would be meaningless."
            )
        return array

    def _statistics(self):
        """Mean and the floored standard deviation, shaped to broadcast against the inputs."""
        if self.input_mean is not None:
            mean, variance = self._constant_mean, self._constant_variance
        else:
            mean = self.mean.data.reshape(self._broadcast_shape)
            variance = self.variance.data.reshape(self._broadcast_shape)
        return mean, xp.maximum(xp.sqrt(variance), xp.asarray(epsilon(), dtype=variance.dtype))

    def _check_inputs(self, shape: tuple) -> None:
        if len(shape) != len(self._broadcast_shape) or any(
            shape[a] != self._broadcast_shape[a] for a in self._keep_axis
        ):
            expected = tuple(
                self._broadcast_shape[d] if d in self._keep_axis else None
                for d in range(len(self._broadcast_shape))
            )
            raise ValueError(
                f"Layer '{self.name}' (Normalization) expects inputs of shape {expected}, got "
                f"{tuple(shape)}."
            )

    # ------------------------------------------------------------ computing
    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        self._check_inputs(inputs.shape)
        if inputs.dtype != xp.dtype(self.dtype):
            inputs = F.cast(inputs, self.dtype)
        mean, std = self._statistics()
        if self.invert:
            return F.add(F.multiply(inputs, std), mean)
        return F.divide(F.subtract(inputs, mean), std)

    def infer(self, inputs):
        if not isinstance(inputs, xp.ndarray) or inputs.dtype != xp.dtype(self.dtype):
            return super().infer(inputs)
        self._check_inputs(inputs.shape)
        mean, std = self._statistics()
        if self.invert:
            return inputs * std + mean
        return (inputs - mean) / std

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            axis=list(self.axis),
            invert=self.invert,
            mean=None if self.input_mean is None else self.input_mean.tolist(),
            variance=None if self.input_variance is None else self.input_variance.tolist(),
        )
        return config


@register("layer", "ColumnNames")
class ColumnNames(Layer):
    """Passes its inputs through unchanged and records which table columns the model uses.

    ``axonal train --data`` puts one at the end of the model so that the saved file knows its
    feature columns, its target column and, for a classifier, the name of each output class
    (in output order): ``axonal predict`` reads features by name and writes labels as they were
    spelled in the training data. It has no weights; everything lives in its config.

    It also holds how ``axonal train`` turned the table into numbers, so ``axonal predict``
    repeats it on new rows: a text column becomes one 0/1 input per category seen in training
    (``categories``; a text never seen becomes all zeros), and with ``--fill`` an empty cell of
    a numeric column takes the value stored in ``fill`` (the training table's mean, median or 0).

    Args:
        features: the feature column names, in the order of the model's input features.
        target: the target column name.
        class_names: for a classifier, the label of each output unit; None for a regressor.
        categories: text feature column -> its categories, in input order; None when every
            feature is a number.
        fill: numeric feature column -> the value an empty cell takes; None when the model was
            trained without ``--fill``.
        fill_method: how ``fill`` was computed ("mean", "median" or "zero"), for summaries.

    Example:
        >>> ColumnNames(["height", "color"], "species", ["cat", "dog"],
        ...             categories={"color": ["black", "white"]})
    """

    supports_masking = True
    # computes nothing (the identity) and only carries metadata in its config: model summaries
    # leave it out and an ONNX export names the output after the layer that computed it
    metadata_only = True

    def __init__(
        self,
        features: list,
        target: str,
        class_names: list | None = None,
        categories: dict | None = None,
        fill: dict | None = None,
        fill_method: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
            raise ValueError(f"ColumnNames features must be a list of strings, got {features!r}.")
        if not isinstance(target, str):
            raise ValueError(f"ColumnNames target must be a string, got {target!r}.")
        if class_names is not None and (
            not isinstance(class_names, (list, tuple))
            or not all(isinstance(c, str) for c in class_names)
        ):
            raise ValueError(
                f"ColumnNames class_names must be a list of strings or None, got {class_names!r}."
            )
        self.features = list(features)
        self.target = target
        self.class_names = None if class_names is None else list(class_names)
        if categories is not None and (
            not isinstance(categories, dict)
            or any(name not in self.features for name in categories)
            or not all(
                isinstance(v, (list, tuple)) and all(isinstance(c, str) for c in v)
                for v in categories.values()
            )
        ):
            raise ValueError(
                "ColumnNames categories must map feature names to lists of strings, got "
                f"{categories!r}."
            )
        if fill is not None and (
            not isinstance(fill, dict)
            or any(name not in self.features for name in fill)
            or not all(isinstance(v, (int, float)) for v in fill.values())
        ):
            raise ValueError(f"ColumnNames fill must map feature names to numbers, got {fill!r}.")
        self.categories = None if not categories else {k: list(v) for k, v in categories.items()}
        self.fill = None if fill is None else {k: float(v) for k, v in fill.items()}
        self.fill_method = fill_method

    def encoded_features(self) -> list[str]:
        """The name of each model input: a numeric column's name, ``column=category`` for each
        category of a text column."""
        names = []
        for name in self.features:
            if self.categories is not None and name in self.categories:
                names += [f"{name}={category}" for category in self.categories[name]]
            else:
                names.append(name)
        return names

    def build(self, input_shape: tuple) -> None:
        if self.class_names is not None and input_shape[-1] not in (None, len(self.class_names)):
            raise ValueError(
                f"Layer '{self.name}' (ColumnNames) names {len(self.class_names)} classes but "
                f"receives {input_shape[-1]} outputs (input shape {tuple(input_shape)})."
            )
        self.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return inputs

    def infer(self, inputs):
        return inputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(features=self.features, target=self.target, class_names=self.class_names)
        # written only when used, so models trained on numbers alone keep their old config
        if self.categories is not None:
            config["categories"] = self.categories
        if self.fill is not None:
            config.update(fill=self.fill, fill_method=self.fill_method)
        return config
