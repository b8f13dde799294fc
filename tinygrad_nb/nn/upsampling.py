"""Upsampling (and downsampling): F.interpolate with PyTorch's modes and coordinate rules,
nn.Upsample and its fixed-mode twins, and the pixel shuffle of sub-pixel convolution.

Every mode is separable: along each spatial axis, output position o reads a few input
positions with fixed weights, a sparse matrix M (n_out x n_in) made here once per geometry
(ops/resample.py applies it; its gradient is M^T). With s the scale (n_in / n_out, or
1 / scale_factor when one is given, or (n_in - 1) / (n_out - 1) with align_corners):
    nearest        i = min(floor(o s), n_in - 1)                     (in float32, as PyTorch)
    nearest-exact  i = min(floor((o + 1/2) s), n_in - 1)
    linear         x = (o + 1/2) s - 1/2 (>= 0; o s with align_corners), i = floor(x), t = x - i:
                   (1 - t) at i, t at min(i + 1, n_in - 1)
    cubic          x as linear, not clipped at 0: Keys' cubic convolution (A = -0.75) on taps
                   i-1 .. i+2, each clamped into [0, n_in)
    area           the average of [floor(o n_in / n_out), ceil((o + 1) n_in / n_out)), as
                   adaptive average pooling
'bilinear', 'bicubic' and 'trilinear' are 'linear' and 'cubic' on every axis."""
import functools
import math
import numbers

import numpy as np

from ..ops.resample import AlongAxis, SparseMatrix
from .module import Module

_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 3, "bilinear": 4, "bicubic": 4,
          "trilinear": 5}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
CUBIC_A = -0.75


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """input (N, C, *spatial) with 1 to 3 spatial axes resized to `size`, or by `scale_factor`
    (output size floor(n * scale_factor)), in `mode`; PyTorch's arguments and results."""
    spatial = _check(input, size, scale_factor, mode, align_corners, antialias)
    if size is not None:
        sizes = _per_axis(size, spatial, "size", int)
        scales = [None] * spatial
    else:
        factors = _per_axis(scale_factor, spatial, "scale_factor", float)
        sizes = [math.floor(n * f) for n, f in zip(input.shape[2:], factors)]
        scales = [None] * spatial if recompute_scale_factor else factors
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: the output size {tuple(sizes)} of an input of shape {input.shape} must be "
                         "positive on every axis")
    kind = "linear" if mode in ("bilinear", "trilinear") else "cubic" if mode == "bicubic" else mode
    out = input
    for axis, (n_out, scale) in enumerate(zip(sizes, scales), start=2):
        n_in = input.shape[axis]
        if n_in == n_out and scale is None and kind != "area":
            continue  # the identity map (PyTorch's kernels take the same shortcut)
        matrix = _matrix(kind, n_in, n_out, scale, bool(align_corners), np.dtype(input.dtype).str)
        out = AlongAxis.apply(out, axis=axis, matrix=matrix)
    return out if out is not input else input.clone()


def _check(input, size, scale_factor, mode, align_corners, antialias):
    if mode not in _MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
    if input.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expected an input of 3, 4 or 5 axes (N, C and 1 to 3 spatial ones), got shape "
                         f"{input.shape}")
    if _MODES[mode] is not None and input.ndim != _MODES[mode]:
        raise ValueError(f"interpolate: got {input.ndim}D input (shape {input.shape}), but {mode} mode needs "
                         f"{_MODES[mode]}D input")
    if input.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating tensor, got {input.dtype}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: " + ("only one of size or scale_factor should be defined" if size is not None
                                            else "either size or scale_factor should be defined"))
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    return input.ndim - 2


def _per_axis(value, spatial, name, kind):
    values = list(value) if isinstance(value, (tuple, list)) else [value] * spatial
    if len(values) != spatial or not all(isinstance(v, numbers.Real) for v in values):
        raise ValueError(f"interpolate: {name} must be a number or {spatial} numbers for an input with {spatial} "
                         f"spatial axes, got {value!r}")
    return [kind(v) for v in values]


@functools.lru_cache(maxsize=256)
def _matrix(kind, n_in, n_out, scale, align_corners, dtype):
    """The sparse matrix (n_out x n_in) of one axis. Coordinates are worked out in float32
    for nearest (as PyTorch does for every dtype) and in the input's precision otherwise."""
    o = np.arange(n_out)
    if kind in ("nearest", "nearest-exact"):
        s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
        offset = np.float32(0.5 if kind == "nearest-exact" else 0.0)
        i = np.minimum(np.floor((o.astype(np.float32) + offset) * s).astype(np.int64), n_in - 1)
        return SparseMatrix(o, i, np.ones(n_out), (n_out, n_in))
    if kind == "area":
        start, end = (o * n_in) // n_out, -((-(o + 1) * n_in) // n_out)
        rows = np.repeat(o, end - start)
        cols = np.concatenate([np.arange(a, b) for a, b in zip(start, end)])
        return SparseMatrix(rows, cols, 1.0 / (end - start)[rows], (n_out, n_in))
    t = np.dtype(dtype).type
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        x = s * o.astype(t)
    else:
        s = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        x = s * (o.astype(t) + t(0.5)) - t(0.5)
        if kind == "linear":
            x = np.maximum(x, t(0))
    i = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    frac = np.clip(x - i.astype(t), t(0), t(1)).astype(np.float64)
    if kind == "linear":
        taps, weights = [i, np.minimum(i + 1, n_in - 1)], [1 - frac, frac]
    else:
        taps = [np.clip(i + k, 0, n_in - 1) for k in (-1, 0, 1, 2)]
        weights = [_cubic_far(frac + 1), _cubic_near(frac), _cubic_near(1 - frac), _cubic_far(2 - frac)]
    return SparseMatrix(np.tile(o, len(taps)), np.concatenate(taps), np.concatenate(weights), (n_out, n_in))


def _cubic_near(d):
    """Keys' cubic convolution weight for a tap at distance d <= 1."""
    return ((CUBIC_A + 2) * d - (CUBIC_A + 3)) * d * d + 1


def _cubic_far(d):
    """... and for a tap at distance 1 < d < 2."""
    return ((CUBIC_A * d - 5 * CUBIC_A) * d + 8 * CUBIC_A) * d - 4 * CUBIC_A


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): out[c, h r + i, w r + j] = in[c r^2 + i r + j, h, w]
    (sub-pixel convolution's rearrangement, a reshape and a permutation)."""
    r = _factor(upscale_factor, "pixel_shuffle")
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected an input of at least 3 axes whose channels (axis -3) divide by "
                         f"upscale_factor^2 = {r * r}, got shape {input.shape}")
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """pixel_shuffle's inverse: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = _factor(downscale_factor, "pixel_unshuffle")
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected an input of at least 3 axes whose height and width divide by "
                         f"downscale_factor = {r}, got shape {input.shape}")
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _factor(value, op):
    if not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{op}: the factor must be a positive integer, got {value!r}")
    return int(value)


class Upsample(Module):
    """F.interpolate as a layer (PyTorch's nn.Upsample)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with align_corners=True (as PyTorch's layer of this name)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
