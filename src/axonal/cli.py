"""The ``axonal`` command: a thin argparse front end over the public API.

``axonal train`` trains the classic iris network on the table bundled with the package;
``axonal train --data FILE.csv --target COLUMN`` trains on a user's table and saves the model,
``axonal predict`` applies a saved model to a CSV, ``axonal explain`` prints the features behind
each of its predictions and ``axonal summary`` describes one. The library itself is imported
inside the command functions, so ``axonal --help`` answers at once.

A CSV problem (missing column, a cell that is not a number, ragged rows…) is reported in one
line that names the file, the line and the column, with exit status 2, like a usage error.
Tables are read by ``axonal.cli_table`` (separator sniffed, pandas for large files when
installed); how text columns and empty cells became numbers is stored in the model's
``ColumnNames`` layer, so ``predict`` and ``explain`` repeat it on new files.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

_PROG = "axonal"

# integer targets with at most this many distinct values are taken as class labels
_MAX_INFERRED_CLASSES = 20

# options that only make sense with --data (the iris default has a fixed recipe)
_DATA_OPTIONS = {
    "target": "--target",
    "task": "--task",
    "hidden": "--hidden",
    "activation": "--activation",
    "learning_rate": "--learning-rate",
    "validation_split": "--validation-split",
    "early_stopping": "--early-stopping",
    "out": "--out",
    "plot": "--plot",
    "exclude": "--exclude",
    "include": "--include",
    "fill": "--fill",
    "sep": "--sep",
    "encoding": "--encoding",
}


class _UsageError(Exception):
    """A problem with the command's input (arguments or CSV contents): exit status 2."""


class _Unavailable(Exception):
    """A part of axonal (or an optional extra) that the command needs is missing: exit 1."""


# ---------------------------------------------------------------- argparse types


def _int_at_least(text: str, minimum: int, words: str) -> int:
    """Parse an int >= ``minimum`` for argparse; ``words`` names the kind in the error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {words} integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a {words} integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    return _int_at_least(text, 0, "non-negative")


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    return _int_at_least(text, 1, "positive")


def _positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """argparse type: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _layer_sizes(text: str) -> list[int]:
    """argparse type: comma-separated positive ints, e.g. ``64,32``; empty for no hidden layer."""
    if not text.strip():
        return []
    sizes = []
    for part in text.split(","):
        try:
            size = int(part)
        except ValueError:
            size = 0
        if size < 1:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive integers such as 64,32, got {text!r}"
            )
        sizes.append(size)
    return sizes


def _version() -> str:
    """The installed distribution's version, or 'unknown' when running from a bare source tree."""
    from importlib import metadata

    try:
        return metadata.version("axonal")
    except metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------- the parser


def _build_parser() -> argparse.ArgumentParser:
    """The parser for ``axonal`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="axonal: a Keras-compatible neural-network library on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(commands)
    _add_predict(commands)
    _add_summary(commands)
    _add_run_keras(commands)
    _add_explain(commands)
    _add_export(commands)
    return parser


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a network on a CSV file (or, without --data, the bundled iris table)",
        description=(
            "With --data FILE.csv --target COLUMN: train a network on your table (a header row; "
            "feature columns of numbers, or of text, which is one-hot encoded), standardising "
            "the features with statistics stored in the model, and save it (to model.axonal "
            "unless --out names a file). A column that looks like a row id (named id, *_id, "
            "index, or counting up one per row) is left out unless --include names it. Without "
            "--data: train Dense(4, relu) -> Dense(3, softmax) with "
            "Adam on the iris table bundled with axonal (80/20 split with random_state=42, "
            "standardised features) and print the test loss and accuracy. Started by mpirun "
            "(mpirun -n 4 axonal train ...), every process trains its share of each batch "
            "(axonal.distributed.DataParallel) and rank 0 alone prints and saves."
        ),
    )
    train.add_argument("--data", metavar="FILE.csv", help="the training table (CSV, header row)")
    train.add_argument("--target", metavar="COLUMN", help="the column to predict (with --data)")
    train.add_argument(
        "--exclude",
        action="append",
        metavar="COLUMN[,COLUMN...]",
        help="columns that are not features (repeatable or comma-separated)",
    )
    train.add_argument(
        "--include",
        action="append",
        metavar="COLUMN[,COLUMN...]",
        help="use these columns as features even though they look like row ids",
    )
    missing = train.add_mutually_exclusive_group()
    missing.add_argument(
        "--fill",
        choices=["mean", "median", "zero"],
        help=(
            "fill empty numeric cells with the training column's mean, median or 0 (stored in "
            "the model and applied by predict); an empty text cell is none of the categories"
        ),
    )
    missing.add_argument(
        "--drop-missing", action="store_true", help="leave out rows with an empty cell"
    )
    _add_table_options(train)
    train.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: classification for text labels or a few distinct integers, else regression",
    )
    train.add_argument(
        "--hidden",
        type=_layer_sizes,
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 64,32; '' for none)",
    )
    train.add_argument("--activation", help="activation of the hidden layers (default: relu)")
    train.add_argument(
        "--epochs", type=_non_negative_int, default=100, help="training epochs (default: 100)"
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="samples per gradient step (default: 10 for iris, 32 with --data)",
    )
    train.add_argument(
        "--learning-rate", type=_positive_float, help="Adam's learning rate (default: 0.001)"
    )
    train.add_argument(
        "--validation-split",
        type=_fraction,
        metavar="FRACTION",
        help="fraction of the rows, drawn at random, held out for validation (default: 0.2)",
    )
    train.add_argument(
        "--early-stopping",
        type=_non_negative_int,
        metavar="PATIENCE",
        help=(
            "stop after PATIENCE epochs without a better validation loss and keep the best "
            "weights (needs validation rows: a --validation-split above 0)"
        ),
    )
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        help="seed for initialisation and shuffling; runs with the same seed are identical",
    )
    train.add_argument(
        "--out", metavar="MODEL.axonal", help="where to save the model (default: model.axonal)"
    )
    train.add_argument(
        "--plot", metavar="CURVES.png", help="save the training curves there (needs matplotlib)"
    )
    train.add_argument(
        "--verbose",
        choices=["0", "1", "2", "auto"],
        default="auto",
        help="0 silent, 1 progress bar, 2 one line per epoch, auto: 1 on a terminal, else 2",
    )
    train.set_defaults(handler=_train)


def _add_predict(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="apply a saved model to the rows of a CSV file",
        description=(
            "Read the feature columns the model was trained on from FILE.csv (other columns, "
            "such as the target, are ignored) and write one row per input row: the predicted "
            "label and one probability column per class, or the predicted value."
        ),
    )
    predict.add_argument("model", metavar="MODEL.axonal", help="a model saved by axonal train")
    predict.add_argument("data", metavar="FILE.csv", help="the rows to predict (CSV, header row)")
    predict.add_argument(
        "--out",
        default="predictions.csv",
        metavar="PREDICTIONS.csv",
        help="where to write the predictions (default: predictions.csv; '-' for stdout)",
    )
    _add_table_options(predict)
    predict.set_defaults(handler=_predict)


def _add_summary(commands) -> None:
    summary = commands.add_parser(
        "summary",
        help="print the layers of a saved model",
        description="Print the layers, output shapes and parameter counts of a saved model.",
    )
    summary.add_argument("model", metavar="MODEL.axonal", help="a saved model")
    summary.set_defaults(handler=_summary)


def _add_run_keras(commands) -> None:
    run_keras = commands.add_parser(
        "run-keras",
        help="run a Keras 3 program unchanged on axonal",
        description=(
            "Run SCRIPT with 'keras', 'keras.*' and 'tensorflow.keras' resolved to axonal; "
            "ARGS are passed to the script as sys.argv[1:]."
        ),
    )
    run_keras.add_argument("script", metavar="SCRIPT.py", help="the Keras program")
    run_keras.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments")
    run_keras.set_defaults(handler=_run_keras)


def _run_keras(args) -> int:
    """Run ``axonal run-keras``: the script's own exit status, 0 when it ends normally."""
    from axonal import keras_compat

    return keras_compat.main([args.script, *args.args])


_EXPLAIN_METHODS = ("integrated_gradients", "gradient_x_input", "saliency", "smoothgrad")


def _add_explain(commands) -> None:
    explain = commands.add_parser(
        "explain",
        help="print the features that drove a saved model's prediction, row by row",
        description=(
            "Attribute each prediction of a saved model on the rows of FILE.csv to its input "
            "features and print each row's --top N features by absolute attribution (positive: "
            "pushed the output up). Classifiers attribute the probability of the predicted "
            "class, regressors the predicted value. Integrated gradients (the default) start "
            "from the column means of FILE.csv, so each attribution says how much the feature's "
            "difference from its average moved the output, and a row's attributions add up to "
            "f(row) - f(column means)."
        ),
    )
    explain.add_argument("model", metavar="MODEL.axonal", help="a model saved by axonal train")
    explain.add_argument("data", metavar="FILE.csv", help="the rows to explain (CSV, header row)")
    explain.add_argument(
        "--method",
        choices=_EXPLAIN_METHODS,
        default="integrated_gradients",
        help="the attribution method (default: integrated_gradients)",
    )
    explain.add_argument(
        "--top",
        type=_positive_int,
        default=3,
        metavar="N",
        help="features to print per row (default 3)",
    )
    explain.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        metavar="N",
        help="integrated gradients: points along the path (default 50)",
    )
    explain.add_argument(
        "--baseline",
        choices=["mean", "zeros"],
        default=None,
        help="integrated gradients: start from the column means (default) or from zeros",
    )
    explain.add_argument(
        "--max-rows",
        type=_positive_int,
        metavar="N",
        help="explain the first N rows only (the baseline still averages every row)",
    )
    _add_table_options(explain)
    explain.set_defaults(handler=_explain)


def _add_export(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write a saved model as an ONNX file (needs the onnx extra: pip install -e '.[onnx]')",
        description=(
            "Convert a saved model to ONNX for ONNX Runtime and other inference engines: the "
            "graph computes what predict computes, with a dynamic batch axis. A layer without "
            "an ONNX equivalent is named in the error and nothing is written."
        ),
    )
    export.add_argument("model", metavar="MODEL.axonal", help="a saved model")
    export.add_argument(
        "--onnx", required=True, metavar="OUT.onnx", help="where to write the ONNX file"
    )
    export.add_argument(
        "--opset", type=int, default=17, help="the ONNX opset to target (default: 17)"
    )
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    """Run ``axonal export``: the saved model written as an ONNX file."""
    _check_output_folder(args.onnx, "--onnx")
    model = _load(args.model)
    from axonal.export import to_onnx

    try:
        to_onnx(model, args.onnx, opset=args.opset)
    except ImportError as error:
        raise _Unavailable(str(error)) from None
    print(f"wrote {args.onnx} (ONNX opset {args.opset})")
    return 0


# ---------------------------------------------------------------- reading CSV files

_FILL_HINT = "--fill mean|median|zero or --drop-missing"
# a text feature column with more categories than this (and than half its rows) is a name or
# free text rather than a category: refused, with --exclude named
_MAX_CATEGORIES = 100


def _separator(text: str) -> str:
    """argparse type for --sep: one character; 'tab' (or a typed backslash-t) for a tab."""
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    sep = named.get(text.lower(), text)
    if len(sep) != 1 or sep in '\r\n"':
        raise argparse.ArgumentTypeError(
            f"expected one character such as ';' or the word tab, got {text!r}"
        )
    return sep


def _add_table_options(parser) -> None:
    """--sep and --encoding: how every command that reads a CSV reads it."""
    parser.add_argument(
        "--sep",
        type=_separator,
        metavar="CHAR",
        help="the cell separator (default: sniffed from the file: comma, semicolon, tab or pipe)",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="the file's text encoding, e.g. latin-1 (default: UTF-8)",
    )


def _read_table(path: str, args: argparse.Namespace):
    """The CSV file as an ``axonal.cli_table.Table``; a problem is a one-line usage error."""
    from axonal.cli_table import CSVError, read_table

    try:
        return read_table(path, sep=args.sep, encoding=args.encoding)
    except CSVError as error:
        raise _UsageError(str(error)) from None


def _names(values: list[str] | None) -> list[str]:
    """Column names given to a repeatable option, each maybe a comma-separated list."""
    names: list[str] = []
    for value in values or []:
        names += [part.strip() for part in value.split(",") if part.strip()]
    return names


def _id_reason(name: str, column, rows: int) -> str | None:
    """Why a column looks like a row id (not a feature), or None."""
    low = name.lower()
    if low in ("id", "index", "unnamed: 0") or low.endswith("_id"):
        return "its name marks a row id"
    if rows >= 10 and column.texts is None and not column.missing.any():
        import numpy

        values = column.numbers
        if (values == numpy.round(values)).all() and (numpy.diff(values) > 0).all():
            return "its whole numbers count up, one per row, as a row id does"
    return None


def _cell_problems(table, features, categories, fill, command: str) -> None:
    """Raise a usage error for the first bad feature cell (row by row, then column by column).

    Numeric columns: text, infinities and (without a fill value) missing cells; text columns:
    missing cells without a fill value.
    """
    import numpy

    first = None
    for order, name in enumerate(features):
        column = table.columns[name]
        if name in categories:
            bad = column.missing if fill is None else None
        else:
            bad = column.non_numbers() | numpy.isinf(column.numbers)
            if fill is None:
                bad = bad | column.missing
        if bad is not None and bad.any():
            row = int(bad.argmax())
            if first is None or (row, order) < first[:2]:
                first = (row, order, name)
    if first is None:
        return
    row, _, name = first
    where, cell = table.where(row, name)
    column = table.columns[name]
    if column.missing[row]:
        if cell:
            raise _UsageError(
                f"{where}: the value is NaN; fill in or drop rows with missing values "
                f"({_FILL_HINT})"
            )
        if command == "train":
            raise _UsageError(f"{where}: the cell is empty; fill it in, or pass {_FILL_HINT}")
        raise _UsageError(
            f"{where}: the cell is empty, and the model was trained without --fill; fill it in"
        )
    if math.isinf(column.numbers[row]):
        raise _UsageError(f"{where}: the value is infinite; features must be finite numbers")
    if command == "train":
        raise _UsageError(
            f"{where}: {cell!r} is not a number (column {name!r} holds numbers; fix the cell, "
            f"or leave the column out with --exclude {name})"
        )
    raise _UsageError(f"{where}: {cell!r} is not a number (the model reads {name!r} as numbers)")


def _encode(table, features, categories, fill, command: str):
    """The model's input matrix (float64): numbers as they are (empty cells filled), one 0/1
    column per category of each text column. Unseen categories are all zeros, with a warning."""
    import numpy

    _cell_problems(table, features, categories, fill, command)
    width = sum(len(categories[name]) if name in categories else 1 for name in features)
    out = numpy.zeros((table.rows, width), dtype="float64")
    position = 0
    for name in features:
        column = table.columns[name]
        if name not in categories:
            values = column.numbers
            if column.missing.any():
                values = numpy.where(column.missing, fill[name], values)
            out[:, position] = values
            position += 1
            continue
        known = categories[name]
        index = {category: i for i, category in enumerate(known)}
        texts = column.text_values()
        codes = numpy.fromiter((index.get(t, -1) for t in texts), "int64", count=table.rows)
        unseen = (codes < 0) & ~column.missing
        if unseen.any():
            values = sorted(set(texts[unseen]))
            shown = ", ".join(repr(v) for v in values[:3]) + (", ..." if len(values) > 3 else "")
            print(
                f"{_PROG} {command}: warning: column {name!r}: {int(unseen.sum())} rows hold "
                f"categories not seen in training ({shown}); they are encoded as none of the "
                f"known ones",
                file=sys.stderr,
            )
        rows = numpy.flatnonzero(codes >= 0)
        out[rows, position + codes[rows]] = 1.0
        position += len(known)
    return out


def _infer_task(values, target: str) -> tuple[str, str]:
    """``(task, reason)`` for a target column (a ``Column`` or a list of cell texts): text or
    a few distinct integers → classification, other numbers → regression."""
    import numpy

    from axonal.cli_table import Column, _convert

    column = values if isinstance(values, Column) else Column(target, *_convert(list(values)))
    if column.texts is not None:
        return "classification", f"column {target!r} holds text labels"
    numbers = column.numbers[~column.missing]
    if numpy.isfinite(numbers).all() and (numbers == numpy.round(numbers)).all():
        distinct = len(numpy.unique(numbers))
        if distinct <= _MAX_INFERRED_CLASSES and distinct <= max(len(numbers) // 2, 2):
            return "classification", f"column {target!r} holds {distinct} distinct integers"
    return "regression", f"column {target!r} holds numbers"


def _target_problems(table, target: str, task: str) -> None:
    """Missing target cells, and (for regression) ones that are not finite numbers."""
    import numpy

    column = table.columns[target]
    bad = column.missing
    if task == "regression":
        bad = bad | column.non_numbers() | numpy.isinf(column.numbers)
    if not bad.any():
        return
    row = int(bad.argmax())
    where, cell = table.where(row, target)
    if column.missing[row]:
        if cell:
            raise _UsageError(
                f"{where}: the target is NaN; fill in or drop rows without one (--drop-missing "
                "drops them)"
            )
        raise _UsageError(
            f"{where}: the target cell is empty; every row needs a target (--drop-missing "
            "drops rows without one)"
        )
    if math.isinf(column.numbers[row]):
        raise _UsageError(f"{where}: the value is infinite; regression targets must be finite")
    raise _UsageError(f"{where}: {cell!r} is not a number (regression targets must be numeric)")


def _encode_classes(path, column, target: str):
    """Class names (sorted: numerically for numbers) and each row's class index."""
    import numpy

    texts = column.text_values()
    if column.texts is None:
        names = sorted(set(texts), key=float)  # numbers: 2 before 10
    else:
        names = sorted(set(texts))
    if len(names) < 2:
        raise _UsageError(
            f"{path}: column {target!r} holds one value ({names[0]!r}) only; a classifier needs "
            "at least two classes"
        )
    index = {name: i for i, name in enumerate(names)}
    return names, numpy.fromiter((index[t] for t in texts), "int64", count=len(texts))


# ---------------------------------------------------------------- train


def _train(args: argparse.Namespace) -> int:
    """Run ``axonal train``: on ``--data`` when given, else the iris program."""
    if args.data is None:
        given = [flag for attr, flag in _DATA_OPTIONS.items() if getattr(args, attr) is not None]
        if args.drop_missing:
            given.append("--drop-missing")
        if given:
            options = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
            verb = "works" if len(given) == 1 else "work"
            raise _UsageError(
                f"{options} only {verb} together with --data FILE.csv. Without --data, axonal "
                "train runs its built-in iris example, which takes only --epochs, --batch-size, "
                "--seed and --verbose."
            )
    # under mpirun every rank trains its share of each batch; only rank 0 prints and writes
    args.distribute = _data_parallel_if_launched()
    if args.distribute is not None and args.seed is None:
        # every rank must shuffle and hold out the same rows: rank 0's seed for all
        import numpy

        from axonal.distributed import broadcast

        args.seed = int(broadcast(numpy.random.SeedSequence().generate_state(1, "uint32"))[0])
    quiet = args.distribute is not None and args.distribute.rank != 0
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        return _train_iris(args) if args.data is None else _train_csv(args)


def _data_parallel_if_launched():
    """``DataParallel()`` when mpirun started this process among several, else None."""
    from axonal import distributed

    if not distributed.launched_with_mpi():
        return None
    try:
        return distributed.DataParallel()
    except ImportError as error:
        raise _Unavailable(f"started by mpirun, but {error}") from None


def _verbose(args: argparse.Namespace):
    return args.verbose if args.verbose == "auto" else int(args.verbose)


def _train_iris(args: argparse.Namespace) -> int:
    """The iris program on the bundled table."""
    from axonal.datasets import load_iris, standardize, train_test_split
    from axonal.layers import Dense
    from axonal.models import Sequential

    if args.seed is not None:
        from axonal.utils import set_random_seed

        set_random_seed(args.seed)
    verbose = _verbose(args)
    batch_size = 10 if args.batch_size is None else args.batch_size

    x, y = load_iris()
    X_train, X_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    X_train, X_test = standardize(X_train, X_test)
    if verbose != 0:
        print(
            f"iris: {len(X_train)} training rows, {len(X_test)} test rows, "
            f"{x.shape[1]} features, 3 classes"
        )

    model = Sequential()
    model.add(Dense(4, input_dim=4, activation="relu"))
    model.add(Dense(3, activation="softmax"))
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer="adam",
        metrics=["accuracy"],
        distribute=args.distribute,
    )
    model.fit(X_train, y_train, epochs=args.epochs, batch_size=batch_size, verbose=verbose)
    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    print(f"test loss: {loss:.4f}  test accuracy: {accuracy:.4f}")
    return 0


def _check_output_folder(path: str, option: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _UsageError(f"{option} {path}: the folder {folder} does not exist")


def _train_csv(args: argparse.Namespace) -> int:
    """Train on the user's CSV and save the model (features standardised inside it)."""
    import numpy

    path = args.data
    if args.target is None:
        raise _UsageError("--data needs --target COLUMN, the column to predict")
    hidden = [64, 32] if args.hidden is None else args.hidden
    activation = "relu" if args.activation is None else args.activation
    learning_rate = 0.001 if args.learning_rate is None else args.learning_rate
    split = 0.2 if args.validation_split is None else args.validation_split
    batch_size = 32 if args.batch_size is None else args.batch_size
    out = "model.axonal" if args.out is None else args.out
    verbose = _verbose(args)

    from axonal import activations

    try:
        activations.get(activation)
    except ValueError as error:
        raise _UsageError(f"--activation: {error}") from None
    _check_output_folder(out, "--out")
    if args.plot is not None:
        _check_output_folder(args.plot, "--plot")

    # ---- the table: every CSV problem is found here, before anything is trained
    table = _read_table(path, args)
    header = table.header
    if args.target not in header:
        hint = ""
        if len(header) == 1:
            from axonal.cli_table import separator_name

            hint = f" (the header has no {separator_name(table.sep)}; is --sep right?)"
        raise _UsageError(
            f"{path}: no column {args.target!r}; the columns are {', '.join(header)}{hint}"
        )
    excluded, included = _names(args.exclude), _names(args.include)
    for option, names in (("--exclude", excluded), ("--include", included)):
        for name in names:
            if name not in header:
                raise _UsageError(
                    f"{option} {name}: {path} has no such column; the columns are "
                    f"{', '.join(header)}"
                )
            if name == args.target:
                raise _UsageError(f"{option} {name}: that is the target column")
    both = [name for name in excluded if name in included]
    if both:
        raise _UsageError(f"column {both[0]!r} is given to both --exclude and --include")
    features = [name for name in header if name != args.target and name not in excluded]
    for name in list(features):
        reason = None if name in included else _id_reason(name, table.columns[name], table.rows)
        if reason is not None:
            # an id predicts nothing about new rows but lets a network memorise the old ones
            features.remove(name)
            if args.distribute is not None and args.distribute.rank != 0:
                continue  # rank 0 says it once
            print(
                f"{_PROG} train: note: column {name!r} is left out of the features ({reason}); "
                f"pass --include {name} to use it",
                file=sys.stderr,
            )
    if not features:
        left = "besides the target" if len(header) == 1 else "left besides the target"
        raise _UsageError(f"{path}: no feature columns {left} {args.target!r}")
    dropped = 0
    if args.drop_missing:
        used = [table.columns[name].missing for name in [*features, args.target]]
        keep = ~numpy.logical_or.reduce(used)
        dropped = int(table.rows - keep.sum())
        if not keep.any():
            raise _UsageError(f"{path}: every row has a missing cell; --drop-missing leaves none")
        if dropped:
            table = table.take(keep)
    categories = {}
    for name in features:
        column = table.columns[name]
        if column.is_text():
            known = sorted(set(column.text_values()[~column.missing]))
            if len(known) > _MAX_CATEGORIES or (len(known) > 20 and 2 * len(known) > table.rows):
                raise _UsageError(
                    f"{path}: column {name!r} holds {len(known)} different texts in "
                    f"{table.rows} rows, too many to use as categories; leave it out with "
                    f"--exclude {name}"
                )
            categories[name] = known
    fill = None
    if args.fill is not None:
        fill = {}
        for name in features:
            if name in categories:
                continue
            column = table.columns[name]
            present = column.numbers[~column.missing]
            present = present[numpy.isfinite(present)]
            if args.fill == "zero" or not len(present):
                fill[name] = 0.0
            else:
                fill[name] = float(getattr(numpy, args.fill)(present))
    x = _encode(table, features, categories, fill, "train")
    target = table.columns[args.target]
    task, reason = (args.task, "as asked") if args.task else _infer_task(target, args.target)
    _target_problems(table, args.target, task)
    if task == "classification":
        class_names, y = _encode_classes(path, target, args.target)
    else:
        class_names, y = None, target.numbers.copy()
    encoding = {"categories": categories, "fill": fill, "fill_method": args.fill}

    if args.early_stopping is not None and split == 0:
        raise _UsageError(
            "--early-stopping watches the validation loss, but --validation-split 0 holds no "
            "rows out; give --validation-split a fraction above 0 (0.2 when left out) or drop "
            "--early-stopping"
        )
    n = table.rows
    n_val = int(n * split)
    if split and n_val == 0:
        raise _UsageError(
            f"--validation-split {split} of {n} rows leaves no validation row; use more rows or a "
            "larger fraction"
        )

    # ---- what must be installed, checked before a long run rather than after it
    from axonal import callbacks as callbacks_module
    from axonal.models import Sequential

    if args.plot is not None:
        from axonal.plot import _figure_class

        try:
            _figure_class()
        except ImportError as error:
            raise _Unavailable(f"--plot: {error}") from None
    if args.early_stopping is not None and not hasattr(callbacks_module, "EarlyStopping"):
        raise _Unavailable("--early-stopping needs axonal.callbacks.EarlyStopping")
    if not hasattr(Sequential, "save"):
        raise _Unavailable("saving models is not available in this build of axonal")

    if args.seed is not None:
        from axonal.utils import set_random_seed

        set_random_seed(args.seed)
    # rows are often sorted (by class, by date): draw the validation rows at random
    order = numpy.random.default_rng(args.seed).permutation(n)
    train_rows, val_rows = order[: n - n_val], order[n - n_val :]
    x_train, y_train = x[train_rows], y[train_rows]
    validation = (x[val_rows], y[val_rows]) if n_val else None

    if verbose != 0:
        if task == "classification":
            shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
            detail = f"{len(class_names)} classes: {shown}"
        else:
            detail = f"predicting {args.target!r}"
        print(f"task: {task} ({reason}; {detail})")
        print(
            f"{path}: {n} rows, {len(features)} features; {len(train_rows)} for training, "
            f"{n_val} for validation"
        )
        if dropped:
            print(f"dropped {dropped} rows with missing cells (--drop-missing)")
        if categories:
            print(
                "text columns, one input per category: "
                + ", ".join(f"{name} ({len(known)})" for name, known in categories.items())
            )

    model = _build_model(
        x_train, y_train, features, args.target, class_names, hidden, activation, encoding
    )
    from axonal.optimizers import Adam

    if task == "classification":
        model.compile(
            optimizer=Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            distribute=args.distribute,
        )
    else:
        model.compile(
            optimizer=Adam(learning_rate), loss="mse", metrics=["mae"], distribute=args.distribute
        )

    callbacks = []
    if args.early_stopping is not None:
        callbacks.append(
            callbacks_module.EarlyStopping(
                monitor="val_loss",  # validation rows are there: checked above
                patience=args.early_stopping,
                restore_best_weights=True,
                verbose=1 if verbose != 0 else 0,
            )
        )
    history = model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=batch_size,
        validation_data=validation,
        callbacks=callbacks,
        verbose=verbose,
    )

    # the final weights (the best ones with --early-stopping), measured once more
    if validation is not None:
        scored_x, scored_y, label = validation[0], validation[1], "validation"
    else:
        scored_x, scored_y, label = x_train, y_train, "training"
    logs = model.evaluate(scored_x, scored_y, batch_size=batch_size, verbose=0, return_dict=True)
    print("  ".join(f"{label} {name}: {value:.4f}" for name, value in logs.items()))

    if args.distribute is not None and args.distribute.rank != 0:
        return 0  # rank 0 writes the files
    model.save(out)
    if args.out is None:
        # a file the user did not name: always say where it went
        print(f"saved the model to {out} (the default; --out names another file)")
    elif verbose != 0:
        print(f"saved the model to {out}")
    if args.plot is not None:
        if history.epoch:
            history.plot(args.plot)
            if verbose != 0:
                print(f"saved the training curves to {args.plot}")
        else:
            print(f"{_PROG} train: no epochs were run; {args.plot} not written", file=sys.stderr)
    return 0


def _build_model(x_train, y_train, features, target, class_names, hidden, activation, encoding):
    """Input → Normalization (adapted) → hidden Dense layers → output → ColumnNames."""
    from axonal.layers import Dense, Input, Normalization
    from axonal.layers.preprocessing import ColumnNames
    from axonal.models import Sequential

    normalization = Normalization()
    layers = [Input((x_train.shape[1],)), normalization]
    layers += [Dense(units, activation=activation) for units in hidden]
    if class_names is not None:
        layers.append(Dense(len(class_names), activation="softmax"))
    else:
        # the network predicts standardised values; the inverted Normalization maps them back
        # to the target's units, so training starts well-scaled whatever those units are
        layers.append(Dense(1))
        scale_back = Normalization(invert=True)
        layers.append(scale_back)
    layers.append(ColumnNames(features, target, class_names, **encoding))
    model = Sequential(layers)
    normalization.adapt(x_train)
    if class_names is None:
        scale_back.adapt(y_train.reshape(-1, 1))
    return model


# ---------------------------------------------------------------- predict and summary


def _load(path: str):
    if not os.path.isfile(path):
        raise _UsageError(f"{path}: no such file")
    try:
        from axonal.models import load_model
    except ImportError:
        raise _Unavailable("loading models is not available in this build of axonal") from None
    return load_model(path)


def _column_names(model):
    """The model's ColumnNames layer (set by ``axonal train --data``), or None."""
    from axonal.layers.preprocessing import ColumnNames

    found = [layer for layer in getattr(model, "layers", []) if isinstance(layer, ColumnNames)]
    return found[-1] if found else None


def _model_inputs(model, columns, table, command: str):
    """``(features, groups, x)``: the columns the model reads from ``table``, encoded as
    in training (the model's ColumnNames says how); without one, every column is a number."""
    path = table.path
    if columns is not None:
        missing = [name for name in columns.features if name not in table.header]
        if missing:
            raise _UsageError(
                f"{path}: no column {missing[0]!r}; the model was trained on "
                f"{', '.join(columns.features)}"
            )
        categories = columns.categories or {}
        x = _encode(table, columns.features, categories, columns.fill, command)
        groups = [i for i, name in enumerate(columns.features)
                  for _ in range(len(categories.get(name, [None])))]  # fmt: skip
        return columns.features, groups, x
    # a model from a Python program: every column is a feature, in file order
    expected = (getattr(model, "input_shape", None) or (None, None))[-1]
    if expected is not None and expected != len(table.header):
        raise _UsageError(
            f"{path}: {len(table.header)} columns, but the model expects {expected} features"
        )
    x = _encode(table, table.header, {}, None, command)
    return table.header, list(range(len(table.header))), x


def _predict(args: argparse.Namespace) -> int:
    """Run ``axonal predict``: labels and probabilities (or values) for each CSV row."""
    if args.out != "-":
        _check_output_folder(args.out, "--out")
    model = _load(args.model)
    columns = _column_names(model)
    table = _read_table(args.data, args)
    _, _, x = _model_inputs(model, columns, table, "predict")
    outputs = model.predict(x, verbose=0)

    target = columns.target if columns is not None else "prediction"
    class_names = columns.class_names if columns is not None else None
    if class_names is None and outputs.ndim == 2 and outputs.shape[1] > 1:
        class_names = [str(i) for i in range(outputs.shape[1])]
    if class_names is not None:
        table_header = [target] + [f"probability_{name}" for name in class_names]
        labels = outputs.argmax(axis=1)
        table = [
            [class_names[label]] + [_format(p) for p in row]
            for label, row in zip(labels, outputs, strict=True)
        ]
    else:
        table_header = [target]
        table = [[_format(value)] for value in outputs.reshape(len(outputs), -1)[:, 0]]

    if args.out == "-":
        _write_rows(sys.stdout, table_header, table)
        return 0
    from axonal.atomic import atomic_write

    with atomic_write(args.out, "w", encoding="utf-8") as handle:
        _write_rows(handle, table_header, table)
    print(f"wrote {len(table)} predictions to {args.out}")
    return 0


def _format(value) -> str:
    # 7 significant digits: what a float32 holds
    return f"{float(value):.7g}"


def _write_rows(handle, header: list[str], table: list[list[str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)


def _summary(args: argparse.Namespace) -> int:
    """Run ``axonal summary``: the layer table, then the columns the model reads and writes."""
    model = _load(args.model)
    model.summary()
    columns = _column_names(model)
    if columns is not None:
        print(f"features: {', '.join(columns.features)}")
        for name, known in (columns.categories or {}).items():
            print(f"categories of {name}: {', '.join(known)}")
        if columns.fill is not None:
            print(f"empty cells filled with the training table's {columns.fill_method}")
        if columns.class_names is not None:
            print(f"target: {columns.target} (classes: {', '.join(columns.class_names)})")
        else:
            print(f"target: {columns.target} (a number)")
    return 0


# rows attributed per call of the explain method: bounds memory and paces the progress line
_EXPLAIN_BATCH = 256


def _explain(args: argparse.Namespace) -> int:
    """Run ``axonal explain``: the prediction and its top features for each CSV row."""
    import numpy

    if args.method != "integrated_gradients":
        for option, value in (("--steps", args.steps), ("--baseline", args.baseline)):
            if value is not None:
                raise _UsageError(f"{option} applies to --method integrated_gradients only")
    model = _load(args.model)
    columns = _column_names(model)
    table = _read_table(args.data, args)
    # a text column's inputs (one per category) count as one feature: their attributions add
    features, groups, x = _model_inputs(model, columns, table, "explain")
    from axonal import explain

    shown = x if args.max_rows is None else x[: args.max_rows]
    outputs = model.predict(shown, verbose=0)
    if isinstance(outputs, list) or outputs.ndim > 2:
        raise _UsageError(f"{args.model}: explain needs a model with one output per row")
    scores = outputs.reshape(len(outputs), -1)
    # the baseline is the mean of every row of the file, however many are shown
    baseline = x.mean(axis=0) if args.baseline in (None, "mean") else None
    progress = sys.stderr.isatty() and len(shown) > _EXPLAIN_BATCH
    parts = []
    for start in range(0, len(shown), _EXPLAIN_BATCH):
        batch = shown[start : start + _EXPLAIN_BATCH]
        if args.method == "integrated_gradients":
            steps = 50 if args.steps is None else args.steps
            part = explain.integrated_gradients(model, batch, baseline=baseline, steps=steps)
            parts.append(part.attributions)
        elif args.method == "smoothgrad":
            parts.append(explain.smoothgrad(model, batch, seed=0))
        else:
            parts.append(getattr(explain, args.method)(model, batch))
        if progress:
            done = min(start + _EXPLAIN_BATCH, len(shown))
            print(f"\rexplaining: {done}/{len(shown)} rows", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    attributions = numpy.concatenate(parts).reshape(len(shown), -1)
    per_feature = numpy.zeros((len(shown), len(features)))
    numpy.add.at(per_feature.T, groups, attributions.T)

    class_names = columns.class_names if columns is not None else None
    if class_names is None and scores.shape[1] > 1:
        class_names = [str(i) for i in range(scores.shape[1])]
    top = min(args.top, len(features))
    lines = table.lines(len(shown))
    for line, row_scores, row in zip(lines, scores, per_feature, strict=True):
        if class_names is not None:
            label = int(row_scores.argmax())
            prediction = f"{class_names[label]} ({_format(row_scores[label])})"
        else:
            prediction = _format(row_scores[0])
        order = sorted(range(len(features)), key=lambda i: -abs(float(row[i])))[:top]
        ranked = "  ".join(f"{features[i]} {float(row[i]):+.4g}" for i in order)
        print(f"line {line}: {prediction}  {ranked}")
    if args.max_rows is not None and len(shown) < len(x):
        print(f"({len(x) - len(shown)} more rows not shown; --max-rows {args.max_rows})")
    return 0


# ---------------------------------------------------------------- main


# 128 + SIGPIPE: the status a Unix tool has when the reader of its output goes away
_BROKEN_PIPE_STATUS = 141


def _stop_writing_to_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not hit the closed pipe again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``axonal`` command line and return its exit status.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        0 on success, 2 for a usage error (argparse's convention) or a bad CSV file, 1 when the
        library rejects a value or a file cannot be written, 130 when interrupted, 141 (quietly)
        when whatever reads the output stops reading (``axonal predict ... | head``).
        ``--help`` and ``--version`` print and return 0.

    Example:
        >>> main(["train", "--epochs", "5", "--verbose", "0"])  # doctest: +SKIP
        test loss: 0.9871  test accuracy: 0.6333
        0
    """
    try:
        status = _run(argv)
        sys.stdout.flush()  # a pipe closed early fails here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        # the reader (head, less) has gone: stop quietly, as Unix tools do
        _stop_writing_to_stdout()
        return _BROKEN_PIPE_STATUS


def _run(argv: Sequence[str] | None) -> int:
    """``main`` without the broken-pipe handling."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        # argparse has printed help, the version or a usage error; hand back its status
        if stop.code is None:
            return 0
        return stop.code if isinstance(stop.code, int) else 1
    prefix = f"{_PROG} {args.command}: error:"
    try:
        return args.handler(args)
    except _UsageError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 2
    except (ValueError, _Unavailable) as error:
        # a value the library rejected, or a missing extra: the message names the problem
        print(f"{prefix} {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # not a file problem: main stops quietly
    except OSError as error:
        # a file that could not be read or written (permissions, a full disk)
        print(f"{prefix} {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
