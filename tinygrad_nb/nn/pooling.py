"""Pooling layers: F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, their
1-D forms and the modules of the same names, with PyTorch's arguments and output sizes.

The functions check their arguments and work out the windows; the ops in ops/pool.py pool.
Average pooling of every kind is one op: a sum over a rectangle of rows and columns per output,
times a scale, so the functions here only say where each window starts and ends.
"""
import numbers

import numpy as np

from ..ops import pool as pool_ops
from ..tensor import Tensor
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
        return _batched(input, lambda x: pool_ops.MaxPool2d.apply(x, **geometry))
    y, indices = _batched(input, lambda x: pool_ops.MaxPool2d.apply(x, return_indices=True, **geometry))
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
    return _batched(input, lambda x: pool_ops.AvgPool2d.apply(x, windows=(r0, r1, c0, c1, 1.0 / divisor)))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size: output row i averages input rows
    floor(i H / OH) to ceil((i + 1) H / OH) (and the same for columns); None keeps that size."""
    sizes = _adaptive_sizes("adaptive_avg_pool2d", input, output_size)
    (r0, r1), (c0, c1) = (_adaptive_bounds(s, n) for s, n in zip(sizes, input.shape[-2:]))
    scale = 1.0 / np.outer(r1 - r0, c1 - c0)
    return _batched(input, lambda x: pool_ops.AvgPool2d.apply(x, windows=(r0, r1, c0, c1, scale)))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The largest value of adaptive windows (those of adaptive_avg_pool2d: rows floor(i H / OH)
    to ceil((i + 1) H / OH)); the first maximum of a window wins, and takes its gradient. With
    return_indices also the flat index h*W + w of each winner.

    Windows differ in size by at most one, so every window is read as the largest size, a
    shorter one repeating its last position, and the maximum picked among those taps."""
    op = "adaptive_max_pool2d"
    sizes = _adaptive_sizes(op, input, output_size)
    (r0, r1), (c0, c1) = (_adaptive_bounds(s, n) for s, n in zip(sizes, input.shape[-2:]))
    rows = np.minimum(r0[:, None] + np.arange((r1 - r0).max()), r1[:, None] - 1)  # (OH, KH)
    cols = np.minimum(c0[:, None] + np.arange((c1 - c0).max()), c1[:, None] - 1)  # (OW, KW)
    taps = input[..., rows[:, None, :, None], cols[None, :, None, :]]  # (..., OH, OW, KH, KW)
    taps = taps.reshape(*taps.shape[:-2], -1)
    best = taps.argmax(axis=-1, keepdim=True)
    values = taps.gather(-1, best).squeeze(-1)
    if not return_indices:
        return values
    k = best.squeeze(-1).numpy()
    kw = cols.shape[1]
    oh, ow = np.indices(k.shape[-2:])
    flat = rows[oh, k // kw] * input.shape[-1] + cols[ow, k % kw]
    return values, Tensor(flat.astype(np.int64), device=input.device)


def _adaptive_sizes(op, input, output_size, axes=2):
    if input.ndim not in (axes + 1, axes + 2):
        raise RuntimeError(f"{op}: expected a {axes + 1}-D (unbatched) or {axes + 2}-D (batched) input, got shape "
                           f"{input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {input.dtype}")
    single = isinstance(output_size, numbers.Integral) or output_size is None
    sizes = (output_size,) * axes if single else tuple(output_size)
    if len(sizes) != axes:
        raise ValueError(f"{op}: output_size must be an int or {axes} ints, got {output_size!r}")
    sizes = tuple(n if s is None else s for s, n in zip(sizes, input.shape[-axes:]))
    if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes) or min(input.shape[-axes:]) < 1:
        raise ValueError(f"{op}: output_size {output_size!r} must be positive for input of shape {input.shape}")
    return sizes


def _adaptive_bounds(n_out, n_in):
    """Start and end of adaptive window i: floor(i n_in / n_out) and ceil((i + 1) n_in / n_out)."""
    return np.arange(n_out) * n_in // n_out, -(-(np.arange(n_out) + 1) * n_in // n_out)


def _as_2d(op, input, fn):
    """A 1-D pooling as the 2-D one over inputs of height 1."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {input.shape}")
    out = fn(input.unsqueeze(-2))
    return tuple(o.squeeze(-2) for o in out) if isinstance(out, tuple) else out.squeeze(-2)


def _one(value, name, op):
    """An int (or a 1-tuple) for a 1-D pooling, as the 2-D argument (1, value)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, numbers.Integral):
        raise ValueError(f"{op}: {name} must be an int, got {value!r}")
    return (1 if name in ("kernel_size", "stride", "dilation") else 0, int(value))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """max_pool2d over (N, C, L) inputs: with return_indices, the winners' positions along L."""
    op = "max_pool1d"
    stride = None if stride is None else _one(stride, "stride", op)
    return _as_2d(op, input, lambda x: max_pool2d(x, _one(kernel_size, "kernel_size", op), stride,
                                                  _one(padding, "padding", op), _one(dilation, "dilation", op),
                                                  ceil_mode, return_indices))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    op = "avg_pool1d"
    stride = None if stride is None else _one(stride, "stride", op)
    return _as_2d(op, input, lambda x: avg_pool2d(x, _one(kernel_size, "kernel_size", op), stride,
                                                  _one(padding, "padding", op), ceil_mode, count_include_pad))


def adaptive_avg_pool1d(input, output_size):
    (size,) = _adaptive_sizes("adaptive_avg_pool1d", input, output_size, axes=1)
    return _as_2d("adaptive_avg_pool1d", input, lambda x: adaptive_avg_pool2d(x, (1, size)))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    (size,) = _adaptive_sizes("adaptive_max_pool1d", input, output_size, axes=1)
    return _as_2d("adaptive_max_pool1d", input, lambda x: adaptive_max_pool2d(x, (1, size), return_indices))


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


class AdaptiveMaxPool2d(Module):
    """The largest value of adaptive windows to a fixed output size."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    def forward(self, x):
        return adaptive_avg_pool1d(x, self.output_size)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    def forward(self, x):
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class MaxPool1d(MaxPool2d):
    """Max pooling over (N, C, L) inputs."""

    def forward(self, x):
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool1d(Module):
    """Average pooling over (N, C, L) inputs."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
