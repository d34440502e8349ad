"""Settings every test module shares, applied before any of them is imported."""

import gc
import os
import threading
import time

import pytest

# Real Keras is a test oracle (the `reference` extra pins keras and torch): it must run on the
# torch backend, the one the extra installs, whatever the machine's KERAS_BACKEND says. Keras
# reads the variable once, at its first import, so it is set here, before any test imports it.
os.environ["KERAS_BACKEND"] = "torch"


@pytest.fixture
def no_thread_leak():
    """Fails the test if it leaves more threads running than it found (prefetch, map and
    PyDataset workers must stop when iteration ends)."""
    before = threading.active_count()
    yield
    gc.collect()
    deadline = time.monotonic() + 2.0
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before, threading.enumerate()
