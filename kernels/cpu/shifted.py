"""Convolution at stride 1 as shifted products (conv.py chooses when), no im2col.

With stride 1, output pixel (oh, ow) reads input pixel (oh + i*dh - ph, ow + j*dw - pw) for
tap (i, j). Zero-pad one sample into a (C, Hp, Wp) block, Hp x Wp just large enough for
every tap, and lay the output out with rows Wp wide too ("extended": the columns past OW
are scratch). Then tap (i, j) reads the padded block shifted by i*dh*Wp + j*dw elements, a
plain (C, OH*Wp) window with row stride Hp*Wp, and the convolution is a sum of products
over channels straight out of the padded input:
    Y_ext = sum_ij W_ij (K x C) @ Xpad[:, shift_ij : shift_ij + OH*Wp]
A product over C channels alone is thin and kh*kw of them pay BLAS's fixed cost per call
(an inner size of 32 runs about 10% slower than one of 96), so the taps of one kernel row
go into one product: the padded sample is laid out kw times, copy j shifted left by j*dw
("stacked", rows (j, c)), and kernel row i is one product with inner size kw*C:
    Y_ext = sum_i W_i (K x kw*C) @ Xs[:, i*dh*Wp : i*dh*Wp + OH*Wp]
That copies the input kw times where im2col copies it kh*kw times, and the stacked sample
stays in cache across the kh products. The scratch columns cost (Wp - OW) / OW extra work.
Backward uses the same windows: dXs[:, i*dh*Wp:] += W_i^T @ dY_ext, then the kw shifted
copies fold back into dx; dW_i += dY_ext @ Xs[:, i*dh*Wp:]^T, with dY_ext's scratch
columns zero. It takes 0.77-0.9 of the time of one product per tap, or the same
(bench/README.md has the figures).
"""
from numba import get_thread_id, njit, prange

from .blas import gemm
from .padding import crop_into, extend_rows, pad_into
from .threads import sum_of_slots


@njit(cache=True, fastmath=False)
def _stack(x, ph, pw, dw, xs):
    """xs[g, j, c] = group g's channel c zero-padded (as pad_into), its flat (Hp*Wp) plane
    shifted left by j*dw, zeros shifted in at the end: each group's padded channels once per
    kernel column j. Within a row the shift moves the image left by j*dw columns; past the
    row's end it reads the next row's start, which only the scratch columns read."""
    groups, kw, cg = xs.shape[0], xs.shape[1], xs.shape[2]
    plane = xs.shape[3] * xs.shape[4]
    for g in range(groups):
        pad_into(x[g * cg : (g + 1) * cg], ph, pw, xs[g, 0])
        for j in range(1, kw):
            shift = j * dw
            for c in range(cg):
                src, dst = xs[g, 0, c].reshape(-1)[shift:], xs[g, j, c].reshape(-1)
                for p in range(plane - shift):
                    dst[p] = src[p]
                for p in range(plane - shift, plane):
                    dst[p] = 0


@njit(cache=True, fastmath=False)
def _unstack(dxs, ph, pw, dw, dx):
    """The adjoint of _stack: the kw shifted copies of dxs added back into copy 0, whose
    padding is then cropped off into dx."""
    groups, kw, cg, rows, width_p = dxs.shape
    plane = rows * width_p
    for g in range(groups):
        for j in range(1, kw):
            shift = j * dw
            for c in range(cg):
                src, dst = dxs[g, j, c].reshape(-1), dxs[g, 0, c].reshape(-1)[shift:]
                for p in range(plane - shift):
                    dst[p] += src[p]
        crop_into(dxs[g, 0], ph, pw, dx[g * cg : (g + 1) * cg])


@njit(cache=True, fastmath=False)
def _row_products(w_rows, dh, xs, y_ext, mode):
    """For every group and kernel row i one BLAS product between the row's weights
    w_rows[i] (K, kw*C/groups; column j*C/groups + c holds W[k, c, i, j]) and the stacked
    input's window at i*dh rows down (its rows (j, c), OH*Wp columns):
        mode 0 (forward):          y_ext  = sum_i W_i @ X_i
        mode 1 (input gradient):   X_i   += W_i^T @ y_ext     (xs holds dXs)
        mode 2 (weight gradient):  W_i   += y_ext @ X_i^T     (w_rows holds dW)"""
    kh, k_out, depth = w_rows.shape
    groups = xs.shape[0]
    kg = k_out // groups
    plane, width_p = xs.shape[3] * xs.shape[4], xs.shape[4]
    cols = y_ext.shape[1]
    wf, xf, yf = w_rows.reshape(-1), xs.reshape(-1), y_ext.reshape(-1)
    for g in range(groups):
        for i in range(kh):
            w_at = (i * k_out + g * kg) * depth
            x_at = g * depth * plane + i * dh * width_p
            y_at = g * kg * cols
            if mode == 0:
                beta = 0.0 if i == 0 else 1.0
                gemm(False, False, kg, cols, depth, 1.0, wf[w_at:], depth, xf[x_at:], plane, beta, yf[y_at:], cols)
            elif mode == 1:
                gemm(True, False, depth, cols, kg, 1.0, wf[w_at:], depth, yf[y_at:], cols, 1.0, xf[x_at:], plane)
            else:
                gemm(False, True, kg, depth, cols, 1.0, yf[y_at:], cols, xf[x_at:], plane, 1.0, wf[w_at:], depth)


@njit(cache=True, fastmath=False, parallel=True)
def forward(x, w_rows, bias, ph, pw, dh, dw, out, xs, y_ext):
    n_samples, k_out, oh_n, ow_n = out.shape
    width_p = xs.shape[-1]
    for n in prange(n_samples):
        t = get_thread_id()
        _stack(x[n], ph, pw, dw, xs[t])
        _row_products(w_rows, dh, xs[t], y_ext[t], 0)
        for k in range(k_out):
            b = bias[k] if bias.shape[0] else 0.0
            for oh in range(oh_n):
                src, dst = y_ext[t, k, oh * width_p : oh * width_p + ow_n], out[n, k, oh]
                for ow in range(ow_n):
                    dst[ow] = src[ow] + b
    return out


@njit(cache=True, fastmath=False, parallel=True)
def backward_input(grad_y, w_rows, ph, pw, dh, dw, dx, dxs, gy_ext):
    for n in prange(dx.shape[0]):
        t = get_thread_id()
        extend_rows(grad_y[n], gy_ext[t])
        dxs[t] = 0
        _row_products(w_rows, dh, dxs[t], gy_ext[t], 1)
        _unstack(dxs[t], ph, pw, dw, dx[n])
    return dx


@njit(cache=True, fastmath=False, parallel=True)
def backward_weight(x, grad_y, ph, pw, dh, dw, partial, xs, gy_ext):
    """Each thread sums its samples' dW into its own slice partial[t]; the slices are added after."""
    partial[:] = 0
    for n in prange(x.shape[0]):
        t = get_thread_id()
        _stack(x[n], ph, pw, dw, xs[t])
        extend_rows(grad_y[n], gy_ext[t])
        _row_products(partial[t], dh, xs[t], gy_ext[t], 2)
    return sum_of_slots(partial)
