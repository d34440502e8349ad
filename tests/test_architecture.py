"""The import direction of DESIGN.md, and the NumPy-only promise of ``import axonal``."""

import ast
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "axonal"

# module -> axonal modules it must never import (directly)
FORBIDDEN = {
    "_keras_names": {"*"},
    "_missing": {"*"},
    "backend": {"*"},
    "registry": {"*"},
    "kernels": {"*"},
    # beside kernels (its numba loader), below everything that runs a convolution
    "conv_kernels": {"autograd", "primitives", "tensor", "functional", "layers", "models"},
    "recurrent_kernels": {"autograd", "primitives", "tensor", "functional", "layers", "models"},
    "pointwise_kernels": {"autograd", "primitives", "tensor", "functional", "layers", "models"},
    "weight_budget": {"*"},
    "load_checks": {"models", "saving", "cli"},
    "autograd": {"primitives", "tensor", "functional", "ops", "layers", "models", "losses"},
    "primitives": {"tensor", "functional", "ops", "layers", "models", "losses"},
    "tensor": {"functional", "ops", "layers", "models", "losses", "metrics", "optimizers"},
    "tape": {"functional", "ops", "layers", "models", "losses", "metrics", "optimizers"},
    "functional": {"ops", "layers", "models", "losses", "metrics", "optimizers"},
    "initializers": {"layers", "models"},
    "activations": {"layers", "models"},
    "losses": {"layers", "models"},
    "metrics": {"layers", "models"},
    "optimizers": {"layers", "models"},
    "schedules": {"optimizers", "layers", "models", "tensor", "functional"},
    "saving": {"models", "cli"},
    "plot": {"models", "layers"},
    "regularizers": {"layers", "models"},
    "random": {"layers", "models", "trainers"},
    "data": {"models", "layers"},
    "trainers": {"models", "saving", "cli"},  # beside models: may use layers, never models
    "callbacks": {"models", "layers"},
    "layers": {"models"},
    "distributed": {"models", "layers", "cli"},
    "privacy": {"models", "cli"},
    "explain": {"cli"},
    "export": {"cli", "saving"},
    "gradcheck": {"cli"},
}


def _axonal_imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("axonal"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "axonal" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _module_files(name: str) -> list[pathlib.Path]:
    single = SRC / f"{name}.py"
    if single.exists():
        return [single]
    return sorted((SRC / name).glob("*.py"))


# below everything: the Keras name list and the MissingKerasFeature error every module may use
# (in its PEP 562 __getattr__); they import nothing else of axonal's
LEAVES = {"_keras_names", "_missing"}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_imports_point_one_way(module):
    banned = FORBIDDEN[module]
    for path in _module_files(module):
        imported = _axonal_imports(path) - {module}
        if module == "_missing":
            imported -= {"_keras_names"}
        else:
            imported -= LEAVES
        if "*" in banned:
            assert not imported, f"{path.name} imports axonal modules {imported}"
        else:
            assert not imported & banned, f"{path.name} imports {imported & banned}"


def test_import_axonal_loads_nothing_but_numpy():
    code = (
        "import sys, axonal\n"
        "heavy = [m for m in ('sklearn', 'scipy', 'torch', 'matplotlib', 'pandas', 'numba')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env_path = str(SRC.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == ""


# what ``import axonal`` must not add to what ``import numpy`` already loaded: each costs start-up
# time (more with a cold bytecode cache) and is needed only by the code that uses it
_LOADED_ON_USE = (
    "inspect",
    "ast",
    "tokenize",
    "platform",
    "datetime",
    "hashlib",
    "typing",
    "json",
    "csv",
    # (zipfile is not listed: saving's archive code uses it throughout, and `site` imports it
    # itself on many installations)
    "difflib",
    "logging",
    "queue",
    "concurrent.futures",
    "multiprocessing",
    "urllib.request",
    "http.client",
    "email",
    "ssl",
    "socket",
    "numpy.random",
    "axonal.datasets",
    "axonal.distributed",
    "axonal.explain",
    "axonal.export",
    "axonal.ops",
    "axonal.privacy",
    "axonal.keras_format",
    "axonal.load_checks",
)


def _run_fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC.parent), "PATH": "/usr/bin:/bin"},
    )
    return out.stdout.strip()


def test_import_axonal_adds_no_heavy_module_to_numpys():
    code = (
        "import sys, numpy\n"
        "before = set(sys.modules)\n"
        "import axonal\n"
        "added = set(sys.modules) - before\n"
        f"print(','.join(sorted(m for m in {_LOADED_ON_USE!r} if m in added)))\n"
    )
    assert _run_fresh(code) == ""


def test_lazily_loaded_subpackages_are_still_attributes_and_importable():
    code = (
        "import sys, axonal\n"
        "from axonal import export\n"
        "names = ('datasets', 'distributed', 'explain', 'ops', 'privacy')\n"
        "found = [getattr(axonal, name).__name__ for name in names]\n"
        "print(export.__name__, *found, all(n in dir(axonal) for n in names))\n"
    )
    loaded = _run_fresh(code).split()
    assert loaded == [
        "axonal.export",
        "axonal.datasets",
        "axonal.distributed",
        "axonal.explain",
        "axonal.ops",
        "axonal.privacy",
        "True",
    ]
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        import axonal

        _ = axonal.not_a_module


def test_no_pickle_or_eval_in_package():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for banned in ("import pickle", "allow_pickle=True", "eval(", "exec("):
            assert banned not in text, f"{path.name} contains {banned!r}"


PLUG_INS = ["distributed", "privacy", "explain", "export", "saving", "gradcheck"]
# names those modules give the model they work on
_MODEL_NAMES = {"model", "net", "network"}


def _private_model_accesses(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__"):
            continue
        owner = node.value
        is_model = (isinstance(owner, ast.Name) and owner.id in _MODEL_NAMES) or (
            isinstance(owner, ast.Attribute)
            and owner.attr in {"model", "_model", "layer"}
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "self"
        )
        if is_model:
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
    return found


@pytest.mark.parametrize("module", PLUG_INS)
def test_plug_ins_use_only_the_models_public_interface(module):
    """DESIGN.md: distributed, privacy, explain, export and saving never call a Model's
    underscore methods; they use its public batch interface (compute_outputs, compute_losses,
    track_batch, metric_totals, prepare_batch, output_heads, graph...)."""
    found = [hit for path in _module_files(module) for hit in _private_model_accesses(path)]
    assert not found, f"{module} reaches into the model's private members: {found}"
