"""Trainable weights packed into one flat array, handed to the optimizer for a fused step.

A model of many small weights spends most of an optimizer step in per-weight Python overhead.
Packing lays the weights of one dtype end to end in one array (each ``variable.data`` becomes a
view of it) and their gradients in a second array of the same layout (each
``variable.grad_buffer`` a view, where backward writes the gradient in place). An optimizer
given the buffer (``optimizer.use_buffer(buffer)``) then runs its update rule once over the
whole array. Nothing is recovered from memory addresses: the buffer says which variables it
holds, and a variable that was given a new array simply no longer matches.
"""

from __future__ import annotations

from axonal.backend import empty_flat


class ParameterBuffer:
    """Variables of one dtype laid out in order in ``data``, their gradients in ``grad``.

    Building it moves the variables' values into the buffer (values unchanged).

    Args:
        variables: the variables, all of one dtype, in the order the optimizer receives them.
        tail: extra elements after the gradients in the gradient array (distributed training
            sums a few flags in the same allreduce as the gradients).

    Attributes:
        data: the flat weights.
        grads: the flat gradients (a view of ``grad_array`` without the tail).
        grad_array: the whole gradient array, tail included.
    """

    def __init__(self, variables: list, tail: int = 0):
        self.variables = list(variables)
        dtypes = {v.data.dtype for v in self.variables}
        if len(dtypes) > 1:
            raise ValueError(f"A ParameterBuffer holds one dtype, got {sorted(map(str, dtypes))}.")
        dtype = dtypes.pop() if dtypes else "float32"
        total = sum(v.data.size for v in self.variables)
        self.data = empty_flat(total, dtype)
        # zeroed: a variable backward does not reach must not carry garbage into an allreduce
        self.grad_array = empty_flat(total + tail, dtype, zero=True)
        self.grads = self.grad_array[:total]
        self._data_views = []
        self._grad_views = []
        position = 0
        for variable in self.variables:
            size = variable.data.size
            shape = variable.data.shape
            view = self.data[position : position + size].reshape(shape)
            view[...] = variable.data
            variable.data = view
            variable.grad_buffer = self.grads[position : position + size].reshape(shape)
            self._data_views.append(view)
            self._grad_views.append(variable.grad_buffer)
            position += size

    @classmethod
    def pack(cls, variables: list) -> list[ParameterBuffer]:
        """One buffer per dtype (one in practice), variables in their order within each."""
        by_dtype: dict = {}
        for variable in variables:
            by_dtype.setdefault(variable.data.dtype, []).append(variable)
        return [cls(group) for group in by_dtype.values()]

    def holds(self, variables: list) -> bool:
        """Whether ``variables`` are exactly this buffer's, in order, still stored in it."""
        if len(variables) != len(self.variables):
            return False
        for variable, mine, view in zip(variables, self.variables, self._data_views, strict=True):
            if variable is not mine or variable.data is not view:
                return False
        return True

    def grads_in_place(self, grads: list) -> bool:
        """Whether each gradient is its variable's view of ``grads`` (backward wrote there)."""
        for grad, view in zip(grads, self._grad_views, strict=True):
            if grad is not view:
                return False
        return True

    def gradient_views(self) -> list:
        """Each variable's view of the gradient array, in order."""
        return list(self._grad_views)


__all__ = ["ParameterBuffer"]
