"""DP-SGD: per-example gradients, the clipped and noised step, sampling, and bad input.

The oracle for per-example gradients is the model itself run on one example at a time: the
batch-mean loss of a batch of one is that example's loss, so its ordinary gradient is the
example's gradient.
"""

import math

import numpy as np
import pytest

from axonal import layers as L
from axonal.backend import set_floatx
from axonal.callbacks import ReduceLROnPlateau
from axonal.models import Model, Sequential
from axonal.optimizers import SGD, Adam
from axonal.privacy import (
    DPOptimizer,
    EpsilonLogger,
    compute_epsilon,
    per_example_gradients,
)
from axonal.privacy.gradients import sum_of_example_losses
from axonal.privacy.per_example import PerExampleGradients
from axonal.registry import registered_names
from axonal.saving import load_model
from axonal.trainers.strategy import PrivateStrategy
from axonal.utils import set_random_seed

BATCH = 5


@pytest.fixture
def float64():
    set_floatx("float64")
    yield
    set_floatx("float32")


def _one_at_a_time(model, x, y, sample_weight=None):
    """``{path: (n, *shape)}``: each example's gradient from a batch of that example alone."""
    grads = {}
    for i in range(len(x)):
        w = None if sample_weight is None else sample_weight[i : i + 1]
        xs, ys, ws = model.prepare_batch(x[i : i + 1], y[i : i + 1], w)
        preds = model.compute_outputs(xs, training=True)
        loss, _ = model.compute_losses(ys, preds, ws)
        for v in model.trainable_weights:
            v.grad = None
        loss.backward()
        for v in model.trainable_weights:
            grad = np.zeros_like(v.data) if v.grad is None else v.grad.copy()
            grads.setdefault(v.path, []).append(grad)
            v.grad = None
    return {path: np.stack(g) for path, g in grads.items()}


def _ghost_route(model, x, y, clip):
    """Norms and clipped sums the DP step uses (ghost norms where a weight is used once)."""
    xs, ys, ws = model.prepare_batch(x, y)
    preds = model.compute_outputs(xs, training=True)
    _, per_output = model.compute_losses(ys, preds, ws)
    root = sum_of_example_losses(model, ys, preds, ws, per_output)
    found = PerExampleGradients(root, model.trainable_weights, len(x))
    sums, norms = found.clipped_sums(clip)
    return {v.path: sums.get(id(v)) for v in model.trainable_weights}, norms


def _rs():
    return np.random.RandomState(0)


def _ids():
    ids = _rs().randint(1, 10, size=(BATCH, 7))
    ids[0, :3] = 4  # a repeated row within one example
    ids[1, 4:] = 0  # padding, for mask_zero
    return ids


SEQ = (7, 6)
IMG = (8, 8, 2)
VOL = (4, 5, 4, 2)

# (name, the layers between the Input and a Flatten + Dense(3) head, input shape, input maker);
# the layers are made in the test, so they take its float type
CASES = [
    ("dense", lambda: [L.Dense(4, activation="relu"), L.Dense(5, activation="tanh")], (6,), None),
    ("dense_no_bias", lambda: [L.Dense(4, use_bias=False)], (6,), None),
    ("dense_over_time", lambda: [L.Dense(4, activation="relu")], SEQ, None),
    ("conv2d", lambda: [L.Conv2D(3, 3, padding="same", activation="relu")], IMG, None),
    ("conv2d_strided", lambda: [L.Conv2D(16, 3, strides=2)], IMG, None),
    ("conv2d_dilated", lambda: [L.Conv2D(4, 3, dilation_rate=2, use_bias=False)], IMG, None),
    (
        "conv2d_wide",  # wide enough for the Gram-matrix ghost norm
        lambda: [
            L.Conv2D(32, 3, padding="same"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, padding="same", activation="relu"),
        ],
        IMG,
        None,
    ),
    ("conv2d_groups", lambda: [L.Conv2D(6, 3, groups=2)], (8, 8, 4), None),
    ("conv1d", lambda: [L.Conv1D(4, 3, padding="causal")], (9, 3), None),
    (
        "conv1d_taps",  # 16 float64 channels: per-tap GEMMs, im2col built only for these rules
        lambda: [L.Conv1D(16, 3, padding="same"), L.Conv1D(4, 2, dilation_rate=2)],
        (9, 16),
        None,
    ),
    ("depthwise", lambda: [L.DepthwiseConv2D(3, depth_multiplier=2)], IMG, None),
    ("separable", lambda: [L.SeparableConv2D(4, 3)], IMG, None),
    ("conv2d_transpose", lambda: [L.Conv2DTranspose(3, 3, strides=2)], (5, 5, 2), None),
    (
        "conv2d_transpose_dilated",
        lambda: [L.Conv2DTranspose(3, 3, padding="same", dilation_rate=2)],
        (5, 5, 2),
        None,
    ),
    ("conv3d", lambda: [L.Conv3D(3, 2, padding="same", activation="relu")], VOL, None),
    ("conv3d_strided_groups", lambda: [L.Conv3D(4, 2, strides=2, groups=2)], (4, 5, 4, 4), None),
    ("conv3d_wide", lambda: [L.Conv3D(32, 3, strides=2, use_bias=False)], VOL, None),
    ("conv1d_transpose", lambda: [L.Conv1DTranspose(3, 3, strides=2)], (5, 2), None),
    ("conv3d_transpose", lambda: [L.Conv3DTranspose(2, 2, strides=(2, 1, 2))], VOL, None),
    (
        "conv3d_transpose_same_dilated",
        lambda: [L.Conv3DTranspose(2, 2, padding="same", dilation_rate=2)],
        VOL,
        None,
    ),
    ("depthwise1d", lambda: [L.DepthwiseConv1D(3, depth_multiplier=2)], (9, 3), None),
    ("separable1d", lambda: [L.SeparableConv1D(4, 3, padding="same")], (9, 3), None),
    (
        "channels_first",
        lambda: [
            L.Conv2D(3, 3, data_format="channels_first", activation="relu"),
            L.Conv2DTranspose(2, 2, strides=2, data_format="channels_first"),
        ],
        (2, 6, 5),
        None,
    ),
    ("layer_norm", lambda: [L.Dense(5), L.LayerNormalization()], (6,), None),
    ("layer_norm_2d", lambda: [L.LayerNormalization(axis=[1, 2])], SEQ, None),
    ("prelu", lambda: [L.PReLU(alpha_initializer="random_normal", shared_axes=[1])], SEQ, None),
    ("embedding", lambda: [L.Embedding(10, 4)], (7,), _ids),
    ("embedding_mask_lstm", lambda: [L.Embedding(10, 4, mask_zero=True), L.LSTM(5)], (7,), _ids),
    ("simple_rnn", lambda: [L.SimpleRNN(5)], SEQ, None),
    (
        "simple_rnn_relu_sequences",
        lambda: [L.SimpleRNN(5, activation="relu", return_sequences=True)],
        SEQ,
        None,
    ),
    ("lstm", lambda: [L.LSTM(5)], SEQ, None),
    ("lstm_composite", lambda: [L.LSTM(5, activation="relu")], SEQ, None),
    ("lstm_backwards", lambda: [L.LSTM(5, go_backwards=True, return_sequences=True)], SEQ, None),
    ("gru", lambda: [L.GRU(5)], SEQ, None),
    ("gru_reset_before", lambda: [L.GRU(5, reset_after=False)], SEQ, None),
    ("bidirectional_lstm", lambda: [L.Bidirectional(L.LSTM(4))], SEQ, None),
    (
        "bidirectional_gru_sequences",
        lambda: [L.Bidirectional(L.GRU(4, return_sequences=True))],
        SEQ,
        None,
    ),
    ("time_distributed", lambda: [L.TimeDistributed(L.Dense(4))], SEQ, None),
]


def _case_model(make_layers, shape, make_input):
    set_random_seed(1)
    layers = make_layers() + [L.Flatten(), L.Dense(3)]
    dtype = "int64" if make_input is not None else None
    inputs = [L.Input(shape, dtype=dtype)] if dtype else [L.Input(shape)]
    model = Sequential(inputs + list(layers))
    model.compile(optimizer="sgd", loss="mse")
    x = make_input() if make_input is not None else _rs().randn(BATCH, *shape)
    y = _rs().randn(BATCH, 3)
    return model, x, y


@pytest.mark.parametrize("name, make_layers, shape, make_input", CASES, ids=[c[0] for c in CASES])
def test_per_example_gradients_equal_one_example_at_a_time(
    float64, name, make_layers, shape, make_input
):
    model, x, y = _case_model(make_layers, shape, make_input)
    found = per_example_gradients(model, x, y)
    expected = _one_at_a_time(model, x, y)
    assert set(found) == set(expected)
    for path, want in expected.items():
        np.testing.assert_allclose(found[path], want, rtol=1e-9, atol=1e-12, err_msg=path)

    # the DP step's route: ghost norms and clipped sums, from the same per-example gradients
    clip = 0.5
    sums, norms = _ghost_route(model, x, y, clip)
    flat = np.concatenate([g.reshape(BATCH, -1) for g in expected.values()], axis=1)
    want_norms = np.linalg.norm(flat, axis=1)
    np.testing.assert_allclose(norms, want_norms, rtol=1e-9)
    factors = np.minimum(1.0, clip / (want_norms + 1e-6))
    for path, per_example in expected.items():
        want = np.tensordot(factors, per_example, axes=1)
        np.testing.assert_allclose(sums[path], want, rtol=1e-9, atol=1e-12, err_msg=path)


def test_shared_layer_gradients_add_up(float64):
    # one Dense used twice: its per-example gradient is the sum over both uses
    set_random_seed(2)
    inputs = L.Input((6,))
    shared = L.Dense(6, activation="tanh")
    outputs = L.Dense(3)(shared(shared(inputs)))
    model = Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rs().randn(BATCH, 6), _rs().randn(BATCH, 3)
    found = per_example_gradients(model, x, y)
    for path, want in _one_at_a_time(model, x, y).items():
        np.testing.assert_allclose(found[path], want, rtol=1e-9, atol=1e-12)


def test_a_timestep_mask_averages_each_example_over_its_own_steps(float64):
    # per-step targets behind a mask: each example's loss is the mean over its real steps
    set_random_seed(3)
    model = Sequential(
        [
            L.Input((7,), dtype="int64"),
            L.Embedding(10, 4, mask_zero=True),
            L.LSTM(5, return_sequences=True),
            L.TimeDistributed(L.Dense(2)),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = _ids(), _rs().randn(BATCH, 7, 2)
    x[2, 2:] = 0  # examples with different numbers of real steps
    found = per_example_gradients(model, x, y)
    for path, want in _one_at_a_time(model, x, y).items():
        np.testing.assert_allclose(found[path], want, rtol=1e-9, atol=1e-12, err_msg=path)


def test_sample_weights_scale_each_example(float64):
    model, x, y = _case_model(lambda: [L.Dense(4)], (6,), None)
    weights = np.array([1.0, 0.0, 2.0, 0.5, 3.0])
    found = per_example_gradients(model, x, y, sample_weight=weights)
    for path, want in _one_at_a_time(model, x, y, weights).items():
        np.testing.assert_allclose(found[path], want, rtol=1e-9, atol=1e-12)


def test_with_dropout_the_per_example_gradients_sum_to_the_batch_gradient(float64):
    # random masks rule out one-at-a-time; the same masks (same seed) give the batch gradient
    def layers():
        lstm = L.LSTM(4, dropout=0.3, recurrent_dropout=0.3)
        return [L.Dense(8), L.Dropout(0.5), lstm]

    model, x, _ = _case_model(layers, SEQ, None)
    y = _rs().randn(BATCH, 3)
    set_random_seed(5)
    found = per_example_gradients(model, x, y)
    set_random_seed(5)
    xs, ys, ws = model.prepare_batch(x, y)
    loss, _ = model.compute_losses(ys, model.compute_outputs(xs, training=True), ws)
    loss.backward()
    for v in model.trainable_weights:
        np.testing.assert_allclose(found[v.path].sum(axis=0) / BATCH, v.grad, rtol=1e-9)


# ---------------------------------------------------------------- the DP step


def _mlp(optimizer, seed=0, regularizer=None):
    set_random_seed(seed)
    model = Sequential(
        [
            L.Input((4,)),
            L.Dense(6, activation="relu", kernel_regularizer=regularizer),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def _data(n=12):
    rs = np.random.RandomState(3)
    return rs.randn(n, 4).astype("float32"), rs.randint(0, 3, n)


def _hand_step(model, x, y, clip, learning_rate, denominator):
    """Weights after one SGD step on the clipped per-example gradients' mean, by hand."""
    grads = _one_at_a_time(model, x, y)
    flat = np.concatenate([g.reshape(len(x), -1) for g in grads.values()], axis=1)
    factors = np.minimum(1.0, clip / (np.linalg.norm(flat, axis=1) + 1e-6))
    return {
        v.path: v.data - learning_rate * np.tensordot(factors, grads[v.path], axes=1) / denominator
        for v in model.trainable_weights
    }


def test_noiseless_step_is_the_clipped_mean_step_by_hand():
    x, y = _data()
    model = _mlp(DPOptimizer(SGD(0.5), l2_norm_clip=0.3, noise_multiplier=0.0))
    want = _hand_step(model, x, y, clip=0.3, learning_rate=0.5, denominator=len(x))
    model.train_on_batch(x, y)
    for v in model.trainable_weights:
        np.testing.assert_allclose(v.data, want[v.path], rtol=1e-5, atol=1e-6)
        assert v.data.dtype == np.float32


def test_poisson_step_divides_by_the_expected_batch_size():
    x, y = _data()
    optimizer = DPOptimizer(SGD(0.5), l2_norm_clip=0.3, noise_multiplier=0.0)
    model = _mlp(optimizer)
    optimizer.epoch_batches(n=40, batch_size=8)  # q = 0.2: 8 expected per batch
    want = _hand_step(model, x, y, clip=0.3, learning_rate=0.5, denominator=8)
    xs, ys, ws = model.prepare_batch(x, y)
    # what fit does with a drawn batch of 12
    PrivateStrategy(optimizer).train_step(model, xs, ys, ws, model.trainable_weights)
    for v in model.trainable_weights:
        np.testing.assert_allclose(v.data, want[v.path], rtol=1e-5, atol=1e-6)


def test_regularization_gradient_is_added_after_the_noise_unclipped():
    x, y = _data()
    # a huge clip clips nothing: without noise the DP step is the ordinary step
    plain = _mlp(SGD(0.1), regularizer="l2")
    private = _mlp(DPOptimizer(SGD(0.1), l2_norm_clip=1e6, noise_multiplier=0.0), regularizer="l2")
    plain.train_on_batch(x, y)
    private.train_on_batch(x, y)
    for a, b in zip(plain.trainable_weights, private.trainable_weights, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-7)


def test_noise_has_the_stated_standard_deviation_and_an_empty_batch_still_steps():
    x, y = _data()
    optimizer = DPOptimizer(SGD(1.0), l2_norm_clip=2.0, noise_multiplier=1.5, seed=0)
    model = _mlp(optimizer)
    optimizer.epoch_batches(n=100, batch_size=4)  # expected batch 4
    before = [v.data.copy() for v in model.trainable_weights]
    # an empty Poisson batch: no gradient at all, only noise
    loss, _, _ = optimizer.private_train_step(
        model, [x[:0]], [y[:0]], [None], model.trainable_weights
    )
    assert float(loss.data) == 0.0
    changes = np.concatenate(
        [(b - v.data).ravel() for b, v in zip(before, model.trainable_weights, strict=True)]
    )
    # SGD with learning rate 1: the change is the noise over the expected batch size
    assert abs(changes.std() / (1.5 * 2.0 / 4) - 1) < 0.25
    assert abs(changes.mean()) < 0.2
    assert optimizer.accountant.steps == 1


def _fit_weights(seed, noise=1.0, sampling="poisson"):
    x, y = _data(40)
    model = _mlp(DPOptimizer(Adam(0.01), 1.0, noise, seed=seed, sampling=sampling), seed=0)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return np.concatenate([v.data.ravel() for v in model.trainable_weights])


def test_a_fixed_seed_reproduces_the_noise_and_another_seed_does_not():
    np.testing.assert_array_equal(_fit_weights(7), _fit_weights(7))
    assert not np.allclose(_fit_weights(7), _fit_weights(8))
    shuffled = _fit_weights(3, sampling="shuffle")
    np.testing.assert_array_equal(shuffled, _fit_weights(3, sampling="shuffle"))


def test_axonal_seed_makes_an_unseeded_optimizer_repeatable():
    assert np.array_equal(_fit_weights(None), _fit_weights(None))


def test_poisson_batches():
    optimizer = DPOptimizer("sgd", 1.0, 1.0, seed=1)
    batches = optimizer.epoch_batches(n=1000, batch_size=50)
    assert len(batches) == 20
    sizes = np.array([len(b) for b in batches])
    assert sizes.std() > 0  # sizes vary, as Poisson sampling makes them
    assert abs(sizes.mean() - 50) < 10
    for batch in batches:
        assert len(np.unique(batch)) == len(batch) and batch.min() >= 0 and batch.max() < 1000
    # each example is drawn independently: about q * steps = 1 time per epoch on average
    counts = np.bincount(np.concatenate(batches), minlength=1000)
    assert abs(counts.mean() - 1.0) < 0.1
    same = DPOptimizer("sgd", 1.0, 1.0, seed=1).epoch_batches(n=1000, batch_size=50)
    assert all(np.array_equal(a, b) for a, b in zip(batches, same, strict=True))
    shuffled = DPOptimizer("sgd", 1.0, 1.0, seed=1, sampling="shuffle").epoch_batches(1000, 64)
    assert [len(b) for b in shuffled] == [64] * 15 + [40]
    assert np.array_equal(np.sort(np.concatenate(shuffled)), np.arange(1000))


def test_history_gets_epsilon_and_it_matches_the_planning_function():
    x, y = _data(40)
    model = _mlp(DPOptimizer("sgd", 1.0, 1.2, seed=0))
    history = model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[EpsilonLogger(delta=1e-3)]
    )
    epsilons = history.history["epsilon"]
    assert len(epsilons) == 3 and epsilons[0] < epsilons[1] < epsilons[2]
    assert epsilons[-1] == pytest.approx(compute_epsilon(40, 8, 1.2, 3, 1e-3), rel=1e-9)
    assert model.optimizer.epsilon(1e-3) == epsilons[-1]


# every optimizer but the wrapper itself, by its lower-case name
INNER = sorted({n.lower() for n in registered_names("optimizer")} - {"dpoptimizer"})


@pytest.mark.parametrize("name", INNER)
def test_every_optimizer_can_be_made_private(name):
    x, y = _data(40)
    model = _mlp(DPOptimizer(name, l2_norm_clip=1.0, noise_multiplier=0.5, seed=0))
    before = np.concatenate([v.data.ravel() for v in model.trainable_weights])
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = np.concatenate([v.data.ravel() for v in model.trainable_weights])
    assert math.isfinite(history.history["loss"][0])
    assert not np.allclose(before, after)


def test_learning_rate_passes_through_to_the_wrapped_optimizer():
    optimizer = DPOptimizer(Adam(0.01), 1.0, 1.0)
    assert optimizer.learning_rate == pytest.approx(0.01)
    optimizer.learning_rate = 0.002
    assert optimizer.optimizer.learning_rate == pytest.approx(0.002)
    x, y = _data(40)
    model = _mlp(optimizer)
    # the first epoch sets the best loss; the second cannot beat it by 1e9 and halves the rate
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[plateau])
    assert optimizer.optimizer.learning_rate == pytest.approx(0.001)


def test_save_and_load_keep_the_optimizer_and_the_privacy_spent(tmp_path):
    x, y = _data(40)
    model = _mlp(DPOptimizer(Adam(0.01), 0.7, 1.3, seed=4))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "private.axonal"
    model.save(path)
    loaded = load_model(path)
    optimizer = loaded.optimizer
    assert isinstance(optimizer, DPOptimizer)
    assert (optimizer.l2_norm_clip, optimizer.noise_multiplier, optimizer.seed) == (0.7, 1.3, 4)
    assert isinstance(optimizer.optimizer, Adam)
    assert optimizer.iterations == model.optimizer.iterations == 10
    assert optimizer.epsilon(1e-3) == pytest.approx(model.optimizer.epsilon(1e-3))
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert optimizer.accountant.steps == 15


def test_a_fresh_process_loads_a_private_model_although_privacy_loads_lazily(tmp_path):
    import pathlib
    import subprocess
    import sys

    x, y = _data(40)
    model = _mlp(DPOptimizer(Adam(0.01), 0.7, 1.3, seed=4))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "private.axonal"
    model.save(path)
    code = (
        "import sys, axonal\n"
        "lazy = 'axonal.privacy' in sys.modules\n"
        f"loaded = axonal.saving.load_model({str(path)!r})\n"
        "print(lazy, type(loaded.optimizer).__name__, int(loaded.optimizer.iterations))\n"
    )
    src = pathlib.Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.split() == ["False", "DPOptimizer", "5"]


# ---------------------------------------------------------------- bad input


def test_batch_normalization_is_refused_before_any_weight_changes():
    set_random_seed(0)
    model = Sequential([L.Input((4,)), L.Dense(6), L.BatchNormalization(name="bn"), L.Dense(3)])
    model.compile(optimizer=DPOptimizer("sgd", 1.0, 1.0), loss="mse")
    before = [v.data.copy() for v in model.weights]
    x, y = _data()
    with pytest.raises(ValueError, match=r"Layer 'bn' \(BatchNormalization\).*LayerNormalization"):
        model.fit(x, np.zeros((len(x), 3)), verbose=0)
    for b, v in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(b, v.data)
    with pytest.raises(ValueError, match="whole batch"):
        per_example_gradients(model, x, np.zeros((len(x), 3)))
    # found inside wrappers and nested models too
    inner = Sequential([L.Input((5, 4)), L.TimeDistributed(L.BatchNormalization(name="deep"))])
    nested = Sequential([L.Input((5, 4)), inner, L.Flatten(), L.Dense(3)])
    nested.compile(optimizer=DPOptimizer("sgd", 1.0, 1.0), loss="mse")
    with pytest.raises(ValueError, match="'deep'"):
        nested.fit(np.zeros((4, 5, 4)), np.zeros((4, 3)), verbose=0)


def test_a_frozen_batch_normalization_uses_moving_statistics_and_is_allowed():
    set_random_seed(0)
    norm = L.BatchNormalization()
    model = Sequential([L.Input((4,)), L.Dense(6), norm, L.Dense(3)])
    norm.trainable = False
    model.compile(optimizer=DPOptimizer("sgd", 1.0, 1.0, seed=0), loss="mse")
    x, y = _data()
    model.fit(x, np.zeros((len(x), 3)), verbose=0)


@pytest.mark.parametrize("clip", [0, -1.0, float("inf"), float("nan"), "1", True, None])
def test_clip_must_be_positive(clip):
    with pytest.raises(ValueError, match="l2_norm_clip"):
        DPOptimizer("sgd", l2_norm_clip=clip, noise_multiplier=1.0)


@pytest.mark.parametrize("noise", [-0.1, float("inf"), float("nan"), "1", None])
def test_noise_must_be_non_negative(noise):
    with pytest.raises(ValueError, match="noise_multiplier"):
        DPOptimizer("sgd", l2_norm_clip=1.0, noise_multiplier=noise)


@pytest.mark.parametrize("delta", [0, 1, -0.5, 1.5, float("nan"), "0.1"])
def test_delta_must_lie_between_0_and_1(delta):
    with pytest.raises(ValueError, match="delta"):
        EpsilonLogger(delta=delta)
    with pytest.raises(ValueError, match="delta"):
        compute_epsilon(100, 10, 1.0, 1, delta)
    with pytest.raises(ValueError, match="delta"):
        DPOptimizer("sgd", 1.0, 1.0).epsilon(delta)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="sampling"):
        DPOptimizer("sgd", 1.0, 1.0, sampling="random")
    with pytest.raises(ValueError, match="seed"):
        DPOptimizer("sgd", 1.0, 1.0, seed=-1)
    with pytest.raises(ValueError, match="another DPOptimizer"):
        DPOptimizer(DPOptimizer("sgd", 1.0, 1.0), 1.0, 1.0)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        DPOptimizer("sgdd", 1.0, 1.0)


def test_epsilon_logger_needs_a_private_optimizer():
    x, y = _data()
    model = _mlp("sgd")
    with pytest.raises(ValueError, match="DPOptimizer"):
        model.fit(x, y, verbose=0, callbacks=[EpsilonLogger(delta=1e-5)])


def test_an_operation_without_a_per_example_rule_is_named():
    class SumScale(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (3,), "ones")

        def call(self, inputs, training=False):
            from axonal import ops

            return inputs * ops.sum(self.w)  # a weight reduced before it meets the batch

    set_random_seed(0)
    model = Sequential([L.Input((3,)), SumScale(name="sum_scale")])
    model.compile(optimizer=DPOptimizer("sgd", 1.0, 1.0), loss="mse")
    x = np.ones((4, 3), "float32")
    with pytest.raises(ValueError, match=r"sum_scale/w.*Sum"):
        model.fit(x, x, verbose=0)


# ---------------------------------------------------------------- noise and the example


def test_float32_noise_is_standard_normal():
    from axonal.privacy.optimizer import gaussian_noise

    z = gaussian_noise(np.random.default_rng(0), 400_001, 1.0, np.float32)
    assert z.dtype == np.float32 and z.shape == (400_001,)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(z**4) - 3) < 0.05  # the normal's kurtosis
    # tail mass beyond 3 sigma: 0.0027 for a normal
    assert abs(np.mean(np.abs(z) > 3) - 0.0027) < 0.0004
    # neighbours (a Box-Muller pair lands half the array apart) are uncorrelated
    assert abs(np.corrcoef(z[:200_000], z[200_001:400_001])[0, 1]) < 0.01
    doubles = gaussian_noise(np.random.default_rng(0), 1000, 2.0, np.float64)
    assert doubles.dtype == np.float64 and 1.8 < doubles.std() < 2.2


def test_private_digits_example_reaches_its_budget_and_learns():
    pytest.importorskip("sklearn")
    import runpy
    from pathlib import Path

    set_random_seed(0)
    example = Path(__file__).resolve().parents[1] / "examples" / "private_digits.py"
    script = runpy.run_path(str(example), run_name="__main__")
    assert script["epsilon"] <= 3.0 and script["epsilon"] == pytest.approx(3.0, rel=0.01)
    # README: median 0.936 private against 0.972 non-private over seeds 0-6
    assert script["accuracy"] >= 0.90
    assert script["baseline_accuracy"] >= 0.95
