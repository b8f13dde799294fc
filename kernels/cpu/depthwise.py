"""Depthwise convolution on the CPU (groups == input channels): direct loops, no BLAS.

Each output channel k reads one input channel, c = k // multiplier, so a product would
have an inner size of kh*kw and be mostly im2col copying. The loops instead go plane by
plane. The input plane is zero-padded into a per-thread scratch block P just large enough
for every tap, so no loop tests bounds, and
    y[oh, ow] = b + sum_ij w_ij P[oh*sh + i*dh, ow*sw + j*dw]
At stride 1 the output is laid out with rows as wide as P's ("extended", the columns past
OW scratch, as in conv.py's shifted products), and then each tap (i, j) is one pass over
the whole plane at a fixed offset into P, flat:
    y_ext[q] += w_ij P_flat[q + i*dh*Wp + j*dw]          q < OH*Wp
a loop about a thousand long that LLVM turns into vector multiply-adds. (Passes along each
output row instead, 32 long at 32x32, take 2.5x as long: much of their time goes to
starting and ending loops.) Other strides run the passes row by row.
Backward runs the passes reversed:
    dP_flat[q + off_ij] += w_ij dy_ext[q],   then dx = dP cropped
    dw_ij = sum over samples and q of dy_ext[q] P_flat[q + off_ij]
the weight gradient summed first into kh*kw vectors of partial sums (a scalar running sum
does not vectorise: without fastmath LLVM keeps the order of the additions). dy_ext's
scratch columns are zero, so what they meet in P adds nothing.

Indices are slices plus a loop counter (src = P_flat[off : off + n], then src[q]), never
q + off: Numba tests every index for a negative value to wrap, and that test kept LLVM
from vectorising these loops (a third of the time without it; bench/README.md has the
figures, and those of these kernels against PyTorch's).
"""
import numpy as np
from numba import config, get_thread_id, njit, prange

from .buffers import workspace
from .padding import crop_into, extend_rows, pad_into, padded_hw

_SLOTS = config.NUMBA_NUM_THREADS

jit = njit(cache=True, fastmath=False)
parallel_jit = njit(cache=True, fastmath=False, parallel=True)


@jit
def _forward_plane(p, w, bias, sh, sw, dh, dw, ext, y):
    """y[oh, ow] = bias + sum_ij w[i, j] p[oh*sh + i*dh, ow*sw + j*dw]"""
    oh_n, ow_n = y.shape
    kh, kw = w.shape
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        e[:cols] = bias
        for i in range(kh):
            for j in range(kw):
                wij, offset = w[i, j], i * dh * width_p + j * dw
                src = pf[offset : offset + cols]
                for q in range(cols):
                    e[q] += wij * src[q]
        for oh in range(oh_n):
            row, src = y[oh], e[oh * width_p : oh * width_p + ow_n]
            for ow in range(ow_n):
                row[ow] = src[ow]
        return
    y[:] = bias
    for oh in range(oh_n):
        row = y[oh]
        for i in range(kh):
            src = p[oh * sh + i * dh]
            for j in range(kw):
                wij, taps = w[i, j], src[j * dw :: sw]
                for ow in range(ow_n):
                    row[ow] += wij * taps[ow]


@jit
def _input_grad_plane(gy, w, sh, sw, dh, dw, ext, p):
    """p[oh*sh + i*dh, ow*sw + j*dw] += w[i, j] gy[oh, ow]: the adjoint of _forward_plane in
    p. gy is (1, OH, OW)."""
    oh_n, ow_n = gy.shape[1], gy.shape[2]
    kh, kw = w.shape
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        extend_rows(gy, ext)
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        for i in range(kh):
            for j in range(kw):
                wij, offset = w[i, j], i * dh * width_p + j * dw
                dst = pf[offset : offset + cols]
                for q in range(cols):
                    dst[q] += wij * e[q]
        return
    for oh in range(oh_n):
        row = gy[0, oh]
        for i in range(kh):
            dst = p[oh * sh + i * dh]
            for j in range(kw):
                wij, taps = w[i, j], dst[j * dw :: sw]
                for ow in range(ow_n):
                    taps[ow] += wij * row[ow]


@jit
def _weight_grad_plane(p, gy, kh, kw, sh, sw, dh, dw, ext, acc):
    """acc[i*kw + j, :] += the terms of sum_(oh, ow) gy[oh, ow] p[oh*sh + i*dh, ow*sw + j*dw],
    the adjoint of _forward_plane in w before its final sum. gy is (1, OH, OW)."""
    oh_n, ow_n = gy.shape[1], gy.shape[2]
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        extend_rows(gy, ext)
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        for i in range(kh):
            for j in range(kw):
                row, offset = acc[i * kw + j], i * dh * width_p + j * dw
                src = pf[offset : offset + cols]
                for q in range(cols):
                    row[q] += e[q] * src[q]
        return
    for oh in range(oh_n):
        g = gy[0, oh]
        for i in range(kh):
            src = p[oh * sh + i * dh]
            for j in range(kw):
                row, taps = acc[i * kw + j], src[j * dw :: sw]
                for ow in range(ow_n):
                    row[ow] += g[ow] * taps[ow]


@parallel_jit
def _forward(x, w, bias, sh, sw, ph, pw, dh, dw, out, planes, ext):
    n_samples, k_out = out.shape[0], out.shape[1]
    multiplier = k_out // x.shape[1]
    for nk in prange(n_samples * k_out):
        n, k = nk // k_out, nk % k_out
        t, c = get_thread_id(), k // multiplier
        pad_into(x[n, c : c + 1], ph, pw, planes[t])
        b = bias[k] if bias.shape[0] else 0.0
        _forward_plane(planes[t, 0], w[k, 0], b, sh, sw, dh, dw, ext[t], out[n, k])
    return out


@parallel_jit
def _backward_input(grad_y, w, sh, sw, ph, pw, dh, dw, dx, planes, ext):
    n_samples, channels = dx.shape[0], dx.shape[1]
    multiplier = grad_y.shape[1] // channels
    for nc in prange(n_samples * channels):
        n, c = nc // channels, nc % channels
        t = get_thread_id()
        planes[t] = 0
        for k in range(c * multiplier, (c + 1) * multiplier):
            _input_grad_plane(grad_y[n, k : k + 1], w[k, 0], sh, sw, dh, dw, ext[t], planes[t, 0])
        crop_into(planes[t], ph, pw, dx[n, c : c + 1])
    return dx


@parallel_jit
def _backward_weight(x, grad_y, sh, sw, ph, pw, dh, dw, dw_out, planes, ext, sums):
    n_samples, k_out = grad_y.shape[0], grad_y.shape[1]
    multiplier = k_out // x.shape[1]
    kh, kw = dw_out.shape[2], dw_out.shape[3]
    for k in prange(k_out):  # each thread owns whole filters: no two threads add into one entry
        t, c = get_thread_id(), k // multiplier
        acc = sums[t]
        acc[:] = 0
        for n in range(n_samples):
            pad_into(x[n, c : c + 1], ph, pw, planes[t])
            _weight_grad_plane(planes[t, 0], grad_y[n, k : k + 1], kh, kw, sh, sw, dh, dw, ext[t], acc)
        for i in range(kh):
            for j in range(kw):
                dw_out[k, 0, i, j] = acc[i * kw + j].sum()
    return dw_out


# ---- entry points (called from conv.py when groups == input channels) -------------------

def _scratch(out_hw, kernel_hw, stride, dilation, dtype):
    """Per thread slot: the padded plane, (1, Hp + 1, Wp) with Hp = (OH-1)*sh + (kh-1)*dh + 1
    rows (the last an output reads; one more so that the flat passes of stride 1 stay inside
    at the scratch columns' end), and an extended output row (1, OH*Wp)."""
    hp, wp = padded_hw(out_hw, kernel_hw, stride, dilation)
    planes = workspace("depthwise_plane", (_SLOTS, 1, hp + 1, wp), dtype)
    return planes, workspace("depthwise_ext", (_SLOTS, 1, out_hw[0] * wp), dtype)


def conv2d(x, weight, bias, stride, padding, dilation, out):
    """out = the depthwise convolution of x (N, C, H, W) with weight (K, 1, kh, kw), K a
    multiple of C, + bias (K,) unless empty."""
    planes, ext = _scratch(out.shape[2:], weight.shape[2:], stride, dilation, x.dtype)
    return _forward(x, weight, bias, *stride, *padding, *dilation, out, planes, ext)


def conv2d_backward_input(grad_y, weight, stride, padding, dilation, dx):
    """dx = the gradient of conv2d's input for the output gradient grad_y."""
    planes, ext = _scratch(grad_y.shape[2:], weight.shape[2:], stride, dilation, grad_y.dtype)
    return _backward_input(grad_y, weight, *stride, *padding, *dilation, dx, planes, ext)


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation):
    """The gradient of conv2d's weight, (K, 1, kh, kw)."""
    planes, ext = _scratch(grad_y.shape[2:], kernel_hw, stride, dilation, x.dtype)
    kh, kw = kernel_hw
    sums = workspace("depthwise_sums", (_SLOTS, kh * kw, ext.shape[2]), x.dtype)
    dw = np.empty((grad_y.shape[1], 1, kh, kw), x.dtype)
    return _backward_weight(x, grad_y, *stride, *padding, *dilation, dw, planes, ext, sums)
