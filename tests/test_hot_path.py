"""The fused fast paths give the same answers as the general ones, and float32 stays float32."""

from __future__ import annotations

import numpy as np
import pytest

import axonal
from axonal import functional as F
from axonal import optimizers, primitives
from axonal.autograd import Function
from axonal.layers import Dense, Dropout
from axonal.models import Sequential
from axonal.parameter_buffer import ParameterBuffer
from axonal.tensor import Tensor


class Var:
    """A minimal variable: an array updated in place and a path."""

    def __init__(self, data, path):
        self.data = data
        self.path = path


SHAPES = [(3, 4), (4,), (4, 2), (2,)]

OPTIMIZERS = [
    lambda: optimizers.SGD(0.1),
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.Adadelta(1.0),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.Adam(0.01, clipvalue=0.05),
    lambda: optimizers.Adam(0.01, global_clipnorm=0.1),
    lambda: optimizers.AdamW(0.01),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Nadam(0.01),
]


def _packed_and_separate(dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    packed = [Var(a.copy(), f"w{i}") for i, a in enumerate(arrays)]
    separate = [Var(a.copy(), f"w{i}") for i, a in enumerate(arrays)]
    return packed, separate


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_update_over_a_packed_buffer_equals_per_variable_updates(make, dtype):
    packed, separate = _packed_and_separate(dtype)
    fused, plain = make(), make()
    fused.use_buffer(ParameterBuffer(packed))
    rng = np.random.default_rng(1)
    for _ in range(6):
        grads = [rng.standard_normal(v.data.shape).astype(dtype) for v in packed]
        fused.apply(grads, packed)
        plain.apply([g.copy() for g in grads], separate)
    assert fused._flat is not None and plain._flat is None
    for a, b in zip(packed, separate, strict=True):
        assert a.data.dtype == dtype
        np.testing.assert_array_equal(a.data, b.data)
    state_fused, state_plain = fused.get_state(), plain.get_state()
    assert state_fused.keys() == state_plain.keys()
    for key in state_plain:
        np.testing.assert_array_equal(state_fused[key], state_plain[key])


def test_set_state_after_fused_steps_restores_exactly():
    packed, _ = _packed_and_separate(np.float32)
    opt = optimizers.Adam(0.01)
    rng = np.random.default_rng(2)
    grads = [
        [rng.standard_normal(v.data.shape).astype(np.float32) for v in packed] for _ in range(4)
    ]
    opt.apply(grads[0], packed)
    opt.apply(grads[1], packed)
    saved_state = opt.get_state()
    saved_weights = [v.data.copy() for v in packed]
    opt.apply(grads[2], packed)
    opt.apply(grads[3], packed)
    after = [v.data.copy() for v in packed]
    # rewind weights and state, replay the last two steps: identical result
    for v, w in zip(packed, saved_weights, strict=True):
        v.data[...] = w
    opt.set_state(saved_state)
    opt.apply(grads[2], packed)
    opt.apply(grads[3], packed)
    for v, w in zip(packed, after, strict=True):
        np.testing.assert_array_equal(v.data, w)


def _iris_like_model(seed=0):
    axonal.utils.set_random_seed(seed)
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_packs_trainable_weights_into_one_buffer_without_changing_them():
    model = _iris_like_model()
    before = model.get_weights()
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    model.fit(x, y, epochs=0, verbose=0)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    bases = {id(w.data.base) for w in model.trainable_weights}
    assert len(bases) == 1 and None not in {w.data.base is None for w in model.trainable_weights}
    model.fit(x, y, epochs=2, verbose=0)
    assert model.optimizer._flat is not None


def test_fused_dense_relu_equals_dense_then_relu():
    rng = np.random.default_rng(3)
    x, k, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    fused = [Tensor(a, requires_grad=True) for a in (x, k, b)]
    plain = [Tensor(a, requires_grad=True) for a in (x, k, b)]
    out_fused = F.dense_relu(*fused)
    out_plain = F.relu(F.dense(*plain))
    np.testing.assert_array_equal(out_fused.data, out_plain.data)
    g = rng.standard_normal(out_plain.shape)
    out_fused.backward(g)
    out_plain.backward(g)
    for a, b in zip(fused, plain, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-12)


def test_dense_layer_with_relu_uses_the_fused_op():
    layer = Dense(4, activation="relu")
    out = layer(Tensor(np.ones((2, 3), np.float32), requires_grad=True))
    assert isinstance(out._ctx, primitives.AffineRelu)


@pytest.mark.parametrize("rows", [6, 300])  # small batches take a Python-float path
@pytest.mark.parametrize("reuse_probs", [False, True])
def test_fused_cross_entropy_mean_equals_composite(reuse_probs, rows):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((rows, 5))
    labels = rng.integers(0, 5, rows)
    fused_z, plain_z = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    probs = F.softmax(fused_z).data if reuse_probs else None
    fused = F.sparse_softmax_cross_entropy_mean(fused_z, labels, probs=probs)
    plain = F.mean(F.sparse_softmax_cross_entropy(plain_z, labels))
    np.testing.assert_allclose(fused.data, plain.data, rtol=1e-12)
    fused.backward()
    plain.backward()
    np.testing.assert_allclose(fused_z.grad, plain_z.grad, rtol=1e-12, atol=1e-15)


def test_reused_probabilities_fall_back_to_logits_when_a_label_is_nearly_impossible():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0]], np.float32)
    labels = np.array([2, 0])
    probs = F.softmax(Tensor(z)).data
    assert probs[0, 2] == 0.0
    loss = F.sparse_softmax_cross_entropy_mean(Tensor(z, requires_grad=True), labels, probs)
    expected = F.mean(F.sparse_softmax_cross_entropy(Tensor(z), labels)).data
    assert np.isfinite(loss.data) and loss.data == pytest.approx(float(expected), rel=1e-6)
    assert loss.data > 9000


def test_the_loss_object_takes_the_fused_path_for_a_softmax_output():
    z = Tensor(np.random.default_rng(5).standard_normal((4, 3)), requires_grad=True)
    loss = axonal.losses.get("sparse_categorical_crossentropy")(
        np.array([0, 1, 2, 1]), F.softmax(z)
    )
    assert isinstance(loss._ctx, primitives.SparseSoftmaxCrossEntropyMean)


def test_sparse_accuracy_fast_path_equals_the_general_one():
    rng = np.random.default_rng(6)
    y_pred = rng.random((50, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    fast = axonal.metrics.SparseCategoricalAccuracy()
    general = axonal.metrics.SparseCategoricalAccuracy()
    fast.update_state(labels, y_pred)
    general.update_state(labels[:, None], y_pred)
    assert (
        fast.result()
        == general.result()
        == pytest.approx(float(np.mean(labels == y_pred.argmax(1))))
    )


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


def test_no_float64_reaches_any_op_while_a_float32_model_trains(monkeypatch):
    """Every primitive's inputs, outputs and gradients are float32 (float64 data included)."""
    seen = []

    def check(arrays, where):
        for a in arrays:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                seen.append((where, a.dtype))

    for cls in set(_all_functions()):
        forward, backward = cls.forward, cls.backward

        def traced_forward(self, *arrays, _f=forward, _c=cls, **attrs):
            check(arrays, f"{_c.__name__}.forward input")
            out = _f(self, *arrays, **attrs)
            check([np.asarray(out)], f"{_c.__name__}.forward output")
            return out

        def traced_backward(self, g, _b=backward, _c=cls):
            grads = _b(self, g)
            check(grads, f"{_c.__name__}.backward")
            return grads

        monkeypatch.setattr(cls, "forward", traced_forward)
        monkeypatch.setattr(cls, "backward", traced_backward)

    axonal.utils.set_random_seed(0)
    model = Sequential(
        [
            Dense(8, input_dim=4, activation="tanh", kernel_regularizer="l2"),
            Dropout(0.2),
            Dense(8, activation="relu"),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((30, 4))  # float64 on purpose
    y = np.arange(30) % 3
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float32
    assert seen, "the trace saw no op"
    leaks = sorted({where for where, dtype in seen if dtype != np.float32})
    assert not leaks, leaks
    assert all(w.data.dtype == np.float32 for w in model.weights)
    assert all(
        v.dtype == np.float32 for k, v in model.optimizer.get_state().items() if k != "iterations"
    )


def test_repacked_weights_are_still_the_ones_the_optimizer_updates():
    model = _iris_like_model()
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    model.fit(x, y, epochs=1, verbose=0)
    model._packed = None  # force a new buffer: every variable's array is replaced
    model._pack_trainable_weights()
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_large_data_gathered_per_batch_trains_exactly_like_a_shuffled_epoch_copy(monkeypatch):
    from axonal.trainers import array_loop as model_module

    x = np.random.default_rng(1).standard_normal((40, 4)).astype(np.float32)
    y = np.arange(40) % 3
    results = []
    for limit in (1 << 40, 0):  # copy the shuffled epoch, then gather batch by batch
        monkeypatch.setattr(model_module, "EPOCH_COPY_BYTES", limit)
        model = _iris_like_model(seed=3)
        model.fit(x, y, epochs=3, batch_size=7, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ["relu", "softmax", "sigmoid", "tanh", "linear", "gelu"])
def test_dense_array_inference_equals_the_tensor_path(activation):
    layer = Dense(5, activation=activation)
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    with axonal.no_grad():
        expected = layer(x).data
        got = layer.infer(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_predict_of_one_batch_equals_predict_in_many_batches():
    model = _iris_like_model()
    x = np.random.default_rng(3).standard_normal((9, 4)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, batch_size=32, verbose=0), model.predict(x, batch_size=2, verbose=0)
    )


def test_gradients_written_into_the_packed_buffer_equal_ordinary_ones_even_when_shared():
    from axonal import Input, Model
    from axonal.layers import Add

    axonal.utils.set_random_seed(4)
    inputs = Input((3,))
    shared = Dense(3, activation="tanh", kernel_regularizer="l2")
    out = Dense(1)(Add()([shared(inputs), shared(shared(inputs))]))
    model = Model(inputs, out)
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="mse")
    x = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)
    y = np.random.default_rng(6).standard_normal((6, 1)).astype(np.float32)
    # reference gradients from the plain engine, before any packing
    loss, _ = model.compute_losses([y], model.compute_outputs([x], training=True), [None])
    loss.backward()
    expected = [w.grad.copy() for w in model.trainable_weights]
    for w in model.trainable_weights:
        w.grad = None
    before = model.get_weights()
    model.train_on_batch(x, y)  # packs weights and gradients, then one SGD step of size 1
    assert all(w.grad_buffer is not None for w in model.trainable_weights)
    for old, new, grad in zip(before, model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(old - new, grad, rtol=2e-5, atol=1e-6)
    # the next step still takes gradients from the buffers, not stale arrays
    model.train_on_batch(x, y)
    buffer = model.optimizer._flat[0]
    assert buffer.holds(model.trainable_weights)
    assert buffer.grads_in_place([w.grad_buffer for w in model.trainable_weights])


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_small_predict_calls_still_refuse_non_finite_rows(rows, bad):
    model = _iris_like_model()
    x = np.zeros((rows, 4), dtype=np.float32)
    x[rows - 1, 2] = bad
    kind = "NaN" if np.isnan(bad) else ("inf" if bad > 0 else "-inf")
    with pytest.raises(ValueError, match=f"contains {kind} at row {rows - 1}, column 2"):
        model.predict(x, verbose=0)


def test_small_predict_calls_still_refuse_the_wrong_width_and_a_scalar():
    model = _iris_like_model()
    with pytest.raises(ValueError, match="5 features instead of 4"):
        model.predict(np.zeros((1, 5), dtype=np.float32), verbose=0)
    with pytest.raises(ValueError, match="batch axis"):
        model.predict(np.float32(1.0), verbose=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_array_inference_of_rank_3_input_and_extreme_logits(dtype):
    layer = Dense(4, activation="softmax", dtype=np.dtype(dtype).name)
    x = np.random.default_rng(5).standard_normal((2, 3, 6)).astype(dtype) * 1e4
    with axonal.no_grad():
        expected = layer(x).data
        flat = layer.infer(x.reshape(-1, 6)).reshape(expected.shape)
        got = layer.infer(x)
    assert got.dtype == dtype and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(flat, expected, rtol=1e-6)


@pytest.mark.parametrize("columns", [5, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, -120.0, -800.0, 95.0, 800.0])
def test_inference_softmax_matches_the_shifted_formula_where_exp_would_fail(dtype, offset, columns):
    from axonal.primitives.core import softmax_rows as _softmax_rows

    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((4, columns)) * 3).astype(dtype)
    logits[1] += offset  # one row far out: only it would overflow or underflow unshifted
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    for rows in (logits, logits[1:2]):
        want = expected if len(rows) == 4 else expected[1:2]
        kept = rows.copy()
        # training (the Softmax primitive) keeps its input; inference may overwrite it
        for got in (_softmax_rows(kept), _softmax_rows(rows.copy(), overwrite=True)):
            assert got.dtype == dtype and np.isfinite(got).all()
            np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == np.float32 else 1e-13)
        np.testing.assert_array_equal(kept, rows)


@pytest.mark.parametrize("rows", [4, 300])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("bad", [3, -1])
def test_sparse_cross_entropy_refuses_a_label_outside_the_classes(fused, bad, rows):
    logits = Tensor(np.zeros((rows, 3), dtype=np.float32), requires_grad=True)
    labels = np.arange(rows) % 3
    labels[rows // 2] = bad
    loss = F.sparse_softmax_cross_entropy_mean if fused else F.sparse_softmax_cross_entropy
    with pytest.raises(ValueError, match=rf"label {bad}, outside the valid range \[0, 2\]"):
        loss(logits, labels)


def _penalized_sgd_model(penalty: float) -> Sequential:
    from axonal.regularizers import L2

    axonal.utils.set_random_seed(3)
    model = Sequential([Dense(4, input_dim=3, activation="relu")])
    model.add(Dense(2, activation="softmax", kernel_regularizer=L2(penalty)))
    # a zero learning rate: every step sees the same weights, so the loss is known exactly
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    return model


def test_fit_counts_regularizers_of_layers_added_since_the_last_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=8)
    model = _penalized_sgd_model(0.5)
    first = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
    data_loss = float(np.mean(-np.log(model.predict(x, verbose=0)[np.arange(8), y])))
    kernel = model.layers[1].kernel.data
    assert first == pytest.approx(data_loss + 0.5 * float(np.sum(kernel**2)), rel=1e-5)

    from axonal.regularizers import L2

    model.pop()
    model.add(Dense(2, activation="softmax", kernel_regularizer=L2(2.0)))
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    second = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
    data_loss = float(np.mean(-np.log(model.predict(x, verbose=0)[np.arange(8), y])))
    kernel = model.layers[1].kernel.data
    assert second == pytest.approx(data_loss + 2.0 * float(np.sum(kernel**2)), rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(second, rel=1e-5)


def test_small_finite_check_is_not_fooled_by_a_sum_that_overflows():
    from axonal.data import check_finite

    check_finite(np.array([[1e308, 1e308, -1e308]]), "x")  # finite values, overflowing sum
    with pytest.raises(ValueError, match=r"x contains inf at row 0, column 1"):
        check_finite(np.array([[1e308, np.inf, -np.inf]]), "x")
    with pytest.raises(ValueError, match=r"x contains NaN at row 0, column 2"):
        check_finite(np.array([[1.0, 2.0, np.nan]], dtype=np.float32), "x")


@pytest.mark.parametrize("shape", [(3,), (2, 3), (70, 12), (2, 4, 11)])
def test_softmax_of_integer_scores_is_float64(shape):
    scores = np.arange(np.prod(shape)).reshape(shape) % 5
    got = F.softmax(Tensor(scores)).data
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, exps / exps.sum(axis=-1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("rows", [5, 100])  # the row-sum check runs in Python up to 64 rows
@pytest.mark.parametrize("offset", [800.0, -800.0, np.nan])
def test_softmax_rows_fall_back_to_the_shift_when_one_row_needs_it(rows, offset):
    from axonal.primitives.core import softmax_rows

    rng = np.random.default_rng(7)
    logits = rng.standard_normal((rows, 6)).astype(np.float32)
    logits[rows // 2] += offset
    got = softmax_rows(logits.copy())
    wide = logits.astype(np.float64)
    exps = np.exp(wide - wide.max(axis=1, keepdims=True))
    expected = exps / exps.sum(axis=1, keepdims=True)
    if np.isnan(offset):
        assert np.isnan(got[rows // 2]).all()
        keep = np.arange(rows) != rows // 2
        got, expected = got[keep], expected[keep]
    assert got.dtype == np.float32 and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=3e-6, atol=1e-30)


def test_fit_uses_a_subclass_learning_rate_property():
    class Halving(optimizers.SGD):
        """SGD whose learning rate halves every step, through the property."""

        @property
        def learning_rate(self):
            return 0.5**self.iterations

        @learning_rate.setter
        def learning_rate(self, value):
            pass

    model = Sequential([Dense(1, input_dim=1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=Halving(), loss="mse")
    x = np.ones((1, 1), dtype=np.float32)
    model.fit(x, np.zeros((1, 1), dtype=np.float32), epochs=2, batch_size=1, verbose=0)
    # w = 1 - 1 * (2 * 1) = -1, then -1 - 0.5 * (2 * -1) = 0
    assert model.layers[0].kernel.data[0, 0] == pytest.approx(0.0, abs=1e-7)


def test_sparse_cross_entropy_on_plain_probabilities_refuses_a_label_outside_the_classes():
    from axonal.losses import sparse_categorical_crossentropy

    # probabilities that no softmax made: the loss gathers them without the fused op
    probs = Tensor(np.full((4, 3), 1 / 3, dtype=np.float32), requires_grad=True)
    value = sparse_categorical_crossentropy(np.array([0, 1, 2, 1]), probs)
    np.testing.assert_allclose(value.data, np.log(3.0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"label 3, outside the valid range \[0, 2\]"):
        sparse_categorical_crossentropy(np.array([0, 1, 3, 1]), probs)


_HUGE_PAGE = 2 * 1024 * 1024


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("zero", [False, True])
def test_flat_buffers_start_on_a_huge_page_from_2_mib(dtype, zero):
    from axonal.backend import empty_flat

    itemsize = np.dtype(dtype).itemsize
    for size in (0, 10, _HUGE_PAGE // itemsize - 1, _HUGE_PAGE // itemsize, 3_000_001):
        array = empty_flat(size, dtype, zero=zero)
        assert array.shape == (size,) and array.dtype == dtype and array.flags.c_contiguous
        assert array.flags.writeable
        if zero:
            assert not array.any()
        if size * itemsize >= _HUGE_PAGE:
            assert _address(array) % _HUGE_PAGE == 0
            # a view of one 1-D array of its own dtype, as the fused optimizer step expects
            assert array.base.ndim == 1 and array.base.dtype == dtype


def test_a_large_models_weights_gradients_and_adam_state_start_on_huge_pages():
    model = Sequential([Dense(600, input_dim=900, activation="relu"), Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 900)).astype(np.float32)
    y = rng.standard_normal((16, 4)).astype(np.float32)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    kernel = model.trainable_weights[0]
    buffer, (data, grads, slots) = model.optimizer._flat
    packed = buffer.grads
    assert _address(kernel.data) % _HUGE_PAGE == 0
    assert _address(kernel.grad_buffer) % _HUGE_PAGE == 0
    assert packed is not None and _address(packed) == _address(kernel.grad_buffer)
    for buffer in (data, grads, *slots.values(), model.optimizer._scratch_like(data)):
        assert _address(buffer) % _HUGE_PAGE == 0
    assert model.optimizer.iterations == 2


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32"])
@pytest.mark.parametrize("size", [0, 7, 1023, 1024, 65536, 65537, 3 * 65536 + 5])
@pytest.mark.parametrize("in_place", [False, True])
def test_relu_values_equals_maximum_with_zero(dtype, size, in_place):
    a = np.random.default_rng(size).standard_normal(size) * 10
    a = a.astype(dtype)
    if size > 3 and a.dtype.kind == "f":
        a[1], a[2], a[3] = np.nan, -np.inf, -0.0
    expected = np.maximum(a, 0)
    out = primitives.relu_values(a, out=a) if in_place else primitives.relu_values(a)
    assert out.dtype == expected.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, expected)
    assert (out is a) == in_place


def test_relu_values_of_strided_and_multi_dimensional_arrays():
    a = np.random.default_rng(0).standard_normal((64, 40, 60)).astype(np.float32)
    np.testing.assert_array_equal(primitives.relu_values(a), np.maximum(a, 0))
    view = a[:, ::2]  # not contiguous: the plain maximum
    np.testing.assert_array_equal(primitives.relu_values(view), np.maximum(view, 0))
    target = np.empty((60, 40, 64), np.float32).transpose(2, 1, 0)  # a non-contiguous out
    primitives.relu_values(a, out=target)
    np.testing.assert_array_equal(target, np.maximum(a, 0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "m, k, n",
    [(26, 36_864, 6), (10, 5_000, 32), (1, 70_000, 3), (4, 100, 3), (151, 4_096, 16), (0, 10, 3)],
)
@pytest.mark.parametrize("with_out", [False, True])
def test_inner_product_equals_one_product(dtype, m, k, n, with_out):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((k, m)).astype(dtype).T  # a transposed view, as kernel gradients are
    b = rng.standard_normal((k, n)).astype(dtype)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    out = np.full((m, n), np.nan, dtype) if with_out else None
    result = primitives.inner_product(a, b, out=out)
    assert result.dtype == dtype and result.shape == (m, n)
    if with_out:
        assert result is out
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    scale = np.sqrt(k) * 4  # the size of a sum of k products of standard normals, generously
    np.testing.assert_allclose(result, expected, rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("rows", [10, 2047, 2048, 9000])
def test_dense_kernel_gradient_over_many_rows_equals_one_product(rows):
    # from 2,048 rows a tiny kernel's gradient is summed in pieces (primitives.inner_product)
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    kernel = Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    bias = Tensor(np.zeros(2, np.float32), requires_grad=True)
    g = rng.standard_normal((rows, 2)).astype(np.float32)
    F.dense(Tensor(x), kernel, bias).backward(g)
    expected = x.astype(np.float64).T @ g.astype(np.float64)
    assert kernel.grad.dtype == np.float32
    np.testing.assert_allclose(kernel.grad, expected, rtol=0, atol=1e-5 * np.sqrt(rows) * 4)
    np.testing.assert_allclose(bias.grad, g.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-3)
