"""The plain-NumPy reference: a hand-written, lean float32 training loop.

This is the figure axonal is measured against, so it is written to be fast, not general:

- every weight lives in one flat float32 buffer (kernels and biases are views of it), and so does
  every gradient, so Adam is twelve whole-buffer ufunc calls per step however many layers;
- activations, gradients, the batch and the row statistics are preallocated per batch size and
  filled with ``out=``;
- softmax and cross-entropy are fused: shift by the row max, exponentiate in place, and the
  gradient with respect to the logits is ``(p - onehot) / n``;
- a ``permutation`` per epoch and a ``take`` of each batch into a preallocated buffer (no copy of
  the epoch); the mean loss of each step is computed, as a framework's fit reports it.

The update is Keras's Adam: ``m += (g - m)(1 - b1)``, ``v += (g² - v)(1 - b2)``,
``w -= lr·sqrt(1 - b2^t)/(1 - b1^t) · m / (sqrt(v) + eps)``, with eps = 1e-7.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

FLOAT = np.float32


def setup(threads: int | None = None) -> str:
    """Return NumPy's version; ``threads`` is ignored (the BLAS decides)."""
    return np.__version__


def native(array: np.ndarray) -> np.ndarray:
    """The reference trains on NumPy arrays."""
    return array


class _Buffers:
    """Everything one training step of ``rows`` rows writes to, allocated once."""

    def __init__(self, sizes: Sequence[int], rows: int, x_dtype: np.dtype, y_dtype: np.dtype):
        self.x = np.empty((rows, sizes[0]), dtype=x_dtype)
        self.y = np.empty(rows, dtype=y_dtype)
        self.rows = np.arange(rows)
        # one output per layer; the last one holds logits, then probabilities, then the gradient
        self.outputs = [np.empty((rows, units), dtype=FLOAT) for units in sizes[1:]]
        # gradient with respect to each hidden layer's output, and its ReLU mask
        self.deltas = [np.empty((rows, units), dtype=FLOAT) for units in sizes[1:-1]]
        self.masks = [np.empty((rows, units), dtype=bool) for units in sizes[1:-1]]
        self.row_stat = np.empty((rows, 1), dtype=FLOAT)


class DenseStack:
    """Dense layers ``sizes[0] → … → sizes[-1]``: ReLU hidden, softmax output, Adam.

    Args:
        sizes: layer widths, input first.
        seed: seeds the Glorot-uniform initialisation and the shuffles.
        learning_rate, beta_1, beta_2, epsilon: Adam's hyperparameters (Keras defaults).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        seed: int,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ):
        self.sizes = tuple(sizes)
        self.rng = np.random.default_rng(seed)
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.iterations = 0
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        total = sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)
        self.flat = np.zeros(total, dtype=FLOAT)
        self.flat_grad = np.zeros(total, dtype=FLOAT)
        self.m = np.zeros(total, dtype=FLOAT)
        self.v = np.zeros(total, dtype=FLOAT)
        self.scratch = np.empty(total, dtype=FLOAT)
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.grads: list[tuple[np.ndarray, np.ndarray]] = []
        offset = 0
        for fan_in, fan_out in pairs:
            kernel = self.flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
            kernel_grad = self.flat_grad[offset : offset + fan_in * fan_out].reshape(
                fan_in, fan_out
            )
            offset += fan_in * fan_out
            bias = self.flat[offset : offset + fan_out]
            bias_grad = self.flat_grad[offset : offset + fan_out]
            offset += fan_out
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            kernel[...] = self.rng.uniform(-limit, limit, size=(fan_in, fan_out))
            self.layers.append((kernel, bias))
            self.grads.append((kernel_grad, bias_grad))
        self._buffers: dict[int, _Buffers] = {}

    def _buffers_for(self, rows: int, x: np.ndarray, y: np.ndarray) -> _Buffers:
        buffers = self._buffers.get(rows)
        if buffers is None:
            buffers = _Buffers(self.sizes, rows, x.dtype, y.dtype)
            self._buffers[rows] = buffers
        return buffers

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int) -> float:
        """Train; return the last epoch's mean loss. ``x`` float32 ``(n, sizes[0])``, ``y`` ints."""
        n = len(x)
        mean_loss = float("nan")
        for _ in range(epochs):
            order = self.rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch_size):
                index = order[start : start + batch_size]
                buffers = self._buffers_for(len(index), x, y)
                np.take(x, index, axis=0, out=buffers.x)
                np.take(y, index, out=buffers.y)
                total += self._step(buffers) * len(index)
            mean_loss = total / n
        return mean_loss

    def _step(self, b: _Buffers) -> float:
        """One forward, backward and Adam update on the batch in ``b``; return its mean loss."""
        n = len(b.y)
        last = len(self.layers) - 1
        inputs = b.x
        for index, (kernel, bias) in enumerate(self.layers):
            out = b.outputs[index]
            np.matmul(inputs, kernel, out=out)
            out += bias
            if index < last:
                np.maximum(out, 0.0, out=out)
            inputs = out

        # softmax + cross-entropy: shift by the row max (exp cannot overflow), then
        # loss = log(sum exp) - shifted logit of the true class
        probs = b.outputs[last]
        # (ufunc.reduce, not np.max / np.sum: their Python wrappers cost more than the maths here)
        np.maximum.reduce(probs, axis=1, keepdims=True, out=b.row_stat)
        probs -= b.row_stat
        picked = np.add.reduce(probs[b.rows, b.y])
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, keepdims=True, out=b.row_stat)
        loss = float(np.add.reduce(np.log(b.row_stat), axis=None) - picked) / n
        probs /= b.row_stat

        # d(mean loss)/d(logits) = (p - onehot) / n, written over the probabilities
        grad = probs
        grad[b.rows, b.y] -= 1.0
        grad *= 1.0 / n
        for index in range(last, -1, -1):
            kernel, _ = self.layers[index]
            kernel_grad, bias_grad = self.grads[index]
            layer_input = b.x if index == 0 else b.outputs[index - 1]
            np.matmul(layer_input.T, grad, out=kernel_grad)
            np.add.reduce(grad, axis=0, out=bias_grad)
            if index > 0:
                delta = b.deltas[index - 1]
                mask = b.masks[index - 1]
                np.matmul(grad, kernel.T, out=delta)
                # ReLU passes the gradient where its output was positive
                np.greater(layer_input, 0.0, out=mask)
                np.multiply(delta, mask, out=delta)
                grad = delta
        self._adam()
        return loss

    def _adam(self) -> None:
        """Keras's Adam on the flat buffers, in place."""
        self.iterations += 1
        t = self.iterations
        step = self.learning_rate * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        g = self.flat_grad
        m = self.m
        v = self.v
        s = self.scratch
        np.subtract(g, m, out=s)
        s *= 1.0 - self.beta_1
        m += s
        np.multiply(g, g, out=s)
        s -= v
        s *= 1.0 - self.beta_2
        v += s
        np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(m, s, out=s)
        s *= step
        self.flat -= s

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities ``(n, sizes[-1])`` for ``x`` ``(n, sizes[0])``."""
        last = len(self.layers) - 1
        out = x
        for index, (kernel, bias) in enumerate(self.layers):
            out = out @ kernel
            out += bias
            if index < last:
                np.maximum(out, 0.0, out=out)
        out -= np.maximum.reduce(out, axis=1, keepdims=True)
        np.exp(out, out=out)
        out /= np.add.reduce(out, axis=1, keepdims=True)
        return out


def build(sizes: Sequence[int], seed: int) -> DenseStack:
    """A fresh ``DenseStack``."""
    return DenseStack(sizes, seed)


def fit(model: DenseStack, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int) -> None:
    """``model.fit``."""
    model.fit(x, y, epochs, batch_size)


def predict_one(model: DenseStack) -> Callable[[np.ndarray], np.ndarray]:
    """The forward pass, softmax included."""
    return model.predict


def predict_many(model: DenseStack, x: np.ndarray, batch_size: int | None) -> np.ndarray:
    """One forward pass over all rows (no batching)."""
    return model.predict(x)
