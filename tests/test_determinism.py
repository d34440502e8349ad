"""``set_random_seed`` makes training bit-for-bit reproducible across fresh processes."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"

# Initialisation, shuffling and dropout all draw random numbers here.
SCRIPT = textwrap.dedent(
    """
    import sys

    import numpy as np

    from axonal.layers import Dense, Dropout
    from axonal.models import Sequential
    from axonal.utils import set_random_seed

    seed, out = int(sys.argv[1]), sys.argv[2]
    set_random_seed(seed)
    data = np.random.default_rng(0)  # the data is the same for every seed
    x = data.normal(size=(64, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    model = Sequential([
        Dense(16, input_dim=5, activation="relu"),
        Dropout(0.3),
        Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=10, shuffle=True, validation_split=0.25,
                        verbose=0)
    weights = model.get_weights() + [np.array(history.history["loss"])]
    np.savez(out, *weights)
    """
)


def _train_in_fresh_process(tmp_path: Path, seed: int, tag: str) -> list:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"weights_{tag}.npz"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    # hash randomisation differs between processes; the result must not depend on it
    env.pop("PYTHONHASHSEED", None)
    subprocess.run(
        [sys.executable, str(script), str(seed), str(out)],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    with np.load(out) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def test_same_seed_in_fresh_processes_gives_bit_identical_weights(tmp_path):
    first = _train_in_fresh_process(tmp_path, 123, "a")
    second = _train_in_fresh_process(tmp_path, 123, "b")
    assert len(first) == 5  # kernel, bias, kernel, bias, epoch losses
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    other = _train_in_fresh_process(tmp_path, 124, "c")
    for a, b in zip(first, other, strict=True):
        assert not np.array_equal(a, b)


def test_same_seed_in_one_process_gives_identical_weights():
    from axonal.layers import Dense, Dropout
    from axonal.models import Sequential
    from axonal.utils import set_random_seed

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)

    def train(seed):
        set_random_seed(seed)
        model = Sequential(
            [Dense(8, input_dim=3, activation="relu"), Dropout(0.5), Dense(2, activation="softmax")]
        )
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    first, second, other = train(5), train(5), train(6)
    assert all(np.isfinite(w).all() for w in first)
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
