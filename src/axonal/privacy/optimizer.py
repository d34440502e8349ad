"""DPOptimizer: DP-SGD (Abadi et al. 2016) around any axonal optimizer.

Each step clips every example's whole gradient to ``l2_norm_clip`` in L2 norm, sums the clipped
gradients, adds Gaussian noise of standard deviation ``noise_multiplier * l2_norm_clip``, divides
by the expected batch size and hands the result to the wrapped optimizer. ``Model.fit`` asks the
optimizer for its batches (``epoch_batches``: Poisson sampling, as the privacy analysis assumes)
and for its training step (``private_train_step``); an accountant records every step, so the
privacy spent so far is ``optimizer.epsilon(delta)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from axonal import functional as F
from axonal import optimizers as optimizers_module
from axonal import registry
from axonal.backend import rng as global_rng
from axonal.privacy.accountant import RDPAccountant
from axonal.privacy.gradients import check_private_model, sum_of_example_losses
from axonal.privacy.per_example import PerExampleGradients
from axonal.tensor import Tensor

SAMPLING_MODES = ("poisson", "shuffle")


def _check_clip(value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            "`l2_norm_clip` must be a finite number > 0 (the largest L2 norm an example's "
            f"gradient may have), got {value!r}."
        )
    return float(value)


def _check_noise(value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            "`noise_multiplier` must be a finite number >= 0 (the noise's standard deviation "
            f"over l2_norm_clip), got {value!r}."
        )
    return float(value)


def _check_seed(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`seed` must be None or a non-negative integer, got {value!r}.")
    return int(value)


@registry.register("optimizer", "DPOptimizer")
class DPOptimizer(optimizers_module.Optimizer):
    """DP-SGD around any optimizer: clip each example's gradient, add Gaussian noise.

    Per step: every example's gradient (over all trainable weights together) is scaled down to
    L2 norm at most ``l2_norm_clip``; the clipped gradients are summed; Gaussian noise of
    standard deviation ``noise_multiplier * l2_norm_clip`` is added to each coordinate; the sum
    is divided by the expected batch size and applied by ``optimizer``. In ``fit`` each batch is
    drawn by Poisson sampling (every example independently with probability
    ``batch_size / n``, ``ceil(n / batch_size)`` steps an epoch), which is what the privacy
    accounting assumes; batches vary in size and can be empty (the step then applies noise only).

    Regularization penalties (``kernel_regularizer``...) depend on the weights only, not on any
    example: their gradient is added after the noise, unclipped, as a public function of the
    weights. Layers that mix examples (BatchNormalization in training) are refused at the first
    step. ``train_on_batch`` is accounted as a step without subsampling (sample rate 1), the
    bound that holds for any batch.

    Args:
        optimizer: the optimizer that applies the noisy gradients (name, config or instance).
            Default ``'sgd'``.
        l2_norm_clip: the largest L2 norm an example's gradient may have (> 0). Default 1.0.
        noise_multiplier: noise standard deviation over ``l2_norm_clip`` (>= 0; 0 gives no
            privacy, only clipping). Default 1.0; ``noise_multiplier_for`` finds the one that
            meets a target epsilon.
        seed: seeds the noise and the batch sampling; None draws a seed from axonal's random
            generator (so ``axonal.utils.set_random_seed`` makes runs repeatable).
        sampling: ``'poisson'`` (default) or ``'shuffle'``: fixed-size batches of a shuffled
            epoch, as without DP. The accountant's epsilon assumes Poisson sampling and is only
            an approximation for ``'shuffle'``.
        history: privacy spent before this optimizer was made, as ``(noise_multiplier,
            sample_rate, steps)`` triples (what ``get_config`` saves, so a reloaded model keeps
            counting).
        name: the optimizer's name.

    Example:
        >>> from axonal.privacy import DPOptimizer
        >>> opt = DPOptimizer("sgd", l2_norm_clip=1.0, noise_multiplier=1.1, seed=0)
        >>> model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        >>> model.fit(x, y, batch_size=64, epochs=5)  # doctest: +SKIP
        >>> opt.epsilon(delta=1e-5)  # doctest: +SKIP
    """

    def __init__(
        self,
        optimizer: Any = "sgd",
        l2_norm_clip: float = 1.0,
        noise_multiplier: float = 1.0,
        seed: int | None = None,
        sampling: str = "poisson",
        history: Iterable | None = None,
        name: str | None = None,
    ) -> None:
        # the wrapped optimizer owns the learning rate, the iteration count and the slots, so the
        # base class's constructor (which would create its own) is deliberately not called
        inner = optimizers_module.get(optimizer)
        if isinstance(inner, DPOptimizer):
            raise ValueError("DPOptimizer cannot wrap another DPOptimizer.")
        if sampling not in SAMPLING_MODES:
            raise ValueError(
                f"`sampling` must be one of {SAMPLING_MODES}, got {sampling!r}; 'poisson' is "
                "what the privacy accounting assumes."
            )
        self.optimizer = inner
        self.l2_norm_clip = _check_clip(l2_norm_clip)
        self.noise_multiplier = _check_noise(noise_multiplier)
        self.seed = _check_seed(seed)
        self.sampling = sampling
        self.accountant = RDPAccountant(history)
        self.name = name if name is not None else "dp_" + inner.name
        # a seed of our own either way: the noise of step t is drawn from (entropy, t), so a
        # reloaded optimizer continues the stream instead of repeating it
        self._entropy = self.seed if self.seed is not None else int(global_rng().integers(2**63))
        # set by epoch_batches: the sample rate and expected size of fit's batches, and how
        # many of the batches it handed out are still to come (any other step, such as
        # train_on_batch's, is accounted without subsampling)
        self._sample_rate = 1.0
        self._expected_batch: float | None = None
        self._sampled_steps_left = 0
        self.last_norms: np.ndarray | None = None

    # ------------------------------------------------------------ the wrapped optimizer
    @property
    def learning_rate(self) -> float:
        """The wrapped optimizer's learning rate (callbacks such as ReduceLROnPlateau set it)."""
        return self.optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.optimizer.learning_rate = value

    @property
    def jit_compile(self) -> bool | str:
        """The wrapped optimizer's ``jit_compile`` (its updates are the ones compiled)."""
        return self.optimizer.jit_compile

    @jit_compile.setter
    def jit_compile(self, value: bool | str) -> None:
        self.optimizer.jit_compile = value

    def use_buffer(self, buffer) -> None:
        """Hand the packed weights to the wrapped optimizer, which applies the noisy step."""
        self.optimizer.use_buffer(buffer)

    @property
    def iterations(self) -> int:
        """Steps the wrapped optimizer has applied."""
        return self.optimizer.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.optimizer.iterations = value

    @property
    def _scalar_state_names(self) -> tuple[str, ...]:
        return self.optimizer._scalar_state_names

    def _slot_names(self) -> tuple[str, ...]:
        return self.optimizer._slot_names()

    def apply_gradients(self, grads_and_vars) -> None:
        """Apply gradients as given with the wrapped optimizer (no clipping or noise: the
        private step does those before calling this)."""
        self.optimizer.apply_gradients(grads_and_vars)

    def apply(self, grads, variables) -> None:
        """Keras 3 form of ``apply_gradients``: delegated as given."""
        self.optimizer.apply(grads, variables)

    def get_state(self) -> dict[str, Any]:
        """The wrapped optimizer's state (the privacy ledger is in ``get_config``)."""
        return self.optimizer.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore the wrapped optimizer's state."""
        self.optimizer.set_state(state)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, the wrapped optimizer serialized, and the privacy spent."""
        return {
            "name": self.name,
            "optimizer": registry.serialize(self.optimizer),
            "l2_norm_clip": self.l2_norm_clip,
            "noise_multiplier": self.noise_multiplier,
            "seed": self.seed,
            "sampling": self.sampling,
            "history": [list(entry) for entry in self.accountant.history],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects: dict | None = None):
        """Rebuild from ``get_config``'s output."""
        config = dict(config)
        inner = config.get("optimizer")
        if isinstance(inner, Mapping):
            config["optimizer"] = registry.deserialize("optimizer", dict(inner), custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"DPOptimizer({self.optimizer!r}, l2_norm_clip={self.l2_norm_clip}, "
            f"noise_multiplier={self.noise_multiplier}, steps={self.accountant.steps})"
        )

    # ------------------------------------------------------------ privacy spent
    def epsilon(self, delta: float) -> float:
        """The epsilon spent so far at ``delta`` (RDP accounting of every step taken).

        Example:
            >>> opt.epsilon(1e-5)  # doctest: +SKIP
        """
        return self.accountant.get_epsilon(delta)

    # ------------------------------------------------------------ hooks Model.fit calls
    def _generator(self, stream: int, step: int) -> np.random.Generator:
        """The generator of one stream (0 noise, 1 sampling) at one step: independent draws
        per step, the same for the same seed."""
        sequence = np.random.SeedSequence(self._entropy, spawn_key=(stream, step))
        return np.random.default_rng(sequence)

    def epoch_batches(self, n: int, batch_size: int, shuffle: bool = True) -> list[np.ndarray]:
        """One epoch's batches as index arrays: ``ceil(n / batch_size)`` of them.

        With ``sampling='poisson'`` each example is in each batch independently with
        probability ``q = batch_size / n`` (``shuffle`` does not apply); with ``'shuffle'``,
        consecutive slices of a permutation (of ``range(n)`` when ``shuffle`` is False).
        """
        q = min(1.0, batch_size / n)
        steps = math.ceil(n / batch_size)
        self._sample_rate = q
        self._expected_batch = q * n
        self._sampled_steps_left = steps
        generator = self._generator(1, self.accountant.steps)
        if self.sampling == "shuffle":
            order = generator.permutation(n) if shuffle else np.arange(n)
            return [order[start : start + batch_size] for start in range(0, n, batch_size)]
        batches = []
        for _ in range(steps):
            # Poisson sampling: the batch size is Binomial(n, q), then a uniform subset of it
            size = int(generator.binomial(n, q))
            batches.append(np.sort(generator.choice(n, size, replace=False)))
        return batches

    def private_train_step(self, model, xs: list, ys: list, weights: list, variables: list):
        """One DP-SGD step on a batch; returns ``(loss, per-output losses, predictions)``.

        Called by ``Model`` in place of its own forward, backward and update.
        """
        check_private_model(model)
        batch = len(xs[0])
        step = self.accountant.steps
        std = self.noise_multiplier * self.l2_norm_clip
        # the noise does not depend on the data: draw it on a worker thread (NumPy releases the
        # GIL) while this thread runs the forward and backward passes
        specs = [(v.data.shape, v.data.dtype) for v in variables]
        pending = _noise_pool().submit(self._draw_noise, step, specs, std)
        penalties: dict[int, np.ndarray] = {}
        if batch == 0:
            sums: dict[int, np.ndarray] = {}
            loss, per_output, preds = Tensor(0.0), [None] * len(model.output_heads), []
            self.last_norms = np.zeros(0)
        else:
            preds = model.compute_outputs(xs, training=True)
            loss, per_output = model.compute_losses(ys, preds, weights)
            root = sum_of_example_losses(model, ys, preds, weights, per_output)
            if root is None or not root.requires_grad or not variables:
                # nothing to train (every weight frozen): no update, no privacy spent
                pending.cancel()
                return loss, per_output, preds
            per_example = PerExampleGradients(root, variables, batch)
            penalties = _penalty_gradients(model, variables)
            sums, self.last_norms = per_example.clipped_sums(self.l2_norm_clip)
        sampled = self._sampled_steps_left > 0
        self._sampled_steps_left = max(self._sampled_steps_left - 1, 0)
        scale = 1.0 / self._denominator(batch, sampled)
        noises = pending.result()
        grads = []
        for variable, noise in zip(variables, noises, strict=True):
            summed = sums.get(id(variable))
            if summed is None and batch:
                grads.append(None)  # the loss does not reach this weight: nothing to protect
                continue
            # written into the model's packed gradient buffer when there is one: the wrapped
            # optimizer then updates every weight in one fused pass without copying
            target = _gradient_buffer(variable)
            if target is None:
                target = noise if noise is not None else np.zeros_like(variable.data)
            if summed is None:
                summed = 0.0
            if noise is None:
                np.multiply(summed, scale, out=target)
            else:
                np.add(noise, summed, out=target)
                target *= scale
            penalty = penalties.get(id(variable))
            if penalty is not None:
                target += penalty
            grads.append(target)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        rate = self._sample_rate if sampled else 1.0
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=rate)
        return loss, per_output, preds

    def _draw_noise(self, step: int, specs: list, std: float) -> list:
        """Gaussian noise of standard deviation ``std`` for each ``(shape, dtype)`` (None when
        ``std`` is 0), from step ``step``'s own generator: one draw per dtype, split."""
        if std == 0.0:
            return [None] * len(specs)
        generator = self._generator(0, step)
        sizes: dict = {}
        for shape, dtype in specs:
            sizes[dtype] = sizes.get(dtype, 0) + math.prod(shape)
        flat = {dtype: gaussian_noise(generator, size, std, dtype) for dtype, size in sizes.items()}
        offsets = dict.fromkeys(sizes, 0)
        noises = []
        for shape, dtype in specs:
            size = math.prod(shape)
            start = offsets[dtype]
            noises.append(flat[dtype][start : start + size].reshape(shape))
            offsets[dtype] = start + size
        return noises

    def _denominator(self, batch: int, sampled: bool) -> float:
        """What the noisy sum is divided by: the expected batch size under Poisson sampling (as
        Opacus does, so the noise does not depend on the drawn size), else the batch's size."""
        if sampled and self.sampling == "poisson":
            return self._expected_batch
        return float(max(batch, 1))


def gaussian_noise(generator: np.random.Generator, size: int, std: float, dtype) -> np.ndarray:
    """``size`` independent draws from N(0, std^2), as ``dtype``.

    float32 noise uses the Box-Muller transform, ``sqrt(-2 log u) * (cos, sin)(2 pi v)``: twice
    as fast as NumPy's ziggurat here, and DP-SGD draws one number per weight per step. The
    radius comes from a float64 ``u`` in (0, 1], so the tails reach 8.6 standard deviations as
    the float64 ziggurat's do (a float32 ``u`` would stop them at 5.8). Other dtypes use the
    float64 ziggurat.

    Example:
        >>> noise = gaussian_noise(np.random.default_rng(0), 1000, 2.0, np.float32)
    """
    if np.dtype(dtype) != np.float32:
        out = generator.standard_normal(size)
        out *= std
        return out.astype(dtype, copy=False)
    half = (size + 1) // 2
    radius = generator.random(half)
    np.subtract(1.0, radius, out=radius)  # (0, 1]: the log stays finite
    np.log(radius, out=radius)
    radius *= -2.0
    np.sqrt(radius, out=radius)
    radius *= std
    radius = radius.astype(np.float32)
    angle = generator.random(half, dtype=np.float32)
    angle *= np.float32(2.0 * math.pi)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(angle, out=out[:half])
    out[:half] *= radius
    np.sin(angle, out=out[half:])
    out[half:] *= radius
    return out[:size]


def _gradient_buffer(variable):
    """The variable's slot in its model's packed gradient buffer, if it has a usable one."""
    buffer = getattr(variable, "grad_buffer", None)
    if buffer is None or buffer.shape != variable.data.shape:
        return None
    if buffer.dtype != variable.data.dtype or not buffer.flags.writeable:
        return None
    return buffer


_pool = None
_pool_pid = None


def _noise_pool():
    """One worker thread for drawing noise, made on first use (again after a fork, whose child
    does not inherit the parent's threads)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        # imported here: only DP training needs a thread pool, `import axonal` should not pay
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="axonal-dp-noise")
        _pool_pid = os.getpid()
    return _pool


def _penalty_gradients(model, variables: list) -> dict[int, np.ndarray]:
    """Gradients of the regularization penalties, which depend on the weights only."""
    penalties = model.regularization_losses()
    if not penalties:
        return {}
    total = penalties[0]
    for penalty in penalties[1:]:
        total = F.add(total, penalty)
    if not isinstance(total, Tensor) or not total.requires_grad:
        return {}
    for variable in variables:
        variable.grad = None
    total.backward()
    grads = {}
    for variable in variables:
        if variable.grad is not None:
            grads[id(variable)] = variable.grad
            # no .grad left behind: the clipped sums may then write into the packed buffers
            variable.grad = None
    return grads


__all__ = ["DPOptimizer", "SAMPLING_MODES", "gaussian_noise"]
