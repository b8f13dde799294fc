"""The GPU's one matrix-product kernel: register tiles, double-buffered shared memory, and
operands that are read where they lie (strided arrays, or a convolution's implicit columns).

    C[t] = A[g] @ B[g]     (M x K) @ (K x N), for tasks t = (g, part of K)

Each block computes a BM x BN tile of C and walks K in slices of BK. A slice of A (BM x BK)
and of B (BK x BN) goes through shared memory; each thread then multiplies its TM x TN
sub-tile out of registers: per k it reads TM values of A and TN of B and does TM*TN
multiply-adds, so shared-memory reads per flop fall by TM*TN/(TM+TN) against one output per
thread. A thread's sub-tile is two half-tiles apart in each direction (rows ty*TM/2.. and
BM/2 + ty*TM/2..), so the threads of a warp read consecutive addresses, each a 16-byte
vector, with no bank conflicts. Two shared buffers alternate: while the threads multiply
one slice, the next one's global loads are already in flight into registers, stored to the
other buffer after the products; one barrier per slice.

An operand is (kind, buffer, offset, four strides). The kind says how element (g, row, col)
is found, and is a compile-time constant of the kernel, so a kernel holds only its own
arithmetic. DENSE operands are strided 3-D arrays (a transposed view is just other
strides); which of their axes is contiguous (A_ALONG_K, B_ALONG_K) decides which way the
threads sweep a slice as they load it, so that neighbouring threads read neighbouring
addresses. The convolution kinds gather from an NCHW tensor with the geometry
    geo = (N, C_g, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, K_g)
(see conv.py for the three products built from them). The result is written densely
(task, M, N), or (NCHW_OUT) straight into an NCHW tensor, column n = (sample, pixel),
with an optional per-channel bias.
"""
import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import types as nt

from .array import CudaArray
from .launch import SIMULATED, cuda, launch

# Operand kinds.
DENSE = 0      # buf[off + g*s0 + row*s1 + col*s2]
COLS = 1       # im2col of x:  row (c, i, j), col (n, oh, ow) -> x[n, g*C_g + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
COLS_T = 2     # the same, transposed: row (n, oh, ow), col (c, i, j)
DY_COLS = 3    # dY per group: row k, col (n, oh, ow) -> dy[n, g*K_g + k, oh, ow]
W_T = 4        # W_g^T: row c, col (k, i, j) -> w[g*K_g + k, c, i, j]
DY_GATHER = 5  # col2im's transpose: row (k, i, j), col (n, ih, iw) -> dy[n, g*K_g + k, oh, ow], the output
               # pixel whose window reads (ih, iw) through tap (i, j), 0 if there is none
# Result kinds.
DENSE_OUT = 0  # c[off + (t*M + row)*N + col], contiguous
NCHW_OUT = 1   # c[off + ((n*G + g)*M + row)*S + p] for col = (n, p), S = N / geo[0] pixels per sample
NCHW_BIAS = 2  # the same, plus bias[g*M + row]

# Which way a kind is best swept when loaded: along its K axis, or along M (for A) / N (for B).
ALONG_K = {COLS_T: True, DY_COLS: True, W_T: True, COLS: False, DY_GATHER: False}

NO_GEO = (0,) * 15

# (BM, BN, BK, TM, TN): tile of C per block, depth of a K slice, sub-tile per thread.
# All three GPU tiles use 256 threads. The large one needs about 210 registers a thread
# (ptxas, sm_90), so one block fits on an SM; the smaller tiles do fewer multiply-adds per
# shared-memory read, and are for products too small to give every SM a large tile.
LARGE = (128, 128, 8, 8, 8)
MEDIUM = (64, 64, 8, 4, 4)
SMALL = (32, 32, 8, 2, 2)
SIMULATOR = (8, 8, 4, 2, 2)  # 16 threads: every simulated thread is a Python thread
GPU_TILES = (LARGE, MEDIUM, SMALL)
MAX_BATCH_BLOCKS = 65535  # grid's z extent
MIN_SPLIT = 512  # the shortest stretch of K worth a block of its own


class Operand(NamedTuple):
    """Where a product reads one operand: a kind (above), its buffer, and offsets."""
    kind: int
    buf: object
    offset: int
    strides: tuple
    along_k: bool  # load it sweeping K (its contiguous axis, or the one whose reads coalesce)


def dense(x, k_axis):
    """A strided (G, rows, cols) CudaArray as an operand whose K axis is `k_axis` (2 for A, 1 for B)."""
    other = 3 - k_axis
    return Operand(DENSE, x.buf, x.offset, (*x.strides, 0), x.strides[k_axis] == 1 and x.strides[other] != 1)


def gathered(kind, x):
    """A 4-D CudaArray (x, dY or W) read through one of the convolution kinds."""
    return Operand(kind, x.buf, x.offset, tuple(x.strides), ALONG_K[kind])


@cuda.jit(device=True)
def window_through(position, tap, pad, dilation, stride, outputs):
    """Along one axis: the output whose window reads input `position` through `tap`, or -1.
    (Output o reads o * stride - pad + tap * dilation.)"""
    start = position + pad - tap * dilation
    if start < 0 or start % stride or start // stride >= outputs:
        return -1
    return start // stride


@cuda.jit(device=True)
def _image(off, st, geo, g, tap, pixel):
    """Where x[n, g*C_g + c, ...] read through tap (c, i, j) by output pixel (n, oh, ow) lies; -1 in the padding."""
    taps, area = geo[4] * geo[5], geo[12] * geo[13]
    c, i, j = tap // taps, (tap % taps) // geo[5], tap % geo[5]
    n, oh, ow = pixel // area, (pixel % area) // geo[13], pixel % geo[13]
    ih = oh * geo[6] - geo[8] + i * geo[10]
    iw = ow * geo[7] - geo[9] + j * geo[11]
    if 0 <= ih < geo[2] and 0 <= iw < geo[3]:
        return off + n * st[0] + (g * geo[1] + c) * st[1] + ih * st[2] + iw * st[3]
    return -1


@cuda.jit(device=True)
def locate(kind, off, st, geo, g, row, col):
    """Where element (row, col) of operand g lies in its buffer, as `kind` says; -1 for a zero."""
    if kind == DENSE:
        return off + g * st[0] + row * st[1] + col * st[2]
    if kind == COLS:
        return _image(off, st, geo, g, row, col)
    if kind == COLS_T:
        return _image(off, st, geo, g, col, row)
    taps = geo[4] * geo[5]
    if kind == DY_COLS:
        area = geo[12] * geo[13]
        n, p = col // area, col % area
        return off + n * st[0] + (g * geo[14] + row) * st[1] + (p // geo[13]) * st[2] + (p % geo[13]) * st[3]
    if kind == W_T:
        k, i, j = col // taps, (col % taps) // geo[5], col % geo[5]
        return off + (g * geo[14] + k) * st[0] + row * st[1] + i * st[2] + j * st[3]
    area = geo[2] * geo[3]  # DY_GATHER
    k, i, j = row // taps, (row % taps) // geo[5], row % geo[5]
    n, ih, iw = col // area, (col % area) // geo[3], col % geo[3]
    oh = window_through(ih, i, geo[8], geo[10], geo[6], geo[12])
    ow = window_through(iw, j, geo[9], geo[11], geo[7], geo[13])
    if oh < 0 or ow < 0:
        return -1
    return off + n * st[0] + (g * geo[14] + k) * st[1] + oh * st[2] + ow * st[3]


@functools.lru_cache(maxsize=None)
def gemm_kernel(tiles, dtype, a_kind, b_kind, c_kind, a_along_k, b_along_k):
    """The kernel for one tile configuration and set of operand kinds, accumulating in `dtype`."""
    BM, BN, BK, TM, TN = tiles
    HM, HN = TM // 2, TN // 2  # a thread's two half-tiles in each direction
    DOWN, ACROSS = BM // TM, BN // TN  # threads down and across a tile
    THREADS = DOWN * ACROSS
    LA, LB = BM * BK // THREADS, BK * BN // THREADS  # elements each thread loads per slice
    if BM % TM or BN % TN or TM % 2 or TN % 2 or LA * THREADS != BM * BK or LB * THREADS != BK * BN:
        raise ValueError(f"gemm: tiles {tiles} do not divide evenly among the block's threads")
    # A slice loaded along K writes BK neighbouring k of one row: padded rows spread them over banks.
    WA, WB = BM + (4 if a_along_k else 0), BN + (4 if b_along_k else 0)
    # Unsigned indices into shared memory: Numba adds no negative-index fix-up to them, so the
    # compiler sees consecutive addresses and reads each half-tile as 16-byte vectors.
    U = np.uint64
    U_BK, U_HM, U_HN, U_HALF_M, U_HALF_N = U(BK), U(HM), U(HN), U(BM // 2), U(BN // 2)
    acc_type = numba.from_dtype(dtype)
    A, B, C = a_kind, b_kind, c_kind
    A_K, B_K = a_along_k, b_along_k

    @cuda.jit(cache=True)
    def gemm(tasks, splits, chunk, M, N, K, c, c0, a, a0, a_st, b, b0, b_st, geo, bias, bias0):
        sa = cuda.shared.array((2, BK, WA), acc_type, alignment=16)  # A's slice, transposed: a thread's rows are adjacent
        sb = cuda.shared.array((2, BK, WB), acc_type, alignment=16)
        acc = cuda.local.array((TM, TN), acc_type)
        ra = cuda.local.array(TM, acc_type)
        rb = cuda.local.array(TN, acc_type)
        pa = cuda.local.array(LA, acc_type)  # the next slice, on its way from global memory
        pb = cuda.local.array(LB, acc_type)
        where_row = cuda.local.array(TM, nt.int64)
        where_col = cuda.local.array(TN, nt.int64)
        tid = cuda.threadIdx.x
        ty, tx = tid // ACROSS, tid % ACROSS
        uty, utx = U(ty), U(tx)
        row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
        zero = acc_type(0)
        groups = tasks // splits
        pixels = N // geo[0] if C != DENSE_OUT else 1  # per sample, in an NCHW result
        for task in range(cuda.blockIdx.z, tasks, cuda.gridDim.z):  # task = (g, part of K)
            g = task // splits
            k_first = (task % splits) * chunk
            k_end = min(K, k_first + chunk)
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] = zero
            buf = 0
            for k0 in range(k_first, k_end + BK, BK):
                if k0 < k_end:  # load slice k0 into registers (the first one is stored at once)
                    for s in range(LA):
                        e = tid + s * THREADS
                        r, k = (e % BM, e // BM) if not A_K else (e // BK, e % BK)
                        where = -1
                        if row0 + r < M and k0 + k < k_end:
                            where = locate(A, a0, a_st, geo, g, row0 + r, k0 + k)
                        pa[s] = a[where] if where >= 0 else zero
                    for s in range(LB):
                        e = tid + s * THREADS
                        k, col = (e % BK, e // BK) if B_K else (e // BN, e % BN)
                        where = -1
                        if k0 + k < k_end and col0 + col < N:
                            where = locate(B, b0, b_st, geo, g, k0 + k, col0 + col)
                        pb[s] = b[where] if where >= 0 else zero
                if k0 > k_first:  # multiply the slice loaded last time
                    ubuf = U(buf)
                    for k in range(U_BK):
                        for i in range(U_HM):
                            ra[i] = sa[ubuf, k, uty * U_HM + i]
                            ra[U_HM + i] = sa[ubuf, k, U_HALF_M + uty * U_HM + i]
                        for j in range(U_HN):
                            rb[j] = sb[ubuf, k, utx * U_HN + j]
                            rb[U_HN + j] = sb[ubuf, k, U_HALF_N + utx * U_HN + j]
                        for i in range(TM):
                            for j in range(TN):
                                acc[i, j] += ra[i] * rb[j]
                    buf = 1 - buf
                if k0 < k_end:
                    for s in range(LA):
                        e = tid + s * THREADS
                        r, k = (e % BM, e // BM) if not A_K else (e // BK, e % BK)
                        sa[buf, k, r] = pa[s]
                    for s in range(LB):
                        e = tid + s * THREADS
                        k, col = (e % BK, e // BK) if B_K else (e // BN, e % BN)
                        sb[buf, k, col] = pb[s]
                cuda.syncthreads()
            # Where each of the thread's rows and columns lands (-1: outside C), then one
            # store per output: simple enough for the compiler to keep acc in registers.
            for i in range(TM):
                row = row0 + (ty * HM + i if i < HM else BM // 2 + ty * HM + i - HM)
                ra[i] = zero
                where_row[i] = -1
                if row < M:
                    if C == DENSE_OUT:
                        where_row[i] = c0 + (task * M + row) * N
                    else:
                        where_row[i] = c0 + (g * M + row) * pixels
                    if C == NCHW_BIAS:
                        ra[i] = bias[bias0 + g * M + row]
            for j in range(TN):
                col = col0 + (tx * HN + j if j < HN else BN // 2 + tx * HN + j - HN)
                where_col[j] = -1
                if col < N:
                    where_col[j] = col if C == DENSE_OUT else (col // pixels) * groups * M * pixels + col % pixels
            for i in range(TM):
                for j in range(TN):
                    if where_row[i] >= 0 and where_col[j] >= 0:
                        c[where_row[i] + where_col[j]] = acc[i, j] + ra[i]

    gemm.variant = (dtype, a_kind, b_kind, c_kind, a_along_k, b_along_k)  # for tests/ptx.py: all but the tiles
    return gemm, THREADS


@functools.cache
def multiprocessors():
    return cuda.get_current_device().MULTIPROCESSOR_COUNT


def _blocks(tiles, batches, M, N):
    return batches * math.ceil(M / tiles[0]) * math.ceil(N / tiles[1])


def tiles_for(batches, M, N):
    """The largest tile that still gives every SM a block (the smallest when none does)."""
    if SIMULATED:
        return SIMULATOR
    return next((t for t in GPU_TILES[:-1] if _blocks(t, batches, M, N) >= multiprocessors()), SMALL)


def splits_for(tiles, batches, M, N, K):
    """Into how many parts to split K: enough for two blocks per SM, none shorter than MIN_SPLIT."""
    blocks, busy = _blocks(tiles, batches, M, N), 2 * (1 if SIMULATED else multiprocessors())
    if SIMULATED or blocks >= busy:
        return 1
    return max(1, min(math.ceil(busy / blocks), K // MIN_SPLIT))


def product(a, b, groups, M, N, K, dtype, out=None, out_kind=DENSE_OUT, geo=NO_GEO, bias=None, tiles=None,
            splits=None):
    """C[g] = A[g] @ B[g] for the operands a (M x K) and b (K x N) of each of `groups` groups.

    The result goes into `out` (as `out_kind` lays it out), or into a new contiguous
    (groups, M, N) array; with K split into parts (dense results only), the parts' partial
    products are added up by a reduction."""
    tiles = tiles or tiles_for(groups, M, N)
    if out is not None or out_kind != DENSE_OUT:
        splits = 1
    splits = splits or splits_for(tiles, groups, M, N, K)
    if out is None:
        out = CudaArray.empty((groups, splits, M, N) if splits > 1 else (groups, M, N), dtype)
    if groups * M * N == 0:
        return out.reshape(groups, M, N) if out_kind == DENSE_OUT else out
    kernel, threads = gemm_kernel(tiles, np.dtype(dtype), a.kind, b.kind, out_kind, a.along_k, b.along_k)
    tasks = groups * splits
    blocks = (math.ceil(N / tiles[1]), math.ceil(M / tiles[0]), min(tasks, MAX_BATCH_BLOCKS))
    bias = out if bias is None else bias  # never read without NCHW_BIAS: any array of the dtype will do
    launch(kernel, blocks, threads, tasks, splits, math.ceil(K / splits), M, N, K, out.buf, out.offset,
           a.buf, a.offset, a.strides, b.buf, b.offset, b.strides, tuple(geo), bias.buf, bias.offset)
    return out.sum(axis=1) if splits > 1 else out
