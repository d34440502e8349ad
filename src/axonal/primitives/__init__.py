"""The primitive operations: one small Function class each, forward and backward side by side.

``core`` holds elementwise maths, activations, linear algebra, reductions, shape ops and the
fused losses; ``conv`` holds convolution and pooling; ``norm`` and ``recurrent`` the
normalization and sequence kernels. Everything is re-exported here, so callers write
``primitives.Affine``.
"""

from axonal.primitives.attention import (  # noqa: F401
    PackedSelfAttention,
    ScaledDotProductAttention,
)
from axonal.primitives.conv import (  # noqa: F401
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DRelu,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Crop,
    MaxPool1D,
    MaxPool2D,
    UpSampleNearest2D,
    ZeroPad,
    conv_output_length,
    conv_pads,
    conv_transpose_output_length,
)
from axonal.primitives.core import *  # noqa: F403
from axonal.primitives.core import _normalize_axis  # noqa: F401
from axonal.primitives.norm import Normalize, NormalizeLastAxis, moments  # noqa: F401
from axonal.primitives.numpy_ops import (  # noqa: F401
    CumSum,
    Determinant,
    Einsum,
    Inverse,
    Solve,
    TakeAlongAxis,
)
from axonal.primitives.recurrent import (  # noqa: F401
    GRUSequence,
    LSTMSequence,
    ReverseSteps,
    SimpleRNNSequence,
    SliceSteps,
)
