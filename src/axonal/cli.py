"""The ``axonal`` command: a thin argparse front end over the public API.

``axonal train`` trains the classic iris network on the table bundled with the package. The
library itself is imported inside the command functions, so ``axonal --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

_PROG = "axonal"


def _non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _version() -> str:
    """The installed distribution's version, or 'unknown' when running from a bare source tree."""
    from importlib import metadata

    try:
        return metadata.version("axonal")
    except metadata.PackageNotFoundError:
        return "unknown"


def _build_parser() -> argparse.ArgumentParser:
    """The parser for ``axonal`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="axonal: a Keras-compatible neural-network library on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train the classic iris network on the bundled iris table",
        description=(
            "Train Dense(4, relu) -> Dense(3, softmax) with Adam on the iris table bundled with "
            "axonal (80/20 split with random_state=42, standardised features) and print the "
            "test loss and accuracy."
        ),
    )
    train.add_argument(
        "--epochs", type=_non_negative_int, default=100, help="training epochs (default: 100)"
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=10,
        help="samples per gradient step (default: 10)",
    )
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        help="seed for initialisation and shuffling; runs with the same seed are identical",
    )
    train.add_argument(
        "--verbose",
        choices=["0", "1", "2", "auto"],
        default="auto",
        help="0 silent, 1 progress bar, 2 one line per epoch, auto: 1 on a terminal, else 2",
    )
    train.set_defaults(handler=_train)
    return parser


def _train(args: argparse.Namespace) -> int:
    """Run ``axonal train``: the iris program on the bundled table."""
    from axonal.datasets import load_iris, standardize, train_test_split
    from axonal.layers import Dense
    from axonal.models import Sequential

    if args.seed is not None:
        from axonal.utils import set_random_seed

        set_random_seed(args.seed)
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)

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
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=verbose)
    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    print(f"test loss: {loss:.4f}  test accuracy: {accuracy:.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``axonal`` command line and return its exit status.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        0 on success, 2 for a usage error (argparse's convention), 1 when the library rejects
        a value, 130 when interrupted. ``--help`` and ``--version`` print and return 0.

    Example:
        >>> main(["train", "--epochs", "5", "--verbose", "0"])  # doctest: +SKIP
        test loss: 0.9871  test accuracy: 0.6333
        0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        # argparse has printed help, the version or a usage error; hand back its status
        if stop.code is None:
            return 0
        return stop.code if isinstance(stop.code, int) else 1
    try:
        return args.handler(args)
    except ValueError as error:
        # a value the library rejected: its message names the problem, a traceback adds nothing
        print(f"{_PROG} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
