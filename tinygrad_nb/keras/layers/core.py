"""Core layers: Dense, Activation, Flatten, Reshape, Dropout, Embedding and the normalisations."""
from ... import nn
from .. import activations
from ..initializers import initialize
from .base import InputSpec, Layer, channels_first, channels_last, shape_text


class Dense(Layer):
    """y = activation(x W + b) on the last axis (nn.Linear), of a (N, F) input or of every
    step of a sequence (N, T, F). Unlike Keras, a 4-D or larger input is refused: it is
    nearly always an image that lacks a Flatten()."""

    input_spec = InputSpec(ndim=(2, 3))

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_dim=None, **kwargs):
        if input_dim is not None:
            kwargs.setdefault("input_shape", (input_dim,))
        super().__init__(**kwargs)
        self.units, self.activation = int(units), activations.get(activation)
        self.use_bias, self.input_dim = use_bias, input_dim
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        features = _known_last(self, input_shape)
        self.linear = nn.Linear(features, self.units, bias=self.use_bias)
        initialize(self.kernel_initializer, self.linear.weight)
        if self.use_bias:
            initialize(self.bias_initializer, self.linear.bias)
        self.input_spec = InputSpec(ndim=(2, 3), axes={-1: features})

    def call(self, inputs):
        return self.linear(inputs)

    def ndim_hint(self, shape):
        return ". Add a Flatten() layer before it to feed it an image's features" if len(shape) > 3 else ""


def _known_last(layer, input_shape):
    if input_shape[-1] is None:
        raise ValueError(f'Layer "{layer.name}": the last axis of its input must be known, got shape '
                         f"{shape_text(input_shape)}")
    return input_shape[-1]


class Activation(Layer):
    """An activation on its own, e.g. Activation('softmax')."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return inputs

    def any_layout(self):
        return self._elementwise_activation()


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in channels-last order as Keras."""

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], -1)


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one size may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)


class Dropout(Layer):
    """Zeroes a fraction `rate` of the inputs while training (nn.Dropout)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.dropout = nn.Dropout(rate)

    def call(self, inputs):
        return self.dropout(inputs)

    def any_layout(self):
        return True


class Embedding(Layer):
    """Integer ids (N, T) -> vectors (N, T, output_dim) (nn.Embedding), drawn as Keras's
    from U(-0.05, 0.05). Floating ids are cast to integers, as Keras does."""

    def __init__(self, input_dim, output_dim, input_length=None, **kwargs):
        if input_length is not None:
            kwargs.setdefault("input_shape", (input_length,))
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.input_length = input_dim, output_dim, input_length
        self.embedding = nn.Embedding(input_dim, output_dim)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)

    def call(self, inputs):
        return self.embedding(inputs if inputs.dtype.kind in "iu" else inputs.long())


class BatchNormalization(Layer):
    """Batch normalisation over the channels (the last axis) of (N, C), (N, T, C) or
    (N, H, W, C) inputs (nn.BatchNorm1d/2d). Keras's momentum m keeps m of the moving
    statistics at each step: PyTorch's momentum 1 - m."""

    input_spec = InputSpec(ndim=(2, 3, 4))

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, momentum, epsilon

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f'Layer "{self.name}": only the channels-last axis (-1) can be normalised, got '
                             f"axis={self.axis} for input shape {shape_text(input_shape)}")
        channels = _known_last(self, input_shape)
        kind = nn.BatchNorm2d if len(input_shape) == 4 else nn.BatchNorm1d
        self.norm = kind(channels, eps=self.epsilon, momentum=1.0 - self.momentum)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={-1: channels})

    def call(self, inputs):
        if inputs.ndim == 2:
            return self.norm(inputs)
        return channels_last(self.norm(channels_first(inputs)))

    def takes_channels_first(self):
        return self.built

    def call_channels_first(self, inputs):
        return self.norm(inputs)


class LayerNormalization(Layer):
    """Normalises each sample over its last axis (nn.LayerNorm)."""

    def __init__(self, axis=-1, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f'Layer "{self.name}": only the last axis (-1) can be normalised, got axis={self.axis} '
                             f"for input shape {shape_text(input_shape)}")
        self.norm = nn.LayerNorm(_known_last(self, input_shape), eps=self.epsilon)

    def call(self, inputs):
        return self.norm(inputs)
