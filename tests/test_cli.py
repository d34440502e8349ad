"""The ``axonal`` command: help, argument errors without tracebacks, and ``axonal train``."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from axonal.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def _env():
    """The environment for a child process, with src/ importable for a bare checkout."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path)


def _models_available():
    try:
        return importlib.util.find_spec("axonal.models") is not None
    except ImportError:
        return False


def test_help_returns_zero_and_lists_train(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: axonal" in out
    assert "train" in out


def test_train_help_lists_the_options(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--seed", "--verbose"):
        assert option in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("axonal ")


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: axonal" in err
    assert "required" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--epochs", "-1"], "--epochs: expected a non-negative integer, got -1"),
        (["train", "--epochs", "ten"], "--epochs: expected a non-negative integer, got 'ten'"),
        (["train", "--batch-size", "0"], "--batch-size: expected a positive integer, got 0"),
        (["train", "--batch-size", "1.5"], "--batch-size: expected a positive integer"),
        (["train", "--seed", "-3"], "--seed: expected a non-negative integer, got -3"),
        (["train", "--verbose", "3"], "--verbose: invalid choice: '3'"),
        (["train", "--momentum", "0.1"], "unrecognized arguments: --momentum"),
    ],
)
def test_bad_arguments_exit_nonzero_with_a_message(capsys, argv, message):
    status = main(argv)
    captured = capsys.readouterr()
    assert status != 0
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_python_dash_m_axonal_help_runs_quickly():
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: axonal" in result.stdout


def test_bad_argument_in_a_process_exits_2_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "train", "--epochs", "-5"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "--epochs: expected a non-negative integer, got -5" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_is_installed():
    executable = shutil.which("axonal")
    if executable is None:
        pytest.skip("the axonal console script is not installed (pip install -e .)")
    result = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: axonal" in result.stdout


RESULT_LINE = re.compile(r"^test loss: (\d+\.\d{4})  test accuracy: (\d+\.\d{4})$", re.MULTILINE)


def test_train_runs_end_to_end(capsys):
    pytest.importorskip("axonal.models")
    assert main(["train", "--epochs", "2", "--seed", "0", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    match = RESULT_LINE.search(out)
    assert match, out
    assert float(match.group(1)) > 0.0
    assert 0.0 <= float(match.group(2)) <= 1.0
    # verbose 0 prints nothing but the result
    assert out.strip().splitlines() == [match.group(0)]


def test_train_with_a_seed_is_reproducible(capsys):
    pytest.importorskip("axonal.models")
    assert main(["train", "--epochs", "3", "--seed", "7", "--verbose", "0"]) == 0
    first = capsys.readouterr().out
    assert main(["train", "--epochs", "3", "--seed", "7", "--verbose", "0"]) == 0
    second = capsys.readouterr().out
    assert first == second


def test_train_verbose_2_prints_one_line_per_epoch(capsys):
    pytest.importorskip("axonal.models")
    assert main(["train", "--epochs", "3", "--seed", "1", "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert "\r" not in out
    assert out.count("Epoch ") >= 3
    assert RESULT_LINE.search(out), out


@pytest.mark.skipif(not _models_available(), reason="axonal.models is not written yet")
def test_axonal_train_in_a_fresh_process():
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "train", "--epochs", "1", "--verbose", "0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert RESULT_LINE.search(result.stdout), result.stdout


# ---------------------------------------------------------------- a reader that goes away


class _ClosedPipe:
    """A stdout whose reader has gone: every write fails as a closed pipe does."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        raise OSError("not a real file")


def test_a_closed_pipe_stops_quietly(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["--help"]) == 141  # 128 + SIGPIPE, what a Unix tool killed by it reports
    assert main(["train", "--epochs", "1", "--verbose", "0"]) == 141
    assert capsys.readouterr().err == ""


def test_predict_piped_into_head_has_no_broken_pipe_message(tmp_path):
    # `axonal predict ... | head -1`: more rows than a pipe buffers, then the reader closes
    pytest.importorskip("axonal.saving")
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    model = Sequential([Input((2,)), Dense(3, activation="softmax")])
    model.save(tmp_path / "m.axonal")
    rows = "\n".join(f"{i % 7},{i % 5}" for i in range(20_000))
    (tmp_path / "x.csv").write_text("a,b\n" + rows + "\n", encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "axonal", "predict", str(tmp_path / "m.axonal"),
         str(tmp_path / "x.csv"), "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )  # fmt: skip
    assert child.stdout.readline().startswith(b"prediction,")
    child.stdout.close()  # what head does after its line
    _, err = child.communicate(timeout=120)
    assert err.decode() == "", err.decode()
    assert child.returncode == 141
