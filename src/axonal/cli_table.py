"""CSV tables for the command line: reading them column by column, fast, and naming problems.

``read_table`` returns a :class:`Table`: the header and, per column, the cells as float64 numbers
(NaN where a cell is empty, NaN or not a number), which cells are missing and, for a column with
text in it, the stripped texts. Large files go through ``pandas.read_csv`` when pandas is
installed (its C tokenizer); otherwise, and for small files, ``csv.reader`` in batches, each
column converted with one NumPy call where it holds only numbers. Either way the result is the
same; problems (ragged rows, bad bytes) are reported by the exact reader, which knows lines.

Nothing here decides what a column means: ``axonal.cli`` picks features, encodes text columns
and fills missing cells, with the statistics stored in the model's ``ColumnNames`` layer.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
import warnings

import numpy

__all__ = ["CSVError", "Column", "Table", "read_table", "sniff_separator"]

# files at least this large are read with pandas when it is installed (its import costs ~0.3 s,
# more than the whole read of a small file); tests lower it to exercise that path
PANDAS_MIN_BYTES = 1 << 20
# files at least this large get a progress line on stderr while they are read
PROGRESS_MIN_BYTES = 16 << 20
# rows converted per batch by the exact reader: bounds the Python objects alive at once
_BATCH_ROWS = 1 << 15
# rows per pandas chunk: the columns are converted chunk by chunk, so pandas' own frame (and
# its Python string objects) never holds the whole file
_PANDAS_CHUNK_ROWS = 1 << 18
# cell texts that mean "no value", as pandas reads them by default (a subset: no "NA" or
# "null", which are ordinary category names in some tables)
NA_TEXTS = ("", "nan", "NaN", "NAN", "-nan", "+nan", "-NaN", "+NaN")
SEPARATORS = (",", ";", "\t", "|")


# what _read_pandas answers when pandas is not installed
_NO_PANDAS = object()


class CSVError(Exception):
    """A problem with a CSV file, already phrased for the user (file, line and column named)."""


class Column:
    """One column of a table.

    Attributes:
        name: the header cell.
        numbers: float64 per row; NaN where the cell is missing or not a number.
        missing: bool per row: the cell is empty or NaN.
        texts: the stripped cell texts (object array; '' where missing), or None when every
            present cell is a number.
    """

    def __init__(self, name: str, numbers, missing, texts=None):
        self.name = name
        self.numbers = numbers
        self.missing = missing
        self.texts = texts

    @property
    def present(self) -> int:
        """How many cells hold a value."""
        return int(len(self.missing) - self.missing.sum())

    def non_numbers(self):
        """Bool per row: the cell holds something that is not a number."""
        return numpy.isnan(self.numbers) & ~self.missing

    def is_text(self) -> bool:
        """Fewer than half of the present cells are numbers: a column of categories."""
        if self.texts is None:
            return False
        return 2 * int(self.non_numbers().sum()) > self.present

    def text_values(self):
        """The texts (numbers written back as text where the column had none)."""
        if self.texts is not None:
            return self.texts
        return numpy.array(
            ["" if m else _number_text(v) for v, m in zip(self.numbers, self.missing, strict=True)],
            dtype=object,
        )

    def take(self, rows) -> Column:
        """The column restricted to ``rows`` (an index or bool array)."""
        texts = None if self.texts is None else self.texts[rows]
        return Column(self.name, self.numbers[rows], self.missing[rows], texts)


def _number_text(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Table:
    """A CSV file read column by column (see the module docstring).

    Attributes:
        path: the file, as named by the user.
        header: the column names, in file order.
        columns: name -> :class:`Column`.
        rows: the number of data rows.
        sep, encoding: how the file was read (to find a row's line again for a message).
    """

    def __init__(self, path, header, columns, rows, sep, encoding, lines=None):
        self.path = path
        self.header = header
        self.columns = columns
        self.rows = rows
        self.sep = sep
        self.encoding = encoding
        self._lines = lines  # file line of each row, or None: found by scanning when needed
        self._kept = None  # after take(): indices into the file's rows

    def take(self, rows) -> Table:
        """The table restricted to ``rows`` (indices or a bool mask), lines kept."""
        rows = (
            numpy.flatnonzero(rows) if getattr(rows, "dtype", None) is numpy.dtype(bool) else rows
        )
        rows = numpy.asarray(rows, dtype="int64")
        table = Table(
            self.path,
            self.header,
            {name: column.take(rows) for name, column in self.columns.items()},
            len(rows),
            self.sep,
            self.encoding,
            None if self._lines is None else self._lines[rows],
        )
        table._kept = rows if self._kept is None else self._kept[rows]
        return table

    def _file_rows(self, rows):
        return rows if self._kept is None else self._kept[rows]

    def lines(self, count: int | None = None):
        """The file line of each of the first ``count`` rows (all rows when None)."""
        count = self.rows if count is None else min(count, self.rows)
        if self._lines is not None:
            return self._lines[:count]
        wanted = self._file_rows(numpy.arange(count))
        found = _scan_lines(self, int(wanted.max()) + 1 if count else 0)
        return found[wanted]

    def where(self, row: int, name: str) -> tuple[str, str]:
        """``("FILE, line N, column 'C'", cell text)`` for a message about one cell."""
        line = int(self.lines(row + 1)[row])
        cell = _raw_cell(self, line, self.header.index(name))
        return f"{self.path}, line {line}, column {name!r}", cell


# ---------------------------------------------------------------- separators


def sniff_separator(sample: str) -> str:
    """The separator of a CSV sample: comma, semicolon, tab or pipe; comma when unsure.

    A candidate qualifies when it splits the header into more than one cell and every complete
    sample line into as many; among those, the one giving the most cells wins (a comma inside
    ``1,5;2,5`` style decimals loses to the semicolon that splits every line evenly).
    """
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(sample) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the sample may end inside a line
    lines = lines[:50]
    best, best_cells = ",", 1
    for sep in SEPARATORS:
        try:
            counts = [len(cells) for cells in csv.reader(lines, delimiter=sep)]
        except csv.Error:
            continue
        if counts and counts[0] > best_cells and all(c == counts[0] for c in counts):
            best, best_cells = sep, counts[0]
    return best


def separator_name(sep: str) -> str:
    """A separator as the user would write it in a message."""
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(sep, repr(sep))


# ---------------------------------------------------------------- reading


def read_table(
    path: str, sep: str | None = None, encoding: str | None = None, progress: bool = True
) -> Table:
    """Read a CSV file with a header row; raise :class:`CSVError` with a one-line message.

    Args:
        path: the file.
        sep: the separator; None sniffs it (comma, semicolon, tab or pipe).
        encoding: the text encoding; None for UTF-8 (a byte-order mark is skipped).
        progress: print a progress line on stderr while a large file is read.
    """
    encoding = encoding or "utf-8-sig"
    try:
        size = os.path.getsize(path)
        handle = open(path, "rb")
    except FileNotFoundError:
        raise CSVError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CSVError(f"{path}: a folder, not a CSV file") from None
    except OSError as error:
        raise CSVError(f"{path}: cannot read the file: {error.strerror}") from None
    with handle:
        sample = handle.read(65536)
        # a very wide header: read on until its line is whole
        while b"\n" not in sample.lstrip() and len(sample) < size:
            sample += handle.read(65536)
    text_sample = _decode(sample, encoding, path, partial=len(sample) < size)
    if sep is None:
        sep = sniff_separator(text_sample)
    header = _header(text_sample, sep, path)
    meter = _Progress(path, size, text_sample) if progress and size >= PROGRESS_MIN_BYTES else None
    table = None
    if size >= PANDAS_MIN_BYTES:
        table = _read_pandas(path, header, sep, encoding, meter)
        if table is _NO_PANDAS:
            table = _read_split(path, header, sep, encoding, meter)
    if table is None:
        table = _read_exact(path, header, sep, encoding, meter)
    if meter is not None:
        meter.done(table.rows)
    return table


def _decode(data: bytes, encoding: str, path: str, partial: bool = False) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if partial and error.start >= len(data) - 4:
            # a multi-byte character cut by the end of the sample
            return data[: error.start].decode(encoding)
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start : error.end].hex()
        if encoding.replace("-", "").lower().startswith("utf8"):
            raise CSVError(
                f"{path}, line {line}: not a UTF-8 text file (byte 0x{bad} is not UTF-8); save "
                "the table as CSV UTF-8, or name its encoding with --encoding (e.g. --encoding "
                "latin-1)"
            ) from None
        raise CSVError(
            f"{path}, line {line}: byte 0x{bad} is not {encoding} text; check --encoding"
        ) from None
    except LookupError:
        raise CSVError(f"--encoding {encoding}: no such text encoding") from None


def _header(sample: str, sep: str, path: str) -> list[str]:
    """The first non-blank row of the file, validated: every column named once."""
    reader = csv.reader(io.StringIO(sample), delimiter=sep)
    header = None
    try:
        for cells in reader:
            if cells and not (len(cells) == 1 and not cells[0].strip()):
                header = [cell.strip() for cell in cells]
                break
    except csv.Error as error:
        raise CSVError(f"{path}, line {reader.line_num}: not valid CSV: {error}") from None
    if header is None:
        raise CSVError(f"{path}: the file is empty; expected a header row naming the columns")
    if len(header) > 1 and not header[0]:
        # pandas' to_csv writes its index under an empty name; pandas reads it back so
        header[0] = "Unnamed: 0"
    for index, name in enumerate(header):
        if not name:
            raise CSVError(f"{path}: column {index + 1} of the header has no name")
        if name in header[:index]:
            raise CSVError(f"{path}: the header names column {name!r} twice")
    return header


class _Progress:
    """A progress line on stderr: rewritten in place on a terminal, else written once."""

    def __init__(self, path: str, size: int, sample: str = ""):
        self.path = path
        self.size = size
        # rows expected, from the sample's line lengths (pandas reports rows, not bytes)
        self.rows_estimate = max(1, size * max(sample.count("\n"), 1) // max(len(sample), 1))
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.head = f"reading {path} ({size / 1e6:.1f} MB)"
        sys.stderr.write(self.head + ("" if self.tty else " ..."))
        sys.stderr.flush()

    def update(self, done: int) -> None:
        if self.tty:
            sys.stderr.write(f"\r{self.head}: {100 * done / max(self.size, 1):.0f}%")
            sys.stderr.flush()

    def done(self, rows: int) -> None:
        seconds = time.perf_counter() - self.start
        tail = f" {rows} rows in {seconds:.1f} s\n"
        sys.stderr.write(f"\r{self.head}:{tail}" if self.tty else tail)
        sys.stderr.flush()


def _read_exact(path, header, sep, encoding, meter) -> Table:
    """The reference reader: csv.reader in batches, NumPy per column where it can."""
    with open(path, "rb") as handle:
        data = handle.read()
    text = _decode(data, encoding, path)
    del data
    width = len(header)
    stream = io.StringIO(text)
    length = len(text)
    reader = csv.reader(stream, delimiter=sep, strict=True)
    parts: list[list[tuple]] = [[] for _ in header]
    lines: list = []
    seen_header = False
    batch: list[list[str]] = []
    batch_lines: list[int] = []

    def flush():
        for index, cells in enumerate(zip(*batch, strict=True)):
            parts[index].append(_convert(cells))
        lines.append(numpy.array(batch_lines, dtype="int64"))
        batch.clear()
        batch_lines.clear()
        if meter is not None:
            meter.update(int(stream.tell() / max(length, 1) * meter.size))

    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if not seen_header:
                seen_header = True
                continue
            if len(cells) != width:
                raise CSVError(
                    f"{path}, line {reader.line_num}: the row has {len(cells)} cells but the "
                    f"header names {width} columns"
                    + (_sep_hint(sep) if (len(cells) == 1) != (width == 1) else "")
                )
            batch.append(cells)
            batch_lines.append(reader.line_num)
            if len(batch) == _BATCH_ROWS:
                flush()
    except csv.Error as error:
        raise CSVError(f"{path}, line {reader.line_num}: not valid CSV: {error}") from None
    if batch:
        flush()
    del text
    if not lines:
        raise CSVError(f"{path}: no data rows after the header")
    columns = {name: _join(name, parts[index]) for index, name in enumerate(header)}
    all_lines = numpy.concatenate(lines)
    return Table(path, header, columns, len(all_lines), sep, encoding, all_lines)


def _sep_hint(sep: str) -> str:
    others = ", ".join(separator_name(s) for s in SEPARATORS if s != sep)
    return f" (read with {separator_name(sep)} separators; if the file uses {others}, pass --sep)"


def _convert(cells) -> tuple:
    """One batch of one column: (numbers, missing, texts or None)."""
    try:
        numbers = numpy.array(cells, dtype="float64")
    except ValueError:
        numbers = None
    if numbers is not None:
        # only numbers (NaN texts among them: those cells are missing)
        return numbers, numpy.isnan(numbers), None
    # some text: parse each distinct cell once (a column of categories repeats a few values)
    distinct = dict.fromkeys(cells)
    keys = list(distinct)
    numbers = numpy.empty(len(keys), dtype="float64")
    missing = numpy.zeros(len(keys), dtype=bool)
    texts = numpy.empty(len(keys), dtype=object)
    for i, cell in enumerate(keys):
        text = cell.strip()
        texts[i] = text
        distinct[cell] = i
        if text in NA_TEXTS:
            numbers[i] = math.nan
            missing[i] = True
            texts[i] = ""
            continue
        try:
            numbers[i] = float(text)
        except ValueError:
            numbers[i] = math.nan
    codes = numpy.fromiter(map(distinct.__getitem__, cells), dtype="int64", count=len(cells))
    return numbers[codes], missing[codes], texts[codes]


def _join(name: str, parts: list[tuple]) -> Column:
    numbers = parts[0][0] if len(parts) == 1 else numpy.concatenate([p[0] for p in parts])
    missing = parts[0][1] if len(parts) == 1 else numpy.concatenate([p[1] for p in parts])
    texts = None
    if any(p[2] is not None for p in parts):
        pieces = []
        for n, m, t in parts:
            if t is None:
                t = numpy.array(
                    ["" if mm else _number_text(v) for v, mm in zip(n, m, strict=True)],
                    dtype=object,
                )
            pieces.append(t)
        texts = numpy.concatenate(pieces)
    return Column(name, numbers, missing, texts)


def _read_pandas(path, header, sep, encoding, meter):
    """``pandas.read_csv``, checked; None to use the exact reader instead (pandas missing, or
    a problem the exact reader reports with its line)."""
    try:
        import pandas
    except ImportError:
        return _NO_PANDAS
    parts: list[list[tuple]] = [[] for _ in header]
    rows = 0
    options = dict(
        sep=sep,
        encoding=encoding,
        keep_default_na=False,
        na_values=list(NA_TEXTS),
        skip_blank_lines=True,
        index_col=False,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # text columns, seen in the first rows, are parsed as pandas categoricals: codes
            # straight from the tokenizer instead of one Python string per cell
            head = pandas.read_csv(path, nrows=1000, **options)
            dtype = {
                name: "category"
                for name, kind in zip(head.columns, head.dtypes, strict=True)
                if getattr(kind, "kind", "O") not in "iufb"
            }
            chunks = pandas.read_csv(
                path, chunksize=_PANDAS_CHUNK_ROWS, dtype=dtype or None, **options
            )
            with chunks:
                for frame in chunks:
                    if frame.shape[1] != len(header):
                        return None
                    frame.columns = range(len(header))
                    for index in range(len(header)):
                        # each column converted, then dropped from the frame: bounds the peak
                        parts[index].append(_from_series(frame.pop(index), pandas))
                    rows += len(frame)
                    if meter is not None:
                        meter.update(int(meter.size * min(rows / meter.rows_estimate, 0.99)))
    except (ValueError, UnicodeDecodeError, pandas.errors.ParserError):
        return None  # a row with too many cells, bad bytes: the exact reader says where
    if rows == 0:
        return None
    columns = {}
    for index, name in enumerate(header):
        columns[name] = _join(name, parts[index])
        parts[index] = []  # the pieces go as soon as the column is whole
    lines = None
    if any(column.missing.any() for column in columns.values()):
        # pandas fills a short row with missing cells: tell the two apart by counting
        # separators (a short row goes to the exact reader, which names its line)
        lines = _row_shapes(path, sep, len(header))
        if lines is None or lines is False or len(lines) != rows:
            return None
    return Table(path, header, columns, rows, sep, encoding, lines)


def _from_series(series, pandas) -> tuple:
    """One chunk of one column from pandas: (numbers, missing, texts or None), as _convert."""
    kind = series.dtype.kind
    if kind in "iuf":
        numbers = series.to_numpy(dtype="float64", na_value=math.nan)
        return numbers, numpy.isnan(numbers), None
    # text: work on the distinct values (few, in a column of categories), then index back
    if isinstance(series.dtype, pandas.CategoricalDtype):
        codes, uniques = series.cat.codes.to_numpy(), series.cat.categories
    else:
        codes, uniques = pandas.factorize(series, use_na_sentinel=True)
    texts = numpy.array([str(u).strip() for u in uniques] + [""], dtype=object)
    numbers = numpy.full(len(texts), math.nan)
    for i, text in enumerate(texts[:-1]):
        try:
            numbers[i] = float(text) if text not in NA_TEXTS else math.nan
        except ValueError:
            pass
    blank = numpy.array([t in NA_TEXTS for t in texts])
    texts[blank] = ""
    has_text = bool((numpy.isnan(numbers) & ~blank).any())
    # code -1 (pandas' missing) picks the trailing "" entry
    return numbers[codes], blank[codes], texts[codes] if has_text else None


def _line_chunks(path: str, size: int = 8 << 20):
    """The file's bytes in pieces of about ``size`` that end at a line break (``\r\n`` made
    ``\n``), each with the number of lines before it."""
    tail = b""
    before = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(size)
            if not chunk:
                if tail:
                    yield tail + b"\n", before
                return
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
            if data:
                if b"\r" in data:
                    data = data.replace(b"\r\n", b"\n")
                yield data, before
                before += data.count(b"\n")


def _chunk_lines(data: bytes, sep_byte: int, width: int):
    """``(lines, ok)`` for a piece of a file: the index of each non-blank line in it, and
    whether each of those has ``width - 1`` separators (vectorised over the bytes)."""
    buffer = numpy.frombuffer(data, dtype=numpy.uint8)
    ends = numpy.flatnonzero(buffer == 10)
    seps = numpy.flatnonzero(buffer == sep_byte)
    counts = numpy.diff(numpy.searchsorted(seps, ends), prepend=0)
    starts = numpy.concatenate(([0], ends[:-1] + 1))
    blank = ends == starts
    return numpy.flatnonzero(~blank), bool((counts[~blank] == width - 1).all())


def _row_shapes(path: str, sep: str, width: int):
    """The file line of every data row, checking each has ``width`` cells. False when some
    row is ragged; None when the file has quotes (a separator or line break may then sit
    inside a cell, and only a CSV parser can tell)."""
    sep_byte = sep.encode()
    if len(sep_byte) != 1:
        return None
    found = []
    header_seen = False
    for data, before in _line_chunks(path):
        if b'"' in data:
            return None
        lines, ok = _chunk_lines(data, sep_byte[0], width)
        if not ok:
            return False
        if not header_seen and len(lines):
            lines, header_seen = lines[1:], True
        found.append(lines + before + 1)
    return numpy.concatenate(found) if found else numpy.zeros(0, dtype="int64")


def _read_split(path, header, sep, encoding, meter) -> Table | None:
    """The NumPy reader for large files without pandas: each 8 MB piece of the file split into
    cells with two string operations (every separator made a line break, then one split), each
    column converted by one ``numpy.array(cells, float64)`` where it holds numbers. None (use
    the exact reader) for quoted cells, a ragged row or undecodable bytes."""
    sep_byte = sep.encode()
    if len(sep_byte) != 1:
        return None
    width = len(header)
    parts: list[list[tuple]] = [[] for _ in header]
    lines_found = []
    header_seen = False
    done = 0
    for data, before in _line_chunks(path, 2 << 20):
        done += len(data)
        if b'"' in data:
            return None
        if not header_seen:
            lines, _ = _chunk_lines(data, sep_byte[0], width)
            if not len(lines):
                continue
            # drop everything up to the end of the header line
            cut = int(numpy.flatnonzero(numpy.frombuffer(data, numpy.uint8) == 10)[lines[0]])
            before += int(lines[0]) + 1
            data = data[cut + 1 :]
            header_seen = True
        lines, ok = _chunk_lines(data, sep_byte[0], width)
        if not ok:
            return None
        if not len(lines):
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            return None
        if len(lines) != text.count("\n"):
            pieces = text.split("\n")  # blank lines: keep the others
            text = "\n".join([pieces[i] for i in lines]) + "\n"
            del pieces
        cells = text.replace(sep, "\n").split("\n")
        del text
        cells.pop()  # after the last line break
        if len(cells) != len(lines) * width:
            return None
        for index in range(width):
            parts[index].append(_convert(cells[index::width]))
        del cells
        lines_found.append(lines + before + 1)
        if meter is not None:
            meter.update(done)
    if not lines_found:
        return None
    columns = {}
    for index, name in enumerate(header):
        columns[name] = _join(name, parts[index])
        parts[index] = []
    all_lines = numpy.concatenate(lines_found)
    return Table(path, header, columns, len(all_lines), sep, encoding, all_lines)


# ---------------------------------------------------------------- finding a row again


def _scan_lines(table: Table, count: int):
    """The file line of each of the first ``count`` data rows, by reading the file again."""
    lines = []
    with open(table.path, newline="", encoding=table.encoding) as handle:
        reader = csv.reader(handle, delimiter=table.sep)
        seen_header = False
        for cells in reader:
            if len(lines) >= count:
                break
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if not seen_header:
                seen_header = True
                continue
            lines.append(reader.line_num)
    return numpy.array(lines, dtype="int64")


def _raw_cell(table: Table, line: int, index: int) -> str:
    """The text of one cell, read again from the file (messages only: slow is fine)."""
    with open(table.path, newline="", encoding=table.encoding) as handle:
        reader = csv.reader(handle, delimiter=table.sep)
        for cells in reader:
            if reader.line_num >= line:
                return cells[index].strip() if index < len(cells) else ""
    return ""
