"""keep_freed_memory: after it, a freed training-size temporary is reused without page faults."""

import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import axonal
from axonal import allocator

SCRIPT = textwrap.dedent(
    """
    import resource, numpy as np
    from axonal.allocator import keep_freed_memory

    def refault():
        a = np.ones(2 << 20, np.float32)  # 8 MiB: a batch of attention scores
        del a
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = np.ones(2 << 20, np.float32)
        del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    print(refault())
    keep_freed_memory()
    print(refault())
    """
)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="the adaptive thresholds are glibc's",
)
def test_a_freed_block_is_reused_without_faults_after_keep_freed_memory():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    if before < 64:
        pytest.skip(f"this allocator already keeps 8 MiB blocks ({before} faults)")
    assert after < 64 < before


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_fit_evaluate_and_predict_prepare_the_allocator(method, monkeypatch):
    monkeypatch.setattr(allocator, "_done", False)
    model = axonal.Sequential([axonal.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros(4, "float32")
    getattr(model, method)(*((x,) if method == "predict" else (x, y)), verbose=0)
    assert allocator._done
