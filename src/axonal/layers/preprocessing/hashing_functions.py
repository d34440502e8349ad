"""The string hashes Keras's preprocessing layers bucket with, in pure Python.

Keras hashes through TensorFlow: ``tf.strings.to_hash_bucket_fast`` is FarmHash's
``Fingerprint64`` (the ``farmhashna`` 64-bit hash) modulo the bucket count, and
``tf.strings.to_hash_bucket_strong`` is SipHash-2-4 keyed by two 64-bit words. Both are written
here from the published algorithms so that ``Hashing`` and the lookups' extra OOV buckets give
Keras's bins without TensorFlow. A batch is hashed once per distinct value (``numpy.unique``):
categorical columns repeat a few values many times; FarmHash runs on all strings of up to 64
bytes at once as uint64 array arithmetic.
"""

from __future__ import annotations

import numpy

_MASK = (1 << 64) - 1
# FarmHash's primes
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(data: bytes, i: int) -> int:
    return int.from_bytes(data[i : i + 8], "little")


def _fetch32(data: bytes, i: int) -> int:
    return int.from_bytes(data[i : i + 4], "little")


def _rotate(value: int, shift: int) -> int:
    if shift == 0:
        return value
    return ((value >> shift) | (value << (64 - shift))) & _MASK


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _hash_len16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _hash_len_0_to_16(data: bytes) -> int:
    length = len(data)
    if length >= 8:
        mul = _K2 + length * 2
        a = (_fetch64(data, 0) + _K2) & _MASK
        b = _fetch64(data, length - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash_len16(c, d, mul)
    if length >= 4:
        mul = _K2 + length * 2
        a = _fetch32(data, 0)
        return _hash_len16((length + (a << 3)) & _MASK, _fetch32(data, length - 4), mul)
    if length > 0:
        a, b, c = data[0], data[length >> 1], data[length - 1]
        y = (a + (b << 8)) & 0xFFFFFFFF
        z = (length + (c << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK) * _K2) & _MASK
    return _K2


def _hash_len_17_to_32(data: bytes) -> int:
    length = len(data)
    mul = _K2 + length * 2
    a = (_fetch64(data, 0) * _K1) & _MASK
    b = _fetch64(data, 8)
    c = (_fetch64(data, length - 8) * mul) & _MASK
    d = (_fetch64(data, length - 16) * _K2) & _MASK
    return _hash_len16(
        (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
        (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK,
        mul,
    )


def _hash_len_33_to_64(data: bytes) -> int:
    length = len(data)
    mul = _K2 + length * 2
    a = (_fetch64(data, 0) * _K2) & _MASK
    b = _fetch64(data, 8)
    c = (_fetch64(data, length - 8) * mul) & _MASK
    d = (_fetch64(data, length - 16) * _K2) & _MASK
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash_len16(y, (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)
    e = (_fetch64(data, 16) * mul) & _MASK
    f = _fetch64(data, 24)
    g = ((y + _fetch64(data, length - 32)) * mul) & _MASK
    h = ((z + _fetch64(data, length - 24)) * mul) & _MASK
    return _hash_len16(
        (_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
        (e + _rotate((f + a) & _MASK, 18) + g) & _MASK,
        mul,
    )


def _weak_hash_len32_with_seeds(data: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x = _fetch64(data, i), _fetch64(data, i + 8)
    y, z = _fetch64(data, i + 16), _fetch64(data, i + 24)
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def fingerprint64(data: bytes) -> int:
    """FarmHash ``Fingerprint64`` of ``data`` (an unsigned 64-bit int), TensorFlow's
    ``tf.fingerprint``/``to_hash_bucket_fast`` hash.

    Example:
        >>> fingerprint64(b"")
        11160318154034397263
    """
    length = len(data)
    if length <= 16:
        return _hash_len_0_to_16(data)
    if length <= 32:
        return _hash_len_17_to_32(data)
    if length <= 64:
        return _hash_len_33_to_64(data)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK
    z = (_shift_mix((y * _K2 + 113) & _MASK) * _K2) & _MASK
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _fetch64(data, 0)) & _MASK
    end = ((length - 1) // 64) * 64
    last64 = end + ((length - 1) & 63) - 63
    i = 0
    while True:
        x = (_rotate((x + y + v0 + _fetch64(data, i + 8)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v1 + _fetch64(data, i + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w1
        y = (y + v0 + _fetch64(data, i + 40)) & _MASK
        z = (_rotate((z + w0) & _MASK, 33) * _K1) & _MASK
        v0, v1 = _weak_hash_len32_with_seeds(data, i, (v1 * _K1) & _MASK, (x + w0) & _MASK)
        w0, w1 = _weak_hash_len32_with_seeds(
            data, i + 32, (z + w1) & _MASK, (y + _fetch64(data, i + 16)) & _MASK
        )
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w0 + ((length - 1) & 63)) & _MASK
    v0 = (v0 + w0) & _MASK
    w0 = (w0 + v0) & _MASK
    x = (_rotate((x + y + v0 + _fetch64(data, i + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v1 + _fetch64(data, i + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w1 * 9) & _MASK
    y = (y + v0 * 9 + _fetch64(data, i + 40)) & _MASK
    z = (_rotate((z + w0) & _MASK, 33) * mul) & _MASK
    v0, v1 = _weak_hash_len32_with_seeds(data, i, (v1 * mul) & _MASK, (x + w0) & _MASK)
    w0, w1 = _weak_hash_len32_with_seeds(
        data, i + 32, (z + w1) & _MASK, (y + _fetch64(data, i + 16)) & _MASK
    )
    z, x = x, z
    return _hash_len16(
        (_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z) & _MASK,
        (_hash_len16(v1, w1, mul) + x) & _MASK,
        mul,
    )


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def siphash24(key0: int, key1: int, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 128-bit key ``(key0, key1)``: TensorFlow's
    ``to_hash_bucket_strong`` hash (Keras's ``salt``).

    Example:
        >>> siphash24(0, 0, b"") > 0
        True
    """
    k0, k1 = key0 & _MASK, key1 & _MASK
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(count: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(count):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    length = len(data)
    whole = length - length % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        rounds(2)
        v0 ^= m
    # the last block: the leftover bytes, and the length's low byte in the top byte
    m = int.from_bytes(data[whole:], "little") | ((length & 0xFF) << 56)
    v3 ^= m
    rounds(2)
    v0 ^= m
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


# ---------------------------------------------------------------- vectorised over many strings
_U64 = numpy.uint64


def _words(matrix: numpy.ndarray, offsets: numpy.ndarray, width: int) -> numpy.ndarray:
    """The little-endian ``width``-byte word at ``offsets[i]`` of each row of a byte matrix."""
    columns = offsets[:, None] + numpy.arange(width)
    chunk = numpy.take_along_axis(matrix, columns, axis=1).astype(_U64)
    shifts = (numpy.arange(width, dtype=_U64) * _U64(8))[None, :]
    return numpy.bitwise_or.reduce(chunk << shifts, axis=1)


def _v_rotate(value: numpy.ndarray, shift: int) -> numpy.ndarray:
    return (value >> _U64(shift)) | (value << _U64(64 - shift))


def _v_hash_len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> _U64(47)
    b = (v ^ a) * mul
    b ^= b >> _U64(47)
    return b * mul


def _v_short(matrix: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Fingerprint64 of rows of at most 64 bytes: FarmHash's straight-line cases, as array
    arithmetic (uint64 products wrap modulo 2**64, as in C)."""
    out = numpy.zeros(len(lengths), dtype=_U64)
    n = lengths.astype(numpy.int64)
    length = lengths.astype(_U64)
    mul = _U64(_K2) + length * _U64(2)
    zero = numpy.zeros_like(n)

    def fetch64(offset):
        return _words(matrix, offset, 8)

    def fetch32(offset):
        return _words(matrix, offset, 4)

    with numpy.errstate(over="ignore"):
        pick = n == 0
        out[pick] = _U64(_K2)
        pick = (n > 0) & (n < 4)
        if pick.any():
            rows = matrix[pick].astype(_U64)
            m = n[pick]
            a = rows[:, 0]
            b = rows[numpy.arange(len(m)), m >> 1]
            c = rows[numpy.arange(len(m)), m - 1]
            y = (a + (b << _U64(8))) & _U64(0xFFFFFFFF)
            z = (length[pick] + (c << _U64(2))) & _U64(0xFFFFFFFF)
            mixed = (y * _U64(_K2)) ^ (z * _U64(_K0))
            out[pick] = (mixed ^ (mixed >> _U64(47))) * _U64(_K2)
        pick = (n >= 4) & (n < 8)
        if pick.any():
            a = fetch32(zero)[pick]
            last = fetch32(numpy.maximum(n - 4, 0))[pick]
            out[pick] = _v_hash_len16(length[pick] + (a << _U64(3)), last, mul[pick])
        pick = (n >= 8) & (n <= 16)
        if pick.any():
            a = fetch64(zero)[pick] + _U64(_K2)
            b = fetch64(numpy.maximum(n - 8, 0))[pick]
            c = _v_rotate(b, 37) * mul[pick] + a
            d = (_v_rotate(a, 25) + b) * mul[pick]
            out[pick] = _v_hash_len16(c, d, mul[pick])
        pick = (n > 16) & (n <= 32)
        if pick.any():
            mp = mul[pick]
            a = fetch64(zero)[pick] * _U64(_K1)
            b = fetch64(zero + 8)[pick]
            c = fetch64(numpy.maximum(n - 8, 0))[pick] * mp
            d = fetch64(numpy.maximum(n - 16, 0))[pick] * _U64(_K2)
            out[pick] = _v_hash_len16(
                _v_rotate(a + b, 43) + _v_rotate(c, 30) + d,
                a + _v_rotate(b + _U64(_K2), 18) + c,
                mp,
            )
        pick = (n > 32) & (n <= 64)
        if pick.any():
            mp = mul[pick]
            a = fetch64(zero)[pick] * _U64(_K2)
            b = fetch64(zero + 8)[pick]
            c = fetch64(numpy.maximum(n - 8, 0))[pick] * mp
            d = fetch64(numpy.maximum(n - 16, 0))[pick] * _U64(_K2)
            y = _v_rotate(a + b, 43) + _v_rotate(c, 30) + d
            z = _v_hash_len16(y, a + _v_rotate(b + _U64(_K2), 18) + c, mp)
            e = fetch64(zero + 16)[pick] * mp
            f = fetch64(zero + 24)[pick]
            g = (y + fetch64(numpy.maximum(n - 32, 0))[pick]) * mp
            h = (z + fetch64(numpy.maximum(n - 24, 0))[pick]) * mp
            out[pick] = _v_hash_len16(
                _v_rotate(e + f, 43) + _v_rotate(g, 30) + h, e + _v_rotate(f + a, 18) + g, mp
            )
    return out


def fingerprint64_many(items: list[bytes]) -> numpy.ndarray:
    """``fingerprint64`` of each byte string, as a uint64 array: strings of up to 64 bytes (the
    usual category or token) are hashed together as array arithmetic, longer ones one by one.

    Example:
        >>> int(fingerprint64_many([b"", b"abc"])[1]) == fingerprint64(b"abc")
        True
    """
    lengths = numpy.fromiter((len(b) for b in items), dtype=numpy.int64, count=len(items))
    out = numpy.zeros(len(items), dtype=_U64)
    short = numpy.nonzero(lengths <= 64)[0]
    if short.size:
        # fixed-width bytes pad with zeros (and drop trailing ones, which the lengths restore)
        packed = numpy.array([items[i] for i in short.tolist()], dtype="S64")
        matrix = packed.view(numpy.uint8).reshape(short.size, 64)
        out[short] = _v_short(matrix, lengths[short])
    for index in numpy.nonzero(lengths > 64)[0].tolist():
        out[index] = fingerprint64(items[index])
    return out


def hash_to_buckets(values, num_buckets: int, salt=None):
    """Keras's bucket of each string in ``values`` (an array of ``str``): FarmHash Fingerprint64
    modulo ``num_buckets``, or with ``salt`` (two ints) SipHash-2-4 modulo ``num_buckets``.

    Returns:
        An int64 array of the shape of ``values``.

    Example:
        >>> hash_to_buckets(numpy.array(["A", "B"]), 3)
        array([1, 0])
    """
    values = numpy.asarray(values)
    if values.size == 0:
        return numpy.zeros(values.shape, dtype="int64")
    distinct, inverse = numpy.unique(values.ravel(), return_inverse=True)
    if salt is None:
        hashes = fingerprint64_many([str(v).encode("utf-8") for v in distinct.tolist()])
        buckets = hashes % _U64(num_buckets)
    else:
        key0, key1 = int(salt[0]), int(salt[1])
        buckets = [siphash24(key0, key1, str(v).encode("utf-8")) % num_buckets for v in distinct]
    return numpy.asarray(buckets, dtype="int64")[inverse].reshape(values.shape)


__all__ = ["fingerprint64", "fingerprint64_many", "hash_to_buckets", "siphash24"]
