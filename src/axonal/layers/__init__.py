"""Layers: the building blocks of models (Keras names, layouts and defaults)."""

from axonal.layers.attention import (
    AdditiveAttention,
    Attention,
    GroupedQueryAttention,
    MultiHeadAttention,
)
from axonal.layers.base import Layer
from axonal.layers.conv import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from axonal.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from axonal.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from axonal.layers.embedding import Embedding
from axonal.layers.extra import (
    ELU,
    Identity,
    Lambda,
    LeakyReLU,
    Masking,
    Permute,
    PReLU,
    ReLU,
    RepeatVector,
    Rescaling,
    Softmax,
)
from axonal.layers.input_spec import InputSpec
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
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from axonal.layers.normalization import (
    BatchNormalization,
    GaussianNoise,
    LayerNormalization,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from axonal.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    Cropping1D,
    Cropping2D,
    Cropping3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from axonal.layers.preprocessing import (
    CategoryEncoding,
    Discretization,
    Hashing,
    IntegerLookup,
    Normalization,
    StringLookup,
    TextVectorization,
)
from axonal.layers.preprocessing.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from axonal.layers.preprocessing.image import CenterCrop, Resizing
from axonal.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed
from axonal.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GroupNormalization,
    UnitNormalization,
)
from axonal.layers.rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells

# Keras's other names for the same layers
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
Convolution1D = Conv1D
Convolution1DTranspose = Conv1DTranspose
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
Convolution3D = Conv3D
Convolution3DTranspose = Conv3DTranspose
GlobalAvgPool1D = GlobalAveragePooling1D
GroupQueryAttention = GroupedQueryAttention
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
SeparableConvolution1D = SeparableConv1D
MaxPool3D = MaxPooling3D
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "InputSpec",
    "Activation",
    "ActivityRegularization",
    "Add",
    "add",
    "AdditiveAttention",
    "AlphaDropout",
    "Attention",
    "Average",
    "average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNormalization",
    "Bidirectional",
    "CategoryEncoding",
    "Concatenate",
    "concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Discretization",
    "Dot",
    "dot",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupedQueryAttention",
    "GroupNormalization",
    "GroupQueryAttention",
    "GRU",
    "GRUCell",
    "Hashing",
    "Identity",
    "Input",
    "InputLayer",
    "IntegerLookup",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "LSTM",
    "LSTMCell",
    "Masking",
    "Maximum",
    "maximum",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Minimum",
    "minimum",
    "MultiHeadAttention",
    "Multiply",
    "multiply",
    "Normalization",
    "Permute",
    "PReLU",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "RNN",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "StackedRNNCells",
    "StringLookup",
    "Subtract",
    "subtract",
    "TextVectorization",
    "TimeDistributed",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "CenterCrop",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Resizing",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
