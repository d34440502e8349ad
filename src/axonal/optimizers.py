"""Optimizers: Keras 3's update rules applied in place to plain arrays.

An optimizer updates "variables": any object with ``.data`` (a float ndarray, updated in place,
never rebound) and ``.path`` (a unique string such as ``'dense_1/kernel'``). Per-variable state
("slots", e.g. Adam's ``m`` and ``v``) is created lazily on the first update and keyed by the
variable's path, so state survives rebuilding the variable objects and can be saved as a flat
``{'dense_1/kernel/m': array}`` dict.

Each step follows Keras 3's base optimizer: skip None gradients, clip, apply weight decay with the
learning rate of the current step, run the optimizer's update, then count the step.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from axonal import kernels, registry, schedules
from axonal.backend import empty_flat, xp

# The registry kind that learning-rate schedule classes (schedules.py) are registered under.
SCHEDULE_KIND = schedules.KIND

# Keras's path: `from axonal.optimizers.schedules import ExponentialDecay` finds the schedules
# module (it imports only the registry, so there is no cycle).
sys.modules.setdefault(f"{__name__}.schedules", schedules)

# Keras 3 config keys for features axonal does not have, with the value that means "off".
# A Keras config carrying these at their "off" value loads; any other value is refused.
_KERAS_ONLY_OFF_VALUES = {
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
_KERAS_ONLY_IGNORED = ("ema_momentum", "ema_overwrite_frequency")


class Variable(Protocol):
    """What an optimizer updates: an array updated in place and the unique key of its state."""

    data: Any
    path: str


def _check_number(name: str, value: Any, low: float, high: float | None = None) -> float:
    """Return ``value`` as a float after checking it is a real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    value = float(value)
    if not (low <= value and (high is None or value <= high)):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be {bounds}, got {value!r}.")
    return value


def _check_optional(name: str, value: Any) -> float | None:
    """Return None or ``value`` as a non-negative float (for clipping and weight decay)."""
    if value is None:
        return None
    return _check_number(name, value, 0.0)


def _check_learning_rate(value: Any) -> float | Callable[[int], float]:
    """Return a float learning rate, or the schedule itself when ``value`` is callable."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise ValueError(
            "`learning_rate` must be a float or a schedule (a callable taking the step number "
            f"and returning a float), got {value!r}."
        )
    return float(value)


def _apply_constraints(variables: list) -> None:
    """Project each updated variable that has a constraint back onto it (as Keras's optimizer
    does after every update)."""
    for variable in variables:
        constraint = getattr(variable, "constraint", None)
        if constraint is not None:
            variable.data[...] = constraint(variable.data)


def _is_pair(item: Any) -> bool:
    """Whether ``item`` unpacks into exactly two values."""
    try:
        _, _ = item
    except (TypeError, ValueError):
        return False
    return True


class Optimizer:
    """Base class: clipping, weight decay, step counting, lazily created state keyed by path.

    Subclasses name their slots in ``_slot_names``, compute the step's scalar coefficients once
    in ``_prepare_step`` and update one variable in place in ``_update_step``.

    Args:
        learning_rate: a float, or a schedule ``schedule(step: int) -> float`` evaluated at
            ``iterations`` (the number of steps applied so far).
        weight_decay: if set, each step first shrinks every variable by
            ``variable * weight_decay * learning_rate``.
        clipnorm: if set, each gradient is rescaled so its L2 norm is at most this value.
        clipvalue: if set, each gradient element is clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: if set, all gradients are rescaled together so that the norm of their
            concatenation is at most this value.
        name: the optimizer's name (defaults to the lowercased class name).

    Example:
        >>> import numpy as np
        >>> class Var:
        ...     def __init__(self, data, path):
        ...         self.data, self.path = data, path
        >>> w = Var(np.ones(3, dtype="float32"), "dense/kernel")
        >>> opt = SGD(learning_rate=0.1)
        >>> opt.apply_gradients([(np.ones(3, dtype="float32"), w)])
        >>> w.data
        array([0.9, 0.9, 0.9], dtype=float32)
    """

    # Names of scalar (not per-variable) entries of get_state besides 'iterations'.
    _scalar_state_names: tuple[str, ...] = ()

    #: Whether updates with a compiled loop (Adam's) run it: ``"auto"`` when numba is installed
    #: and the update is large, True always, False never (see ``axonal.kernels``). Results are
    #: the same either way. ``Model.compile(jit_compile=...)`` sets it.
    jit_compile: bool | str = "auto"

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        set_clips = [
            f"{arg}={value!r}"
            for arg, value in (
                ("clipnorm", clipnorm),
                ("clipvalue", clipvalue),
                ("global_clipnorm", global_clipnorm),
            )
            if value is not None
        ]
        if len(set_clips) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, "
                f"got {', '.join(set_clips)}."
            )
        self.name = name if name is not None else type(self).__name__.lower()
        self._learning_rate = _check_learning_rate(learning_rate)
        self.weight_decay = _check_optional("weight_decay", weight_decay)
        self.clipnorm = _check_optional("clipnorm", clipnorm)
        self.clipvalue = _check_optional("clipvalue", clipvalue)
        self.global_clipnorm = _check_optional("global_clipnorm", global_clipnorm)
        self.iterations = 0
        self._slots: dict[str, dict[str, Any]] = {}
        # State restored by set_state for variables not seen yet: adopted on their first step,
        # when their shape and dtype are known.
        self._pending_slots: dict[str, dict[str, Any]] = {}
        # the packed weights handed over by use_buffer, and the fused view built over them:
        # (buffer, (flat data, flat gradient scratch, flat slots))
        self._buffer = None
        self._flat: tuple | None = None
        self._scratch: dict = {}
        self._scalars: dict = {}

    # ----------------------------------------------------------------- learning rate

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | Callable[[int], float]) -> None:
        value = _check_learning_rate(value)
        if callable(self._learning_rate) and not callable(value):
            # Keras refuses this too: silently dropping the schedule would surprise its owner.
            raise TypeError(
                f"This optimizer was created with the schedule {self._learning_rate!r} as its "
                f"learning rate, so it cannot be set to the float {value!r}; create the "
                "optimizer with a float learning rate to change it during training."
            )
        self._learning_rate = value

    # ----------------------------------------------------------------- applying gradients

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        """Apply one step from ``(gradient, variable)`` pairs; None gradients are skipped.

        Args:
            grads_and_vars: pairs of a gradient array (the variable's shape) or None, and the
                variable it belongs to.
        """
        pairs = list(grads_and_vars)
        try:
            grads = [grad for grad, _ in pairs]
        except (TypeError, ValueError):
            bad = next(pair for pair in pairs if not _is_pair(pair))
            raise TypeError(
                "apply_gradients() expects (gradient, variable) pairs, such as "
                f"zip(grads, model.trainable_weights); got the element {bad!r}."
            ) from None
        self.apply(grads, [variable for _, variable in pairs])

    def apply(self, grads: Iterable[Any], variables: Iterable[Variable]) -> None:
        """Apply one step: ``grads[i]`` updates ``variables[i]`` in place (Keras 3 form).

        Args:
            grads: gradient arrays, each of its variable's shape, or None to skip a variable.
            variables: the variables, in the same order.

        Raises:
            ValueError: the lists differ in length, a gradient's shape differs from its
                variable's, or every gradient is None. Nothing is updated in that case.
        """
        grads = list(grads)
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"Expected one gradient per variable, got {len(grads)} gradients for "
                f"{len(variables)} variables."
            )
        if not grads:
            return
        flat = self._fused_view(grads, variables)
        if flat is not None:
            self._apply_step(self._clip_gradients(grads), variables, None, flat)
            _apply_constraints(variables)
            return
        kept_grads = []
        kept_variables = []
        skipped = []
        for grad, variable in zip(grads, variables, strict=True):
            if grad is None:
                skipped.append(variable.path)
                continue
            data = variable.data
            # Keras casts gradients to the variable's dtype; no copy when they already match.
            grad = xp.asarray(grad, dtype=data.dtype)
            if grad.shape != data.shape:
                raise ValueError(
                    f"Gradient for variable '{variable.path}' has shape {grad.shape}, "
                    f"expected the variable's shape {data.shape}."
                )
            kept_grads.append(grad)
            kept_variables.append(variable)
        if not kept_grads:
            raise ValueError(
                f"No gradients provided for any variable (all None for {skipped}). "
                "Check that the loss depends on the trainable weights."
            )
        if skipped:
            warnings.warn(f"Gradients do not exist for variables {skipped}.", stacklevel=2)
        # Create or check every variable's state before any weight changes.
        slots = [self._slots_for(variable) for variable in kept_variables]

        kept_grads = self._clip_gradients(kept_grads)
        self._apply_step(kept_grads, kept_variables, slots, None)
        _apply_constraints(kept_variables)

    def use_buffer(self, buffer) -> None:
        """Update the variables of ``buffer`` (an ``axonal.parameter_buffer.ParameterBuffer``)
        with one fused step over its flat arrays whenever ``apply`` gets exactly them; any
        other call takes the per-variable path. ``fit`` hands the model's packed weights here.

        Args:
            buffer: the packed variables, or None to stop fusing.
        """
        if buffer is not self._buffer:
            self._buffer = buffer
            self._flat = None

    def packed_step(self, buffer) -> Callable[[], None] | None:
        """A function of no arguments that applies one step to ``buffer``'s variables from its
        gradient array: what ``apply`` does when it gets exactly those variables with their
        gradients already written into the buffer (as ``backward`` writes them), without
        ``apply``'s per-call checks. None where ``apply`` must run instead: ``buffer`` is not
        the one from ``use_buffer``, ``apply`` or ``apply_gradients`` is overridden, clipping
        needs each gradient on its own, or a variable has a constraint.

        The function stays right while ``buffer`` holds its variables and these settings
        stand; a caller that lets other code run between steps checks again.

        Args:
            buffer: an ``axonal.parameter_buffer.ParameterBuffer`` (or None).
        """
        cls = type(self)
        if (
            buffer is None
            or buffer is not self._buffer
            or cls.apply is not Optimizer.apply
            or cls.apply_gradients is not Optimizer.apply_gradients
            or self.clipnorm
            or self.clipvalue
            or self.global_clipnorm
            or any(getattr(v, "constraint", None) is not None for v in buffer.variables)
        ):
            return None
        flat = self._flat
        if flat is None or flat[0] is not buffer:
            flat = self._flat = (buffer, self._flat_slots(buffer))
        data, _, flat_slots = flat[1]
        return functools.partial(self._update_flat, data, buffer.grads, flat_slots)

    # ----------------------------------------------------------------- PyTorch-style loop

    def build(self, variables: Iterable[Variable]) -> None:
        """Remember the variables this optimizer trains and create their state now (Keras 3).

        ``step()`` and ``zero_grad()`` without arguments then act on these variables.

        Args:
            variables: the variables, such as ``model.trainable_weights``.
        """
        variables = list(variables)
        for variable in variables:
            self._slots_for(variable)
        self._built_variables = variables

    def step(self, variables: Iterable[Variable] | None = None) -> None:
        """Apply one step from the variables' ``.grad`` (what ``loss.backward()`` left there).

        As in PyTorch, ``backward()`` adds into ``.grad`` and ``step()`` does not clear it:
        call ``zero_grad()`` after each step, or the next step also applies this one's
        gradient. A variable whose ``.grad`` is None is skipped.

        Args:
            variables: the variables to update; defaults to those given to ``build``.

        Example:
            >>> loss = loss_fn(y, model(x, training=True))
            >>> loss.backward()
            >>> optimizer.step(model.trainable_weights)
            >>> optimizer.zero_grad(model.trainable_weights)
        """
        variables = self._variables_for("step", variables)
        if variables and all(getattr(v, "grad", None) is None for v in variables):
            raise ValueError(
                f"step() found no gradient: every one of the {len(variables)} variables has "
                ".grad None. Call loss.backward() before optimizer.step()."
            )
        self.apply([getattr(variable, "grad", None) for variable in variables], variables)

    def zero_grad(self, variables: Iterable[Variable] | None = None) -> None:
        """Set each variable's ``.grad`` to None, so the next ``backward()`` starts afresh.

        Args:
            variables: the variables to clear; defaults to those given to ``build``.
        """
        for variable in self._variables_for("zero_grad", variables):
            variable.grad = None

    def _variables_for(self, method: str, variables) -> list:
        if variables is not None:
            return list(variables)
        built = getattr(self, "_built_variables", None)
        if built is None:
            raise ValueError(
                f"{method}() needs the variables: pass them, as in "
                f"optimizer.{method}(model.trainable_weights), or call "
                "optimizer.build(model.trainable_weights) once first."
            )
        return built

    def _apply_step(self, grads: list, variables: list, slots: list | None, flat) -> None:
        """Run the update rule on validated, clipped gradients: fused over ``flat`` if given."""
        if flat is not None:
            # every variable is a view of one buffer: one update over all of them at once
            buffer, (data, grad_buffer, flat_slots) = flat
            if buffer.grads_in_place(grads):
                # backward already wrote every gradient into the packed gradient buffer
                grad_buffer = buffer.grads
            else:
                xp.concatenate([grad.reshape(-1) for grad in grads], out=grad_buffer)
            self._update_flat(data, grad_buffer, flat_slots)
            return
        learning_rate = self.learning_rate
        coefficients = self._prepare_step(learning_rate, self.iterations + 1)
        shrink = 1.0 - self.weight_decay * learning_rate if self.weight_decay else None
        for grad, variable, variable_slots in zip(grads, variables, slots, strict=True):
            if shrink is not None:
                variable.data *= shrink
            self._update_step(variable.data, grad, variable_slots, coefficients)
        self.iterations += 1

    def _update_flat(self, data, grads, flat_slots: dict) -> None:
        """One step of the update rule over packed weights ``data``, their gradients ``grads``
        and the flat slots (one array each), weight decay first; counts the step."""
        learning_rate = self.learning_rate
        coefficients = self._prepare_step(learning_rate, self.iterations + 1)
        if self.weight_decay:
            data *= 1.0 - self.weight_decay * learning_rate
        self._update_step(data, grads, flat_slots, coefficients)
        self.iterations += 1

    def _dtype_scalars(self, dtype, values: tuple) -> list:
        """``values`` (Python floats) as 0-d arrays of ``dtype``, reused from step to step.

        The same numbers NumPy would use (it rounds a Python float to the array's dtype before
        the arithmetic), but NumPy's per-call handling of a Python scalar costs several times
        an in-place operation on a small array (1.1 against 0.25 µs on 35 values).
        """
        key = (dtype.char, len(values))
        arrays = self._scalars.get(key)
        if arrays is None:
            arrays = self._scalars[key] = [xp.zeros((), dtype=dtype) for _ in values]
        for array, value in zip(arrays, values, strict=True):
            array[()] = value
        return arrays

    def _scratch_like(self, data, which: int = 0):
        """A reusable work array shaped like ``data``: no allocation (and page faults) per step."""
        key = (data.shape, data.dtype, which)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = empty_flat(data.size, data.dtype).reshape(data.shape)
        return buffer

    def _fused_view(self, grads: list, variables: list):
        """``(buffer, (data, gradient scratch, flat slots))`` when ``variables`` are exactly the
        buffer from ``use_buffer`` and every gradient fits; else None (per-variable path)."""
        buffer = self._buffer
        if buffer is None or self.clipnorm or not buffer.holds(variables):
            return None
        if not buffer.grads_in_place(grads):
            for grad, variable in zip(grads, variables, strict=True):
                data = variable.data
                if grad is None or (
                    getattr(grad, "shape", None) != data.shape
                    or getattr(grad, "dtype", None) != data.dtype
                ):
                    return None
        flat = self._flat
        if flat is None or flat[0] is not buffer:
            flat = self._flat = (buffer, self._flat_slots(buffer))
        return flat

    def _flat_slots(self, buffer) -> tuple:
        """The fused arrays over ``buffer``: its data, a gradient scratch and one flat array per
        slot, each variable's slot becoming a view of it (so ``get_state`` works by path)."""
        variables = buffer.variables
        data = buffer.data
        slots = [self._slots_for(variable) for variable in variables]
        flat_slots = {}
        for name in slots[0] if slots else ():
            flat = empty_flat(data.size, data.dtype)
            xp.concatenate([table[name].reshape(-1) for table in slots], out=flat)
            position = 0
            for variable, table in zip(variables, slots, strict=True):
                size = variable.data.size
                table[name] = flat[position : position + size].reshape(variable.data.shape)
                position += size
            flat_slots[name] = flat
        return data, empty_flat(data.size, data.dtype), flat_slots

    def _clip_gradients(self, grads: list) -> list:
        """Return the gradients clipped as configured; the caller's arrays are never modified."""
        if self.clipnorm:
            return [self._clip_by_norm(grad, self.clipnorm) for grad in grads]
        if self.global_clipnorm:
            return self._clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [xp.clip(grad, -self.clipvalue, self.clipvalue) for grad in grads]
        return grads

    @staticmethod
    def _clip_by_norm(grad, clipnorm: float):
        norm = math.sqrt(float(xp.vdot(grad, grad)))
        if norm > clipnorm:
            return grad * (clipnorm / norm)
        return grad

    @staticmethod
    def _clip_by_global_norm(grads: list, clipnorm: float) -> list:
        norm = math.sqrt(sum(float(xp.vdot(grad, grad)) for grad in grads))
        if norm <= clipnorm:
            return grads
        # Like Keras (and tf.clip_by_global_norm), an inf or NaN norm makes every gradient NaN
        # rather than silently zeroing them.
        scale = clipnorm / norm if math.isfinite(norm) else math.nan
        return [grad * scale for grad in grads]

    # ----------------------------------------------------------------- state

    def _slot_names(self) -> tuple[str, ...]:
        """Names of the per-variable state arrays this configuration keeps."""
        return ()

    def _new_slot(self, name: str, data):
        """Return the initial value of slot ``name`` for a variable holding ``data``."""
        return xp.zeros_like(data)

    def _slots_for(self, variable: Variable) -> dict:
        slots = self._slots.get(variable.path)
        data = variable.data
        if slots is None:
            slots = self._adopt_or_create_slots(variable.path, data)
        elif slots and next(iter(slots.values())).shape != data.shape:
            raise ValueError(
                f"Optimizer state for '{variable.path}' has shape "
                f"{next(iter(slots.values())).shape}, but the variable now has shape "
                f"{data.shape}. Two variables share this path, or the model changed; create a "
                "new optimizer for a new set of variables."
            )
        return slots

    def _adopt_or_create_slots(self, path: str, data) -> dict:
        restored = self._pending_slots.pop(path, None)
        if restored is None:
            slots = {name: self._new_slot(name, data) for name in self._slot_names()}
        else:
            for name, value in restored.items():
                if value.shape != data.shape:
                    raise ValueError(
                        f"Restored optimizer state '{path}/{name}' has shape {value.shape}, "
                        f"but the variable '{path}' has shape {data.shape}."
                    )
            slots = {name: value.astype(data.dtype, copy=False) for name, value in restored.items()}
        self._slots[path] = slots
        return slots

    def _get_scalar_state(self) -> dict[str, float]:
        """Scalar state kept besides ``iterations`` (Nadam's ``u_product``)."""
        return {}

    def _set_scalar_state(self, values: dict[str, float]) -> None:
        """Restore what ``_get_scalar_state`` returned."""

    def get_state(self) -> dict[str, Any]:
        """Return copies of all state: ``'iterations'`` and ``'<variable path>/<slot>'`` arrays.

        Example:
            >>> sorted(Adam().get_state())
            ['iterations']
        """
        state = {"iterations": xp.array(self.iterations, dtype="int64")}
        for name, value in self._get_scalar_state().items():
            state[name] = xp.array(value, dtype="float64")
        for table in (self._pending_slots, self._slots):
            for path, slots in table.items():
                for slot_name, value in slots.items():
                    state[f"{path}/{slot_name}"] = value.copy()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace all state with ``state`` (the output of ``get_state``), validating it first.

        State for variables this optimizer has not updated yet is kept and checked against the
        variable's shape on its first step.

        Raises:
            ValueError: a key is missing or unexpected, or an array has the wrong shape or type.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"Optimizer state must be a dict, got {type(state).__name__}.")
        scalar_names = ("iterations",) + self._scalar_state_names
        for key in scalar_names:
            if key not in state:
                raise ValueError(f"Optimizer state is missing the key {key!r}.")
        iterations = xp.asarray(state["iterations"])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
            raise ValueError(
                "Optimizer state 'iterations' must be a non-negative integer scalar, got "
                f"{state['iterations']!r}."
            )
        scalars = {}
        for key in self._scalar_state_names:
            value = xp.asarray(state[key])
            if value.shape != () or value.dtype.kind != "f":
                raise ValueError(
                    f"Optimizer state {key!r} must be a float scalar, got {state[key]!r}."
                )
            scalars[key] = float(value)

        slot_names = self._slot_names()
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in state.items():
            if key in scalar_names:
                continue
            path, _, slot_name = key.rpartition("/") if isinstance(key, str) else ("", "", "")
            if not path or slot_name not in slot_names:
                raise ValueError(
                    f"Unexpected optimizer state key {key!r}: {type(self).__name__} with this "
                    f"configuration keeps {list(scalar_names)} and "
                    f"'<variable path>/<slot>' for slots {list(slot_names)}."
                )
            value = xp.array(value, copy=True)
            if value.dtype.kind != "f":
                raise ValueError(
                    f"Optimizer state {key!r} must be a float array, got dtype {value.dtype}."
                )
            known = self._slots.get(path)
            if known is not None and known[slot_name].shape != value.shape:
                raise ValueError(
                    f"Optimizer state {key!r} has shape {value.shape}, but the variable "
                    f"'{path}' has shape {known[slot_name].shape}."
                )
            grouped.setdefault(path, {})[slot_name] = value
        for path, slots in grouped.items():
            for slot_name in slot_names:
                if slot_name not in slots:
                    raise ValueError(f"Optimizer state is missing the key '{path}/{slot_name}'.")

        self.iterations = int(iterations)
        self._flat = None
        self._set_scalar_state(scalars)
        known_slots = self._slots
        self._slots = {}
        self._pending_slots = {}
        for path, slots in grouped.items():
            if path in known_slots:
                dtype = next(iter(known_slots[path].values())).dtype
                self._slots[path] = {
                    name: value.astype(dtype, copy=False) for name, value in slots.items()
                }
            else:
                self._pending_slots[path] = slots

    # ----------------------------------------------------------------- the update rule

    def _prepare_step(self, learning_rate: float, step: int) -> tuple:
        """Return the step's scalar coefficients (Python floats), computed once per step.

        Args:
            learning_rate: the learning rate of this step.
            step: the 1-based number of the step being applied (``iterations + 1``).
        """
        return (learning_rate,)

    def _update_step(self, data, grad, slots: dict, coefficients: tuple) -> None:
        """Update one variable's ``data`` and ``slots`` in place; ``grad`` is read only."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update_step.")

    # ----------------------------------------------------------------- config

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON values (a schedule as its serialized dict).

        Raises:
            TypeError: the learning rate is a plain callable without ``get_config``.
        """
        learning_rate = self._learning_rate
        if callable(learning_rate):
            if not hasattr(learning_rate, "get_config"):
                raise TypeError(
                    f"Cannot serialize the learning rate {learning_rate!r}: a plain callable "
                    "has no config. Use a registered schedule class with get_config()."
                )
            learning_rate = registry.serialize(learning_rate)
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects: dict | None = None):
        """Rebuild an optimizer from ``get_config``'s output (also accepts Keras 3 configs).

        Args:
            config: the config dict.
            custom_objects: extra name -> class entries used to resolve a schedule.
        """
        config = dict(config)
        for key, off_value in _KERAS_ONLY_OFF_VALUES.items():
            value = config.pop(key, off_value)
            if value != off_value:
                raise ValueError(
                    f"{cls.__name__} config sets {key}={value!r}, which axonal does not "
                    f"support; only {key}={off_value!r} can be loaded."
                )
        for key in _KERAS_ONLY_IGNORED:
            config.pop(key, None)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = registry.deserialize(
                SCHEDULE_KIND, config["learning_rate"], custom_objects
            )
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, iterations={self.iterations})"


@registry.register("optimizer", "SGD", "sgd")
class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    With momentum ``mu``: ``velocity = mu * velocity - lr * g``, then ``w += velocity``, or for
    Nesterov ``w += mu * velocity - lr * g``. Slot: ``momentum`` (only when ``mu > 0``).

    Args:
        learning_rate: a float or a schedule. Defaults to 0.01.
        momentum: momentum factor in [0, 1]. Defaults to 0.0.
        nesterov: use Nesterov momentum. Defaults to False.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.momentum = _check_number("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum != 0.0 else ()

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (learning_rate,) = coefficients
        scaled_grad = xp.multiply(grad, learning_rate, out=self._scratch_like(data))
        if self.momentum == 0.0:
            data -= scaled_grad
            return
        velocity = slots["momentum"]
        velocity *= self.momentum
        velocity -= scaled_grad
        if self.nesterov:
            data -= scaled_grad
            xp.multiply(velocity, self.momentum, out=scaled_grad)
            data += scaled_grad
        else:
            data += velocity

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus ``momentum`` and ``nesterov``."""
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


@registry.register("optimizer", "RMSprop", "rmsprop")
class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    ``v = rho * v + (1 - rho) * g**2``; the step is ``lr * g / sqrt(v + epsilon)``, or with
    ``centered`` ``lr * g / sqrt(v - a**2 + epsilon)`` where ``a`` averages ``g`` the same way.
    With momentum the step feeds a velocity ``mom = momentum * mom + step``. Slots:
    ``velocity``, plus ``momentum`` and ``average_gradient`` when enabled.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        rho: discount factor of the running averages. Defaults to 0.9.
        momentum: momentum factor; 0 disables it. Defaults to 0.0.
        epsilon: added inside the square root for stability. Defaults to 1e-7.
        centered: normalise by the gradient's estimated variance. Defaults to False.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = RMSprop(learning_rate=0.01, centered=True)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = _check_number("rho", rho, 0.0, 1.0)
        self.momentum = _check_number("momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def _slot_names(self) -> tuple[str, ...]:
        names = ("velocity",)
        if self.momentum > 0.0:
            names += ("momentum",)
        if self.centered:
            names += ("average_gradient",)
        return names

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (learning_rate,) = coefficients
        rho = self.rho
        velocity = slots["velocity"]
        scratch = xp.square(grad, out=self._scratch_like(data))
        scratch *= 1.0 - rho
        velocity *= rho
        velocity += scratch
        if self.centered:
            average_grad = slots["average_gradient"]
            average_grad *= rho
            xp.multiply(grad, 1.0 - rho, out=scratch)
            average_grad += scratch
            xp.square(average_grad, out=scratch)
            xp.subtract(velocity, scratch, out=scratch)
            scratch += self.epsilon
        else:
            xp.add(velocity, self.epsilon, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.divide(grad, scratch, out=scratch)
        scratch *= learning_rate
        if self.momentum > 0.0:
            momentum = slots["momentum"]
            momentum *= self.momentum
            momentum += scratch
            data -= momentum
        else:
            data -= scratch

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus rho, momentum, epsilon, centered."""
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config


@registry.register("optimizer", "Adagrad", "adagrad")
class Adagrad(Optimizer):
    """Adagrad: per-element learning rates shrinking with the sum of squared gradients.

    ``acc += g**2``; ``w -= lr * g / sqrt(acc + epsilon)``. Slot: ``accumulator``.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        initial_accumulator_value: starting value of the accumulators. Defaults to 0.1.
        epsilon: added inside the square root for stability. Defaults to 1e-7.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = Adagrad(learning_rate=0.1)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.initial_accumulator_value = _check_number(
            "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = _check_number("epsilon", epsilon, 0.0)

    def _slot_names(self) -> tuple[str, ...]:
        return ("accumulator",)

    def _new_slot(self, name: str, data):
        return xp.full_like(data, self.initial_accumulator_value)

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (learning_rate,) = coefficients
        accumulator = slots["accumulator"]
        scratch = xp.square(grad, out=self._scratch_like(data))
        accumulator += scratch
        xp.add(accumulator, self.epsilon, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.divide(grad, scratch, out=scratch)
        scratch *= learning_rate
        data -= scratch

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus initial_accumulator_value, epsilon."""
        config = super().get_config()
        config.update(
            {
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon,
            }
        )
        return config


@registry.register("optimizer", "Adadelta", "adadelta")
class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients.

    ``acc_g = rho * acc_g + (1 - rho) * g**2``;
    ``delta = -sqrt(acc_d + epsilon) / sqrt(acc_g + epsilon) * g``;
    ``acc_d = rho * acc_d + (1 - rho) * delta**2``; ``w += lr * delta``.
    Slots: ``accumulated_grad``, ``accumulated_delta_var``.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001 (1.0 matches the paper).
        rho: decay rate of the running averages. Defaults to 0.95.
        epsilon: added inside the square roots for stability. Defaults to 1e-7.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = Adadelta(learning_rate=1.0)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = _check_number("rho", rho, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon, 0.0)

    def _slot_names(self) -> tuple[str, ...]:
        return ("accumulated_grad", "accumulated_delta_var")

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (learning_rate,) = coefficients
        rho = self.rho
        accumulated_grad = slots["accumulated_grad"]
        accumulated_delta = slots["accumulated_delta_var"]
        scratch = xp.square(grad, out=self._scratch_like(data))
        scratch *= 1.0 - rho
        accumulated_grad *= rho
        accumulated_grad += scratch
        xp.add(accumulated_grad, self.epsilon, out=scratch)
        xp.sqrt(scratch, out=scratch)
        # ``descent`` is -delta: the sign only matters for the final subtraction.
        descent = xp.add(accumulated_delta, self.epsilon, out=self._scratch_like(data, 1))
        xp.sqrt(descent, out=descent)
        descent *= grad
        descent /= scratch
        xp.square(descent, out=scratch)
        scratch *= 1.0 - rho
        accumulated_delta *= rho
        accumulated_delta += scratch
        descent *= learning_rate
        data -= descent

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus rho and epsilon."""
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config


@registry.register("optimizer", "Adam", "adam")
class Adam(Optimizer):
    """Adam: steps from bias-corrected running averages of the gradient and its square.

    ``m += (g - m) * (1 - beta_1)``; ``v += (g**2 - v) * (1 - beta_2)``;
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``, where
    ``epsilon`` is the paper's "epsilon hat". With ``amsgrad`` the running maximum ``v_hat`` of
    ``v`` replaces ``v`` in the denominator. Slots: ``m``, ``v`` (and ``v_hat``).

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        beta_1: decay rate of the first-moment average. Defaults to 0.9.
        beta_2: decay rate of the second-moment average. Defaults to 0.999.
        epsilon: added to ``sqrt(v)`` for stability. Defaults to 1e-7.
        amsgrad: use the AMSGrad variant. Defaults to False.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = Adam(learning_rate=1e-3, amsgrad=True)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _check_number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self) -> tuple[str, ...]:
        return ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _prepare_step(self, learning_rate, step) -> tuple:
        # Both bias corrections fold into one scalar, so the array work is the bare update.
        alpha = learning_rate * math.sqrt(1.0 - self.beta_2**step) / (1.0 - self.beta_1**step)
        return (alpha,)

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (alpha,) = coefficients
        m = slots["m"]
        v = slots["v"]
        v_hat = slots.get("v_hat")
        c1, c2 = 1.0 - self.beta_1, 1.0 - self.beta_2
        if kernels.adam(self.jit_compile, data, grad, m, v, v_hat, (c1, c2, alpha, self.epsilon)):
            return
        c1, c2, alpha, epsilon = self._dtype_scalars(data.dtype, (c1, c2, alpha, self.epsilon))
        # the same operations as the compiled kernel, in the same order: identical results
        scratch = xp.subtract(grad, m, out=self._scratch_like(data))
        scratch *= c1
        m += scratch
        xp.square(grad, out=scratch)
        scratch -= v
        scratch *= c2
        v += scratch
        if v_hat is not None:
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        xp.sqrt(v, out=scratch)
        scratch += epsilon
        xp.divide(m, scratch, out=scratch)
        scratch *= alpha
        data -= scratch

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus betas, epsilon and amsgrad."""
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
            }
        )
        return config


@registry.register("optimizer", "AdamW", "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= w * weight_decay * lr`` before each Adam step.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        weight_decay: decay factor (required, not None). Defaults to 0.004.
        beta_1, beta_2, epsilon, amsgrad: as for ``Adam``.
        **kwargs: clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.01)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        if weight_decay is None:
            raise ValueError("AdamW needs `weight_decay` to be a float, got None.")
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
        )


@registry.register("optimizer", "Adamax", "adamax")
class Adamax(Optimizer):
    """Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm.

    ``m += (g - m) * (1 - beta_1)``; ``u = max(beta_2 * u, |g|)``;
    ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``. Slots: ``m``, ``u``.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        beta_1: decay rate of the first-moment average. Defaults to 0.9.
        beta_2: decay rate of the infinity norm. Defaults to 0.999.
        epsilon: added to ``u`` for stability. Defaults to 1e-7.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = Adamax(learning_rate=2e-3)
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _check_number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon, 0.0)

    def _slot_names(self) -> tuple[str, ...]:
        return ("m", "u")

    def _prepare_step(self, learning_rate, step) -> tuple:
        return (learning_rate / (1.0 - self.beta_1**step),)

    def _update_step(self, data, grad, slots, coefficients) -> None:
        (corrected_lr,) = coefficients
        m = slots["m"]
        u = slots["u"]
        scratch = xp.subtract(grad, m, out=self._scratch_like(data))
        scratch *= 1.0 - self.beta_1
        m += scratch
        u *= self.beta_2
        xp.abs(grad, out=scratch)
        xp.maximum(u, scratch, out=u)
        xp.add(u, self.epsilon, out=scratch)
        xp.divide(m, scratch, out=scratch)
        scratch *= corrected_lr
        data -= scratch

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus betas and epsilon."""
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


@registry.register("optimizer", "Nadam", "nadam")
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum, using Dozat's momentum schedule (as Keras 3).

    With ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` and ``u_product`` the running product of the
    ``u_t`` (scalar state, in ``get_state`` as ``'u_product'``):
    ``m_hat = u_{t+1} * m / (1 - u_product * u_{t+1}) + (1 - u_t) * g / (1 - u_product)``,
    ``v_hat = v / (1 - beta_2**t)``, ``w -= lr * m_hat / (sqrt(v_hat) + epsilon)``.
    Slots: ``m``, ``v``.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        beta_1: decay rate of the first-moment average. Defaults to 0.9.
        beta_2: decay rate of the second-moment average. Defaults to 0.999.
        epsilon: added to ``sqrt(v_hat)`` for stability. Defaults to 1e-7.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see ``Optimizer``).

    Example:
        >>> opt = Nadam(learning_rate=2e-3)
    """

    _scalar_state_names = ("u_product",)

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _check_number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon, 0.0)
        self.u_product = 1.0

    def _slot_names(self) -> tuple[str, ...]:
        return ("m", "v")

    def _get_scalar_state(self) -> dict[str, float]:
        return {"u_product": self.u_product}

    def _set_scalar_state(self, values: dict[str, float]) -> None:
        self.u_product = values["u_product"]

    def _prepare_step(self, learning_rate, step) -> tuple:
        # Advances u_product: like Keras, once per applied step, shared by all variables.
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96**step)
        u_next = self.beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1))
        self.u_product *= u_t
        momentum_coefficient = u_next / (1.0 - self.u_product * u_next)
        grad_coefficient = (1.0 - u_t) / (1.0 - self.u_product)
        # sqrt(v / c) == sqrt(v) / sqrt(c): folds the v bias correction into the scalars.
        v_correction = math.sqrt(1.0 - self.beta_2**step)
        return (
            learning_rate,
            momentum_coefficient,
            grad_coefficient,
            v_correction,
        )

    def _update_step(self, data, grad, slots, coefficients) -> None:
        learning_rate, momentum_coefficient, grad_coefficient, v_correction = coefficients
        m = slots["m"]
        v = slots["v"]
        scratch = xp.subtract(grad, m, out=self._scratch_like(data))
        scratch *= 1.0 - self.beta_1
        m += scratch
        xp.square(grad, out=scratch)
        scratch -= v
        scratch *= 1.0 - self.beta_2
        v += scratch
        m_hat = xp.multiply(m, momentum_coefficient, out=self._scratch_like(data, 1))
        xp.multiply(grad, grad_coefficient, out=scratch)
        m_hat += scratch
        xp.sqrt(v, out=scratch)
        scratch /= v_correction
        scratch += self.epsilon
        m_hat /= scratch
        m_hat *= learning_rate
        data -= m_hat

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus betas and epsilon."""
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Return ``{'class_name': ..., 'config': ...}`` for ``optimizer``.

    Example:
        >>> serialize(SGD())["class_name"]
        'SGD'
    """
    return registry.serialize(optimizer)


def deserialize(config: Mapping[str, Any], custom_objects: dict | None = None) -> Optimizer:
    """Rebuild an optimizer from ``serialize``'s output.

    Example:
        >>> deserialize({"class_name": "adam", "config": {"learning_rate": 0.01}}).learning_rate
        0.01
    """
    return registry.deserialize("optimizer", dict(config), custom_objects)


def get(identifier: str | Mapping[str, Any] | Optimizer) -> Optimizer:
    """Return an optimizer from a name (``'adam'``), a serialized config, or an instance.

    Args:
        identifier: a registered name (built with default arguments), a dict from ``serialize``,
            or an ``Optimizer`` (returned as is).

    Raises:
        ValueError: an unknown name (the message suggests close valid names).
        TypeError: anything else.

    Example:
        >>> get("adam").learning_rate
        0.001
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return registry.lookup("optimizer", identifier)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    raise TypeError(
        "Expected an optimizer name (such as 'adam'), a config dict or an Optimizer, got "
        f"{type(identifier).__name__}: {identifier!r}."
    )


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
