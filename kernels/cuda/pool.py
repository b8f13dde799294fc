"""2-D pooling on the GPU (NCHW): the CPU's four kernels, each one launch, one thread per
element it writes.

    max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw) -> (y, argmax)
    max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation) -> dx
    avg_pool2d(x, row_start, row_end, col_start, col_end, scale)  -> y
    avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw) -> dx

x and grad_y are read in place through their four strides (a transposed or sliced view costs
no copy); y, argmax and dx are contiguous. `argmax` holds the flat index h*W + w of each
window's winner in its plane (-1 for a window of padding only), int64 as on the CPU: it is
the indices that max_pool2d(return_indices=True) hands to the user.

Both backwards gather, one thread per input element: it adds up the gradients of the few
outputs whose windows hold the element, in the CPU's order, so it writes every element once,
needs no zeroed output and no atomics, and gives the same result on every run. Along each
axis the windows that hold a position form a contiguous range of outputs (windows start and
end in order): max pooling works it out from the geometry, average pooling (whose windows
come as explicit bounds, adaptive pooling's included) looks it up in tables made on the host
and uploaded once per geometry.
"""
import functools

import numpy as np

from .array import CudaArray
from .launch import cuda, grid, launch


@cuda.jit(cache=True)
def max_pool_kernel(total, x, x0, xs, dims, geometry, out_hw, y, argmax, lowest):
    """y[n,c,oh,ow] = max over i<kh, j<kw of x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (taps inside
    the image), argmax its flat index ih*W + iw; x of any strides xs."""
    channels, height, width = dims
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh, plane = e % ow_n, (e // ow_n) % oh_n, e // (ow_n * oh_n)
        start = x0 + (plane // channels) * xs[0] + (plane % channels) * xs[1]
        best, where = lowest, -1
        for i in range(kh):
            ih = oh * sh - ph + i * dh
            if ih < 0 or ih >= height:
                continue
            row = start + ih * xs[2]
            for j in range(kw):
                iw = ow * sw - pw + j * dw
                if iw < 0 or iw >= width:
                    continue
                v = x[row + iw * xs[3]]
                if v > best or v != v or where < 0:  # the first maximum wins ties; nan wins
                    best, where = v, ih * width + iw
        y[e] = best
        argmax[e] = where


@cuda.jit(device=True)
def windows_holding(position, kernel, stride, pad, dilation, outputs):
    """Along one axis, the outputs [first, stop) whose window o*stride - pad + [0, (kernel-1)*dilation]
    spans `position` (with dilation, every dilation-th of them reads it)."""
    reach = position + pad
    lowest = reach - (kernel - 1) * dilation
    first = 0 if lowest <= 0 else (lowest + stride - 1) // stride  # a ceiling without negative division
    return first, min(reach // stride + 1, outputs)


@cuda.jit(cache=True)
def max_pool_backward_kernel(total, grad_y, g0, gs, argmax, dims, geometry, out_hw, dx, zero):
    """dx[n,c,h,w] = sum of grad_y[n,c,oh,ow] over the windows whose winner argmax[n,c,oh,ow] is h*W + w;
    grad_y of any strides gs, argmax contiguous."""
    channels, height, width = dims
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        here, plane = e % (height * width), e // (height * width)
        ih, iw = here // width, here % width
        start = g0 + (plane // channels) * gs[0] + (plane % channels) * gs[1]
        oh_first, oh_stop = windows_holding(ih, kh, sh, ph, dh, oh_n)
        ow_first, ow_stop = windows_holding(iw, kw, sw, pw, dw, ow_n)
        acc = zero
        for oh in range(oh_first, oh_stop):
            if dh > 1 and (ih + ph - oh * sh) % dh != 0:
                continue
            for ow in range(ow_first, ow_stop):
                if dw > 1 and (iw + pw - ow * sw) % dw != 0:
                    continue
                if argmax[(plane * oh_n + oh) * ow_n + ow] == here:
                    acc += grad_y[start + oh * gs[2] + ow * gs[3]]
        dx[e] = acc


@cuda.jit(cache=True)
def avg_pool_kernel(total, x, x0, xs, channels, bounds, scale, y, zero):
    """y[n,c,oh,ow] = scale[oh,ow] * sum of x[n,c,h,w] over h in [row_start[oh], row_end[oh]),
    w in [col_start[ow], col_end[ow]); bounds = row_start | row_end | col_start | col_end."""
    oh_n, ow_n = scale.shape
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh, plane = e % ow_n, (e // ow_n) % oh_n, e // (ow_n * oh_n)
        start = x0 + (plane // channels) * xs[0] + (plane % channels) * xs[1]
        acc = zero
        for ih in range(bounds[oh], bounds[oh_n + oh]):
            row = start + ih * xs[2]
            for iw in range(bounds[2 * oh_n + ow], bounds[2 * oh_n + ow_n + ow]):
                acc += x[row + iw * xs[3]]
        y[e] = acc * scale[oh, ow]


@cuda.jit(cache=True)
def avg_pool_backward_kernel(total, grad_y, g0, gs, dims, holding, scale, dx, zero):
    """dx[n,c,h,w] = sum of grad_y[n,c,oh,ow] * scale[oh,ow] over oh in [row_first[h], row_stop[h]),
    ow in [col_first[w], col_stop[w]) (the windows that hold (h, w));
    holding = row_first | row_stop | col_first | col_stop."""
    channels, height, width = dims
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        here, plane = e % (height * width), e // (height * width)
        ih, iw = here // width, here % width
        start = g0 + (plane // channels) * gs[0] + (plane % channels) * gs[1]
        acc = zero
        for oh in range(holding[ih], holding[height + ih]):
            row = start + oh * gs[2]
            for ow in range(holding[2 * height + iw], holding[2 * height + width + iw]):
                acc += grad_y[row + ow * gs[3]] * scale[oh, ow]
        dx[e] = acc


def _outputs_holding(start, end, size):
    """For each position along one axis, the outputs [first, stop) whose window [start, end) holds it.
    With starts and ends in order they are the outputs that end after it and start at or before it."""
    if np.any(np.diff(start) < 0) or np.any(np.diff(end) < 0):
        raise ValueError(f"avg_pool2d: window starts {start} and ends {end} must be non-decreasing")
    positions = np.arange(size)
    return np.searchsorted(end, positions, "right"), np.searchsorted(start, positions, "right")


@functools.lru_cache(maxsize=64)
def _tables(raw_bounds, scale_shape, raw_scale, input_hw, dtype):
    """(bounds, holding, scale) in GPU memory for one geometry (see the kernels), made once."""
    oh_n, ow_n = scale_shape
    bounds = np.frombuffer(raw_bounds, np.int64)
    rows = _outputs_holding(bounds[:oh_n], bounds[oh_n : 2 * oh_n], input_hw[0])
    cols = _outputs_holding(bounds[2 * oh_n : 2 * oh_n + ow_n], bounds[2 * oh_n + ow_n :], input_hw[1])
    scale = np.frombuffer(raw_scale, np.float64).reshape(scale_shape).astype(dtype)
    return cuda.to_device(bounds), cuda.to_device(np.concatenate(rows + cols)), cuda.to_device(scale)


def _avg_tables(row_start, row_end, col_start, col_end, scale, input_hw, dtype):
    bounds = np.concatenate([np.asarray(b, np.int64) for b in (row_start, row_end, col_start, col_end)])
    scale = np.ascontiguousarray(scale, np.float64)
    return _tables(bounds.tobytes(), scale.shape, scale.tobytes(), tuple(input_hw), np.dtype(dtype))


def max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw):
    shape = x.shape[:2] + tuple(out_hw)
    y, argmax = CudaArray.empty(shape, x.dtype), CudaArray.empty(shape, np.int64)
    if y.size:
        geometry = (*kernel_hw, *stride, *padding, *dilation)
        launch(max_pool_kernel, *grid(y.size), y.size, x.buf, x.offset, x.strides, x.shape[1:], geometry,
               tuple(out_hw), y.buf, argmax.buf, x.dtype.type(-np.inf))
    return y, argmax


def max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation):
    dx = CudaArray.empty(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype)
    if dx.size:
        geometry = (*kernel_hw, *stride, *padding, *dilation)
        launch(max_pool_backward_kernel, *grid(dx.size), dx.size, grad_y.buf, grad_y.offset, grad_y.strides,
               argmax.buf, dx.shape[1:], geometry, grad_y.shape[2:], dx.buf, grad_y.dtype.type(0))
    return dx


def avg_pool2d(x, row_start, row_end, col_start, col_end, scale):
    y = CudaArray.empty(x.shape[:2] + scale.shape, x.dtype)
    if y.size:
        bounds, _, scale = _avg_tables(row_start, row_end, col_start, col_end, scale, x.shape[2:], x.dtype)
        launch(avg_pool_kernel, *grid(y.size), y.size, x.buf, x.offset, x.strides, x.shape[1], bounds, scale,
               y.buf, x.dtype.type(0))
    return y


def avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw):
    dx = CudaArray.empty(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype)
    if dx.size:
        _, holding, scale = _avg_tables(row_start, row_end, col_start, col_end, scale, input_hw, grad_y.dtype)
        launch(avg_pool_backward_kernel, *grid(dx.size), dx.size, grad_y.buf, grad_y.offset, grad_y.strides,
               dx.shape[1:], holding, scale, dx.buf, grad_y.dtype.type(0))
    return dx
