"""``python -m axonal``: the same as the ``axonal`` command."""

from axonal.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
