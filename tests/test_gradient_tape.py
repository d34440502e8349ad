"""``GradientTape`` (TensorFlow / Keras custom loops) and the PyTorch-style ``backward`` loop.

- Tape gradients equal central differences (an MLP, a conv model), for nested sources, inputs
  (``watch``) and tensors inside the graph; unconnected sources give None.
- The tape never reads or writes ``.grad`` nor the packed gradient buffer ``fit`` uses, and it
  frees the graph after a non-persistent ``gradient`` call.
- A tape + ``apply_gradients`` loop equals ``model.fit(shuffle=False)`` weight for weight.
- Tapes recording together (a GAN's two tapes) share the graph; the last one frees it.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import axonal
from axonal import GradientTape, Tensor, losses, optimizers
from axonal.layers import Conv2D, Dense, Flatten
from axonal.models import Sequential
from axonal.utils import clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(11)
    yield
    clear_session()


def mlp(dtype="float64", n_in=4):
    return Sequential(
        [
            Dense(5, activation="tanh", input_dim=n_in, dtype=dtype),
            Dense(3, activation="softmax", dtype=dtype),
        ]
    )


def conv_model():
    return Sequential(
        [
            axonal.Input((5, 5, 2), dtype="float64"),
            Conv2D(3, 3, activation="tanh", dtype="float64"),
            Flatten(dtype="float64"),
            Dense(2, dtype="float64"),
        ]
    )


def data(n=6, n_in=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.integers(0, classes, n)


def numeric_gradient(f, array, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to ``array`` (changed in place)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        plus = f()
        array[index] = old - eps
        minus = f()
        array[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


# ------------------------------------------------------------------ gradients are right


def test_tape_gradients_of_an_mlp_equal_finite_differences():
    model = mlp()
    x, y = data()
    loss_fn = losses.SparseCategoricalCrossentropy()
    with GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    assert isinstance(loss, Tensor)
    grads = tape.gradient(loss, model.trainable_weights)

    def f():
        with axonal.no_grad():
            return float(loss_fn(y, model(x)).data)

    assert isinstance(grads, list) and len(grads) == 4
    for grad, variable in zip(grads, model.trainable_weights, strict=True):
        assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
        np.testing.assert_allclose(grad, numeric_gradient(f, variable.data), rtol=1e-6, atol=1e-9)


def test_tape_gradients_of_a_conv_model_equal_finite_differences():
    model = conv_model()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 5, 2))
    y = rng.standard_normal((2, 2))
    loss_fn = losses.MeanSquaredError()
    with GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)

    def f():
        with axonal.no_grad():
            return float(loss_fn(y, model(x)).data)

    for grad, variable in zip(grads, model.trainable_weights, strict=True):
        np.testing.assert_allclose(grad, numeric_gradient(f, variable.data), rtol=1e-6, atol=1e-9)


def test_tape_gradients_equal_torch_autograd():
    torch = pytest.importorskip("torch")
    model = mlp()
    x, y = data()
    with GradientTape() as tape:
        loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)

    params = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    hidden = torch.tanh(torch.from_numpy(x) @ params[0] + params[1])
    logits = hidden @ params[2] + params[3]
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
    for ours, param in zip(grads, params, strict=True):
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_nested_sources_come_back_in_the_same_structure():
    model = mlp()
    x, y = data()
    kernel, bias, kernel_1, bias_1 = model.trainable_weights
    with GradientTape(persistent=True) as tape:
        loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    flat = tape.gradient(loss, model.trainable_weights)
    nested = tape.gradient(loss, {"first": (kernel, bias), "second": [kernel_1, {"b": bias_1}]})
    assert set(nested) == {"first", "second"}
    assert isinstance(nested["first"], tuple) and isinstance(nested["second"], list)
    got = [nested["first"][0], nested["first"][1], nested["second"][0], nested["second"][1]["b"]]
    for a, b in zip(got, flat, strict=True):
        np.testing.assert_array_equal(a, b)
    single = tape.gradient(loss, kernel)
    assert isinstance(single, np.ndarray)
    np.testing.assert_array_equal(single, flat[0])


def test_a_source_listed_twice_gets_two_independent_arrays():
    w = axonal.Variable(np.array([1.0, 2.0]), name="w")
    with GradientTape() as tape:
        loss = (w * w).sum()
    a, b = tape.gradient(loss, [w, w])
    np.testing.assert_array_equal(a, [2.0, 4.0])
    np.testing.assert_array_equal(b, [2.0, 4.0])
    a += 1.0
    np.testing.assert_array_equal(b, [2.0, 4.0])


def test_persistent_tape_allows_several_gradient_calls():
    model = mlp()
    x, y = data()
    with GradientTape(persistent=True) as tape:
        pred = model(x, training=True)
        loss = losses.SparseCategoricalCrossentropy()(y, pred)
        other = (pred * pred).sum()
    first = tape.gradient(loss, model.trainable_weights)
    second = tape.gradient(loss, model.trainable_weights)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a is not b
    # a second target recorded by the same tape, checked against a tape of its own
    kernel_1 = model.trainable_weights[2]
    with GradientTape() as check:
        p = model(x, training=True)
        plain = (p * p).sum()
    np.testing.assert_allclose(
        tape.gradient(other, kernel_1), check.gradient(plain, kernel_1), rtol=1e-12
    )


def test_several_targets_sum_and_output_gradients_weight_them():
    w = axonal.Variable(np.array([1.0, 2.0, 3.0]), name="w")
    with GradientTape(persistent=True) as tape:
        a = w * 2.0
        b = (w * w).sum()
    np.testing.assert_allclose(tape.gradient([a, b], w), 2.0 + 2 * w.data)
    np.testing.assert_allclose(tape.gradient(a, w), [2.0, 2.0, 2.0])  # non-scalar: summed
    weights = np.array([1.0, 0.0, -1.0])
    np.testing.assert_allclose(tape.gradient(a, w, output_gradients=weights), 2.0 * weights)
    np.testing.assert_allclose(
        tape.gradient([a, b], w, output_gradients=[weights, None]), 2.0 * weights + 2 * w.data
    )


def test_unconnected_sources_give_none_or_zeros():
    model = mlp()
    unused = axonal.Variable(np.ones((2, 2)), name="unused")
    x, y = data()
    with GradientTape(persistent=True) as tape:
        loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    grads = tape.gradient(loss, [unused, model.trainable_weights[0]])
    assert grads[0] is None and grads[1] is not None
    zeros = tape.gradient(loss, [unused], unconnected_gradients="zero")[0]
    np.testing.assert_array_equal(zeros, np.zeros((2, 2)))
    # a target that depends on no variable at all: every source is unconnected
    with GradientTape() as tape:
        constant = Tensor(np.ones(3)).sum()
    assert tape.gradient(constant, model.trainable_weights) == [None] * 4


def test_watch_gives_gradients_with_respect_to_inputs():
    model = mlp()
    x, y = data()
    loss_fn = losses.SparseCategoricalCrossentropy()
    inputs = Tensor(x.copy())
    with GradientTape() as tape:
        tape.watch(inputs)
        loss = loss_fn(y, model(inputs, training=False))
    grad_x, grad_kernel = tape.gradient(loss, [inputs, model.trainable_weights[0]])

    def f():
        with axonal.no_grad():
            return float(loss_fn(y, model(inputs)).data)

    np.testing.assert_allclose(grad_x, numeric_gradient(f, inputs.data), rtol=1e-6, atol=1e-9)
    assert grad_kernel is not None
    # the watched input is a constant again once the block ends
    assert inputs.requires_grad is False
    assert (inputs * 2.0).requires_grad is False
    # an input that was not watched has no gradient
    plain = Tensor(x.copy())
    with GradientTape() as tape:
        loss = loss_fn(y, model(plain))
    assert tape.gradient(loss, plain) is None


def test_gradient_with_respect_to_a_tensor_inside_the_graph():
    x = Tensor(np.array([1.0, -2.0, 0.5]))
    with GradientTape() as tape:
        tape.watch(x)
        h = x * 2.0
        loss = (h * h).sum()
    grad_h, grad_x = tape.gradient(loss, [h, x])
    np.testing.assert_allclose(grad_h, 2 * h.data)
    np.testing.assert_allclose(grad_x, 8 * x.data)


def test_watch_accessed_variables_false_only_differentiates_watched_tensors():
    model = mlp()
    x, y = data()
    kernel = model.trainable_weights[0]
    with GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(kernel)
        loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    assert grads[0] is not None
    assert grads[1:] == [None, None, None]


def test_stop_recording_records_nothing():
    w = axonal.Variable(np.array([3.0]), name="w")
    with GradientTape() as tape:
        with tape.stop_recording():
            frozen = w * w
        loss = (frozen * w).sum()
    assert frozen.requires_grad is False
    np.testing.assert_allclose(tape.gradient(loss, w), [9.0])


def test_tape_records_inside_no_grad():
    w = axonal.Variable(np.array([3.0]), name="w")
    with axonal.no_grad():
        with GradientTape() as tape:
            loss = (w * w).sum()
        assert axonal.autograd.is_grad_enabled() is False
    np.testing.assert_allclose(tape.gradient(loss, w), [6.0])


# ------------------------------------------------------------------ nothing else is disturbed


def test_tape_never_touches_dot_grad():
    model = mlp()
    x, y = data()
    loss_fn = losses.SparseCategoricalCrossentropy()
    loss_fn(y, model(x, training=True)).backward()
    before = [(v.grad, v.grad.copy()) for v in model.trainable_weights]
    for _ in range(2):
        with GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        for grad, variable, (array, values) in zip(
            grads, model.trainable_weights, before, strict=True
        ):
            assert variable.grad is array
            np.testing.assert_array_equal(variable.grad, values)
            # never accumulates: each tape gives the gradient of its own loss
            np.testing.assert_allclose(grad, values, rtol=1e-12)


def test_tape_after_fit_leaves_the_packed_gradient_buffer_alone():
    model = mlp()
    x, y = data(n=32)
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    variables = model.trainable_weights
    buffers = [v.grad_buffer for v in variables]
    assert all(b is not None for b in buffers)
    saved = [b.copy() for b in buffers]
    for v in variables:
        v.grad = None
    results = []
    for rows in (slice(0, 8), slice(8, 16)):
        with GradientTape() as tape:
            loss = losses.SparseCategoricalCrossentropy()(y[rows], model(x[rows], training=True))
        results.append(tape.gradient(loss, variables))
    first_copy = [g.copy() for g in results[0]]
    for v, buffer, values in zip(variables, buffers, saved, strict=True):
        assert v.grad is None
        assert v.grad_buffer is buffer
        np.testing.assert_array_equal(buffer, values)
    for g, kept, buffer in zip(results[0], first_copy, buffers, strict=True):
        assert not np.shares_memory(g, buffer)
        np.testing.assert_array_equal(g, kept)  # the second tape did not overwrite the first
    # and fit still trains with the packed buffer afterwards
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert all(v.grad_buffer is b for v, b in zip(variables, buffers, strict=True))


def test_non_persistent_gradient_frees_the_graph():
    model = mlp()
    x, y = data()
    with GradientTape() as tape:
        hidden = model.layers[0](x, training=True)
        loss = losses.SparseCategoricalCrossentropy()(y, model.layers[1](hidden))
    ref = weakref.ref(hidden)
    del hidden
    gc.collect()
    assert ref() is not None  # the loss's graph holds it
    tape.gradient(loss, model.trainable_weights)
    gc.collect()
    assert loss._ctx is None
    assert ref() is None


def test_persistent_graph_lives_with_the_target_not_the_tape():
    model = mlp()
    x, y = data()
    with GradientTape(persistent=True) as tape:
        hidden = model.layers[0](x, training=True)
        loss = losses.SparseCategoricalCrossentropy()(y, model.layers[1](hidden))
    ref = weakref.ref(hidden)
    del hidden
    tape.gradient(loss, model.trainable_weights)
    gc.collect()
    assert ref() is not None
    del loss
    gc.collect()
    assert ref() is None
    assert tape is not None


# ------------------------------------------------------------------ custom loops


def test_custom_tape_loop_equals_fit_weight_for_weight():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 4))  # 50 rows, batches of 16: the last one has 2
    y = rng.integers(0, 3, 50)
    fitted = mlp()
    fitted.build_from_shape((None, 4))
    initial = fitted.get_weights()
    fitted.compile(optimizer=optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    fitted.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    looped = mlp()
    looped.build_from_shape((None, 4))
    looped.set_weights(initial)
    optimizer = optimizers.Adam(0.05)
    loss_fn = losses.SparseCategoricalCrossentropy()
    for _ in range(3):
        for start in range(0, len(x), 16):
            xb, yb = x[start : start + 16], y[start : start + 16]
            with GradientTape() as tape:
                loss = loss_fn(yb, looped(xb, training=True))
            grads = tape.gradient(loss, looped.trainable_weights)
            optimizer.apply_gradients(zip(grads, looped.trainable_weights, strict=True))
    assert optimizer.iterations == fitted.optimizer.iterations == 12
    for ours, theirs in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_apply_equals_apply_gradients():
    x, y = data()
    models = [mlp(), mlp()]
    models[1].set_weights(models[0].get_weights())
    opts = [optimizers.Adam(0.1), optimizers.Adam(0.1)]
    for step in range(2):
        for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
            with GradientTape() as tape:
                loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            if i == 0:
                opt.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            else:
                opt.apply(grads, model.trainable_weights)
        assert step + 1 == opts[0].iterations == opts[1].iterations
    for a, b in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_optimizers_take_tensor_gradients_too():
    w = [axonal.Variable(np.ones(3), name="a"), axonal.Variable(np.ones(2), name="b")]
    optimizers.SGD(0.5).apply([Tensor(np.ones(3)), Tensor(np.full(2, 2.0))], w)
    np.testing.assert_array_equal(w[0].data, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(w[1].data, [0.0, 0.0])


# ------------------------------------------------------------------ errors


def test_errors_name_what_was_expected():
    model = mlp()
    x, y = data()
    variables = model.trainable_weights
    with GradientTape() as tape:
        loss = losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
        with pytest.raises(TypeError, match="wrap arrays first"):
            tape.watch(x)
        with pytest.raises(TypeError, match="floating-point"):
            tape.watch(Tensor(np.arange(3)))
    with pytest.raises(TypeError, match=r"target.*got float.*not float\(loss\)"):
        tape.gradient(float(loss.data), variables)
    with pytest.raises(TypeError, match=r"sources.*got ndarray at sources\[1\]"):
        tape.gradient(loss, [variables[0], variables[1].data])
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(loss, variables, unconnected_gradients="zeros_please")
    with pytest.raises(ValueError, match=r"output_gradients for target has shape \(2,\)"):
        tape.gradient(loss, variables, output_gradients=np.ones(2))
    tape.gradient(loss, variables)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape.*persistent=True"):
        tape.gradient(loss, variables)
    with pytest.raises(RuntimeError, match="inside the tape's `with` block"):
        tape.watch(Tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="inside the tape's `with` block"):
        with tape.stop_recording():
            pass


def test_two_tapes_recording_together_share_the_graph():
    """The GAN pattern: both tapes' gradients equal those of separate recordings."""
    generator = Sequential([Dense(3, activation="tanh", input_dim=2, dtype="float64")])
    discriminator = Sequential([Dense(1, activation="sigmoid", input_dim=3, dtype="float64")])
    rng = np.random.default_rng(4)
    noise, real = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    bce = losses.BinaryCrossentropy()

    def losses_of():
        fake_out = discriminator(generator(noise, training=True), training=True)
        real_out = discriminator(real, training=True)
        gen_loss = bce(np.ones((5, 1)), fake_out)
        disc_loss = bce(np.ones((5, 1)), real_out) + bce(np.zeros((5, 1)), fake_out)
        return gen_loss, disc_loss

    with GradientTape() as gen_tape, GradientTape() as disc_tape:
        gen_loss, disc_loss = losses_of()
    gen_grads = gen_tape.gradient(gen_loss, generator.trainable_weights)
    disc_grads = disc_tape.gradient(disc_loss, discriminator.trainable_weights)

    with GradientTape() as alone:
        expected_disc = losses_of()[1]
    expected = alone.gradient(expected_disc, discriminator.trainable_weights)
    for got, want in zip(disc_grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with GradientTape() as alone:
        expected_gen = losses_of()[0]
    expected = alone.gradient(expected_gen, generator.trainable_weights)
    for got, want in zip(gen_grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # the last tape to take gradients freed what it walked
    assert disc_loss._ctx is None
