"""Learning-rate schedules: Keras's formulas, configs, and use inside optimizers."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import axonal
from axonal import optimizers, registry, schedules
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from axonal.utils import clear_session, set_random_seed

STEPS = list(range(0, 301)) + [450, 999, 1000, 1001, 12345]


# ---------------------------------------------------------------- the formulas, from Keras's docs


def exponential(initial, decay_steps, decay_rate, staircase=False):
    def f(step):
        p = step / decay_steps
        if staircase:
            p = math.floor(p)
        return initial * decay_rate**p

    return f


def piecewise(boundaries, values):
    def f(step):
        if step <= boundaries[0]:
            return values[0]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1], strict=True):
            if low < step <= high:
                return value
        return values[-1]

    return f


def polynomial(initial, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    def f(step):
        steps = decay_steps
        if cycle:
            steps = decay_steps * (math.ceil(step / decay_steps) if step > 0 else 1)
        else:
            step = min(step, decay_steps)
        return (initial - end_learning_rate) * (1 - step / steps) ** power + end_learning_rate

    return f


def inverse_time(initial, decay_steps, decay_rate, staircase=False):
    def f(step):
        p = step / decay_steps
        if staircase:
            p = math.floor(p)
        return initial / (1 + decay_rate * p)

    return f


def cosine(initial, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(step, start):
        step = min(step, decay_steps)
        cosine_decay = 0.5 * (1 + math.cos(math.pi * step / decay_steps))
        return start * ((1 - alpha) * cosine_decay + alpha)

    def f(step):
        if warmup_target is None:
            return decay(step, initial)
        if step < warmup_steps:
            return initial + (warmup_target - initial) * step / warmup_steps
        return decay(step - warmup_steps, warmup_target)

    return f


def cosine_restarts(initial, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """SGDR by walking the periods one by one (no logarithms)."""

    def f(step):
        start, length, scale = 0.0, float(first_decay_steps), 1.0
        while step >= start + length:
            start += length
            length *= t_mul
            scale *= m_mul
        fraction = (step - start) / length
        return initial * ((1 - alpha) * 0.5 * scale * (1 + math.cos(math.pi * fraction)) + alpha)

    return f


CASES = [
    (ExponentialDecay, (0.1, 100, 0.96), {}, exponential),
    (ExponentialDecay, (0.1, 7, 0.5), {"staircase": True}, exponential),
    (ExponentialDecay, (2.0, 3.5, 1.01), {}, exponential),
    (PiecewiseConstantDecay, ([100, 110], [1.0, 0.5, 0.1]), {}, piecewise),
    (PiecewiseConstantDecay, ([5], [0.3, 0.2]), {}, piecewise),
    (PiecewiseConstantDecay, ([10, 20, 30.5, 200], [5.0, 4.0, 3.0, 2.0, 1.0]), {}, piecewise),
    (PolynomialDecay, (0.1, 100), {}, polynomial),
    (PolynomialDecay, (0.1, 100), {"end_learning_rate": 0.01, "power": 0.5}, polynomial),
    (PolynomialDecay, (0.1, 30), {"power": 2.0, "cycle": True}, polynomial),
    (InverseTimeDecay, (0.1, 10, 0.5), {}, inverse_time),
    (InverseTimeDecay, (0.1, 10, 0.5), {"staircase": True}, inverse_time),
    (CosineDecay, (0.1, 200), {}, cosine),
    (CosineDecay, (0.1, 200), {"alpha": 0.2}, cosine),
    (CosineDecay, (0.0, 100), {"warmup_target": 0.2, "warmup_steps": 50}, cosine),
    (CosineDecay, (0.01, 100), {"alpha": 0.1, "warmup_target": 0.1, "warmup_steps": 20}, cosine),
    (CosineDecayRestarts, (0.1, 10), {}, cosine_restarts),
    (CosineDecayRestarts, (0.1, 10), {"t_mul": 1.0, "m_mul": 0.9}, cosine_restarts),
    (CosineDecayRestarts, (0.1, 7), {"t_mul": 3.0, "m_mul": 0.5, "alpha": 0.05}, cosine_restarts),
    (CosineDecayRestarts, (1.0, 5), {"t_mul": 1.5, "alpha": 0.1}, cosine_restarts),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, *_rest) in enumerate(CASES)]


@pytest.mark.parametrize(("cls", "args", "kwargs", "formula"), CASES, ids=IDS)
def test_values_follow_the_keras_formula(cls, args, kwargs, formula):
    schedule = cls(*args, **kwargs)
    reference = formula(*args, **kwargs)
    for step in STEPS:
        value = schedule(step)
        assert isinstance(value, float)
        assert value == pytest.approx(reference(step), rel=1e-12, abs=1e-15), step


def test_numpy_steps_work_like_ints():
    schedule = CosineDecay(0.1, 100)
    assert schedule(np.int64(30)) == schedule(30)
    assert schedule(np.float32(30.0)) == schedule(30)


def test_documented_values():
    assert ExponentialDecay(0.1, 1000, 0.96, staircase=True)(2500) == pytest.approx(0.1 * 0.96**2)
    assert PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])(100000) == 1.0
    assert PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])(100001) == 0.5
    assert PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])(110001) == 0.1
    assert PolynomialDecay(0.1, 10000, 0.01, power=0.5)(10000) == pytest.approx(0.01)
    assert CosineDecay(0.1, 1000)(1000) == 0.0
    assert CosineDecay(0.1, 1000, alpha=0.1)(5000) == pytest.approx(0.01)


def test_cosine_restarts_restart_exactly_at_each_period():
    # periods of 7, 21, 63 steps: restarts at 7, 28 and 91, each at m_mul times the last start
    schedule = CosineDecayRestarts(0.1, 7, t_mul=3.0, m_mul=0.5)
    for i, step in enumerate([0, 7, 28, 91, 280]):
        assert schedule(step) == pytest.approx(0.1 * 0.5**i, rel=1e-12)
        if step:
            # just before a restart the rate has decayed to (about) 0
            assert schedule(step - 1e-9) < 1e-9
    # t_mul=1: every period has the first one's length
    same = CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5)
    assert [same(s) for s in (0, 10, 20, 30)] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_cosine_restarts_with_shrinking_periods_ends():
    schedule = CosineDecayRestarts(0.1, 10, t_mul=0.5)
    assert schedule(19) > 0
    with pytest.raises(ValueError, match="covers only 20 steps"):
        schedule(25)


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(1e-6, 10.0),
    decay_steps=st.integers(1, 10_000),
    alpha=st.floats(0.0, 1.0),
    step=st.integers(0, 100_000),
)
def test_cosine_decay_stays_between_alpha_and_the_initial_rate(initial, decay_steps, alpha, step):
    value = CosineDecay(initial, decay_steps, alpha=alpha)(step)
    assert initial * alpha - 1e-12 <= value <= initial + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    first=st.integers(1, 50),
    t_mul=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    m_mul=st.floats(0.1, 1.0),
    step=st.integers(0, 5000),
)
def test_cosine_restarts_matches_walking_the_periods(first, t_mul, m_mul, step):
    schedule = CosineDecayRestarts(0.1, first, t_mul=t_mul, m_mul=m_mul)
    assert schedule(step) == pytest.approx(
        cosine_restarts(0.1, first, t_mul, m_mul)(step), rel=1e-9, abs=1e-15
    )


@settings(max_examples=100, deadline=None)
@given(
    decay_rate=st.floats(0.01, 0.99),
    decay_steps=st.integers(1, 1000),
    step=st.integers(0, 10_000),
)
def test_exponential_and_inverse_time_decay_never_increase(decay_rate, decay_steps, step):
    for cls in (ExponentialDecay, InverseTimeDecay):
        schedule = cls(0.1, decay_steps, decay_rate)
        assert schedule(step + 1) <= schedule(step) <= 0.1


# ---------------------------------------------------------------- validation


def test_invalid_arguments_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="decay_steps` must be > 0"):
        ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="decay_steps` must be > 0"):
        PolynomialDecay(0.1, -5)
    with pytest.raises(ValueError, match="decay_steps` must be > 0"):
        CosineDecay(0.1, 0)
    with pytest.raises(ValueError, match="first_decay_steps` must be > 0"):
        CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match="1 less than the length of values"):
        PiecewiseConstantDecay([10, 20], [1.0, 0.5])
    with pytest.raises(ValueError, match="must be increasing"):
        PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="`initial_learning_rate` must be a number"):
        ExponentialDecay("0.1", 10, 0.9)
    with pytest.raises(ValueError, match="finite"):
        InverseTimeDecay(float("nan"), 10, 0.9)
    with pytest.raises(ValueError, match="step must be >= 0"):
        ExponentialDecay(0.1, 10, 0.9)(-1)


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize(("cls", "args", "kwargs", "formula"), CASES, ids=IDS)
def test_config_round_trip_through_json(cls, args, kwargs, formula):
    schedule = cls(*args, **kwargs)
    config = json.loads(json.dumps(schedules.serialize(schedule)))
    assert config["class_name"] == cls.__name__
    rebuilt = schedules.deserialize(config)
    assert type(rebuilt) is cls
    assert rebuilt.get_config() == schedule.get_config()
    assert [rebuilt(s) for s in STEPS] == [schedule(s) for s in STEPS]
    # the registry finds each class by its class name
    assert registry.lookup("schedule", cls.__name__) is cls


def test_numpy_arguments_give_a_json_config():
    schedule = PiecewiseConstantDecay(np.array([10, 20]), np.array([0.3, 0.2, 0.1]))
    config = schedule.get_config()
    assert config == {
        "boundaries": [10, 20],
        "values": [0.3, 0.2, 0.1],
        "name": "PiecewiseConstant",
    }
    assert json.loads(json.dumps(config)) == config
    assert ExponentialDecay(np.float32(0.5), np.int64(10), 0.9).get_config()["decay_steps"] == 10


def test_schedule_inside_an_optimizer_config():
    schedule = CosineDecay(0.01, 500, alpha=0.1, warmup_target=0.1, warmup_steps=50)
    optimizer = optimizers.Adam(learning_rate=schedule)
    config = json.loads(json.dumps(optimizers.serialize(optimizer)))
    assert config["config"]["learning_rate"]["class_name"] == "CosineDecay"
    rebuilt = optimizers.deserialize(config)
    assert isinstance(rebuilt._learning_rate, CosineDecay)
    assert rebuilt._learning_rate.get_config() == schedule.get_config()
    rebuilt.iterations = 123
    assert rebuilt.learning_rate == schedule(123)


def test_custom_schedule_registered_or_passed_as_custom_object():
    class Halving(LearningRateSchedule):
        def __init__(self, initial_learning_rate):
            self.initial_learning_rate = initial_learning_rate

        def __call__(self, step):
            return self.initial_learning_rate / 2 ** (step // 10)

        def get_config(self):
            return {"initial_learning_rate": self.initial_learning_rate}

    config = optimizers.serialize(optimizers.SGD(learning_rate=Halving(0.8)))
    with pytest.raises(ValueError, match="Unknown schedule: 'Halving'"):
        optimizers.deserialize(config)
    rebuilt = optimizers.Optimizer.from_config.__func__(
        optimizers.SGD, config["config"], custom_objects={"Halving": Halving}
    )
    rebuilt.iterations = 25
    assert rebuilt.learning_rate == 0.2
    assert "Halving" in repr(Halving(0.8))


def test_base_class_needs_call_and_config():
    with pytest.raises(NotImplementedError, match="__call__"):
        LearningRateSchedule()(0)
    with pytest.raises(NotImplementedError, match="get_config"):
        LearningRateSchedule().get_config()


# ---------------------------------------------------------------- inside optimizers


class Var:
    def __init__(self, data, path):
        self.data = data
        self.path = path


def test_optimizer_evaluates_the_schedule_at_its_iterations():
    schedule = ExponentialDecay(0.1, 3, 0.5)
    optimizer = optimizers.SGD(learning_rate=schedule)
    w = Var(np.zeros(2), "w/kernel")
    for step in range(10):
        assert optimizer.learning_rate == schedule(step)
        optimizer.apply_gradients([(np.ones(2), w)])
    assert w.data == pytest.approx(-sum(schedule(i) for i in range(10)) * np.ones(2))


def test_fit_with_a_schedule_and_the_keras_import_path():
    from axonal.optimizers.schedules import PolynomialDecay as KerasPath

    assert KerasPath is PolynomialDecay
    assert axonal.optimizers.schedules is schedules
    assert axonal.schedules is schedules

    clear_session()
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = Sequential([Dense(1, input_dim=3)])
    schedule = PolynomialDecay(0.1, decay_steps=16, end_learning_rate=0.001)
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule), loss="mse")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert model.optimizer.iterations == 32
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # a schedule is not replaced by a float behind its owner's back (as in Keras)
    with pytest.raises(TypeError, match="schedule"):
        model.optimizer.learning_rate = 0.5


# ---------------------------------------------------------------- against Keras itself
# (slow: importing Keras imports its backend, torch)


@pytest.fixture(scope="module")
def keras_schedules():
    keras = pytest.importorskip("keras")
    return keras


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "args", "kwargs", "formula"), CASES, ids=IDS)
def test_values_match_keras(keras_schedules, cls, args, kwargs, formula):
    keras = keras_schedules
    theirs = getattr(keras.optimizers.schedules, cls.__name__)(*args, **kwargs)
    ours = cls(*args, **kwargs)
    scale = max(abs(ours(step)) for step in range(0, 301, 3))
    for step in range(0, 301, 3):
        expected = float(theirs(step))
        # Keras computes in float32
        assert ours(step) == pytest.approx(expected, rel=2e-5, abs=2e-6 * scale), step


@pytest.mark.slow
def test_keras_optimizer_config_with_a_schedule_loads(keras_schedules):
    keras = keras_schedules
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9, staircase=True)
    config = keras.optimizers.serialize(keras.optimizers.Adam(learning_rate=schedule))
    config = json.loads(json.dumps(config))
    ours = optimizers.deserialize(config)
    assert isinstance(ours._learning_rate, ExponentialDecay)
    assert ours._learning_rate.get_config() == schedule.get_config()
