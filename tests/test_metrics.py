"""Behaviour tests for axonal.metrics: values against scikit-learn, exact epoch means, resolution
of compile-time identifiers, errors and the config round trip."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonal import metrics

skm = pytest.importorskip("sklearn.metrics")

N_ROWS = 23
N_CLASSES = 7


def _rng(seed=0):
    return np.random.default_rng(seed)


def _weights(rng, n=N_ROWS):
    return rng.uniform(0.0, 2.0, size=n)


def _classification_data(rng, n=N_ROWS, classes=N_CLASSES):
    labels = rng.integers(0, classes, size=n)
    scores = rng.random((n, classes)).astype(np.float32)
    one_hot = np.eye(classes, dtype=np.float32)[labels]
    return labels, one_hot, scores


def _regression_data(rng, n=N_ROWS, d=3):
    y_true = rng.normal(size=(n, d))
    y_pred = (y_true + rng.normal(scale=0.5, size=(n, d))).astype(np.float32)
    return y_true, y_pred


def _single_update(metric, y_true, y_pred, sample_weight=None):
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return metric.result()


# ------------------------------------------------------------------------------------------
# Values against scikit-learn
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_matches_sklearn(weighted):
    rng = _rng(1)
    y_true = rng.integers(0, 3, size=(N_ROWS, 1))
    y_pred = rng.integers(0, 3, size=(N_ROWS, 1)).astype(np.float32)
    sw = _weights(rng) if weighted else None
    got = _single_update(metrics.Accuracy(), y_true, y_pred, sw)
    assert got == pytest.approx(skm.accuracy_score(y_true[:, 0], y_pred[:, 0], sample_weight=sw))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("true_shape", ["column", "flat"])
def test_binary_accuracy_matches_sklearn(weighted, threshold, true_shape):
    rng = _rng(2)
    labels = rng.integers(0, 2, size=N_ROWS)
    probs = rng.random((N_ROWS, 1)).astype(np.float32)
    y_true = labels[:, None] if true_shape == "column" else labels
    sw = _weights(rng) if weighted else None
    metric = metrics.BinaryAccuracy(threshold=threshold)
    got = _single_update(metric, y_true, probs, sw)
    expected = skm.accuracy_score(labels, probs[:, 0] > threshold, sample_weight=sw)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_categorical_accuracy_matches_sklearn(weighted):
    rng = _rng(3)
    labels, one_hot, scores = _classification_data(rng)
    sw = _weights(rng) if weighted else None
    got = _single_update(metrics.CategoricalAccuracy(), one_hot, scores, sw)
    expected = skm.accuracy_score(labels, scores.argmax(axis=1), sample_weight=sw)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_shape", [(N_ROWS,), (N_ROWS, 1)])
@pytest.mark.parametrize("label_dtype", [np.int64, np.float32])
def test_sparse_categorical_accuracy_matches_sklearn(weighted, label_shape, label_dtype):
    rng = _rng(4)
    labels, _, scores = _classification_data(rng)
    sw = _weights(rng) if weighted else None
    y_true = labels.reshape(label_shape).astype(label_dtype)
    got = _single_update(metrics.SparseCategoricalAccuracy(), y_true, scores, sw)
    expected = skm.accuracy_score(labels, scores.argmax(axis=1), sample_weight=sw)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracies_match_sklearn(weighted, k):
    rng = _rng(5)
    labels, one_hot, scores = _classification_data(rng)
    sw = _weights(rng) if weighted else None
    expected = skm.top_k_accuracy_score(
        labels, scores, k=k, labels=np.arange(N_CLASSES), sample_weight=sw
    )
    dense = _single_update(metrics.TopKCategoricalAccuracy(k=k), one_hot, scores, sw)
    sparse = _single_update(metrics.SparseTopKCategoricalAccuracy(k=k), labels, scores, sw)
    sparse_column = _single_update(
        metrics.SparseTopKCategoricalAccuracy(k=k), labels[:, None], scores, sw
    )
    assert dense == pytest.approx(expected)
    assert sparse == pytest.approx(expected)
    assert sparse_column == pytest.approx(expected)


def test_top_k_counts_ties_at_the_boundary_as_in():
    # Keras (TF in_top_k) rule: a label whose score equals the k-th largest is in the top k.
    scores = np.array([[0.5, 0.2, 0.2, 0.1]], dtype=np.float32)
    assert metrics.sparse_top_k_categorical_accuracy([2], scores, k=2).tolist() == [1.0]
    assert metrics.sparse_top_k_categorical_accuracy([3], scores, k=2).tolist() == [0.0]
    # k at or beyond the number of classes: everything is in
    assert metrics.sparse_top_k_categorical_accuracy([3], scores, k=9).tolist() == [1.0]


def _sklearn_rmse(y_true, y_pred, sample_weight=None):
    return math.sqrt(skm.mean_squared_error(y_true, y_pred, sample_weight=sample_weight))


REGRESSION_CASES = [
    (metrics.MeanSquaredError, skm.mean_squared_error, 1.0),
    (metrics.MeanAbsoluteError, skm.mean_absolute_error, 1.0),
    (metrics.RootMeanSquaredError, _sklearn_rmse, 1.0),
    # Keras reports MAPE in percent
    (metrics.MeanAbsolutePercentageError, skm.mean_absolute_percentage_error, 100.0),
    (metrics.MeanSquaredLogarithmicError, skm.mean_squared_log_error, 1.0),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("metric_cls", "sk_fn", "scale"), REGRESSION_CASES)
def test_regression_metrics_match_sklearn(metric_cls, sk_fn, scale, weighted):
    rng = _rng(6)
    y_true, y_pred = _regression_data(rng)
    if metric_cls in (metrics.MeanSquaredLogarithmicError, metrics.MeanAbsolutePercentageError):
        # MSLE needs non-negative data; MAPE targets away from zero (epsilon differs by library)
        y_true = np.abs(y_true) + 0.5
        y_pred = np.abs(y_pred) + 0.5
    sw = _weights(rng) if weighted else None
    got = _single_update(metric_cls(), y_true, y_pred, sw)
    # sklearn's multi-output default is the uniform average over columns, i.e. the mean over
    # the last axis per sample, as in Keras
    expected = scale * sk_fn(y_true, y_pred, sample_weight=sw)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("metric_cls", "sk_fn", "scale"), REGRESSION_CASES)
def test_regression_metrics_on_flat_and_column_targets(metric_cls, sk_fn, scale):
    rng = _rng(7)
    y_true = np.abs(rng.normal(size=N_ROWS)) + 0.5
    y_pred = (np.abs(rng.normal(size=N_ROWS)) + 0.5).astype(np.float32)
    sw = _weights(rng)
    expected = scale * sk_fn(y_true, y_pred, sample_weight=sw)
    for yt, yp in [
        (y_true, y_pred),
        (y_true[:, None], y_pred),
        (y_true, y_pred[:, None]),
        (y_true[:, None], y_pred[:, None]),
    ]:
        assert _single_update(metric_cls(), yt, yp, sw) == pytest.approx(expected, rel=1e-5)


def test_regression_functions_return_one_value_per_sample():
    rng = _rng(8)
    y_true, y_pred = _regression_data(rng)
    values = metrics.mean_squared_error(y_true, y_pred)
    assert values.shape == (N_ROWS,)
    np.testing.assert_allclose(values, ((y_true - y_pred) ** 2).mean(axis=1), rtol=1e-6)
    assert metrics.mean_absolute_error(y_true[:, 0], y_pred[:, 0]).shape == (N_ROWS,)


# ------------------------------------------------------------------------------------------
# Keras reference values (from Keras's own docstrings)
# ------------------------------------------------------------------------------------------


KERAS_EXAMPLES = [
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], None, 0.75),
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.5),
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None, 0.75),
    (
        metrics.BinaryAccuracy(),
        [[1], [1], [0], [0]],
        [[0.98], [1], [0], [0.6]],
        [1, 0, 0, 1],
        0.5,
    ),
    (
        metrics.CategoricalAccuracy(),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        metrics.SparseCategoricalAccuracy(),
        [[2], [1]],
        [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        metrics.TopKCategoricalAccuracy(k=1),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        metrics.SparseTopKCategoricalAccuracy(k=1),
        [2, 1],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.25),
    (metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.5),
    (metrics.RootMeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.70710678),
    (metrics.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.5),
    (
        metrics.MeanAbsolutePercentageError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        250000000.0,
    ),
    (
        metrics.MeanSquaredLogarithmicError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.12011322,
    ),
]


@pytest.mark.parametrize(
    ("metric", "y_true", "y_pred", "sw", "expected"),
    KERAS_EXAMPLES,
    ids=[type(case[0]).__name__ for case in KERAS_EXAMPLES],
)
def test_keras_docstring_values(metric, y_true, y_pred, sw, expected):
    assert _single_update(metric, y_true, y_pred, sw) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------------
# Exact epoch means
# ------------------------------------------------------------------------------------------


def _all_metric_cases(rng):
    labels, one_hot, scores = _classification_data(rng)
    y_true_reg, y_pred_reg = _regression_data(rng)
    positive_true = np.abs(y_true_reg) + 0.5
    positive_pred = np.abs(y_pred_reg) + 0.5
    probs = rng.random((N_ROWS, 1)).astype(np.float32)
    bits = rng.integers(0, 2, size=(N_ROWS, 1))
    return [
        (metrics.Accuracy(), labels, scores.argmax(axis=1).astype(np.float32)),
        (metrics.BinaryAccuracy(), bits, probs),
        (metrics.CategoricalAccuracy(), one_hot, scores),
        (metrics.SparseCategoricalAccuracy(), labels, scores),
        (metrics.TopKCategoricalAccuracy(k=3), one_hot, scores),
        (metrics.SparseTopKCategoricalAccuracy(k=3), labels, scores),
        (metrics.MeanSquaredError(), y_true_reg, y_pred_reg),
        (metrics.MeanAbsoluteError(), y_true_reg, y_pred_reg),
        (metrics.RootMeanSquaredError(), y_true_reg, y_pred_reg),
        (metrics.MeanAbsolutePercentageError(), positive_true, positive_pred),
        (metrics.MeanSquaredLogarithmicError(), positive_true, positive_pred),
    ]


def _batched(metric, y_true, y_pred, sw, sizes):
    metric.reset_state()
    start = 0
    for size in sizes:
        stop = start + size
        batch_sw = None if sw is None else sw[start:stop]
        metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=batch_sw)
        start = stop
    return metric.result()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", range(11))
def test_uneven_batches_give_the_exact_epoch_mean(case, weighted):
    rng = _rng(9)
    metric, y_true, y_pred = _all_metric_cases(rng)[case]
    sw = _weights(rng) if weighted else None
    whole = _single_update(metric, y_true, y_pred, sw)
    in_batches = _batched(metric, y_true, y_pred, sw, [10, 10, 3])
    assert in_batches == pytest.approx(whole, rel=1e-12, abs=1e-15)


def test_epoch_mean_is_not_a_mean_of_batch_means():
    y_true = np.array([[0.0]] * 10 + [[0.0]] * 3)
    y_pred = np.array([[1.0]] * 10 + [[3.0]] * 3, dtype=np.float32)
    metric = metrics.MeanAbsoluteError()
    result = _batched(metric, y_true, y_pred, None, [10, 3])
    assert result == pytest.approx((10 * 1.0 + 3 * 3.0) / 13)
    assert result != pytest.approx((1.0 + 3.0) / 2)


def test_rmse_is_the_root_of_the_epoch_mean():
    y_true = np.zeros((4, 1))
    y_pred = np.array([[1.0], [1.0], [3.0], [5.0]])
    metric = metrics.RootMeanSquaredError()
    result = _batched(metric, y_true, y_pred, None, [2, 2])
    assert result == pytest.approx(math.sqrt((1 + 1 + 9 + 25) / 4))
    mean_of_batch_roots = (math.sqrt(1.0) + math.sqrt((9 + 25) / 2)) / 2
    assert result != pytest.approx(mean_of_batch_roots)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_batching_gives_the_same_weighted_mean(sizes, seed):
    rng = _rng(seed)
    n = sum(sizes)
    y_true, y_pred = _regression_data(rng, n=n)
    sw = _weights(rng, n=n)
    metric = metrics.MeanSquaredError()
    whole = _single_update(metric, y_true, y_pred, sw)
    assert _batched(metric, y_true, y_pred, sw, sizes) == pytest.approx(whole, rel=1e-12)


def test_scalar_sample_weight_applies_to_every_sample():
    metric = metrics.Mean()
    metric.update_state(np.ones(10), sample_weight=2.0)
    metric.update_state(np.full(3, 4.0), sample_weight=2.0)
    assert metric.result() == pytest.approx((10 * 1.0 + 3 * 4.0) / 13)


def test_zero_weights_mask_samples_and_empty_result_is_zero():
    metric = metrics.MeanAbsoluteError()
    assert metric.result() == 0.0
    metric.update_state([[0.0], [0.0]], [[1.0], [5.0]], sample_weight=[1.0, 0.0])
    assert metric.result() == 1.0
    all_masked = metrics.MeanAbsoluteError()
    all_masked.update_state([[0.0]], [[1.0]], sample_weight=[0.0])
    assert all_masked.result() == 0.0


def test_per_timestep_sample_weights_weight_each_element():
    y_true = np.zeros((2, 3, 1))
    y_pred = np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])
    sw = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    metric = metrics.MeanAbsoluteError()
    metric.update_state(y_true, y_pred, sample_weight=sw)
    # Keras: per sample, mean over time of weighted errors, counted with its mean weight
    expected = ((1 + 3) / 3 + 6 / 3) / (2 / 3 + 1 / 3)
    assert metric.result() == pytest.approx(expected)


def test_mean_of_values():
    metric = metrics.Mean()
    metric.update_state([1, 3, 5, 7])
    assert metric.result() == 4.0
    metric.reset_state()
    metric.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert metric.result() == 2.0
    metric.reset_state()
    metric.update_state(3.0)
    metric.update_state(np.float32(5.0))
    assert metric.result() == 4.0
    assert isinstance(metric.result(), float)


# ------------------------------------------------------------------------------------------
# State
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(11))
def test_reset_state_forgets_everything(case):
    rng = _rng(10)
    metric, y_true, y_pred = _all_metric_cases(rng)[case]
    fresh_value = _single_update(metric, y_true[5:], y_pred[5:])
    metric.reset_state()
    metric.update_state(y_true[:5], y_pred[:5])
    metric.reset_state()
    assert metric.result() == 0.0
    metric.update_state(y_true[5:], y_pred[5:])
    assert metric.result() == fresh_value


def test_call_updates_and_returns_the_running_result():
    metric = metrics.MeanAbsoluteError()
    assert metric([[0.0]], [[2.0]]) == 2.0
    assert metric([[0.0]], [[4.0]]) == 3.0


# ------------------------------------------------------------------------------------------
# Dtypes and shapes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        metrics.mean_squared_error,
        metrics.mean_absolute_error,
        metrics.mean_absolute_percentage_error,
        metrics.mean_squared_logarithmic_error,
        metrics.accuracy,
        metrics.binary_accuracy,
    ],
)
@pytest.mark.parametrize("pred_dtype", [np.float32, np.float64])
def test_functions_keep_the_prediction_float_type(fn, pred_dtype):
    y_true = np.array([[0], [1], [1]])  # integer targets
    y_pred = np.array([[0.2], [0.9], [0.4]], dtype=pred_dtype)
    assert fn(y_true, y_pred).dtype == pred_dtype


@pytest.mark.parametrize("pred_dtype", [np.float32, np.float64])
def test_class_index_functions_keep_the_prediction_float_type(pred_dtype):
    labels = np.array([0, 2])
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], dtype=pred_dtype)
    one_hot = np.eye(3)[labels]
    assert metrics.sparse_categorical_accuracy(labels, scores).dtype == pred_dtype
    assert metrics.categorical_accuracy(one_hot, scores).dtype == pred_dtype
    assert metrics.top_k_categorical_accuracy(one_hot, scores, k=1).dtype == pred_dtype
    assert metrics.sparse_top_k_categorical_accuracy(labels, scores, k=1).dtype == pred_dtype


def test_sparse_accuracy_on_sequences():
    labels = np.array([[0, 2], [1, 1]])
    scores = np.eye(3)[np.array([[0, 1], [1, 1]])].astype(np.float32)
    values = metrics.sparse_categorical_accuracy(labels, scores)
    assert values.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    metric = metrics.SparseCategoricalAccuracy()
    metric.update_state(labels[..., None], scores)
    assert metric.result() == 0.75


def test_binary_accuracy_with_flat_and_column_shapes_agree():
    y_true = np.array([1, 0, 1, 0])
    y_pred = np.array([[0.9], [0.2], [0.1], [0.7]], dtype=np.float32)
    expected = [1.0, 1.0, 0.0, 0.0]
    assert metrics.binary_accuracy(y_true, y_pred).tolist() == expected
    assert metrics.binary_accuracy(y_true[:, None], y_pred).tolist() == expected
    assert metrics.binary_accuracy(y_true, y_pred[:, 0]).tolist() == expected
    assert metrics.binary_accuracy(y_true.astype(bool), y_pred).tolist() == expected


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def test_batch_size_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"same number of samples.*\(4, 1\).*\(3, 1\)"):
        metrics.MeanSquaredError().update_state(np.zeros((4, 1)), np.zeros((3, 1)))


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"same shape.*\(4, 2\).*\(4, 3\)"):
        metrics.mean_absolute_error(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        metrics.categorical_accuracy(np.zeros(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        metrics.sparse_categorical_accuracy(np.zeros((4, 2)), np.zeros((4, 3)))


def test_sample_weight_of_wrong_length_is_rejected():
    metric = metrics.MeanSquaredError()
    with pytest.raises(ValueError, match=r"sample_weight.*expected shape \(4,\).*\(3,\)"):
        metric.update_state(np.zeros((4, 1)), np.zeros((4, 1)), sample_weight=np.ones(3))
    assert metric.result() == 0.0  # nothing was accumulated


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metrics.sparse_top_k_categorical_accuracy([5], [[0.1, 0.2, 0.7]], k=1)
    with pytest.raises(TypeError, match="function"):
        metrics.MeanMetricWrapper("not a function")


def test_unknown_metric_name_says_what_and_suggests():
    with pytest.raises(ValueError) as excinfo:
        metrics.resolve("mean_squared_eror")
    message = str(excinfo.value)
    assert "Unknown metric: 'mean_squared_eror'" in message
    assert "Did you mean 'mean_squared_error'" in message
    with pytest.raises(ValueError, match="Unknown metric: 'acuracy'.*'accuracy'"):
        metrics.get("acuracy")


def test_uninterpretable_identifier_is_rejected():
    with pytest.raises(TypeError, match="got 3 of type int"):
        metrics.resolve(3)


# ------------------------------------------------------------------------------------------
# Resolution of compile(metrics=[...]) entries
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize(
    ("y_true_shape", "y_pred_shape", "expected_cls"),
    [
        ((None, 1), (None, 1), metrics.BinaryAccuracy),
        ((None,), (None, 1), metrics.BinaryAccuracy),
        ((None,), (None,), metrics.BinaryAccuracy),
        ((None,), (None, 10), metrics.SparseCategoricalAccuracy),
        ((None, 1), (None, 10), metrics.SparseCategoricalAccuracy),
        ((None, 5), (None, 5, 10), metrics.SparseCategoricalAccuracy),
        ((None, 10), (None, 10), metrics.CategoricalAccuracy),
        ((32, 4), (32, 4), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolves_from_shapes(identifier, y_true_shape, y_pred_shape, expected_cls):
    metric = metrics.resolve(identifier, y_true_shape=y_true_shape, y_pred_shape=y_pred_shape)
    assert type(metric) is expected_cls
    assert metric.name == identifier


@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize(
    ("loss_name", "expected_cls"),
    [
        ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
        ("SparseCategoricalCrossentropy", metrics.SparseCategoricalAccuracy),
        ("binary_crossentropy", metrics.BinaryAccuracy),
        ("BinaryCrossentropy", metrics.BinaryAccuracy),
        ("categorical_crossentropy", metrics.CategoricalAccuracy),
        ("CategoricalCrossentropy", metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolves_from_loss_name(identifier, loss_name, expected_cls):
    metric = metrics.resolve(identifier, loss_name=loss_name)
    assert type(metric) is expected_cls
    assert metric.name == identifier


def test_shapes_take_precedence_over_the_loss_name():
    metric = metrics.resolve(
        "acc", loss_name="categorical_crossentropy", y_true_shape=(None,), y_pred_shape=(None, 4)
    )
    assert type(metric) is metrics.SparseCategoricalAccuracy


def test_resolved_accuracy_logs_under_the_given_name():
    metric = metrics.resolve("acc", loss_name="sparse_categorical_crossentropy")
    metric.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert {metric.name: metric.result()} == {"acc": 0.5}


@pytest.mark.parametrize(
    ("identifier", "expected_cls"),
    [
        ("mse", metrics.MeanSquaredError),
        ("MSE", metrics.MeanSquaredError),
        ("mean_squared_error", metrics.MeanSquaredError),
        ("MeanSquaredError", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("mape", metrics.MeanAbsolutePercentageError),
        ("msle", metrics.MeanSquaredLogarithmicError),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ],
)
def test_other_strings_resolve_through_the_registry(identifier, expected_cls):
    metric = metrics.resolve(identifier, loss_name="mse", y_true_shape=(None, 1))
    assert type(metric) is expected_cls
    assert metric.name == identifier


def test_resolve_returns_fresh_instances_for_strings():
    assert metrics.resolve("mse") is not metrics.resolve("mse")


def test_resolve_returns_a_metric_instance_as_is():
    metric = metrics.MeanAbsoluteError(name="my_mae")
    assert metrics.resolve(metric) is metric
    assert metric.name == "my_mae"


def test_resolve_wraps_a_plain_function_under_its_name():
    def max_error(y_true, y_pred):
        return np.max(np.abs(np.asarray(y_true) - np.asarray(y_pred)), axis=-1)

    metric = metrics.resolve(max_error)
    assert isinstance(metric, metrics.MeanMetricWrapper)
    assert metric.name == "max_error"
    metric.update_state([[0.0, 0.0], [0.0, 0.0]], [[1.0, 3.0], [2.0, 0.0]])
    assert metric.result() == 2.5


def test_resolve_instantiates_a_metric_class_and_passes_none_through():
    assert type(metrics.resolve(metrics.MeanAbsoluteError)) is metrics.MeanAbsoluteError
    assert metrics.resolve(None) is None


def test_get_gives_keras_3_objects():
    assert type(metrics.get("mse")) is metrics.MeanSquaredError
    assert metrics.get("mse").name == "mean_squared_error"
    assert type(metrics.get("accuracy")) is metrics.Accuracy
    assert metrics.get(metrics.mean_absolute_error) is metrics.mean_absolute_error
    assert metrics.get(None) is None
    config = metrics.serialize(metrics.BinaryAccuracy(threshold=0.3))
    assert metrics.get(config).threshold == 0.3


# ------------------------------------------------------------------------------------------
# Config round trip
# ------------------------------------------------------------------------------------------


ROUND_TRIP_METRICS = [
    metrics.Mean(name="loss"),
    metrics.Accuracy(),
    metrics.BinaryAccuracy(threshold=0.3, name="bin"),
    metrics.CategoricalAccuracy(),
    metrics.SparseCategoricalAccuracy(name="acc"),
    metrics.TopKCategoricalAccuracy(k=2),
    metrics.SparseTopKCategoricalAccuracy(k=3, dtype="float64"),
    metrics.MeanSquaredError(),
    metrics.MeanAbsoluteError(),
    metrics.RootMeanSquaredError(),
    metrics.MeanAbsolutePercentageError(),
    metrics.MeanSquaredLogarithmicError(name="msle"),
    metrics.MeanMetricWrapper(metrics.binary_accuracy, threshold=0.7),
    metrics.MeanMetricWrapper(metrics.mean_squared_error, name="custom_mse"),
]


@pytest.mark.parametrize("metric", ROUND_TRIP_METRICS, ids=[m.name for m in ROUND_TRIP_METRICS])
def test_config_round_trip_through_json(metric):
    config = json.loads(json.dumps(metrics.serialize(metric)))
    rebuilt = metrics.deserialize(config)
    assert type(rebuilt) is type(metric)
    assert rebuilt.get_config() == metric.get_config()
    assert rebuilt.name == metric.name


def test_rebuilt_wrapper_computes_the_same_values():
    original = metrics.MeanMetricWrapper(metrics.binary_accuracy, threshold=0.7)
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(original))))
    y_true = np.array([[1], [1], [0]])
    y_pred = np.array([[0.8], [0.6], [0.1]], dtype=np.float32)
    assert _single_update(rebuilt, y_true, y_pred) == _single_update(original, y_true, y_pred)
    assert rebuilt.get_config()["fn"] == "binary_accuracy"


def test_functions_serialize_by_name():
    assert metrics.serialize(metrics.mean_absolute_error) == "mean_absolute_error"
    assert metrics.deserialize("mae") is metrics.mean_absolute_error
    assert metrics.deserialize("sparse_categorical_accuracy") is (
        metrics.sparse_categorical_accuracy
    )


def test_unregistered_wrapped_function_fails_to_load_with_a_clear_error():
    def my_metric(y_true, y_pred):
        return np.zeros(len(y_true))

    config = metrics.serialize(metrics.MeanMetricWrapper(my_metric))
    with pytest.raises(ValueError, match="Unknown metric_function: 'my_metric'"):
        metrics.deserialize(config)


# ------------------------------------------------------------------------------------------
# Architecture
# ------------------------------------------------------------------------------------------


def test_metrics_never_imports_layers_models_tensor_or_losses():
    source = Path(metrics.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    forbidden = ("layers", "models", "tensor", "losses", "autograd", "ops", "functional")
    for name in imported:
        parts = name.split(".")
        assert not (parts[0] == "axonal" and any(part in forbidden for part in parts[1:])), name
