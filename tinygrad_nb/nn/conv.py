"""Convolution layers: F.conv1d, F.conv2d, F.conv_transpose1d, F.conv_transpose2d and the
modules of the same names, with PyTorch's arguments, output sizes and initialisation.

The functions check their arguments and then call the ops in ops/conv.py; the 1-D forms are
the 2-D ones on inputs of height 1.
"""
import math
import numbers

import numpy as np

from ..ops import conv as conv_ops
from ..tensor import Tensor
from . import init
from .module import Module, Parameter
from .padding import pad

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(value, name, op, minimum):
    """An int or a pair of ints, as an (h, w) pair, each at least `minimum`."""
    return _ints(value, 2, name, op, minimum)


def _ints(value, n, name, op, minimum):
    """An int or n ints, as an n-tuple, each at least `minimum`."""
    ints = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(ints) != n or not all(isinstance(v, numbers.Integral) for v in ints):
        raise ValueError(f"{op}: {name} must be an int or {'a pair' if n == 2 else n} of ints, got {value!r}")
    if any(v < minimum for v in ints):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in ints)


def conv_output_size(size, kernel, stride, padding, dilation):
    """PyTorch's rule: floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_tensors(op, x, weight, bias, batched_rank):
    if x.ndim not in (batched_rank, batched_rank - 1):
        raise RuntimeError(
            f"{op}: expected a {batched_rank - 1}-D (unbatched) or {batched_rank}-D (batched) input, "
            f"got shape {x.shape}"
        )
    if weight.ndim != batched_rank:
        raise RuntimeError(f"{op}: expected a {batched_rank}-D weight, got shape {weight.shape}")
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if any(t.dtype.kind != "f" for t in tensors) or len({t.dtype for t in tensors}) > 1:
        names = ", ".join(f"{n} {t.dtype}" for n, t in zip(("input", "weight", "bias"), tensors))
        raise TypeError(f"{op}: input, weight and bias must share one floating dtype, got {names}")


def _check_groups(op, in_channels, out_channels, groups):
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise RuntimeError(
            f"{op}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible "
            f"by groups ({groups})"
        )


def _check_bias(op, bias, channels):
    if bias is not None and bias.shape != (channels,):
        raise RuntimeError(f"{op}: bias of shape {bias.shape} does not match {channels} output channels")


def _batched(x, rank, fn):
    """Run fn on x with a batch axis, adding (and then removing) one for an unbatched input."""
    if x.ndim == rank:
        return fn(x)
    return fn(x.unsqueeze(0)).squeeze(0)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (a cross-correlation, as in PyTorch) of input (N, C, H, W) with
    weight (K, C/groups, kh, kw); padding is an int, a pair, 'valid' or 'same'."""
    op = "conv2d"
    _check_tensors(op, input, weight, bias, 4)
    stride, dilation = _pair(stride, "stride", op, 1), _pair(dilation, "dilation", op, 1)
    k_out, cg, kh, kw = weight.shape
    channels = input.shape[-3]
    _check_groups(op, channels, k_out, groups)
    if cg * groups != channels:
        raise RuntimeError(
            f"{op}: weight of shape {weight.shape} with groups={groups} expects {cg * groups} input channels, "
            f"got input of shape {input.shape}"
        )
    _check_bias(op, bias, k_out)
    height, width = input.shape[-2:]
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        padding, out_hw = (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2), (height, width)
    else:
        padding = (0, 0) if padding == "valid" else _pair(padding, "padding", op, 0)
        out_hw = tuple(
            conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip((height, width), (kh, kw), stride, padding, dilation)
        )
    if min(out_hw) < 1:
        padded = (height + 2 * padding[0], width + 2 * padding[1])
        reach = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        raise RuntimeError(
            f"{op}: kernel size ({reach[0]} x {reach[1]}, with dilation) can't be greater than the padded input "
            f"size ({padded[0]} x {padded[1]}) for input of shape {input.shape} and weight of shape {weight.shape}"
        )
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=int(groups), out_hw=out_hw)
    return _batched(input, 4, lambda x: conv_ops.Conv2d.apply(x, weight, bias, **geometry))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of input (N, C, L) with weight (K, C/groups, k): conv2d on height 1."""
    op = "conv1d"
    _check_tensors(op, input, weight, bias, 3)
    as_pair = {}
    for name, value in (("stride", stride), ("dilation", dilation), ("padding", padding)):
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if not isinstance(value, numbers.Integral) and not (name == "padding" and value in ("same", "valid")):
            raise ValueError(f"{op}: {name} must be an int, got {value!r}")
        as_pair[name] = value if isinstance(value, str) else (1 if name != "padding" else 0, value)
    return _batched(
        input,
        3,
        lambda x: conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, groups=groups, **as_pair).squeeze(2),
    )


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input) of input
    (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw); output height
    (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1."""
    op = "conv_transpose2d"
    _check_tensors(op, input, weight, bias, 4)
    stride, padding = _pair(stride, "stride", op, 1), _pair(padding, "padding", op, 0)
    dilation, output_padding = _pair(dilation, "dilation", op, 1), _pair(output_padding, "output_padding", op, 0)
    c_in, cg_out, kh, kw = weight.shape
    if input.shape[-3] != c_in:
        raise RuntimeError(
            f"{op}: weight of shape {weight.shape} expects {c_in} input channels, got input of shape {input.shape}"
        )
    _check_groups(op, c_in, cg_out * groups, groups)
    _check_bias(op, bias, cg_out * groups)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(
            f"{op}: output_padding {output_padding} must be smaller than either stride {stride} or dilation {dilation}"
        )
    out_hw = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + o + 1
        for n, k, s, p, d, o in zip(input.shape[-2:], (kh, kw), stride, padding, dilation, output_padding)
    )
    if min(out_hw) < 1:
        raise RuntimeError(f"{op}: input of shape {input.shape} gives an empty output {out_hw}; reduce padding")
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=int(groups), out_hw=out_hw)
    return _batched(input, 4, lambda x: conv_ops.ConvTranspose2d.apply(x, weight, bias, **geometry))


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution of input (N, C_in, L) with weight (C_in, C_out/groups, k):
    conv_transpose2d on height 1."""
    op = "conv_transpose1d"
    _check_tensors(op, input, weight, bias, 3)
    pairs = {}
    for name, value, first in (("stride", stride, 1), ("padding", padding, 0), ("output_padding", output_padding, 0),
                               ("dilation", dilation, 1)):
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if not isinstance(value, numbers.Integral):
            raise ValueError(f"{op}: {name} must be an int, got {value!r}")
        pairs[name] = (first, value)
    return _batched(input, 3, lambda x: conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, groups=groups,
                                                         **pairs).squeeze(2))


def _output_padding(op, input, output_size, kernel_size, stride, padding, dilation):
    """The output_padding that makes a transposed convolution's output `output_size` (PyTorch's
    forward(x, output_size=...)); sizes from the smallest one to stride - 1 more are possible."""
    spatial = len(kernel_size)
    size = list(output_size)[-spatial:]
    if len(size) != spatial:
        raise ValueError(f"{op}: output_size must have {spatial} or {spatial + 2} elements, got {tuple(output_size)}")
    result = []
    for n, want, k, s, p, d in zip(input.shape[-spatial:], size, kernel_size, stride, padding, dilation):
        smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
        if not smallest <= want < smallest + s:
            raise ValueError(f"{op}: requested an output size of {tuple(size)}, but valid sizes range from "
                             f"{smallest} to {smallest + s - 1} (for an input of {tuple(input.shape[-spatial:])})")
        result.append(want - smallest)
    return tuple(result)


class _ConvNd(Module):
    """Shared by the convolution modules: parameters, PyTorch's initialisation, repr."""

    def __init__(self, weight_shape, bias, dtype, **settings):
        super().__init__()
        mode = settings.get("padding_mode", "zeros")
        if mode not in PADDING_MODES:
            raise ValueError(f"{type(self).__name__}: padding_mode must be one of {', '.join(PADDING_MODES)}, got {mode!r}")
        if mode != "zeros" and "output_padding" in settings:
            raise ValueError(f"{type(self).__name__}: only padding_mode='zeros' is supported for transposed convolutions")
        self.__dict__.update(settings)
        dtype = dtype or np.float32
        self.weight = Parameter(Tensor.zeros(weight_shape, dtype=dtype))
        self.bias = Parameter(Tensor.zeros(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """kaiming_uniform(a=sqrt(5)): weight and bias uniform in +-1/sqrt(fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = int(np.prod(self.weight.shape[1:]))
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, default in (("padding", 0), ("output_padding", 0), ("dilation", 1), ("groups", 1)):
            value = getattr(self, name, default)
            if value not in (default, (default,), (default, default)):
                text += f", {name}={value}"
        text += "" if self.bias is not None else ", bias=False"
        return text + ("" if self.padding_mode == "zeros" else f", padding_mode={self.padding_mode}")

    def _output_padding(self, x, output_size):
        """A transposed convolution's output_padding, or the one that gives output_size."""
        if output_size is None:
            return self.output_padding
        return _output_padding(type(self).__name__, x, output_size, self.kernel_size, self.stride, self.padding,
                               self.dilation)

    def _padded(self, x):
        """(x, padding for the convolution): x padded here by padding_mode unless it is 'zeros'
        (which the convolution itself does). Widths as PyTorch's: 'same' puts the odd one
        after."""
        if self.padding_mode == "zeros":
            return x, self.padding
        widths = []
        for i, k in enumerate(self.kernel_size):
            if self.padding == "valid":
                before = after = 0
            elif self.padding == "same":
                total = self.dilation[i] * (k - 1)
                before, after = total // 2, total - total // 2
            else:
                before = after = self.padding[i]
            widths = [before, after] + widths
        return pad(x, widths, mode=self.padding_mode), 0


def _module_pair(value, n):
    if isinstance(value, str):
        return value
    return (value,) * n if isinstance(value, numbers.Integral) else tuple(value)


class _Conv(_ConvNd):
    """A convolution layer of `dims` spatial axes (PyTorch's arguments): weight
    (out, in/groups, *kernel_size), run by `function`."""

    dims = function = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=None):
        _check_groups(type(self).__name__, in_channels, out_channels, groups)
        n, kernel_size = self.dims, _module_pair(kernel_size, self.dims)
        super().__init__(
            (out_channels, in_channels // groups) + kernel_size, bias, dtype,
            in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
            stride=_module_pair(stride, n), padding=_module_pair(padding, n), dilation=_module_pair(dilation, n),
            groups=groups, padding_mode=padding_mode,
        )

    def forward(self, x):
        x, padding = self._padded(x)
        return self.function(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    """A transposed convolution layer of `dims` spatial axes (learned upsampling): weight
    (in, out/groups, *kernel_size), run by `function`; forward(x, output_size) picks the
    output_padding that gives that size."""

    dims = function = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=None):
        _check_groups(type(self).__name__, in_channels, out_channels, groups)
        n, kernel_size = self.dims, _module_pair(kernel_size, self.dims)
        super().__init__(
            (in_channels, out_channels // groups) + kernel_size, bias, dtype,
            in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
            stride=_module_pair(stride, n), padding=_module_pair(padding, n),
            output_padding=_module_pair(output_padding, n), dilation=_module_pair(dilation, n),
            groups=groups, padding_mode=padding_mode,
        )

    def forward(self, x, output_size=None):
        return self.function(x, self.weight, self.bias, self.stride, self.padding, self._output_padding(x, output_size),
                             self.groups, self.dilation)


class Conv1d(_Conv):
    """1-D convolution layer over (N, C_in, L) inputs: weight (out, in/groups, k)."""

    dims, function = 1, staticmethod(conv1d)


class Conv2d(_Conv):
    """2-D convolution layer over (N, C_in, H, W) inputs: weight (out, in/groups, kh, kw)."""

    dims, function = 2, staticmethod(conv2d)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution layer: weight (in, out/groups, k)."""

    dims, function = 1, staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution layer (learned upsampling): weight (in, out/groups, kh, kw)."""

    dims, function = 2, staticmethod(conv_transpose2d)
