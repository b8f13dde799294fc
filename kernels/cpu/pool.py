"""2-D pooling on the CPU (NCHW): max pooling and window averages.

    max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw) -> (y, argmax)
    max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation) -> dx
    avg_pool2d(x, row_start, row_end, col_start, col_end, scale)  -> y
    avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw) -> dx

`argmax` holds, for every output, the flat index h*W + w of the winning input in its (H, W)
plane (PyTorch's `return_indices` convention); -1 for a window that saw only padding.
The average kernels take each window explicitly: output (oh, ow) averages rows
[row_start[oh], row_end[oh]) and columns [col_start[ow], col_end[ow]) and multiplies the sum
by scale[oh, ow] (1 / the divisor), which covers avg_pool2d's padding and ceil_mode rules
and adaptive pooling alike.

Every kernel runs `prange` over the N*C planes: each thread writes only its own planes, so
the backward scatters (where overlapping windows add into one input) never race.
"""
import numpy as np
from numba import njit, prange

from .buffers import empty


@njit(cache=True, fastmath=False, parallel=True)
def _max_pool(x, kh, kw, sh, sw, ph, pw, dh, dw, y, argmax):
    n_samples, channels, height, width = x.shape
    oh_n, ow_n = y.shape[2], y.shape[3]
    for plane in prange(n_samples * channels):
        n, c = plane // channels, plane % channels
        src, dst, arg = x[n, c], y[n, c], argmax[n, c]
        for oh in range(oh_n):
            for ow in range(ow_n):
                best, where = -np.inf, -1
                for i in range(kh):
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    for j in range(kw):
                        iw = ow * sw - pw + j * dw
                        if iw < 0 or iw >= width:
                            continue
                        v = src[ih, iw]
                        # strictly greater: the first maximum wins ties, as in PyTorch; NaN wins
                        if v > best or np.isnan(v) or where < 0:
                            best, where = v, ih * width + iw
                dst[oh, ow] = best
                arg[oh, ow] = where
    return y, argmax


@njit(cache=True, fastmath=False)
def _last_nan(src, top, left, kh, kw, best, where):
    """_max_pool's NaN rule for a window inside the image (rows top.., columns left..): its
    last NaN and that NaN's flat index, or (best, where) when it holds none. The fast
    kernels below call it only for a row or window they saw a NaN in."""
    width = src.shape[1]
    for i in range(top, top + kh):
        for j in range(left, left + kw):
            if src[i, j] != src[i, j]:
                best, where = src[i, j], i * width + j
    return best, where


@njit(cache=True, fastmath=False, parallel=True)
def _max_pool_inside(x, kh, kw, sh, sw, y, argmax):
    """_max_pool for windows that lie inside the image (no padding, no dilation, floor
    mode: a CNN's usual pooling), without the bounds tests (under a third of _max_pool's
    time there; bench/README.md)."""
    width = x.shape[3]
    channels, oh_n, ow_n = y.shape[1], y.shape[2], y.shape[3]
    for plane in prange(y.shape[0] * channels):
        n, c = plane // channels, plane % channels
        src, dst, arg = x[n, c], y[n, c], argmax[n, c]
        for oh in range(oh_n):
            top = oh * sh
            for ow in range(ow_n):
                left = ow * sw
                best, where, nan = src[top, left], top * width + left, False
                for i in range(top, top + kh):
                    row = src[i]
                    for j in range(left, left + kw):
                        v = row[j]
                        if v > best:  # strictly greater: the first maximum wins ties
                            best, where = v, i * width + j
                        nan |= v != v
                if nan:  # rare, so tested apart: the loop above stays branch-free and 5x faster
                    best, where = _last_nan(src, top, left, kh, kw, best, where)
                dst[oh, ow] = best
                arg[oh, ow] = where
    return y, argmax


@njit(cache=True, fastmath=False, parallel=True)
def _max_pool_2x2(x, y, argmax):
    """_max_pool_inside for the commonest pooling, 2x2 windows at stride 2, written out so
    that each output's four values and its running maximum stay in registers: the selects
    of one output never wait on memory, and successive outputs overlap (a quarter of
    _max_pool_inside's time; bench/README.md). Ties and NaNs follow _max_pool's rules
    (the test compares them)."""
    width = x.shape[3]
    channels, oh_n, ow_n = y.shape[1], y.shape[2], y.shape[3]
    for plane in prange(y.shape[0] * channels):
        n, c = plane // channels, plane % channels
        src, dst, arg = x[n, c], y[n, c], argmax[n, c]
        for oh in range(oh_n):
            top, bottom, best, where = src[2 * oh], src[2 * oh + 1], dst[oh], arg[oh]
            nan = False
            for ow in range(ow_n):
                a, b, c2, d = top[2 * ow], top[2 * ow + 1], bottom[2 * ow], bottom[2 * ow + 1]
                m, k = a, 0  # k: the winner's offset from the window's top-left element
                k = 1 if b > m else k
                m = b if b > m else m
                k = width if c2 > m else k
                m = c2 if c2 > m else m
                k = width + 1 if d > m else k
                m = d if d > m else m
                best[ow], where[ow] = m, 2 * oh * width + 2 * ow + k
                nan |= (a != a) | (b != b) | (c2 != c2) | (d != d)
            if nan:  # rare: redo the row's windows by the general rule, the last NaN wins
                for ow in range(ow_n):
                    best[ow], where[ow] = _last_nan(src, 2 * oh, 2 * ow, 2, 2, best[ow], where[ow])
    return y, argmax


@njit(cache=True, fastmath=False, parallel=True)
def _max_pool_backward(grad_y, argmax, dx):
    n_samples, channels = dx.shape[0], dx.shape[1]
    oh_n, ow_n = grad_y.shape[2], grad_y.shape[3]
    for plane in prange(n_samples * channels):
        n, c = plane // channels, plane % channels
        flat = dx[n, c].reshape(-1)
        flat[:] = 0
        g, arg = grad_y[n, c], argmax[n, c]
        for oh in range(oh_n):
            for ow in range(ow_n):
                if arg[oh, ow] >= 0:
                    flat[arg[oh, ow]] += g[oh, ow]
    return dx


@njit(cache=True, fastmath=False, parallel=True)
def _avg_pool(x, row_start, row_end, col_start, col_end, scale, y):
    n_samples, channels = x.shape[0], x.shape[1]
    for plane in prange(n_samples * channels):
        n, c = plane // channels, plane % channels
        src, dst = x[n, c], y[n, c]
        for oh in range(row_start.shape[0]):
            for ow in range(col_start.shape[0]):
                acc = 0.0
                for ih in range(row_start[oh], row_end[oh]):
                    for iw in range(col_start[ow], col_end[ow]):
                        acc += src[ih, iw]
                dst[oh, ow] = acc * scale[oh, ow]
    return y


@njit(cache=True, fastmath=False, parallel=True)
def _avg_pool_backward(grad_y, row_start, row_end, col_start, col_end, scale, dx):
    n_samples, channels = dx.shape[0], dx.shape[1]
    for plane in prange(n_samples * channels):
        n, c = plane // channels, plane % channels
        g, dst = grad_y[n, c], dx[n, c]
        dst[:, :] = 0
        for oh in range(row_start.shape[0]):
            for ow in range(col_start.shape[0]):
                share = g[oh, ow] * scale[oh, ow]
                for ih in range(row_start[oh], row_end[oh]):
                    for iw in range(col_start[ow], col_end[ow]):
                        dst[ih, iw] += share
    return dx


def max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw):
    x = np.ascontiguousarray(x)
    shape = x.shape[:2] + tuple(out_hw)
    y, argmax = empty(shape, x.dtype), empty(shape, np.int64)
    last_row, last_col = ((o - 1) * s + k for o, s, k in zip(out_hw, stride, kernel_hw))
    if tuple(padding) == (0, 0) and tuple(dilation) == (1, 1) and last_row <= x.shape[2] and last_col <= x.shape[3]:
        if tuple(kernel_hw) == (2, 2) and tuple(stride) == (2, 2):
            return _max_pool_2x2(x, y, argmax)
        return _max_pool_inside(x, *kernel_hw, *stride, y, argmax)
    return _max_pool(x, *kernel_hw, *stride, *padding, *dilation, y, argmax)


def max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation):
    """dx: each output's gradient added at its window's winner. The scatter needs only argmax;
    the geometry is in the signature for the GPU, whose kernel gathers instead."""
    grad_y = np.ascontiguousarray(grad_y)
    return _max_pool_backward(grad_y, argmax, empty(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype))


def avg_pool2d(x, row_start, row_end, col_start, col_end, scale):
    x = np.ascontiguousarray(x)
    y = empty(x.shape[:2] + scale.shape, x.dtype)
    return _avg_pool(x, row_start, row_end, col_start, col_end, scale.astype(x.dtype), y)


def avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw):
    grad_y = np.ascontiguousarray(grad_y)
    dx = empty(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype)
    return _avg_pool_backward(grad_y, row_start, row_end, col_start, col_end, scale.astype(grad_y.dtype), dx)
