"""scikit-learn estimators that train axonal networks: NeuralNetClassifier, NeuralNetRegressor.

They follow scikit-learn's conventions (parameters stored unchanged, ``fit`` returns self,
fitted attributes end in ``_``) and pass its estimator checks, so they work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``. The network is either built from an
``MLPClassifier``-style spec (``hidden_layer_sizes``, ``activation``) or by your own function.

Keyword arguments starting with ``optimizer__`` go to the optimizer's constructor and those
starting with ``model__`` to the model function; both are ordinary parameters for
``get_params`` / ``set_params`` / ``clone`` / ``GridSearchCV``.

Example:
    >>> from axonal.sklearn import NeuralNetClassifier
    >>> clf = NeuralNetClassifier(hidden_layer_sizes=(32,), optimizer__learning_rate=0.01)
    >>> clf.fit(X, y).predict(X[:3])
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "axonal.sklearn needs scikit-learn 1.6 or newer: pip install -e '.[sklearn]' in the "
        f"axonal checkout ({exc})."
    ) from exc

from axonal import backend, losses, optimizers, saving
from axonal.callbacks import Callback
from axonal.data import check_positive_int
from axonal.layers import Dense, Input
from axonal.models import Model, Sequential

# extra keyword arguments are routed by prefix: to the optimizer, or to the model function
_ROUTES = ("optimizer__", "model__")
# scikit-learn's MLP names for activations, in axonal's (Keras) names
_MLP_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid"}
# both estimators compute in the input's float type; anything else becomes float64, as in MLP
_FLOAT_TYPES = [np.float64, np.float32]
_DEFAULT_BATCH_SIZE = 32


class _NeuralNetBase(BaseEstimator):
    """What the classifier and the regressor share: parameters, building, training, pickling."""

    # the regressor's loss when ``loss`` is None (the classifier picks one per target type)
    _default_loss: str = "mean_squared_error"
    _is_classifier = False

    def __init__(
        self,
        model: Callable | None = None,
        *,
        hidden_layer_sizes: int | tuple = (100,),
        activation: str | Callable = "relu",
        optimizer: Any = "adam",
        loss: Any = None,
        epochs: int = 200,
        batch_size: int | None = 32,
        validation_split: float = 0.0,
        callbacks: list | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        **kwargs,
    ):
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        # routed parameters are stored as they are, like the named ones; fit checks them
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ------------------------------------------------------------ parameters
    def _extra_params(self) -> dict:
        """The keyword arguments given beyond the signature (``optimizer__learning_rate``…)."""
        named = set(self._get_param_names())
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and not key.endswith("_") and key not in named
        }

    def get_params(self, deep: bool = True) -> dict:
        """The estimator's parameters, routed ``optimizer__*`` / ``model__*`` ones included.

        Example:
            >>> NeuralNetRegressor(optimizer__learning_rate=0.01).get_params()["epochs"]
            200
        """
        params = super().get_params(deep=deep)
        params.update(self._extra_params())
        return params

    def set_params(self, **params) -> _NeuralNetBase:
        """Set parameters; ``optimizer__*`` and ``model__*`` names are accepted as new ones.

        Example:
            >>> clf.set_params(epochs=50, optimizer__learning_rate=0.01)
        """
        extra = self._extra_params()
        routed = {k: v for k, v in params.items() if k.startswith(_ROUTES) or k in extra}
        # the named ones first: an invalid name raises before anything is set
        super().set_params(**{k: v for k, v in params.items() if k not in routed})
        for key, value in routed.items():
            setattr(self, key, value)
        return self

    def _routed(self, prefix: str) -> dict:
        return {
            key[len(prefix) :]: value
            for key, value in self._extra_params().items()
            if key.startswith(prefix)
        }

    def _check_params(self) -> dict:
        """Validate the parameters (in fit, as scikit-learn asks); return the resolved ones."""
        name = type(self).__name__
        unknown = sorted(k for k in self._extra_params() if not k.startswith(_ROUTES))
        if unknown:
            raise TypeError(
                f"{name} got unexpected parameter(s) {unknown}; extra keyword arguments must "
                "start with 'optimizer__' (passed to the optimizer) or 'model__' (passed to "
                "the model function)."
            )
        if self._routed("model__") and self.model is None:
            raise ValueError(
                f"{name} got model__ parameters {sorted(self._routed('model__'))} but no model "
                "function: pass model=build_fn, or drop them."
            )
        if self.model is not None and not callable(self.model):
            raise TypeError(
                f"{name}'s model must be a function meta -> axonal Model, got "
                f"{type(self.model).__name__}: {self.model!r}."
            )
        epochs = check_positive_int(self.epochs, "epochs")
        batch_size = (
            _DEFAULT_BATCH_SIZE
            if self.batch_size is None
            else check_positive_int(self.batch_size, "batch_size")
        )
        split = self.validation_split
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
            raise ValueError(f"validation_split must be a float in [0, 1), got {split!r}.")
        if self.callbacks is not None and (
            not isinstance(self.callbacks, (list, tuple))
            or not all(isinstance(c, Callback) for c in self.callbacks)
        ):
            raise TypeError(
                f"callbacks must be a list of axonal.callbacks.Callback objects, got "
                f"{self.callbacks!r}."
            )
        if self.verbose not in (0, 1, 2, False, True, "auto"):
            raise ValueError(f"verbose must be 0, 1 or 2, got {self.verbose!r}.")
        return {
            "epochs": epochs,
            "batch_size": batch_size,
            "hidden": self._hidden_sizes() if self.model is None else (),
            "activation": self._activation(),
        }

    def _hidden_sizes(self) -> tuple:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if not isinstance(sizes, (list, tuple)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a tuple of them (one per "
                f"hidden layer, () for none), got {sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _activation(self):
        activation = self.activation
        if isinstance(activation, str):
            activation = _MLP_ACTIVATIONS.get(activation, activation)
        elif not callable(activation):
            raise ValueError(
                f"activation must be a name ('relu', 'tanh', 'logistic', 'identity'…) or a "
                f"callable, got {activation!r}."
            )
        return activation

    def _make_optimizer(self):
        """A fresh optimizer for each fit, so the ``optimizer`` parameter is never mutated."""
        spec = self.optimizer
        kwargs = self._routed("optimizer__")
        try:
            if isinstance(spec, str):
                return optimizers.get({"class_name": spec, "config": kwargs})
            if isinstance(spec, type) and issubclass(spec, optimizers.Optimizer):
                return spec(**kwargs)
            if isinstance(spec, optimizers.Optimizer):
                try:
                    config = spec.get_config()
                except TypeError:
                    # a plain-callable learning rate has no config: copy the object instead
                    fresh = copy.deepcopy(spec)
                    for key, value in kwargs.items():
                        setattr(fresh, key, value)
                    return fresh
                return type(spec).from_config({**config, **kwargs})
        except TypeError as exc:
            given = ", ".join(f"optimizer__{key}={value!r}" for key, value in kwargs.items())
            raise TypeError(f"{given} do not fit optimizer {spec!r}: {exc}") from exc
        raise TypeError(
            "optimizer must be a name ('adam'), an axonal Optimizer class or instance, got "
            f"{type(spec).__name__}: {spec!r}."
        )

    # ------------------------------------------------------------ training
    def _random_generator(self, first: bool):
        """The generator for this fit: seeded from ``random_state``, or None (axonal's own)."""
        if not first:
            return getattr(self, "_generator", None)
        if self.random_state is None:
            return None
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(
            self.random_state, bool
        ):
            if self.random_state < 0:
                raise ValueError(
                    f"random_state must be a non-negative integer, a RandomState or None, got "
                    f"{self.random_state!r}."
                )
            return np.random.default_rng(int(self.random_state))
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.random.default_rng(int(seed))

    def _fit(self, X, y, sample_weight, *, partial: bool, classes=None):
        settings = self._check_params()
        first = not (partial and self.__sklearn_is_fitted__())
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=_FLOAT_TYPES,
            multi_output=True,
            y_numeric=not self._is_classifier,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            # as MLP does: a column vector is one target, with scikit-learn's usual warning
            y = column_or_1d(y, warn=True)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
            total = weights.sum()
            if not total > 0:
                raise ValueError(
                    "sample_weight: every weight is zero; at least one sample needs a "
                    "non-zero weight."
                )
            # a weighted mean over the samples, as for repeated samples: the loss's
            # sum_over_batch_size divides by the count, so weights are scaled to average 1
            weights = weights * (len(weights) / total)
        targets, meta = self._encode_targets(y, weights, first, partial, classes)
        meta.update({"n_features_in_": X.shape[1], "dtype": X.dtype.name})
        generator = self._random_generator(first)
        with _random_source(generator):
            if first:
                model = self._build(meta, settings, X)
                model.compile(optimizer=self._make_optimizer(), loss=meta["loss"])
            else:
                model = self.model_
            history = model.fit(
                X,
                targets,
                batch_size=settings["batch_size"],
                epochs=1 if partial else settings["epochs"],
                verbose=self.verbose,
                callbacks=copy.deepcopy(list(self.callbacks or [])),
                validation_split=float(self.validation_split),
                sample_weight=weights,
                shuffle=True,
            )
        self._generator = generator
        self._batch_size = settings["batch_size"]
        self.model_ = model
        if first:
            self.history_ = {key: list(values) for key, values in history.history.items()}
            self._commit_meta(meta)
        else:
            for key, values in history.history.items():
                self.history_.setdefault(key, []).extend(values)
        return self

    def _build(self, meta: dict, settings: dict, X) -> Model:
        """The network: the spec's Sequential, or what the model function returns."""
        if self.model is None:
            layers = [Input(shape=(meta["n_features_in_"],), dtype=meta["dtype"])]
            for units in settings["hidden"]:
                layers.append(Dense(units, activation=settings["activation"], dtype=meta["dtype"]))
            layers.append(
                Dense(meta["n_outputs_"], activation=meta["output_activation"], dtype=meta["dtype"])
            )
            return Sequential(layers)
        model = self.model(dict(meta), **self._routed("model__"))
        if not isinstance(model, Model):
            raise TypeError(
                f"The model function must return an axonal Model (or Sequential), got "
                f"{type(model).__name__}."
            )
        width = int(np.prod(np.shape(model.predict(X[:1], verbose=0))[1:]))
        self._check_output_width(width, meta)
        return model

    def _check_output_width(self, width: int, meta: dict) -> None:
        if width != meta["n_outputs_"]:
            raise ValueError(
                f"The model function's network gives {width} output(s) per sample, but this "
                f"{meta['target_type_']} problem needs {meta['n_outputs_']}: end it with "
                f"Dense({meta['n_outputs_']}, activation='{meta['output_activation']}')."
            )

    def _forward(self, X):
        """The network's output for validated ``X``, one row per sample."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOAT_TYPES)
        out = self.model_.predict(X, batch_size=self._batch_size, verbose=0)
        return out.reshape(len(X), -1)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # ------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        # the network travels as axonal's own archive (JSON + .npy), never as pickled objects
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state["_model_archive"] = _model_to_bytes(model)
        return state

    def __setstate__(self, state: dict) -> None:
        where = f"<pickled {type(self).__name__}>"
        if not isinstance(state, dict):
            raise saving.UnsafeOrCorruptFileError(f"Cannot load {where}: its state is not a dict.")
        state = dict(state)
        archive = state.pop("_model_archive", None)
        if archive is None:
            claimed = [name for name in self._fitted_attributes() if name in state]
            if claimed:
                raise saving.UnsafeOrCorruptFileError(
                    f"Cannot load {where}: its state holds fitted attributes "
                    f"({', '.join(claimed)}) but no network."
                )
            super().__setstate__(state)
            return
        if not isinstance(archive, bytes):
            raise saving.UnsafeOrCorruptFileError(
                f"Cannot load {where}: its network is a {type(archive).__name__}, not the bytes "
                "of an .axonal archive."
            )
        super().__setstate__(state)
        model = _model_from_bytes(archive)
        problem = self._fitted_state_problem(model)
        if problem:
            raise saving.UnsafeOrCorruptFileError(f"Cannot load {where}: {problem}")
        self.model_ = model

    def _fitted_attributes(self) -> tuple[str, ...]:
        """What ``fit`` sets beside the network, and ``predict`` relies on."""
        return ("n_features_in_", "n_outputs_", "_batch_size")

    def _fitted_state_problem(self, model: Model) -> str | None:
        """Why the unpickled attributes and network do not belong together, or None: every
        fitted attribute is there and well-formed, and the network takes ``n_features_in_``
        columns and gives ``n_outputs_`` values a row."""
        missing = [name for name in self._fitted_attributes() if not hasattr(self, name)]
        if missing:
            return f"its state lacks the fitted attribute(s) {', '.join(missing)}."
        for name in ("n_features_in_", "n_outputs_"):
            if not _is_count(getattr(self, name)):
                return f"{name} is {getattr(self, name)!r:.80}, not a positive integer."
        if self._batch_size is not None and not _is_count(self._batch_size):
            return f"_batch_size is {self._batch_size!r:.80}, not a positive integer or None."
        n_features, n_outputs = int(self.n_features_in_), int(self.n_outputs_)
        try:
            with np.errstate(all="ignore"):
                out = model.predict(np.zeros((1, n_features), dtype=model.dtype), verbose=0)
        except Exception as exc:
            return (
                f"its network does not take rows of n_features_in_={n_features} columns "
                f"({type(exc).__name__}: {exc})."
            )
        width = int(np.prod(np.shape(out)[1:]))
        if width != n_outputs:
            return f"its network gives {width} values a row, but n_outputs_ is {n_outputs}."
        return self._targets_problem()

    def _targets_problem(self) -> str | None:
        """Why the unpickled target attributes are inconsistent, or None."""
        return None


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


class NeuralNetClassifier(ClassifierMixin, _NeuralNetBase):
    """A scikit-learn classifier that trains an axonal network (an ``MLPClassifier`` peer).

    The network is ``hidden_layer_sizes`` Dense layers of ``activation``, then softmax with
    sparse categorical cross-entropy (multiclass), or sigmoid with binary cross-entropy (binary
    and multilabel). Labels can be strings, integers or booleans; they are encoded through
    ``classes_``. Or pass ``model=build_fn``: ``build_fn(meta, **model_params)`` returns an
    uncompiled axonal model whose last layer gives ``meta['n_outputs_']`` probabilities
    (``meta['output_activation']``); the estimator compiles it with ``optimizer`` and ``loss``.
    ``meta`` holds ``n_features_in_``, ``n_outputs_``, ``n_classes_``, ``classes_``,
    ``target_type_``, ``output_activation``, ``loss`` and ``dtype``.

    The network computes in float32 when X is float32 and in float64 otherwise, as MLP does.

    Args:
        model: optional function ``(meta, **model__params) -> Model``; None builds the spec.
        hidden_layer_sizes: units of each hidden layer, e.g. ``(100,)``; ``()`` for none.
        activation: hidden activation: an axonal name or MLP's ``'identity'``/``'logistic'``.
        optimizer: name, axonal Optimizer class or instance (copied for each fit).
        loss: None for the default above, or any axonal loss.
        epochs: passes over the data in ``fit`` (``partial_fit`` makes one).
        batch_size: samples per gradient step (None: 32).
        validation_split: fraction of the data (the last samples) held out for ``val_`` logs.
        callbacks: axonal callbacks, copied for each fit (e.g. ``EarlyStopping``).
        random_state: int for reproducible weights and shuffling; None uses axonal's generator.
        verbose: 0 (silent), 1 (progress bar) or 2 (a line per epoch).
        **kwargs: ``optimizer__<name>`` and ``model__<name>`` parameters.

    Attributes:
        classes_: the class labels (for multilabel targets, ``0..n_labels-1``).
        n_features_in_, feature_names_in_: what ``fit`` saw (names for DataFrames only).
        n_outputs_: the width of the network's output.
        model_: the trained axonal model.
        history_: ``{'loss': [...], ...}`` per epoch (``partial_fit`` appends).

    Example:
        >>> clf = NeuralNetClassifier(hidden_layer_sizes=(32,), epochs=100, random_state=0)
        >>> clf.fit(X_train, y_train).score(X_test, y_test)
    """

    _is_classifier = True

    def fit(self, X, y, sample_weight=None) -> NeuralNetClassifier:
        """Train a new network for ``epochs`` epochs on ``X`` (n_samples, n_features), ``y``.

        Example:
            >>> clf.fit(X, ["cat", "dog", "cat"])
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> NeuralNetClassifier:
        """One epoch on ``X``, ``y``, continuing the current network (``classes`` on the first
        call lists every label that will ever be seen; not needed for multilabel ``y``).

        Example:
            >>> clf.partial_fit(X_batch, y_batch, classes=[0, 1, 2])
        """
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes) (multilabel: one per label).

        Example:
            >>> clf.predict_proba(X[:2]).sum(axis=1)
            array([1., 1.])
        """
        out = self._forward(X)
        if self._target_type == "binary" and out.shape[1] == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of ``predict_proba``."""
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, taken from ``classes_`` (multilabel: a 0/1 indicator matrix).

        Example:
            >>> clf.predict(X[:2])
            array(['cat', 'dog'], dtype='<U3')
        """
        proba = self.predict_proba(X)
        if self._target_type == "multilabel-indicator":
            return (proba > 0.5).astype(self._label_dtype)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _encode_targets(self, y, weights, first: bool, partial: bool, classes) -> tuple:
        """Labels -> what the network trains on (indices, 0/1 floats or an indicator matrix)."""
        check_classification_targets(y)
        if hasattr(y, "toarray"):
            y = y.toarray()
        target_type = type_of_target(y)
        name = type(self).__name__
        if target_type == "multiclass-multioutput" or (
            target_type == "multilabel-indicator" and not first and self._target_type != target_type
        ):
            raise ValueError(
                f"{name} supports one label per sample (binary or multiclass) or a multilabel "
                f"0/1 indicator matrix; got {target_type} targets of shape {y.shape}."
            )
        if target_type == "multilabel-indicator":
            if first:
                labels = np.arange(y.shape[1])
                label_dtype = y.dtype
            else:
                labels, label_dtype = self.classes_, self._label_dtype
                if y.shape[1] != len(labels):
                    raise ValueError(
                        f"y has {y.shape[1]} labels per sample; {name} was fitted with "
                        f"{len(labels)}."
                    )
            meta = self._meta(labels, target_type, len(labels))
            meta["_label_dtype"] = label_dtype
            return y.astype(np.float64), meta
        if first:
            if classes is None and partial:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(
                    f"{name} needs at least two classes to train, but y holds only one class: "
                    f"{labels.tolist()}."
                )
        else:
            labels = self.classes_
            if classes is not None and not np.array_equal(np.unique(classes), labels):
                raise ValueError(
                    f"classes={list(classes)} differs from the classes of the first call, "
                    f"{labels.tolist()}."
                )
        indices = np.searchsorted(labels, y)
        unseen = y[(indices >= len(labels)) | (labels[np.minimum(indices, len(labels) - 1)] != y)]
        if unseen.size:
            raise ValueError(
                f"y holds label(s) {np.unique(unseen).tolist()} that are not among the classes "
                f"{labels.tolist()}."
            )
        if first and classes is None and weights is not None:
            present = np.unique(indices[weights > 0])
            if len(present) < 2:
                raise ValueError(
                    f"Only one class, {labels[present[0]]!r}, has samples with a non-zero "
                    f"sample_weight; {name} needs at least two classes to train."
                )
        target_type = "binary" if len(labels) == 2 else "multiclass"
        if not first:
            target_type = self._target_type
        width = 1 if target_type == "binary" else len(labels)
        meta = self._meta(labels, target_type, width)
        if target_type == "binary":
            return indices.astype(np.float64), meta
        if _is_loss(self.loss, losses.categorical_crossentropy):
            return np.eye(len(labels))[indices], meta
        return indices, meta

    def _meta(self, labels, target_type: str, width: int) -> dict:
        if target_type == "multiclass":
            activation, loss = "softmax", "sparse_categorical_crossentropy"
            if _is_loss(self.loss, losses.categorical_crossentropy):
                loss = "categorical_crossentropy"
        else:
            activation, loss = "sigmoid", "binary_crossentropy"
        return {
            "classes_": labels,
            "n_classes_": len(labels),
            "n_outputs_": width,
            "target_type_": target_type,
            "output_activation": activation,
            "loss": loss if self.loss is None else self.loss,
        }

    def _check_output_width(self, width: int, meta: dict) -> None:
        if meta["target_type_"] == "binary" and width == 2:
            # two softmax units for two classes work as well as one sigmoid unit
            meta.update(
                n_outputs_=2,
                target_type_="binary",
                output_activation="softmax",
                loss="sparse_categorical_crossentropy" if self.loss is None else self.loss,
            )
            return
        super()._check_output_width(width, meta)

    def _fitted_attributes(self) -> tuple[str, ...]:
        return (*super()._fitted_attributes(), "classes_", "_target_type", "_label_dtype")

    def _targets_problem(self) -> str | None:
        classes = self.classes_
        if not isinstance(classes, np.ndarray) or classes.ndim != 1:
            return f"classes_ is {classes!r:.80}, not a 1-D array of labels."
        if self._label_dtype is not None and not isinstance(self._label_dtype, np.dtype):
            return f"_label_dtype is {self._label_dtype!r:.80}, not a NumPy dtype."
        target_type = self._target_type
        if isinstance(target_type, str) and target_type == "binary":
            fits = len(classes) == 2 and self.n_outputs_ in (1, 2)
        elif isinstance(target_type, str) and target_type in ("multiclass", "multilabel-indicator"):
            fits = len(classes) == self.n_outputs_
        else:
            return f"_target_type is {target_type!r:.80}, not one a classifier is fitted for."
        if not fits:
            return (
                f"classes_ holds {len(classes)} labels for a {target_type} network of "
                f"{self.n_outputs_} outputs."
            )
        return None

    def _commit_meta(self, meta: dict) -> None:
        self.classes_ = meta["classes_"]
        self.n_outputs_ = meta["n_outputs_"]
        self._target_type = meta["target_type_"]
        self._label_dtype = meta.get("_label_dtype")


class NeuralNetRegressor(RegressorMixin, _NeuralNetBase):
    """A scikit-learn regressor that trains an axonal network (an ``MLPRegressor`` peer).

    The network is ``hidden_layer_sizes`` Dense layers of ``activation``, then a linear layer
    with one unit per target, trained on mean squared error. ``y`` may have several columns.
    Or pass ``model=build_fn``: ``build_fn(meta, **model_params)`` returns an uncompiled axonal
    model with ``meta['n_outputs_']`` outputs; the estimator compiles it with ``optimizer`` and
    ``loss``. ``meta`` holds ``n_features_in_``, ``n_outputs_``, ``target_type_``,
    ``output_activation``, ``loss`` and ``dtype``.

    The targets are used as given; scale them (``TransformedTargetRegressor``) when they are
    far from unit size, as for MLPRegressor. The network computes in float32 when X is float32
    and in float64 otherwise.

    Args: as ``NeuralNetClassifier`` (``loss`` defaults to ``'mean_squared_error'``).

    Attributes:
        n_features_in_, feature_names_in_: what ``fit`` saw (names for DataFrames only).
        n_outputs_: the number of targets.
        model_: the trained axonal model.
        history_: ``{'loss': [...], ...}`` per epoch (``partial_fit`` appends).

    Example:
        >>> reg = NeuralNetRegressor(hidden_layer_sizes=(64,), optimizer__learning_rate=0.01)
        >>> reg.fit(X_train, y_train).score(X_test, y_test)
    """

    def fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """Train a new network for ``epochs`` epochs on ``X`` (n_samples, n_features), ``y``.

        Example:
            >>> reg.fit(X, y)
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """One epoch on ``X``, ``y``, continuing the current network.

        Example:
            >>> reg.partial_fit(X_batch, y_batch)
        """
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X) -> np.ndarray:
        """Predictions, shape (n_samples,) for one target or (n_samples, n_outputs).

        Example:
            >>> reg.predict(X[:2]).shape
            (2,)
        """
        out = self._forward(X)
        return out.ravel() if self._single_target else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode_targets(self, y, weights, first: bool, partial: bool, classes) -> tuple:
        width = 1 if y.ndim == 1 else y.shape[1]
        if not first and width != self.n_outputs_:
            raise ValueError(
                f"y has {width} target(s) per sample; {type(self).__name__} was fitted with "
                f"{self.n_outputs_}."
            )
        meta = {
            "n_outputs_": width,
            "target_type_": "continuous" if y.ndim == 1 else "continuous-multioutput",
            "output_activation": "linear",
            "loss": self._default_loss if self.loss is None else self.loss,
        }
        return y, meta

    def _commit_meta(self, meta: dict) -> None:
        self.n_outputs_ = meta["n_outputs_"]
        self._single_target = meta["target_type_"] == "continuous"

    def _fitted_attributes(self) -> tuple[str, ...]:
        return (*super()._fitted_attributes(), "_single_target")

    def _targets_problem(self) -> str | None:
        if not isinstance(self._single_target, bool):
            return f"_single_target is {self._single_target!r:.80}, not True or False."
        if self._single_target and self.n_outputs_ != 1:
            return f"a single target, but n_outputs_ is {self.n_outputs_}."
        return None


def _is_loss(spec, function) -> bool:
    """Whether a loss spec (name, function or Loss) computes ``function``."""
    if spec is None:
        return False
    try:
        return getattr(losses.get(spec), "fn", None) is function
    except (TypeError, ValueError):
        return False


@contextmanager
def _random_source(generator) -> Iterator[None]:
    """Make ``generator`` axonal's random source (initializers, shuffling, dropout) for a while.

    ``random_state`` must make fits reproducible without reseeding anything global the user
    relies on, so axonal's library-wide generator is swapped in and restored afterwards.
    """
    if generator is None:
        yield
        return
    with backend.use_generator(generator):
        yield


def _model_to_bytes(model: Model) -> bytes:
    """The model as the bytes of its ``.axonal`` archive (config, weights, optimizer state)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.axonal")
        saving.save_model(model, path)
        with open(path, "rb") as handle:
            return handle.read()


def _model_from_bytes(data: bytes) -> Model:
    """The inverse of ``_model_to_bytes``, through axonal's safe loader (its one error)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.axonal")
        with open(path, "wb") as handle:
            handle.write(data)
        return saving.load_model(path)


__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
