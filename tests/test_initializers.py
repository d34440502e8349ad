"""Behaviour of axonal.initializers: shapes, dtypes, statistics, seeding, configs and lookup."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonal import backend, initializers, registry
from axonal.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    Initializer,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
    compute_fans,
)

TRUNCATION_FACTOR = 0.87962566103423978

# (class, Keras snake_case alias)
ALL_CLASSES = [
    (Zeros, "zeros"),
    (Ones, "ones"),
    (Constant, "constant"),
    (RandomNormal, "random_normal"),
    (RandomUniform, "random_uniform"),
    (TruncatedNormal, "truncated_normal"),
    (VarianceScaling, "variance_scaling"),
    (GlorotUniform, "glorot_uniform"),
    (GlorotNormal, "glorot_normal"),
    (HeUniform, "he_uniform"),
    (HeNormal, "he_normal"),
    (LecunUniform, "lecun_uniform"),
    (LecunNormal, "lecun_normal"),
    (Orthogonal, "orthogonal"),
    (Identity, "identity"),
]

RANDOM_CLASSES = [
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
]


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch):
    """Put back the library-wide generator and floatx after each test."""
    monkeypatch.setattr(backend, "_rng", backend.rng())
    monkeypatch.setattr(backend, "_FLOATX", backend.floatx())


def _ids(value):
    return value.__name__ if isinstance(value, type) else None


# --------------------------------------------------------------------------------------------
# Shape and dtype
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, alias", ALL_CLASSES, ids=[c.__name__ for c, _ in ALL_CLASSES])
def test_shape_and_default_dtype(cls, alias):
    values = cls()((5, 7))
    assert isinstance(values, np.ndarray)
    assert values.shape == (5, 7)
    assert values.dtype == np.float32


@pytest.mark.parametrize("cls, alias", ALL_CLASSES, ids=[c.__name__ for c, _ in ALL_CLASSES])
def test_requested_dtype_is_exact(cls, alias):
    assert cls()((4, 3), dtype="float64").dtype == np.float64
    assert cls()((4, 3), dtype=np.float32).dtype == np.float32
    # axonal computes in float32 and float64 only: half precision is refused by name
    with pytest.raises(ValueError, match="'float16'.*float32 or float64"):
        cls()((4, 3), dtype=np.float16)


@pytest.mark.parametrize("cls, alias", ALL_CLASSES, ids=[c.__name__ for c, _ in ALL_CLASSES])
def test_default_dtype_follows_floatx(cls, alias):
    backend.set_floatx("float64")
    assert cls()((3, 3)).dtype == np.float64


@pytest.mark.parametrize(
    "cls", [Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, GlorotUniform]
)
@pytest.mark.parametrize("shape", [(), (6,), (2, 3, 4), (3, 3, 2, 5)])
def test_any_rank_shape(cls, shape):
    assert cls()(shape).shape == shape


def test_int_shape_means_rank_one():
    assert GlorotUniform()(5).shape == (5,)
    assert Zeros()(np.int64(3)).shape == (3,)


def test_numpy_int_dims_accepted():
    assert HeNormal()((np.int64(4), np.int32(2))).shape == (4, 2)


@pytest.mark.parametrize("bad_shape", [(-1, 3), ("a", 2), (2.5,), (True, 2), None])
def test_bad_shape_is_rejected(bad_shape):
    with pytest.raises((TypeError, ValueError), match="shape"):
        GlorotUniform()(bad_shape)


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=_ids)
def test_random_initializers_reject_integer_dtype(cls):
    with pytest.raises(ValueError, match="floating dtype.*int32"):
        cls()((3, 3), dtype="int32")


def test_constant_initializers_allow_integer_dtype():
    assert Zeros()((2,), dtype="int32").dtype == np.int32
    assert Ones()((2,), dtype="int64").tolist() == [1, 1]
    assert Constant(3)((2, 2), dtype="int32").tolist() == [[3, 3], [3, 3]]


# --------------------------------------------------------------------------------------------
# Constant initializers
# --------------------------------------------------------------------------------------------


def test_zeros_and_ones_values():
    assert np.all(Zeros()((3, 4)) == 0)
    assert np.all(Ones()((3, 4)) == 1)


def test_constant_fills_value():
    values = Constant(0.25)((3, 2), dtype="float64")
    np.testing.assert_array_equal(values, np.full((3, 2), 0.25))
    assert np.all(Constant()((2,)) == 0.0)


def test_constant_accepts_numpy_scalar_and_keeps_config_json():
    init = Constant(np.float32(1.5))
    assert init.get_config() == {"value": 1.5}
    json.dumps(init.get_config())


@pytest.mark.parametrize("value", [[1.0, 2.0], np.ones(3), "1", None])
def test_constant_rejects_non_scalar(value):
    with pytest.raises(TypeError, match="Constant: expected value to be a real scalar"):
        Constant(value)


def test_identity_square_non_square_and_gain():
    np.testing.assert_array_equal(Identity()((3, 3)), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(Identity()((2, 4)), np.eye(2, 4, dtype=np.float32))
    np.testing.assert_array_equal(Identity(gain=0.5)((3, 2)), 0.5 * np.eye(3, 2))


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2)])
def test_identity_rejects_non_2d(shape):
    with pytest.raises(ValueError, match=r"Identity: expected a 2-D shape.*rank"):
        Identity()(shape)


# --------------------------------------------------------------------------------------------
# Statistics of the random initializers
# --------------------------------------------------------------------------------------------

LARGE = (1000, 1000)


def test_random_normal_statistics():
    values = RandomNormal(mean=1.0, stddev=2.0, seed=1)(LARGE, dtype="float64")
    assert values.mean() == pytest.approx(1.0, abs=0.01)
    assert values.std() == pytest.approx(2.0, rel=0.01)


def test_random_normal_defaults():
    values = RandomNormal(seed=2)(LARGE, dtype="float64")
    assert values.mean() == pytest.approx(0.0, abs=0.001)
    assert values.std() == pytest.approx(0.05, rel=0.01)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_uniform_bounds_and_moments(dtype):
    values = RandomUniform(minval=-0.3, maxval=0.7, seed=3)(LARGE, dtype=dtype)
    assert values.min() >= np.asarray(-0.3, dtype=dtype)
    assert values.max() <= np.asarray(0.7, dtype=dtype)
    # the range is well covered
    assert values.min() < -0.299
    assert values.max() > 0.699
    assert values.mean() == pytest.approx(0.2, abs=0.002)
    assert values.std() == pytest.approx(1.0 / math.sqrt(12.0), rel=0.01)


def test_random_uniform_defaults():
    values = RandomUniform(seed=4)(LARGE, dtype="float64")
    assert values.min() >= -0.05
    assert values.max() < 0.05


def test_truncated_normal_within_two_stddev():
    mean, stddev = 0.5, 2.0
    values = TruncatedNormal(mean=mean, stddev=stddev, seed=5)(LARGE, dtype="float64")
    assert values.min() >= mean - 2 * stddev
    assert values.max() <= mean + 2 * stddev
    # the tails are reached, so the truncation point really is 2 stddev
    assert values.min() < mean - 1.95 * stddev
    assert values.max() > mean + 1.95 * stddev
    assert values.mean() == pytest.approx(mean, abs=0.01)
    assert values.std() == pytest.approx(stddev * TRUNCATION_FACTOR, rel=0.01)


def test_truncated_normal_zero_stddev_is_constant():
    values = TruncatedNormal(mean=0.3, stddev=0.0)((4, 4), dtype="float64")
    np.testing.assert_array_equal(values, np.full((4, 4), 0.3))


# (initializer, shape, variance scale / fan, distribution)
DENSE = (400, 600)  # fan_in 400, fan_out 600
CONV = (3, 3, 64, 128)  # fan_in 576, fan_out 1152
VARIANCE_CASES = [
    (GlorotUniform, DENSE, 2.0 / (400 + 600), "uniform"),
    (GlorotNormal, DENSE, 2.0 / (400 + 600), "normal"),
    (HeUniform, DENSE, 2.0 / 400, "uniform"),
    (HeNormal, DENSE, 2.0 / 400, "normal"),
    (LecunUniform, DENSE, 1.0 / 400, "uniform"),
    (LecunNormal, DENSE, 1.0 / 400, "normal"),
    (GlorotUniform, CONV, 2.0 / (576 + 1152), "uniform"),
    (GlorotNormal, CONV, 2.0 / (576 + 1152), "normal"),
    (HeUniform, CONV, 2.0 / 576, "uniform"),
    (HeNormal, CONV, 2.0 / 576, "normal"),
    (LecunUniform, CONV, 1.0 / 576, "uniform"),
    (LecunNormal, CONV, 1.0 / 576, "normal"),
]


@pytest.mark.parametrize(
    "cls, shape, variance, distribution",
    VARIANCE_CASES,
    ids=[f"{c.__name__}-{len(s)}d" for c, s, _, _ in VARIANCE_CASES],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_preset_variance_and_bounds(cls, shape, variance, distribution, dtype):
    values = cls(seed=6)(shape, dtype=dtype)
    assert values.dtype == np.dtype(dtype)
    assert values.mean() == pytest.approx(0.0, abs=0.05 * math.sqrt(variance))
    assert values.var(dtype=np.float64) == pytest.approx(variance, rel=0.03)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        assert np.abs(values).max() <= np.asarray(limit, dtype=dtype)
        assert np.abs(values).max() > 0.99 * limit
    else:
        bound = 2.0 * math.sqrt(variance) / TRUNCATION_FACTOR
        assert np.abs(values).max() <= np.asarray(bound, dtype=dtype)
        assert np.abs(values).max() > 0.97 * bound


@pytest.mark.parametrize(
    "mode, denominator", [("fan_in", 576), ("fan_out", 1152), ("fan_avg", (576 + 1152) / 2)]
)
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_modes_and_distributions(mode, denominator, distribution):
    init = VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=7)
    values = init(CONV, dtype="float64")
    assert values.var() == pytest.approx(3.0 / denominator, rel=0.03)
    if distribution == "uniform":
        assert np.abs(values).max() <= math.sqrt(9.0 / denominator)


def test_variance_scaling_untruncated_normal_has_tails():
    values = VarianceScaling(distribution="untruncated_normal", seed=8)((1000, 1000))
    # a real normal goes past 3 stddev (about 2700 of 1e6 draws); a truncated one never does
    assert np.abs(values).max() > 3.0 * math.sqrt(1.0 / 1000)


def test_variance_scaling_normal_alias_and_case():
    assert VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert VarianceScaling(distribution="Uniform").distribution == "uniform"


def test_variance_scaling_small_fan_uses_at_least_one():
    # fan 0 would divide by zero; Keras clamps the denominator at 1
    values = VarianceScaling(distribution="uniform", seed=9)((0, 5), dtype="float64")
    assert values.shape == (0, 5)
    values = VarianceScaling(scale=0.25, distribution="uniform", seed=9)((), dtype="float64")
    assert abs(float(values)) <= math.sqrt(0.75)


# --------------------------------------------------------------------------------------------
# compute_fans
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),
        ((4, 2, 8), (8, 32)),  # Conv1D kernel (width, in, out)
        ((3, 3, 16, 32), (144, 288)),  # Conv2D kernel (kh, kw, in, out)
        ((2, 3, 4, 5, 6), (120, 144)),  # Conv3D kernel
    ],
)
def test_compute_fans(shape, fans):
    assert compute_fans(shape) == fans
    assert all(type(f) is int for f in compute_fans(shape))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=3, max_size=5))
def test_compute_fans_conv_property(shape):
    fan_in, fan_out = compute_fans(shape)
    receptive = math.prod(shape[:-2])
    assert fan_in == receptive * shape[-2]
    assert fan_out == receptive * shape[-1]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=4), st.integers(0, 2**31))
def test_glorot_uniform_never_exceeds_limit(shape, seed):
    values = GlorotUniform(seed=seed)(tuple(shape))
    fan_in, fan_out = compute_fans(shape)
    limit = math.sqrt(6.0 / max(1.0, fan_in + fan_out))
    assert values.shape == tuple(shape)
    assert values.dtype == np.float32
    assert np.abs(values).max() <= np.float32(limit)


# --------------------------------------------------------------------------------------------
# Orthogonal
# --------------------------------------------------------------------------------------------


def _flatten_like_keras(values):
    return values.reshape(-1, values.shape[-1])


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (3, 3, 4, 8), (2, 2, 2, 16), (3, 4, 2)])
def test_orthogonal_is_orthonormal(shape):
    matrix = _flatten_like_keras(Orthogonal(seed=10)(shape, dtype="float64"))
    rows, cols = matrix.shape
    if rows >= cols:  # tall or square: orthonormal columns
        np.testing.assert_allclose(matrix.T @ matrix, np.eye(cols), atol=1e-12)
    else:  # wide: orthonormal rows
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(rows), atol=1e-12)


def test_orthogonal_float32_and_gain():
    q = Orthogonal(gain=2.0, seed=11)((8, 5))
    assert q.dtype == np.float32
    np.testing.assert_allclose(q.T @ q, 4.0 * np.eye(5), atol=1e-5)


def test_orthogonal_square_is_full_orthogonal_matrix():
    q = Orthogonal(seed=12)((6, 6), dtype="float64")
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-12)


def test_orthogonal_sign_fix_gives_unbiased_diagonal():
    # Without the diag(R) sign fix numpy's QR makes diag(Q) lean one way; with it each entry
    # of a uniformly random orthogonal matrix is symmetric about 0.
    init = Orthogonal(seed=13)
    diagonals = np.array([np.diag(init((4, 4), dtype="float64")) for _ in range(2000)])
    assert np.abs(diagonals.mean(axis=0)).max() < 0.05


@pytest.mark.parametrize("shape", [(), (5,)])
def test_orthogonal_rejects_rank_below_two(shape):
    with pytest.raises(ValueError, match="Orthogonal: expected a shape of rank at least 2"):
        Orthogonal()(shape)


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=_ids)
def test_same_int_seed_same_arrays_across_instances(cls):
    first, second = cls(seed=42), cls(seed=42)
    np.testing.assert_array_equal(first((6, 5)), second((6, 5)))
    # the streams stay in step: the second calls agree too
    np.testing.assert_array_equal(first((6, 5)), second((6, 5)))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=_ids)
def test_seeded_initializer_successive_calls_differ(cls):
    init = cls(seed=42)
    assert not np.array_equal(init((6, 5)), init((6, 5)))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=_ids)
def test_different_seeds_differ(cls):
    assert not np.array_equal(cls(seed=1)((6, 5)), cls(seed=2)((6, 5)))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=_ids)
def test_set_random_seed_makes_unseeded_draws_repeat(cls):
    init = cls()  # created before the seed is set: must still follow it
    backend.set_random_seed(123)
    first = [init((6, 5)), cls()((3, 4))]
    backend.set_random_seed(123)
    second = [init((6, 5)), cls()((3, 4))]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unseeded_draws_differ_without_reseeding():
    init = GlorotUniform()
    assert not np.array_equal(init((6, 5)), init((6, 5)))


def test_int_seeded_stream_ignores_global_generator():
    backend.set_random_seed(1)
    expected = HeNormal(seed=7)((5, 5))
    backend.set_random_seed(2)
    backend.rng().random(100)
    np.testing.assert_array_equal(HeNormal(seed=7)((5, 5)), expected)


def test_seeded_initializer_does_not_advance_global_generator():
    backend.set_random_seed(5)
    expected = backend.rng().random(3)
    backend.set_random_seed(5)
    GlorotUniform(seed=1)((10, 10))
    np.testing.assert_array_equal(backend.rng().random(3), expected)


def test_clone_restarts_the_seeded_stream():
    init = LecunUniform(seed=3)
    first = init((4, 4))
    np.testing.assert_array_equal(init.clone()((4, 4)), first)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="expected seed to be a non-negative integer or None"):
        RandomNormal(seed=seed)


def test_numpy_integer_seed_accepted():
    assert RandomNormal(seed=np.int64(3)).get_config()["seed"] == 3


# --------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RandomNormal, TruncatedNormal])
def test_negative_stddev_is_rejected(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected stddev >= 0.*-0.1"):
        cls(stddev=-0.1)


def test_uniform_min_above_max_is_rejected():
    with pytest.raises(ValueError, match="minval <= maxval.*minval=1.*maxval=0"):
        RandomUniform(minval=1.0, maxval=0.0)


@pytest.mark.parametrize("scale", [0.0, -2.0])
def test_non_positive_scale_is_rejected(scale):
    with pytest.raises(ValueError, match="scale > 0"):
        VarianceScaling(scale=scale)


def test_unknown_mode_names_valid_ones():
    with pytest.raises(ValueError) as info:
        VarianceScaling(mode="fan_sum")
    message = str(info.value)
    assert "'fan_sum'" in message
    for mode in ("'fan_in'", "'fan_out'", "'fan_avg'"):
        assert mode in message


def test_unknown_distribution_names_valid_ones():
    with pytest.raises(ValueError) as info:
        VarianceScaling(distribution="gamma")
    message = str(info.value)
    assert "'gamma'" in message
    for name in ("'truncated_normal'", "'untruncated_normal'", "'uniform'"):
        assert name in message


@pytest.mark.parametrize(
    "factory",
    [
        lambda: RandomNormal(mean="0"),
        lambda: RandomUniform(minval=None),
        lambda: Orthogonal(gain=[1.0]),
        lambda: Identity(gain=True),
    ],
)
def test_non_numeric_arguments_are_rejected(factory):
    with pytest.raises(TypeError, match="expected .* to be a real number"):
        factory()


def test_non_finite_arguments_are_rejected():
    with pytest.raises(ValueError, match="finite"):
        RandomNormal(stddev=float("inf"))


# --------------------------------------------------------------------------------------------
# Registry, configs, serialisation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, alias", ALL_CLASSES, ids=[c.__name__ for c, _ in ALL_CLASSES])
def test_registered_under_class_name_and_alias(cls, alias):
    assert registry.lookup("initializer", cls.__name__) is cls
    assert registry.lookup("initializer", alias) is cls


def test_keras_extra_aliases():
    assert registry.lookup("initializer", "uniform") is RandomUniform
    assert registry.lookup("initializer", "normal") is RandomNormal
    assert registry.lookup("initializer", "zero") is Zeros
    assert registry.lookup("initializer", "one") is Ones


CONFIGURED = [
    Zeros(),
    Ones(),
    Constant(2.5),
    Identity(gain=3.0),
    RandomNormal(mean=0.1, stddev=0.2, seed=1),
    RandomUniform(minval=-1.0, maxval=2.0, seed=2),
    TruncatedNormal(mean=-0.5, stddev=0.3, seed=3),
    VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform", seed=4),
    GlorotUniform(seed=5),
    GlorotNormal(),
    HeUniform(seed=6),
    HeNormal(),
    LecunUniform(seed=7),
    LecunNormal(),
    Orthogonal(gain=0.5, seed=8),
]


@pytest.mark.parametrize("init", CONFIGURED, ids=lambda i: type(i).__name__)
def test_config_round_trip_through_json(init):
    payload = json.loads(json.dumps(initializers.serialize(init)))
    assert payload["class_name"] == type(init).__name__
    rebuilt = initializers.deserialize(payload)
    assert type(rebuilt) is type(init)
    assert rebuilt.get_config() == init.get_config()
    # a seeded (or non-random) initializer rebuilt from its config reproduces the first draw
    if getattr(init, "seed", 0) is not None:
        np.testing.assert_array_equal(
            rebuilt((4, 3)), type(init).from_config(init.get_config())((4, 3))
        )


@pytest.mark.parametrize("init", CONFIGURED, ids=lambda i: type(i).__name__)
def test_registry_serialize_deserialize(init):
    rebuilt = registry.deserialize("initializer", registry.serialize(init))
    assert type(rebuilt) is type(init)
    assert rebuilt.get_config() == init.get_config()


def test_preset_configs_hold_only_the_seed():
    assert GlorotUniform(seed=3).get_config() == {"seed": 3}
    assert HeNormal().get_config() == {"seed": None}


def test_configs_keep_keras_keys():
    assert RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert VarianceScaling().get_config() == {
        "scale": 1.0,
        "mode": "fan_in",
        "distribution": "truncated_normal",
        "seed": None,
    }
    assert Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert Identity().get_config() == {"gain": 1.0}
    assert Constant().get_config() == {"value": 0.0}


def test_deserialize_unknown_class_name():
    with pytest.raises(ValueError, match="Unknown initializer: 'GlorotUnifrom'"):
        initializers.deserialize({"class_name": "GlorotUnifrom", "config": {}})


def test_deserialize_custom_objects():
    class Halves(Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 0.5, dtype=backend.standardize_dtype(dtype))

    rebuilt = initializers.deserialize(
        {"class_name": "Halves", "config": {}}, custom_objects={"Halves": Halves}
    )
    assert isinstance(rebuilt, Halves)


def test_serialize_rejects_plain_function():
    with pytest.raises(TypeError, match="serialize expected an Initializer instance"):
        initializers.serialize(lambda shape, dtype=None: np.zeros(shape))


def test_repr_shows_config():
    assert repr(RandomUniform(seed=1)) == "RandomUniform(minval=-0.05, maxval=0.05, seed=1)"


# --------------------------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, alias", ALL_CLASSES, ids=[c.__name__ for c, _ in ALL_CLASSES])
def test_get_by_name(cls, alias):
    assert type(initializers.get(alias)) is cls
    assert type(initializers.get(cls.__name__)) is cls


def test_get_returns_fresh_instances_for_names():
    assert initializers.get("he_normal") is not initializers.get("he_normal")


def test_get_dict_config():
    init = initializers.get({"class_name": "RandomNormal", "config": {"stddev": 0.5, "seed": 1}})
    assert isinstance(init, RandomNormal)
    assert init.stddev == 0.5


def test_get_instance_is_returned_unchanged():
    init = GlorotUniform(seed=1)
    assert initializers.get(init) is init


def test_get_class_is_instantiated():
    assert isinstance(initializers.get(HeUniform), HeUniform)


def test_get_plain_callable_is_returned_unchanged():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype or "float32")

    assert initializers.get(halves) is halves


def test_get_none():
    assert initializers.get(None) is None


def test_get_unknown_name_suggests_close_one():
    with pytest.raises(ValueError) as info:
        initializers.get("glorot_unifrom")
    message = str(info.value)
    assert "glorot_unifrom" in message
    assert "Did you mean" in message
    assert "'glorot_uniform'" in message


@pytest.mark.parametrize("bad", [42, 1.5, [1, 2], (3,), object()])
def test_get_bad_type(bad):
    with pytest.raises(TypeError, match=f"Could not interpret initializer.*{type(bad).__name__}"):
        initializers.get(bad)


def test_get_non_initializer_class():
    with pytest.raises(TypeError, match="Could not interpret initializer.*'dict'"):
        initializers.get(dict)
