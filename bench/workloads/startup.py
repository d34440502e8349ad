"""Start-up: fresh interpreters timed from the outside, best of several.

- ``python -c 'import numpy'`` and ``python -c 'import numpy, axonal'``; axonal's cost is the
  difference of the two bests.
- the same ``import numpy, axonal`` with a cold bytecode cache: a copy of ``src/axonal`` without
  ``__pycache__`` and ``PYTHONDONTWRITEBYTECODE=1``, so every start compiles what it imports (a
  fresh checkout, a read-only install, some CI machines).
- ``python -c 'import torch'`` and ``python -c 'import keras'`` (with the backend the Keras rows
  use, which itself imports torch when it is torch).
- ``python -m axonal train --verbose 0``: the whole iris program as a user runs it.

The commands take turns, round after round, so a busy spell hits all of them; every command runs
once untimed first (the page cache, .pyc files), except the heavy imports in quick mode. Times
are wall-clock from spawn to exit, interpreter start-up included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench import REPO, subprocess_env
from bench.competitors import keras_backend
from bench.settings import Settings
from bench.workloads import Metric

TITLE = "start-up: fresh processes, wall-clock"
METRICS = (
    Metric("import_ms", "import (ms)"),
    Metric("over_numpy_ms", "over numpy (ms)"),
    Metric("cold_over_numpy_ms", "cold cache, over numpy (ms)"),
    Metric("train_process_ms", "`axonal train` (ms)"),
)
PRIMARY = "import_ms"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "import_s"


def _spawn(args: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``python args`` to its exit; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"python {' '.join(args)} exited {done.returncode}: {' '.join(tail)}")
    return elapsed


def _compile_axonal() -> None:
    """Write axonal's bytecode caches, as pip does when it installs a package.

    Without them (an editable install run with PYTHONDONTWRITEBYTECODE set, as on some CI
    machines) every start recompiles each module, and the figure would time the compiler.
    """
    import compileall

    compileall.compile_dir(str(REPO / "src" / "axonal"), quiet=1)


def _cold_env(directory: str) -> dict[str, str]:
    """The environment of a start with no bytecode cache: axonal from a ``__pycache__``-less copy
    in ``directory``, and nothing written back, so every run compiles again."""
    shutil.copytree(
        REPO / "src" / "axonal",
        os.path.join(directory, "axonal"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = subprocess_env(PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join([directory, env["PYTHONPATH"]])
    return env


def measure(
    settings: Settings, competitors: list[str], log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
    """Start-up figures for the runnable competitors among numpy, axonal, pytorch and keras."""
    with tempfile.TemporaryDirectory(prefix="axonal-cold-") as directory:
        return _measure(settings, competitors, _cold_env(directory), log)


def _measure(
    settings: Settings,
    competitors: list[str],
    cold_env: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    env = subprocess_env()
    light = 1
    heavy = 0 if settings.quick else 1
    train = ["-m", "axonal", "train", "--verbose", "0"]
    # (competitor key, what, command, its environment, timed rounds, untimed warm-up runs)
    commands = [
        ("numpy", "import_s", ["-c", "import numpy"], env, settings.import_repeat, light),
        ("axonal", "import_s", ["-c", "import numpy, axonal"], env, settings.import_repeat, light),
        (
            "axonal",
            "cold_import_s",
            ["-c", "import numpy, axonal"],
            cold_env,
            settings.import_repeat,
            0,
        ),
        ("axonal", "train_s", train, env, settings.train_repeat, light),
    ]
    if "pytorch" in competitors:
        args = ["-c", "import torch"]
        commands.append(("pytorch", "import_s", args, env, settings.heavy_import_repeat, heavy))
    if "keras" in competitors:
        keras_env = subprocess_env(KERAS_BACKEND=keras_backend() or "")
        args = ["-c", "import keras"]
        commands.append(("keras", "import_s", args, keras_env, settings.heavy_import_repeat, heavy))

    samples: dict[tuple[str, str], list[float]] = {}
    log("startup: warm-up")
    _compile_axonal()
    for _, _, args, cmd_env, _, warmup in commands:
        for _ in range(warmup):
            _spawn(args, cmd_env)
    rounds = max(rounds for *_, rounds, _ in commands)
    for index in range(rounds):
        log(f"startup: round {index + 1} of {rounds}")
        for key, what, args, cmd_env, wanted, _ in commands:
            if index < wanted:
                samples.setdefault((key, what), []).append(_spawn(args, cmd_env))

    numpy_ms = min(samples[("numpy", "import_s")]) * 1e3
    results: dict[str, dict[str, Any]] = {}
    for (key, what), values in samples.items():
        if key not in competitors:
            continue
        row = results.setdefault(key, {})
        row[f"samples_{what}"] = [round(value, 6) for value in values]
        if what == "import_s":
            row["import_ms"] = min(values) * 1e3
            if key != "numpy":
                row["over_numpy_ms"] = row["import_ms"] - numpy_ms
        elif what == "cold_import_s":
            row["cold_import_ms"] = min(values) * 1e3
            row["cold_over_numpy_ms"] = row["cold_import_ms"] - numpy_ms
        else:
            row["train_process_ms"] = min(values) * 1e3
    return results
