"""The example programs run as-is; the README's commands are the ones CI runs."""

import re
import runpy
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IRIS_EXAMPLE = ROOT / "examples" / "iris.py"
SEEDS = [0, 1, 2, 3, 4]


def _run_iris_example(seed):
    """Run examples/iris.py as a script after seeding axonal; return the script's globals."""
    from axonal.utils import set_random_seed

    set_random_seed(seed)
    return runpy.run_path(str(IRIS_EXAMPLE), run_name="__main__")


def test_iris_example_learns_over_several_seeds(capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("axonal.models")
    accuracies = []
    for seed in SEEDS:
        script = _run_iris_example(seed)
        loss = float(script["loss"])
        accuracy = float(script["accuracy"])
        assert loss == loss and loss >= 0.0, f"seed {seed}: test loss {loss}"
        assert 0.0 <= accuracy <= 1.0, f"seed {seed}: test accuracy {accuracy}"
        # Keras models keep the History of their last fit as model.history
        model = script["model"]
        assert hasattr(model, "history"), "model.history is not set after fit"
        epoch_losses = model.history.history["loss"]
        assert len(epoch_losses) == 100
        assert epoch_losses[-1] < epoch_losses[0], f"seed {seed}: training loss did not fall"
        accuracies.append(accuracy)
    out = capsys.readouterr().out
    assert "Test accuracy:" in out
    # Keras 3 reaches a median of 0.967 on this program
    assert statistics.median(accuracies) >= 0.93, accuracies


def _median_accuracy(example: str, seeds) -> float:
    """Run an example script once per seed (after seeding axonal); the median test accuracy."""
    from axonal.utils import set_random_seed

    accuracies = []
    for seed in seeds:
        set_random_seed(seed)
        script = runpy.run_path(str(ROOT / "examples" / example), run_name="__main__")
        accuracies.append(float(script["accuracy"]))
    return statistics.median(accuracies)


@pytest.mark.slow
def test_digits_cnn_example_reaches_097_over_several_seeds(capsys):
    pytest.importorskip("sklearn")
    # the layers issue asks for a median test accuracy of at least 0.97
    assert _median_accuracy("digits_cnn.py", range(5)) >= 0.97
    assert "Test accuracy:" in capsys.readouterr().out


@pytest.mark.slow
def test_sequence_lstm_example_reaches_the_accuracy_the_readme_states(capsys):
    pytest.importorskip("sklearn")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"sequence_lstm\.py`[^.]*?(0\.\d+)", readme)
    assert stated, "the README states the LSTM example's accuracy"
    assert _median_accuracy("sequence_lstm.py", range(3)) >= float(stated.group(1))
    capsys.readouterr()


def test_preprocessing_layers_example_reaches_the_accuracy_the_readme_states(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # it saves and reloads its two models here
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"preprocessing_layers\.py`[^.]*?(0\.\d+)", readme)
    assert stated, "the README states the preprocessing example's accuracy"
    assert _median_accuracy("preprocessing_layers.py", range(3)) >= float(stated.group(1))
    out = capsys.readouterr().out
    assert "Table test accuracy:" in out and "Review test accuracy:" in out


def _fenced_commands(markdown):
    """The single-line shell commands in the README's plain ``` blocks."""
    blocks = re.findall(r"^```\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    return [block.strip() for block in blocks if "\n" not in block.strip()]


def test_readme_gives_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _fenced_commands(readme)
    assert len(commands) == 2, commands
    main_job, test_command = commands
    assert main_job.endswith("axonal train")
    assert "pytest" in test_command
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip().strip("()") for line in ci_script.splitlines()]
    assert test_command in ci_lines


def test_readme_example_is_the_example_program():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = IRIS_EXAMPLE.read_text(encoding="utf-8")
    for line in (
        "from axonal.layers import Dense",
        "from axonal.models import Sequential",
        'model.add(Dense(4, input_dim=4, activation="relu"))',
        'model.add(Dense(3, activation="softmax"))',
        "model.fit(X_train, y_train, epochs=100, batch_size=10)",
        "loss, accuracy = model.evaluate(X_test, y_test)",
    ):
        assert line in readme
        assert line in example


def test_every_python_example_in_the_readme_runs(capsys, tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)  # examples that save files write them here
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    capsys.readouterr()


# ---------------------------------------------------------------- install hints

# a `pip install` of axonal names the checkout, quoted for zsh: `pip install -e '.[plot]'`
_PIP_AXONAL = re.compile(r"pip install[^`\n]*?(?:axonal\[|(?<!')\.\[)")


def _hint_files():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield from sorted((ROOT / "src" / "axonal").rglob("*.py"))


def test_install_hints_install_extras_from_the_checkout_quoted():
    # `pip install axonal[plot]` finds no published package, and zsh globs an unquoted `.[plot]`
    wrong = []
    for path in _hint_files():
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PIP_AXONAL.search(line):
                wrong.append(f"{name}:{number}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_the_install_hint_pattern_tells_good_lines_from_bad():
    for bad in ("pip install axonal[plot]", "pip install 'axonal[fast]'", "pip install -e .[onnx]"):
        assert _PIP_AXONAL.search(bad), bad
    for good in ("pip install -e '.[plot]'", "pip install -e '.[sklearn,pandas]' onnxruntime"):
        assert not _PIP_AXONAL.search(good), good


# what an import (or a call) needs installed, as the pip distribution that provides it
_NEEDS = {
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "h5py": "h5py",
    "mpi4py": "mpi4py",
    "axonal.plot": "matplotlib",
    "axonal.export": "onnx",
}


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement.strip(), maxsplit=1)[0].lower()


def _installed_by(text: str) -> set:
    """The distributions the `pip install -e '.[extras]' more` commands in ``text`` install."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    installed = set()
    for command in re.findall(r"pip install -e '\.\[([^\]]*)\]'([^`\n]*)", text):
        names, more = command
        for extra in names.split(","):
            assert extra in extras, f"no extra {extra!r} in pyproject.toml"
            installed |= {_distribution(r) for r in extras[extra]}
        installed |= {word.lower() for word in more.split() if re.fullmatch(r"[\w.-]+", word)}
    return installed


def _needs(source: str) -> set:
    """The distributions a program's imports need (beyond NumPy, axonal and the stdlib)."""
    import ast

    needed = set()
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            for prefix, distribution in _NEEDS.items():
                if module == prefix or module.startswith(prefix + "."):
                    needed.add(distribution)
    if "as_frame=True" in source:  # scikit-learn's loaders return DataFrames: pandas
        needed.add("pandas")
    return needed


def test_the_examples_section_installs_what_every_example_imports():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    installed = _installed_by(section)
    for example in sorted((ROOT / "examples").glob("*.py")):
        missing = _needs(example.read_text(encoding="utf-8")) - installed
        assert not missing, f"{example.name} needs {sorted(missing)}; the README installs " + str(
            sorted(installed)
        )


@pytest.mark.parametrize("name", ["README.md", "docs/sklearn.md", "docs/onnx.md"])
def test_each_python_example_in_the_docs_says_what_to_install(name):
    # the text between a section's heading and a code block installs what the block imports
    text = (ROOT / name).read_text(encoding="utf-8")
    pieces = re.split(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    for i in range(1, len(pieces), 2):
        before = pieces[i - 1].rsplit("\n#", 1)[-1]  # back to the section's heading
        missing = _needs(pieces[i]) - _installed_by(before)
        first_line = pieces[i].splitlines()[0]
        assert not missing, f"{name}: the block starting {first_line!r} needs {sorted(missing)}"


def test_the_scikit_learn_example_is_checked_for_pandas():
    assert _needs("X, y = load_iris(return_X_y=True, as_frame=True)") == {"pandas"}
    assert "pandas" in _installed_by("`pip install -e '.[sklearn,pandas]'`")
    assert "pandas" not in _installed_by("`pip install -e '.[sklearn]'`")
