"""Convolution, pooling and upsampling layers on Keras's channels-last inputs: (N, T, C) for
1-D, (N, H, W, C) for 2-D, (N, D, H, W, C) for 3-D. Each permutes to channels first around
the nn module that does the work, and back.

padding='same' is TensorFlow's: the output has ceil(size / stride) positions and the
padding that takes goes half before, the rest (one more, when odd) after. Where that is
the same on both sides for every input (stride 1, odd kernel) the nn module pads; otherwise
the layer pads the input first."""
import math
import numbers

from ... import nn
from ...tensor import Tensor
from .. import activations
from ..initializers import initialize
from .base import InputSpec, Layer, channels_first, channels_last
from .core import _known_last


def _tuple(value, rank, what, layer):
    values = (value,) * rank if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != rank or not all(isinstance(v, numbers.Integral) and v > 0 for v in values):
        raise ValueError(f"{layer}: {what} must be a positive int or {rank} of them, got {value!r}")
    return tuple(int(v) for v in values)


def _check_padding(padding, layer, allowed=("valid", "same")):
    if padding not in allowed:
        raise ValueError(f"{layer}: padding must be one of {', '.join(map(repr, allowed))}, got {padding!r}")
    return padding


def same_widths(sizes, kernel, strides, dilation):
    """TensorFlow's 'same' padding: (before, after) for each spatial axis."""
    widths = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        widths.append((total // 2, total - total // 2))
    return widths


class _Conv(Layer):
    rank, module = 2, nn.Conv2d
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", name)
        self.strides = _tuple(strides, self.rank, "strides", name)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", name)
        self.padding = _check_padding(padding, name, self.paddings)
        self.activation, self.use_bias = activations.get(activation), use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        channels = _known_last(self, input_shape)
        # Padding the module can do for every input size: none, or 'same' with stride 1 and
        # an odd reach, which is symmetric. Anything else is padded in call().
        reach = [(k - 1) * d for k, d in zip(self.kernel_size, self.dilation_rate)]
        symmetric = self.padding == "same" and self.strides == (1,) * self.rank and all(r % 2 == 0 for r in reach)
        self.pads_input = self.padding != "valid" and not symmetric
        fixed = tuple(r // 2 for r in reach) if symmetric else 0
        self.conv = self.module(channels, self.filters, self.kernel_size, stride=self.strides, padding=fixed,
                                dilation=self.dilation_rate, bias=self.use_bias)
        initialize(self.kernel_initializer, self.conv.weight)
        if self.use_bias:
            initialize(self.bias_initializer, self.conv.bias)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})

    def call(self, inputs):
        return channels_last(self.call_channels_first(channels_first(inputs)))

    def takes_channels_first(self):
        return self.built and self._elementwise_activation()

    def call_channels_first(self, x):
        if self.pads_input:
            x = x.pad(self._widths(x.shape[2:]))
        return self.conv(x)

    def _widths(self, sizes):
        return same_widths(sizes, self.kernel_size, self.strides, self.dilation_rate)


class Conv1D(_Conv):
    """1-D convolution of (N, T, C) (nn.Conv1d); padding may also be 'causal' (the output
    at t sees inputs up to t only)."""

    rank, module = 1, nn.Conv1d
    paddings = ("valid", "same", "causal")

    def _widths(self, sizes):
        if self.padding == "causal":
            return [((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)]
        return super()._widths(sizes)


class Conv2D(_Conv):
    """2-D convolution of (N, H, W, C) (nn.Conv2d)."""


class Conv3D(_Conv):
    """3-D convolution of (N, D, H, W, C) (nn.Conv3d)."""

    rank, module = 3, nn.Conv3d


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution of (N, H, W, C) (nn.ConvTranspose2d): 'valid' gives
    size * stride + max(kernel - stride, 0) positions, 'same' size * stride."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size", name)
        self.strides = _tuple(strides, 2, "strides", name)
        self.padding = _check_padding(padding, name)
        self.activation, self.use_bias = activations.get(activation), use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.input_spec = InputSpec(ndim=4)

    def build(self, input_shape):
        channels = _known_last(self, input_shape)
        # PyTorch's size is (n - 1) s - 2 p + k + output_padding: solve for Keras's.
        padding, extra = [], []
        for k, s in zip(self.kernel_size, self.strides):
            p = 0 if self.padding == "valid" or k <= s else math.ceil((k - s) / 2)
            op = max(s - k, 0) if self.padding == "valid" or k <= s else 2 * p - (k - s)
            if op >= s:
                raise ValueError(f'Layer "{self.name}": padding="same" with kernel_size={self.kernel_size} and '
                                 f"strides={self.strides} needs an output padding the stride cannot hold; use an odd "
                                 f"kernel_size - strides")
            padding.append(p)
            extra.append(op)
        self.conv = nn.ConvTranspose2d(channels, self.filters, self.kernel_size, stride=self.strides,
                                       padding=tuple(padding), output_padding=tuple(extra), bias=self.use_bias)
        initialize(self.kernel_initializer, self.conv.weight)
        if self.use_bias:
            initialize(self.bias_initializer, self.conv.bias)
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        return channels_last(self.conv(channels_first(inputs)))


_POOLS = {(1, "max"): nn.MaxPool1d, (2, "max"): nn.MaxPool2d, (3, "max"): nn.MaxPool3d,
          (1, "avg"): nn.AvgPool1d, (2, "avg"): nn.AvgPool2d, (3, "avg"): nn.AvgPool3d}


class _Pooling(Layer):
    rank, kind = 2, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = _tuple(pool_size, self.rank, "pool_size", name)
        self.strides = self.pool_size if strides is None else _tuple(strides, self.rank, "strides", name)
        self.padding = _check_padding(padding, name)
        self.pool = _POOLS[self.rank, self.kind](self.pool_size, stride=self.strides)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return channels_last(self.call_channels_first(channels_first(inputs)))

    def takes_channels_first(self):
        return True

    def call_channels_first(self, x):
        widths = []
        if self.padding == "same":
            widths = same_widths(x.shape[2:], self.pool_size, self.strides, (1,) * self.rank)
        if not any(a or b for a, b in widths):
            return self.pool(x)
        if self.kind == "max":  # padding that can never be the maximum
            return self.pool(x.pad(widths, value=-math.inf))
        # Keras averages over the window's real inputs only: sum of the zero-padded input
        # over the count of real inputs, both as averages over the whole window.
        ones = Tensor.ones((1, 1) + x.shape[2:], dtype=x.dtype, device=x.device)
        return self.pool(x.pad(widths)) / self.pool(ones.pad(widths))


class MaxPooling1D(_Pooling):
    rank, kind = 1, "max"


class MaxPooling2D(_Pooling):
    rank, kind = 2, "max"


class MaxPooling3D(_Pooling):
    rank, kind = 3, "max"


class AveragePooling1D(_Pooling):
    rank, kind = 1, "avg"


class AveragePooling2D(_Pooling):
    rank, kind = 2, "avg"


class AveragePooling3D(_Pooling):
    rank, kind = 3, "avg"


class _GlobalPooling(Layer):
    rank, kind = 2, "avg"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        axes = tuple(range(1, self.rank + 1))
        return inputs.mean(axis=axes) if self.kind == "avg" else inputs.max(axis=axes)


class GlobalAveragePooling1D(_GlobalPooling):
    rank, kind = 1, "avg"


class GlobalAveragePooling2D(_GlobalPooling):
    rank, kind = 2, "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    rank, kind = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    rank, kind = 2, "max"


class UpSampling2D(Layer):
    """Repeats rows and columns `size` times ('nearest') or interpolates ('bilinear')
    (nn.Upsample)."""

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _tuple(size, 2, "size", "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation
        self.upsample = nn.Upsample(scale_factor=self.size, mode=interpolation)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return channels_last(self.upsample(channels_first(inputs)))

    def takes_channels_first(self):
        return True

    def call_channels_first(self, x):
        return self.upsample(x)
