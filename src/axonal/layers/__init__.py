"""Layers: the building blocks of models (Keras names, layouts and defaults).

Each layer loads with its module on first use (``axonal.layers.Dense`` imports
``axonal.layers.core``, not the convolutions or the recurrent layers); axonal._missing explains
the module ``__getattr__`` that does it.
"""

from axonal._missing import lazy_attribute, lazy_dir

# module -> the public names it defines
_MODULES = {
    "axonal.layers.attention": (
        "AdditiveAttention",
        "Attention",
        "GroupedQueryAttention",
        "MultiHeadAttention",
    ),
    "axonal.layers.base": ("Layer",),
    "axonal.layers.conv": (
        "Conv1D",
        "Conv1DTranspose",
        "Conv2D",
        "Conv2DTranspose",
        "Conv3D",
        "Conv3DTranspose",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
    ),
    "axonal.layers.conv_lstm": ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    "axonal.layers.core": (
        "Activation",
        "Dense",
        "Dropout",
        "Flatten",
        "Input",
        "InputLayer",
        "Reshape",
    ),
    "axonal.layers.embedding": ("Embedding",),
    "axonal.layers.extra": (
        "ELU",
        "Identity",
        "Lambda",
        "LeakyReLU",
        "Masking",
        "PReLU",
        "Permute",
        "ReLU",
        "RepeatVector",
        "Rescaling",
        "Softmax",
    ),
    "axonal.layers.input_spec": ("InputSpec",),
    "axonal.layers.merge": (
        "Add",
        "Average",
        "Concatenate",
        "Dot",
        "Maximum",
        "Minimum",
        "Multiply",
        "Subtract",
        "add",
        "average",
        "concatenate",
        "dot",
        "maximum",
        "minimum",
        "multiply",
        "subtract",
    ),
    "axonal.layers.normalization": (
        "BatchNormalization",
        "GaussianNoise",
        "LayerNormalization",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
    ),
    "axonal.layers.pooling": (
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
    ),
    "axonal.layers.preprocessing.augmentation": (
        "RandomBrightness",
        "RandomContrast",
        "RandomCrop",
        "RandomFlip",
        "RandomRotation",
        "RandomTranslation",
        "RandomZoom",
    ),
    "axonal.layers.preprocessing.image": ("CenterCrop", "Resizing"),
    "axonal.layers.preprocessing.lookup": (
        "CategoryEncoding",
        "Discretization",
        "Hashing",
        "IntegerLookup",
        "StringLookup",
    ),
    "axonal.layers.preprocessing.normalization": ("Normalization",),
    "axonal.layers.preprocessing.text": ("TextVectorization",),
    "axonal.layers.recurrent": ("Bidirectional", "GRU", "LSTM", "SimpleRNN", "TimeDistributed"),
    "axonal.layers.regularization": (
        "ActivityRegularization",
        "AlphaDropout",
        "GaussianDropout",
        "GroupNormalization",
        "UnitNormalization",
    ),
    "axonal.layers.rnn_cells": ("GRUCell", "LSTMCell", "RNN", "SimpleRNNCell", "StackedRNNCells"),
}
# Keras's other names for the same layers
_ALIASES = {
    "AvgPool1D": "axonal.layers.pooling:AveragePooling1D",
    "AvgPool2D": "axonal.layers.pooling:AveragePooling2D",
    "AvgPool3D": "axonal.layers.pooling:AveragePooling3D",
    "Convolution1D": "axonal.layers.conv:Conv1D",
    "Convolution1DTranspose": "axonal.layers.conv:Conv1DTranspose",
    "Convolution2D": "axonal.layers.conv:Conv2D",
    "Convolution2DTranspose": "axonal.layers.conv:Conv2DTranspose",
    "Convolution3D": "axonal.layers.conv:Conv3D",
    "Convolution3DTranspose": "axonal.layers.conv:Conv3DTranspose",
    "GlobalAvgPool1D": "axonal.layers.pooling:GlobalAveragePooling1D",
    "GlobalAvgPool2D": "axonal.layers.pooling:GlobalAveragePooling2D",
    "GlobalAvgPool3D": "axonal.layers.pooling:GlobalAveragePooling3D",
    "GlobalMaxPool1D": "axonal.layers.pooling:GlobalMaxPooling1D",
    "GlobalMaxPool2D": "axonal.layers.pooling:GlobalMaxPooling2D",
    "GlobalMaxPool3D": "axonal.layers.pooling:GlobalMaxPooling3D",
    "GroupQueryAttention": "axonal.layers.attention:GroupedQueryAttention",
    "MaxPool1D": "axonal.layers.pooling:MaxPooling1D",
    "MaxPool2D": "axonal.layers.pooling:MaxPooling2D",
    "MaxPool3D": "axonal.layers.pooling:MaxPooling3D",
    "SeparableConvolution1D": "axonal.layers.conv:SeparableConv1D",
    "SeparableConvolution2D": "axonal.layers.conv:SeparableConv2D",
}
# name -> the module that defines it (axonal._missing.lazy_attribute); the submodules too, so
# ``axonal.layers.core`` stays an attribute as when the package imported them all
_LAZY = {
    **{name: module for module, names in _MODULES.items() for name in names},
    **_ALIASES,
    **{
        name: f"axonal.layers.{name}"
        for name in (
            "attention",
            "base",
            "conv",
            "conv_lstm",
            "core",
            "data_format",
            "embedding",
            "extra",
            "input_spec",
            "masking",
            "merge",
            "normalization",
            "pooling",
            "preprocessing",
            "recurrent",
            "regularization",
            "rnn_cells",
            "symbolic",
        )
    },
}

# the public names: every layer and function of _MODULES, and the aliases
__all__ = [*(name for names in _MODULES.values() for name in names), *_ALIASES]


def __getattr__(name: str) -> object:
    """Load a layer (and its module) on first access; for a Keras name axonal lacks, raise the
    error naming the Keras feature (axonal._missing)."""
    return lazy_attribute(__name__, _LAZY, name)


def __dir__() -> list[str]:
    """The package's names, the ones not loaded yet included."""
    return lazy_dir(globals(), _LAZY)
