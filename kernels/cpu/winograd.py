"""3x3 convolution at stride 1 by Winograd's minimal filtering F(2x2, 3x3).

A 2x2 block of outputs of a 3x3 filter reads a 4x4 tile d of the padded input. Written
out directly it takes 2*2*9 = 36 multiplies; Winograd's form takes 16:
    y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, on 4x4 matrices)
with the constant matrices
    B^T = [1  0 -1  0]     G = [1    0    0 ]     A^T = [1  1  1  0]
          [0  1  1  0]         [1/2  1/2  1/2]          [0  1 -1 -1]
          [0 -1  1  0]         [1/2 -1/2  1/2]
          [0  1  0 -1]         [0    0    1 ]
(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015). Over channels
the elementwise product becomes a matrix product, one for each of the 16 positions xi of
the 4x4 transform:
    U[xi] = (G g G^T)[xi]       (K, C)   the filters, transformed once per call
    V[xi] = (B^T d B)[xi]       (C, T)   every tile t of every channel of one sample
    M[xi] = U[xi] @ V[xi]       (K, T)   16 BLAS products
    y     = A^T M A             tile by tile, 2x2 outputs each
The products do 16 / 36 = 1/2.25 of direct convolution's multiplies; the transforms are
additions, a few per value.

The input gradient is a convolution too (conv2d_backward_input: dy with the filters turned
round), so it runs through the same kernel. The weight gradient is the adjoint of the map
g -> y, step by step in reverse order, with the 16 products transposed:
    dM       = A dY A^T                 (the 2x2 output gradient spread over a 4x4 tile)
    dU[xi]  += dM[xi] @ V[xi]^T         ->  dg = G^T dU G
Outputs past the image (the last tile row or column when OH or OW is odd) are computed and
dropped; their gradient is zero, so they add nothing going back.

Layout: the input is zero-padded into (C, Hp, Wp) with Hp = 2*ceil(OH/2) + 2 (and Wp alike),
so every tile lies inside it; tile t = ty*TW + tx starts at row 2*ty, column 2*tx. V[xi] is
row xi of a (16, row length) scratch array, entry (c, t) at c*S + t (M alike, (k, t)), so
each product reads and writes plain row-major matrices. S is T, or on AVX-512 hosts T
rounded up to whole register tiles (`_stride`): the products then run over S columns, the
ones past T zeros in V and never read in M, instead of leaving the last T mod 16 columns
to a BLAS call per product (LeNet's second layer: T = 49, a third more columns, 40% less
time in the products). Each Numba thread takes whole samples, with its own scratch
(threads.py: BLAS single-threaded).

It takes 0.6-0.8 of the time of conv.py's shifted products for each of the three passes
(bench/README.md has the figures). The input gradient is a convolution of its own rather
than the adjoint of the forward map: the adjoint of the input transform adds into
overlapping tiles, which costs twice the input transform.
"""
import numpy as np
from numba import config, get_thread_id, njit, prange

from . import small_gemm
from .blas import gemm
from .buffers import empty, workspace
from .padding import pad_into
from .threads import numba_threads, sum_of_slots

_SLOTS = config.NUMBA_NUM_THREADS
jit = njit(cache=True, fastmath=False)
parallel_jit = njit(cache=True, fastmath=False, parallel=True)


@jit
def _filters(w, u):
    """u[xi, k, c] = (G g G^T)[xi] for the 3x3 filter g = w[k, c]."""
    k_out, channels = w.shape[0], w.shape[1]
    half = w.dtype.type(0.5)
    rows = np.empty((4, 3), w.dtype)
    for k in range(k_out):
        for c in range(channels):
            g = w[k, c]
            for j in range(3):  # G g: the rows of g combined
                rows[0, j] = g[0, j]
                rows[1, j] = half * (g[0, j] + g[1, j] + g[2, j])
                rows[2, j] = half * (g[0, j] - g[1, j] + g[2, j])
                rows[3, j] = g[2, j]
            for i in range(4):  # (G g) G^T: its columns combined
                r = rows[i]
                u[4 * i, k, c] = r[0]
                u[4 * i + 1, k, c] = half * (r[0] + r[1] + r[2])
                u[4 * i + 2, k, c] = half * (r[0] - r[1] + r[2])
                u[4 * i + 3, k, c] = r[2]


@jit
def _filters_adjoint(du, dw):
    """dw[k, c] = G^T dU G, dU the 4x4 gradient du[:, k, c]: the adjoint of _filters."""
    k_out, channels = dw.shape[0], dw.shape[1]
    half = dw.dtype.type(0.5)
    cols = np.empty((4, 3), dw.dtype)
    for k in range(k_out):
        for c in range(channels):
            for i in range(4):  # dU G
                a0, a1, a2, a3 = du[4 * i, k, c], du[4 * i + 1, k, c], du[4 * i + 2, k, c], du[4 * i + 3, k, c]
                cols[i, 0] = a0 + half * (a1 + a2)
                cols[i, 1] = half * (a1 - a2)
                cols[i, 2] = half * (a1 + a2) + a3
            for j in range(3):  # G^T (dU G)
                a0, a1, a2, a3 = cols[0, j], cols[1, j], cols[2, j], cols[3, j]
                dw[k, c, 0, j] = a0 + half * (a1 + a2)
                dw[k, c, 1, j] = half * (a1 - a2)
                dw[k, c, 2, j] = half * (a1 + a2) + a3


@jit
def _tiles(xpad, tw, v, packed, stride):
    """v[xi, c*stride + t] = (B^T d B)[xi] for every 4x4 tile d of the padded sample xpad
    (C, Hp, Wp), and 0 for T <= t < stride; `packed`: each V[xi] laid out instead as
    small_gemm's 8-row panels, (C/8, T, 8)."""
    channels, th = xpad.shape[0], (xpad.shape[1] - 2) // 2
    tiles = th * tw
    for c in range(channels):
        if not packed:
            v[:, c * stride + tiles:(c + 1) * stride] = 0
        p = xpad[c]
        for ty in range(th):
            r = 2 * ty
            for tx in range(tw):
                t = ty * tw + tx
                q, at = 2 * tx, ((c // 8) * tiles + t) * 8 + c % 8 if packed else c * stride + t
                # B^T d: rows combined, column by column (s[i][j] for row i, column j)
                s00, s01, s02, s03 = p[r, q] - p[r + 2, q], p[r, q + 1] - p[r + 2, q + 1], \
                    p[r, q + 2] - p[r + 2, q + 2], p[r, q + 3] - p[r + 2, q + 3]
                s10, s11, s12, s13 = p[r + 1, q] + p[r + 2, q], p[r + 1, q + 1] + p[r + 2, q + 1], \
                    p[r + 1, q + 2] + p[r + 2, q + 2], p[r + 1, q + 3] + p[r + 2, q + 3]
                s20, s21, s22, s23 = p[r + 2, q] - p[r + 1, q], p[r + 2, q + 1] - p[r + 1, q + 1], \
                    p[r + 2, q + 2] - p[r + 1, q + 2], p[r + 2, q + 3] - p[r + 1, q + 3]
                s30, s31, s32, s33 = p[r + 1, q] - p[r + 3, q], p[r + 1, q + 1] - p[r + 3, q + 1], \
                    p[r + 1, q + 2] - p[r + 3, q + 2], p[r + 1, q + 3] - p[r + 3, q + 3]
                # (B^T d) B: the columns combined the same way
                v[0, at], v[1, at], v[2, at], v[3, at] = s00 - s02, s01 + s02, s02 - s01, s01 - s03
                v[4, at], v[5, at], v[6, at], v[7, at] = s10 - s12, s11 + s12, s12 - s11, s11 - s13
                v[8, at], v[9, at], v[10, at], v[11, at] = s20 - s22, s21 + s22, s22 - s21, s21 - s23
                v[12, at], v[13, at], v[14, at], v[15, at] = s30 - s32, s31 + s32, s32 - s31, s31 - s33


@jit
def _untile(m, bias, y, stride):
    """y[k] = A^T M A tile by tile (+ bias[k]), M[k, t] at k*stride + t, the tiles' rows and
    columns past y dropped."""
    k_out, oh_n, ow_n = y.shape
    th, tw = (oh_n + 1) // 2, (ow_n + 1) // 2
    for k in range(k_out):
        b = bias[k] if bias.shape[0] else y.dtype.type(0)
        for ty in range(th):
            r = 2 * ty
            for tx in range(tw):
                q, at = 2 * tx, k * stride + ty * tw + tx
                # A^T M: rows 0+1+2 and 1-2-3 of the 4x4 tile, for each column j
                o00 = m[0, at] + m[4, at] + m[8, at]
                o01 = m[1, at] + m[5, at] + m[9, at]
                o02 = m[2, at] + m[6, at] + m[10, at]
                o03 = m[3, at] + m[7, at] + m[11, at]
                o10 = m[4, at] - m[8, at] - m[12, at]
                o11 = m[5, at] - m[9, at] - m[13, at]
                o12 = m[6, at] - m[10, at] - m[14, at]
                o13 = m[7, at] - m[11, at] - m[15, at]
                y[k, r, q] = o00 + o01 + o02 + b
                if q + 1 < ow_n:
                    y[k, r, q + 1] = o01 - o02 - o03 + b
                if r + 1 < oh_n:
                    y[k, r + 1, q] = o10 + o11 + o12 + b
                    if q + 1 < ow_n:
                        y[k, r + 1, q + 1] = o11 - o12 - o13 + b


@jit
def _untile_adjoint(dy, dm, transposed):
    """dm[:, k, t] = A dY A^T for each tile's 2x2 block of dy[k] (0 past the image): the
    adjoint of _untile. `transposed`: each dM[xi] laid out as (T, K) instead."""
    k_out, oh_n, ow_n = dy.shape
    th, tw = (oh_n + 1) // 2, (ow_n + 1) // 2
    zero = dy.dtype.type(0)
    for k in range(k_out):
        for ty in range(th):
            r = 2 * ty
            for tx in range(tw):
                t = ty * tw + tx
                q, at = 2 * tx, t * k_out + k if transposed else k * th * tw + t
                e00 = dy[k, r, q]
                e01 = dy[k, r, q + 1] if q + 1 < ow_n else zero
                e10 = dy[k, r + 1, q] if r + 1 < oh_n else zero
                e11 = dy[k, r + 1, q + 1] if r + 1 < oh_n and q + 1 < ow_n else zero
                # A e A^T: row i of A is (1, 0), (1, 1), (1, -1), (0, -1), for rows and columns
                f0, f1 = e00 + e01, e00 - e01  # row 0 spread over the 4 columns: e00, f0, f1, -e01
                g0, g1 = e10 + e11, e10 - e11
                dm[0, at], dm[1, at], dm[2, at], dm[3, at] = e00, f0, f1, -e01
                dm[4, at], dm[5, at], dm[6, at], dm[7, at] = e00 + e10, f0 + g0, f1 + g1, -e01 - e11
                dm[8, at], dm[9, at], dm[10, at], dm[11, at] = e00 - e10, f0 - g0, f1 - g1, e11 - e01
                dm[12, at], dm[13, at], dm[14, at], dm[15, at] = -e10, -g0, -g1, e11


@jit
def _pack_filters(u, panels):
    """Each U[xi]'s rows, eight at a time, as small_gemm's 8-row tile reads them."""
    for xi in range(16):
        small_gemm.pack_rows(u[xi], panels[xi])


@jit
def _products(u, panels, v, m, stride, vector_bytes):
    """The forward's 16 products, one per transform position xi, on one sample's rows v[xi]
    (C x S, S = stride) and m[xi] (K x S): M[xi] = U[xi] @ V[xi]. With AVX-512
    (vector_bytes 64) in small_gemm's 8-row tiles on U's rows packed in `panels` (see
    _pack_filters), else in BLAS."""
    k_out, channels = u.shape[1], u.shape[2]
    uf, pf = u.reshape(-1), panels.reshape(-1)
    for xi in range(16):
        ui = uf[xi * k_out * channels:]
        if vector_bytes == 64:
            small_gemm.product8(pf[xi * (k_out - k_out % 8) * channels:], 8 * channels, ui, channels, v[xi], stride,
                                m[xi], stride, k_out, stride, channels, False)
        else:
            gemm(False, False, k_out, stride, channels, 1.0, ui, channels, v[xi], stride, 0.0, m[xi], stride)


@jit
def _weight_products(du, v, dm, tiles):
    """The weight gradient's 16 products in BLAS: dU[xi] (K x C) += dM[xi] (K x T) @ V[xi]^T."""
    k_out, channels = du.shape[1], du.shape[2]
    df = du.reshape(-1)
    for xi in range(16):
        gemm(False, True, k_out, channels, tiles, 1.0, dm[xi], tiles, v[xi], tiles, 1.0, df[xi * k_out * channels:],
             channels)


@jit
def _weight_products_in_tiles(du_t, v, dm, tiles):
    """The weight gradient's products transposed, in small_gemm's 8-row tiles (AVX-512):
    dU[xi]^T (C x K) += V[xi] (C x T) @ dM[xi]^T (T x K), V[xi] packed by _tiles and dM[xi]
    laid out (T, K) by _untile_adjoint, so neither needs a copy. C is a multiple of 8 and K
    of a tile's width: no rows or columns are left for BLAS, which would need V unpacked."""
    channels, k_out = du_t.shape[1], du_t.shape[2]
    df = du_t.reshape(-1)
    for xi in range(16):
        small_gemm.product8(v[xi], 8 * tiles, v[xi], tiles, dm[xi], k_out, df[xi * channels * k_out:], k_out,
                            channels, k_out, tiles, True)


@parallel_jit
def _forward(x, u, panels, bias, ph, pw, out, xpad, v, m, stride, vector_bytes):
    tw = (out.shape[3] + 1) // 2
    for n in prange(x.shape[0]):
        s = get_thread_id()
        pad_into(x[n], ph, pw, xpad[s])
        _tiles(xpad[s], tw, v[s], False, stride)
        _products(u, panels, v[s], m[s], stride, vector_bytes)
        _untile(m[s], bias, out[n], stride)
    return out


@parallel_jit
def _backward_weight(x, grad_y, ph, pw, partial, xpad, v, dm, in_tiles):
    """Each thread sums its samples' dU into its own slice partial[s]; the slices are added
    after. `in_tiles`: the products run in register tiles, and partial holds dU transposed."""
    th, tw = (grad_y.shape[2] + 1) // 2, (grad_y.shape[3] + 1) // 2
    partial[:] = 0
    for n in prange(x.shape[0]):
        s = get_thread_id()
        pad_into(x[n], ph, pw, xpad[s])
        _tiles(xpad[s], tw, v[s], in_tiles, th * tw)
        _untile_adjoint(grad_y[n], dm[s], in_tiles)
        if in_tiles:
            _weight_products_in_tiles(partial[s], v[s], dm[s], th * tw)
        else:
            _weight_products(partial[s], v[s], dm[s], th * tw)
    return sum_of_slots(partial)


# ---- entry points (called from conv.py for 3x3, stride 1, dilation 1, one group) -------

def _geometry(out_hw):
    """Tiles down and across, and the padded block (Hp, Wp) they cover."""
    th, tw = (out_hw[0] + 1) // 2, (out_hw[1] + 1) // 2
    return th, tw, (2 * th + 2, 2 * tw + 2)


def _stride(tiles, dtype):
    """S (see Layout): T, or on AVX-512 hosts T rounded up to a 32-byte register tile's width."""
    if small_gemm.VECTOR_BYTES != 64:
        return tiles
    width = small_gemm.VECTORS * 32 // dtype.itemsize
    return -(-tiles // width) * width


def _planes(rows, tiles):
    """Scratch for the 16 transformed planes of one sample in every thread slot, (SLOTS, 16,
    row length). The row length is rows*tiles rounded up so that the 16 rows start 64 bytes
    apart modulo 4 KiB: at a multiple of 4 KiB apart (64 channels of 16x16 tiles is exactly
    64 KiB) every write of a tile's 16 values hits the same cache set, and the input
    transform ran 8x slower."""
    return (_SLOTS, 16, -(-rows * tiles // 1024) * 1024 + 16)


def _transformed(weight):
    u = empty((16,) + weight.shape[:2], weight.dtype)
    _filters(weight, u)
    return u


def _packed(u):
    """U's rows packed for small_gemm's 8-row tiles where the host has AVX-512, else nothing."""
    k, c = u.shape[1], u.shape[2]
    panels = empty((16, k // 8 if small_gemm.VECTOR_BYTES == 64 else 0, c, 8), u.dtype)
    if panels.size:
        _pack_filters(u, panels)
    return panels


def conv2d(x, weight, bias, padding, out):
    """out = the convolution of x (N, C, H, W) with weight (K, C, 3, 3), + bias (K,) unless
    empty; padding (top, left)."""
    c, k = x.shape[1], weight.shape[0]
    th, tw, padded = _geometry(out.shape[2:])
    stride = _stride(th * tw, x.dtype)
    with numba_threads():
        xpad = workspace("winograd_xpad", (_SLOTS, c) + padded, x.dtype)
        v = workspace("winograd_v", _planes(c, stride), x.dtype)
        m = workspace("winograd_m", _planes(k, stride), x.dtype)
        u = _transformed(weight)
        return _forward(x, u, _packed(u), bias, *padding, out, xpad, v, m, stride, small_gemm.VECTOR_BYTES)


def conv2d_backward_input(grad_y, weight, padding, dx):
    """dx = the gradient of conv2d's input for the output gradient grad_y: at stride 1 the
    transposed convolution is a convolution of grad_y, padded by 2 - p, with the filters
    turned 180 degrees and their input and output channels swapped,
        dx[c, h, w] = sum_(k, i, j) W[k, c, i, j] dy[k, h + p - i, w + p - j],
    so it runs through the forward kernel (padding past 2 becomes a negative padding: a crop)."""
    turned = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return conv2d(grad_y, turned, np.zeros(0, grad_y.dtype), (2 - padding[0], 2 - padding[1]), dx)


def conv2d_backward_weight(x, grad_y, padding):
    """The gradient of conv2d's weight, (K, C, 3, 3)."""
    c, k = x.shape[1], grad_y.shape[1]
    th, tw, padded = _geometry(grad_y.shape[2:])
    tile_width = 2 * 64 // x.dtype.itemsize
    in_tiles = small_gemm.VECTOR_BYTES == 64 and c % 8 == 0 and k % tile_width == 0
    with numba_threads():
        xpad = workspace("winograd_xpad", (_SLOTS, c) + padded, x.dtype)
        v = workspace("winograd_v", _planes(c, th * tw), x.dtype)
        dm = workspace("winograd_m", _planes(k, th * tw), x.dtype)
        if in_tiles:
            partial = workspace("winograd_du_t", (_SLOTS, 16, c, k), x.dtype)
        else:
            partial = workspace("winograd_du", (_SLOTS, 16, k, c), x.dtype)
        du = _backward_weight(x, grad_y, *padding, partial, xpad, v, dm, in_tiles)
    if in_tiles:
        du = np.ascontiguousarray(du.transpose(0, 2, 1))
    dw = np.empty((k, c, 3, 3), x.dtype)
    _filters_adjoint(du, dw)
    return dw
