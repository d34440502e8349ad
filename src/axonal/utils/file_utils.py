"""``get_file``: a file from the local cache, downloaded into it when missing and online.

The cache is ``cache_dir`` (default ``$AXONAL_HOME``, else ``~/.axonal``) / ``cache_subdir``
(default ``datasets``), as Keras's ``~/.keras/datasets``. ``KERAS_HOME`` is not read: to use
files a Keras installation already downloaded, pass ``cache_dir="~/.keras"`` or set
``AXONAL_HOME`` to it. (``axonal.datasets`` loaders read ``$AXONAL_HOME`` itself, default
``~/.axonal/datasets``, so without ``AXONAL_HOME`` both find the same files.)
"""

from __future__ import annotations

# hashlib, tarfile, zipfile and urllib.request (with http, ssl and email) are imported where
# used: `import axonal` would pay for them on every start
import os
import pathlib
import shutil
import urllib.parse

from axonal.atomic import atomic_write

# seconds to wait for the network before explaining where to put the file instead
DOWNLOAD_TIMEOUT = 30
_CHUNK = 1 << 20


class FileNotAvailableError(FileNotFoundError):
    """A file is not in the cache and could not be downloaded."""


def axonal_home() -> pathlib.Path:
    """``$AXONAL_HOME``, or ``~/.axonal``."""
    return pathlib.Path(os.environ.get("AXONAL_HOME") or "~/.axonal").expanduser()


def _hash_file(path: pathlib.Path, algorithm: str) -> str:
    import hashlib

    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_file(path, file_hash: str, algorithm: str = "auto") -> bool:
    """Whether ``path``'s sha256 (or md5: ``algorithm``, or a 32-digit hash under "auto")
    equals ``file_hash``."""
    if algorithm == "auto":
        algorithm = "md5" if len(file_hash) == 32 else "sha256"
    if algorithm not in ("md5", "sha256"):
        raise ValueError(f"hash_algorithm must be 'md5', 'sha256' or 'auto', got {algorithm!r}.")
    return _hash_file(pathlib.Path(path), algorithm) == str(file_hash)


def _download(origin: str, target: pathlib.Path) -> None:
    import urllib.request

    with urllib.request.urlopen(origin, timeout=DOWNLOAD_TIMEOUT) as response:
        with atomic_write(target) as handle:
            shutil.copyfileobj(response, handle, _CHUNK)


def _inside(base: pathlib.Path, name: str) -> bool:
    return (base / name).resolve().is_relative_to(base.resolve())


def extract_archive(path, destination, archive_format="auto") -> bool:
    """Unpack a tar or zip archive into ``destination``; False when it is neither.

    Members that would land outside ``destination`` (absolute paths, ``..``) are refused.
    """
    formats = {"auto": ("tar", "zip"), None: ()}.get(archive_format, archive_format)
    if isinstance(formats, str):
        formats = (formats,)
    import tarfile
    import zipfile

    path, destination = pathlib.Path(path), pathlib.Path(destination)
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    if not _inside(destination, member.name) or member.issym() or member.islnk():
                        raise ValueError(f"{path} holds an unsafe member {member.name!r}.")
                if hasattr(tarfile, "data_filter"):
                    # refuse device files and permission tricks too (Python's safe filter)
                    archive.extractall(destination, filter="data")
                else:
                    archive.extractall(destination)
            return True
        if kind == "zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if not _inside(destination, name):
                        raise ValueError(f"{path} holds an unsafe member {name!r}.")
                archive.extractall(destination)
            return True
    return False


def get_file(
    fname: str | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str = "auto",
    cache_dir=None,
    force_download: bool = False,
) -> str:
    """The local path of a file, from the cache or downloaded from ``origin`` into it
    (Keras's ``keras.utils.get_file``).

    Args:
        fname: the file's name in the cache (default: the last part of ``origin``'s path).
        origin: the URL (``https://``, ``http://`` or ``file://``).
        untar: extract a tar archive (as ``extract=True, archive_format="tar"``).
        md5_hash: an md5 the file must have (use ``file_hash``).
        file_hash: the file's expected sha256 (or md5); a cached file that differs is fetched
            again, a fetched file that differs is an error.
        cache_subdir: the folder under ``cache_dir`` (default ``"datasets"``).
        hash_algorithm: ``"sha256"``, ``"md5"`` or ``"auto"`` (from the hash's length).
        extract: unpack the archive; the extracted folder's path is returned (``NAME`` without
            its extension, plus ``_extracted``, as Keras 3).
        archive_format: ``"auto"``, ``"tar"``, ``"zip"`` or a list of them.
        cache_dir: the cache's base folder (default ``$AXONAL_HOME``, else ``~/.axonal``).
        force_download: fetch even when the file is cached.

    Returns:
        The path of the file (or of the extracted folder), as a string.

    Raises:
        FileNotAvailableError: the file is not cached and could not be downloaded; the message
            names the path to put it at.

    Example:
        >>> path = get_file("flowers.tgz", origin="https://example.com/flowers.tgz", extract=True)
    """
    if origin is None:
        raise ValueError("get_file needs origin, the URL of the file to download.")
    base = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else axonal_home()
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    folder = base / cache_subdir
    provided = fname is not None
    fname = os.fspath(fname) if provided else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"get_file cannot take a file name from origin {origin!r}; pass fname."
            )
    elif os.sep in fname:
        raise ValueError(
            f"get_file fname must be a file name, not a path (use cache_dir), got {fname!r}."
        )
    extraction = None
    if extract or untar:
        if provided and "." in fname:
            target = folder / fname
            extraction = folder / f"{fname[: fname.find('.')]}_extracted"
        else:
            extraction = folder / fname
            target = folder / f"{fname}_archive"
    else:
        target = folder / fname
    download = force_download or not target.exists()
    if not download and file_hash is not None:
        # a cached file that differs from the expected hash is stale or partial: fetch again
        download = not validate_file(target, file_hash, hash_algorithm)
    if download:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _download(origin, target)
        except (OSError, ValueError) as exc:
            raise FileNotAvailableError(
                f"get_file could not download {origin} ({type(exc).__name__}: {exc}). Download "
                f"it on a machine with network access and put it at {target} (or pass cache_dir "
                "/ set AXONAL_HOME to the folder above the one that holds it)."
            ) from None
        if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
            raise ValueError(
                f"The file downloaded from {origin} to {target} does not have the expected hash "
                f"{file_hash}: it is incomplete or corrupted."
            )
    if extraction is not None:
        if not extract_archive(target, extraction, "tar" if untar else archive_format):
            raise ValueError(f"{target} is not a {archive_format} archive get_file can extract.")
        return str(extraction)
    return str(target)


__all__ = ["FileNotAvailableError", "get_file", "validate_file"]
