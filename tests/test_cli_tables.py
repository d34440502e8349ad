"""The command line on ordinary tables: row-id columns, text features, missing cells, other
separators and encodings, the default model file, and the CSV reader's three paths (exact,
pandas, NumPy split) agreeing with each other and with pandas."""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from axonal import cli_table
from axonal.cli import main


def _needs_saving():
    pytest.importorskip("axonal.saving", reason="axonal.saving (model.save/load_model) not built")


def _write(path: Path, header, rows, sep=",", encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read(path: Path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _shop(tmp_path: Path, rows: int = 120, seed: int = 0, name="shop.csv", **kwargs) -> Path:
    """An id column, a text column that decides the label, a numeric one that does not."""
    rng = np.random.default_rng(seed)
    table = []
    for i in range(rows):
        color = ["red", "green", "blue"][i % 3]
        size = rng.normal()
        table.append([1000 + i, color, f"{size:.3f}", "buy" if color == "red" else "skip"])
    return _write(tmp_path / name, ["id", "color", "size", "label"], table, **kwargs)


def _load(path):
    from axonal.cli import _column_names
    from axonal.models import load_model

    model = load_model(str(path))
    return model, _column_names(model)


# ---------------------------------------------------------------- row ids


def test_an_id_column_is_left_out_with_a_note_and_include_keeps_it(tmp_path, capsys):
    _needs_saving()
    data = _shop(tmp_path)
    model = tmp_path / "m.axonal"
    base = ["train", "--data", data, "--target", "label", "--epochs", 30, "--seed", 0]
    status, out, err = _run(capsys, *base, "--verbose", 0, "--out", model)
    assert status == 0, err
    assert err.strip().splitlines() == [
        "axonal train: note: column 'id' is left out of the features (its name marks a row "
        "id); pass --include id to use it"
    ]
    _, columns = _load(model)
    assert columns.features == ["color", "size"]
    # explain never ranks it: the text column is the feature that matters
    status, out, err = _run(capsys, "explain", model, data, "--top", 1, "--max-rows", 3)
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4 and lines[-1] == "(117 more rows not shown; --max-rows 3)"
    assert lines[0].startswith("line 2: buy (")
    assert all(line.split()[-2] == "color" for line in lines[:3])

    status, out, err = _run(
        capsys, *base[:-4], "--epochs", 1, "--verbose", 0, "--include", "id", "--out", model
    )
    assert status == 0 and err == ""
    assert _load(model)[1].features == ["id", "color", "size"]


def test_a_counting_column_is_an_id_whatever_its_name(tmp_path, capsys):
    _needs_saving()
    rows = [[i + 1, f"{v:.3f}", "ab"[i % 2]] for i, v in enumerate(np.linspace(-1, 1, 12))]
    data = _write(tmp_path / "t.csv", ["row", "x", "y"], rows)
    status, _, err = _run(
        capsys, "train", "--data", data, "--target", "y", "--epochs", 1, "--verbose", 0,
        "--out", tmp_path / "m.axonal",
    )  # fmt: skip
    assert status == 0
    assert "column 'row' is left out of the features (its whole numbers count up" in err
    # a few rows prove nothing: five counting values are a feature
    small = _write(tmp_path / "s.csv", ["row", "x", "y"], rows[:5])
    status, _, err = _run(
        capsys, "train", "--data", small, "--target", "y", "--epochs", 1, "--verbose", 0,
        "--validation-split", 0, "--out", tmp_path / "m.axonal",
    )  # fmt: skip
    assert status == 0 and err == ""


def test_pandas_index_column_is_named_unnamed_0_and_left_out(tmp_path, capsys):
    _needs_saving()
    rows = [[i, f"{v:.2f}", "ab"[i % 2]] for i, v in enumerate(np.linspace(0, 1, 6))]
    data = _write(tmp_path / "t.csv", ["", "x", "y"], rows)
    status, _, err = _run(
        capsys, "train", "--data", data, "--target", "y", "--epochs", 1, "--verbose", 0,
        "--validation-split", 0, "--out", tmp_path / "m.axonal",
    )  # fmt: skip
    assert status == 0
    assert "column 'Unnamed: 0' is left out" in err
    assert _load(tmp_path / "m.axonal")[1].features == ["x"]


def test_exclude_repeatable_and_comma_separated(tmp_path, capsys):
    _needs_saving()
    rng = np.random.default_rng(0)
    rows = [[*(f"{v:.3f}" for v in rng.normal(size=4)), "ab"[i % 2]] for i in range(20)]
    data = _write(tmp_path / "t.csv", ["a", "b", "c", "d", "y"], rows)
    model = tmp_path / "m.axonal"
    base = ["train", "--data", data, "--target", "y", "--epochs", 1, "--verbose", 0]
    status, _, err = _run(capsys, *base, "--exclude", "a,c", "--exclude", "d", "--out", model)
    assert status == 0, err
    assert _load(model)[1].features == ["b"]
    status, _, err = _run(capsys, *base, "--exclude", "nope")
    assert status == 2
    assert "--exclude nope: " in err and "has no such column; the columns are a, b, c, d, y" in err
    status, _, err = _run(capsys, *base, "--exclude", "y")
    assert status == 2 and "--exclude y: that is the target column" in err
    status, _, err = _run(capsys, *base, "--exclude", "a,b,c,d")
    assert status == 2 and "no feature columns left besides the target 'y'" in err


# ---------------------------------------------------------------- text features


def test_text_column_is_one_hot_inside_the_model_and_unseen_categories_are_zeros(tmp_path, capsys):
    _needs_saving()
    data = _shop(tmp_path)
    model_path = tmp_path / "m.axonal"
    status, out, err = _run(
        capsys, "train", "--data", data, "--target", "label", "--epochs", 40, "--seed", 0,
        "--verbose", 2, "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert "text columns, one input per category: color (3)" in out
    model, columns = _load(model_path)
    assert columns.categories == {"color": ["blue", "green", "red"]}
    assert columns.encoded_features() == ["color=blue", "color=green", "color=red", "size"]

    status, out, _ = _run(capsys, "summary", model_path)
    assert "categories of color: blue, green, red" in out

    new = _write(
        tmp_path / "new.csv",
        ["size", "color"],
        [["0.5", "red"], ["-1.0", "blue"], ["0.25", "purple"], ["2.0", " green "]],
    )
    predictions = tmp_path / "p.csv"
    status, out, err = _run(capsys, "predict", model_path, new, "--out", predictions)
    assert status == 0, err
    assert err.strip() == (
        "axonal predict: warning: column 'color': 1 rows hold categories not seen in training "
        "('purple'); they are encoded as none of the known ones"
    )
    header, rows = _read(predictions)
    assert header == ["label", "probability_buy", "probability_skip"]
    assert [r[0] for r in rows[:2]] == ["buy", "skip"]
    # the oracle: the saved model on the encoding written out by hand (blue, green, red, size)
    x = np.array(
        [[0, 0, 1, 0.5], [1, 0, 0, -1.0], [0, 0, 0, 0.25], [0, 1, 0, 2.0]], dtype="float32"
    )
    expected = model.predict(x, verbose=0)
    got = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_column_of_names_is_refused_with_exclude_named(tmp_path, capsys):
    rows = [[f"person{i}", f"{i % 7}", "ab"[i % 2]] for i in range(60)]
    data = _write(tmp_path / "t.csv", ["name", "x", "y"], rows)
    status, _, err = _run(capsys, "train", "--data", data, "--target", "y")
    assert status == 2
    assert "column 'name' holds 60 different texts in 60 rows, too many to use as categories" in err
    assert "--exclude name" in err


# ---------------------------------------------------------------- missing cells


def _gappy(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        a, b = rng.normal(size=2)
        rows.append([f"{a:.3f}" if i % 5 else "", f"{b:.3f}", "pq"[int(a + b > 0)]])
    rows[7][1] = "NaN"
    return _write(tmp_path / "gaps.csv", ["a", "b", "y"], rows)


def test_missing_cells_without_an_option_name_the_cell_and_the_options(tmp_path, capsys):
    data = _gappy(tmp_path)
    status, out, err = _run(capsys, "train", "--data", data, "--target", "y")
    assert status == 2 and out == ""
    assert err.strip() == (
        f"axonal train: error: {data}, line 2, column 'a': the cell is empty; fill it in, or "
        "pass --fill mean|median|zero or --drop-missing"
    )


@pytest.mark.parametrize("method", ["mean", "median", "zero"])
def test_fill_stores_the_training_statistic_and_predict_applies_it(tmp_path, capsys, method):
    _needs_saving()
    data = _gappy(tmp_path)
    model_path = tmp_path / "m.axonal"
    status, _, err = _run(
        capsys, "train", "--data", data, "--target", "y", "--epochs", 2, "--verbose", 0,
        "--fill", method, "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    model, columns = _load(model_path)
    _, rows = _read(data)
    oracle = {
        name: np.array([float(r[i]) for r in rows if r[i] not in ("", "NaN")])
        for i, name in enumerate(["a", "b"])
    }
    for name, present in oracle.items():
        expected = {"mean": present.mean(), "median": np.median(present), "zero": 0.0}[method]
        assert columns.fill[name] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert columns.fill_method == method
    new = _write(tmp_path / "new.csv", ["a", "b"], [["", "0.5"], ["1.0", "nan"]])
    status, out, err = _run(capsys, "predict", model_path, new, "--out", "-")
    assert status == 0, err
    got = np.array([[float(v) for v in r[1:]] for r in list(csv.reader(out.splitlines()))[1:]])
    x = np.array([[columns.fill["a"], 0.5], [1.0, columns.fill["b"]]], dtype="float32")
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert (
        "empty cells filled with the training table's " + method
        in _run(capsys, "summary", model_path)[1]
    )


def test_drop_missing_leaves_out_those_rows_and_a_model_without_fill_refuses_gaps(tmp_path, capsys):
    _needs_saving()
    data = _gappy(tmp_path)
    model_path = tmp_path / "m.axonal"
    status, out, err = _run(
        capsys, "train", "--data", data, "--target", "y", "--epochs", 1, "--verbose", 2,
        "--drop-missing", "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert "gaps.csv: 31 rows, 2 features; 25 for training, 6 for validation" in out
    assert "dropped 9 rows with missing cells (--drop-missing)" in out
    new = _write(tmp_path / "new.csv", ["a", "b"], [["1", "2"], ["", "0.5"]])
    status, _, err = _run(capsys, "predict", model_path, new)
    assert status == 2
    assert "new.csv, line 3, column 'a': the cell is empty, and the model was trained" in err
    status, _, err = _run(capsys, "train", "--data", data, "--target", "y", "--fill", "mean",
                          "--drop-missing")  # fmt: skip
    assert status == 2 and "not allowed with argument" in err


def test_a_missing_target_is_dropped_by_drop_missing_only(tmp_path, capsys):
    _needs_saving()
    values = np.random.default_rng(0).normal(size=12)
    rows = [[f"{v:.2f}", "ab"[i % 2] if i != 3 else ""] for i, v in enumerate(values)]
    data = _write(tmp_path / "t.csv", ["x", "y"], rows)
    base = ["train", "--data", data, "--target", "y", "--epochs", 1, "--verbose", 0]
    status, _, err = _run(capsys, *base, "--fill", "mean", "--out", tmp_path / "m.axonal")
    assert status == 2
    assert "line 5, column 'y': the target cell is empty; every row needs a target" in err
    assert "--drop-missing" in err
    status, _, err = _run(capsys, *base, "--drop-missing", "--out", tmp_path / "m.axonal")
    assert status == 0, err


# ---------------------------------------------------------------- separators and encodings


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_separator_is_sniffed(tmp_path, capsys, sep, name):
    _needs_saving()
    data = _shop(tmp_path, rows=30, sep=sep)
    assert cli_table.sniff_separator(data.read_text()) == sep
    model_path = tmp_path / "m.axonal"
    status, _, err = _run(
        capsys, "train", "--data", data, "--target", "label", "--epochs", 1, "--verbose", 0,
        "--out", model_path,
    )  # fmt: skip
    assert status == 0, err
    assert _load(model_path)[1].features == ["color", "size"]
    status, out, err = _run(capsys, "predict", model_path, data, "--out", "-")
    assert status == 0, err
    assert len(out.strip().splitlines()) == 31


def test_sep_option_and_a_wrong_separator_hint(tmp_path, capsys):
    data = _write(tmp_path / "t.csv", ["a", "b", "y"], [["1,5", "2", "x"], ["3", "4", "y"]], ";")
    # decimal commas: the sniffer still sees the semicolons
    assert cli_table.sniff_separator(data.read_text()) == ";"
    status, _, err = _run(capsys, "train", "--data", data, "--target", "y", "--sep", ",")
    assert status == 2
    assert err.strip().endswith(
        "line 2: the row has 2 cells but the header names 1 columns (read with comma "
        "separators; if the file uses semicolon, tab, pipe, pass --sep)"
    )
    one = _write(tmp_path / "one.csv", ["a;y"], [["1;x"], ["2;y"]])
    status, _, err = _run(capsys, "train", "--data", one, "--target", "y", "--sep", ",")
    assert status == 2
    assert "no column 'y'; the columns are a;y (the header has no comma; is --sep right?)" in err
    status, _, err = _run(capsys, "train", "--data", data, "--target", "y", "--sep", "ab")
    assert status == 2 and "--sep: expected one character" in err
    table = cli_table.read_table(str(data), sep=";")
    assert table.header == ["a", "b", "y"]


def test_latin1_is_refused_with_the_encoding_named_and_encoding_reads_it(tmp_path, capsys):
    _needs_saving()
    rows = [[f"{v:.2f}", ["café", "thé"][i % 2]] for i, v in enumerate(np.linspace(0, 1, 10))]
    data = _write(tmp_path / "latin.csv", ["x", "drink"], rows, encoding="latin-1")
    base = ["train", "--data", data, "--target", "drink", "--epochs", 1, "--verbose", 0]
    status, out, err = _run(capsys, *base)
    assert status == 2 and out == ""
    assert err.strip() == (
        f"axonal train: error: {data}, line 2: not a UTF-8 text file (byte 0xe9 is not UTF-8); "
        "save the table as CSV UTF-8, or name its encoding with --encoding (e.g. --encoding "
        "latin-1)"
    )
    status, _, err = _run(capsys, *base, "--encoding", "latin-1", "--out", tmp_path / "m.axonal")
    assert status == 0, err
    assert _load(tmp_path / "m.axonal")[1].class_names == ["café", "thé"]
    status, _, err = _run(capsys, *base, "--encoding", "klingon")
    assert status == 2 and "--encoding klingon: no such text encoding" in err


# ---------------------------------------------------------------- the default model file


def test_train_without_out_saves_model_axonal_here_and_says_so(tmp_path, capsys, monkeypatch):
    _needs_saving()
    data = _shop(tmp_path, rows=30)
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(
        capsys, "train", "--data", data, "--target", "label", "--epochs", 1, "--verbose", 0
    )
    assert status == 0, err
    assert out.strip().splitlines()[-1] == (
        "saved the model to model.axonal (the default; --out names another file)"
    )
    assert (tmp_path / "model.axonal").stat().st_size > 0


# ---------------------------------------------------------------- the reader's paths


def _messy(tmp_path: Path, rows: int = 3000) -> Path:
    """Numbers, a category column, empty and NaN cells, blank lines, CRLF line ends."""
    rng = np.random.default_rng(7)
    lines = ["n,kind,v,code"]
    for i in range(rows):
        v = "" if i % 11 == 0 else ("NaN" if i % 13 == 0 else f"{rng.normal():.6g}")
        kind = ["alpha", "beta", "", "7"][i % 4]
        lines.append(f"{i * 0.5},{kind},{v},{i % 3}")
        if i % 500 == 250:
            lines.append("")
    path = tmp_path / "messy.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def _same(a, b):
    assert a.header == b.header and a.rows == b.rows
    np.testing.assert_array_equal(a.lines(), b.lines())
    for name in a.header:
        x, y = a.columns[name], b.columns[name]
        np.testing.assert_array_equal(x.missing, y.missing, err_msg=name)
        np.testing.assert_array_equal(x.numbers, y.numbers, err_msg=name)
        assert x.is_text() == y.is_text(), name
        if x.is_text():
            assert list(x.text_values()) == list(y.text_values()), name


@pytest.mark.parametrize("path_kind", ["pandas", "split"])
def test_fast_readers_equal_the_exact_one(tmp_path, monkeypatch, path_kind):
    data = _messy(tmp_path)
    exact = cli_table.read_table(str(data))
    assert exact._lines[0] == 2
    monkeypatch.setattr(cli_table, "PANDAS_MIN_BYTES", 0)
    if path_kind == "pandas":
        pytest.importorskip("pandas")
    else:
        monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas fails
        monkeypatch.setattr(cli_table, "_read_exact", None)  # and no quiet fallback
    fast = cli_table.read_table(str(data))
    _same(exact, fast)
    kind = exact.columns["kind"]
    assert kind.is_text() and kind.missing.sum() == 750
    assert set(kind.text_values()[~kind.missing]) == {"alpha", "beta", "7"}


def test_fast_paths_report_ragged_rows_like_the_exact_one(tmp_path, monkeypatch):
    data = tmp_path / "r.csv"
    data.write_text("a,b\n" + "1,2\n" * 50 + "3\n" + "4,5\n" * 10)
    monkeypatch.setattr(cli_table, "PANDAS_MIN_BYTES", 0)
    for pandas in (None, "real"):
        if pandas is None:
            monkeypatch.setitem(sys.modules, "pandas", None)
        else:
            monkeypatch.delitem(sys.modules, "pandas")
            pytest.importorskip("pandas")
        with pytest.raises(cli_table.CSVError, match="line 52: the row has 1 cells but the hea"):
            cli_table.read_table(str(data))


def test_numbers_equal_pandas_read_csv(tmp_path, monkeypatch):
    pandas = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 3)) * 10.0 ** rng.integers(-8, 8, size=(500, 3))
    rows = [[repr(float(v)) for v in r] for r in values]
    data = _write(tmp_path / "n.csv", ["a", "b", "c"], rows)
    frame = pandas.read_csv(data)
    for threshold in (1 << 40, 0):  # the exact reader, then pandas
        monkeypatch.setattr(cli_table, "PANDAS_MIN_BYTES", threshold)
        table = cli_table.read_table(str(data))
        got = np.stack([table.columns[n].numbers for n in "abc"], 1)
        np.testing.assert_allclose(got, frame.to_numpy(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(got, values, rtol=1e-15, atol=0)


def test_quoted_cells_go_through_the_csv_parser(tmp_path, monkeypatch):
    data = _write(tmp_path / "q.csv", ["name", "x"], [["a, b", "1"], ['say "hi"', "2"], ["c", "3"]])
    monkeypatch.setattr(cli_table, "PANDAS_MIN_BYTES", 0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    table = cli_table.read_table(str(data))
    assert list(table.columns["name"].text_values()) == ["a, b", 'say "hi"', "c"]
    np.testing.assert_array_equal(table.columns["x"].numbers, [1, 2, 3])


def test_progress_line_for_a_large_file(tmp_path, monkeypatch, capsys):
    data = _messy(tmp_path, rows=50)
    cli_table.read_table(str(data))
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli_table, "PROGRESS_MIN_BYTES", 0)
    cli_table.read_table(str(data))
    err = capsys.readouterr().err
    assert err.startswith(f"reading {data} (0.0 MB) ...") and " 50 rows in " in err


def test_column_names_round_trips_its_encoding():
    from axonal.layers.preprocessing import ColumnNames

    layer = ColumnNames(
        ["a", "color"], "y", ["p", "q"], categories={"color": ["r", "g"]}, fill={"a": 1.5},
        fill_method="median",
    )  # fmt: skip
    clone = ColumnNames.from_config(layer.get_config())
    assert clone.categories == {"color": ["r", "g"]}
    assert clone.fill == {"a": 1.5} and clone.fill_method == "median"
    assert clone.encoded_features() == ["a", "color=r", "color=g"]
    # a model trained on numbers alone keeps the old config
    assert "categories" not in ColumnNames(["a"], "y").get_config()
    with pytest.raises(ValueError, match="categories must map feature names"):
        ColumnNames(["a"], "y", categories={"b": ["x"]})


def test_a_header_wider_than_the_sniffed_sample(tmp_path):
    names = [f"feature_number_{i}" for i in range(5000)]  # ~100 KB of header
    data = _write(tmp_path / "wide.csv", names, [list(range(5000)), list(range(5000))], sep=";")
    table = cli_table.read_table(str(data))
    assert table.header == names and table.sep == ";"
    np.testing.assert_array_equal(table.columns["feature_number_4999"].numbers, [4999, 4999])
