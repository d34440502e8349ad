"""The Keras 3 losses added after the first seven: KLDivergence, Poisson, the hinges,
CosineSimilarity, Dice, Tversky, the focal cross-entropies, MAPE, MSLE and the generalized
cross-entropy.

Each is compared with real Keras 3 (torch backend) for every reduction, with and without sample
weights, checked against finite differences, round-tripped through its config, and used by
compile/fit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from axonal import functional as F
from axonal import losses, optimizers
from axonal.gradcheck import check_gradients
from axonal.layers import Dense, Input
from axonal.models import Sequential
from axonal.tensor import Tensor

RNG = np.random.default_rng(7)
N, C = 6, 4
PROBS_TRUE = RNG.dirichlet(np.ones(C), size=N)
PROBS_PRED = RNG.dirichlet(np.ones(C), size=N)
ONE_HOT = np.eye(C)[RNG.integers(0, C, N)]
LABELS = RNG.integers(0, C, N)
BINARY = RNG.integers(0, 2, (N, C)).astype(float)
SIGNS = RNG.choice([-1.0, 1.0], (N, C))
NORMAL_TRUE = RNG.normal(size=(N, C))
NORMAL_PRED = RNG.normal(size=(N, C))
UNIFORM = RNG.uniform(0.05, 0.95, (N, C))
COUNTS = RNG.poisson(2.0, (N, C)).astype(float)
RATES = RNG.uniform(0.1, 3.0, (N, C))
LOGITS = RNG.normal(size=(N, C)) * 3.0
SAMPLE_WEIGHT = RNG.uniform(0.0, 2.0, N)

# (id, class name, constructor arguments, y_true, y_pred)
CASES = [
    ("kld", "KLDivergence", {}, PROBS_TRUE, PROBS_PRED),
    ("poisson", "Poisson", {}, COUNTS, RATES),
    ("hinge-01", "Hinge", {}, BINARY, NORMAL_PRED),
    ("hinge-signs", "Hinge", {}, SIGNS, NORMAL_PRED),
    ("squared_hinge", "SquaredHinge", {}, BINARY, NORMAL_PRED),
    ("categorical_hinge", "CategoricalHinge", {}, ONE_HOT, NORMAL_PRED),
    ("cosine", "CosineSimilarity", {}, NORMAL_TRUE, NORMAL_PRED),
    ("dice", "Dice", {}, BINARY, UNIFORM),
    ("dice-axis", "Dice", {"axis": (1,)}, BINARY, UNIFORM),
    ("tversky", "Tversky", {"alpha": 0.3, "beta": 0.7}, BINARY, UNIFORM),
    ("tversky-axis", "Tversky", {"alpha": 0.3, "beta": 0.7, "axis": 1}, BINARY, UNIFORM),
    ("bfce", "BinaryFocalCrossentropy", {}, BINARY, UNIFORM),
    (
        "bfce-balanced-smoothed",
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "label_smoothing": 0.1},
        BINARY,
        UNIFORM,
    ),
    ("bfce-logits", "BinaryFocalCrossentropy", {"from_logits": True}, BINARY, LOGITS),
    ("cfce", "CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS_PRED),
    (
        "cfce-logits-smoothed",
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "alpha": 0.5, "gamma": 3.0, "label_smoothing": 0.2},
        ONE_HOT,
        LOGITS,
    ),
    ("mape", "MeanAbsolutePercentageError", {}, NORMAL_TRUE, NORMAL_PRED),
    ("msle", "MeanSquaredLogarithmicError", {}, RATES, UNIFORM * 3),
    ("gce", "CategoricalGeneralizedCrossEntropy", {"q": 0.3}, LABELS, PROBS_PRED),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]

# the function each class wraps, by its Keras name (keras.losses.<name>)
FUNCTIONS = {
    "KLDivergence": "kl_divergence",
    "Poisson": "poisson",
    "Hinge": "hinge",
    "SquaredHinge": "squared_hinge",
    "CategoricalHinge": "categorical_hinge",
    "CosineSimilarity": "cosine_similarity",
    "Dice": "dice",
    "Tversky": "tversky",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
    "CategoricalGeneralizedCrossEntropy": "categorical_generalized_cross_entropy",
}
# Keras's default names; the rest default to the snake_case function name
DEFAULT_NAMES = {**FUNCTIONS}


def _keras():
    return pytest.importorskip("keras")


def _close(ours, theirs):
    # Keras's ops promote parts of these float64 computations to float32 (e.g. maximum with a
    # Python float), so its results carry float32 rounding
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- values against Keras 3


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_objects_equal_keras(case, reduction):
    keras = _keras()
    _, name, kwargs, y_true, y_pred = case
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, dtype="float64", **kwargs)
    weights = [None] if "axis" in kwargs else [None, SAMPLE_WEIGHT]
    for weight in weights:
        got = ours(y_true, y_pred, sample_weight=weight).data
        want = keras.ops.convert_to_numpy(theirs(y_true, y_pred, sample_weight=weight))
        assert np.shape(got) == np.shape(want)
        _close(got, want)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_functions_equal_keras(case):
    keras = _keras()
    _, name, kwargs, y_true, y_pred = case
    fn_name = FUNCTIONS[name]
    ours = getattr(losses, fn_name)(y_true, y_pred, **kwargs).data
    # as tensors: Keras's generalized cross-entropy cannot mix NumPy inputs with its one_hot
    y_true, y_pred = keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred)
    theirs = getattr(keras.losses, fn_name)(y_true, y_pred, **kwargs)
    _close(ours, keras.ops.convert_to_numpy(theirs))


def test_hinge_converts_labels_only_when_every_label_is_0_or_1():
    keras = _keras()
    y_pred = NORMAL_PRED
    mixed = np.where(BINARY == 0, -1.0, 1.0)
    mixed[0, 0] = 0.0  # one 0 among -1/1 labels: nothing is converted
    for y_true in (BINARY, mixed):
        ours = losses.hinge(y_true, y_pred).data
        _close(ours, keras.ops.convert_to_numpy(keras.losses.hinge(y_true, y_pred)))


def test_focal_losses_with_gamma_0_are_cross_entropies():
    bce = losses.binary_crossentropy(BINARY, LOGITS, from_logits=True).data
    bfce = losses.binary_focal_crossentropy(BINARY, LOGITS, gamma=0.0, from_logits=True).data
    np.testing.assert_allclose(bfce, bce, rtol=1e-12)
    cce = losses.categorical_crossentropy(ONE_HOT, LOGITS, from_logits=True).data
    cfce = losses.categorical_focal_crossentropy(
        ONE_HOT, LOGITS, alpha=1.0, gamma=0.0, from_logits=True
    ).data
    np.testing.assert_allclose(cfce, cce, rtol=1e-12)


def test_dice_of_identical_masks_is_zero_and_of_disjoint_masks_is_one():
    mask = np.array([[1.0, 0.0, 1.0, 1.0]])
    assert float(losses.dice(mask, mask).data) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.dice(mask, 1.0 - mask).data) == pytest.approx(1.0)
    assert float(losses.tversky(mask, mask).data) == pytest.approx(0.0, abs=1e-6)
    # all-empty masks: epsilon keeps it finite (1 - 0 / eps)
    assert float(losses.dice(np.zeros((2, 3)), np.zeros((2, 3))).data) == 1.0


def test_kl_divergence_of_a_distribution_with_itself_is_zero():
    np.testing.assert_allclose(losses.kl_divergence(PROBS_TRUE, PROBS_TRUE).data, 0.0, atol=1e-12)


def test_mean_with_sample_weight_divides_by_the_weights():
    values = losses.Poisson(reduction="none")(COUNTS, RATES).data
    loss = losses.Poisson(reduction="mean_with_sample_weight")
    got = float(loss(COUNTS, RATES, sample_weight=SAMPLE_WEIGHT).data)
    assert got == pytest.approx(np.sum(values * SAMPLE_WEIGHT) / np.sum(SAMPLE_WEIGHT))
    assert float(loss(COUNTS, RATES, sample_weight=np.zeros(N)).data) == 0.0


def test_dtype_casts_y_pred():
    loss = losses.KLDivergence(dtype="float32")
    assert loss(PROBS_TRUE, PROBS_PRED).data.dtype == np.float32
    assert losses.KLDivergence()(PROBS_TRUE, PROBS_PRED).data.dtype == np.float64
    assert "dtype" not in loss.get_config()  # as in Keras


# ---------------------------------------------------------------- numerical stability


def test_focal_losses_stay_finite_for_huge_logits():
    huge = np.array([[1e4, -1e4, 0.5, 30.0], [-1e4, 1e4, 1e4, -30.0]])
    targets = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 1.0]])
    for fn in (losses.binary_focal_crossentropy, losses.categorical_focal_crossentropy):
        p = Tensor(huge, requires_grad=True)
        out = fn(targets, p, from_logits=True)
        out.backward(np.ones(out.shape))
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(p.grad))
    # from logits the cross-entropy is exact: -log(sigmoid(-1e4)) = 1e4, not Keras's capped 16.1
    value = losses.binary_focal_crossentropy([[1.0]], [[-1e4]], gamma=0.0, from_logits=True)
    assert float(value.data[0]) == pytest.approx(1e4)


def test_a_sigmoid_or_softmax_output_is_read_through_its_logits():
    z = Tensor(LOGITS, requires_grad=True)
    through_sigmoid = losses.binary_focal_crossentropy(BINARY, F.sigmoid(z)).data
    from_logits = losses.binary_focal_crossentropy(BINARY, LOGITS, from_logits=True).data
    np.testing.assert_allclose(through_sigmoid, from_logits, rtol=1e-12)
    through_softmax = losses.categorical_focal_crossentropy(ONE_HOT, F.softmax(z)).data
    from_logits = losses.categorical_focal_crossentropy(ONE_HOT, LOGITS, from_logits=True).data
    np.testing.assert_allclose(through_softmax, from_logits, rtol=1e-12)


def test_cosine_similarity_of_a_zero_vector_has_a_finite_gradient():
    y_pred = Tensor(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]), requires_grad=True)
    out = losses.CosineSimilarity()(np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), y_pred)
    out.backward(np.ones(()))
    assert np.all(np.isfinite(y_pred.grad))


# ---------------------------------------------------------------- gradients

GRADIENT_CASES = {
    "kl_divergence": (lambda p: losses.kl_divergence(PROBS_TRUE, p), PROBS_PRED),
    "poisson": (lambda p: losses.poisson(COUNTS, p), RATES),
    "hinge": (lambda p: losses.hinge(BINARY, p), NORMAL_PRED),
    "squared_hinge": (lambda p: losses.squared_hinge(SIGNS, p), NORMAL_PRED),
    "categorical_hinge": (lambda p: losses.categorical_hinge(ONE_HOT, p), NORMAL_PRED),
    "cosine_similarity": (lambda p: losses.cosine_similarity(NORMAL_TRUE, p), NORMAL_PRED),
    "cosine_similarity-axis0": (
        lambda p: losses.cosine_similarity(NORMAL_TRUE, p, axis=0),
        NORMAL_PRED,
    ),
    "dice": (lambda p: losses.dice(BINARY, p), UNIFORM),
    "dice-axis": (lambda p: losses.dice(BINARY, p, axis=1), UNIFORM),
    "tversky": (lambda p: losses.tversky(BINARY, p, alpha=0.3, beta=0.7), UNIFORM),
    "binary_focal_crossentropy": (
        lambda p: losses.binary_focal_crossentropy(BINARY, p, apply_class_balancing=True),
        UNIFORM,
    ),
    "binary_focal_crossentropy-logits": (
        lambda z: losses.binary_focal_crossentropy(BINARY, z, from_logits=True, gamma=1.5),
        LOGITS,
    ),
    "categorical_focal_crossentropy": (
        lambda p: losses.categorical_focal_crossentropy(ONE_HOT, p, label_smoothing=0.1),
        PROBS_PRED,
    ),
    "categorical_focal_crossentropy-logits": (
        lambda z: losses.categorical_focal_crossentropy(ONE_HOT, z, from_logits=True),
        LOGITS,
    ),
    "mean_absolute_percentage_error": (
        lambda p: losses.mean_absolute_percentage_error(NORMAL_TRUE, p),
        NORMAL_PRED,
    ),
    "mean_squared_logarithmic_error": (
        lambda p: losses.mean_squared_logarithmic_error(RATES, p),
        UNIFORM * 3,
    ),
    "categorical_generalized_cross_entropy": (
        lambda p: losses.categorical_generalized_cross_entropy(LABELS, p, q=0.4),
        PROBS_PRED,
    ),
    "Tversky-sum-weighted": (
        lambda p: losses.Tversky(axis=1, reduction="sum")(BINARY, p, sample_weight=SAMPLE_WEIGHT),
        UNIFORM,
    ),
    "Poisson-mean_with_sample_weight": (
        lambda p: losses.Poisson(reduction="mean_with_sample_weight")(COUNTS, p, SAMPLE_WEIGHT),
        RATES,
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, y_pred = GRADIENT_CASES[name]
    check_gradients(fn, y_pred).assert_ok()


# ---------------------------------------------------------------- names and configs


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_names_resolve_like_keras(name):
    keras = _keras()
    fn_name = FUNCTIONS[name]
    cls = getattr(losses, name)
    assert isinstance(losses.get(name), cls)
    assert isinstance(losses.get(fn_name), cls)
    instance = cls(q=0.5) if name == "CategoricalGeneralizedCrossEntropy" else cls()
    assert instance.name == getattr(keras.losses, name)().name
    assert instance.reduction == "sum_over_batch_size"


@pytest.mark.parametrize("alias, cls", [("kld", "KLDivergence"), ("KLD", "KLDivergence")])
def test_keras_aliases(alias, cls):
    assert isinstance(losses.get(alias), getattr(losses, cls))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_config_round_trips_and_matches_keras(case):
    keras = _keras()
    _, name, kwargs, y_true, y_pred = case
    loss = getattr(losses, name)(reduction="sum", name="custom", **kwargs)
    config = loss.get_config()
    serialized = json.loads(json.dumps(losses.serialize(loss)))
    rebuilt = losses.deserialize(serialized)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == config
    np.testing.assert_array_equal(rebuilt(y_true, y_pred).data, loss(y_true, y_pred).data)
    # the same keys as Keras's config, and Keras accepts ours; CosineSimilarity keeps its axis
    # (Keras's config drops it, so a round trip there resets it to -1)
    theirs = getattr(keras.losses, name)(reduction="sum", name="custom", **kwargs).get_config()
    extra = {"axis"} if name == "CosineSimilarity" else set()
    assert set(config) == set(theirs) | extra
    getattr(keras.losses, name).from_config(config)


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="q must be in the interval"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.BinaryFocalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="same shape"):
        losses.categorical_focal_crossentropy(LABELS, PROBS_PRED)
    with pytest.raises(ValueError, match="Unknown reduction"):
        losses.Dice(reduction="average")


# ---------------------------------------------------------------- compile / fit


@pytest.mark.parametrize(
    "loss, activation",
    [
        ("dice", "sigmoid"),
        ("tversky", "sigmoid"),
        ("binary_focal_crossentropy", "sigmoid"),
        (losses.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True), None),
        ("hinge", "tanh"),
        ("squared_hinge", "tanh"),
        ("kl_divergence", "sigmoid"),
        ("poisson", "softplus"),
    ],
)
def test_binary_model_trains_with(loss, activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype(float)
    model = Sequential([Input((3,)), Dense(1, activation=activation)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss=loss)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize(
    "loss",
    ["categorical_focal_crossentropy", "categorical_hinge", "cosine_similarity", "kld"],
)
def test_categorical_model_trains_with(loss):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = np.eye(3)[np.argmax(x[:, :3], axis=1)]
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss=loss)
    history = model.fit(x, y, epochs=4, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(case):
    _, name, kwargs, y_true, y_pred = case
    y_pred = Tensor(np.asarray(y_pred, dtype=np.float32), requires_grad=True)
    out = getattr(losses, name)(**kwargs)(np.asarray(y_true, dtype=np.float32), y_pred)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    assert out.dtype == np.float32 and y_pred.grad.dtype == np.float32
