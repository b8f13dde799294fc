"""2-D convolution on the CPU: im2col + BLAS, and a direct kernel for depthwise convolution.

Three kernels, each taking and returning NumPy arrays (NCHW, weight (K, C/groups, kh, kw)):

    conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw)         -> y
    conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups) -> dx
    conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups)    -> dw

stride, padding, dilation, out_hw, input_hw and kernel_hw are (h, w) pairs; `padding` is
the top/left padding, the bottom/right one is whatever `out_hw` implies (so PyTorch's
padding='same' needs nothing special). `bias` may be None.

im2col turns the receptive field of every output pixel into a column: for one sample and
one group, cols[(c, i, j), (oh, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside),
so the convolution is one matrix product per sample, W (K, C*kh*kw) @ cols, done by BLAS.
Backward runs the same product the other way round: W^T @ dY gives columns that col2im adds
back into dx, and dW = sum over samples of dY @ cols^T.

Parallelism: one runtime only. `prange` spreads the samples over Numba's threads, and each
thread calls BLAS single-threaded (BLAS's own pool is told to stand down for the call, see
`_one_thread_pool`); two pools alternating on 2 cores cost far more than they give. Under load,
32 per-sample products measured 40 ms with serial BLAS in 2 Numba threads and 750 ms with
BLAS's threads fighting for the cores.
"""
import contextlib

import numpy as np
from numba import config, get_num_threads, get_thread_id, njit, prange, set_num_threads


_workspaces = {}
_SLOTS = config.NUMBA_NUM_THREADS  # one scratch slot per thread id get_thread_id() can return


def workspace(name, shape, dtype):
    """A scratch array reused across calls with the same shape (a training step repeats its
    shapes): fresh large buffers cost thousands of page faults each."""
    key = (name, shape, np.dtype(dtype))
    if key not in _workspaces:
        if len(_workspaces) > 32:
            _workspaces.clear()
        _workspaces[key] = np.empty(shape, dtype)
    return _workspaces[key]

# ---- im2col / col2im for one sample and one group -------------------------------------


@njit(cache=True, fastmath=False)
def _valid_range(offset, stride, size, n_out):
    """The output indices o in [lo, hi) with 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - offset + stride - 1) // stride if size > offset else 0
    hi = min(hi, n_out)
    return min(lo, hi), hi


# Row helpers: o runs over the output columns [lo, hi) whose input column o*stride + offset
# lies inside the image. The stride-1 branch is a plain contiguous loop that LLVM vectorises.


@njit(cache=True, fastmath=False)
def _gather(dst, src, lo, hi, stride, offset):
    """dst[o] = src[o*stride + offset]"""
    if stride == 1:
        for o in range(lo, hi):
            dst[o] = src[o + offset]
    else:
        for o in range(lo, hi):
            dst[o] = src[o * stride + offset]


@njit(cache=True, fastmath=False)
def _scatter_add(dst, src, lo, hi, stride, offset, alpha):
    """dst[o*stride + offset] += alpha * src[o]"""
    if stride == 1:
        for o in range(lo, hi):
            dst[o + offset] += alpha * src[o]
    else:
        for o in range(lo, hi):
            dst[o * stride + offset] += alpha * src[o]


@njit(cache=True, fastmath=False)
def _gather_add(dst, src, lo, hi, stride, offset, alpha):
    """dst[o] += alpha * src[o*stride + offset]"""
    if stride == 1:
        for o in range(lo, hi):
            dst[o] += alpha * src[o + offset]
    else:
        for o in range(lo, hi):
            dst[o] += alpha * src[o * stride + offset]


@njit(cache=True, fastmath=False)
def _gather_dot(a, src, lo, hi, stride, offset):
    """sum_o a[o] * src[o*stride + offset]"""
    acc = 0.0
    if stride == 1:
        for o in range(lo, hi):
            acc += a[o] * src[o + offset]
    else:
        for o in range(lo, hi):
            acc += a[o] * src[o * stride + offset]
    return acc


@njit(cache=True, fastmath=False)
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols):
    """cols[(c*kh + i)*kw + j, oh*ow_n + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 in the padding."""
    channels, height, width = x.shape
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                offset = j * dw - pw
                lo, hi = _valid_range(offset, sw, width, ow_n)
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
                lo, hi = _valid_range(offset, sw, width, ow_n)
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
    total = partial[0].copy()
    for t in range(1, partial.shape[0]):
        total += partial[t]
    return total


# ---- direct kernels for depthwise convolution (one input channel per group) -----------
# A GEMM with a single input channel is mostly im2col copying; looping directly is faster.


@njit(cache=True, fastmath=False, parallel=True)
def _forward_depthwise(x, w, bias, sh, sw, ph, pw, dh, dw, out):
    n_samples, k_out, oh_n, ow_n = out.shape
    height, width = x.shape[2], x.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    multiplier = k_out // x.shape[1]
    for nk in prange(n_samples * k_out):
        n, k = nk // k_out, nk % k_out
        y = out[n, k]
        y[:] = bias[k] if bias.shape[0] else 0
        src = x[n, k // multiplier]
        for i in range(kh):
            for j in range(kw):
                wij = w[k, 0, i, j]
                offset = j * dw - pw
                lo, hi = _valid_range(offset, sw, width, ow_n)
                for oh in range(oh_n):
                    ih = oh * sh - ph + i * dh
                    if 0 <= ih < height:
                        _gather_add(y[oh], src[ih], lo, hi, sw, offset, wij)
    return out


@njit(cache=True, fastmath=False, parallel=True)
def _backward_input_depthwise(grad_y, w, sh, sw, ph, pw, dh, dw, dx):
    n_samples, channels, height, width = dx.shape
    oh_n, ow_n = grad_y.shape[2], grad_y.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    multiplier = grad_y.shape[1] // channels
    for nc in prange(n_samples * channels):
        n, c = nc // channels, nc % channels
        dst = dx[n, c]
        dst[:] = 0
        for k in range(c * multiplier, (c + 1) * multiplier):
            gy = grad_y[n, k]
            for i in range(kh):
                for j in range(kw):
                    wij = w[k, 0, i, j]
                    offset = j * dw - pw
                    lo, hi = _valid_range(offset, sw, width, ow_n)
                    for oh in range(oh_n):
                        ih = oh * sh - ph + i * dh
                        if 0 <= ih < height:
                            _scatter_add(dst[ih], gy[oh], lo, hi, sw, offset, wij)
    return dx


@njit(cache=True, fastmath=False, parallel=True)
def _backward_weight_depthwise(x, grad_y, sh, sw, ph, pw, dh, dw, dw_out):
    n_samples, k_out, oh_n, ow_n = grad_y.shape
    height, width = x.shape[2], x.shape[3]
    kh, kw = dw_out.shape[2], dw_out.shape[3]
    multiplier = k_out // x.shape[1]
    for k in prange(k_out):  # each thread owns whole filters: no two threads add into one entry
        for i in range(kh):
            for j in range(kw):
                offset = j * dw - pw
                lo, hi = _valid_range(offset, sw, width, ow_n)
                acc = 0.0
                for n in range(n_samples):
                    src, gy = x[n, k // multiplier], grad_y[n, k]
                    for oh in range(oh_n):
                        ih = oh * sh - ph + i * dh
                        if 0 <= ih < height:
                            acc += _gather_dot(gy[oh], src[ih], lo, hi, sw, offset)
                dw_out[k, 0, i, j] = acc
    return dw_out


# ---- entry points ---------------------------------------------------------------------

_blas = []


def _blas_pools():
    """threadpoolctl's handle on the BLAS libraries, or None when it is not installed."""
    if not _blas:
        try:
            import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS np.dot inside @njit calls)
            from threadpoolctl import ThreadpoolController

            _blas.append(ThreadpoolController().select(user_api="blas"))
        except ImportError:
            _blas.append(None)
    return _blas[0]


@contextlib.contextmanager
def _one_thread_pool(n_samples):
    """Numba's threads share the samples and each calls BLAS, which must then run
    single-threaded. Without threadpoolctl to ask BLAS for that (or with one sample), Numba
    runs single-threaded and BLAS keeps its threads instead: two pools oversubscribing
    2 cores are far slower than either."""
    pools = _blas_pools()
    if pools is not None and n_samples > 1:
        limiter = pools.limit(limits=1)
        try:
            yield
        finally:
            limiter.restore_original_limits()
        return
    threads = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(threads)


def _bias_array(bias, dtype):
    return np.zeros(0, dtype) if bias is None else np.ascontiguousarray(bias, dtype)


def _is_depthwise(channels, groups):
    return groups == channels and groups > 1


def conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw):
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    n, c = x.shape[:2]
    k, cg, kh, kw = weight.shape
    out = np.empty((n, k) + tuple(out_hw), x.dtype)
    if n == 0:
        return out
    b = _bias_array(bias, x.dtype)
    if _is_depthwise(c, groups):
        return _forward_depthwise(x, weight, b, *stride, *padding, *dilation, out)
    with _one_thread_pool(n):
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, out_hw[0] * out_hw[1]), x.dtype)
        return _forward_gemm(x, weight, b, *stride, *padding, *dilation, groups, out, cols)


def conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups):
    grad_y, weight = np.ascontiguousarray(grad_y), np.ascontiguousarray(weight)
    n, k, oh, ow = grad_y.shape
    cg, kh, kw = weight.shape[1:]
    dx = np.empty((n, cg * groups) + tuple(input_hw), grad_y.dtype)
    if n == 0:
        return dx
    if _is_depthwise(cg * groups, groups):
        return _backward_input_depthwise(grad_y, weight, *stride, *padding, *dilation, dx)
    with _one_thread_pool(n):
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, oh * ow), grad_y.dtype)
        return _backward_input_gemm(grad_y, weight, *stride, *padding, *dilation, groups, dx, cols)


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups):
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    n, c = x.shape[:2]
    k, oh, ow = grad_y.shape[1:]
    kh, kw = kernel_hw
    cg = c // groups
    if n == 0:
        return np.zeros((k, cg, kh, kw), x.dtype)
    if _is_depthwise(c, groups):
        return _backward_weight_depthwise(x, grad_y, *stride, *padding, *dilation, np.empty((k, 1, kh, kw), x.dtype))
    with _one_thread_pool(n):
        cols = workspace("conv_cols", (_SLOTS, cg * kh * kw, oh * ow), x.dtype)
        partial = workspace("conv_dw_partial", (_SLOTS, k, cg * kh * kw), x.dtype)
        step = workspace("conv_dw_step", (_SLOTS, k // groups, cg * kh * kw), x.dtype)
        dw = _backward_weight_gemm(x, grad_y, kh, kw, *stride, *padding, *dilation, groups, partial, cols, step)
    return dw.reshape(k, cg, kh, kw)
