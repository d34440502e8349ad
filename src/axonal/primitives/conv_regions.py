"""A zero-padded stride-1 convolution as one GEMM per border region: no products of padding.

With 'same' padding on a small map most windows hang over the edge: a 3×3 kernel on a 4×4 map
(the digits CNN's second layer) reads 144 taps per image of which 44, 31%, are padding zeros,
and im2col writes those zeros and the GEMM multiplies them. Output positions fall into regions
(the interior, each edge, each corner) whose windows keep the same taps inside the image; per
region, the matrix of just those taps times just those kernel rows gives that region's outputs,
read straight from the unpadded input. Nine GEMMs instead of one, 31% fewer multiply-adds and
a third less to copy, and no padded copy of the input.

Used for the forward products nothing differentiates afterwards (inference, input gradients
only), from ``MIN_ROWS`` output rows up; below that the extra GEMM calls cost more than the
zeros (a 64-image batch: 0.52 against 0.32 ms). The digits CNN's second layer on 1,000 images
took 3.9–4.2 against 4.7–4.8 ms alone; integrated gradients on that CNN (1,024-image passes)
ran 2–7% faster in alternating A/Bs (best of 14: 76.8 -> 71.5 ms, 81.0 -> 78.6 ms). Its input
gradient by regions (the flipped kernel over the output gradient) measured no faster than the
compiled scatter, so backward is unchanged. The terms of each sum are the im2col product's
minus its zeros, so results agree within float rounding.
"""

from __future__ import annotations

from axonal.backend import xp

# output rows (images × positions) from which the regions pay (4x4 maps: even at 256 images)
MIN_ROWS = 4096
# the share of taps on padding below which one GEMM over the padded input stays (an 8x8 'same'
# map, 17% padding: no faster)
MIN_PADDING_SHARE = 0.25
# channels short of this many bytes copy as slow short runs (a single-channel first layer)
_MIN_RUN_BYTES = 64


def _classes(out_length: int, size: int, before: int, taps: int) -> list:
    """``[first, stop, first tap, stop tap]`` per run of output positions along one axis whose
    windows keep the same taps inside an input of ``size`` padded by ``before``."""
    runs: list = []
    for position in range(out_length):
        low, high = max(0, before - position), min(taps, size + before - position)
        if runs and runs[-1][2:] == [low, high]:
            runs[-1][1] = position + 1
        else:
            runs.append([position, position + 1, low, high])
    return runs


def padding_share(in_hw, kernel_hw, out_hw, pads) -> float:
    """The share of window taps that read padding (stride and dilation 1)."""
    total = out_hw[0] * out_hw[1] * kernel_hw[0] * kernel_hw[1]
    if not total:
        return 0.0
    inside = 0
    for first_row, stop_row, tap_row, stop_tap_row in _classes(
        out_hw[0], in_hw[0], pads[0][0], kernel_hw[0]
    ):
        for first_col, stop_col, tap_col, stop_tap_col in _classes(
            out_hw[1], in_hw[1], pads[1][0], kernel_hw[1]
        ):
            positions = (stop_row - first_row) * (stop_col - first_col)
            inside += positions * max(0, stop_tap_row - tap_row) * max(0, stop_tap_col - tap_col)
    return 1 - inside / total


def suits(x, kernel_hw, out_hw, strides, dilation, pads, planar: bool) -> bool:
    """Whether the forward product of ``x`` ``(N, H, W, C)`` runs by regions."""
    n, h, w, c = x.shape
    return (
        not planar
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and c * x.dtype.itemsize >= _MIN_RUN_BYTES
        and n * out_hw[0] * out_hw[1] >= MIN_ROWS
        and padding_share((h, w), kernel_hw, out_hw, pads) >= MIN_PADDING_SHARE
    )


# images per call of _regions: their region matrices take about this much memory at most
_BLOCK_BYTES = 16 << 20


def product(x, matrix, kernel_hw, out_hw, pads, ones: bool):
    """``im2col(x) · matrix`` ``(N·oh·ow, O)`` without the padding's terms, a block of images
    at a time (a 100,000-image prediction does not build its whole matrices at once).

    ``matrix`` is the kernel as ``(kh·kw·C [+ 1], O)``, the bias as its last row when ``ones``.
    """
    n, h, w, c = x.shape
    oh, ow = out_hw
    out = xp.empty((n, oh, ow, matrix.shape[1]), dtype=x.dtype)
    inside = 1 - padding_share((h, w), kernel_hw, out_hw, pads)
    per_image = oh * ow * (kernel_hw[0] * kernel_hw[1] * c * inside + 1) * x.dtype.itemsize
    block = max(1, int(_BLOCK_BYTES // per_image))
    for start in range(0, n, block):
        stop = min(n, start + block)
        _regions(x[start:stop], matrix, kernel_hw, pads, ones, out[start:stop])
    return out.reshape(n * oh * ow, matrix.shape[1])


def _regions(x, matrix, kernel_hw, pads, ones: bool, out) -> None:
    """``product`` of the images ``x`` into ``out`` ``(N, oh, ow, O)``, region by region."""
    n, h, w, c = x.shape
    kh, kw = kernel_hw
    _, oh, ow, width = out.shape
    kernel = matrix[: kh * kw * c].reshape(kh, kw, c, width)
    (top, _), (left, _) = pads
    sn, sh, sw, sc = x.strides
    for first_row, stop_row, tap_row, stop_tap_row in _classes(oh, h, top, kh):
        for first_col, stop_col, tap_col, stop_tap_col in _classes(ow, w, left, kw):
            rows, cols = stop_row - first_row, stop_col - first_col
            tap_rows, tap_cols = stop_tap_row - tap_row, stop_tap_col - tap_col
            target = out[:, first_row:stop_row, first_col:stop_col]
            if tap_rows <= 0 or tap_cols <= 0:  # windows wholly on the padding
                target[...] = matrix[-1] if ones else 0
                continue
            # the windows' inside taps, read from the unpadded input
            corner = x[:, first_row + tap_row - top :, first_col + tap_col - left :]
            windows = xp.lib.stride_tricks.as_strided(
                corner,
                shape=(n, rows, cols, tap_rows, tap_cols, c),
                strides=(sn, sh, sw, sh, sw, sc),
                writeable=False,
            )
            taps = tap_rows * tap_cols * c
            region = xp.empty((n * rows * cols, taps + int(ones)), dtype=x.dtype)
            region[:, :taps].reshape(windows.shape)[...] = windows
            weights = kernel[tap_row:stop_tap_row, tap_col:stop_tap_col].reshape(taps, width)
            if ones:
                region[:, taps] = 1
                weights = xp.concatenate([weights, matrix[-1:]])
            target[...] = xp.matmul(region, weights).reshape(n, rows, cols, width)
