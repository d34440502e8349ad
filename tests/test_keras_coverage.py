"""docs/keras-coverage.md is what docs/keras_coverage.py writes for the code as it stands."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "keras_coverage", ROOT / "docs" / "keras_coverage.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_coverage_report_is_current():
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    script = _script()
    expected = script.render(script.coverage())
    committed = (ROOT / "docs" / "keras-coverage.md").read_text(encoding="utf-8")
    assert committed == expected, "run `python docs/keras_coverage.py` and commit the report"


def test_the_report_counts_what_axonal_has():
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    rows = {name: (present, missing) for name, present, missing in _script().coverage()}
    assert "MultiHeadAttention" in rows["layers"][0]
    assert "SeedGenerator" in rows["random"][0] and not rows["random"][1]
    assert "einsum" in rows["ops"][0]
