"""Utilities: seeding, label encoding, normalisation and sequence padding (``keras.utils``),
``PyDataset`` / ``Sequence`` for batches computed in Python, ``check_gradients`` for people
writing their own layers, datasets from folders and arrays (``dataset_utils``, ``timeseries``),
image files (``image_utils``, with Pillow) and cached downloads (``file_utils.get_file``)."""

from __future__ import annotations

from axonal import backend
from axonal.backend import floatx, set_random_seed, xp
from axonal.data import PyDataset, Sequence
from axonal.gradcheck import check_gradients
from axonal.model_plot import model_to_dot, plot_model
from axonal.preprocessing.sequence import pad_sequences
from axonal.saving import CustomObjectScope, custom_object_scope
from axonal.serialization import (
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)
from axonal.trainers.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight
from axonal.utils.dataset_utils import (
    image_dataset_from_directory,
    split_dataset,
    text_dataset_from_directory,
)
from axonal.utils.file_utils import get_file
from axonal.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from axonal.utils.timeseries import timeseries_dataset_from_array


def to_categorical(x, num_classes: int | None = None):
    """One-hot encode integer class labels ``(samples,)`` into ``(samples, num_classes)``.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    labels = xp.asarray(x)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f" and not (labels == xp.round(labels)).all():
        raise ValueError("to_categorical expects integer class labels.")
    labels = labels.astype(xp.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical got a negative label: {int(labels.min())}.")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= classes:
        raise ValueError(f"to_categorical got label {int(labels.max())} but num_classes={classes}.")
    out = xp.zeros(labels.shape + (classes,), dtype=floatx())
    xp.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def normalize(x, axis: int | None = -1, order=2):
    """Scale ``x`` so each slice along ``axis`` has unit ``order``-norm (L2 by default).

    Slices whose norm is 0 are left as they are (divided by 1). Float input keeps its dtype;
    other input becomes the default float type.

    Args:
        x: array-like of any shape.
        axis: the axis the norm is taken along (default -1, the last); None: the whole array.
        order: the norm's order, as ``numpy.linalg.norm`` takes it (default 2).

    Returns:
        An array of ``x``'s shape.

    Example:
        >>> normalize([[3.0, 4.0], [0.0, 0.0]])
        array([[0.6, 0.8],
               [0. , 0. ]], dtype=float32)
    """
    values = xp.asarray(x)
    if values.dtype.kind != "f":
        values = values.astype(floatx())
    if axis is None:
        # one norm for the whole array (a vector's norm, or a matrix's Frobenius norm for 2)
        norm = xp.asarray(xp.linalg.norm(values.reshape(-1), order))
    else:
        norm = xp.linalg.norm(values, order, axis, keepdims=True)
    # a zero vector has no direction: leave it as zeros rather than dividing by 0
    norm = xp.where(norm == 0, 1, norm)
    return (values / norm).astype(values.dtype, copy=False)


def standardize_dtype(dtype) -> str:
    """A dtype (NumPy's, a string such as ``"float32"``, a Python type) as Keras's string name."""
    return backend.standardize_dtype(dtype)


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor of the functional API (``keras.Input(...)`` and what
    layers make from it)."""
    from axonal.layers.symbolic import SymbolicTensor

    return isinstance(x, SymbolicTensor)


def clear_session() -> None:
    """Restart automatic layer naming (``dense``, ``dense_1``…), as Keras's clear_session does."""
    backend.clear_session()


__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "is_keras_tensor",
    "pack_x_y_sample_weight",
    "register_keras_serializable",
    "serialize_keras_object",
    "standardize_dtype",
    "unpack_x_y_sample_weight",
    "array_to_img",
    "get_file",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "save_img",
    "split_dataset",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "PyDataset",
    "Sequence",
    "check_gradients",
    "clear_session",
    "model_to_dot",
    "normalize",
    "pad_sequences",
    "plot_model",
    "set_random_seed",
    "to_categorical",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
