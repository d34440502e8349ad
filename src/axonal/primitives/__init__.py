"""The primitive operations: one small Function class each, forward and backward side by side.

``core`` holds elementwise maths, activations, linear algebra, reductions, shape ops and the
fused losses; ``conv`` holds convolution and pooling; ``norm`` and ``recurrent`` the
normalization and sequence kernels. Everything is re-exported here, so callers write
``primitives.Affine``.
"""

from axonal.primitives.core import *  # noqa: F403
from axonal.primitives.core import _normalize_axis  # noqa: F401
