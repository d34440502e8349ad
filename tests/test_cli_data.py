"""``axonal train --data`` / ``predict`` / ``summary`` on CSV files written by the tests, and every
kind of bad CSV: one line on stderr naming the line or column, exit status 2, no traceback."""

import builtins
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import axonal.callbacks
from axonal.cli import _infer_task, main

SRC = Path(__file__).resolve().parents[1] / "src"
METRICS_LINE = re.compile(r"^validation loss: (\d+\.\d{4})  validation (\w+): (\d+\.\d{4})$")


def _needs_saving():
    pytest.importorskip("axonal.saving", reason="axonal.saving (model.save/load_model) not built")


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _animals(tmp_path: Path, rows_per_class: int = 40, seed: int = 0) -> Path:
    """Three well-separated clusters labelled by name, sorted by class as tables often are."""
    rng = np.random.default_rng(seed)
    centres = {"cat": (0.0, 0.0), "dog": (6.0, 0.0), "eel": (0.0, 6.0)}
    rows = []
    for name, (cx, cy) in centres.items():
        for _ in range(rows_per_class):
            # the second feature in other units (x100), so standardisation matters
            rows.append([f"{cx + rng.normal():.4f}", f"{(cy + rng.normal()) * 100:.2f}", name])
    return _write(tmp_path / "animals.csv", ["length", "weight", "animal"], rows)


def _prices(tmp_path: Path, rows: int = 200, seed: int = 0) -> Path:
    """A linear target in large units: price = 50000 + 3000 * rooms - 20 * age."""
    rng = np.random.default_rng(seed)
    rooms = rng.integers(1, 8, size=rows)
    age = rng.uniform(0, 100, size=rows)
    price = 50000 + 3000 * rooms - 20 * age + rng.normal(size=rows) * 50
    table = [[int(r), f"{a:.2f}", f"{p:.2f}"] for r, a, p in zip(rooms, age, price, strict=True)]
    return _write(tmp_path / "prices.csv", ["rooms", "age", "price"], table)


def _train(capsys, *args) -> tuple[int, str, str]:
    status = main(["train", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---------------------------------------------------------------- end to end


def test_classification_with_string_labels_train_predict_summary(tmp_path, capsys):
    _needs_saving()
    data = _animals(tmp_path)
    model_path = tmp_path / "animals.axonal"
    status, out, err = _train(
        capsys, "--data", data, "--target", "animal", "--epochs", 40, "--seed", 0,
        "--verbose", 0, "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    match = METRICS_LINE.match(lines[0])
    assert match and match.group(2) == "accuracy", out
    assert float(match.group(3)) >= 0.9
    assert model_path.stat().st_size > 0

    # predict on a file whose columns are reordered, with the target column still present
    header, rows = _read(data)
    reordered = _write(
        tmp_path / "new.csv", ["animal", "weight", "length"], [[r[2], r[1], r[0]] for r in rows]
    )
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(model_path), str(reordered), "--out", str(predictions)]) == 0
    assert f"wrote {len(rows)} predictions to {predictions}" in capsys.readouterr().out
    out_header, out_rows = _read(predictions)
    assert out_header == ["animal", "probability_cat", "probability_dog", "probability_eel"]
    assert len(out_rows) == len(rows)
    labels = [r[0] for r in out_rows]
    assert set(labels) <= {"cat", "dog", "eel"}
    probabilities = np.array([[float(v) for v in r[1:]] for r in out_rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # each label is the most probable class
    assert labels == [["cat", "dog", "eel"][i] for i in probabilities.argmax(axis=1)]
    accuracy = np.mean([p == r[2] for p, r in zip(labels, rows, strict=True)])
    assert accuracy >= 0.9

    assert main(["summary", str(model_path)]) == 0
    summary = capsys.readouterr().out
    assert "(Normalization)" in summary
    # the column names are listed below the table, not as a layer of it
    assert "ColumnNames" not in summary and "column_names" not in summary
    assert "features: length, weight" in summary
    assert "target: animal (classes: cat, dog, eel)" in summary


def test_the_bundled_iris_table_trains_with_sklearns_class_order(tmp_path, capsys):
    # the README's command: species names in the CSV, classes numbered as scikit-learn does
    _needs_saving()
    data = SRC / "axonal" / "datasets" / "iris.csv"
    model_path = tmp_path / "iris.axonal"
    status, out, err = _train(
        capsys, "--data", data, "--target", "species", "--epochs", 40, "--seed", 0,
        "--verbose", 2, "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert "holds text labels; 3 classes: setosa, versicolor, virginica" in out
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(model_path), str(data), "--out", str(predictions)]) == 0
    capsys.readouterr()
    header, rows = _read(predictions)
    assert header == [
        "species", "probability_setosa", "probability_versicolor", "probability_virginica"
    ]  # fmt: skip
    _, table = _read(data)
    assert np.mean([p[0] == t[4] for p, t in zip(rows, table, strict=True)]) >= 0.8
    assert main(["summary", str(model_path)]) == 0
    assert "target: species (classes: setosa, versicolor, virginica)" in capsys.readouterr().out


def test_regression_train_predict_in_the_targets_units(tmp_path, capsys):
    _needs_saving()
    data = _prices(tmp_path)
    model_path = tmp_path / "prices.axonal"
    status, out, err = _train(
        capsys, "--data", data, "--target", "price", "--epochs", 150, "--seed", 0,
        "--verbose", 0, "--out", model_path, "--hidden", "16", "--learning-rate", 0.01,
    )  # fmt: skip
    assert status == 0, err
    match = METRICS_LINE.match(out.strip())
    assert match and match.group(2) == "mae", out

    header, rows = _read(data)
    features_only = _write(tmp_path / "x.csv", ["rooms", "age"], [r[:2] for r in rows])
    predictions = tmp_path / "p.csv"
    assert main(["predict", str(model_path), str(features_only), "--out", str(predictions)]) == 0
    out_header, out_rows = _read(predictions)
    assert out_header == ["price"]
    predicted = np.array([float(r[0]) for r in out_rows])
    truth = np.array([float(r[2]) for r in rows])
    # the spread of prices is ~6000; a fitted line is far closer than that
    assert np.mean(np.abs(predicted - truth)) < 0.1 * truth.std()

    assert main(["summary", str(model_path)]) == 0
    assert "target: price (a number)" in capsys.readouterr().out


def test_verbose_output_names_the_inferred_task_and_the_split(tmp_path, capsys):
    _needs_saving()
    data = _animals(tmp_path, rows_per_class=10)
    status, out, err = _train(
        capsys, "--data", data, "--target", "animal", "--epochs", 2, "--verbose", 2,
        "--out", tmp_path / "m.axonal",
    )  # fmt: skip
    assert status == 0, err
    assert "task: classification (column 'animal' holds text labels; 3 classes: " in out
    assert "30 rows, 2 features; 24 for training, 6 for validation" in out
    assert out.count("Epoch ") == 2
    assert f"saved the model to {tmp_path / 'm.axonal'}" in out


def test_same_seed_same_result(tmp_path, capsys):
    _needs_saving()
    data = _animals(tmp_path, rows_per_class=10)
    args = ["--data", data, "--target", "animal", "--epochs", 3, "--seed", 5, "--verbose", 0]
    first = _train(capsys, *args, "--out", tmp_path / "a.axonal")
    second = _train(capsys, *args, "--out", tmp_path / "b.axonal")
    assert first[0] == second[0] == 0
    assert first[1] == second[1]


def test_integer_labels_are_classes_unless_told_otherwise(tmp_path, capsys):
    _needs_saving()
    rng = np.random.default_rng(1)
    rows = [[f"{v:.3f}", 7 if v > 0 else 3] for v in rng.normal(size=40)]
    data = _write(tmp_path / "ints.csv", ["x", "grade"], rows)
    model_path = tmp_path / "ints.axonal"
    status, out, err = _train(
        capsys, "--data", data, "--target", "grade", "--epochs", 2, "--verbose", 2,
        "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert "task: classification (column 'grade' holds 2 distinct integers" in out
    assert main(["predict", str(model_path), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert _read(tmp_path / "p.csv")[0] == ["grade", "probability_3", "probability_7"]

    status, out, err = _train(
        capsys, "--data", data, "--target", "grade", "--task", "regression", "--epochs", 1,
        "--verbose", 2, "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert "task: regression (as asked" in out


def test_predict_to_stdout_and_a_model_without_column_names(tmp_path, capsys):
    _needs_saving()
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    model = Sequential([Input((2,)), Dense(3, activation="softmax")])
    model.save(tmp_path / "plain.axonal")
    data = _write(tmp_path / "x.csv", ["a", "b"], [[1, 2], [3, 4]])
    assert main(["predict", str(tmp_path / "plain.axonal"), str(data), "--out", "-"]) == 0
    table = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert table[0] == ["prediction", "probability_0", "probability_1", "probability_2"]
    assert len(table) == 3
    assert {row[0] for row in table[1:]} <= {"0", "1", "2"}


def test_plot_option_writes_the_curves(tmp_path, capsys):
    _needs_saving()
    pytest.importorskip("matplotlib")
    data = _animals(tmp_path, rows_per_class=10)
    curves = tmp_path / "curves.png"
    status, out, err = _train(
        capsys, "--data", data, "--target", "animal", "--epochs", 3, "--verbose", 0,
        "--out", tmp_path / "m.axonal", "--plot", curves,
    )  # fmt: skip
    assert status == 0, err
    assert curves.read_bytes().startswith(b"\x89PNG")


def test_plot_option_without_matplotlib_fails_before_training(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    data = _animals(tmp_path, rows_per_class=5)
    status, out, err = _train(
        capsys, "--data", data, "--target", "animal", "--out", tmp_path / "m.axonal",
        "--plot", tmp_path / "c.png",
    )  # fmt: skip
    assert status == 1
    assert "pip install -e '.[plot]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m.axonal").exists()


def test_early_stopping_stops_and_keeps_the_best_weights(tmp_path, capsys):
    _needs_saving()
    if not hasattr(axonal.callbacks, "EarlyStopping"):
        pytest.skip("axonal.callbacks.EarlyStopping is not built yet")
    # labels with no relation to the features: the validation loss soon rises (memorisation)
    rng = np.random.default_rng(0)
    rows = [[f"{a:.3f}", f"{b:.3f}", "pqr"[k]] for (a, b), k in zip(
        rng.normal(size=(60, 2)), rng.integers(0, 3, size=60), strict=True
    )]  # fmt: skip
    data = _write(tmp_path / "noise.csv", ["a", "b", "label"], rows)
    status, out, err = _train(
        capsys, "--data", data, "--target", "label", "--epochs", 500, "--seed", 0,
        "--verbose", 2, "--early-stopping", 3, "--learning-rate", 0.05,
        "--out", tmp_path / "m.axonal",
    )  # fmt: skip
    assert status == 0, err
    assert out.count("Epoch ") < 500
    # the reported (and saved) model is the best epoch's, not the last one's
    val_losses = [float(v) for v in re.findall(r"val_loss: (\d+\.\d+)", out)]
    final = METRICS_LINE.match(out.strip().splitlines()[-2])
    assert final, out
    assert float(final.group(1)) == pytest.approx(min(val_losses), abs=2e-4)


def test_train_in_a_fresh_process(tmp_path):
    _needs_saving()
    data = _animals(tmp_path, rows_per_class=5)
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "train", "--data", str(data), "--target", "animal",
         "--epochs", "1", "--verbose", "0", "--out", str(tmp_path / "m.axonal")],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert METRICS_LINE.match(result.stdout.strip()), result.stdout


# ---------------------------------------------------------------- task inference


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a", "c"], "classification"),
        (["1", "2", "x", "1"], "classification"),
        (["0", "1", "0", "1", "1", "0"], "classification"),
        (["0.5", "1.25", "3.0", "2.0"], "regression"),
        ([str(i) for i in range(100)], "regression"),  # many distinct integers
        (["1", "2", "3", "4"], "regression"),  # as many values as rows: a measurement
    ],
)
def test_task_inference(values, task):
    assert _infer_task(values, "y")[0] == task


# ---------------------------------------------------------------- bad CSV files


def _raw(tmp_path: Path, text: str, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


GOOD_HEADER = "a,b,label\n"
GOOD_ROWS = "1,2,x\n3,4,y\n5,6,x\n7,8,y\n9,10,x\n"

BAD_CSVS = [
    # (file contents, --target, fragment of the one-line error)
    (GOOD_HEADER + GOOD_ROWS, "species", "no column 'species'; the columns are a, b, label"),
    ("", "label", "bad.csv: the file is empty; expected a header row"),
    ("\n\n", "label", "bad.csv: the file is empty"),
    (GOOD_HEADER, "label", "bad.csv: no data rows after the header"),
    (GOOD_HEADER + "1,2,x\n3,four,y\n", "label", "line 3, column 'b': 'four' is not a number"),
    (GOOD_HEADER + "1,2,x\n3,4\n", "label", "line 3: the row has 2 cells but the header names 3"),
    (GOOD_HEADER + "1,2,x,9\n", "label", "line 2: the row has 4 cells but the header names 3"),
    (GOOD_HEADER + "1,2,x\n,4,y\n", "label", "line 3, column 'a': the cell is empty"),
    (GOOD_HEADER + "1,2,x\n3,NaN,y\n", "label", "line 3, column 'b': the value is NaN"),
    (GOOD_HEADER + "1,nan,x\n", "label", "line 2, column 'b': the value is NaN"),
    (GOOD_HEADER + "1,inf,x\n", "label", "line 2, column 'b': the value is infinite"),
    (GOOD_HEADER + "1,2,x\n3,4,\n", "label", "line 3, column 'label': the target cell is empty"),
    (GOOD_HEADER + "1,2,x\n3,4,NaN\n", "label", "line 3, column 'label': the target is NaN"),
    (GOOD_HEADER + "1,2,x\n3,4,x\n", "label", "column 'label' holds one value ('x') only"),
    ("a,a,label\n1,2,x\n", "label", "the header names column 'a' twice"),
    ("a,,label\n1,2,x\n", "label", "column 2 of the header has no name"),
    ("label\nx\ny\n", "label", "no feature columns besides the target 'label'"),
    ('a,b,label\n1,2,"x\n', "label", "not valid CSV"),
]


@pytest.mark.parametrize(("text", "target", "fragment"), BAD_CSVS)
def test_bad_csv_is_one_line_and_exit_2(tmp_path, capsys, text, target, fragment):
    path = _raw(tmp_path, text)
    status, out, err = _train(
        capsys, "--data", path, "--target", target, "--out", tmp_path / "m.axonal"
    )
    assert status == 2
    assert fragment in err
    assert err.startswith("axonal train: error: ")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert out == ""
    assert not (tmp_path / "m.axonal").exists()


def test_regression_target_that_is_not_a_number(tmp_path, capsys):
    path = _raw(tmp_path, "a,y\n1,2.5\n2,abc\n")
    status, _, err = _train(capsys, "--data", path, "--target", "y", "--task", "regression")
    assert status == 2
    assert "line 3, column 'y': 'abc' is not a number (regression targets must be numeric)" in err


def test_not_utf8_and_missing_file(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b,label\n1,2,caf\xe9\n".encode("latin-1"))
    status, _, err = _train(capsys, "--data", path, "--target", "label")
    assert status == 2
    assert "not a UTF-8 text file" in err
    status, _, err = _train(capsys, "--data", tmp_path / "nope.csv", "--target", "label")
    assert status == 2
    assert "nope.csv: no such file" in err


def test_bad_csv_in_a_fresh_process_has_no_traceback(tmp_path):
    path = _raw(tmp_path, GOOD_HEADER + "1,2,x\n3,oops,y\n")
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "train", "--data", str(path), "--target", "label"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"axonal train: error: {path}, line 3, column 'b': 'oops' is not a number (column 'b' "
        "holds numbers; fix the cell, or leave the column out with --exclude b)"
    ]


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--target", "y"], "--target only works together with --data FILE.csv."),
        (
            ["train", "--hidden", "8", "--plot", "c.png", "--out", "m.axonal"],
            "--hidden, --out and --plot only work together with --data FILE.csv.",
        ),
        (["train", "--early-stopping", "3"], "takes only --epochs, --batch-size, --seed and"),
        (["train", "--data", "x.csv"], "--data needs --target COLUMN"),
        (["train", "--hidden", "64,x"], "--hidden: expected comma-separated positive integers"),
        (["train", "--validation-split", "1.5"], "--validation-split: expected a fraction"),
        (["train", "--learning-rate", "0"], "--learning-rate: expected a positive number"),
        (["train", "--task", "ranking"], "--task: invalid choice: 'ranking'"),
        (["predict", "missing.axonal", "x.csv"], "missing.axonal: no such file"),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, fragment):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err
    assert "Traceback" not in err


def test_unknown_activation_and_missing_output_folder(tmp_path, capsys):
    data = _animals(tmp_path, rows_per_class=3)
    status, _, err = _train(capsys, "--data", data, "--target", "animal", "--activation", "rellu")
    assert status == 2
    assert "--activation: Unknown activation: 'rellu'. Did you mean 'relu'" in err
    status, _, err = _train(
        capsys, "--data", data, "--target", "animal", "--out", tmp_path / "no" / "m.axonal"
    )
    assert status == 2
    assert "does not exist" in err


def test_early_stopping_without_validation_rows_is_refused(tmp_path, capsys):
    # it would watch the training loss instead, silently: refuse and say what to pass
    data = _animals(tmp_path, rows_per_class=5)
    out = tmp_path / "m.axonal"
    status, stdout, err = _train(
        capsys, "--data", data, "--target", "animal", "--early-stopping", "3",
        "--validation-split", "0", "--out", out,
    )  # fmt: skip
    assert status == 2
    assert (
        "--early-stopping watches the validation loss, but --validation-split 0 holds no rows "
        "out; give --validation-split a fraction above 0"
    ) in err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_validation_split_that_leaves_no_row(tmp_path, capsys):
    data = _raw(tmp_path, GOOD_HEADER + "1,2,x\n3,4,y\n")
    status, _, err = _train(
        capsys, "--data", data, "--target", "label", "--validation-split", "0.2"
    )
    assert status == 2
    assert "--validation-split 0.2 of 2 rows leaves no validation row" in err


def test_predict_reports_missing_and_bad_feature_columns(tmp_path, capsys):
    _needs_saving()
    data = _animals(tmp_path, rows_per_class=5)
    model_path = tmp_path / "m.axonal"
    status, _, err = _train(
        capsys, "--data", data, "--target", "animal", "--epochs", 1, "--verbose", 0,
        "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    missing = _raw(tmp_path, "length,animal\n1,cat\n", "missing.csv")
    assert main(["predict", str(model_path), str(missing)]) == 2
    err = capsys.readouterr().err
    assert "missing.csv: no column 'weight'; the model was trained on length, weight" in err
    bad = _raw(tmp_path, "length,weight\n1,2\n3,heavy\n", "bad.csv")
    assert main(["predict", str(model_path), str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv, line 3, column 'weight': 'heavy' is not a number" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()
