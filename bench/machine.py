"""What the numbers were measured on: CPU, cores, load, library versions, BLAS, checkout."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from bench import REPO


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    """Total memory from /proc/meminfo, in GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _usable_cores() -> int | None:
    """Cores this process may run on (its affinity mask), where the OS says."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _version(distribution: str) -> str | None:
    """An installed distribution's version, without importing it."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> list[dict[str, Any]] | dict[str, Any] | None:
    """NumPy's BLAS: threadpoolctl's view when installed, else NumPy's build configuration."""
    import numpy

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "prefix")
        return [{key: pool.get(key) for key in keep} for pool in threadpool_info()]
    try:
        config = numpy.show_config(mode="dicts")
        return config.get("Build Dependencies", {}).get("blas")
    except (TypeError, AttributeError):
        return None


def _git() -> dict[str, Any] | None:
    """The checkout's commit and whether the working tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages: how busy the shared machine was."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def describe() -> dict[str, Any]:
    """The machine and software, JSON-ready."""
    import numpy

    import axonal

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": load_average(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {
            "axonal": axonal.__version__,
            "numpy": numpy.__version__,
            "numba": _version("numba"),
            "torch": _version("torch"),
            "keras": _version("keras"),
            "scikit-learn": _version("scikit-learn"),
        },
        "axonal_path": os.path.dirname(axonal.__file__),
        "blas": _blas(),
        "git": _git(),
    }


def summary_line(info: dict[str, Any]) -> str:
    """One line for the README: CPU, cores, Python, NumPy and its BLAS, numba, torch…"""
    blas = info.get("blas")
    blas_text = ""
    if isinstance(blas, list) and blas:
        pool = blas[0]
        blas_text = f" ({pool.get('internal_api')} {pool.get('version')}"
        blas_text += f", {pool.get('num_threads')} threads)"
    elif isinstance(blas, dict):
        blas_text = f" ({blas.get('name')} {blas.get('version')})"
    versions = info["versions"]
    parts = [
        f"{info['cpu']}, {info['usable_cores']} cores",
        info["python"],
        f"NumPy {versions['numpy']}{blas_text}",
    ]
    parts.append(
        f"numba {versions['numba']} (axonal's compiled kernels)"
        if versions.get("numba")
        else "no numba (axonal on NumPy alone)"
    )
    for name in ("torch", "keras", "scikit-learn"):
        if versions.get(name):
            parts.append(f"{name} {versions[name]}")
    return "; ".join(parts)
