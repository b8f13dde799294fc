"""2-D pooling on the GPU (NCHW): the CPU's four kernels, one thread per output element.

    max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw) -> (y, argmax)
    max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation) -> dx
    avg_pool2d(x, row_start, row_end, col_start, col_end, scale)  -> y
    avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw) -> dx

`argmax` holds the flat index h*W + w of each window's winner in its plane (-1 for a window
of padding only), as on the CPU. Windows are short (kh*kw taps), so one thread folds one
window. Max pooling's backward gathers, one thread per input element: it visits the few
windows that can hold the element (as col2im does) and adds the gradients of those whose
winner it is, so it writes every element once and needs no zeroed output. The average
backward adds each output's gradient into its window with atomic additions; its window
bounds come from the host and are uploaded once per geometry.
"""
import functools

import numpy as np

from .array import CudaArray
from .conv import window_through
from .launch import cuda, grid, launch
from .xp import zeros


@cuda.jit(cache=True)
def max_pool_kernel(total, x, x0, input_hw, geometry, out_hw, y, argmax, lowest):
    height, width = input_hw
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh, plane = e % ow_n, (e // ow_n) % oh_n, e // (ow_n * oh_n)
        start = x0 + plane * height * width
        best, where = lowest, -1
        for i in range(kh):
            ih = oh * sh - ph + i * dh
            if ih < 0 or ih >= height:
                continue
            for j in range(kw):
                iw = ow * sw - pw + j * dw
                if iw < 0 or iw >= width:
                    continue
                v = x[start + ih * width + iw]
                if v > best or v != v or where < 0:  # the first maximum wins ties; nan wins
                    best, where = v, ih * width + iw
        y[e] = best
        argmax[e] = where


@cuda.jit(cache=True)
def max_pool_backward_kernel(total, grad_y, g0, argmax, input_hw, geometry, out_hw, dx, zero):
    height, width = input_hw
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        here, plane = e % (height * width), e // (height * width)
        ih, iw = here // width, here % width
        acc = zero
        for i in range(kh):
            oh = window_through(ih, i, ph, dh, sh, oh_n)
            if oh < 0:
                continue
            for j in range(kw):
                ow = window_through(iw, j, pw, dw, sw, ow_n)
                o = (plane * oh_n + oh) * ow_n + ow
                if ow >= 0 and argmax[o] == here:
                    acc += grad_y[g0 + o]
        dx[e] = acc


@cuda.jit(cache=True)
def avg_pool_kernel(total, x, x0, row_start, row_end, col_start, col_end, scale, input_hw, y, zero):
    height, width = input_hw
    oh_n, ow_n = scale.shape
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh, plane = e % ow_n, (e // ow_n) % oh_n, e // (ow_n * oh_n)
        acc = zero
        for ih in range(row_start[oh], row_end[oh]):
            for iw in range(col_start[ow], col_end[ow]):
                acc += x[x0 + (plane * height + ih) * width + iw]
        y[e] = acc * scale[oh, ow]


@cuda.jit(cache=True)
def avg_pool_backward_kernel(total, grad_y, g0, row_start, row_end, col_start, col_end, scale, input_hw, dx):
    height, width = input_hw
    oh_n, ow_n = scale.shape
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh, plane = e % ow_n, (e // ow_n) % oh_n, e // (ow_n * oh_n)
        share = grad_y[g0 + e] * scale[oh, ow]
        for ih in range(row_start[oh], row_end[oh]):
            for iw in range(col_start[ow], col_end[ow]):
                cuda.atomic.add(dx, (plane * height + ih) * width + iw, share)


@functools.lru_cache(maxsize=64)
def _uploaded(dtype, shape, raw):
    return cuda.to_device(np.frombuffer(raw, dtype).reshape(shape))


def _on_device(array, dtype=None):
    """A small host array (window bounds, scales) in GPU memory, uploaded once per content."""
    array = np.ascontiguousarray(array, dtype)
    return _uploaded(array.dtype, array.shape, array.tobytes())


def _contiguous(a):
    return a if a.is_contiguous else a.copy()


def max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw):
    shape = x.shape[:2] + tuple(out_hw)
    y, argmax = CudaArray.empty(shape, x.dtype), CudaArray.empty(shape, np.int64)
    if y.size:
        x = _contiguous(x)
        geometry = (*kernel_hw, *stride, *padding, *dilation)
        launch(max_pool_kernel, *grid(y.size), y.size, x.buf, x.offset, tuple(x.shape[2:]), geometry,
               tuple(out_hw), y.buf, argmax.buf, x.dtype.type(-np.inf))
    return y, argmax


def max_pool2d_backward(grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation):
    dx = CudaArray.empty(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype)
    if dx.size:
        grad_y = _contiguous(grad_y)
        geometry = (*kernel_hw, *stride, *padding, *dilation)
        launch(max_pool_backward_kernel, *grid(dx.size), dx.size, grad_y.buf, grad_y.offset, argmax.buf,
               tuple(input_hw), geometry, tuple(grad_y.shape[2:]), dx.buf, grad_y.dtype.type(0))
    return dx


def avg_pool2d(x, row_start, row_end, col_start, col_end, scale):
    y = CudaArray.empty(x.shape[:2] + scale.shape, x.dtype)
    if y.size:
        x = _contiguous(x)
        bounds = [_on_device(b, np.int64) for b in (row_start, row_end, col_start, col_end)]
        launch(avg_pool_kernel, *grid(y.size), y.size, x.buf, x.offset, *bounds, _on_device(scale, x.dtype),
               tuple(x.shape[2:]), y.buf, x.dtype.type(0))
    return y


def avg_pool2d_backward(grad_y, row_start, row_end, col_start, col_end, scale, input_hw):
    dx = zeros(grad_y.shape[:2] + tuple(input_hw), grad_y.dtype)
    if grad_y.size:
        grad_y = _contiguous(grad_y)
        bounds = [_on_device(b, np.int64) for b in (row_start, row_end, col_start, col_end)]
        launch(avg_pool_backward_kernel, *grid(grad_y.size), grad_y.size, grad_y.buf, grad_y.offset, *bounds,
               _on_device(scale, grad_y.dtype), tuple(input_hw), dx.buf)
    return dx
