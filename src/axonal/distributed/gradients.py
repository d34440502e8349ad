"""The gradient buffer that one allreduce per step averages across ranks.

The trainable variables are laid out in one contiguous data buffer and one contiguous gradient
buffer per dtype, in order, as ``Model`` packs them for its fused optimizer step. The first
gradient buffer has a short tail after the gradients, summed in the same allreduce:

- one element per variable: 1 where this rank's backward reached the variable, else 0, so a
  variable no rank reached keeps a ``None`` gradient (and the optimizer skips it, as in one
  process), while a rank with no samples this step can still join with zeros;
- a stop flag and an interrupt flag: a stop asked for on one rank (a callback setting
  ``model.stop_training``, Ctrl-C) reaches every rank without a collective of its own.
"""

from __future__ import annotations

from axonal.backend import xp
from axonal.parameter_buffer import ParameterBuffer

# the two flags after the per-variable "reached" elements
_STOP = -2
_INTERRUPT = -1


class GradientBuffers:
    """Every variable's ``grad_buffer`` as a view of one flat buffer per dtype, plus the tail.

    Building it moves the variables' values into new contiguous buffers (values unchanged), so
    an optimizer's fused view of the old arrays is dropped on its own and rebuilt over these.

    Args:
        variables: the trainable variables, in the same order on every rank.
    """

    def __init__(self, variables: list):
        self.variables = variables
        by_dtype: dict = {}
        for variable in variables:
            by_dtype.setdefault(variable.data.dtype, []).append(variable)
        # the first dtype's gradient array carries the tail
        self.parameter_buffers = [
            ParameterBuffer(group, tail=len(variables) + 2 if index == 0 else 0)
            for index, group in enumerate(by_dtype.values())
        ]
        self.buffers = [buffer.grad_array for buffer in self.parameter_buffers]
        if not self.buffers:
            # no trainable variables: the flags still travel
            self.buffers.append(xp.zeros(2, dtype=xp.float32))
        self.views = [variable.grad_buffer for variable in variables]
        first = self.buffers[0]
        self.tail = first[first.size - len(variables) - 2 :]
        self.reached = self.tail[: len(variables)]

    def fused(self):
        """The one ``ParameterBuffer`` the optimizer can update in a fused step (None when the
        variables have several dtypes)."""
        return self.parameter_buffers[0] if len(self.parameter_buffers) == 1 else None

    def matches(self, variables: list) -> bool:
        """Whether these are the variables laid out here, still pointing at these buffers."""
        if len(variables) != len(self.variables):
            return False
        return all(
            v is mine and v.grad_buffer is view
            for v, mine, view in zip(variables, self.variables, self.views, strict=True)
        )

    def collect(self) -> None:
        """Bring every variable's gradient into its view, after backward.

        Backward writes most gradients straight into the views; a variable whose gradient was
        allocated elsewhere (used twice, an op that cannot write in place) is copied in, and
        one backward did not reach gets zeros.
        """
        reached = self.reached
        for index, (variable, view) in enumerate(zip(self.variables, self.views, strict=True)):
            grad = variable.grad
            if grad is view:
                reached[index] = 1
            elif grad is None:
                view[...] = 0
                reached[index] = 0
            else:
                view[...] = grad
                variable.grad = view
                reached[index] = 1

    def clear(self) -> None:
        """Zeros everywhere: this rank adds nothing to this step's sum."""
        for buffer in self.buffers:
            buffer[...] = 0

    def set_flags(self, stop: bool, interrupt: bool) -> None:
        """This rank's requests, summed with the gradients."""
        self.tail[_STOP] = 1 if stop else 0
        self.tail[_INTERRUPT] = 1 if interrupt else 0

    def allreduce(self, comm, mpi) -> None:
        """Sum every buffer over all ranks, in place: one call per dtype (one in practice).

        Args:
            comm: the communicator.
            mpi: the ``mpi4py.MPI`` module.
        """
        for buffer in self.buffers:
            comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)

    def stop_requested(self) -> bool:
        """After the allreduce: whether any rank asked to stop."""
        return bool(self.tail[_STOP] > 0)

    def interrupt_requested(self) -> bool:
        """After the allreduce: whether any rank was interrupted (Ctrl-C)."""
        return bool(self.tail[_INTERRUPT] > 0)

    def gradients(self) -> list | None:
        """After the allreduce: each variable's summed gradient, None where no rank reached it;
        None when no rank reached any variable."""
        reached = self.reached
        grads = [view if reached[i] > 0 else None for i, view in enumerate(self.views)]
        if all(grad is None for grad in grads):
            return None
        for variable, grad in zip(self.variables, grads, strict=True):
            variable.grad = grad
        return grads
