"""Keras's layers, as builders over tinygrad_nb.nn (see base.py for how they work)."""
from .base import Input, InputLayer, InputSpec, KerasTensor, Layer
from .conv import (AveragePooling1D, AveragePooling2D, AveragePooling3D, Conv1D, Conv2D, Conv2DTranspose, Conv3D,
                   GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                   MaxPooling1D, MaxPooling2D, MaxPooling3D, UpSampling2D)
from .core import Activation, BatchNormalization, Dense, Dropout, Embedding, Flatten, LayerNormalization, Reshape
from .merge import Add, Average, Concatenate, Multiply, Subtract, add, concatenate
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed

# Keras's short names
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D

LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Dense, Activation, Flatten, Reshape, Dropout, Embedding, BatchNormalization, LayerNormalization,
    Conv1D, Conv2D, Conv3D, Conv2DTranspose, MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D,
    AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, UpSampling2D, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed, Concatenate, Add,
    Subtract, Multiply, Average)}


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    """The layer a serialize() config describes; custom_objects names extra layer classes."""
    known = {**LAYERS, **(custom_objects or {})}
    name = config["class_name"]
    if name not in known:
        raise ValueError(f"Unknown layer: {name!r}. Pass its class in custom_objects, or use one of "
                         f"{', '.join(sorted(known))}")
    return known[name].from_config(dict(config["config"]))
