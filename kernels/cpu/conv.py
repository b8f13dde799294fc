"""2-D convolution on the CPU: im2col or shifted products in BLAS; Winograd and depthwise in their own files.

The entry points conv2d, conv2d_backward_input, conv2d_backward_weight and conv2d_backward
(their arguments: kernels/backend.py) take and return NumPy arrays (NCHW, weight
(K, C/groups, kh, kw)).

stride, padding, dilation, out_hw, input_hw and kernel_hw are (h, w) pairs; `padding` is
the top/left padding, the bottom/right one is whatever `out_hw` implies (so PyTorch's
padding='same' needs nothing special). `bias` may be None.

Two ways to turn a convolution into BLAS products, and a direct loop:
  * im2col (any stride): the receptive field of every output pixel becomes a column, for
    one sample and group cols[(c, i, j), (oh, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    (0 outside), and the convolution is one product per sample, W (K, C*kh*kw) @ cols.
    Backward runs the same product the other way round: W^T @ dY gives columns that col2im
    adds back into dx, and dW = sum over samples of dY @ cols^T.
  * shifted products (stride 1, enough channels): one product per kernel row out of the
    zero-padded input laid out once per kernel column, no im2col copy (shifted.py). At the
    benchmark's conv (32x64x32x32, 64 filters 3x3) forward and both backward products each
    take about 30% less time than with im2col; with few input channels each product is too
    thin, and im2col wins (the thresholds: _SHIFTED_FROM below).
  * depthwise (one input channel per group): direct loops in depthwise.py, as a product
    would be thin.
And 3x3 filters at stride 1 with 8 or more channels in and out go to winograd.py, which
does 2.25x fewer multiplies than either product form.

Parallelism: `prange` spreads the samples over Numba's threads, each with its own scratch
buffers, and each calls BLAS single-threaded (threads.py: one thread pool at a time).
"""
import functools

import numpy as np
from numba import config, get_thread_id, njit, prange

from . import depthwise, shifted, winograd
from .buffers import empty, workspace
from .padding import padded_hw, valid_range
from .threads import numba_threads, sum_of_slots


_SLOTS = config.NUMBA_NUM_THREADS  # one scratch slot per thread id get_thread_id() can return


# ---- im2col / col2im for one sample and one group -------------------------------------


# Row helpers: o runs over the output columns [lo, hi) whose input column o*stride + offset
# lies inside the image. They index a slice by the loop counter, never by o + offset: Numba
# tests every computed index for a negative value to wrap, and that test keeps LLVM from
# vectorising the loop.


@njit(cache=True, fastmath=False)
def _gather(dst, src, lo, hi, stride, offset):
    """dst[o] = src[o*stride + offset]"""
    taps = src[lo * stride + offset :: stride]
    for o in range(hi - lo):
        dst[lo + o] = taps[o]


@njit(cache=True, fastmath=False)
def _scatter_add(dst, src, lo, hi, stride, offset, alpha):
    """dst[o*stride + offset] += alpha * src[o]"""
    taps = dst[lo * stride + offset :: stride]
    for o in range(hi - lo):
        taps[o] += alpha * src[lo + o]


@njit(cache=True, fastmath=False)
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols):
    """cols[(c*kh + i)*kw + j, oh*ow_n + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 in the padding."""
    channels, height, width = x.shape
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                offset = j * dw - pw
                lo, hi = valid_range(offset, sw, width, ow_n)
                for oh in range(oh_n):
                    dst = cols[row, oh * ow_n : (oh + 1) * ow_n]
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= height:
                        dst[:] = 0
                        continue
                    dst[:lo] = 0
                    _gather(dst, x[c, ih], lo, hi, sw, offset)
                    dst[hi:] = 0


@njit(cache=True, fastmath=False)
def _col2im_add(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, dx):
    """The adjoint of _im2col: dx[c, ih, iw] += every cols entry that was copied from there."""
    channels, height, width = dx.shape
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                offset = j * dw - pw
                lo, hi = valid_range(offset, sw, width, ow_n)
                for oh in range(oh_n):
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    _scatter_add(dx[c, ih], cols[row, oh * ow_n : (oh + 1) * ow_n], lo, hi, sw, offset, 1.0)


# ---- im2col + BLAS kernels: prange over samples, scratch slot per thread --------------


@njit(cache=True, fastmath=False, parallel=True)
def _forward_gemm(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out, cols):
    n_samples, k_out, oh_n, ow_n = out.shape
    kh, kw = w.shape[2], w.shape[3]
    cg, kg = x.shape[1] // groups, k_out // groups
    w2 = w.reshape(k_out, -1)
    for n in prange(n_samples):
        t = get_thread_id()
        y = out[n].reshape(k_out, oh_n * ow_n)
        for g in range(groups):
            _im2col(x[n, g * cg : (g + 1) * cg], kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols[t])
            np.dot(w2[g * kg : (g + 1) * kg], cols[t], y[g * kg : (g + 1) * kg])
        if bias.shape[0]:
            for k in range(k_out):
                y[k] += bias[k]
    return out


@njit(cache=True, fastmath=False, parallel=True)
def _backward_input_gemm(grad_y, w, sh, sw, ph, pw, dh, dw, groups, dx, cols):
    n_samples, k_out, oh_n, ow_n = grad_y.shape
    kh, kw = w.shape[2], w.shape[3]
    cg, kg = dx.shape[1] // groups, k_out // groups
    w2 = w.reshape(k_out, -1)
    for n in prange(n_samples):
        t = get_thread_id()
        gy = grad_y[n].reshape(k_out, oh_n * ow_n)
        dx[n] = 0
        for g in range(groups):
            np.dot(w2[g * kg : (g + 1) * kg].T, gy[g * kg : (g + 1) * kg], cols[t])  # W_g^T @ dY_g
            _col2im_add(cols[t], kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, dx[n, g * cg : (g + 1) * cg])
    return dx


@njit(cache=True, fastmath=False, parallel=True)
def _backward_weight_gemm(x, grad_y, kh, kw, sh, sw, ph, pw, dh, dw, groups, partial, cols, step):
    """Each thread sums its samples' dW into its own slice partial[t]; the slices are added after."""
    n_samples, k_out, oh_n, ow_n = grad_y.shape
    cg, kg = x.shape[1] // groups, k_out // groups
    partial[:] = 0
    for n in prange(n_samples):
        t = get_thread_id()
        gy = grad_y[n].reshape(k_out, oh_n * ow_n)
        for g in range(groups):
            _im2col(x[n, g * cg : (g + 1) * cg], kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols[t])
            np.dot(gy[g * kg : (g + 1) * kg], cols[t].T, step[t, :kg])
            partial[t, g * kg : (g + 1) * kg] += step[t, :kg]
    return sum_of_slots(partial)


# ---- entry points ---------------------------------------------------------------------

def _bias_array(bias, dtype):
    return np.zeros(0, dtype) if bias is None else np.ascontiguousarray(bias, dtype)


def _is_depthwise(channels, groups):
    return groups == channels and groups > 1


# The fewest input channels per group at which shifted products beat im2col, measured at
# LeNet's and the benchmark's sizes (thin products lose to im2col's one long product): the
# forward product has the channels as its inner dimension, the input gradient as its rows,
# the weight gradient as its columns.
_SHIFTED_FROM = {"forward": 4, "input": 32, "weight": 8}


def _shifted(stride, channels, product):
    """Whether this product runs as shifted products rather than im2col."""
    return tuple(stride) == (1, 1) and channels >= _SHIFTED_FROM[product]


# Winograd's F(2x2, 3x3) (winograd.py) for 3x3 filters at stride 1, from this many input and
# output channels on: with 8 to 128 of each, images 7x7 to 32x32, it took 0.55-1.0 of the
# other paths' time for each of the three products; with 1 to 4 input channels its
# products are too thin and it took up to 3x theirs.
_WINOGRAD_FROM = 8


def _winograd(kernel_hw, stride, dilation, groups, channels, filters):
    """Whether this convolution runs by Winograd's minimal filtering."""
    return (tuple(kernel_hw) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(channels, filters) >= _WINOGRAD_FROM)


def _finite(*operands):
    """Whether the fast paths may run. Winograd's transforms add and subtract neighbouring
    inputs, so one infinite input makes NaN of a whole tile; the shifted products and the
    depthwise loops multiply padding and the columns past each row by zero, and 0 * inf is
    NaN: where a direct sum, PyTorch's, gives +-inf. Operands that are not all finite take
    im2col, whose products are the direct sums. (The depthwise kernels for 3x3 filters at
    stride 1 make the direct sums themselves and need no check: depthwise.sums_are_direct.)
    Asked only once a fast path's geometry fits (each caller wraps it in functools.cache),
    so a convolution that takes im2col anyway makes no pass."""
    with numba_threads():
        return all(_count_nonfinite(np.ravel(a)) == 0 for a in operands)


@njit(cache=True, fastmath=False, parallel=True)
def _count_nonfinite(x):
    """How many elements of the flat array x are inf or NaN (v - v == 0 exactly for finite v):
    a parallel vectorised pass, a third of np.isfinite(x).all()'s time."""
    bad = 0
    for i in prange(x.shape[0]):
        v = x[i]
        bad += not (v - v == 0)
    return bad


def _rows(weight):
    """weight (K, C/groups, kh, kw) as (kh, K, kw*C/groups): one matrix per kernel row, its
    columns (j, c) in the order of the stacked input's rows."""
    k, cg, kh, kw = weight.shape
    return np.ascontiguousarray(weight.transpose(2, 0, 3, 1)).reshape(kh, k, kw * cg)


def conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw):
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    n, c = x.shape[:2]
    k, cg, kh, kw = weight.shape
    out = empty((n, k) + tuple(out_hw), x.dtype)
    if n == 0:
        return out
    b = _bias_array(bias, x.dtype)
    fast = functools.cache(lambda: _finite(x, weight))
    if _is_depthwise(c, groups) and (depthwise.sums_are_direct((kh, kw), stride) or fast()):
        return depthwise.conv2d(x, weight, b, stride, padding, dilation, out)
    if _winograd((kh, kw), stride, dilation, groups, cg, k) and fast():
        return winograd.conv2d(x, weight, b, padding, out)
    if _shifted(stride, cg, "forward") and fast():
        hp, wp = padded_hw(out_hw, (kh, kw), stride, dilation)
        with numba_threads():
            xs = workspace("conv_xs", (_SLOTS, groups, kw, cg, hp, wp), x.dtype)
            y_ext = workspace("conv_y_ext", (_SLOTS, k, out_hw[0] * wp), x.dtype)
            return shifted.forward(x, _rows(weight), b, *padding, *dilation, out, xs, y_ext)
    with numba_threads():
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, out_hw[0] * out_hw[1]), x.dtype)
        return _forward_gemm(x, weight, b, *stride, *padding, *dilation, groups, out, cols)


def conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups, grad_finite=None):
    """dx of conv2d; grad_finite: a shared cached check of grad_y (see conv2d_backward), if any."""
    grad_y, weight = np.ascontiguousarray(grad_y), np.ascontiguousarray(weight)
    n, k, oh, ow = grad_y.shape
    cg, kh, kw = weight.shape[1:]
    dx = empty((n, cg * groups) + tuple(input_hw), grad_y.dtype)
    if n == 0:
        return dx
    grad_finite = grad_finite or functools.cache(lambda: _finite(grad_y))
    fast = functools.cache(lambda: grad_finite() and _finite(weight))
    if _is_depthwise(cg * groups, groups) and (depthwise.sums_are_direct((kh, kw), stride) or fast()):
        return depthwise.conv2d_backward_input(grad_y, weight, stride, padding, dilation, dx)
    if _winograd((kh, kw), stride, dilation, groups, cg, k) and fast():
        return winograd.conv2d_backward_input(grad_y, weight, padding, dx)
    if _shifted(stride, cg, "input") and fast():
        hp, wp = padded_hw((oh, ow), (kh, kw), stride, dilation)
        with numba_threads():
            dxs = workspace("conv_xs", (_SLOTS, groups, kw, cg, hp, wp), grad_y.dtype)
            gy_ext = workspace("conv_y_ext", (_SLOTS, k, oh * wp), grad_y.dtype)
            return shifted.backward_input(grad_y, _rows(weight), *padding, *dilation, dx, dxs, gy_ext)
    with numba_threads():
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, oh * ow), grad_y.dtype)
        return _backward_input_gemm(grad_y, weight, *stride, *padding, *dilation, groups, dx, cols)


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups, grad_finite=None):
    """dw of conv2d; grad_finite: a shared cached check of grad_y (see conv2d_backward), if any."""
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    n, c = x.shape[:2]
    k, oh, ow = grad_y.shape[1:]
    kh, kw = kernel_hw
    cg = c // groups
    if n == 0:
        return np.zeros((k, cg, kh, kw), x.dtype)
    grad_finite = grad_finite or functools.cache(lambda: _finite(grad_y))
    fast = functools.cache(lambda: grad_finite() and _finite(x))
    if _is_depthwise(c, groups) and (depthwise.sums_are_direct(kernel_hw, stride) or fast()):
        return depthwise.conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation)
    if _winograd(kernel_hw, stride, dilation, groups, cg, k) and fast():
        return winograd.conv2d_backward_weight(x, grad_y, padding)
    if _shifted(stride, cg, "weight") and fast():
        hp, wp = padded_hw((oh, ow), (kh, kw), stride, dilation)
        with numba_threads():
            xs = workspace("conv_xs", (_SLOTS, groups, kw, cg, hp, wp), x.dtype)
            gy_ext = workspace("conv_y_ext", (_SLOTS, k, oh * wp), x.dtype)
            partial = workspace("conv_dw_partial", (_SLOTS, kh, k, kw * cg), x.dtype)
            dw = shifted.backward_weight(x, grad_y, *padding, *dilation, partial, xs, gy_ext)
        return np.ascontiguousarray(dw.reshape(kh, k, kw, cg).transpose(1, 3, 0, 2))
    with numba_threads():
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, oh * ow), x.dtype)
        partial = workspace("conv_dw_partial", (_SLOTS, k, cg * kh * kw), x.dtype)
        step = workspace("conv_dw_step", (_SLOTS, k // groups, cg * kh * kw), x.dtype)
        dw = _backward_weight_gemm(x, grad_y, kh, kw, *stride, *padding, *dilation, groups, partial, cols, step)
    return dw.reshape(k, cg, kh, kw)


@njit(cache=True, fastmath=False, parallel=True)
def _channel_sums(g, out):
    """out[c] = sum of g[n, c, :] over n, g (N, C, L): each sample's row sums as BLAS's
    product g[n] @ 1 (a summing loop does not vectorise: LLVM keeps the additions' order),
    on Numba's threads, then added up over the samples in order."""
    n, c, length = g.shape
    ones, parts = np.ones(length, g.dtype), np.empty((n, c), g.dtype)
    for i in prange(n):
        np.dot(g[i], ones, parts[i])
    for i in range(c):
        total = parts[0, i]
        for j in range(1, n):
            total += parts[j, i]
        out[i] = total


def channel_sums(grad_y):
    """Each channel's sum over the batch and the positions, by _channel_sums (NumPy's sum
    over the axes (0, 2, 3) took 6 times as long); integer or empty gradients by NumPy."""
    n, c = grad_y.shape[:2]
    rows = np.ascontiguousarray(grad_y).reshape(n, c, -1)
    if rows.dtype.kind != "f" or rows.size == 0:
        return rows.sum(axis=(0, 2))
    out = empty((c,), rows.dtype)
    with numba_threads():
        _channel_sums(rows, out)
    return out


def conv2d_backward(x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups):
    """(dx, dw) of y = conv2d(x, weight), each only if asked for (else None); grad_y's
    finiteness (see _finite) is found at most once for both."""
    finite = functools.cache(lambda: _finite(grad_y))
    dx = (conv2d_backward_input(grad_y, weight, x.shape[2:], stride, padding, dilation, groups, finite)
          if input_grad else None)
    dw = (conv2d_backward_weight(x, grad_y, weight.shape[2:], stride, padding, dilation, groups, finite)
          if weight_grad else None)
    return dx, dw
