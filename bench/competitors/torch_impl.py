"""PyTorch, the hand-written loop a PyTorch user writes, in its fastest idiomatic form.

``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` producing logits, ``F.cross_entropy`` (softmax
and cross-entropy fused), ``torch.optim.Adam`` with ``fused=True`` (the fastest CPU variant on
this machine: about 20% less per step than the default for-loop implementation on the iris
model), one ``randperm`` per epoch and per-batch index gathers (no copy of the epoch), and
``loss.item()`` per step to keep the epoch's mean loss, as ``fit`` does. CNNs are
``nn.Conv2d``/``nn.MaxPool2d``/``nn.Flatten``/``nn.Linear`` on NCHW tensors, PyTorch's default
layout (the channels-last memory format showed no consistent gain on either CNN here, within
about ±10% either way), and train in the same loop; so does the transformer block, a module of
``nn.Embedding``, ``nn.Linear``, ``F.scaled_dot_product_attention`` and ``nn.LayerNorm``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy


@dataclass
class TorchModel:
    """The module and its optimizer."""

    module: Any
    optimizer: Any
    # the loss of logits and labels; None: ``F.cross_entropy`` (softmax over classes)
    loss: Any = None


def setup(threads: int | None = None) -> str:
    """Import torch and set its intra-op threads when asked; return its version."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.__version__


def native(array: numpy.ndarray) -> Any:
    """A tensor sharing the array's memory."""
    import torch

    return torch.from_numpy(numpy.ascontiguousarray(array))


def _adam(parameters: Any) -> Any:
    """Adam(lr=1e-3, eps=1e-7 as Keras), fused where this torch build supports it on CPU."""
    import torch

    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=1e-3, eps=1e-7, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, lr=1e-3, eps=1e-7)


def build(sizes: Sequence[int], seed: int) -> TorchModel:
    """``nn.Sequential`` of Linear + ReLU, logits out; the softmax is inside the loss."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers: list[Any] = []
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    for index, (fan_in, fan_out) in enumerate(pairs):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(pairs) - 1:
            layers.append(nn.ReLU())
    module = nn.Sequential(*layers)
    return TorchModel(module, _adam(module.parameters()))


def native_images(array: numpy.ndarray) -> Any:
    """Channels-last images ``(n, h, w, c)`` as a contiguous NCHW tensor (a copy)."""
    import torch

    return torch.from_numpy(numpy.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def build_cnn(
    input_shape: Sequence[int], layers: Sequence[tuple[Any, ...]], classes: int, seed: int
) -> TorchModel:
    """``nn.Sequential`` CNN on NCHW input (see ``bench.workloads.cnn.LAYERS``), logits out."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    height, width, channels = input_shape
    features = 0
    modules: list[Any] = []
    for spec in layers:
        if spec[0] == "conv":
            _, filters, size, padding = spec
            modules += [nn.Conv2d(channels, filters, size, padding=padding), nn.ReLU()]
            channels = filters
            if padding == "valid":
                height, width = height - size + 1, width - size + 1
        elif spec[0] == "pool":
            modules.append(nn.MaxPool2d(spec[1]))
            height, width = height // spec[1], width // spec[1]
        elif spec[0] == "flatten":
            modules.append(nn.Flatten())
            features = channels * height * width
        else:
            modules += [nn.Linear(features, spec[1]), nn.ReLU()]
            features = spec[1]
    modules.append(nn.Linear(features, classes))
    module = nn.Sequential(*modules)
    return TorchModel(module, _adam(module.parameters()))


def _transformer_module(model: Any) -> Any:
    """The ``nn.Module`` of ``bench.workloads.transformer``, built only when torch is imported.

    Self-attention is one ``nn.Linear`` to the heads' queries, keys and values together, a view
    to ``(batch, heads, sequence, key_dim)`` and ``F.scaled_dot_product_attention`` (a fused
    CPU kernel, forward and backward), then the output projection: the fastest of the idiomatic
    forms here (``nn.MultiheadAttention(batch_first=True)`` with ``need_weights=False`` does the
    same work with more reshaping copies). LayerNorm's epsilon is Keras's 1e-3.
    """
    import torch.nn.functional as F
    from torch import nn

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(model.model_dim, 3 * model.model_dim)
            self.out = nn.Linear(model.model_dim, model.model_dim)

        def forward(self, x: Any) -> Any:
            batch, length, width = x.shape
            qkv = self.qkv(x).view(batch, length, 3, model.heads, model.key_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            heads = F.scaled_dot_product_attention(q, k, v)
            return self.out(heads.transpose(1, 2).reshape(batch, length, width))

    class TransformerClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(model.vocabulary, model.model_dim)
            self.attention = SelfAttention()
            self.norm1 = nn.LayerNorm(model.model_dim, eps=1e-3)
            self.wide = nn.Linear(model.model_dim, model.ff_dim)
            self.narrow = nn.Linear(model.ff_dim, model.model_dim)
            self.norm2 = nn.LayerNorm(model.model_dim, eps=1e-3)
            self.classifier = nn.Linear(model.model_dim, model.classes)

        def forward(self, tokens: Any) -> Any:
            embedded = self.embedding(tokens)
            hidden = self.norm1(embedded + self.attention(embedded))
            hidden = self.norm2(hidden + self.narrow(F.relu(self.wide(hidden))))
            return self.classifier(hidden.mean(dim=1))

    return TransformerClassifier()


def build_transformer(model: Any, seed: int) -> TorchModel:
    """The transformer-encoder classifier (``bench.workloads.transformer``), logits out."""
    import torch

    torch.manual_seed(seed)
    module = _transformer_module(model)
    return TorchModel(module, _adam(module.parameters()))


def native_series(array: numpy.ndarray) -> Any:
    """``(n, steps, features)`` series as a contiguous ``(n, features, steps)`` tensor (a copy):
    ``nn.Conv1d``'s layout."""
    import torch

    return torch.from_numpy(numpy.ascontiguousarray(array.transpose(0, 2, 1)))


def build_conv1d_ts(model: Any, seed: int) -> TorchModel:
    """The Conv1D time-series classifier (``bench.workloads.conv1d_ts``), logits out.

    BatchNorm1d takes Keras's epsilon (1e-3) and momentum (0.99 in Keras's convention, 0.01 in
    PyTorch's), so both normalise alike.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    blocks: list[Any] = []
    channels = model.features
    for _ in range(model.blocks):
        blocks += [
            nn.Conv1d(channels, model.filters, model.kernel_size, padding="same"),
            nn.BatchNorm1d(model.filters, eps=1e-3, momentum=0.01),
            nn.ReLU(),
        ]
        channels = model.filters
    module = nn.Sequential(
        *blocks,
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(channels, model.classes),
    )
    return TorchModel(module, _adam(module.parameters()))


def _bilstm_module(model: Any) -> Any:
    """The ``nn.Module`` of ``bench.workloads.bilstm_imdb``, built only when torch is imported.

    The second LSTM's final hidden states, forward then backward, are what Keras's
    ``Bidirectional(LSTM(64))`` returns: the forward direction's last step and the backward
    direction's state after reading the sequence from its end to its start.
    """
    import torch
    from torch import nn

    class BiLSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(model.vocabulary, model.embedding_dim)
            self.first = nn.LSTM(
                model.embedding_dim, model.units, batch_first=True, bidirectional=True
            )
            self.second = nn.LSTM(
                2 * model.units, model.units, batch_first=True, bidirectional=True
            )
            self.classifier = nn.Linear(2 * model.units, 1)

        def forward(self, tokens: Any) -> Any:
            sequences, _ = self.first(self.embedding(tokens))
            _, (hidden, _) = self.second(sequences)
            return self.classifier(torch.cat([hidden[0], hidden[1]], dim=1))

    return BiLSTMClassifier()


def build_bilstm_imdb(model: Any, seed: int) -> TorchModel:
    """The Bidirectional-LSTM classifier (``bench.workloads.bilstm_imdb``): one logit out,
    ``binary_cross_entropy_with_logits`` (sigmoid and cross-entropy fused)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    module = _bilstm_module(model)
    return TorchModel(module, _adam(module.parameters()), F.binary_cross_entropy_with_logits)


def fit(model: TorchModel, x: Any, y: Any, epochs: int, batch_size: int) -> None:
    """The training loop: shuffle, forward, loss, backward, step, per batch."""
    import torch
    import torch.nn.functional as F

    module = model.module
    optimizer = model.optimizer
    loss_of = model.loss if model.loss is not None else F.cross_entropy
    module.train()
    n = x.shape[0]
    for _ in range(epochs):
        total = 0.0
        for index in torch.randperm(n).split(batch_size):
            loss = loss_of(module(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)


def predict_one(model: TorchModel) -> Callable[[Any], Any]:
    """``with torch.no_grad(): module(x)`` in eval mode (logits: no softmax)."""
    import torch

    module = model.module.eval()

    def call(x: Any) -> Any:
        with torch.no_grad():
            return module(x)

    return call


def predict_many(model: TorchModel, x: Any, batch_size: int | None) -> Any:
    """One module call over all rows under ``no_grad``; PyTorch has no default batching."""
    import torch

    module = model.module.eval()
    with torch.no_grad():
        return module(x)


_GEMM_OPERANDS: dict[int, tuple[Any, Any, Any]] = {}


def gemm_seconds(n: int) -> float:
    """Seconds for one float32 n×n product in torch's own BLAS (not NumPy's)."""
    import torch

    if n not in _GEMM_OPERANDS:
        _GEMM_OPERANDS[n] = (torch.randn(n, n), torch.randn(n, n), torch.empty(n, n))
    a, b, out = _GEMM_OPERANDS[n]
    start = time.perf_counter()
    torch.matmul(a, b, out=out)
    return time.perf_counter() - start
