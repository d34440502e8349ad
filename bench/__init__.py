"""Benchmarks of axonal against PyTorch, Keras, scikit-learn and a plain-NumPy loop.

Run ``python -m bench`` from the repository root (``python -m bench --help`` lists the options).
These are measurements, not tests: nothing here asserts a speed.

The package puts the checkout's ``src`` first on ``sys.path``, so the numbers are always those of
the code in this working tree, installed or not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"


def use_checkout_src() -> None:
    """Put the checkout's ``src`` first on ``sys.path`` so ``import axonal`` finds this tree."""
    if (SRC / "axonal").is_dir() and str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this checkout's ``src`` and the repo root importable.

    Args:
        **extra: variables to set on top (e.g. ``KERAS_BACKEND="torch"``).
    """
    env = dict(os.environ)
    parts = [str(SRC), str(REPO)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.update(extra)
    return env


use_checkout_src()
