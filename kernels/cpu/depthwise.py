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
starting and ending loops.) A 3x3 filter's nine passes run as one, which reads and writes
each output once (the forward 25% faster); other filters and strides run the passes, the
strides row by row.
Backward runs the passes reversed:
    dP_flat[q + off_ij] += w_ij dy_ext[q],   then dx = dP cropped
    dw_ij = sum over samples and q of dy_ext[q] P_flat[q + off_ij]
the weight gradient summed first into kh*kw vectors of partial sums (a scalar running sum
does not vectorise: without fastmath LLVM keeps the order of the additions). dy_ext's
scratch columns are zero, so what they meet in P adds nothing. For a 3x3 filter the input
gradient's nine passes run as one gathering pass instead (dP_flat[p] += sum_ij w_ij
dy_ext[p - off_ij], dy_ext with zeros on either side); fusing the weight gradient's nine
the same way took 35% longer (nine running sums to load and store per element).

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
def _taps3x3(pf, w, bias, row, col, e, cols):
    """e[q] = bias + sum_ij w[i, j] pf[q + i*row + j*col] for q < cols: the nine passes of a
    3x3 filter fused into one, which reads each output once instead of nine times (half the
    time of nine passes), adding in the same order."""
    s00, s01, s02 = pf[0:cols], pf[col:col + cols], pf[2 * col:2 * col + cols]
    s10, s11, s12 = pf[row:row + cols], pf[row + col:row + col + cols], pf[row + 2 * col:row + 2 * col + cols]
    r2 = 2 * row
    s20, s21, s22 = pf[r2:r2 + cols], pf[r2 + col:r2 + col + cols], pf[r2 + 2 * col:r2 + 2 * col + cols]
    w00, w01, w02, w10, w11, w12, w20, w21, w22 = w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1], w[1, 2], w[2, 0], w[2, 1], w[2, 2]
    for q in range(cols):
        e[q] = (bias + w00 * s00[q] + w01 * s01[q] + w02 * s02[q] + w10 * s10[q] + w11 * s11[q] + w12 * s12[q]
                + w20 * s20[q] + w21 * s21[q] + w22 * s22[q])


@jit
def _gather3x3(em, margin, w, row, col, pf, n):
    """pf[p] += sum_ij w[i, j] em[margin + p - i*row - j*col] for p < n: the nine scattering
    passes of a 3x3 filter's input gradient as one gathering pass, on the extended output
    gradient em with `margin` zeros on either side (so taps that fall outside add zero)."""
    t00, t01, t02 = em[margin:margin + n], em[margin - col:margin - col + n], em[margin - 2 * col:margin - 2 * col + n]
    m1 = margin - row
    t10, t11, t12 = em[m1:m1 + n], em[m1 - col:m1 - col + n], em[m1 - 2 * col:m1 - 2 * col + n]
    m2 = margin - 2 * row
    t20, t21, t22 = em[m2:m2 + n], em[m2 - col:m2 - col + n], em[m2 - 2 * col:m2 - 2 * col + n]
    w00, w01, w02, w10, w11, w12, w20, w21, w22 = w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1], w[1, 2], w[2, 0], w[2, 1], w[2, 2]
    for p in range(n):
        pf[p] = (pf[p] + w00 * t00[p] + w01 * t01[p] + w02 * t02[p] + w10 * t10[p] + w11 * t11[p] + w12 * t12[p]
                 + w20 * t20[p] + w21 * t21[p] + w22 * t22[p])


@jit
def _forward_plane(p, w, bias, sh, sw, dh, dw, ext, y):
    """y[oh, ow] = bias + sum_ij w[i, j] p[oh*sh + i*dh, ow*sw + j*dw]"""
    oh_n, ow_n = y.shape
    kh, kw = w.shape
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        if kh == 3 and kw == 3:
            _taps3x3(pf, w, bias, dh * width_p, dw, e, cols)
        else:
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
        pf, cols = p.reshape(-1), oh_n * width_p
        if kh == 3 and kw == 3:
            margin = 2 * dh * width_p + 2 * dw
            em = ext[0]
            em[:margin] = 0
            extend_rows(gy, ext[:, margin:margin + cols])
            em[margin + cols:2 * margin + cols] = 0
            _gather3x3(em, margin, w, dh * width_p, dw, pf, cols + margin)
            return
        extend_rows(gy, ext[:, :cols])
        e = ext[0]
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
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        extend_rows(gy, ext[:, :cols])
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
        _forward_plane(planes[t, 0], w[k, 0], bias[k], sh, sw, dh, dw, ext[t], out[n, k])
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
    at the scratch columns' end), and an extended output row, OH*Wp long, with room for a
    margin on either side as long as a filter's reach, (kh-1)*dh*Wp + (kw-1)*dw (_gather3x3)."""
    hp, wp = padded_hw(out_hw, kernel_hw, stride, dilation)
    planes = workspace("depthwise_plane", (_SLOTS, 1, hp + 1, wp), dtype)
    reach = (kernel_hw[0] - 1) * dilation[0] * wp + (kernel_hw[1] - 1) * dilation[1]
    return planes, workspace("depthwise_ext", (_SLOTS, 1, out_hw[0] * wp + 2 * reach), dtype)


def conv2d(x, weight, bias, stride, padding, dilation, out):
    """out = the depthwise convolution of x (N, C, H, W) with weight (K, 1, kh, kw), K a
    multiple of C, + bias (K,) unless empty."""
    planes, ext = _scratch(out.shape[2:], weight.shape[2:], stride, dilation, x.dtype)
    if not bias.shape[0]:  # zeros of x's dtype: a bias of 0.0 would make the kernels' sums float64
        bias = np.zeros(weight.shape[0], x.dtype)
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
