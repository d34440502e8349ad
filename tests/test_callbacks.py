"""Callbacks with Keras 3 semantics, each on a small real fit."""

import contextlib
import csv
import math
import os

import numpy as np
import pytest

from axonal import callbacks as callbacks_module
from axonal import optimizers
from axonal.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from axonal.layers import Dense
from axonal.models import Model, Sequential
from axonal.utils import clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(1234)
    yield
    clear_session()


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


def small_net(optimizer=None, metrics=("accuracy",)):
    model = Sequential([Dense(5, input_dim=4, activation="relu"), Dense(2, activation="softmax")])
    model.compile(
        optimizer=optimizer if optimizer is not None else optimizers.SGD(learning_rate=0.1),
        loss="sparse_categorical_crossentropy",
        metrics=list(metrics),
    )
    return model


class Script(Callback):
    """Puts scripted values under ``key`` in each epoch's logs, before later callbacks see them;
    records the weights at each epoch end."""

    def __init__(self, values, key="val_score"):
        super().__init__()
        self.values = list(values)
        self.key = key
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def run(callbacks, epochs=None, values=None, key="val_score", model=None, **fit_kwargs):
    """Fit a small model with a Script first (when values are given); returns (history, script)."""
    x, y = data()
    model = model or small_net()
    script = None
    if values is not None:
        script = Script(values, key)
        callbacks = [script, *callbacks]
        epochs = epochs or len(values)
    fit_kwargs.setdefault("batch_size", 10)
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks, **fit_kwargs)
    return history, script


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


# ---------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience_counts_epochs_without_improvement():
    # best at epoch 1, then two epochs without improvement: stops at epoch 3
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.1]
    stop = EarlyStopping(monitor="val_score", mode="min", patience=2)
    history, _ = run([stop], values=values)
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3
    assert stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stop = EarlyStopping(monitor="val_score", mode="min")
    history, _ = run([stop], values=[1.0, 0.9, 0.9, 0.5])
    # equal is not better
    assert history.epoch == [0, 1, 2]


def test_early_stopping_min_delta():
    values = [1.0, 0.99, 0.98, 0.97, 0.96]
    history, _ = run(
        [EarlyStopping("val_score", min_delta=0.05, patience=1, mode="min")], values=values
    )
    assert history.epoch == [0, 1]
    history, _ = run(
        [EarlyStopping("val_score", min_delta=0.005, patience=1, mode="min")], values=values
    )
    assert history.epoch == [0, 1, 2, 3, 4]
    # min_delta's sign does not matter (Keras takes its absolute value)
    history, _ = run(
        [EarlyStopping("val_score", min_delta=-0.05, patience=1, mode="min")], values=values
    )
    assert history.epoch == [0, 1]


def test_early_stopping_baseline_keeps_counting_until_it_is_beaten():
    rising = [1.0, 1.1, 1.2, 1.3, 1.4]
    without, _ = run([EarlyStopping("val_score", patience=2, mode="min")], values=rising)
    assert without.epoch == [0, 1, 2]
    # the first epoch does not beat the baseline, so it does not reset the count
    with_baseline, _ = run(
        [EarlyStopping("val_score", patience=2, mode="min", baseline=0.5)], values=rising
    )
    assert with_baseline.epoch == [0, 1]
    # beating the baseline resets the count as usual
    beaten, _ = run(
        [EarlyStopping("val_score", patience=2, mode="min", baseline=0.5)],
        values=[0.4, 0.45, 0.46, 0.47, 0.48],
    )
    assert beaten.epoch == [0, 1, 2]


def test_early_stopping_restore_best_weights():
    values = [1.0, 0.5, 0.7, 0.8, 0.9]
    stop = EarlyStopping("val_score", patience=2, mode="min", restore_best_weights=True)
    x, y = data()
    model = small_net()
    history, script = run([stop], values=values, model=model)
    assert history.epoch == [0, 1, 2, 3]
    assert same_weights(model.get_weights(), script.weights[1])
    assert not same_weights(model.get_weights(), script.weights[3])
    # without restoring, the last epoch's weights stay
    model = small_net()
    _, script = run(
        [EarlyStopping("val_score", patience=2, mode="min")], values=values, model=model
    )
    assert same_weights(model.get_weights(), script.weights[3])


def test_early_stopping_restores_best_weights_even_without_stopping():
    model = small_net()
    stop = EarlyStopping("val_score", patience=10, mode="min", restore_best_weights=True)
    history, script = run([stop], values=[1.0, 0.2, 0.5], model=model)
    assert history.epoch == [0, 1, 2]
    assert same_weights(model.get_weights(), script.weights[1])


def test_early_stopping_start_from_epoch_ignores_the_warm_up():
    values = [0.1, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    history, _ = run([EarlyStopping("val_score", patience=1, mode="min")], values=values)
    assert history.epoch == [0, 1]
    stop = EarlyStopping("val_score", patience=1, mode="min", start_from_epoch=3)
    history, _ = run([stop], values=values)
    assert history.epoch == [0, 1, 2, 3, 4]
    assert stop.best == 1.2


def test_early_stopping_modes():
    values = [0.5, 0.6, 0.55, 0.54, 0.9]
    history, _ = run([EarlyStopping("val_score", patience=1, mode="max")], values=values)
    assert history.epoch == [0, 1, 2]
    history, _ = run([EarlyStopping("val_score", patience=1, mode="min")], values=values)
    assert history.epoch == [0, 1]
    # auto: accuracy goes up, losses and errors go down
    history, _ = run([EarlyStopping("val_accuracy", patience=1)], values=values, key="val_accuracy")
    assert history.epoch == [0, 1, 2]
    history, _ = run([EarlyStopping("val_my_loss", patience=1)], values=values, key="val_my_loss")
    assert history.epoch == [0, 1]
    history, _ = run([EarlyStopping("val_mae", patience=1)], values=values, key="val_mae")
    assert history.epoch == [0, 1]


def test_early_stopping_auto_mode_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="mode='max'"):
        run([EarlyStopping("val_score")], values=[1.0, 2.0])


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        stop = EarlyStopping(mode="sideways")
    assert stop.mode == "auto"


def test_early_stopping_on_the_real_loss():
    # a learning rate of 0 keeps the loss the same: no improvement after the first epoch
    x, y = data()
    model = small_net(optimizers.SGD(learning_rate=0.0))
    stop = EarlyStopping(monitor="loss", patience=2)
    history = model.fit(x, y, epochs=20, batch_size=10, shuffle=False, verbose=0, callbacks=[stop])
    assert history.epoch == [0, 1, 2]
    # and a learning model keeps improving on the training loss
    model = small_net(optimizers.SGD(learning_rate=0.1))
    history = model.fit(x, y, epochs=5, batch_size=40, verbose=0, callbacks=[EarlyStopping("loss")])
    assert len(history.epoch) == 5


def test_early_stopping_on_val_loss_with_validation_data():
    x, y = data()
    model = small_net(optimizers.SGD(learning_rate=0.0))
    stop = EarlyStopping(patience=1)
    history = model.fit(
        x, y, epochs=20, batch_size=10, validation_split=0.25, verbose=0, callbacks=[stop]
    )
    assert history.epoch == [0, 1]
    assert "val_loss" in history.history


def test_early_stopping_warns_when_the_monitored_key_is_missing():
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        history, _ = run([EarlyStopping(patience=0)], epochs=3)
    assert history.epoch == [0, 1, 2]


def test_early_stopping_verbose_messages(capsys):
    stop = EarlyStopping("val_score", mode="min", verbose=1, restore_best_weights=True)
    run([stop], values=[1.0, 0.5, 0.7, 0.1])
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_is_reusable_across_fits():
    stop = EarlyStopping("val_score", mode="min")
    first, _ = run([stop], values=[1.0, 2.0, 3.0])
    assert first.epoch == [0, 1]
    second, _ = run([stop], values=[5.0, 4.0, 4.5])
    assert second.epoch == [0, 1, 2]


# ---------------------------------------------------------------- ModelCheckpoint


class Saves:
    """Records model.save / model.save_weights calls instead of writing files."""

    def __init__(self, model):
        self.calls = []
        model.save = lambda path, *a, **k: self.calls.append(("save", os.fspath(path)))
        model.save_weights = lambda path, *a, **k: self.calls.append(("weights", os.fspath(path)))


def test_model_checkpoint_formats_the_filepath_from_epoch_and_logs(tmp_path):
    x, y = data()
    model = small_net()
    saves = Saves(model)
    pattern = os.fspath(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}-{accuracy:.3f}.axonal")
    checkpoint = ModelCheckpoint(pattern)
    history = model.fit(
        x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0, callbacks=[checkpoint]
    )
    expected = [
        (
            "save",
            os.fspath(
                tmp_path / f"ckpt-{e + 1:02d}-{history.history['val_loss'][e]:.2f}-"
                f"{history.history['accuracy'][e]:.3f}.axonal"
            ),
        )
        for e in range(3)
    ]
    assert saves.calls == expected


def test_model_checkpoint_save_best_only_min_and_max(tmp_path):
    values = [1.0, 0.8, 0.9, 0.7, 0.75]
    model = small_net()
    saves = Saves(model)
    checkpoint = ModelCheckpoint(
        os.fspath(tmp_path / "e{epoch}.axonal"),
        monitor="val_score",
        mode="min",
        save_best_only=True,
    )
    run([checkpoint], values=values, model=model)
    assert [os.path.basename(p) for _, p in saves.calls] == ["e1.axonal", "e2.axonal", "e4.axonal"]
    assert checkpoint.best == 0.7

    model = small_net()
    saves = Saves(model)
    checkpoint = ModelCheckpoint(
        os.fspath(tmp_path / "e{epoch}.axonal"),
        monitor="val_score",
        mode="max",
        save_best_only=True,
    )
    run([checkpoint], values=values, model=model)
    assert [os.path.basename(p) for _, p in saves.calls] == ["e1.axonal"]


def test_model_checkpoint_auto_mode_and_initial_value_threshold(tmp_path):
    model = small_net()
    saves = Saves(model)
    checkpoint = ModelCheckpoint(
        os.fspath(tmp_path / "e{epoch}.axonal"),
        monitor="val_accuracy",
        save_best_only=True,
        initial_value_threshold=0.6,
    )
    run([checkpoint], values=[0.5, 0.7, 0.65, 0.8], key="val_accuracy", model=model)
    assert [os.path.basename(p) for _, p in saves.calls] == ["e2.axonal", "e4.axonal"]


def test_model_checkpoint_save_weights_only(tmp_path):
    model = small_net()
    saves = Saves(model)
    run(
        [ModelCheckpoint(os.fspath(tmp_path / "w.weights.npz"), save_weights_only=True)],
        epochs=2,
        model=model,
    )
    assert saves.calls == [("weights", os.fspath(tmp_path / "w.weights.npz"))] * 2


def test_model_checkpoint_missing_monitor_saves_with_a_warning(tmp_path):
    model = small_net()
    saves = Saves(model)
    checkpoint = ModelCheckpoint(os.fspath(tmp_path / "m.axonal"), save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        run([checkpoint], epochs=2, model=model)
    assert len(saves.calls) == 2


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    model = small_net()
    saves = Saves(model)
    checkpoint = ModelCheckpoint(os.fspath(tmp_path / "e{epoch}-b{batch}.axonal"), save_freq=3)
    # 4 batches per epoch: every third batch counted across epochs (batch 3 of epoch 1, 2 of 2)
    run([checkpoint], epochs=2, model=model)
    assert [os.path.basename(p) for _, p in saves.calls] == ["e1-b3.axonal", "e2-b2.axonal"]


def test_model_checkpoint_rejects_a_bad_save_freq_and_unknown_fields(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.axonal", save_freq="sometimes")
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.axonal", save_freq=0)
    model = small_net()
    Saves(model)
    with pytest.raises(KeyError, match="val_f1"):
        run([ModelCheckpoint(os.fspath(tmp_path / "{val_f1:.2f}.axonal"))], epochs=1, model=model)


def test_model_checkpoint_creates_the_folder_and_prints_when_verbose(tmp_path, capsys):
    model = small_net()
    saves = Saves(model)
    path = tmp_path / "a" / "b" / "m.axonal"
    run([ModelCheckpoint(path, verbose=1)], epochs=1, model=model)
    assert (tmp_path / "a" / "b").is_dir()
    assert saves.calls == [("save", os.fspath(path))]
    out = capsys.readouterr().out
    assert f"Epoch 1: saving model to {path}" in out
    assert f"Epoch 1: finished saving model to {path}" in out


@pytest.mark.skipif(not hasattr(Model, "save"), reason="Model.save is not available yet")
def test_model_checkpoint_writes_real_files_that_load(tmp_path):
    from axonal import saving

    x, y = data()
    model = small_net()
    checkpoint = ModelCheckpoint(
        tmp_path / "best-{epoch:02d}.axonal", monitor="val_loss", save_best_only=True
    )
    weights = ModelCheckpoint(tmp_path / "last.weights.npz", save_weights_only=True)
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=10,
        validation_split=0.25,
        verbose=0,
        callbacks=[checkpoint, weights],
    )
    saved = sorted(p.name for p in tmp_path.glob("best-*.axonal"))
    val = history.history["val_loss"]
    improved = [e for e in range(4) if val[e] == min(val[: e + 1]) and val[e] not in val[:e]]
    assert saved == [f"best-{e + 1:02d}.axonal" for e in improved]
    # no temporary files are left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    loaded = saving.load_model(tmp_path / saved[-1])
    assert loaded.predict(x[:3], verbose=0).shape == (3, 2)
    clear_session()  # the same layer names as the saved model's
    again = small_net()
    again.load_weights(tmp_path / "last.weights.npz")
    assert same_weights(again.get_weights(), model.get_weights())


# ---------------------------------------------------------------- ReduceLROnPlateau


def lr_history(callback, values, lr=0.1):
    model = small_net(optimizers.SGD(learning_rate=lr))
    history, _ = run([callback], values=values, model=model)
    return history.history["learning_rate"], model


def test_reduce_lr_on_plateau_factor_and_patience():
    rates, model = lr_history(
        ReduceLROnPlateau("val_score", factor=0.5, patience=2, mode="min"), [1.0] * 6
    )
    # logged before the epoch's reduction: the rate each epoch trained with
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.025)


def test_reduce_lr_on_plateau_improvement_resets_the_count():
    rates, _ = lr_history(
        ReduceLROnPlateau("val_score", factor=0.5, patience=2, mode="min"),
        [1.0, 1.0, 0.5, 0.5, 0.5],
    )
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.1])
    # min_delta: 0.99995 is not enough of an improvement on 1.0 (default min_delta 1e-4)
    rates, _ = lr_history(
        ReduceLROnPlateau("val_score", factor=0.5, patience=2, mode="min"),
        [1.0, 0.99995, 0.9999, 0.99985],
    )
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05])


def test_reduce_lr_on_plateau_cooldown():
    rates, _ = lr_history(
        ReduceLROnPlateau("val_score", factor=0.5, patience=2, cooldown=2, mode="min"), [1.0] * 8
    )
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])


def test_reduce_lr_on_plateau_min_lr():
    rates, model = lr_history(
        ReduceLROnPlateau("val_score", factor=0.1, patience=1, min_lr=0.015, mode="min"), [1.0] * 5
    )
    assert rates == pytest.approx([0.1, 0.1, 0.015, 0.015, 0.015])
    assert model.optimizer.learning_rate == 0.015


def test_reduce_lr_on_plateau_verbose_and_validation(capsys):
    callback = ReduceLROnPlateau("val_score", factor=0.5, patience=1, mode="min", verbose=1)
    lr_history(callback, [1.0, 1.0])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05." in capsys.readouterr().out
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_on_the_real_loss():
    x, y = data()
    model = small_net(optimizers.SGD(learning_rate=0.05))
    # an improvement must be larger than 10: none after the first epoch sets the best
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=3, batch_size=40, verbose=0, callbacks=[callback])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)


def test_reduce_lr_on_plateau_warns_when_the_monitored_key_is_missing():
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric"):
        history, _ = run([ReduceLROnPlateau()], epochs=2)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1])


# ---------------------------------------------------------------- LearningRateScheduler


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch < 2 else lr * 0.5

    model = small_net(optimizers.SGD(learning_rate=0.1))
    history, _ = run([LearningRateScheduler(schedule)], epochs=4, model=model)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert [e for e, _ in seen] == [0, 1, 2, 3]
    assert seen[3][1] == pytest.approx(0.05)
    assert model.optimizer.learning_rate == pytest.approx(0.025)


def test_learning_rate_scheduler_one_argument_form_and_numpy_result(capsys):
    model = small_net(optimizers.SGD(learning_rate=0.1))
    callback = LearningRateScheduler(lambda epoch: np.float64(0.01 * (epoch + 1)), verbose=1)
    history, _ = run([callback], epochs=3, model=model)
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.03" in capsys.readouterr().out


def test_learning_rate_scheduler_drives_the_updates():
    # a rate of 0 from the scheduler leaves the weights where they are
    x, y = data()
    model = small_net(optimizers.SGD(learning_rate=0.1))
    model.fit(x[:1], y[:1], epochs=1, verbose=0)
    before = model.get_weights()
    run([LearningRateScheduler(lambda epoch, lr: 0.0)], epochs=2, model=model)
    assert same_weights(before, model.get_weights())


def test_learning_rate_scheduler_rejects_a_non_number():
    with pytest.raises(ValueError, match="should be a float"):
        run([LearningRateScheduler(lambda epoch, lr: "fast")], epochs=1)
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(0.1)


# ---------------------------------------------------------------- TerminateOnNaN


def diverging_run(callbacks, epochs=5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)) * 100.0
    y = rng.normal(size=(64, 1)) * 100.0
    model = Sequential([Dense(8, input_dim=4), Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    steps = []
    recorder = LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(logs["loss"]))
    with np.errstate(all="ignore"):
        history = model.fit(
            x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[recorder, *callbacks]
        )
    return history, steps


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    history, steps = diverging_run([TerminateOnNaN()])
    assert not math.isfinite(steps[-1])
    assert all(math.isfinite(loss) for loss in steps[:-1])
    assert len(steps) < 8
    assert history.epoch == [0]
    assert f"Batch {len(steps) - 1}: Invalid loss, terminating training" in capsys.readouterr().out
    # without it, training runs on through every epoch
    history, steps = diverging_run([])
    assert history.epoch == [0, 1, 2, 3, 4]


def test_terminate_on_nan_can_raise():
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch"):
        diverging_run([TerminateOnNaN(raise_error=True)])


# ---------------------------------------------------------------- CSVLogger


def read_csv(path, separator=","):
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter=separator))


def test_csv_logger_columns_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    x, y = data()
    model = small_net()
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        validation_split=0.25,
        verbose=0,
        callbacks=[CSVLogger(path)],
    )
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    for e, row in enumerate(rows[1:]):
        for column, value in zip(rows[0][1:], row[1:], strict=True):
            assert float(value) == history.history[column][e]


def test_csv_logger_reserves_validation_columns_and_uses_the_separator(tmp_path):
    path = tmp_path / "log.tsv"
    run([CSVLogger(path, separator="\t")], epochs=2)
    rows = read_csv(path, "\t")
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[3:] for row in rows[1:]] == [["NA", "NA"], ["NA", "NA"]]


def test_csv_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "log.csv"
    run([CSVLogger(path)], epochs=2)
    run([CSVLogger(path)], epochs=3)
    assert len(read_csv(path)) == 1 + 3
    run([CSVLogger(path, append=True)], epochs=2)
    rows = read_csv(path)
    assert len(rows) == 1 + 3 + 2
    assert [row[0] for row in rows] == ["epoch", "0", "1", "2", "0", "1"]
    # appending to a file that does not exist yet writes the header
    fresh = tmp_path / "fresh.csv"
    run([CSVLogger(fresh, append=True)], epochs=1)
    assert read_csv(fresh)[0][0] == "epoch"


def test_csv_logger_append_keeps_the_files_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\n0,1.5,1.6\n")
    run([CSVLogger(path, append=True)], epochs=1)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert rows[1] == ["0", "1.5", "1.6"]
    assert len(rows[2]) == 3 and rows[2][2] == "NA"


def test_csv_logger_file_is_complete_after_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    seen = []
    reader = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(read_csv(path)))
    run([CSVLogger(path), reader], epochs=3)
    assert [len(rows) for rows in seen] == [2, 3, 4]
    assert not [p for p in tmp_path.iterdir() if p.name != "log.csv"]


def test_csv_logger_writes_atomically(tmp_path, monkeypatch):
    """Every write goes through atomic_write; a failure mid-write leaves the previous file."""
    path = tmp_path / "log.csv"
    calls = []
    real = callbacks_module.atomic_write

    @contextlib.contextmanager
    def failing_third_write(target, mode="wb", encoding=None):
        calls.append(os.fspath(target))
        with real(target, mode, encoding=encoding) as handle:
            if len(calls) == 4:  # the train-begin write, then epochs 0 and 1, then this one
                handle.write("epoch,acc")
                raise OSError("disk full")
            yield handle

    monkeypatch.setattr(callbacks_module, "atomic_write", failing_third_write)
    with pytest.raises(OSError, match="disk full"):
        run([CSVLogger(path)], epochs=5)
    assert calls == [os.fspath(path)] * 4
    rows = read_csv(path)
    assert [row[0] for row in rows] == ["epoch", "0", "1"]
    assert not [p for p in tmp_path.iterdir() if p.name != "log.csv"]


def test_csv_logger_fails_before_training_on_an_unwritable_path(tmp_path):
    epochs = []
    with pytest.raises(FileNotFoundError):
        run(
            [
                CSVLogger(tmp_path / "missing" / "log.csv"),
                LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch)),
            ],
            epochs=2,
        )
    assert epochs == []


# ---------------------------------------------------------------- LambdaCallback


def test_lambda_callback_calls_each_function_with_keras_arguments():
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_train_batch_begin=lambda batch, logs: events.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: events.append(("batch_end", batch, "loss" in logs)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: events.append(("train_end", sorted(logs))),
        on_test_begin=lambda logs: events.append(("test_begin",)),
    )
    x, y = data(20)
    small_net().fit(
        x, y, epochs=2, batch_size=10, validation_split=0.5, verbose=0, callbacks=[callback]
    )
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    epoch = lambda e: [
        ("epoch_begin", e),
        ("batch_begin", 0),
        ("batch_end", 0, True),
        ("test_begin",),
        ("epoch_end", e, keys),
    ]
    assert events == [("train_begin", None), *epoch(0), *epoch(1), ("train_end", keys)]


def test_lambda_callback_with_some_hooks_only_and_bad_arguments():
    ends = []
    history, _ = run([LambdaCallback(on_epoch_end=lambda e, logs: ends.append(e))], epochs=3)
    assert ends == [0, 1, 2] == history.epoch
    with pytest.raises(TypeError, match="on_epoch_finish"):
        LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="must be a function"):
        LambdaCallback(on_epoch_end=3)


# ---------------------------------------------------------------- order and stop_training


def test_user_callbacks_run_before_history_so_their_logs_are_recorded():
    def add(epoch, logs):
        logs["extra"] = epoch * 2

    history, _ = run([LambdaCallback(on_epoch_end=add)], epochs=3)
    assert history.history["extra"] == [0, 2, 4]


def test_stop_training_from_a_callback_with_the_builtin_callbacks():
    def stop(epoch, logs):
        if epoch == 1:
            model.stop_training = True

    model = small_net()
    history, _ = run([LambdaCallback(on_epoch_end=stop)], epochs=10, model=model)
    assert history.epoch == [0, 1]
