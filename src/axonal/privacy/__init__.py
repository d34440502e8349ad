"""Differentially private training: DP-SGD with per-example gradients and RDP accounting.

``DPOptimizer`` wraps any optimizer: each step clips every example's gradient, adds Gaussian
noise and lets the wrapped optimizer apply the result; ``fit`` draws its batches by Poisson
sampling. ``compute_epsilon`` and ``noise_multiplier_for`` plan a run; ``EpsilonLogger`` puts the
epsilon spent so far into each epoch's logs; ``per_example_gradients`` gives every example's own
gradient. NumPy only.

Example:
    >>> from axonal.privacy import DPOptimizer, EpsilonLogger, noise_multiplier_for
    >>> sigma = noise_multiplier_for(3.0, delta=1e-5, n=60_000, batch_size=256, epochs=60)
    >>> model.compile(optimizer=DPOptimizer("adam", l2_norm_clip=1.0, noise_multiplier=sigma),
    ...               loss="sparse_categorical_crossentropy")  # doctest: +SKIP
"""

from axonal.privacy.accountant import (
    DEFAULT_ORDERS,
    RDPAccountant,
    compute_epsilon,
    compute_rdp,
    noise_multiplier_for,
    rdp_to_epsilon,
)
from axonal.privacy.callbacks import EpsilonLogger
from axonal.privacy.gradients import check_private_model, per_example_gradients
from axonal.privacy.optimizer import DPOptimizer

__all__ = [
    "DEFAULT_ORDERS",
    "DPOptimizer",
    "EpsilonLogger",
    "RDPAccountant",
    "check_private_model",
    "compute_epsilon",
    "compute_rdp",
    "noise_multiplier_for",
    "per_example_gradients",
    "rdp_to_epsilon",
]
