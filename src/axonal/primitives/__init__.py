"""The primitive operations: one small Function class each, forward and backward side by side.

``core`` holds elementwise maths, activations, linear algebra, reductions, shape ops and the
fused losses; ``conv`` holds convolution and pooling (``conv_taps`` its stride-1 1-D GEMMs,
``conv_regions`` its padded small maps by border region, ``scratch`` the work arrays reused
across steps); ``norm`` and ``recurrent`` the
normalization and sequence kernels, ``attention`` the fused attention, ``numpy_ops`` the ops
only ``axonal.ops`` uses. Everything is re-exported here, so callers write
``primitives.Affine``: ``core``'s names now, the others with their module on first use (a model
of Dense layers never compiles the convolutions; axonal._missing explains the module
``__getattr__`` that does it).
"""

from axonal._missing import lazy_attribute, lazy_dir
from axonal.primitives.core import *  # noqa: F403
from axonal.primitives.core import _normalize_axis  # noqa: F401

# module -> the names it defines, loaded on first use
_MODULES = {
    "axonal.primitives.attention": ("PackedSelfAttention", "ScaledDotProductAttention"),
    "axonal.primitives.conv": (
        "AvgPool1D",
        "AvgPool2D",
        "Conv1D",
        "Conv1DTranspose",
        "Conv2D",
        "Conv2DRelu",
        "Conv2DTranspose",
        "Conv3D",
        "Conv3DTranspose",
        "Crop",
        "MaxPool1D",
        "MaxPool2D",
        "UpSampleNearest2D",
        "ZeroPad",
        "conv_output_length",
        "conv_pads",
        "conv_transpose_output_length",
    ),
    "axonal.primitives.norm": (
        "Normalize",
        "NormalizeChannels",
        "NormalizeLastAxis",
        "centered_moments",
        "channel_moments",
        "moments",
    ),
    "axonal.primitives.numpy_ops": (
        "CumSum",
        "Determinant",
        "Einsum",
        "Inverse",
        "Solve",
        "TakeAlongAxis",
    ),
    "axonal.primitives.recurrent": (
        "GRUSequence",
        "LSTMSequence",
        "ReverseSteps",
        "SimpleRNNSequence",
        "SliceSteps",
    ),
}
# name -> the module that defines it; the submodules too
_LAZY = {
    **{name: module for module, names in _MODULES.items() for name in names},
    **{
        name: f"axonal.primitives.{name}"
        for name in (
            "attention",
            "conv",
            "conv_regions",
            "conv_taps",
            "norm",
            "numpy_ops",
            "recurrent",
            "scratch",
        )
    },
}


def __getattr__(name: str) -> object:
    """Load a primitive (and its module) on first access."""
    return lazy_attribute(__name__, _LAZY, name)


def __dir__() -> list[str]:
    """The package's names, the ones not loaded yet included."""
    return lazy_dir(globals(), _LAZY)
