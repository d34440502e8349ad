"""Layers: the building blocks of models (Keras names, layouts and defaults)."""

from axonal.layers.base import Layer
from axonal.layers.conv import Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from axonal.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from axonal.layers.embedding import Embedding
from axonal.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    concatenate,
)
from axonal.layers.normalization import (
    BatchNormalization,
    GaussianNoise,
    LayerNormalization,
    SpatialDropout1D,
    SpatialDropout2D,
)
from axonal.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    Cropping2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    UpSampling2D,
    ZeroPadding2D,
)
from axonal.layers.preprocessing import Normalization
from axonal.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed

__all__ = [
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "Reshape",
    "SeparableConv2D",
    "SimpleRNN",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "Subtract",
    "TimeDistributed",
    "UpSampling2D",
    "ZeroPadding2D",
    "add",
    "concatenate",
]
