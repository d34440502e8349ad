"""Losses: names, configs, numerical stability, the fused paths, reductions and shapes (Keras 3).

Gradients are checked in test_gradcheck.py and values against PyTorch in test_torch_parity.py;
this file covers the behaviour around them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from axonal import backend, losses
from axonal import functional as F
from axonal.autograd import no_grad
from axonal.tensor import Tensor

LOSS_CLASSES = [
    losses.MeanSquaredError,
    losses.MeanAbsoluteError,
    losses.Huber,
    losses.LogCosh,
    losses.BinaryCrossentropy,
    losses.CategoricalCrossentropy,
    losses.SparseCategoricalCrossentropy,
]
LOSS_FUNCTIONS = [
    losses.mean_squared_error,
    losses.mean_absolute_error,
    losses.huber,
    losses.log_cosh,
    losses.binary_crossentropy,
    losses.categorical_crossentropy,
    losses.sparse_categorical_crossentropy,
]
FLOATS = [np.float32, np.float64]
EPS = 1e-7


def _rng(seed=0):
    return np.random.default_rng(seed)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))  # no overflow for large |z|


def _value_and_grad(fn, y_pred, dtype=np.float64):
    """The loss value and its gradient with respect to ``y_pred`` (an array)."""
    p = Tensor(np.asarray(y_pred, dtype=dtype), requires_grad=True)
    out = fn(p)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    return out.data, p.grad


# inputs that suit each loss: (y_true, y_pred) for a batch of 4
def _inputs(loss_class, dtype=np.float64):
    rng = _rng(1)
    if loss_class is losses.SparseCategoricalCrossentropy:
        return np.array([0, 2, 1, 2]), _softmax(rng.standard_normal((4, 3))).astype(dtype)
    if loss_class is losses.CategoricalCrossentropy:
        return np.eye(3)[[0, 2, 1, 2]].astype(dtype), _softmax(rng.standard_normal((4, 3))).astype(
            dtype
        )
    if loss_class is losses.BinaryCrossentropy:
        return (rng.random((4, 2)) > 0.5).astype(dtype), rng.uniform(0.05, 0.95, (4, 2)).astype(
            dtype
        )
    return rng.standard_normal((4, 2)).astype(dtype), rng.standard_normal((4, 2)).astype(dtype)


# ---------------------------------------------------------------- names and resolution


@pytest.mark.parametrize(
    "name, cls",
    [
        ("mse", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
        ("mean_squared_error", losses.MeanSquaredError),
        ("MeanSquaredError", losses.MeanSquaredError),
        ("mae", losses.MeanAbsoluteError),
        ("MAE", losses.MeanAbsoluteError),
        ("mean_absolute_error", losses.MeanAbsoluteError),
        ("MeanAbsoluteError", losses.MeanAbsoluteError),
        ("huber", losses.Huber),
        ("Huber", losses.Huber),
        ("log_cosh", losses.LogCosh),
        ("logcosh", losses.LogCosh),
        ("LogCosh", losses.LogCosh),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("bce", losses.BinaryCrossentropy),
        ("BinaryCrossentropy", losses.BinaryCrossentropy),
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("cce", losses.CategoricalCrossentropy),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("scce", losses.SparseCategoricalCrossentropy),
        ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy),
    ],
)
def test_names_and_aliases_resolve_to_the_loss_class(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.reduction == "sum_over_batch_size"


@pytest.mark.parametrize("fn, cls", list(zip(LOSS_FUNCTIONS, LOSS_CLASSES, strict=True)))
def test_functions_and_classes_resolve(fn, cls):
    assert type(losses.get(fn)) is cls
    assert type(losses.get(cls)) is cls
    instance = cls()
    assert losses.get(instance) is instance


@pytest.mark.parametrize("fn, cls", list(zip(LOSS_FUNCTIONS, LOSS_CLASSES, strict=True)))
def test_class_reduces_its_function(fn, cls):
    y_true, y_pred = _inputs(cls)
    per_sample = fn(y_true, y_pred).data
    assert per_sample.shape == (4,)
    assert float(cls()(y_true, y_pred).data) == pytest.approx(per_sample.mean(), rel=1e-12)


def test_default_names_match_keras():
    names = {cls: cls().name for cls in LOSS_CLASSES}
    assert names == {
        losses.MeanSquaredError: "mean_squared_error",
        losses.MeanAbsoluteError: "mean_absolute_error",
        losses.Huber: "huber_loss",
        losses.LogCosh: "log_cosh",
        losses.BinaryCrossentropy: "binary_crossentropy",
        losses.CategoricalCrossentropy: "categorical_crossentropy",
        losses.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
    }


def test_a_custom_function_is_wrapped_weighted_and_reduced():
    def squared_log_error(y_true, y_pred):
        return F.mean(F.square(F.subtract(F.log1p(y_pred), F.log1p(y_true))), axis=-1)

    loss = losses.get(squared_log_error)
    assert isinstance(loss, losses.Loss)
    assert loss.name == "squared_log_error"
    y_true, y_pred = np.array([[1.0], [2.0]]), np.array([[2.0], [2.0]])
    w = np.array([3.0, 1.0])
    expected = 3.0 * (math.log(3.0) - math.log(2.0)) ** 2 / 2
    assert float(loss(y_true, y_pred, sample_weight=w).data) == pytest.approx(expected)


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("sparse_categorical_crossentopy", "sparse_categorical_crossentropy"),
        ("mean_sqared_error", "mean_squared_error"),
        ("binary_crosentropy", "binary_crossentropy"),
        ("hubber", "huber"),
    ],
)
def test_unknown_name_is_named_and_close_names_suggested(name, suggestion):
    with pytest.raises(ValueError, match=rf"Unknown loss: '{name}'.*Did you mean .*'{suggestion}'"):
        losses.get(name)


def test_uninterpretable_identifier_is_a_type_error():
    with pytest.raises(TypeError, match="Could not interpret loss 42"):
        losses.get(42)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="Unknown reduction 'average'"):
        losses.MeanSquaredError(reduction="average")


@pytest.mark.parametrize("cls", [losses.BinaryCrossentropy, losses.CategoricalCrossentropy])
@pytest.mark.parametrize("smoothing", [-0.1, 1.5])
def test_label_smoothing_outside_0_1_is_refused(cls, smoothing):
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        cls(label_smoothing=smoothing)


def test_categorical_crossentropy_with_integer_labels_points_to_the_sparse_loss():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.categorical_crossentropy(np.array([0, 1]), np.full((2, 3), 1 / 3))


# ---------------------------------------------------------------- configs


CONFIGURED = [
    losses.MeanSquaredError(reduction="sum", name="my_mse"),
    losses.MeanAbsoluteError(reduction="none"),
    losses.Huber(delta=0.3, reduction="sum"),
    losses.LogCosh(name="lc"),
    losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, reduction="none"),
    losses.CategoricalCrossentropy(label_smoothing=0.1, name="cce_smooth"),
    losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, reduction="sum"),
]


@pytest.mark.parametrize("loss", CONFIGURED, ids=lambda loss: type(loss).__name__)
def test_config_round_trip(loss):
    config = loss.get_config()
    rebuilt = type(loss).from_config(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(loss)
    assert rebuilt.get_config() == config
    # and through serialize / deserialize / get(dict), resolving the class by its registered name
    serialized = json.loads(json.dumps(losses.serialize(loss)))
    assert serialized["class_name"] == type(loss).__name__
    for copy in (losses.deserialize(serialized), losses.get(serialized)):
        assert type(copy) is type(loss)
        assert copy.get_config() == config
    # the rebuilt loss computes the same thing
    y_true, y_pred = _inputs(type(loss))
    if getattr(loss, "fn_kwargs", {}).get("from_logits"):
        y_pred = np.log(y_pred)
    np.testing.assert_array_equal(rebuilt(y_true, y_pred).data, loss(y_true, y_pred).data)


@pytest.mark.parametrize("cls", LOSS_CLASSES)
def test_default_config_round_trip(cls):
    config = cls().get_config()
    assert cls.from_config(config).get_config() == config
    assert config["reduction"] == "sum_over_batch_size"


def test_config_holds_the_keras_arguments():
    assert losses.Huber(delta=2).get_config()["delta"] == 2.0
    config = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1).get_config()
    assert (config["from_logits"], config["label_smoothing"], config["axis"]) == (True, 0.1, -1)
    assert losses.SparseCategoricalCrossentropy(ignore_class=0).get_config()["ignore_class"] == 0


# ---------------------------------------------------------------- known values (Keras docs)


_DOC_TRUE = np.array([[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    "loss, y_pred, expected",
    [
        (losses.MeanSquaredError(), [[1.0, 1.0], [1.0, 0.0]], 0.5),
        (losses.MeanAbsoluteError(), [[1.0, 1.0], [1.0, 0.0]], 0.5),
        (losses.Huber(), [[0.6, 0.4], [0.4, 0.6]], 0.155),
        (losses.LogCosh(), [[1.0, 1.0], [0.0, 0.0]], 0.108),
        (losses.BinaryCrossentropy(), [[0.6, 0.4], [0.4, 0.6]], 0.815),
    ],
    ids=["mse", "mae", "huber", "log_cosh", "binary_crossentropy"],
)
def test_keras_documentation_values(loss, y_pred, expected):
    assert float(loss(_DOC_TRUE, np.array(y_pred)).data) == pytest.approx(expected, abs=1e-3)


def test_keras_documentation_values_categorical():
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    cce = losses.CategoricalCrossentropy()(np.array([[0, 1, 0], [0, 0, 1]]), y_pred)
    scce = losses.SparseCategoricalCrossentropy()(np.array([1, 2]), y_pred)
    expected = (-math.log(0.95) - math.log(0.1)) / 2  # 1.177
    assert float(cce.data) == pytest.approx(expected, rel=1e-6)
    assert float(scce.data) == pytest.approx(expected, rel=1e-6)


def test_huber_is_quadratic_then_linear():
    errors = np.array([[0.2], [0.5], [0.6], [3.0]])
    values = losses.huber(np.zeros((4, 1)), errors, delta=0.5).data
    np.testing.assert_allclose(values, [0.02, 0.125, 0.5 * 0.6 - 0.125, 0.5 * 3.0 - 0.125])


def test_log_cosh_is_exact_and_finite_for_huge_errors():
    errors = np.array([[1e-3, 1.0, 20.0, -800.0, 1e6]])
    value = losses.log_cosh(np.zeros_like(errors), errors).data
    abs_err = np.abs(errors)
    reference = np.log(np.cosh(errors[:, :3]))
    tail = abs_err[:, 3:] - math.log(2.0)  # log(cosh(x)) -> |x| - log 2
    expected = np.concatenate([reference, tail], axis=1).mean(axis=-1)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


# ---------------------------------------------------------------- numerical stability


_P_EXTREME = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
_T_BINARY = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
_P_CATEGORICAL = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
_LABELS = np.array([0, 0, 2, 2])
_LOGITS_HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e4, -1e4, -1e4], [0.0, 0.0, -1e4]])


def _stability_cases():
    onehot = np.eye(3)[_LABELS]
    return [
        ("bce-probabilities", lambda p: losses.BinaryCrossentropy()(_T_BINARY, p), _P_EXTREME),
        (
            "bce-probabilities-smoothed",
            lambda p: losses.BinaryCrossentropy(label_smoothing=0.1)(_T_BINARY, p),
            _P_EXTREME,
        ),
        (
            "bce-logits",
            lambda z: losses.BinaryCrossentropy(from_logits=True)(np.eye(3)[[1, 0, 0, 2]], z),
            _LOGITS_HUGE,
        ),
        (
            "bce-fused-sigmoid",
            lambda z: losses.BinaryCrossentropy()(np.eye(3)[[1, 0, 0, 2]], F.sigmoid(z)),
            _LOGITS_HUGE,
        ),
        (
            "cce-probabilities",
            lambda p: losses.CategoricalCrossentropy()(onehot, p),
            _P_CATEGORICAL,
        ),
        (
            "cce-logits",
            lambda z: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
                onehot, z
            ),
            _LOGITS_HUGE,
        ),
        (
            "cce-fused-softmax",
            lambda z: losses.CategoricalCrossentropy()(onehot, F.softmax(z)),
            _LOGITS_HUGE,
        ),
        (
            "scce-probabilities",
            lambda p: losses.SparseCategoricalCrossentropy()(_LABELS, p),
            _P_CATEGORICAL,
        ),
        (
            "scce-logits",
            lambda z: losses.SparseCategoricalCrossentropy(from_logits=True)(_LABELS, z),
            _LOGITS_HUGE,
        ),
        (
            "scce-fused-softmax",
            lambda z: losses.SparseCategoricalCrossentropy()(_LABELS, F.softmax(z)),
            _LOGITS_HUGE,
        ),
    ]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "id, fn, y_pred", _stability_cases(), ids=[c[0] for c in _stability_cases()]
)
def test_finite_loss_and_gradient_at_the_extremes(id, fn, y_pred, dtype):
    value, grad = _value_and_grad(fn, y_pred, dtype)
    assert np.isfinite(value).all(), f"{id}: loss {value}"
    assert np.isfinite(grad).all(), f"{id}: gradient {grad}"
    assert value.dtype == dtype and grad.dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
def test_clipped_probabilities_give_the_keras_bound(dtype):
    # a probability of exactly 0 for the true class costs -log(1e-7), as in Keras
    bound = -math.log(float(np.asarray(EPS, dtype=dtype)))
    p = np.array([[0.0, 1.0]], dtype=dtype)
    for value in (
        losses.binary_crossentropy(np.array([[1.0, 1.0]]), p).data * 2,  # mean of bound and ~0
        losses.categorical_crossentropy(np.array([[1.0, 0.0]]), p).data,
        losses.sparse_categorical_crossentropy(np.array([0]), p).data,
    ):
        assert float(value[0]) == pytest.approx(bound, rel=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_softmax_gives_the_exact_loss_where_clipping_saturates(dtype):
    z = Tensor(np.array([[0.0, 1e4, -50.0], [30.0, 0.0, 1e4]], dtype=dtype), requires_grad=True)
    labels = np.array([0, 1])
    onehot = np.eye(3, dtype=dtype)[labels]
    probabilities = F.softmax(z)
    fused = losses.sparse_categorical_crossentropy(labels, probabilities)
    fused_dense = losses.categorical_crossentropy(onehot, probabilities)
    clipped = losses.sparse_categorical_crossentropy(labels, probabilities.data)  # a plain array
    np.testing.assert_allclose(fused.data, [1e4, 1e4], rtol=1e-6)
    np.testing.assert_allclose(fused_dense.data, [1e4, 1e4], rtol=1e-6)
    np.testing.assert_allclose(clipped.data, -np.log(np.asarray(EPS, dtype=dtype)), rtol=1e-5)
    F.sum(fused).backward()
    # d/dz of the exact loss: softmax(z) - onehot, which the saturated clipped loss loses
    np.testing.assert_allclose(z.grad, _softmax(z.data.astype(np.float64)) - onehot, atol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_sigmoid_gives_the_exact_loss_where_clipping_saturates(dtype):
    z = Tensor(np.array([[-1e4], [200.0], [-3.0]], dtype=dtype), requires_grad=True)
    y = np.array([[1.0], [0.0], [1.0]])
    fused = losses.binary_crossentropy(y, F.sigmoid(z))
    clipped = losses.binary_crossentropy(y, F.sigmoid(z).data)
    expected = [1e4, 200.0, math.log1p(math.exp(3.0))]
    np.testing.assert_allclose(fused.data, expected, rtol=1e-6)
    assert clipped.data[0] == pytest.approx(-math.log(float(np.asarray(EPS, dtype))), rel=1e-5)
    F.sum(fused).backward()
    np.testing.assert_allclose(z.grad, _sigmoid(z.data.astype(np.float64)) - y, atol=1e-6)


# ---------------------------------------------------------------- fused = composite


def _moderate_logits(shape=(5, 4), seed=2):
    return _rng(seed).standard_normal(shape) * 2


def test_softmax_cross_entropy_fused_equals_from_logits_and_manual():
    z = _moderate_logits()
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    manual = -np.log(_softmax(z))[np.arange(5), labels]
    for loss, y in [
        (losses.categorical_crossentropy, onehot),
        (losses.sparse_categorical_crossentropy, labels),
    ]:
        fused_value, fused_grad = _value_and_grad(
            lambda t, loss=loss, y=y: loss(y, F.softmax(t)), z
        )
        logits_value, logits_grad = _value_and_grad(
            lambda t, loss=loss, y=y: loss(y, t, from_logits=True), z
        )
        # the composite path: softmax as an op, the loss on its output without the logits
        composite_value, composite_grad = _value_and_grad(
            lambda t, loss=loss, y=y: loss(y, F.softmax(t) * 1.0), z
        )
        np.testing.assert_allclose(fused_value, manual, rtol=1e-12)
        np.testing.assert_allclose(logits_value, manual, rtol=1e-12)
        np.testing.assert_allclose(composite_value, manual, rtol=1e-12)
        np.testing.assert_allclose(fused_grad, logits_grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fused_grad, composite_grad, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fused_grad, _softmax(z) - onehot, rtol=1e-12, atol=1e-15)


def test_sigmoid_cross_entropy_fused_equals_from_logits_and_manual():
    z = _moderate_logits()
    y = _rng(3).uniform(0, 1, z.shape)
    p = _sigmoid(z)
    manual = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)
    fused_value, fused_grad = _value_and_grad(
        lambda t: losses.binary_crossentropy(y, F.sigmoid(t)), z
    )
    logits_value, logits_grad = _value_and_grad(
        lambda t: losses.binary_crossentropy(y, t, from_logits=True), z
    )
    composite_value, composite_grad = _value_and_grad(
        lambda t: losses.binary_crossentropy(y, F.sigmoid(t) * 1.0), z
    )
    for value in (fused_value, logits_value, composite_value):
        np.testing.assert_allclose(value, manual, rtol=1e-12)
    np.testing.assert_allclose(fused_grad, logits_grad, rtol=1e-12)
    np.testing.assert_allclose(fused_grad, composite_grad, rtol=1e-9)
    np.testing.assert_allclose(fused_grad, (p - y) / z.shape[-1], rtol=1e-12)


def test_fused_path_also_applies_label_smoothing():
    z = _moderate_logits()
    onehot = np.eye(4)[[0, 3, 1, 1, 2]]
    fused = losses.categorical_crossentropy(onehot, F.softmax(Tensor(z)), label_smoothing=0.2)
    logits = losses.categorical_crossentropy(onehot, z, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(fused.data, logits.data, rtol=1e-12)
    smoothed = onehot * 0.8 + 0.2 / 4
    np.testing.assert_allclose(fused.data, -(smoothed * np.log(_softmax(z))).sum(-1), rtol=1e-12)


def test_softmax_over_another_axis_is_not_fused():
    # only a softmax over the class axis carries its logits to the loss
    z = _moderate_logits((4, 4))
    onehot = np.eye(4)
    probs = F.softmax(Tensor(z), axis=0)
    value = losses.categorical_crossentropy(onehot, probs).data
    p = _softmax(z.T).T
    p = p / p.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(value, -np.log(np.clip(p, EPS, 1 - EPS))[np.arange(4), np.arange(4)])


def test_fused_path_works_under_no_grad():
    z = _moderate_logits()
    labels = np.array([0, 3, 1, 1, 2])
    with no_grad():
        value = losses.sparse_categorical_crossentropy(labels, F.softmax(Tensor(z))).data
    np.testing.assert_allclose(value, -np.log(_softmax(z))[np.arange(5), labels], rtol=1e-12)


# ---------------------------------------------------------------- reductions and sample_weight


_Y_TRUE = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0], [0.5, 0.5]])
_Y_PRED = np.array([[1.5, 2.0], [1.0, -1.0], [3.0, 1.0], [0.5, 0.0]])
_PER_SAMPLE = ((_Y_PRED - _Y_TRUE) ** 2).mean(axis=-1)
_W = np.array([2.0, 0.0, 0.5, 1.0])


def test_sum_over_batch_size_divides_the_weighted_sum_by_the_batch_size():
    # Keras 3: sum(w * l) / n, counting zero-weight samples in n (not sum(w * l) / sum(w))
    value = losses.MeanSquaredError()(_Y_TRUE, _Y_PRED, sample_weight=_W)
    assert float(value.data) == pytest.approx((_W * _PER_SAMPLE).sum() / 4, rel=1e-12)
    assert float(value.data) != pytest.approx((_W * _PER_SAMPLE).sum() / _W.sum())


def test_reductions():
    def mse(reduction, weight=None):
        return losses.MeanSquaredError(reduction=reduction)(_Y_TRUE, _Y_PRED, weight).data

    assert float(mse("sum_over_batch_size")) == pytest.approx(_PER_SAMPLE.mean(), rel=1e-12)
    assert float(mse("sum")) == pytest.approx(_PER_SAMPLE.sum(), rel=1e-12)
    np.testing.assert_allclose(mse("none"), _PER_SAMPLE, rtol=1e-12)
    assert float(mse("sum", _W)) == pytest.approx((_W * _PER_SAMPLE).sum(), rel=1e-12)
    np.testing.assert_allclose(mse("none", _W), _W * _PER_SAMPLE, rtol=1e-12)
    assert mse("sum").shape == () and mse("sum_over_batch_size").shape == ()


@pytest.mark.parametrize(
    "weight",
    [_W, _W[:, None], list(_W), Tensor(_W)],
    ids=["n", "n1", "list", "tensor"],
)
def test_sample_weight_shapes(weight):
    value = losses.MeanSquaredError(reduction="none")(_Y_TRUE, _Y_PRED, sample_weight=weight)
    np.testing.assert_allclose(value.data, _W * _PER_SAMPLE, rtol=1e-12)


def test_scalar_sample_weight_scales_the_loss():
    value = losses.MeanSquaredError()(_Y_TRUE, _Y_PRED, sample_weight=3.0)
    assert float(value.data) == pytest.approx(3.0 * _PER_SAMPLE.mean(), rel=1e-12)


def test_sample_weight_per_sample_broadcasts_over_timesteps():
    y_true = _rng(5).standard_normal((4, 3, 2))
    y_pred = _rng(6).standard_normal((4, 3, 2))
    per_step = ((y_pred - y_true) ** 2).mean(axis=-1)  # (4, 3)
    value = losses.MeanSquaredError()(y_true, y_pred, sample_weight=_W)
    assert float(value.data) == pytest.approx((_W[:, None] * per_step).sum() / 12, rel=1e-12)


def test_sample_weight_gradient_is_weighted():
    _, grad = _value_and_grad(lambda p: losses.MeanSquaredError()(_Y_TRUE, p, _W), _Y_PRED)
    expected = _W[:, None] * 2 * (_Y_PRED - _Y_TRUE) / 2 / 4
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


def test_ignore_class_means_over_the_valid_labels():
    # Keras 3 masks ignored labels: 'sum_over_batch_size' divides by the valid count
    z = _moderate_logits((5, 3))
    labels = np.array([0, -1, 2, -1, 1])
    valid = labels != -1
    per_sample = -np.log(_softmax(z))[np.arange(5), np.where(valid, labels, 0)] * valid
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert float(loss(labels, z).data) == pytest.approx(per_sample.sum() / 3, rel=1e-12)
    w = np.array([1.0, 5.0, 2.0, 5.0, 0.5])
    assert float(loss(labels, z, w).data) == pytest.approx((w * per_sample).sum() / 3, rel=1e-12)
    summed = losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1, reduction="sum"
    )(labels, z)
    assert float(summed.data) == pytest.approx(per_sample.sum(), rel=1e-12)
    unreduced = losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1, reduction="none"
    )(labels, z)
    np.testing.assert_allclose(unreduced.data, per_sample, rtol=1e-12)
    # every label ignored: a zero loss, not a division by zero
    assert float(loss(np.full(5, -1), z).data) == 0.0


def test_ignored_samples_get_no_gradient():
    labels = np.array([0, 2, 2, 1])
    _, grad = _value_and_grad(
        lambda p: losses.sparse_categorical_crossentropy(labels, p, ignore_class=2),
        _softmax(_moderate_logits((4, 3))),
    )
    assert np.all(grad[[1, 2]] == 0) and np.all(grad[[0, 3]] != 0)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "cls",
    [
        c
        for c in LOSS_CLASSES
        if c not in (losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy)
    ],
)
def test_y_true_n_against_y_pred_n1_is_one_value_per_sample(cls):
    rng = _rng(7)
    y_true = (rng.random(6) > 0.5).astype(np.float64)
    y_pred = rng.uniform(0.1, 0.9, (6, 1))
    loss = cls(reduction="none")
    expected = loss(y_true[:, None], y_pred).data
    assert expected.shape == (6,)
    # Keras gives the rank-1 side a trailing axis, whichever side it is
    np.testing.assert_array_equal(loss(y_true, y_pred).data, expected)
    np.testing.assert_array_equal(loss(y_true[:, None], y_pred[:, 0]).data, expected)


def test_y_true_n_against_y_pred_n1_with_sample_weight():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([[1.5], [2.0], [2.0], [5.0]])
    value = losses.MeanSquaredError()(y_true, y_pred, sample_weight=_W)
    assert float(value.data) == pytest.approx((_W * (y_pred[:, 0] - y_true) ** 2).sum() / 4)


def test_sparse_labels_n_and_n1_agree():
    z = _moderate_logits((5, 3))
    labels = np.array([0, 2, 1, 1, 2])
    for kwargs in ({}, {"from_logits": True}, {"ignore_class": 1}):
        y_pred = z if kwargs.get("from_logits") else _softmax(z)
        flat = losses.sparse_categorical_crossentropy(labels, y_pred, **kwargs).data
        column = losses.sparse_categorical_crossentropy(labels[:, None], y_pred, **kwargs).data
        as_float = losses.sparse_categorical_crossentropy(
            labels.astype("float32"), y_pred, **kwargs
        )
        np.testing.assert_array_equal(flat, column)
        np.testing.assert_array_equal(flat, as_float.data)
        assert flat.shape == (5,)


def test_rank_3_predictions_give_a_loss_per_position():
    z = _rng(8).standard_normal((2, 4, 3))
    labels = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    value = losses.sparse_categorical_crossentropy(labels, z, from_logits=True).data
    assert value.shape == (2, 4)
    expected = -np.log(_softmax(z))[np.arange(2)[:, None], np.arange(4), labels]
    np.testing.assert_allclose(value, expected, rtol=1e-12)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("cls", LOSS_CLASSES)
def test_float32_stays_float32(cls, reduction):
    y_true, y_pred = _inputs(cls, np.float32)
    if y_true.dtype.kind == "f":
        y_true = y_true.astype(np.float64)  # a float64 target does not promote the loss
    weight = np.array([1.0, 0.5, 2.0, 1.0])  # nor does a float64 sample weight
    value, grad = _value_and_grad(
        lambda p: cls(reduction=reduction)(y_true, p, sample_weight=weight), y_pred, np.float32
    )
    assert value.dtype == np.float32
    assert grad.dtype == np.float32


def test_ignore_class_mean_keeps_float32():
    loss = losses.SparseCategoricalCrossentropy(ignore_class=1)
    p = np.array([[0.3, 0.7], [0.5, 0.5]], dtype=np.float32)
    value, grad = _value_and_grad(
        lambda t: loss(np.array([[0], [1]]), t, [2.0, 1.0]), p, np.float32
    )
    assert value.dtype == np.float32 and grad.dtype == np.float32
    assert float(value) == pytest.approx(-2 * math.log(0.3), rel=1e-6)


@pytest.mark.parametrize("cls", LOSS_CLASSES)
def test_float64_stays_float64(cls):
    y_true, y_pred = _inputs(cls, np.float64)
    value, grad = _value_and_grad(lambda p: cls()(y_true, p), y_pred, np.float64)
    assert value.dtype == np.float64 and grad.dtype == np.float64


@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_paths_keep_the_dtype(dtype):
    z = Tensor(_moderate_logits((4, 3)).astype(dtype), requires_grad=True)
    for value in (
        losses.SparseCategoricalCrossentropy()(np.array([0, 1, 2, 0]), F.softmax(z)),
        losses.CategoricalCrossentropy()(np.eye(3)[[0, 1, 2, 0]], F.softmax(z)),
        losses.BinaryCrossentropy()(np.eye(3)[[0, 1, 2, 0]], F.sigmoid(z)),
    ):
        assert value.dtype == dtype


def test_epsilon_follows_the_backend_setting():
    previous = backend.epsilon()
    try:
        backend.set_epsilon(1e-3)
        value = losses.sparse_categorical_crossentropy(np.array([0]), np.array([[0.0, 1.0]]))
        assert float(value.data[0]) == pytest.approx(-math.log(1e-3))
    finally:
        backend.set_epsilon(previous)
