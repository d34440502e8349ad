"""``InputSpec``: what a layer accepts (rank, sizes of some axes, dtype), checked on each call.

A custom layer sets ``self.input_spec = InputSpec(ndim=3)`` (or a list, one per input) as in
Keras; ``Layer.__call__`` then refuses a mismatching input with an error naming the layer, the
rule and the shape, before building or computing anything.

Example:
    >>> layer.input_spec = InputSpec(min_ndim=2, axes={-1: 16})
"""

from __future__ import annotations

from axonal.backend import standardize_dtype


class InputSpec:
    """The rank, shape, axis sizes and dtype a layer's input must have (Keras 3's arguments).

    Args:
        dtype: required dtype, or None.
        shape: required shape, batch included (None entries match anything), or None.
        ndim, max_ndim, min_ndim: required, largest and smallest rank.
        axes: ``{axis: size}`` for axes whose size is fixed (negative axes count from the end).
        allow_last_axis_squeeze: accept a rank one lower or higher when the last axis is 1.
        name: the input's name (informational).
        optional: whether the input may be None.
    """

    def __init__(
        self,
        dtype=None,
        shape=None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ):
        self.dtype = None if dtype is None else standardize_dtype(dtype)
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name = name
        self.optional = optional

    def __repr__(self) -> str:
        parts = [
            f"{key}={value!r}"
            for key, value in (
                ("dtype", self.dtype),
                ("shape", self.shape),
                ("ndim", self.ndim),
                ("max_ndim", self.max_ndim),
                ("min_ndim", self.min_ndim),
                ("axes", self.axes or None),
            )
            if value is not None
        ]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self) -> dict:
        """The constructor arguments, JSON-ready."""
        return {
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": {str(k): v for k, v in self.axes.items()},
        }

    @classmethod
    def from_config(cls, config: dict) -> InputSpec:
        """Rebuild from ``get_config``'s output."""
        return cls(**config)


def _rank_ok(spec: InputSpec, rank: int, shape: tuple) -> bool:
    if spec.ndim is None or rank == spec.ndim:
        return True
    squeezable = spec.allow_last_axis_squeeze
    return squeezable and (rank == spec.ndim + 1 and shape[-1] == 1 or rank == spec.ndim - 1)


def check_input_spec(layer_name: str, specs, inputs: list) -> None:
    """Raise a ValueError naming the layer unless every input meets its spec.

    ``specs`` is one ``InputSpec`` (for every input) or a list, one per input; ``inputs`` are
    objects with ``shape`` and ``dtype`` (arrays, tensors, symbolic tensors).
    """
    specs = list(specs) if isinstance(specs, (list, tuple)) else [specs] * len(inputs)
    if len(specs) != len(inputs):
        raise ValueError(
            f"Layer '{layer_name}' expects {len(specs)} input(s) (its input_spec), "
            f"got {len(inputs)}."
        )
    for index, (spec, x) in enumerate(zip(specs, inputs, strict=True)):
        if spec is None or (x is None and spec.optional):
            continue
        shape = tuple(x.shape)
        rank = len(shape)
        where = f"Input {index} of layer '{layer_name}'"
        if not _rank_ok(spec, rank, shape):
            raise ValueError(f"{where} must have rank {spec.ndim}, got shape {shape}.")
        if spec.max_ndim is not None and rank > spec.max_ndim:
            raise ValueError(f"{where} must have rank {spec.max_ndim} or less, got {shape}.")
        if spec.min_ndim is not None and rank < spec.min_ndim:
            raise ValueError(f"{where} must have rank {spec.min_ndim} or more, got {shape}.")
        for axis, size in spec.axes.items():
            position = axis if axis >= 0 else rank + axis
            actual = shape[position] if 0 <= position < rank else None
            if size is not None and actual is not None and actual != size:
                raise ValueError(f"{where}: axis {axis} must have size {size}, got shape {shape}.")
        if spec.shape is not None and rank == len(spec.shape):
            for expected, actual in zip(spec.shape, shape, strict=True):
                if expected is not None and actual is not None and expected != actual:
                    raise ValueError(f"{where} must have shape {spec.shape}, got {shape}.")
        dtype = getattr(x, "dtype", None)
        if spec.dtype is not None and dtype is not None and standardize_dtype(dtype) != spec.dtype:
            raise ValueError(f"{where} must have dtype {spec.dtype}, got {dtype}.")


__all__ = ["InputSpec", "check_input_spec"]
