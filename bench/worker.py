"""One competitor's workloads in a process of its own: ``python -m bench.worker``.

The runner starts one worker per competitor (and a fresh one per competitor for the memory
workload), so no library's imports, thread pools or allocator state touch another's figures, and
a library that crashes costs only its own rows.

Protocol, one JSON object per line: the worker imports the library and prepares a ``Session``
per workload (data, model, warm-up), then answers ``{"ready": true, "version": ..., "errors":
{workload: message}}``. Each request line ``{"sample": workload}`` gets ``{"sample": {...}}`` or
``{"error": message}``; ``{"quit": true}`` or end of input ends it. While it waits for a request
it blocks on a read and uses no CPU, so it does not disturb the other workers' samples.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

import bench  # noqa: F401  (puts the checkout's src on sys.path)
from bench.competitors import get
from bench.settings import Settings


def _protocol_stream() -> TextIO:
    """A private copy of stdout for the replies; fd 1 is pointed at stderr.

    Whatever a library prints, from Python or from C, then goes to stderr and cannot corrupt
    the protocol.
    """
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return stream


def _reply(stream: TextIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _describe(error: BaseException) -> str:
    traceback.print_exc()
    return f"{type(error).__name__}: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve samples of ``--workloads`` for ``--competitor`` until told to quit."""
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--competitor", required=True)
    parser.add_argument("--workloads", required=True, help="comma-separated workload names")
    parser.add_argument("--settings", required=True, help="Settings.as_dict() as JSON")
    args = parser.parse_args(argv)
    replies = _protocol_stream()

    competitor = get(args.competitor)
    settings = Settings.from_dict(json.loads(args.settings))
    try:
        impl = importlib.import_module(competitor.module)
        version = impl.setup(competitor.threads)
    except Exception as error:
        _reply(replies, {"ready": False, "error": _describe(error)})
        return 1
    sessions = {}
    errors = {}
    for name in args.workloads.split(","):
        try:
            workload = importlib.import_module(f"bench.workloads.{name}")
            sessions[name] = workload.Session(impl, settings)
        except Exception as error:  # one failing workload must not lose the others
            errors[name] = _describe(error)
    _reply(replies, {"ready": True, "version": version, "errors": errors})

    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        name = request["sample"]
        try:
            _reply(replies, {"sample": sessions[name].sample()})
        except Exception as error:
            _reply(replies, {"error": _describe(error)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
