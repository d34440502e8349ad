"""Mutation fuzzing of every model loader: each mutant is refused with UnsafeOrCorruptFileError
or loads a model that predicts (the contract and the mutations are in ``tests/fuzz.py``).

The fast tests run a few hundred seeded mutants across all loaders; the slow ones a few
thousand more with another seed. ``python -m tests.fuzz --n 3000`` runs the same from the
command line. The harness itself is tested too: a clean base works, a hang, a crash and a huge
allocation are failures, and a refused ``load_weights`` must leave the model untouched.
"""

import os
import signal
import sys
import time

import numpy as np
import pytest

import axonal
import fuzz
from axonal import saving

# mutants per loader kind: a few hundred in all, seeded
FAST = {"axonal": 80, "json": 80, "weights": 60, "keras": 40, "sklearn": 40}
SLOW = {"axonal": 1000, "json": 800, "weights": 600, "keras": 600, "sklearn": 600}
JOBS = max(1, min(2, os.cpu_count() or 1))

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fuzzer forks and caps memory (Linux)"
)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    return fuzz.Bases(str(tmp_path_factory.mktemp("fuzz-bases")))


def _need(kind: str) -> None:
    if kind == "keras":
        reason = fuzz.keras_unavailable()
        if reason:
            pytest.skip(f"real Keras files cannot be made: {reason}")
    if kind == "sklearn":
        pytest.importorskip("sklearn")


def _fuzz(bases, kind: str, n: int, seed: int) -> None:
    _need(kind)
    bases.for_kind(kind)  # made once here, not in every forked child
    outcomes = fuzz.run_isolated(
        [(kind, i) for i in range(n)], bases, fuzz.Settings(seed=seed), jobs=JOBS
    )
    assert len(outcomes) == n
    failures = [o for o in outcomes if o.status == "fail"]
    listing = "\n".join(str(o)[:600] for o in failures[:25])
    if failures:
        pytest.fail(
            f"{len(failures)} of {n} {kind} mutants (seed {seed}) broke the loader contract "
            f"(reproduce: python -m tests.fuzz --kind {kind} --n {n} --seed {seed}):\n"
            f"{fuzz.summary(outcomes)}\n{listing}",
            pytrace=False,
        )


@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_mutants_are_refused_or_load_a_working_model(bases, kind):
    _fuzz(bases, kind, FAST[kind], seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_many_more_mutants_are_refused_or_load_a_working_model(bases, kind):
    _fuzz(bases, kind, SLOW[kind], seed=1)


# ------------------------------------------------------------------------------- the harness


def _clean_case(base, kind: str) -> fuzz.Case:
    if kind == "keras":
        return fuzz.Case(kind, 0, "load_model", base, base.keras, [], suffix=".keras")
    if kind == "json":
        return fuzz.Case(kind, 0, "model_from_json", base, base.json_text, [])
    if kind == "weights":
        return fuzz.Case(kind, 0, "load_weights", base, base.weights, [], ".weights.npz")
    if kind == "sklearn":
        return fuzz.Case(kind, 0, "sklearn unpickle", base, dict(base.state), [])
    return fuzz.Case(kind, 0, "load_model", base, base.archive, [])


@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_every_unmutated_base_loads_and_works(bases, kind):
    _need(kind)
    for base in bases.for_kind(kind):
        outcome = fuzz.check_one(_clean_case(base, kind))
        assert outcome.status == "ok", str(outcome)


def test_mutants_are_pure_functions_of_the_seed(bases):
    for kind in ("axonal", "json", "weights"):
        for index in range(15):
            first = fuzz.make_case(kind, index, 7, bases)
            again = fuzz.make_case(kind, index, 7, bases)
            assert first.steps == again.steps and first.payload == again.payload
    steps = {tuple(fuzz.make_case("axonal", 0, seed, bases).steps) for seed in range(10)}
    assert len(steps) > 5


def test_base_archives_are_the_same_bytes_every_run(bases, tmp_path):
    again = fuzz.Bases(str(tmp_path))
    for first, second in zip(bases.models(), again.models(), strict=True):
        assert first.archive == second.archive
        assert first.weights == second.weights


def _patched_json_case(bases) -> fuzz.Case:
    return _clean_case(bases.models()[0], "json")


def _failure(monkeypatch, bases, replacement, settings=None) -> fuzz.Outcome:
    """What ``run_isolated`` says when model_from_json is ``replacement`` (in the child)."""
    case = _patched_json_case(bases)
    monkeypatch.setattr(fuzz, "make_case", lambda kind, index, seed, bases: case)
    monkeypatch.setattr(saving, "model_from_json", replacement)
    (outcome,) = fuzz.run_isolated([("json", 0)], bases, settings or fuzz.Settings())
    return outcome


def test_a_hang_is_a_timeout_failure(monkeypatch, bases):
    outcome = _failure(monkeypatch, bases, lambda text: time.sleep(30), fuzz.Settings(budget=1))
    assert (outcome.status, outcome.error) == ("fail", "Timeout")
    assert outcome.seconds < 10


def test_a_crash_is_a_failure(monkeypatch, bases):
    outcome = _failure(monkeypatch, bases, lambda text: os.kill(os.getpid(), signal.SIGSEGV))
    assert (outcome.status, outcome.error) == ("fail", "Crash(SIGSEGV)")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_a_huge_allocation_fails_fast_under_the_memory_cap(monkeypatch, bases):
    def allocate(text):
        return np.ones(3 << 30, dtype=np.uint8)

    outcome = _failure(monkeypatch, bases, allocate, fuzz.Settings(memory=1 << 30))
    assert (outcome.status, outcome.error) == ("fail", "MemoryError")


def test_other_errors_and_broken_models_are_failures(monkeypatch, bases):
    case = _patched_json_case(bases)

    def key_error(text):
        return {}["missing"]

    monkeypatch.setattr(saving, "model_from_json", key_error)
    outcome = fuzz.check_one(case)
    assert (outcome.status, outcome.error, outcome.stage) == ("fail", "KeyError", "load")

    model = fuzz.build_architecture("mlp")

    def broken_predict(*args, **kwargs):
        raise TypeError("no")

    model.predict = broken_predict
    monkeypatch.setattr(saving, "model_from_json", lambda text: model)
    outcome = fuzz.check_one(case)
    assert (outcome.status, outcome.error, outcome.stage) == ("fail", "TypeError", "predict")

    monkeypatch.setattr(saving, "model_from_json", lambda text: fuzz.build_architecture("mlp"))
    assert fuzz.check_one(case).status == "ok"


def test_a_refused_load_weights_must_leave_the_model_untouched(monkeypatch, bases):
    def spoil_then_refuse(model, path):
        model.weights[0].data[...] = 7.0
        raise saving.UnsafeOrCorruptFileError("refused")

    monkeypatch.setattr(saving, "load_weights", spoil_then_refuse)
    case = _clean_case(bases.models()[0], "weights")
    outcome = fuzz.check_one(case)
    assert (outcome.status, outcome.error) == ("fail", "ContractError")


def test_failures_are_located_at_the_innermost_axonal_frame():
    with pytest.raises(ValueError) as info:
        axonal.backend.set_random_seed(-1)
    assert fuzz.innermost_axonal_frame(info.value.__traceback__) == "backend.py:set_random_seed"
