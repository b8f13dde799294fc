"""3-D pooling for video and volumes (N, C, D, H, W): F.max_pool3d, F.avg_pool3d,
F.adaptive_avg_pool3d and their modules, with PyTorch's arguments and output sizes.

A 3-D window is a 2-D window in each of a few frames, so each pooling runs the 2-D kernel
over every frame at once (frames folded into the channels: a reshape, no copy) and then
pools across frames: max pooling takes the largest of the frame taps (the first one on ties,
so the winner is the first in (d, h, w) order, as PyTorch's), and average pooling, being
separable, averages frames with a fixed matrix (ops/resample.py)."""
import numpy as np

from ..ops.resample import AlongAxis, SparseMatrix
from .conv import _ints
from .module import Module
from .pooling import _windows, avg_pool2d, max_pool2d, pool_output_size
from .upsampling import interpolate


def _geometry(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {input.dtype}")
    kernel = _ints(kernel_size, 3, "kernel_size", op, 1)
    stride = kernel if stride is None or stride == () else _ints(stride, 3, "stride", op, 1)
    padding, dilation = _ints(padding, 3, "padding", op, 0), _ints(dilation, 3, "dilation", op, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: padding {padding} should be at most half of the kernel size {kernel}")
    out = tuple(pool_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(input.shape[-3:], kernel, stride, padding, dilation))
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of shape {input.shape} is too small for kernel {kernel} with padding "
                           f"{padding} and dilation {dilation}: the output size would be {out}")
    return kernel, stride, padding, dilation, out


def _batched5(x, fn):
    if x.ndim == 5:
        return fn(x)
    out = fn(x.unsqueeze(0))
    return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)


def _planes(x, fn):
    """fn (a 2-D pooling) on every frame of x (N, C, D, H, W) at once."""
    n, c, d = x.shape[:3]
    out = fn(x.reshape(n, c * d, *x.shape[3:]))
    if isinstance(out, tuple):
        return tuple(o.reshape(n, c, d, *o.shape[2:]) for o in out)
    return out.reshape(n, c, d, *out.shape[2:])


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The largest value of every kernel_size window; with return_indices also the flat index
    d*H*W + h*W + w of each winner in its input volume."""
    op = "max_pool3d"
    (kd, *k2), (sd, *s2), (pd, *p2), (dd, *d2), (frames, *_) = _geometry(
        op, input, kernel_size, stride, padding, dilation, ceil_mode)

    def run(x):
        depth, (height, width) = x.shape[2], x.shape[3:]
        y, where = _planes(x, lambda t: max_pool2d(t, k2, s2, p2, d2, ceil_mode, return_indices=True))
        reach = (frames - 1) * sd + dd * (kd - 1) + 1
        widths = ((0, 0), (0, 0), (pd, max(reach - depth - pd, 0)), (0, 0), (0, 0))
        y = y.pad(widths, value=-np.inf)
        taps = [slice(k * dd, k * dd + (frames - 1) * sd + 1, sd) for k in range(kd)]
        stacked = type(y).stack([y[:, :, t] for t in taps], axis=-1)
        best = stacked.argmax(axis=-1, keepdim=True)
        values = stacked.gather(-1, best).squeeze(-1)
        if not return_indices:
            return values
        k = best.squeeze(-1).numpy()
        where = np.pad(where.numpy(), widths)  # the padding frames never win: their index is never read
        plane = np.take_along_axis(np.stack([where[:, :, t] for t in taps], -1), k[..., None], -1)[..., 0]
        frame = np.arange(frames).reshape(frames, 1, 1) * sd - pd + k * dd
        return values, type(y)((frame * height * width + plane).astype(np.int64), device=x.device)

    return _batched5(input, run)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of every kernel_size window: the 2-D average of each frame, then the average
    over the window's frames (the divisor is the product of the two, as PyTorch's)."""
    op = "avg_pool3d"
    (kd, *k2), (sd, *s2), (pd, *p2), _, (frames, *_) = _geometry(op, input, kernel_size, stride, padding, 1,
                                                                  ceil_mode)

    def run(x):
        depth = x.shape[2]
        if divisor_override:
            y = _planes(x, lambda t: avg_pool2d(t, k2, s2, p2, ceil_mode, count_include_pad, divisor_override=1))
        else:
            y = _planes(x, lambda t: avg_pool2d(t, k2, s2, p2, ceil_mode, count_include_pad))
        start, end, length = _windows(depth, frames, sd, kd, pd)
        count = length if count_include_pad else end - start
        scale = 1.0 / (np.full(frames, float(divisor_override)) if divisor_override else count)
        rows = np.repeat(np.arange(frames), end - start)
        cols = np.concatenate([np.arange(a, b) for a, b in zip(start, end)])
        return AlongAxis.apply(y, axis=2, matrix=SparseMatrix(rows, cols, scale[rows], (frames, depth)))

    return _batched5(input, run)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed output size (None keeps an axis): F.interpolate's 'area' mode."""
    op = "adaptive_avg_pool3d"
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got shape {input.shape}")
    sizes = (output_size,) * 3 if output_size is None or isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 3:
        raise ValueError(f"{op}: output_size must be an int or 3 ints, got {output_size!r}")
    sizes = [n if s is None else s for s, n in zip(sizes, input.shape[-3:])]
    return _batched5(input, lambda x: interpolate(x, size=sizes, mode="area"))


class MaxPool3d(Module):
    """Max pooling over (N, C, D, H, W): see F.max_pool3d."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride or kernel_size, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool3d(Module):
    """Average pooling over (N, C, D, H, W): see F.avg_pool3d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(Module):
    """Average pooling to a fixed output size (1 for global average pooling of a clip)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool3d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
