"""Keras names axonal lacks fail with MissingKerasFeature naming the Keras feature."""

import importlib
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import axonal
from axonal import _missing, keras_compat
from axonal._keras_names import KERAS_NAMES

ROOT = pathlib.Path(__file__).resolve().parents[1]

# keras modules run-keras maps and an attribute each lacks in axonal (three as in the issue)
MISSING = [
    ("layers", "TFSMLayer"),
    ("applications", "ResNet50"),
    ("mixed_precision", "set_global_policy"),
]


@pytest.mark.parametrize("keras_module, name", MISSING)
def test_a_missing_keras_name_says_so_and_hasattr_is_false(keras_module, name):
    module = importlib.import_module(keras_compat._target(keras_module))
    assert not hasattr(module, name)
    with pytest.raises(axonal.MissingKerasFeature) as caught:
        getattr(module, name)
    message = str(caught.value)
    assert f"keras.{keras_module}.{name}" in message
    assert "not support" in message and "docs/keras-coverage.md" in message
    assert caught.value.name == name
    assert isinstance(caught.value, AttributeError)


def test_a_name_keras_lacks_too_is_a_plain_attribute_error():
    with pytest.raises(AttributeError) as caught:
        axonal.layers.DenseButMisspelt  # noqa: B018
    assert type(caught.value) is AttributeError
    assert str(caught.value) == "module 'axonal.layers' has no attribute 'DenseButMisspelt'"
    assert getattr(axonal.ops, "no_such_op", "default") == "default"


def test_every_run_keras_module_names_its_missing_keras_names():
    script = _coverage_script()
    for keras_module in script.MODULES:
        module = importlib.import_module(keras_compat._target(keras_module))
        for name in KERAS_NAMES[keras_module]:
            if keras_module == "" and name in script.MODULES:
                continue  # the submodules themselves are axonal modules
            try:
                getattr(module, name)
            except AttributeError as error:
                assert isinstance(error, axonal.MissingKerasFeature), (keras_module, name)


def test_the_alias_table_agrees_with_run_keras():
    for keras_module in _coverage_script().MODULES:
        target = keras_compat._target(keras_module)
        assert _missing.keras_module_of(target) == keras_module


def _coverage_script():
    spec = importlib.util.spec_from_file_location(
        "keras_coverage", ROOT / "docs" / "keras_coverage.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_name_list_is_current():
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    script = _coverage_script()
    expected = script.render_names(script.keras_names())
    committed = (ROOT / "src" / "axonal" / "_keras_names.py").read_text(encoding="utf-8")
    assert committed == expected, "run `python docs/keras_coverage.py` and commit the result"


SCRIPT = textwrap.dedent(
    """
    import keras
    from keras import layers

    for module, name in [("layers", "TFSMLayer"), ("applications", "ResNet50"),
                         ("mixed_precision", "set_global_policy")]:
        assert not hasattr(getattr(keras, module), name), name
        try:
            getattr(getattr(keras, module), name)
        except AttributeError as error:
            print("ERROR", type(error).__name__, error)
    try:
        from keras.layers import TFSMLayer
    except ImportError as error:
        print("IMPORT", type(error).__name__, error)
    try:
        keras.layers.NotAKerasLayer
    except AttributeError as error:
        print("PLAIN", type(error).__name__, error)
    assert layers.Dense is not None
    """
)


@pytest.mark.slow
def test_under_run_keras_in_a_subprocess(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "run-keras", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    assert len(errors) == 3
    for (module, name), line in zip(MISSING, errors, strict=True):
        assert line.startswith("ERROR MissingKerasFeature keras." + module + "." + name)
        assert "docs/keras-coverage.md" in line
    (imported,) = [line for line in lines if line.startswith("IMPORT")]
    assert imported.startswith("IMPORT MissingKerasImport keras.layers.TFSMLayer is a Keras")
    (plain,) = [line for line in lines if line.startswith("PLAIN")]
    assert plain == "PLAIN AttributeError module 'axonal.layers' has no attribute 'NotAKerasLayer'"
