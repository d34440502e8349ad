"""``import axonal`` loads almost nothing; each public name loads its module on first use.

The fresh interpreters run with ``-I`` (no PYTHONPATH, no user site, no current directory on the
path): ``site`` and the environment may import modules first and hide one ``import axonal``
would load.
"""

import importlib
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

# the packages with a table of lazily loaded names (axonal._missing.lazy_attribute)
LAZY_PACKAGES = (
    "axonal",
    "axonal.layers",
    "axonal.layers.preprocessing",
    "axonal.models",
    "axonal.primitives",
)
# the layer and primitive modules a model of Dense layers has no use for
UNUSED_BY_DENSE = (
    "axonal.primitives.attention",
    "axonal.primitives.conv",
    "axonal.primitives.numpy_ops",
    "axonal.primitives.recurrent",
    "axonal.layers.attention",
    "axonal.layers.conv",
    "axonal.layers.conv_lstm",
    "axonal.layers.embedding",
    "axonal.layers.extra",
    "axonal.layers.merge",
    "axonal.layers.normalization",
    "axonal.layers.pooling",
    "axonal.layers.preprocessing",
    "axonal.layers.recurrent",
    "axonal.layers.regularization",
    "axonal.layers.rnn_cells",
)


def _run_isolated(code: str, cwd: pathlib.Path | None = None) -> str:
    """Run ``code`` in a fresh ``python -I`` with this checkout's ``src`` first on the path;
    its stdout."""
    prelude = f"import sys\nsys.path.insert(0, {str(SRC)!r})\n"
    out = subprocess.run(
        [sys.executable, "-I", "-c", prelude + code],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_axonal_loads_only_the_package_and_its_tables():
    code = (
        "before = set(sys.modules)\n"
        "import axonal\n"
        "added = sorted(set(sys.modules) - before)\n"
        "print(' '.join(added))\n"
    )
    added = set(_run_isolated(code).split())
    assert {m for m in added if m.startswith("axonal")} == {
        "axonal",
        "axonal._missing",
        "axonal.registry",
    }
    # not even NumPy: it loads with the first module that computes
    assert not {m for m in added if m.split(".")[0] == "numpy"}


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_lazy_name_is_the_object_its_module_defines(package):
    module = importlib.import_module(package)
    for name, target in module._LAZY.items():
        module_name, _, attribute = target.partition(":")
        defining = importlib.import_module(module_name)
        expected = defining if module_name == f"{package}.{name}" else None
        if expected is None:
            expected = getattr(defining, attribute or name)
        assert getattr(module, name) is expected, f"{package}.{name}"
        assert name in dir(module)
    for name in getattr(module, "__all__", ()):
        assert name in dir(module), f"{package}.{name} is in __all__ but not in dir()"
        getattr(module, name)


def test_lazy_names_resolve_in_a_fresh_process_to_the_same_objects():
    code = (
        "import axonal\n"
        "from axonal import layers, Sequential, Model, Layer, KerasTensor\n"
        "from axonal.layers import *\n"
        "from axonal.layers.core import Dense as direct_dense\n"
        "from axonal.layers.pooling import MaxPooling2D\n"
        "from axonal.models.sequential import Sequential as direct_sequential\n"
        "from axonal.layers.symbolic import SymbolicTensor\n"
        "model = Sequential([Input((3,)), Dense(2)])\n"
        "print(Dense is direct_dense is axonal.layers.Dense, MaxPool2D is MaxPooling2D,\n"
        "      Sequential is direct_sequential is axonal.models.Sequential,\n"
        "      isinstance(model, Model) and isinstance(model.layers[0], Layer),\n"
        "      KerasTensor is SymbolicTensor, 'Conv2D' in dir(layers), 'layers' in dir(axonal))\n"
    )
    assert _run_isolated(code).split() == ["True"] * 7


def test_a_model_of_dense_layers_loads_no_other_layer_module():
    code = (
        "import numpy as np\n"
        "from axonal import layers, Sequential\n"
        "model = Sequential([layers.Input((4,)), layers.Dense(3, activation='relu'),\n"
        "                    layers.Dense(1)])\n"
        "model.compile(optimizer='adam', loss='mse', metrics=['mae'])\n"
        "x = np.zeros((8, 4), 'float32')\n"
        "model.fit(x, np.zeros((8, 1), 'float32'), epochs=1, verbose=0)\n"
        "model.predict(x, verbose=0)\n"
        f"print(' '.join(m for m in {UNUSED_BY_DENSE!r} if m in sys.modules))\n"
    )
    assert _run_isolated(code) == ""


def test_load_model_in_a_fresh_process_finds_layers_not_loaded_yet(tmp_path):
    """The registry imports the module of a class a saved file names (registry.defer)."""
    save = (
        "from axonal import layers, Sequential\n"
        "model = Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),\n"
        "                    layers.Dense(2)])\n"
        "model.compile(optimizer='rmsprop', loss='mse')\n"
        "model.save('model.axonal')\n"
    )
    _run_isolated(save, cwd=tmp_path)
    load = (
        "import axonal\n"
        "model = axonal.saving.load_model('model.axonal')\n"
        "print(type(model.layers[0]).__name__, type(model.optimizer).__name__,\n"
        "      'axonal.layers.recurrent' in sys.modules, 'axonal._keras_names' in sys.modules)\n"
    )
    assert _run_isolated(load, cwd=tmp_path).split() == ["Conv2D", "RMSprop", "False", "False"]


def test_registry_finds_names_of_modules_not_loaded_yet():
    code = (
        "from axonal import registry\n"
        "names = [registry.lookup('layer', 'LSTM').__module__,\n"
        "         registry.lookup('layer', 'GroupQueryAttention').__name__,\n"
        "         registry.lookup('optimizer', 'DPOptimizer').__module__,\n"
        "         registry.lookup('loss', 'mse').__module__,\n"
        "         str('Conv3D' in registry.registered_names('layer'))]\n"
        "print(*names)\n"
    )
    assert _run_isolated(code).split() == [
        "axonal.layers.recurrent",
        "GroupedQueryAttention",
        "axonal.privacy.optimizer",
        "axonal.losses",
        "True",
    ]


def test_restore_keeps_the_names_of_modules_first_loaded_since_the_snapshot():
    code = (
        "from axonal import registry\n"
        "saved = registry.snapshot()\n"
        "registry.register('layer', 'MyLayer')(type('MyLayer', (), {}))\n"
        "registry.lookup('layer', 'GRU')\n"
        "registry.restore(saved)\n"
        "print(registry.get_entry('layer', 'GRU') is not None,\n"
        "      registry.get_entry('layer', 'MyLayer') is None)\n"
    )
    assert _run_isolated(code).split() == ["True", "True"]


def test_every_submodule_of_axonal_is_a_lazy_attribute():
    import axonal

    package = SRC / "axonal"
    found = {path.stem for path in package.glob("*.py")} | {
        path.parent.name for path in package.glob("*/__init__.py")
    }
    public = {name for name in found if not name.startswith("_")}
    assert set(axonal._SUBMODULES) | {"registry"} == public


def test_a_keras_name_axonal_lacks_still_names_the_feature():
    code = (
        "import axonal\n"
        "for module, name in ((axonal, 'distribution'), (axonal.layers, 'TFSMLayer'),\n"
        "                     (axonal.models, 'save_model')):\n"
        "    try:\n"
        "        getattr(module, name)\n"
        "    except axonal.MissingKerasFeature as error:\n"
        "        print(error.name)\n"
        "print(hasattr(axonal.layers, 'NotALayer'))\n"
    )
    assert _run_isolated(code).split() == ["distribution", "TFSMLayer", "save_model", "False"]
