"""Privacy accounting for DP-SGD: Rényi DP of the Poisson-subsampled Gaussian mechanism.

One DP-SGD step adds Gaussian noise of standard deviation ``sigma * C`` to a sum of per-example
gradients each clipped to norm ``C``, over a batch in which every example took part
independently with probability ``q``. Mironov, Talwar and Zhang (2019, "Rényi Differential
Privacy of the Sampled Gaussian Mechanism") bound the Rényi divergence of order ``alpha`` of
one such step by ``log(A_alpha) / (alpha - 1)`` with

    A_alpha = E_{z ~ N(0, sigma^2)} [((1 - q) + q * exp((2z - 1) / (2 sigma^2)))^alpha],

which has a finite binomial expansion for integer ``alpha`` and a pair of convergent series
(split at ``z0 = sigma^2 log(1/q - 1) + 1/2``) for fractional ``alpha``. Rényi DP composes by
addition over steps, and is turned into an ``(epsilon, delta)`` guarantee with the conversion of
Balle et al. (2020, "Hypothesis testing interpretations and Rényi differential privacy",
Theorem 21), minimised over a grid of orders:

    epsilon = rdp(alpha) + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1).

Pure Python and NumPy (``math.lgamma`` and ``math.erfc`` for the special functions): no SciPy.

Example:
    >>> eps = compute_epsilon(60_000, 256, noise_multiplier=1.1, epochs=60, delta=1e-5)
    >>> round(eps, 1)
    2.6
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

# the orders TF Privacy and Opacus use: fractional ones near 1 matter for large epsilon
DEFAULT_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)]
)

# a series term below exp(-_NEGLIGIBLE) times the running total no longer changes the sum
_NEGLIGIBLE = 34.0
# the fractional-order series converge like a power of the term index: give up well beyond this
_MAX_TERMS = 1_000_000
# above this argument math.erfc underflows toward 0: use its asymptotic series instead
_ERFC_ASYMPTOTIC = 25.0


# ---------------------------------------------------------------- checks


def check_delta(delta) -> float:
    """``delta`` as a float, or a ValueError unless it lies strictly between 0 and 1."""
    return _check_probability("delta", delta)


def _check_probability(name: str, value) -> float:
    value = _check_real(name, value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must lie strictly between 0 and 1, got {value!r}.")
    return value


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"`{name}` must be a number, got nan.")
    return value


def _check_non_negative(name: str, value) -> float:
    value = _check_real(name, value)
    if value < 0 or math.isinf(value):
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    return value


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_orders(orders: Iterable[float]) -> tuple[float, ...]:
    orders = tuple(float(a) for a in orders)
    if not orders or any(not a > 1.0 or math.isinf(a) for a in orders):
        raise ValueError(f"RDP orders must be finite numbers > 1, got {orders!r}.")
    return orders


# ---------------------------------------------------------------- log-space helpers


def _log_erfc(x: float) -> float:
    """``log(erfc(x))``, accurate where ``erfc`` itself would underflow."""
    if x < _ERFC_ASYMPTOTIC:
        return math.log(math.erfc(x))
    # erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + ...)
    inv = 1.0 / (2.0 * x * x)
    series = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv**3
    return -x * x - math.log(x) - 0.5 * math.log(math.pi) + math.log(series)


_log_erfc_scalars = np.frompyfunc(_log_erfc, 1, 1)


def _log_erfc_array(x: np.ndarray) -> np.ndarray:
    """``_log_erfc`` over an array: the asymptotic series vectorised, ``math.erfc`` elsewhere."""
    out = np.empty_like(x)
    large = x >= _ERFC_ASYMPTOTIC
    if large.any():
        big = x[large]
        inv = 1.0 / (2.0 * big * big)
        series = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv**3
        out[large] = -big * big - np.log(big) - 0.5 * math.log(math.pi) + np.log(series)
    small = ~large
    if small.any():
        out[small] = _log_erfc_scalars(x[small]).astype(np.float64)
    return out


def _logsumexp(values: np.ndarray) -> float:
    """``log(sum(exp(values)))`` without overflow; -inf for an empty array."""
    if values.size == 0:
        return -math.inf
    top = float(values.max())
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.exp(values - top).sum()))


def _log_difference(log_a: float, log_b: float) -> float:
    """``log(exp(log_a) - exp(log_b))`` for ``log_a >= log_b``."""
    if log_b == -math.inf:
        return log_a
    if log_b >= log_a:
        # rounding in a series whose exact sum is positive: the difference is lost, take 0
        return -math.inf
    return log_a + math.log1p(-math.exp(log_b - log_a))


# ---------------------------------------------------------------- A_alpha


def _log_a_integer(q: float, sigma: float, alpha: int) -> float:
    """``log A_alpha`` for integer ``alpha``: the binomial expansion of the expectation."""
    k = np.arange(alpha + 1, dtype=np.float64)
    log_binomial = np.array(
        [math.lgamma(alpha + 1) - math.lgamma(i + 1) - math.lgamma(alpha - i + 1) for i in k]
    )
    terms = (
        log_binomial
        + k * math.log(q)
        + (alpha - k) * math.log1p(-q)
        + (k * k - k) / (2.0 * sigma * sigma)
    )
    return _logsumexp(terms)


def _log_a_fractional(q: float, sigma: float, alpha: float) -> float:
    """``log A_alpha`` for fractional ``alpha``: two alternating series, summed in chunks.

    With ``C(alpha, k)`` the generalised binomial coefficient (signed once ``k > alpha``),
    ``A_alpha = A_0 + A_1`` where

        A_0 = sum_k C(alpha, k) q^k (1-q)^j exp((k^2-k) / (2 s^2)) erfc((k-z0) / (sqrt(2) s)) / 2
        A_1 = sum_k C(alpha, k) q^j (1-q)^k exp((j^2-j) / (2 s^2)) erfc((z0-j) / (sqrt(2) s)) / 2

    with ``j = alpha - k`` and ``s = sigma``. Past ``k = alpha`` the terms alternate in sign
    and shrink, so the first term left out bounds the error.
    """
    z0 = sigma * sigma * math.log(1.0 / q - 1.0) + 0.5
    log_q, log_1mq = math.log(q), math.log1p(-q)
    root2_sigma = math.sqrt(2.0) * sigma
    positive: list[np.ndarray] = []
    negative: list[np.ndarray] = []
    # log|C(alpha, k)| and its sign, carried from chunk to chunk by the ratio (alpha - k)/(k + 1)
    log_abs_binomial, sign = 0.0, 1.0
    start, chunk = 0, 64
    while True:
        k = np.arange(start, start + chunk, dtype=np.float64)
        ratios = (alpha - k) / (k + 1.0)
        # log|C(alpha, k)| for this chunk: the carried value, then the running product of ratios
        steps = np.concatenate([[0.0], np.cumsum(np.log(np.abs(ratios[:-1])))])
        log_binomial = log_abs_binomial + steps
        flips = np.concatenate([[1.0], np.cumprod(np.sign(ratios[:-1]))])
        signs = sign * flips
        j = alpha - k
        log_t0 = (
            log_binomial
            + k * log_q
            + j * log_1mq
            + (k * k - k) / (2.0 * sigma * sigma)
            + math.log(0.5)
            + _log_erfc_array((k - z0) / root2_sigma)
        )
        log_t1 = (
            log_binomial
            + j * log_q
            + k * log_1mq
            + (j * j - j) / (2.0 * sigma * sigma)
            + math.log(0.5)
            + _log_erfc_array((z0 - j) / root2_sigma)
        )
        terms = np.concatenate([log_t0, log_t1])
        term_signs = np.concatenate([signs, signs])
        positive.append(terms[term_signs > 0])
        negative.append(terms[term_signs < 0])
        log_abs_binomial = float(log_binomial[-1] + math.log(abs(ratios[-1])))
        sign = float(signs[-1] * np.sign(ratios[-1]))
        start += chunk
        tail = max(float(log_t0[-1]), float(log_t1[-1]))
        # past k = alpha the terms alternate and shrink (a plateau after z0 sits below the
        # smallest term before it), so the last term bounds what is left
        if start > alpha + 1:
            total = _log_difference(
                _logsumexp(np.concatenate(positive)), _logsumexp(np.concatenate(negative))
            )
            if tail < total - _NEGLIGIBLE or tail < -_NEGLIGIBLE - 30.0:
                return total
        if start >= _MAX_TERMS:
            raise ArithmeticError(
                f"The RDP series for q={q}, noise_multiplier={sigma}, order={alpha} did not "
                f"converge within {_MAX_TERMS} terms."
            )
        chunk = min(chunk * 2, 65_536)


def _rdp_one_step(q: float, sigma: float, alpha: float) -> float:
    """Rényi DP of order ``alpha`` of one step of the sampled Gaussian mechanism."""
    if q == 0.0:
        return 0.0
    if sigma == 0.0:
        return math.inf
    if q == 1.0:
        # no subsampling: the Gaussian mechanism itself
        return alpha / (2.0 * sigma * sigma)
    if float(alpha).is_integer():
        log_a = _log_a_integer(q, sigma, int(alpha))
    else:
        log_a = _log_a_fractional(q, sigma, alpha)
    return log_a / (alpha - 1.0)


# ---------------------------------------------------------------- public functions


def compute_rdp(
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    orders: Sequence[float] = DEFAULT_ORDERS,
) -> np.ndarray:
    """Rényi DP of ``steps`` steps of the Poisson-subsampled Gaussian mechanism, per order.

    Args:
        sample_rate: ``q``, the probability that an example is in a batch, in [0, 1].
        noise_multiplier: noise standard deviation over the clipping norm (``sigma``), >= 0.
        steps: number of steps (>= 0).
        orders: the Rényi orders ``alpha`` (> 1).

    Returns:
        A float64 array, one RDP value per order (``inf`` where unbounded).

    Example:
        >>> compute_rdp(1.0, 1.0, 1, orders=[2.0])  # the Gaussian mechanism: alpha / (2 sigma^2)
        array([1.])
    """
    q = _check_real("sample_rate", sample_rate)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"`sample_rate` must lie in [0, 1], got {sample_rate!r}.")
    sigma = _check_non_negative("noise_multiplier", noise_multiplier)
    steps = _check_count("steps", steps, minimum=0)
    orders = _check_orders(orders)
    if steps == 0:
        return np.zeros(len(orders))
    return np.array([_rdp_one_step(q, sigma, a) for a in orders]) * steps


def rdp_to_epsilon(
    orders: Sequence[float], rdp: Sequence[float], delta: float
) -> tuple[float, float]:
    """The smallest ``epsilon`` over the orders for a given ``delta`` (Balle et al. 2020).

    Args:
        orders: the Rényi orders.
        rdp: the RDP value at each order (same length).
        delta: target delta in (0, 1).

    Returns:
        ``(epsilon, order)``: the guarantee and the order that gave it (``(inf, nan)`` when
        every order is unbounded).

    Example:
        >>> eps, order = rdp_to_epsilon([2.0, 4.0], [0.1, 0.3], delta=1e-5)
    """
    delta = _check_probability("delta", delta)
    alphas = np.asarray(_check_orders(orders), dtype=np.float64)
    rdp = np.asarray(rdp, dtype=np.float64)
    if rdp.shape != alphas.shape:
        raise ValueError(
            f"Expected one RDP value per order: got {rdp.size} values for {alphas.size} orders."
        )
    with np.errstate(invalid="ignore"):
        eps = (
            rdp
            + np.log((alphas - 1.0) / alphas)
            - (math.log(delta) + np.log(alphas)) / (alphas - 1.0)
        )
    eps[np.isnan(eps)] = np.inf
    best = int(np.argmin(eps))
    if math.isinf(eps[best]):
        return math.inf, math.nan
    # a guarantee is never below 0: an epsilon of 0 already means no leak at all
    return max(float(eps[best]), 0.0), float(alphas[best])


def _steps_for(n: int, batch_size: int, epochs: float) -> tuple[float, int]:
    """``(sample_rate, steps)`` of a training run, as ``fit`` with a DPOptimizer takes it.

    Each epoch is ``ceil(n / batch_size)`` Poisson-sampled steps at rate ``batch_size / n``.
    """
    q = min(1.0, batch_size / n)
    per_epoch = math.ceil(n / batch_size)
    # epochs may be fractional: count a started step as taken (the conservative side)
    steps = math.ceil(epochs * per_epoch - 1e-9)
    return q, max(int(steps), 0)


def _check_run(n, batch_size, epochs) -> tuple[int, int, float]:
    n = _check_count("n", n)
    batch_size = _check_count("batch_size", batch_size)
    epochs = _check_non_negative("epochs", epochs)
    return n, batch_size, epochs


def compute_epsilon(
    n: int,
    batch_size: int,
    noise_multiplier: float,
    epochs: float,
    delta: float,
    orders: Sequence[float] = DEFAULT_ORDERS,
) -> float:
    """The ``epsilon`` of DP-SGD training at ``(epsilon, delta)``-DP, from Rényi DP accounting.

    Assumes what ``fit`` does with a :class:`DPOptimizer`: ``epochs`` epochs of
    ``ceil(n / batch_size)`` steps each, every batch drawn by Poisson sampling at rate
    ``q = batch_size / n``, with noise ``noise_multiplier`` times the clipping norm.

    Args:
        n: number of training examples.
        batch_size: expected batch size.
        noise_multiplier: noise standard deviation over the clipping norm (>= 0).
        epochs: number of epochs (a float allowed).
        delta: target delta in (0, 1), usually below ``1 / n``.
        orders: the Rényi orders to optimise over.

    Returns:
        epsilon (``inf`` without noise).

    Example:
        >>> compute_epsilon(1_000, 32, noise_multiplier=0.8, epochs=20, delta=1e-3) > 1
        True
    """
    n, batch_size, epochs = _check_run(n, batch_size, epochs)
    delta = _check_probability("delta", delta)
    sigma = _check_non_negative("noise_multiplier", noise_multiplier)
    q, steps = _steps_for(n, batch_size, epochs)
    if steps == 0:
        return 0.0
    rdp = compute_rdp(q, sigma, steps, orders)
    return rdp_to_epsilon(orders, rdp, delta)[0]


def noise_multiplier_for(
    target_epsilon: float,
    delta: float,
    n: int,
    batch_size: int,
    epochs: float,
    orders: Sequence[float] = DEFAULT_ORDERS,
    tolerance: float = 1e-3,
) -> float:
    """The smallest noise multiplier whose training run stays within ``target_epsilon``.

    Bisection on a log scale over ``compute_epsilon``, which falls as the noise grows; the
    answer is the upper end of the final bracket, so its epsilon never exceeds the target.

    Args:
        target_epsilon: the epsilon to reach (> 0).
        delta, n, batch_size, epochs, orders: as ``compute_epsilon``.
        tolerance: relative width of the final bracket.

    Returns:
        The noise multiplier.

    Raises:
        ValueError: the target cannot be reached with any noise (each order's conversion
            term alone exceeds it: raise ``delta`` or ``target_epsilon``).

    Example:
        >>> sigma = noise_multiplier_for(3.0, 1e-5, 60_000, 256, 60)
        >>> round(sigma, 2)
        1.02
    """
    target = _check_real("target_epsilon", target_epsilon)
    if not target > 0 or math.isinf(target):
        raise ValueError(f"`target_epsilon` must be a finite number > 0, got {target_epsilon!r}.")
    delta = _check_probability("delta", delta)
    n, batch_size, epochs = _check_run(n, batch_size, epochs)
    tolerance = _check_real("tolerance", tolerance)
    if not 0 < tolerance < 1:
        raise ValueError(f"`tolerance` must lie in (0, 1), got {tolerance!r}.")

    def epsilon(sigma: float) -> float:
        return compute_epsilon(n, batch_size, sigma, epochs, delta, orders)

    if epsilon(0.0) == 0.0:
        return 0.0  # no step is taken: nothing to protect
    high = 1.0
    while epsilon(high) > target:
        high *= 2.0
        if high > 1e6:
            floor = epsilon(high)
            raise ValueError(
                f"target_epsilon={target_epsilon} cannot be reached for delta={delta}: even "
                f"noise_multiplier={high:g} gives epsilon={floor:.4g} (the (epsilon, delta) "
                "conversion alone costs that much at these orders); raise target_epsilon or "
                "delta."
            )
    low = high / 2.0
    while epsilon(low) <= target:
        high, low = low, low / 2.0
        if low < 1e-6:
            return high
    # invariant: epsilon(low) > target >= epsilon(high)
    while high / low > 1.0 + tolerance:
        middle = math.sqrt(low * high)
        if epsilon(middle) > target:
            low = middle
        else:
            high = middle
    return high


class RDPAccountant:
    """Keeps the steps taken, as ``(noise_multiplier, sample_rate, steps)`` runs, and turns
    them into ``epsilon`` for a ``delta``.

    Example:
        >>> accountant = RDPAccountant()
        >>> accountant.step(noise_multiplier=1.1, sample_rate=0.01, steps=100)
        >>> accountant.get_epsilon(delta=1e-5) > 0
        True
    """

    def __init__(self, history: Iterable[Sequence[float]] | None = None):
        self.history: list[tuple[float, float, int]] = []
        self._cache: dict[tuple, np.ndarray] = {}
        for entry in history or []:
            if len(entry) != 3:
                raise ValueError(
                    "Accountant history entries are (noise_multiplier, sample_rate, steps), "
                    f"got {entry!r}."
                )
            self.step(noise_multiplier=entry[0], sample_rate=entry[1], steps=entry[2])

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        """Record ``steps`` steps at this noise multiplier and sample rate."""
        sigma = _check_non_negative("noise_multiplier", noise_multiplier)
        q = _check_real("sample_rate", sample_rate)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"`sample_rate` must lie in [0, 1], got {sample_rate!r}.")
        steps = _check_count("steps", steps, minimum=0)
        if self.history and self.history[-1][:2] == (sigma, q):
            self.history[-1] = (sigma, q, self.history[-1][2] + steps)
        else:
            self.history.append((sigma, q, steps))

    @property
    def steps(self) -> int:
        """Steps recorded so far."""
        return sum(entry[2] for entry in self.history)

    def get_rdp(self, orders: Sequence[float] = DEFAULT_ORDERS) -> np.ndarray:
        """Total Rényi DP per order over every recorded step."""
        orders = _check_orders(orders)
        total = np.zeros(len(orders))
        for sigma, q, steps in self.history:
            # one step's RDP per (sigma, q) is cached: epochs call this with growing steps
            key = (sigma, q, orders)
            one = self._cache.get(key)
            if one is None:
                one = self._cache[key] = compute_rdp(q, sigma, 1, orders)
            total = total + one * steps
        return total

    def get_privacy_spent(
        self, delta: float, orders: Sequence[float] = DEFAULT_ORDERS
    ) -> tuple[float, float]:
        """``(epsilon, best order)`` spent so far for ``delta``; ``(0, nan)`` before any step."""
        delta = _check_probability("delta", delta)
        if self.steps == 0:
            return 0.0, math.nan
        return rdp_to_epsilon(orders, self.get_rdp(orders), delta)

    def get_epsilon(self, delta: float, orders: Sequence[float] = DEFAULT_ORDERS) -> float:
        """``epsilon`` spent so far for ``delta``."""
        return self.get_privacy_spent(delta, orders)[0]


__all__ = [
    "DEFAULT_ORDERS",
    "RDPAccountant",
    "compute_epsilon",
    "compute_rdp",
    "noise_multiplier_for",
    "rdp_to_epsilon",
]
