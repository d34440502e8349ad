"""The Keras 3 metrics added after the accuracy and error metrics: confusion-matrix counts,
Precision/Recall, the "X at fixed Y" metrics, AUC, F-scores, R2, IoU, and the loss-like means
(hinges, KL divergence, Poisson, log-cosh, cosine similarity, correlations, cross-entropies).

Each is compared with real Keras 3 (torch backend, float64 state) over several batches with
sample weights, on edge cases, through its config, and inside compile/fit.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from axonal import metrics, registry
from axonal.layers import Dense, Input
from axonal.models import Sequential

RNG = np.random.default_rng(3)
N, C = 24, 4


def _keras():
    return pytest.importorskip("keras")


def _binary_batches(shape=(N,), weighted=True, seed=0):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(3):
        y_true = rng.integers(0, 2, shape).astype(float)
        y_pred = rng.uniform(size=shape)
        weight = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
        batches.append((y_true, y_pred, weight))
    return batches


def _assert_matches_keras(name, kwargs, batches, keras_dtype="float64"):
    """Accumulate the batches in ours and in Keras's, compare after each one and after reset."""
    keras = _keras()
    ours = getattr(metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs, dtype=keras_dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation and int-weight warnings
        for y_true, y_pred, weight in batches:
            ours.update_state(y_true, y_pred, sample_weight=weight)
            theirs.update_state(y_true, y_pred, sample_weight=weight)
            want = keras.ops.convert_to_numpy(theirs.result())
            # Keras's float64 state still passes through float32 in places (torch's segment
            # sums, IoU's result), hence float32-level tolerances, absolute ones relative to the
            # largest value (a count that should be 0 comes out as total - float32 sum)
            atol = 1e-6 * max(1.0, float(np.max(np.abs(want), initial=0.0)))
            np.testing.assert_allclose(
                np.asarray(ours.result()), want, rtol=1e-5, atol=atol, err_msg=name
            )
    ours.reset_state()
    y_true, y_pred, weight = batches[0]
    ours.update_state(y_true, y_pred, sample_weight=weight)
    fresh = getattr(metrics, name)(**kwargs)
    fresh.update_state(y_true, y_pred, sample_weight=weight)
    np.testing.assert_array_equal(np.asarray(ours.result()), np.asarray(fresh.result()))


# ---------------------------------------------------------------- confusion-matrix metrics

COUNTS = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"]


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.2, 0.5, 0.7], [i / 4 for i in range(5)]])
def test_counts_equal_keras(name, thresholds):
    shape = (N,) if thresholds is None else (N, C)
    _assert_matches_keras(name, {"thresholds": thresholds}, _binary_batches(shape))


PRECISION_RECALL_ARGS = [
    {},
    {"thresholds": [0.0, 0.3, 0.6, 1.0]},
    {"thresholds": [i / 10 for i in range(11)]},  # evenly spread: Keras's bucket path
    {"top_k": 2},
    {"class_id": 2},
    {"top_k": 2, "class_id": 1, "thresholds": 0.4},
]


@pytest.mark.parametrize("name", ["Precision", "Recall"])
@pytest.mark.parametrize("kwargs", PRECISION_RECALL_ARGS, ids=str)
def test_precision_and_recall_equal_keras(name, kwargs):
    _assert_matches_keras(name, kwargs, _binary_batches((N, C), seed=1))


def test_precision_and_recall_of_a_known_example():
    precision, recall = metrics.Precision(), metrics.Recall()
    for m in (precision, recall):
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert precision.result() == 1.0 and recall.result() == 1.0
    # nothing predicted positive: precision is 0, not NaN (Keras's divide_no_nan)
    empty = metrics.Precision()
    empty.update_state([1, 1], [0.1, 0.2])
    assert empty.result() == 0.0


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("PrecisionAtRecall", {"recall": 0.6}),
        ("RecallAtPrecision", {"precision": 0.55}),
        ("SensitivityAtSpecificity", {"specificity": 0.6}),
        ("SpecificityAtSensitivity", {"sensitivity": 0.6, "num_thresholds": 7, "class_id": 1}),
        ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 1}),
        ("SensitivityAtSpecificity", {"specificity": 1.0}),
    ],
    ids=str,
)
def test_at_fixed_value_metrics_equal_keras(name, kwargs):
    _assert_matches_keras(name, kwargs, _binary_batches((N, C), seed=2))


# ---------------------------------------------------------------- AUC

AUC_ARGS = [
    {},
    {"curve": "PR"},
    {"curve": "PR", "summation_method": "majoring"},
    {"summation_method": "minoring"},
    {"curve": "PRGAIN"},
    {"num_thresholds": 13},
    {"thresholds": [0.1, 0.5, 0.3]},
    {"thresholds": [0.25, 0.5, 0.75]},
    {"multi_label": True},
    {"multi_label": True, "curve": "PR"},
    {"multi_label": True, "label_weights": [1.0, 2.0, 0.5, 1.0]},
    {"multi_label": True, "num_labels": C, "thresholds": [0.2, 0.6]},
    {"label_weights": [1.0, 2.0, 0.5, 1.0]},
]


@pytest.mark.parametrize("kwargs", AUC_ARGS, ids=str)
def test_auc_equals_keras(kwargs):
    _assert_matches_keras("AUC", kwargs, _binary_batches((N, C), seed=3))


def test_auc_from_logits_equals_keras():
    rng = np.random.default_rng(4)
    batches = [(y, rng.normal(size=y.shape) * 3, w) for y, _, w in _binary_batches(seed=4)]
    _assert_matches_keras("AUC", {"from_logits": True}, batches)


@pytest.mark.parametrize("kwargs", [{}, {"curve": "PR"}], ids=str)
def test_auc_with_a_single_class_equals_keras(kwargs):
    # every label positive (then every label negative): rates divide 0 by 0
    for label in (1.0, 0.0):
        batches = [(np.full(N, label), y_pred, w) for _, y_pred, w in _binary_batches(seed=5)]
        _assert_matches_keras("AUC", kwargs, batches)


def test_auc_of_predictions_exactly_0_and_1_equals_keras():
    y_true = np.array([0, 0, 1, 1, 1, 0], dtype=float)
    y_pred = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.5])
    _assert_matches_keras("AUC", {}, [(y_true, y_pred, None)])
    _assert_matches_keras("AUC", {"num_thresholds": 3}, [(y_true, y_pred, None)])


def test_auc_of_a_perfect_ranking_is_one():
    m = metrics.AUC()
    m.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m.result() == pytest.approx(1.0)


def test_multi_label_auc_learns_the_label_count():
    m = metrics.AUC(multi_label=True)
    m.update_state(np.eye(3)[[0, 1, 2, 0]], RNG.uniform(size=(4, 3)))
    assert m.true_positives.shape == (200, 3)
    with pytest.raises(ValueError, match="rank 2"):
        metrics.AUC(multi_label=True).update_state([0, 1], [0.2, 0.7])


# ---------------------------------------------------------------- F-scores, R2, IoU


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
def test_f_scores_equal_keras(average, threshold):
    batches = _binary_batches((N, C), seed=6)
    _assert_matches_keras("F1Score", {"average": average, "threshold": threshold}, batches)
    kwargs = {"average": average, "threshold": threshold, "beta": 2.0}
    _assert_matches_keras("FBetaScore", kwargs, batches)


def test_f_score_argument_checks_follow_keras():
    with pytest.raises(ValueError, match="Python float"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="0 < threshold <= 1"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match="2D inputs"):
        metrics.F1Score().update_state([0, 1], [0.2, 0.7])


def _regression_batches(columns=3, seed=7):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(N, columns)), rng.normal(size=(N, columns)), rng.uniform(0, 2, N))
        for _ in range(3)
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"class_aggregation": "variance_weighted_average"},
        {"class_aggregation": None},
        {"num_regressors": 3},
    ],
    ids=str,
)
def test_r2_score_equals_keras(kwargs):
    _assert_matches_keras("R2Score", kwargs, _regression_batches())


def test_r2_score_of_perfect_predictions_is_one():
    m = metrics.R2Score()
    y = RNG.normal(size=(10, 2))
    m.update_state(y, y)
    assert m.result() == 1.0


def _class_id_batches(seed=8):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, C, N), rng.integers(0, C, N), rng.uniform(0, 2, N)) for _ in range(3)]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("MeanIoU", {"num_classes": C}),
        ("MeanIoU", {"num_classes": C, "ignore_class": 0}),
        ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}),
    ],
    ids=str,
)
def test_iou_equals_keras(name, kwargs):
    # float weights: compared with Keras's float64 dtype (its default int32 truncates them)
    _assert_matches_keras(name, kwargs, _class_id_batches())


def test_mean_iou_with_integer_weights_equals_keras_default_dtype():
    rng = np.random.default_rng(9)
    batches = [(y, p, rng.integers(0, 3, N)) for y, p, _ in _class_id_batches()]
    _assert_matches_keras("MeanIoU", {"num_classes": C}, batches, keras_dtype=None)


def test_one_hot_iou_metrics_equal_keras():
    rng = np.random.default_rng(10)
    batches = [(np.eye(C)[y], rng.normal(size=(N, C)), w) for y, _, w in _class_id_batches()]
    _assert_matches_keras("OneHotMeanIoU", {"num_classes": C}, batches)
    _assert_matches_keras("OneHotIoU", {"num_classes": C, "target_class_ids": [1, 3]}, batches)
    scores = [(y, rng.normal(size=(N, C)), w) for y, _, w in _class_id_batches()]
    _assert_matches_keras("MeanIoU", {"num_classes": C, "sparse_y_pred": False}, scores)


@pytest.mark.parametrize("kwargs", [{}, {"target_class_ids": [1], "threshold": 0.3}], ids=str)
def test_binary_iou_equals_keras(kwargs):
    _assert_matches_keras("BinaryIoU", kwargs, _binary_batches(seed=11))


def test_iou_refuses_an_out_of_range_target_class():
    with pytest.raises(ValueError, match="out of range"):
        metrics.IoU(num_classes=2, target_class_ids=[2])


# ---------------------------------------------------------------- mean metrics


def _batches(y_true_fn, y_pred_fn, seed=12, columns=C):
    rng = np.random.default_rng(seed)
    return [
        (y_true_fn(rng, columns), y_pred_fn(rng, columns), rng.uniform(0, 2, N)) for _ in range(3)
    ]


def _normal(rng, columns):
    return rng.normal(size=(N, columns))


def _distribution(rng, columns):
    return rng.dirichlet(np.ones(columns), N)


def _one_hot(rng, columns):
    return np.eye(columns)[rng.integers(0, columns, N)]


def _bits(rng, columns):
    return rng.integers(0, 2, (N, columns)).astype(float)


MEAN_METRICS = [
    ("Hinge", {}, _bits, _normal),
    ("SquaredHinge", {}, lambda r, c: 2 * _bits(r, c) - 1, _normal),
    ("CategoricalHinge", {}, _one_hot, _normal),
    ("KLDivergence", {}, _distribution, _distribution),
    (
        "Poisson",
        {},
        lambda r, c: r.poisson(2.0, (N, c)).astype(float),
        lambda r, c: r.uniform(0.1, 3, (N, c)),
    ),
    ("LogCoshError", {}, _normal, _normal),
    ("CosineSimilarity", {}, _normal, _normal),
    ("CosineSimilarity", {"axis": 0}, _normal, _normal),
    ("PearsonCorrelation", {}, _normal, _normal),
    ("ConcordanceCorrelation", {}, _normal, _normal),
    ("BinaryCrossentropy", {}, _bits, lambda r, c: r.uniform(size=(N, c))),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, _bits, _normal),
    ("CategoricalCrossentropy", {}, _one_hot, _distribution),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, _one_hot, _normal),
    ("SparseCategoricalCrossentropy", {}, lambda r, c: r.integers(0, c, N), _distribution),
    (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": 1},
        lambda r, c: r.integers(0, c, N),
        _normal,
    ),
]


@pytest.mark.parametrize("case", MEAN_METRICS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_mean_metrics_equal_keras(case):
    name, kwargs, y_true_fn, y_pred_fn = case
    batches = _batches(y_true_fn, y_pred_fn)
    if kwargs.get("axis") == 0:
        batches = [(t, p, None) for t, p, _ in batches]  # one value per column, not per sample
    _assert_matches_keras(name, kwargs, batches)


def test_sparse_crossentropy_ignore_class_unweighted_counts_ignored_labels_as_keras_does():
    # Keras masks ignored labels only through sample weights: unweighted, they count as 0s
    rng = np.random.default_rng(13)
    batches = [(rng.integers(0, C, N), _distribution(rng, C), None) for _ in range(2)]
    _assert_matches_keras("SparseCategoricalCrossentropy", {"ignore_class": 1}, batches)


def test_sum_equals_keras():
    keras = _keras()
    values = RNG.normal(size=(N, 3))
    weights = RNG.uniform(size=N)
    ours, theirs = metrics.Sum(), keras.metrics.Sum(dtype="float64")
    for args in ((values, weights), (values[:, 0], None), (2.5, None)):
        ours.update_state(*args)
        theirs.update_state(*args)
    want = keras.ops.convert_to_numpy(theirs.result())
    assert ours.result() == pytest.approx(float(want), rel=1e-12)


# ---------------------------------------------------------------- names, configs, fit

# the required arguments of classes that have no all-default constructor
REQUIRED = {
    "IoU": {"num_classes": 3, "target_class_ids": [0, 2]},
    "MeanIoU": {"num_classes": 3},
    "OneHotIoU": {"num_classes": 3, "target_class_ids": [1]},
    "OneHotMeanIoU": {"num_classes": 3},
    "PrecisionAtRecall": {"recall": 0.4},
    "RecallAtPrecision": {"precision": 0.4},
    "SensitivityAtSpecificity": {"specificity": 0.4},
    "SpecificityAtSensitivity": {"sensitivity": 0.4},
}
NEW_CLASSES = sorted(
    set(REQUIRED)
    | {
        "AUC",
        "BinaryCrossentropy",
        "BinaryIoU",
        "CategoricalCrossentropy",
        "CategoricalHinge",
        "ConcordanceCorrelation",
        "CosineSimilarity",
        "F1Score",
        "FBetaScore",
        "Hinge",
        "KLDivergence",
        "LogCoshError",
        "PearsonCorrelation",
        "Poisson",
        "Precision",
        "R2Score",
        "Recall",
        "SparseCategoricalCrossentropy",
        "SquaredHinge",
        "Sum",
        *COUNTS,
    }
)


@pytest.mark.parametrize("name", NEW_CLASSES)
def test_names_defaults_and_configs_match_keras(name):
    keras = _keras()
    from keras.src.utils.naming import to_snake_case

    cls = getattr(metrics, name)
    assert registry.lookup("metric", name) is cls
    assert registry.lookup("metric", to_snake_case(name)) is cls
    kwargs = REQUIRED.get(name, {})
    ours, theirs = cls(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)  # Keras numbers unnamed instances
    config = ours.get_config()
    keras_config = theirs.get_config()
    # CosineSimilarity keeps its axis (Keras's config drops it)
    extra = {"axis"} if name == "CosineSimilarity" else set()
    assert set(config) == set(keras_config) | extra
    for key, value in keras_config.items():
        if key not in ("name", "dtype") and value is not None:
            assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(ours))))
    assert type(rebuilt) is cls and rebuilt.get_config() == config
    getattr(keras.metrics, name).from_config(config)  # Keras reads our config


def test_auc_config_keeps_explicit_thresholds():
    config = metrics.AUC(thresholds=[0.7, 0.2], curve="pr", label_weights=[1, 2]).get_config()
    assert config["thresholds"] == [0.2, 0.7] and config["num_thresholds"] == 4
    assert config["curve"] == "PR" and config["label_weights"] == [1.0, 2.0]
    assert metrics.AUC.from_config(config).get_config() == config


def test_threshold_arguments_are_checked():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="lift")
    with pytest.raises(ValueError, match="range"):
        metrics.PrecisionAtRecall(recall=1.2)


def test_array_state_metrics_are_not_mean_metrics():
    # DataParallel sums 'total' and 'count' over ranks; metrics with other state must lack one
    for name in NEW_CLASSES:
        m = getattr(metrics, name)(**REQUIRED.get(name, {}))
        has_both = hasattr(m, "total") and hasattr(m, "count")
        assert has_both == isinstance(m, metrics.Mean), name


def test_metrics_in_compile_and_fit():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(80, 3))
    y = (x[:, :1] - x[:, 1:2] > 0).astype(float)
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=[
            metrics.AUC(),
            metrics.AUC(curve="PR", name="pr_auc"),
            metrics.Precision(),
            "recall",
            "true_positives",
            metrics.F1Score(threshold=0.5),
            metrics.BinaryIoU(),
            metrics.PrecisionAtRecall(0.5),
            "hinge",
            "binary_crossentropy",
        ],
    )
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    logs = history.history
    for key in ("auc", "pr_auc", "precision", "recall", "true_positives", "binary_io_u"):
        assert len(logs[key]) == 2 and 0.0 <= logs[key][-1] <= 80.0, key
    assert logs["f1_score"][-1].shape == (1,)
    # the epoch value is the metric over the whole epoch, as evaluate computes it
    result = model.evaluate(x, y, batch_size=80, verbose=0, return_dict=True)
    auc = metrics.AUC()
    auc.update_state(y, model.predict(x, verbose=0))
    assert result["auc"] == pytest.approx(auc.result(), rel=1e-12)


@pytest.mark.parametrize(
    "name, y_true, y_pred",
    [
        ("hinge", _bits(RNG, C), _normal(RNG, C)),
        ("squared_hinge", _bits(RNG, C), _normal(RNG, C)),
        ("categorical_hinge", _one_hot(RNG, C), _normal(RNG, C)),
        ("kl_divergence", _distribution(RNG, C), _distribution(RNG, C)),
        ("poisson", _distribution(RNG, C), _distribution(RNG, C)),
        ("log_cosh", _normal(RNG, C), _normal(RNG, C)),
        ("pearson_correlation", _normal(RNG, C), _normal(RNG, C)),
        ("concordance_correlation", _normal(RNG, C), _normal(RNG, C)),
        ("binary_crossentropy", _bits(RNG, C), _distribution(RNG, C)),
        ("categorical_crossentropy", _one_hot(RNG, C), _distribution(RNG, C)),
        ("sparse_categorical_crossentropy", RNG.integers(0, C, N), _distribution(RNG, C)),
    ],
)
def test_metric_functions_equal_keras(name, y_true, y_pred):
    keras = _keras()
    ours = getattr(metrics, name)(y_true, y_pred)
    theirs = keras.ops.convert_to_numpy(getattr(keras.metrics, name)(y_true, y_pred))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert registry.lookup("metric_function", name) is getattr(metrics, name)
    # float32 in, float32 out (the running totals are float64 anyway)
    y_pred32 = y_pred.astype(np.float32)
    assert getattr(metrics, name)(y_true, y_pred32).dtype == np.float32
