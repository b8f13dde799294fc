"""Pooling layers: F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d and the modules MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d, with PyTorch's arguments and output sizes.

The functions check their arguments and work out the windows; the ops in ops/pool.py pool.
Average pooling of every kind is one op: a sum over a rectangle of rows and columns per output,
times a scale, so the functions here only say where each window starts and ends.
"""
import numbers

import numpy as np

from ..ops import pool as P
from .conv import _pair
from .module import Module


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's rule: (size + 2 padding - dilation (kernel - 1) - 1) / stride + 1, rounded down
    (or up with ceil_mode, as long as the last window starts inside the input or left padding)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_geometry(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {input.dtype}")
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", op, 1)
    padding, dilation = _pair(padding, "padding", op, 0), _pair(dilation, "dilation", op, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: padding {padding} should be at most half of the kernel size {kernel}")
    out_hw = tuple(
        pool_output_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(input.shape[-2:], kernel, stride, padding, dilation)
    )
    if min(out_hw) < 1:
        raise RuntimeError(
            f"{op}: input of shape {input.shape} is too small for kernel {kernel} with padding {padding} "
            f"and dilation {dilation}: the output size would be {out_hw}"
        )
    return kernel, stride, padding, dilation, out_hw


def _batched(x, fn):
    """Run fn on x with a batch axis, adding (and then removing) one for an unbatched input."""
    if x.ndim == 4:
        return fn(x)
    out = fn(x.unsqueeze(0))
    return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The largest value of every kernel_size window (stride defaults to kernel_size). With
    return_indices also the flat index h*W + w of each winner in its input plane."""
    kernel, stride, padding, dilation, out_hw = _pool_geometry(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    geometry = dict(kernel_hw=kernel, stride=stride, padding=padding, dilation=dilation, out_hw=out_hw)
    if not return_indices:
        return _batched(input, lambda x: P.MaxPool2d.apply(x, **geometry))
    y, indices = _batched(input, lambda x: P.MaxPool2d.apply(x, return_indices=True, **geometry))
    return y, indices.detach()


def _windows(size, n_out, stride, kernel, padding):
    """Start and end of every window along one axis, clipped to the input, and the window
    length counted with the padding it covers (PyTorch's count_include_pad divisor)."""
    start = np.arange(n_out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    length = end - start
    return np.maximum(start, 0), np.minimum(end, size), length


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """The mean of every kernel_size window. Zero padding counts towards the divisor with
    count_include_pad; divisor_override replaces the divisor altogether."""
    kernel, stride, padding, _, (oh, ow) = _pool_geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    height, width = input.shape[-2:]
    r0, r1, rows = _windows(height, oh, stride[0], kernel[0], padding[0])
    c0, c1, cols = _windows(width, ow, stride[1], kernel[1], padding[1])
    if divisor_override:
        divisor = np.full((oh, ow), float(divisor_override))
    elif count_include_pad:
        divisor = np.outer(rows, cols).astype(np.float64)
    else:
        divisor = np.outer(r1 - r0, c1 - c0).astype(np.float64)
    return _batched(input, lambda x: P.AvgPool2d.apply(x, windows=(r0, r1, c0, c1, 1.0 / divisor)))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size: output row i averages input rows
    floor(i H / OH) to ceil((i + 1) H / OH) (and the same for columns); None keeps that size."""
    op = "adaptive_avg_pool2d"
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {input.dtype}")
    sizes = (output_size, output_size) if isinstance(output_size, numbers.Integral) or output_size is None else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(n if s is None else s for s, n in zip(sizes, input.shape[-2:]))
    if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes) or min(input.shape[-2:]) < 1:
        raise ValueError(f"{op}: output_size {output_size!r} must be positive for input of shape {input.shape}")
    (r0, r1), (c0, c1) = (
        (np.arange(s) * n // s, -(-(np.arange(s) + 1) * n // s)) for s, n in zip(sizes, input.shape[-2:])
    )
    scale = 1.0 / np.outer(r1 - r0, c1 - c0)
    return _batched(input, lambda x: P.AvgPool2d.apply(x, windows=(r0, r1, c0, c1, scale)))


class MaxPool2d(Module):
    """Max pooling over (N, C, H, W): see F.max_pool2d."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride or kernel_size, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling over (N, C, H, W): see F.avg_pool2d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (e.g. 1 for global average pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
