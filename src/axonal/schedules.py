"""Learning-rate schedules: Keras 3's formulas, evaluated at the optimizer's step number.

A schedule is passed as an optimizer's ``learning_rate``; the optimizer calls it with
``iterations`` (the number of steps applied so far) before each step. Every schedule has a
``get_config()`` of JSON values and is registered under the ``"schedule"`` kind by its class name,
so an optimizer holding one saves and loads with it.

This module is also reachable as ``axonal.optimizers.schedules`` (the Keras path). It imports
only the registry: optimizers import it, never the other way round.

Example:
    >>> from axonal.optimizers import Adam
    >>> schedule = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96, staircase=True)
    >>> optimizer = Adam(learning_rate=schedule)
    >>> schedule(2500)  # 0.1 * 0.96 ** 2
    0.09216
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from axonal import registry

# the registry kind schedules are found under (optimizers.SCHEDULE_KIND names the same kind)
KIND = "schedule"


def _number(name: str, value: Any) -> int | float:
    """``value`` as a plain Python int or float (so configs stay JSON), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # NumPy scalars: accept them, but store Python numbers
        item = getattr(value, "item", None)
        converted = item() if callable(item) and getattr(value, "ndim", 1) == 0 else None
        if isinstance(converted, bool) or not isinstance(converted, (int, float)):
            raise ValueError(f"`{name}` must be a number, got {value!r}.")
        value = converted
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    return value


def _positive(name: str, value: Any) -> int | float:
    value = _number(name, value)
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")
    return value


def _step(step: Any) -> float:
    """The step number as a float (the optimizer passes an int; NumPy scalars work too)."""
    step = float(step)
    if step < 0:
        raise ValueError(f"A schedule's step must be >= 0, got {step!r}.")
    return step


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float`` plus a JSON config.

    Subclasses implement ``__call__`` and ``get_config``; ``from_config`` calls the constructor
    with the config's entries. Register a custom schedule with
    ``axonal.registry.register("schedule")`` so an optimizer holding it can be saved.

    Example:
        >>> class Halving(LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate):
        ...         self.initial_learning_rate = initial_learning_rate
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate / 2 ** (step // 100)
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate}
    """

    def __call__(self, step: int) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON values."""
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        """Rebuild a schedule from ``get_config()``'s output."""
        return cls(**dict(config))

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            return object.__repr__(self)
        arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{type(self).__name__}({arguments})"


class _RateEverySteps(LearningRateSchedule):
    """The arguments and config shared by the schedules that decay by ``decay_rate`` per
    ``decay_steps`` steps (``staircase`` floors the progress); ``name`` defaults to the class
    name, as in Keras."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str | None = None,
    ) -> None:
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _number("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = type(self).__name__ if name is None else name

    def _progress(self, step: int) -> float:
        """``step / decay_steps``, floored when ``staircase``."""
        p = _step(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


@registry.register(KIND, "ExponentialDecay")
class ExponentialDecay(_RateEverySteps):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps over which the rate is multiplied by ``decay_rate`` once (> 0).
        decay_rate: the factor per ``decay_steps`` steps.
        staircase: if True, ``step / decay_steps`` is floored: the rate drops in steps.
        name: a name for the schedule (kept in the config, as in Keras).

    Example:
        >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(20)
        0.025
    """

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


@registry.register(KIND, "PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """A constant rate per interval: ``values[0]`` up to ``boundaries[0]`` (inclusive), then on.

    The rate is ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``, ``values[0]``
    for ``step <= boundaries[0]`` and ``values[-1]`` for ``step > boundaries[-1]``.

    Args:
        boundaries: increasing step numbers where the rate changes.
        values: the rates, one more than ``boundaries``.
        name: a name for the schedule (kept in the config, as in Keras).

    Example:
        >>> schedule = PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
        >>> schedule(100), schedule(101), schedule(500)
        (1.0, 0.5, 0.1)
    """

    def __init__(
        self,
        boundaries: Sequence[float],
        values: Sequence[float],
        name: str = "PiecewiseConstant",
    ) -> None:
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
            boundaries = list(boundaries)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={list(boundaries)} of length {len(boundaries)}, and "
                f"values={list(values)} of length {len(values)}."
            )
        self.boundaries = [_number(f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
        self.values = [_number(f"values[{i}]", v) for i, v in enumerate(values)]
        for i in range(1, len(self.boundaries)):
            if self.boundaries[i] < self.boundaries[i - 1]:
                raise ValueError(
                    f"`boundaries` must be increasing, got {self.boundaries} "
                    f"(boundaries[{i}] < boundaries[{i - 1}])."
                )
        self.name = name

    def __call__(self, step: int) -> float:
        step = _step(step)
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


@registry.register(KIND, "PolynomialDecay")
class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``.

    ``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps``. With ``cycle=True`` the decay restarts: ``decay_steps`` is multiplied by
    ``ceil(step / decay_steps)`` (1 at step 0) instead of capping the step.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps to reach ``end_learning_rate`` (> 0).
        end_learning_rate: the final learning rate. Defaults to 0.0001.
        power: the polynomial's power. Defaults to 1.0 (linear).
        cycle: whether to restart past ``decay_steps``. Defaults to False.
        name: a name for the schedule (kept in the config, as in Keras).

    Example:
        >>> PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.0)(50)
        0.05
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.end_learning_rate = _number("end_learning_rate", end_learning_rate)
        self.power = _number("power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step: int) -> float:
        step = _step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            multiplier = 1.0 if step == 0 else math.ceil(step / decay_steps)
            decay_steps *= multiplier
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return span * (1.0 - p) ** self.power + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


@registry.register(KIND, "InverseTimeDecay")
class InverseTimeDecay(_RateEverySteps):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: how often the rate is decayed by ``decay_rate`` (> 0).
        decay_rate: the decay rate.
        staircase: if True, ``step / decay_steps`` is floored. Defaults to False.
        name: a name for the schedule (kept in the config, as in Keras).

    Example:
        >>> InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)(20)
        0.05
    """

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


@registry.register(KIND, "CosineDecay")
class CosineDecay(LearningRateSchedule):
    """Cosine decay (SGDR without restarts), with an optional linear warmup.

    Without warmup (``warmup_target=None``): with ``s = min(step, decay_steps)``,
    ``initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``.
    With warmup: the rate rises linearly from ``initial_learning_rate`` to ``warmup_target``
    over ``warmup_steps`` steps, then decays from ``warmup_target`` as above over
    ``decay_steps`` more steps.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps to decay over (> 0).
        alpha: the final rate as a fraction of the rate the decay starts from. Defaults to 0.
        name: a name for the schedule (kept in the config, as in Keras).
        warmup_target: the rate reached at the end of the warmup; None for no warmup.
        warmup_steps: the warmup's length in steps. Defaults to 0.

    Example:
        >>> CosineDecay(0.1, decay_steps=100)(50)  # half way: half the rate
        0.05
        >>> CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)(5)
        0.05
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = _number("alpha", alpha)
        self.name = name
        if warmup_target is not None:
            warmup_target = _number("warmup_target", warmup_target)
        self.warmup_target = warmup_target
        self.warmup_steps = _number("warmup_steps", warmup_steps)
        if self.warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {self.warmup_steps!r}.")

    def _decay(self, step: float, decay_from: float) -> float:
        completed_fraction = step / self.decay_steps
        cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * completed_fraction))
        return decay_from * ((1.0 - self.alpha) * cosine_decayed + self.alpha)

    def __call__(self, step: int) -> float:
        step = _step(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            completed_fraction = step / self.warmup_steps
            delta = self.warmup_target - self.initial_learning_rate
            return delta * completed_fraction + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


@registry.register(KIND, "CosineDecayRestarts")
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2016).

    The first period lasts ``first_decay_steps``; each period is ``t_mul`` times longer than the
    one before and starts at ``m_mul`` times the previous period's starting rate. Within a
    period the rate is ``start * ((1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        first_decay_steps: length of the first period (> 0).
        t_mul: how much longer each period is than the last. Defaults to 2.0.
        m_mul: how much lower each period starts than the last. Defaults to 1.0.
        alpha: the minimum rate as a fraction of ``initial_learning_rate``. Defaults to 0.
        name: a name for the schedule (kept in the config, as in Keras).

    Example:
        >>> schedule = CosineDecayRestarts(0.1, first_decay_steps=10)
        >>> schedule(0), schedule(10)  # the second period starts again at 0.1
        (0.1, 0.1)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps)
        self.t_mul = _positive("t_mul", t_mul)
        self.m_mul = _number("m_mul", m_mul)
        self.alpha = _number("alpha", alpha)
        self.name = name

    def _period(self, fraction: float) -> tuple[int, float]:
        """Which period ``fraction`` (steps / first_decay_steps) falls in, and how far into it."""
        t_mul = self.t_mul
        if t_mul == 1.0:
            i_restart = math.floor(fraction)
            return i_restart, fraction - i_restart
        # the periods before period i add up to (1 - t_mul**i) / (1 - t_mul) first periods
        remaining = 1.0 - fraction * (1.0 - t_mul)
        if remaining <= 0.0:
            # t_mul < 1: the periods shrink and all of them together end at a finite step
            raise ValueError(
                f"CosineDecayRestarts with t_mul={t_mul} covers only "
                f"{self.first_decay_steps / (1.0 - t_mul):g} steps in all (its periods shrink); "
                f"step {fraction * self.first_decay_steps:g} is past the end."
            )
        i_restart = math.floor(math.log(remaining) / math.log(t_mul))

        def elapsed(i: int) -> float:
            return (1.0 - t_mul**i) / (1.0 - t_mul)

        # the logarithm can land a hair on the wrong side of a restart: settle it exactly
        if i_restart > 0 and fraction < elapsed(i_restart):
            i_restart -= 1
        elif fraction >= elapsed(i_restart + 1):
            i_restart += 1
        return i_restart, (fraction - elapsed(i_restart)) / t_mul**i_restart

    def __call__(self, step: int) -> float:
        fraction = _step(step) / self.first_decay_steps
        i_restart, completed_fraction = self._period(fraction)
        m_fac = self.m_mul**i_restart
        cosine_decayed = 0.5 * m_fac * (1.0 + math.cos(math.pi * completed_fraction))
        decayed = (1.0 - self.alpha) * cosine_decayed + self.alpha
        return self.initial_learning_rate * decayed

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """Return ``{'class_name': ..., 'config': ...}`` for a schedule.

    Example:
        >>> serialize(ExponentialDecay(0.1, 100, 0.9))["class_name"]
        'ExponentialDecay'
    """
    return registry.serialize(schedule)


def deserialize(
    config: Mapping[str, Any], custom_objects: dict | None = None
) -> LearningRateSchedule:
    """Rebuild a schedule from ``serialize``'s output (class names resolve via the registry).

    Example:
        >>> deserialize({"class_name": "ExponentialDecay",
        ...              "config": {"initial_learning_rate": 0.1, "decay_steps": 10,
        ...                         "decay_rate": 0.5}})(10)
        0.05
    """
    return registry.deserialize(KIND, dict(config), custom_objects)


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
