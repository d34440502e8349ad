"""axonal.explain: attributions against PyTorch's autograd and hand computations, completeness of
integrated gradients, features the model provably ignores, bad input, plots and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from axonal import explain
from axonal.layers import (
    LSTM,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    MaxPooling2D,
)
from axonal.models import Model, Sequential
from axonal.utils import clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_state():
    clear_session()
    set_random_seed(0)
    yield
    clear_session()


def _mlp(features=6, classes=4, activation="tanh"):
    return Sequential(
        [
            Input((features,)),
            Dense(16, activation=activation),
            Dense(classes, activation="softmax"),
        ]
    )


def _cnn(channels=1):
    return Sequential(
        [
            Input((8, 8, channels)),
            Conv2D(6, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )


def _rows(n=5, features=6, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal((n, features)) * scale).astype("float32")


def _images(n=4, channels=1, seed=1):
    return np.random.default_rng(seed).random((n, 8, 8, channels)).astype("float32")


# ---------------------------------------------------------------- PyTorch as the oracle


def _torch_mlp(model, output):
    torch = pytest.importorskip("torch")
    k1, b1, k2, b2 = (torch.tensor(w) for w in model.get_weights())

    def forward(x):
        hidden = torch.tanh(x @ k1 + b1)
        logits = hidden @ k2 + b2
        return logits if output == "logit" else torch.softmax(logits, dim=1)

    return forward


def _torch_cnn(model):
    torch = pytest.importorskip("torch")
    kernel, bias, dense_kernel, dense_bias = model.get_weights()
    # Keras kernel (kh, kw, in, out) -> torch (out, in, kh, kw)
    conv_kernel = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
    conv_bias = torch.tensor(bias)
    k, b = torch.tensor(dense_kernel), torch.tensor(dense_bias)

    def forward(x):
        nchw = x.permute(0, 3, 1, 2)
        hidden = torch.relu(torch.nn.functional.conv2d(nchw, conv_kernel, conv_bias, padding=1))
        pooled = torch.nn.functional.max_pool2d(hidden, 2)
        # back to channels-last before flattening, the order axonal's Flatten uses
        flat = pooled.permute(0, 2, 3, 1).reshape(len(x), -1)
        return torch.softmax(flat @ k + b, dim=1)

    return forward


def _torch_input_gradient(forward, x, targets):
    torch = pytest.importorskip("torch")
    inputs = torch.tensor(x, requires_grad=True)
    scores = forward(inputs)
    picked = scores[torch.arange(len(x)), torch.tensor(targets)]
    picked.sum().backward()
    return inputs.grad.numpy(), scores.detach().numpy()


@pytest.mark.parametrize("output", ["model", "logit"])
def test_saliency_of_an_mlp_equals_torch_input_gradient(output):
    model = _mlp()
    x = _rows()
    forward = _torch_mlp(model, output)
    _, scores = _torch_input_gradient(forward, x, [0] * len(x))
    predicted = scores.argmax(axis=1)
    expected, _ = _torch_input_gradient(forward, x, predicted)
    got = explain.saliency(model, x, output=output)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # an explicit target per row, and one for every row
    targets = np.array([3, 0, 1, 2, 3])
    expected, _ = _torch_input_gradient(forward, x, targets)
    np.testing.assert_allclose(
        explain.saliency(model, x, target=targets, output=output), expected, rtol=1e-4, atol=1e-6
    )
    expected, _ = _torch_input_gradient(forward, x, [2] * len(x))
    np.testing.assert_allclose(
        explain.saliency(model, x, target=2, output=output), expected, rtol=1e-4, atol=1e-6
    )


def test_saliency_of_a_cnn_equals_torch_input_gradient():
    model = _cnn()
    x = _images(6)
    forward = _torch_cnn(model)
    _, scores = _torch_input_gradient(forward, x, [0] * len(x))
    expected, _ = _torch_input_gradient(forward, x, scores.argmax(axis=1))
    got = explain.saliency(model, x)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    # gradient times input is that gradient times the input
    got = explain.gradient_x_input(model, x)
    np.testing.assert_allclose(got, expected * x, rtol=1e-4, atol=1e-7)


def test_integrated_gradients_equal_a_hand_written_torch_version():
    torch = pytest.importorskip("torch")
    model = _mlp()
    x = _rows(3, scale=2.0)
    baseline = np.full(6, 0.5, dtype="float32")
    steps = 20
    forward = _torch_mlp(model, "model")
    targets = np.array([1, 3, 0])
    # trapezoid rule on [0, 1], written out
    alphas = np.linspace(0.0, 1.0, steps)
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] /= 2
    total = np.zeros_like(x, dtype=np.float64)
    for alpha, weight in zip(alphas, weights, strict=True):
        point = torch.tensor(
            (baseline + alpha * (x - baseline)).astype("float32"), requires_grad=True
        )
        forward(point)[torch.arange(3), torch.tensor(targets)].sum().backward()
        total += weight * point.grad.numpy()
    expected = (x - baseline) * total
    got, gap = explain.integrated_gradients(
        model, x, target=targets, baseline=baseline, steps=steps
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    assert gap.shape == (3,)


# ---------------------------------------------------------------- completeness


def _completeness(model, x, steps=200, **options):
    attributions, gap = explain.integrated_gradients(model, x, steps=steps, **options)
    flat = attributions.reshape(len(x), -1).sum(axis=1)
    return attributions, gap, flat


def _difference(model, x, baseline, targets):
    rows = np.arange(len(x))
    at_x = model.predict(x, verbose=0)[rows, targets]
    return at_x - model.predict(baseline, verbose=0)[rows, targets]


def test_integrated_gradients_are_complete_within_one_percent_on_an_mlp():
    model = _mlp(activation="relu")
    x = _rows(8, scale=3.0)
    targets = model.predict(x, verbose=0).argmax(axis=1)
    attributions, gap, total = _completeness(model, x)
    difference = _difference(model, x, np.zeros_like(x), targets)
    # the gap is what it says: the sum of the attributions minus f(x) - f(baseline)
    np.testing.assert_allclose(gap, total - difference, atol=1e-6)
    assert np.all(np.abs(difference) > 0.01), difference  # a difference worth attributing
    assert np.all(np.abs(gap) <= 0.01 * np.abs(difference)), (gap, difference)


def test_integrated_gradients_are_complete_within_one_percent_on_a_cnn():
    model = _cnn()
    x = _images(6) * 3
    baseline = np.full((8, 8, 1), 0.2, dtype="float32")
    targets = model.predict(x, verbose=0).argmax(axis=1)
    _, gap, total = _completeness(model, x, baseline=baseline)
    difference = _difference(model, x, np.broadcast_to(baseline, x.shape), targets)
    assert np.all(np.abs(difference) > 0.01), difference
    assert np.all(np.abs(gap) <= 0.01 * np.abs(difference)), (gap, difference)


@pytest.mark.parametrize("method", explain.METHODS)
def test_every_quadrature_converges(method):
    model = _mlp()
    x = _rows(4, scale=2.0)
    _, gap, _ = _completeness(model, x, method=method, steps=200)
    difference = _difference(model, x, np.zeros_like(x), model.predict(x, verbose=0).argmax(1))
    assert np.all(np.abs(gap) <= 0.01 * np.abs(difference) + 1e-6), (method, gap, difference)


def test_integrated_gradients_of_a_linear_model_are_exact():
    model = Sequential([Input((3,)), Dense(1)])
    kernel = np.array([[2.0], [-1.0], [0.5]], dtype="float32")
    model.set_weights([kernel, np.array([0.3], dtype="float32")])
    x = _rows(4, features=3)
    baseline = np.array([1.0, 1.0, 1.0], dtype="float32")
    for method in ("riemann_left", "gausslegendre"):
        attributions, gap = explain.integrated_gradients(
            model, x, baseline=baseline, steps=3, method=method
        )
        np.testing.assert_allclose(attributions, (x - baseline) * kernel[:, 0], rtol=1e-6)
        np.testing.assert_allclose(gap, 0.0, atol=1e-5)


def test_path_points_integrate_polynomials():
    # each rule's weights sum to 1 and integrate a^3 over [0, 1] (= 1/4) as its order promises
    for method in explain.METHODS:
        alphas, weights = explain.path_points(method, 400)
        assert weights.sum() == pytest.approx(1.0)
        assert (alphas**3 * weights).sum() == pytest.approx(0.25, abs=3e-3)
    alphas, weights = explain.path_points("gausslegendre", 2)
    assert (alphas**3 * weights).sum() == pytest.approx(0.25, abs=1e-15)
    alphas, weights = explain.path_points("riemann_trapezoid", 3)
    np.testing.assert_allclose(alphas, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.25])


def test_chunking_does_not_change_the_result():
    model = _cnn()
    x = _images(5)
    whole, gap = explain.integrated_gradients(model, x, steps=16, internal_batch_size=10_000)
    # one row per pass (8 points of 16), and several rows per pass
    for chunk in (8, 37):
        chunked, chunk_gap = explain.integrated_gradients(
            model, x, steps=16, internal_batch_size=chunk
        )
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(chunk_gap, gap, atol=1e-6)
    np.testing.assert_allclose(
        explain.saliency(model, x, internal_batch_size=2),
        explain.saliency(model, x),
        rtol=1e-5,
        atol=1e-8,
    )
    np.testing.assert_allclose(
        explain.smoothgrad(model, x, seed=3, samples=6, internal_batch_size=4),
        explain.smoothgrad(model, x, seed=3, samples=6),
        rtol=1e-5,
        atol=1e-8,
    )


# ---------------------------------------------------------------- ignored features


def test_a_feature_the_model_ignores_gets_zero_attribution():
    model = _mlp()
    kernel, bias, k2, b2 = model.get_weights()
    kernel[2] = 0.0  # feature 2 reaches no hidden unit
    model.set_weights([kernel, bias, k2, b2])
    x = _rows(6, scale=2.0)
    results = {
        "saliency": explain.saliency(model, x),
        "gradient_x_input": explain.gradient_x_input(model, x),
        "integrated_gradients": explain.integrated_gradients(model, x, baseline=0.5)[0],
        "integrated_gradients from a sample": explain.integrated_gradients(
            model, x, baseline=np.linspace(-1, 1, 6)
        )[0],
        "smoothgrad": explain.smoothgrad(model, x, seed=0),
    }
    for name, attributions in results.items():
        assert np.all(attributions[:, 2] == 0.0), name
        assert np.all(np.abs(attributions[:, [0, 1, 3, 4, 5]]).sum(axis=0) > 0), name
    y = model.predict(x, verbose=0).argmax(axis=1)
    importance = explain.permutation_importance(model, x, y, repeats=3, seed=0)
    assert np.all(importance.importances[2] == 0.0)


def test_an_ignored_image_channel_gets_zero_attribution():
    model = _cnn(channels=2)
    kernel, bias, k2, b2 = model.get_weights()
    kernel[:, :, 1, :] = 0.0  # the second channel feeds no filter
    model.set_weights([kernel, bias, k2, b2])
    x = _images(3, channels=2)
    attributions, _ = explain.integrated_gradients(model, x, steps=10)
    assert np.all(attributions[..., 1] == 0.0)
    assert np.abs(attributions[..., 0]).sum() > 0


# ---------------------------------------------------------------- smoothgrad


def test_smoothgrad_is_the_mean_saliency_of_noisy_copies():
    model = _mlp()
    x = _rows(3)
    samples, noise = 5, 0.2
    got = explain.smoothgrad(model, x, samples=samples, noise=noise, seed=7)
    targets = model.predict(x, verbose=0).argmax(axis=1)
    drawn = np.random.default_rng(7).standard_normal((3, samples, 6)).astype("float32")
    spread = x.max(axis=1) - x.min(axis=1)
    expected = np.zeros_like(x)
    for s in range(samples):
        noisy = x + noise * spread[:, None] * drawn[:, s]
        expected += explain.saliency(model, noisy, target=targets) / samples
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    # no noise: plain saliency; same seed: same result
    np.testing.assert_allclose(
        explain.smoothgrad(model, x, noise=0.0), explain.saliency(model, x), rtol=1e-5, atol=1e-8
    )
    np.testing.assert_array_equal(got, explain.smoothgrad(model, x, samples=5, noise=0.2, seed=7))


# ---------------------------------------------------------------- models and state


def test_a_functional_model_with_two_inputs_gets_a_list():
    left, right = Input((3,), name="left"), Input((2,), name="right")
    joined = Concatenate()([Dense(4, activation="tanh")(left), right])
    model = Model([left, right], Dense(3, activation="softmax")(joined))
    xs = [_rows(4, features=3), _rows(4, features=2, seed=5)]
    attributions, gap = explain.integrated_gradients(model, xs, steps=100)
    assert [a.shape for a in attributions] == [(4, 3), (4, 2)]
    targets = model.predict(xs, verbose=0).argmax(axis=1)
    rows = np.arange(4)
    zeros = [np.zeros_like(a) for a in xs]
    difference = (
        model.predict(xs, verbose=0)[rows, targets] - model.predict(zeros, verbose=0)[rows, targets]
    )
    total = attributions[0].sum(axis=1) + attributions[1].sum(axis=1)
    np.testing.assert_allclose(gap, total - difference, atol=1e-6)
    assert np.all(np.abs(gap) <= 0.01 * np.abs(difference) + 1e-6)
    grads = explain.saliency(model, {"left": xs[0], "right": xs[1]})
    assert [g.shape for g in grads] == [(4, 3), (4, 2)]
    with pytest.raises(ValueError, match="baseline must be None, a number, or a list of 2"):
        explain.integrated_gradients(model, xs, baseline=np.zeros(3))


def test_explaining_changes_nothing_in_the_model_and_runs_in_inference_mode():
    model = Sequential(
        [Input((6,)), Dense(8), BatchNormalization(), Dropout(0.5), Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = _rows(20)
    model.fit(x, np.arange(20) % 3, epochs=1, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    grads_before = [v.grad for v in model.weights]
    flags = [v.requires_grad for v in model.weights]
    first = explain.saliency(model, x)
    explain.integrated_gradients(model, x, steps=5)
    explain.smoothgrad(model, x, samples=2, seed=0)
    # Dropout off and batch normalization on its moving statistics: deterministic
    np.testing.assert_array_equal(explain.saliency(model, x), first)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert [v.requires_grad for v in model.weights] == flags
    assert all(a is b for a, b in zip(grads_before, [v.grad for v in model.weights], strict=True))


def test_a_regression_model_attributes_its_single_output():
    model = Sequential([Input((4,)), Dense(5, activation="tanh"), Dense(1)])
    x = _rows(3, features=4)
    attributions, gap = explain.integrated_gradients(model, x, steps=100)
    at_x = model.predict(x, verbose=0)[:, 0]
    difference = at_x - model.predict(np.zeros_like(x), verbose=0)[:, 0]
    np.testing.assert_allclose(attributions.sum(axis=1) - difference, gap, atol=1e-6)
    with pytest.raises(ValueError, match="target 1 .* expected 0 \\(the only output\\)"):
        explain.saliency(model, x, target=1)


# ---------------------------------------------------------------- permutation importance


def test_permutation_importance_of_a_linear_model_matches_the_expected_damage():
    model = Sequential([Input((3,)), Dense(1)])
    weights = np.array([[3.0], [1.0], [0.0]], dtype="float32")
    model.set_weights([weights, np.zeros(1, dtype="float32")])
    x = np.random.default_rng(0).standard_normal((4000, 3)).astype("float32")
    y = x @ weights
    result = explain.permutation_importance(model, x, y, metric="mse", repeats=3, seed=0)
    assert result.baseline_score == pytest.approx(0.0, abs=1e-10)
    # shuffling feature j adds w_j^2 (x_j - x_j[perm])^2, whose mean is 2 w_j^2 var(x_j)
    expected = 2 * weights[:, 0] ** 2 * x.var(axis=0)
    np.testing.assert_allclose(result.importances_mean, expected, rtol=0.08, atol=1e-9)
    assert result.importances.shape == (3, 3) and result.importances_std.shape == (3,)
    assert np.all(result.importances[2] == 0.0)
    mae = explain.permutation_importance(model, x, y, metric="mae", repeats=2, seed=0)
    assert mae.importances_mean[0] > mae.importances_mean[1] > mae.importances_mean[2] == 0.0


def test_permutation_importance_accuracy_loss_and_a_callable():
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    # class 1 whenever feature 0 is positive; features 1 and 2 are ignored
    model.set_weights([np.array([[-5.0, 5.0], [0, 0], [0, 0]], "float32"), np.zeros(2, "float32")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(1).standard_normal((500, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    accuracy = explain.permutation_importance(model, x, y, repeats=4, seed=0)
    assert accuracy.baseline_score == 1.0
    assert 0.35 < accuracy.importances_mean[0] < 0.65  # shuffled: about half the rows flip
    np.testing.assert_array_equal(accuracy.importances_mean[1:], 0.0)
    loss = explain.permutation_importance(model, x, y, metric="loss", repeats=2, seed=0)
    assert loss.importances_mean[0] > 0.5 and np.all(loss.importances_mean[1:] == 0.0)
    assert loss.baseline_score == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)

    def agreement(y_true, y_pred):
        return float(np.mean(y_pred.argmax(axis=1) == y_true))

    custom = explain.permutation_importance(model, x, y, metric=agreement, repeats=4, seed=0)
    np.testing.assert_allclose(custom.importances, accuracy.importances)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, x: explain.saliency(m, x, target=4), ValueError, r"target 4 \(row 0\)"),
        (lambda m, x: explain.saliency(m, x, target=-1), ValueError, "out of range"),
        (
            lambda m, x: explain.integrated_gradients(m, x, target=[0, 1, 9, 0, 0]),
            ValueError,
            r"target 9 \(row 2\) is out of range: expected a class index in \[0, 3\]",
        ),
        (lambda m, x: explain.saliency(m, x, target=[0, 1]), ValueError, "one int per row"),
        (lambda m, x: explain.saliency(m, x, target=1.5), ValueError, "target must"),
        (lambda m, x: explain.saliency(m, x, target=True), ValueError, "target must"),
        (lambda m, x: explain.saliency(m, x[:, :4]), ValueError, "expects samples of shape"),
        (lambda m, x: explain.saliency(m, x[0]), ValueError, "expects samples of shape"),
        (lambda m, x: explain.integrated_gradients(m, x, steps=0), ValueError, "steps must be"),
        (lambda m, x: explain.integrated_gradients(m, x, steps=-3), ValueError, "steps must be"),
        (
            lambda m, x: explain.integrated_gradients(m, x, steps=1),
            ValueError,
            "at least 2 for method='riemann_trapezoid'",
        ),
        (
            lambda m, x: explain.integrated_gradients(m, x, method="simpson"),
            ValueError,
            "method must be one of riemann_trapezoid",
        ),
        (
            lambda m, x: explain.integrated_gradients(m, x, baseline=np.zeros(4)),
            ValueError,
            r"baseline must have the shape of one sample \(6,\)",
        ),
        (
            lambda m, x: explain.integrated_gradients(m, x, internal_batch_size=0),
            ValueError,
            "internal_batch_size",
        ),
        (lambda m, x: explain.saliency(m, x, output="probability"), ValueError, "output must"),
        (lambda m, x: explain.smoothgrad(m, x, samples=0), ValueError, "samples must"),
        (lambda m, x: explain.smoothgrad(m, x, noise=-0.1), ValueError, "noise must"),
        (lambda m, x: explain.saliency(m, np.full_like(x, np.nan)), ValueError, "NaN"),
        (lambda m, x: explain.saliency("model", x), TypeError, "explains an axonal Model"),
        (
            lambda m, x: explain.permutation_importance(m, x, np.zeros(5), metric="auc"),
            ValueError,
            "metric must be a function or one of accuracy",
        ),
        (
            lambda m, x: explain.permutation_importance(m, x, np.zeros(5), repeats=0),
            ValueError,
            "repeats must be",
        ),
        (
            lambda m, x: explain.permutation_importance(m, x, np.zeros(3)),
            ValueError,
            "cardinality",
        ),
        (
            lambda m, x: explain.permutation_importance(m, x, np.zeros(5), metric="loss"),
            ValueError,
            "needs a compiled model",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(_mlp(), _rows())


def test_models_that_cannot_be_explained_say_why():
    x = _rows(2, features=3)
    linear = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(ValueError, match="output='logit' .* does not end with one"):
        explain.saliency(linear, x, output="logit")
    tokens = Sequential([Input((4,), dtype="int32"), Embedding(10, 3), LSTM(2), Dense(2)])
    with pytest.raises(ValueError, match="holds integers"):
        explain.saliency(tokens, np.zeros((2, 4), dtype="int32"))
    inputs = Input((3,))
    two = Model(inputs, [Dense(2)(inputs), Dense(1)(inputs)])
    with pytest.raises(ValueError, match="has 2 outputs"):
        explain.saliency(two, x)
    with pytest.raises(ValueError, match="tabular models with one input"):
        explain.permutation_importance(_cnn(), _images(2), np.zeros(2))


# ---------------------------------------------------------------- plots


def test_image_heat_maps_and_feature_bars(tmp_path):
    pytest.importorskip("matplotlib")
    import axonal.plot

    attributions = np.random.default_rng(0).standard_normal((3, 8, 8, 2))
    figure = axonal.plot.attributions(attributions, _images(3, channels=2), path=tmp_path / "h.png")
    panels = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in panels] == ["sample 0", "sample 1", "sample 2"]
    # the heat map is the attribution summed over channels, on a scale symmetric about 0
    heat = panels[1].get_images()[-1]
    np.testing.assert_allclose(heat.get_array(), attributions[1].sum(axis=-1))
    low, high = heat.get_clim()
    assert low == -high == -np.abs(attributions[1].sum(axis=-1)).max()
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")

    values = np.array([[0.1, -2.0, 0.5, 1.0], [3.0, 0.0, 0.0, -0.2]])
    figure = axonal.plot.attributions(values, feature_names=["a", "b", "c", "d"], top=3)
    first = figure.axes[0]
    # largest magnitude on top (bars are drawn bottom up)
    assert [t.get_text() for t in first.get_yticklabels()] == ["c", "d", "b"]
    assert [p.get_width() for p in first.patches] == [0.5, 1.0, -2.0]
    assert len(axonal.plot.attributions(values[0]).axes) == 1


def test_plot_bad_input():
    pytest.importorskip("matplotlib")
    import axonal.plot

    with pytest.raises(ValueError, match="max_samples=16"):
        axonal.plot.attributions(np.zeros((17, 3)))
    with pytest.raises(ValueError, match="name each of the 3 features"):
        axonal.plot.attributions(np.zeros((2, 3)), feature_names=["a"])
    with pytest.raises(ValueError, match="inputs must have the attributions' shape"):
        axonal.plot.attributions(np.zeros((2, 8, 8)), np.zeros((2, 8, 7)))
    with pytest.raises(ValueError, match="feature_names applies to feature vectors"):
        axonal.plot.attributions(np.zeros((1, 8, 8)), feature_names=["a"])


# ---------------------------------------------------------------- command line


def _table(path: Path, rows: int = 200, seed: int = 0) -> Path:
    """'label' is yes when 'strong' is positive; 'noise' is unrelated."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["noise", "strong", "label"])
        for _ in range(rows):
            noise, strong = rng.standard_normal(2)
            writer.writerow([f"{noise:.3f}", f"{strong:.3f}", "yes" if strong > 0 else "no"])
    return path


def test_cli_explain_prints_the_top_features_of_each_row(tmp_path, capsys):
    pytest.importorskip("axonal.saving")
    from axonal.cli import main

    data = _table(tmp_path / "t.csv")
    model_path = tmp_path / "m.axonal"
    argv = ["train", "--data", str(data), "--target", "label", "--out", str(model_path)]
    assert main([*argv, "--epochs", "40", "--verbose", "0"]) == 0
    capsys.readouterr()
    few = _table(tmp_path / "few.csv", rows=4, seed=1)
    assert main(["explain", str(model_path), str(few), "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    with open(few, newline="", encoding="utf-8") as handle:
        expected = [row[2] for row in list(csv.reader(handle))[1:]]
    for number, (line, label) in enumerate(zip(lines, expected, strict=True)):
        # line 2 is the first data row; the predicted label, then the one top feature: strong
        assert line.startswith(f"line {number + 2}: {label} (")
        assert line.split()[-2] == "strong"
    assert main(["explain", str(model_path), str(few), "--method", "saliency"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    status = main(["explain", str(model_path), str(few), "--method", "saliency", "--steps", "9"])
    assert status == 2
    assert "--steps applies to --method integrated_gradients only" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    missing.write_text("noise,label\n0.1,yes\n", encoding="utf-8")
    assert main(["explain", str(model_path), str(missing)]) == 2
    assert "no column 'strong'" in capsys.readouterr().err


# ---------------------------------------------------------------- the example


@pytest.mark.slow
def test_the_explain_digits_example_runs_quickly(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import runpy
    import sys

    out = tmp_path / "heat.png"
    example = Path(__file__).resolve().parents[1] / "examples" / "explain_digits.py"
    monkeypatch.setattr(sys, "argv", [str(example), "--quick", "--out", str(out)])
    script = runpy.run_path(str(example), run_name="__main__")
    assert out.read_bytes().startswith(b"\x89PNG")
    assert script["attributions"].shape == (8, 8, 8, 1)
    assert "Saved the heat maps" in capsys.readouterr().out


def test_baselines_given_as_a_number_a_sample_or_a_batch_agree():
    model = _mlp()
    x = _rows(3)
    as_number = explain.integrated_gradients(model, x, baseline=0.5, steps=8)
    for baseline in (np.float32(0.5), np.full(6, 0.5), np.full((3, 6), 0.5, dtype="float64")):
        same = explain.integrated_gradients(model, x, baseline=baseline, steps=8)
        np.testing.assert_allclose(same.attributions, as_number.attributions, rtol=1e-6)
        np.testing.assert_allclose(same.gap, as_number.gap, atol=1e-7)
