"""Ctrl-C during fit: stop at a step boundary, keep weights and History, run on_train_end."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from axonal import optimizers
from axonal.callbacks import Callback
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.utils import clear_session, set_random_seed

SRC = Path(__file__).resolve().parents[1] / "src"
MESSAGE = re.compile(
    r"Training interrupted at epoch (\d+)/(\d+), step (\d+)/(\d+): keeping the weights and the "
    r"history of (\d+) completed epochs?\."
)

# os.kill(pid, SIGINT) and Popen.send_signal(SIGINT) deliver a real Ctrl-C on POSIX only
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(7)
    # Ctrl-C raises KeyboardInterrupt, as in a plain Python program
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
    clear_session()


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def small_net():
    model = Sequential([Dense(6, input_dim=4, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


class Recorder(Callback):
    """Sends SIGINT to this process from a hook; records what fit did."""

    def __init__(self, at_batch=None, at_epoch_end=None, times=1):
        super().__init__()
        self.at_batch = at_batch
        self.at_epoch_end = at_epoch_end
        self.times = times
        self.weights_after_step = []
        self.epoch_ends = []
        self.train_end = None
        self.handler_during_fit = None

    def on_train_begin(self, logs=None):
        self.handler_during_fit = signal.getsignal(signal.SIGINT)

    def _interrupt(self):
        for _ in range(self.times):
            os.kill(os.getpid(), signal.SIGINT)
            # let the handler run before the next signal (signals of one kind do not queue)
            time.sleep(0.01)

    def on_train_batch_end(self, batch, logs=None):
        self.weights_after_step.append(self.model.get_weights())
        if (len(self.epoch_ends), batch) == self.at_batch:
            self._interrupt()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(epoch)
        if epoch == self.at_epoch_end:
            self._interrupt()

    def on_train_end(self, logs=None):
        self.train_end = dict(logs or {})


def same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_ctrl_c_mid_epoch_keeps_the_completed_epochs(capsys):
    x, y = data()
    model = small_net()
    # 5 steps per epoch; Ctrl-C after step 4 (index 3) of epoch 3
    recorder = Recorder(at_batch=(2, 3))
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[recorder])
    assert history.epoch == [0, 1]
    assert len(history.history["loss"]) == 2
    assert recorder.epoch_ends == [0, 1]
    # the step in progress finished and no other step ran: the weights are those after it
    assert len(recorder.weights_after_step) == 14
    assert same_weights(model.get_weights(), recorder.weights_after_step[-1])
    assert model.optimizer.iterations == 14
    # on_train_end ran with the last completed epoch's logs
    assert recorder.train_end["loss"] == history.history["loss"][-1]
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "interrupted" in line]
    assert lines == [
        "Training interrupted at epoch 3/10, step 4/5: keeping the weights and the history of "
        "2 completed epochs."
    ]
    # the previous handler is back
    assert recorder.handler_during_fit is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_on_epoch_end_keeps_that_epoch(capsys):
    x, y = data()
    model = small_net()
    recorder = Recorder(at_epoch_end=1)
    history = model.fit(
        x, y, epochs=10, batch_size=10, validation_split=0.2, verbose=0, callbacks=[recorder]
    )
    assert history.epoch == [0, 1]
    assert "val_loss" in history.history
    assert len(recorder.weights_after_step) == 8
    assert same_weights(model.get_weights(), recorder.weights_after_step[-1])
    match = MESSAGE.search(capsys.readouterr().out)
    assert match.groups() == ("2", "10", "4", "4", "2")


def test_ctrl_c_with_a_progress_bar_starts_a_new_line(capsys):
    x, y = data()
    history = small_net().fit(
        x, y, epochs=5, batch_size=10, verbose=1, callbacks=[Recorder(at_batch=(1, 0))]
    )
    assert history.epoch == [0]
    out = capsys.readouterr().out
    assert "\nTraining interrupted at epoch 2/5, step 1/5" in out
    assert out.endswith("1 completed epoch.\n")


def test_a_second_ctrl_c_raises_at_once():
    x, y = data()
    model = small_net()
    recorder = Recorder(at_batch=(1, 2), times=2)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[recorder])
    assert recorder.train_end is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_fit_without_ctrl_c_restores_the_handler_and_stop_training_is_reset():
    x, y = data()
    model = small_net()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Recorder(at_batch=(0, 0))])
    assert model.stop_training
    history = model.fit(x, y, epochs=2, verbose=0)
    assert history.epoch == [0, 1]
    assert not model.stop_training
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class RaiseKeyboardInterrupt(Callback):
    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step
        self.steps = 0
        self.ended = False

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at_step:
            raise KeyboardInterrupt

    def on_train_end(self, logs=None):
        self.ended = True


def test_a_custom_sigint_handler_is_left_alone_and_keyboard_interrupt_is_caught(capsys):
    def custom(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, custom)
    x, y = data()
    callback = RaiseKeyboardInterrupt(at_step=7)
    history = small_net().fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[callback])
    assert history.epoch == [0]
    assert callback.ended
    assert signal.getsignal(signal.SIGINT) is custom
    assert "history of 1 completed epoch." in capsys.readouterr().out


def test_keyboard_interrupt_outside_the_main_thread_is_caught():
    x, y = data()
    model = small_net()
    callback = RaiseKeyboardInterrupt(at_step=12)
    result = {}

    def train():
        result["history"] = model.fit(
            x, y, epochs=10, batch_size=10, verbose=0, callbacks=[callback]
        )

    thread = threading.Thread(target=train)
    thread.start()
    thread.join(60)
    assert result["history"].epoch == [0, 1]
    assert callback.ended
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_sigint_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seen = []

    class Look(Callback):
        def on_train_begin(self, logs=None):
            seen.append(signal.getsignal(signal.SIGINT))

    x, y = data()
    small_net().fit(x, y, epochs=1, verbose=0, callbacks=[Look()])
    assert seen == [signal.SIG_IGN]
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


# ---------------------------------------------------------------- a real Ctrl-C, in a subprocess

CHILD = textwrap.dedent(
    """
    import hashlib, signal, sys, time
    import numpy as np
    from axonal import optimizers
    from axonal.callbacks import Callback
    from axonal.layers import Dense
    from axonal.models import Sequential
    from axonal.utils import set_random_seed

    def checksum(model):
        digest = hashlib.sha256()
        for array in model.get_weights():
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    model = Sequential([Dense(16, input_dim=8, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")

    mode, steps = sys.argv[1], int(sys.argv[2])

    class Marker(Callback):
        def __init__(self):
            super().__init__()
            self.last = None

        def on_train_batch_end(self, batch, logs=None):
            self.last = checksum(model)
            if mode == "replay" and model.optimizer.iterations == steps:
                model.stop_training = True
            elif mode == "double" and model.optimizer.iterations == 30:
                print("SLEEPING", flush=True)
                time.sleep(60)
            elif mode == "interrupt":
                time.sleep(0.005)  # 20 steps an epoch: about 0.1 s

        def on_epoch_end(self, epoch, logs=None):
            print(f"EPOCH_END {epoch} {logs['loss']!r}", flush=True)

        def on_train_end(self, logs=None):
            print("TRAIN_END", flush=True)

    marker = Marker()
    history = model.fit(x, y, epochs=100000, batch_size=10, verbose=0, shuffle=True,
                        callbacks=[marker])
    print("HISTORY", len(history.history["loss"]), len(history.epoch), flush=True)
    print("LOSSES", " ".join(repr(v) for v in history.history["loss"]), flush=True)
    print("ITERATIONS", model.optimizer.iterations, flush=True)
    print("WEIGHTS", checksum(model), flush=True)
    print("LAST_STEP", marker.last, flush=True)
    print("HANDLER", signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
    """
)


def start_child(tmp_path, mode, steps=0):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-u", str(script), mode, str(steps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(process, prefix, timeout=60.0):
    """Lines of the child's stdout up to and including the first that starts with ``prefix``."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    process.kill()
    raise AssertionError(f"child never printed {prefix!r}; got {lines}")


def fields(lines, key):
    return [line.split(" ", 1)[1] for line in lines if line.startswith(key + " ")]


@pytest.mark.slow
def test_sigint_to_a_training_process_keeps_history_and_weights(tmp_path):
    child = start_child(tmp_path, "interrupt")
    try:
        before = read_until(child, "EPOCH_END 2")
        time.sleep(0.03)  # most likely mid-epoch; either way, the checks below hold
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    lines = before + out.splitlines()
    messages = [line for line in lines if line.startswith("Training interrupted")]
    assert len(messages) == 1, lines
    match = MESSAGE.fullmatch(messages[0])
    assert match, messages[0]
    _, _, _, _, completed = (int(g) for g in match.groups())

    epoch_ends = fields(lines, "EPOCH_END")
    history_length, history_epochs = (int(v) for v in fields(lines, "HISTORY")[0].split())
    # the History holds exactly the epochs that completed (each printed its marker)
    assert history_length == history_epochs == len(epoch_ends) == completed >= 3
    assert fields(lines, "LOSSES")[0].split() == [end.split()[1] for end in epoch_ends]
    # on_train_end ran once, before fit returned
    assert lines.count("TRAIN_END") == 1
    assert lines.index("TRAIN_END") < lines.index(next(line for line in lines if "HISTORY" in line))
    # the weights are those after the last step that ran, and the handler is restored
    weights = fields(lines, "WEIGHTS")[0]
    assert weights == fields(lines, "LAST_STEP")[0]
    assert fields(lines, "HANDLER") == ["True"]

    # training again for exactly that many steps, uninterrupted, gives the same weights
    iterations = int(fields(lines, "ITERATIONS")[0])
    replay = start_child(tmp_path, "replay", iterations)
    out, err = replay.communicate(timeout=120)
    assert replay.returncode == 0, err
    assert fields(out.splitlines(), "ITERATIONS") == [str(iterations)]
    assert fields(out.splitlines(), "WEIGHTS") == [weights]


@pytest.mark.slow
def test_a_second_sigint_stops_the_process_at_once(tmp_path):
    child = start_child(tmp_path, "double")
    try:
        read_until(child, "SLEEPING")
        child.send_signal(signal.SIGINT)
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "TRAIN_END" not in out
    assert "Training interrupted" not in out
