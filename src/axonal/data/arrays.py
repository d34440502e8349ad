"""Input validation, sample weights, validation split and batching of in-memory arrays (and
DataFrames) for fit/evaluate/predict.

Every check here runs before training touches a weight, and every message speaks in the user's
terms: which argument, which row and column, what was expected and what was received.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from axonal.backend import xp


def to_array(value, name: str, hint: str | None = None, allow_strings: bool = False):
    """Convert user data (array, list, DataFrame, Series) to a numeric ndarray, or raise clearly.

    A DataFrame with non-numeric columns is refused naming those columns; ``hint`` replaces the
    generic advice at the end of the non-numeric error (targets explain how to encode labels).
    With ``allow_strings`` (the input of a string preprocessing layer), arrays of ``str``,
    ``bytes`` or objects pass as they are.
    """
    if value is None:
        raise ValueError(f"{name} is None; expected an array.")
    if not _array_like(value):
        # NumPy would read a generator as one object, and iterate a __len__/__getitem__
        # object index by index without end
        raise TypeError(
            f"{name} must be an array (NumPy, a list, a DataFrame or anything with __array__); "
            f"got a {type(value).__name__}. Data that streams is a generator or iterable of "
            "batches, an axonal.data.Dataset or a PyDataset (an object with __len__ and "
            "__getitem__ must subclass axonal.utils.PyDataset)."
        )
    if is_dataframe(value) and not allow_strings:
        _check_numeric_columns(value, name)
        value = _frame_to_numpy(value)
    elif hasattr(value, "to_numpy") and not isinstance(value, xp.ndarray):
        value = value.to_numpy()
    try:
        array = xp.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if array.dtype.kind not in "biuf" and not (allow_strings and array.dtype.kind in "USO"):
        sample = array.ravel()[:3].tolist() if array.size else []
        raise TypeError(
            f"{name} must be numeric; got an array of dtype {array.dtype} "
            f"(first values: {sample}). {hint or 'Encode categories as numbers first.'}"
        )
    if array.ndim == 0:
        raise ValueError(f"{name} must have a batch axis; got a scalar.")
    return array


def _array_like(value) -> bool:
    """Whether NumPy can take ``value`` as an array without iterating an unknown object."""
    if isinstance(value, (xp.ndarray, xp.generic, list, tuple, range, int, float, complex)):
        return True
    return (
        hasattr(value, "__array__")
        or hasattr(value, "__array_interface__")
        or hasattr(value, "to_numpy")
        or is_dataframe(value)
    )


# what to do about string / categorical targets, for Model.fit and Model.evaluate
TARGET_HINT = (
    "Class labels such as strings must be encoded as integer class indices first (e.g. "
    "sklearn.preprocessing.LabelEncoder, or pandas' Series.cat.codes), or use "
    "axonal.sklearn.NeuralNetClassifier, which encodes labels itself."
)


def is_dataframe(value) -> bool:
    """True for a pandas DataFrame (found by duck typing: pandas is never imported here)."""
    return (
        hasattr(value, "columns")
        and hasattr(value, "dtypes")
        and hasattr(value, "to_numpy")
        and getattr(value, "ndim", None) == 2
    )


def column_names(value) -> list | None:
    """The column names of a DataFrame, as a list; None for anything else."""
    if not is_dataframe(value):
        return None
    return list(value.columns)


def _check_numeric_columns(frame, name: str) -> None:
    """Name the DataFrame columns that would turn the whole array into objects."""
    bad = [
        (column, str(dtype))
        for column, dtype in zip(frame.columns, frame.dtypes, strict=True)
        if getattr(dtype, "kind", "O") not in "biuf"
    ]
    if bad:
        described = ", ".join(f"{column!r} ({dtype})" for column, dtype in bad)
        raise TypeError(
            f"{name} must be numeric, but DataFrame column(s) {described} are not. Encode them "
            "as numbers first (e.g. pandas.get_dummies or sklearn's OneHotEncoder for "
            "categories)."
        )


def _frame_to_numpy(frame):
    """A numeric DataFrame as one ndarray; nullable columns (``Int64``…) become floats with NaN
    for their missing values, so ``check_finite`` can name the row and column."""
    dtypes = list(frame.dtypes)
    if all(isinstance(dtype, xp.dtype) for dtype in dtypes):
        return frame.to_numpy()
    # pandas' extension dtypes know their NumPy counterpart
    common = xp.result_type(*[getattr(dtype, "numpy_dtype", dtype) for dtype in dtypes])
    if common.kind != "f" and bool(frame.isna().to_numpy().any()):
        common = xp.dtype("float64")
    if common.kind == "f":
        return frame.to_numpy(dtype=common, na_value=xp.nan)
    return frame.to_numpy(dtype=common)


def check_columns(got: list, expected: list, name: str) -> None:
    """A DataFrame's columns must be the training columns, in the training order.

    Raises:
        ValueError: naming the missing and unexpected columns, or the expected order.
    """
    if got == expected:
        return
    missing = [column for column in expected if column not in got]
    unexpected = [column for column in got if column not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if unexpected:
            parts.append(f"unexpected column(s) {unexpected}")
        raise ValueError(
            f"{name} does not have the columns the model was trained on: "
            f"{' and '.join(parts)}. Expected the columns {expected}."
        )
    raise ValueError(
        f"{name} has the training columns in another order: got {got}, expected {expected}. "
        f"Reorder them first, e.g. {name}[{expected}]."
    )


def check_finite(array, name: str) -> None:
    """Raise naming the first NaN or infinity in ``array`` (row, and column if any)."""
    if array.dtype.kind != "f":
        return
    if array.size <= 16 and math.isfinite(sum(array.ravel().tolist())):
        # a row or two (predict's latency case): a Python sum beats isfinite + all, and is
        # finite only if every value is (an overflowing sum takes the exact check below)
        return
    finite = xp.isfinite(array)
    if finite.all():
        return
    where = xp.argwhere(~finite)[0]
    value = array[tuple(where)]
    kind = "NaN" if xp.isnan(value) else ("inf" if value > 0 else "-inf")
    position = f"row {where[0]}"
    if len(where) == 2:
        position += f", column {where[1]}"
    elif len(where) > 2:
        position += f", index {tuple(int(i) for i in where[1:])}"
    count = int((~finite).sum())
    raise ValueError(f"{name} contains {kind} at {position} ({count} non-finite value(s) in all).")


def check_lengths(named_arrays: dict) -> int:
    """All arrays must have the same number of samples; return it."""
    lengths = {name: len(a) for name, a in named_arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"Data cardinality is ambiguous: {described} samples; they must match.")
    return next(iter(lengths.values()))


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as int, or a clear error when it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_sparse_labels(y, classes: int, name: str = "y") -> None:
    """Integer class labels must be whole numbers in ``[0, classes)``."""
    labels = y.reshape(-1) if y.ndim <= 1 or y.shape[-1] == 1 else None
    if labels is None:
        raise ValueError(
            f"sparse_categorical_crossentropy expects integer labels of shape (samples,), got "
            f"{name} of shape {y.shape}; one-hot targets need categorical_crossentropy."
        )
    if labels.dtype.kind == "f" and not (labels == xp.round(labels)).all():
        bad = int(xp.argmax(labels != xp.round(labels)))
        raise ValueError(
            f"{name} holds class labels but row {bad} is {labels[bad].item()!r}, not an integer."
        )
    bad_rows = xp.flatnonzero((labels < 0) | (labels >= classes))
    if bad_rows.size:
        row = int(bad_rows[0])
        raise ValueError(
            f"{name} has label {labels[row].item()!r} at row {row}, outside the valid range "
            f"[0, {classes - 1}] for a model with {classes} output classes."
        )


def sample_weights(y, sample_weight, class_weight, n: int, dtype):
    """Combine ``sample_weight`` and ``class_weight`` into one per-sample array, or None."""
    weights = None
    if sample_weight is not None:
        weights = to_array(sample_weight, "sample_weight").astype(dtype)
        if weights.shape[0] != n:
            raise ValueError(f"sample_weight has {weights.shape[0]} entries but x has {n} samples.")
        check_finite(weights, "sample_weight")
        if (weights < 0).any():
            raise ValueError("sample_weight must be non-negative.")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}, got {class_weight!r}.")
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(n, -1)[:, 0]
        labels = labels.astype(xp.int64)
        missing = sorted(set(xp.unique(labels).tolist()) - set(int(k) for k in class_weight))
        if missing:
            raise ValueError(f"class_weight has no entry for class(es) {missing}.")
        table = {int(k): float(v) for k, v in class_weight.items()}
        per_class = xp.array([table[int(c)] for c in labels], dtype=dtype)
        weights = per_class if weights is None else weights * per_class
    return weights


def times_sample_weight(step_weights, sample_weight):
    """Per-step weights ``(batch, steps, ...)`` times per-example ``sample_weight`` (``(batch,)``
    or any shape that broadcasts once trailing axes are added); ``sample_weight`` None leaves
    them as they are."""
    if sample_weight is None:
        return step_weights
    sample_weight = xp.asarray(sample_weight)
    while sample_weight.ndim < step_weights.ndim:
        sample_weight = sample_weight[..., None]
    return step_weights * sample_weight


def split_validation(arrays: list, fraction: float) -> tuple[list, list]:
    """Keras's ``validation_split``: the last ``fraction`` of the samples, before shuffling."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {fraction!r}.")
    n = len(arrays[0])
    n_val = int(n * fraction)
    if fraction and n_val == 0:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves no validation sample.")
    cut = n - n_val
    train = [None if a is None else a[:cut] for a in arrays]
    val = [None if a is None else a[cut:] for a in arrays]
    return train, val


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of ``batch_size`` covering ``range(n)``; the last may be shorter."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
