"""Depthwise convolution on the GPU (one input channel per group, K_g = K/G filters each):
direct kernels, since as a product each group's tile would hold only K_g rows.

With geo as in gemm.py and output channel k reading input channel k // K_g:
    forward       y[n, k, oh, ow] = b[k] + sum_ij w[k, 0, i, j] x[n, k // K_g, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
                  one thread per output element;
    input grad    dx[n, c, ih, iw] = sum over the K_g filters k of channel c and the taps (i, j) whose
                  window through (ih, iw) exists of w[k, 0, i, j] dy[n, k, oh, ow]
                  one thread per input element, a gather as in col2im: no atomics, no zeroing;
    weight grad   dw[k, 0, i, j] = sum over n, oh, ow of dy[n, k, oh, ow] x[n, k // K_g, ih, iw]
                  one block per (k, i, j): its threads stride over the N*OH*OW terms, then a tree
                  in shared memory adds up their partial sums.
Inputs of any strides are read in place.
"""
import functools

import numba

from .gemm import window_through
from .launch import THREADS, cuda, grid, launch
from .reduce import MAX_BLOCKS, block_sum


@cuda.jit(device=True)
def _input_at(geo, oh, ow, i, j):
    """(ih, iw) that output (oh, ow) reads through tap (i, j); -1 for the padding."""
    ih = oh * geo[6] - geo[8] + i * geo[10]
    iw = ow * geo[7] - geo[9] + j * geo[11]
    if 0 <= ih < geo[2] and 0 <= iw < geo[3]:
        return ih, iw
    return -1, -1


@cuda.jit(cache=True)
def forward_kernel(total, x, x0, xs, w, w0, ws, bias, b0, has_bias, geo, y, zero):
    kh, kw, oh_n, ow_n, k_group = geo[4], geo[5], geo[12], geo[13], geo[14]
    channels = total // (geo[0] * oh_n * ow_n)
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow, oh = e % ow_n, (e // ow_n) % oh_n
        k, n = (e // (ow_n * oh_n)) % channels, e // (ow_n * oh_n * channels)
        source = x0 + n * xs[0] + (k // k_group) * xs[1]
        acc = bias[b0 + k] if has_bias else zero
        for i in range(kh):
            for j in range(kw):
                ih, iw = _input_at(geo, oh, ow, i, j)
                if ih >= 0:
                    acc += w[w0 + k * ws[0] + i * ws[2] + j * ws[3]] * x[source + ih * xs[2] + iw * xs[3]]
        y[e] = acc


@cuda.jit(cache=True)
def backward_input_kernel(total, dy, d0, ds, w, w0, ws, geo, dx, zero):
    height, width, kh, kw, k_group = geo[2], geo[3], geo[4], geo[5], geo[14]
    channels = total // (geo[0] * height * width)
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        iw, ih = e % width, (e // width) % height
        c, n = (e // (width * height)) % channels, e // (width * height * channels)
        acc = zero
        for k in range(c * k_group, (c + 1) * k_group):
            for i in range(kh):
                oh = window_through(ih, i, geo[8], geo[10], geo[6], geo[12])
                if oh < 0:
                    continue
                for j in range(kw):
                    ow = window_through(iw, j, geo[9], geo[11], geo[7], geo[13])
                    if ow >= 0:
                        acc += w[w0 + k * ws[0] + i * ws[2] + j * ws[3]] * dy[d0 + n * ds[0] + k * ds[1] + oh * ds[2] + ow * ds[3]]
        dx[e] = acc


@functools.lru_cache(maxsize=None)
def backward_weight_kernel(dtype):
    """The weight-gradient kernel accumulating in `dtype` (its shared array's type is fixed when compiled)."""
    acc_type = numba.from_dtype(dtype)

    @cuda.jit(cache=True)
    def backward_weight(outputs, x, x0, xs, dy, d0, ds, geo, dw):
        partial = cuda.shared.array(THREADS, acc_type)
        tid = cuda.threadIdx.x
        kh, kw, oh_n, ow_n, k_group = geo[4], geo[5], geo[12], geo[13], geo[14]
        terms = geo[0] * oh_n * ow_n
        for task in range(cuda.blockIdx.x, outputs, cuda.gridDim.x):  # task = (k, i, j), dw's flat index
            k, i, j = task // (kh * kw), (task // kw) % kh, task % kw
            acc = acc_type(0)
            for t in range(tid, terms, THREADS):
                n, oh, ow = t // (oh_n * ow_n), (t // ow_n) % oh_n, t % ow_n
                ih, iw = _input_at(geo, oh, ow, i, j)
                if ih >= 0:
                    acc += (dy[d0 + n * ds[0] + k * ds[1] + oh * ds[2] + ow * ds[3]]
                            * x[x0 + n * xs[0] + (k // k_group) * xs[1] + ih * xs[2] + iw * xs[3]])
            partial[tid] = acc
            block_sum(partial, tid)
            if tid == 0:
                dw[task] = partial[0]

    return backward_weight


def forward(x, weight, bias, geo, y):
    """y from x and weight; bias, if any, contiguous (K,)."""
    has_bias = bias is not None
    bias = bias if has_bias else y  # never read without has_bias: any array of the dtype will do
    launch(forward_kernel, *grid(y.size), y.size, x.buf, x.offset, x.strides, weight.buf, weight.offset,
           weight.strides, bias.buf, bias.offset, has_bias, tuple(geo), y.buf, x.dtype.type(0))
    return y


def backward_input(grad_y, weight, geo, dx):
    launch(backward_input_kernel, *grid(dx.size), dx.size, grad_y.buf, grad_y.offset, grad_y.strides, weight.buf,
           weight.offset, weight.strides, tuple(geo), dx.buf, grad_y.dtype.type(0))
    return dx


def backward_weight(x, grad_y, geo, dw):
    launch(backward_weight_kernel(dw.dtype), min(dw.size, MAX_BLOCKS), THREADS, dw.size, x.buf, x.offset, x.strides,
           grad_y.buf, grad_y.offset, grad_y.strides, tuple(geo), dw.buf)
    return dw
