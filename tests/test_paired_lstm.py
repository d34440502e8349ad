"""Bidirectional(LSTM) runs both directions as one ``PairedLSTMSequence`` loop.

The paired loop performs each direction's ``LSTMSequence`` float operations on the same values
(the two directions' rows side by side), so outputs and gradients equal the two separate
recurrences; tests compare them at float64 round-off and check which path ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from axonal import functional as F
from axonal import recurrent_kernels
from axonal.layers import GRU, LSTM, Bidirectional
from axonal.tensor import Tensor
from axonal.utils import clear_session
from gradcheck import gradcheck, randn


def _ops(out) -> set[str]:
    """Names of every op in ``out``'s graph."""
    seen, stack, names = set(), [out], set()
    while stack:
        tensor = stack.pop()
        ctx = getattr(tensor, "_ctx", None)
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        names.add(type(ctx).__name__)
        stack.extend(t for t in ctx.inputs if t is not None)
    return names


def _layer(dtype="float64", **kwargs):
    clear_session()
    layer = Bidirectional(LSTM(5, dtype=dtype, **kwargs), dtype=dtype)
    layer.build_from_shape((None, 7, 3))
    rng = np.random.default_rng(4)
    layer.set_weights([rng.standard_normal(w.shape) * 0.4 for w in layer.get_weights()])
    return layer


def _run(layer, x, paired: bool, monkeypatch, **call):
    """Output and gradients (input, then every weight) with the paired path on or off."""
    if not paired:
        monkeypatch.setattr(Bidirectional, "_pairable", lambda *args: False)
    for w in layer.weights:
        w.grad = None
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, **call)
    ops = _ops(out)
    out.backward(np.random.default_rng(5).standard_normal(out.shape).astype(x.dtype))
    monkeypatch.undo()
    return [out.data, xt.grad] + [w.grad for w in layer.weights], ops


@pytest.mark.parametrize("compiled", [None, False])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_paired_directions_equal_two_recurrences(monkeypatch, return_sequences, compiled):
    monkeypatch.setattr(recurrent_kernels, "enabled", compiled)
    layer = _layer(return_sequences=return_sequences)
    x = randn(3, 7, 3)
    paired, paired_ops = _run(layer, x, True, monkeypatch)
    monkeypatch.setattr(recurrent_kernels, "enabled", compiled)
    separate, separate_ops = _run(layer, x, False, monkeypatch)
    assert "PairedLSTMSequence" in paired_ops and "LSTMSequence" not in paired_ops
    assert "LSTMSequence" in separate_ops and "PairedLSTMSequence" not in separate_ops
    assert paired[0].shape == (3, 7, 10) if return_sequences else (3, 10)
    for got, want in zip(paired, separate, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_paired_float32_agrees_with_two_recurrences(monkeypatch):
    layer = _layer(dtype="float32", return_sequences=True)
    x = randn(4, 7, 3).astype(np.float32)
    paired, ops = _run(layer, x, True, monkeypatch)
    separate, _ = _run(layer, x, False, monkeypatch)
    assert "PairedLSTMSequence" in ops
    for got, want in zip(paired, separate, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradcheck_of_the_paired_op():
    xf, xb = randn(2, 4, 12, scale=0.5), randn(2, 4, 12, scale=0.5)
    kf, kb = randn(3, 12, scale=0.4), randn(3, 12, scale=0.4)
    gradcheck(F.paired_lstm_sequence, [xf, xb, kf, kb])


@pytest.mark.parametrize(
    "case",
    ["mask", "dropout", "merge_sum", "gru", "return_state", "initial_state"],
)
def test_other_configurations_keep_two_recurrences(case):
    clear_session()
    x = Tensor(randn(2, 4, 3))
    call = {}
    if case == "gru":
        layer = Bidirectional(GRU(2, dtype="float64"), dtype="float64")
    elif case == "merge_sum":
        layer = Bidirectional(LSTM(2, dtype="float64"), merge_mode="sum", dtype="float64")
    elif case == "dropout":
        layer = Bidirectional(LSTM(2, dropout=0.5, dtype="float64"), dtype="float64")
        call["training"] = True
    elif case == "return_state":
        layer = Bidirectional(LSTM(2, return_state=True, dtype="float64"), dtype="float64")
    else:
        layer = Bidirectional(LSTM(2, dtype="float64"), dtype="float64")
        if case == "mask":
            call["mask"] = np.array([[True, True, False, True], [True, False, True, True]])
        else:
            call["initial_state"] = [np.zeros((2, 2)) for _ in range(4)]
    out = layer(x, **call)
    first = out[0] if isinstance(out, list) else out
    assert "PairedLSTMSequence" not in _ops(first)


def test_dropout_at_inference_still_pairs():
    layer = _layer(dropout=0.3, recurrent_dropout=0.2)
    out = layer(Tensor(randn(2, 7, 3)), training=False)
    assert "PairedLSTMSequence" in _ops(out)
