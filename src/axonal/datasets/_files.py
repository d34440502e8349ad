"""Where the Keras-style data sets live, and how a missing file is fetched (or explained).

Files are read from the cache folder ``$AXONAL_HOME`` (default ``~/.axonal/datasets``). A
missing file is downloaded there, when a source URL is known and the network answers within a
short timeout; otherwise the error says exactly which file to put where. Nothing is ever
unpickled: ``.npz`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import pathlib
import urllib.request

from axonal.atomic import atomic_write

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# seconds to wait for the network before giving up and explaining where to put the file
DOWNLOAD_TIMEOUT = 15
# no data set file axonal reads is larger than this
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024


class DatasetNotAvailableError(FileNotFoundError):
    """A data set file is not in the cache folder and could not be downloaded."""


def cache_dir() -> pathlib.Path:
    """The folder data set files are read from: ``$AXONAL_HOME`` or ``~/.axonal/datasets``."""
    home = os.environ.get("AXONAL_HOME")
    if home:
        return pathlib.Path(home).expanduser()
    return pathlib.Path("~/.axonal/datasets").expanduser()


def download(url: str, destination: pathlib.Path) -> None:
    """Fetch ``url`` into ``destination`` (atomically), or raise ``OSError``."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        data = response.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise OSError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(destination) as handle:
        handle.write(data)


def fetch(fname: str, origin: str | None, dataset: str, how: str = "") -> pathlib.Path:
    """The path of ``fname`` in the cache folder, downloading it from ``origin`` when missing.

    Raises:
        DatasetNotAvailableError: the file is missing and could not be downloaded; the message
            names the data set, the full path to put the file at and where to get it.
    """
    path = cache_dir() / fname
    if path.is_file():
        return path
    reason = "no download source is used for it"
    if origin is not None:
        try:
            download(origin, path)
        except (OSError, ValueError) as exc:
            reason = f"downloading {origin} failed ({type(exc).__name__}: {exc})"
        else:
            if path.is_file():
                return path
            reason = f"downloading {origin} wrote no file"
    source = f" Download it from {origin} on a machine with network access." if origin else ""
    raise DatasetNotAvailableError(
        f"The {dataset} data set needs the file {fname!r}, which is not at {path} and {reason}. "
        f"Put the file there (or set AXONAL_HOME to the folder that holds it).{source}{how}"
    )


def load_npz(path: pathlib.Path, keys: tuple[str, ...], dataset: str, how: str = "") -> dict:
    """The named arrays of an ``.npz`` file, read without pickle."""
    import numpy

    try:
        with numpy.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise ValueError(
                    f"{path} holds {sorted(archive.files)}; the {dataset} loader needs "
                    f"{list(keys)} (missing {missing}).{how}"
                )
            return {key: archive[key] for key in keys}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(
                f"{path} stores Python objects (pickled arrays); axonal never unpickles a data "
                f"file, since unpickling can run arbitrary code.{how}"
            ) from None
        raise
