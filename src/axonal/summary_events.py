"""TensorBoard event files written (and read back) without TensorFlow or protobuf.

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked CRC32C of the
length``, ``data``, ``uint32 masked CRC32C of the data`` (little-endian). Each record's data is
an ``Event`` protocol buffer; the few messages TensorBoard needs (``Event``, ``Summary``,
``SummaryMetadata``, ``TensorProto``) are encoded here by hand from their field numbers in
tensorflow/core/util/event.proto and framework/summary.proto, tensor.proto, tensor_shape.proto.
Summaries are written the way ``tf.summary`` (TF2) writes them: a tensor plus plugin metadata
(``scalars``, ``histograms``, ``images``, ``graph_keras_model``), which TensorBoard reads as is.

Example:
    >>> writer = EventFileWriter("logs/train")  # doctest: +SKIP
    >>> writer.scalar("epoch_loss", 0.25, step=0)  # doctest: +SKIP
    >>> writer.close()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import numpy as np

# ------------------------------------------------------------------ CRC32C (Castagnoli)


def _crc32c_table() -> list[int]:
    # the reflected polynomial of CRC-32C; one table entry per byte value
    poly = 0x82F63B78
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord framing uses.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC TFRecords store: rotated right by 15 bits plus a constant, so a CRC of
    data that itself holds CRCs does not degenerate."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """The data of every record in a TFRecord file, checking both CRCs of each.

    Raises:
        ValueError: a CRC does not match or the file ends inside a record.
    """
    with open(path, "rb") as handle:
        blob = handle.read()
    pos = 0
    while pos < len(blob):
        if pos + 12 > len(blob):
            raise ValueError(f"{path}: truncated record header at byte {pos}.")
        header = blob[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", blob[pos + 8 : pos + 12])
        if length_crc != masked_crc32c(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}.")
        start = pos + 12
        end = start + length
        if end + 4 > len(blob):
            raise ValueError(f"{path}: truncated record at byte {pos}.")
        data = blob[start:end]
        (data_crc,) = struct.unpack("<I", blob[end : end + 4])
        if data_crc != masked_crc32c(data):
            raise ValueError(f"{path}: bad data CRC at byte {pos}.")
        yield data
        pos = end + 4


# ------------------------------------------------------------------ protobuf wire format

_VARINT = 0
_FIXED64 = 1
_BYTES = 2
_FIXED32 = 5


def _varint(value: int) -> bytes:
    # negative int64 values are written as their 64-bit two's complement, as protobuf does
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, _BYTES) + _varint(len(payload)) + payload


def _int_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(int(value))


def _double_field(field: int, value: float) -> bytes:
    return _key(field, _FIXED64) + struct.pack("<d", float(value))


def parse_message(data: bytes) -> list[tuple[int, int, object]]:
    """Split a protocol buffer message into ``(field, wire_type, value)`` triples; ``value`` is
    an int (varint), bytes (length-delimited) or the raw 4/8 bytes of a fixed field."""
    fields = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _FIXED64:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == _BYTES:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == _FIXED32:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {field}).")
        fields.append((field, wire, value))
    return fields


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


# ------------------------------------------------------------------ TensorBoard messages

# tensorflow DataType enum values
DT_FLOAT = 1
DT_DOUBLE = 2
DT_STRING = 7


def _tensor_proto(dtype: int, shape: tuple, content: bytes = b"", strings=()) -> bytes:
    dims = b"".join(_bytes_field(2, _int_field(1, size)) for size in shape)
    out = _int_field(1, dtype) + _bytes_field(2, dims)
    if content:
        out += _bytes_field(4, content)
    for text in strings:
        out += _bytes_field(8, text)
    return out


def _metadata(plugin: str, content: bytes = b"") -> bytes:
    plugin_data = _bytes_field(1, plugin.encode())
    if content:
        plugin_data += _bytes_field(2, content)
    return _bytes_field(1, plugin_data)


def _summary_value(tag: str, metadata: bytes, tensor: bytes) -> bytes:
    value = _bytes_field(1, tag.encode()) + _bytes_field(9, metadata) + _bytes_field(8, tensor)
    return _bytes_field(1, value)  # Summary.value (repeated)


def histogram_buckets(values, bucket_count: int = 30) -> np.ndarray:
    """``(k, 3)`` rows of (left edge, right edge, count), as ``tf.summary.histogram`` makes:
    ``bucket_count`` equal buckets over the values' range, one bucket when all are equal."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size == 0:
        return np.zeros((0, 3), dtype=np.float64)
    low, high = float(flat.min()), float(flat.max())
    if low == high:
        # TF spreads a constant over [v - 0.5, v + 0.5] in one bucket
        return np.array([[low - 0.5, high + 0.5, float(flat.size)]])
    counts, edges = np.histogram(flat, bins=bucket_count, range=(low, high))
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def encode_png(image: np.ndarray) -> bytes:
    """A PNG of a ``(height, width)`` or ``(height, width, 1|3|4)`` uint8 array (no Pillow)."""
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    # each row starts with filter byte 0 (None)
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class EventFileWriter:
    """Append summaries to a new ``events.out.tfevents.*`` file in ``logdir``.

    The file name follows TensorFlow's (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``) so
    TensorBoard picks it up; each write is flushed, so a running TensorBoard sees it at once.

    Args:
        logdir: the run's directory (created when missing).
    """

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, logdir: str | os.PathLike):
        os.makedirs(logdir, exist_ok=True)
        with EventFileWriter._lock:
            EventFileWriter._counter += 1
            number = EventFileWriter._counter
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{number}.v2"
        )
        self.path = os.path.join(os.fspath(logdir), name)
        self._handle = open(self.path, "wb")
        # the first event names the format version, as TensorFlow's writer does
        self._write_event(_bytes_field(3, b"brain.Event:2"), step=0)

    def _write_event(self, payload: bytes, step: int) -> None:
        if self._handle is None:
            raise ValueError(f"EventFileWriter for {self.path} is closed.")
        event = _double_field(1, time.time()) + _int_field(2, step) + payload
        self._handle.write(frame_record(event))
        self._handle.flush()

    def _write_summary(self, value: bytes, step: int) -> None:
        self._write_event(_bytes_field(5, value), step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """A float32 scalar under ``tag`` at ``step`` (the ``scalars`` plugin)."""
        tensor = _tensor_proto(DT_FLOAT, (), struct.pack("<f", float(value)))
        self._write_summary(_summary_value(tag, _metadata("scalars"), tensor), step)

    def histogram(self, tag: str, values, step: int, buckets: int = 30) -> None:
        """The distribution of ``values`` under ``tag`` (the ``histograms`` plugin)."""
        rows = histogram_buckets(values, buckets)
        tensor = _tensor_proto(DT_DOUBLE, rows.shape, rows.astype("<f8").tobytes())
        self._write_summary(_summary_value(tag, _metadata("histograms"), tensor), step)

    def image(self, tag: str, images, step: int) -> None:
        """``images`` ``(n, height, width, 1|3|4)`` floats in [0, 1] or uint8, as PNGs."""
        batch = np.asarray(images)
        if batch.dtype != np.uint8:
            batch = (np.clip(batch, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        height, width = batch.shape[1], batch.shape[2]
        strings = [str(width).encode(), str(height).encode()]
        strings += [encode_png(one) for one in batch]
        tensor = _tensor_proto(DT_STRING, (len(strings),), strings=strings)
        # ImagePluginData's fields (version 0, not converted) are all defaults: empty content
        self._write_summary(_summary_value(tag, _metadata("images"), tensor), step)

    def text_tensor(self, tag: str, text: str, plugin: str, content: bytes, step: int) -> None:
        """A scalar string tensor for ``plugin`` (e.g. a model's JSON for ``graph_keras_model``)."""
        tensor = _tensor_proto(DT_STRING, (), strings=[text.encode()])
        self._write_summary(_summary_value(tag, _metadata(plugin, content), tensor), step)

    def flush(self) -> None:
        """Flush the file (every write already does)."""
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        """Close the file; later writes raise."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_events(path: str | os.PathLike) -> list[dict]:
    """Decode an event file written by ``EventFileWriter`` (CRCs checked).

    Returns:
        One dict per summary value: ``step``, ``wall_time``, ``tag``, ``plugin`` and ``value``
        (a float for scalars, an ``(k, 3)`` array for histograms, a list of bytes for string
        tensors), plus ``{"file_version": ...}`` for the header event.
    """
    out = []
    for record in read_records(path):
        step = 0
        wall_time = 0.0
        summaries = []
        for field, _, value in parse_message(record):
            if field == 1:
                (wall_time,) = struct.unpack("<d", value)
            elif field == 2:
                step = value
            elif field == 3:
                out.append({"file_version": value.decode()})
            elif field == 5:
                summaries.extend(v for f, _, v in parse_message(value) if f == 1)
        for raw in summaries:
            entry = {"step": step, "wall_time": wall_time, "plugin": None, "value": None}
            for field, _, value in parse_message(raw):
                if field == 1:
                    entry["tag"] = value.decode()
                elif field == 9:
                    entry["plugin"] = _plugin_name(value)
                elif field == 8:
                    entry["value"] = _decode_tensor(value)
            out.append(entry)
    return out


def _plugin_name(metadata: bytes) -> str | None:
    for field, _, value in parse_message(metadata):
        if field == 1:
            for inner, _, name in parse_message(value):
                if inner == 1:
                    return name.decode()
    return None


def _decode_tensor(data: bytes):
    dtype = None
    shape: list[int] = []
    content = b""
    strings = []
    for field, _, value in parse_message(data):
        if field == 1:
            dtype = value
        elif field == 2:
            for dim_field, _, dim in parse_message(value):
                if dim_field == 2:
                    shape.extend(v for f, _, v in parse_message(dim) if f == 1)
        elif field == 4:
            content = value
        elif field == 8:
            strings.append(value)
    if dtype == DT_STRING:
        return strings
    array = np.frombuffer(content, dtype="<f4" if dtype == DT_FLOAT else "<f8").reshape(shape)
    return float(array) if array.ndim == 0 else array
