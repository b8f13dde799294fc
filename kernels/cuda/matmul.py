"""Matrix product on the GPU: shared-memory tiles with register blocking.

`matmul(a, b)` takes arrays of shape (B, M, K) and (B, K, N), any strides, and returns a
new contiguous (B, M, N) array, like the CPU kernel of the same name.

Each block computes a BM x BN tile of C. It walks K in steps of BK: the threads copy a
BM x BK slab of A and a BK x BN slab of B into shared memory, then each thread multiplies
its TM x TN sub-tile out of registers: per step of k it loads TM values of A and TN of B
and does TM * TN multiply-adds, so shared-memory traffic per flop drops by a factor of
about TM*TN/(TM+TN) against one output per thread (the plain 16x16 tile). Large products
use 128 x 128 tiles with 8 x 8 per thread; small ones, which would leave most of the GPU
idle with so few tiles, use 32 x 32 tiles. A small product over a long K (a convolution's
weight gradient sums over every pixel of the batch) is also split along K: separate
blocks compute partial products that a reduction then adds up.
"""
import functools
import math

import numba
import numpy as np

from .array import CudaArray
from .launch import SIMULATED, cuda, launch

# (BM, BN, BK, TM, TN): tile of C per block, depth of a K step, sub-tile per thread.
LARGE = (128, 128, 8, 8, 8)
SMALL = (32, 32, 8, 2, 2)
SIMULATOR = (8, 8, 4, 2, 2)  # 16 threads: every simulated thread is a Python thread
MAX_BATCH_BLOCKS = 65535  # grid's z extent
BUSY = 264  # blocks that keep an H100 busy: two per SM
MIN_SPLIT = 512  # the shortest stretch of K worth a block of its own


@functools.lru_cache(maxsize=None)
def gemm_kernel(tiles, dtype):
    """The kernel for one tile configuration, accumulating in `dtype`."""
    BM, BN, BK, TM, TN = tiles
    COLS = BN // TN  # threads along a tile row
    THREADS = (BM // TM) * COLS
    acc_type = numba.from_dtype(dtype)

    @cuda.jit(cache=True)
    def gemm(tasks, splits, chunk, M, N, K, c, c0, a, a0, a_st, b, b0, b_st):
        sa = cuda.shared.array((BK, BM), acc_type)  # A's slab, transposed: a thread's TM values are adjacent
        sb = cuda.shared.array((BK, BN), acc_type)
        acc = cuda.local.array((TM, TN), acc_type)
        ra = cuda.local.array(TM, acc_type)
        rb = cuda.local.array(TN, acc_type)
        tid = cuda.threadIdx.x
        ty, tx = tid // COLS, tid % COLS
        row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
        for task in range(cuda.blockIdx.z, tasks, cuda.gridDim.z):  # task = (batch, part of K)
            batch = task // splits
            k_first = (task % splits) * chunk
            k_end = min(K, k_first + chunk)
            a_start, b_start = a0 + batch * a_st[0], b0 + batch * b_st[0]
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] = 0
            for k0 in range(k_first, k_end, BK):
                for e in range(tid, BM * BK, THREADS):  # neighbouring threads read neighbouring k
                    r, k = e // BK, e % BK
                    inside = row0 + r < M and k0 + k < k_end
                    sa[k, r] = a[a_start + (row0 + r) * a_st[1] + (k0 + k) * a_st[2]] if inside else 0
                for e in range(tid, BK * BN, THREADS):  # neighbouring threads read neighbouring columns
                    k, col = e // BN, e % BN
                    inside = k0 + k < k_end and col0 + col < N
                    sb[k, col] = b[b_start + (k0 + k) * b_st[1] + (col0 + col) * b_st[2]] if inside else 0
                cuda.syncthreads()
                for k in range(BK):
                    for i in range(TM):
                        ra[i] = sa[k, ty * TM + i]
                    for j in range(TN):
                        rb[j] = sb[k, tx * TN + j]
                    for i in range(TM):
                        for j in range(TN):
                            acc[i, j] += ra[i] * rb[j]
                cuda.syncthreads()
            for i in range(TM):
                row = row0 + ty * TM + i
                for j in range(TN):
                    col = col0 + tx * TN + j
                    if row < M and col < N:
                        c[c0 + (task * M + row) * N + col] = acc[i, j]

    return gemm, THREADS


def tiles_for(batches, M, N):
    """The tile configuration: large tiles when they still give the GPU enough blocks."""
    if SIMULATED:
        return SIMULATOR
    large_blocks = batches * math.ceil(M / LARGE[0]) * math.ceil(N / LARGE[1])
    return LARGE if large_blocks >= BUSY else SMALL


def splits_for(tiles, batches, M, N, K):
    """Into how many parts to split K: enough to fill the GPU, none shorter than MIN_SPLIT."""
    blocks = batches * math.ceil(M / tiles[0]) * math.ceil(N / tiles[1])
    if SIMULATED or blocks >= BUSY:
        return 1
    return max(1, min(math.ceil(BUSY / blocks), K // MIN_SPLIT))


def matmul(a, b, tiles=None, splits=None, out=None):
    """(B, M, K) @ (B, K, N) -> (B, M, N), accumulating in the inputs' dtype; `out`, a
    contiguous (B, M, N) array, receives the result instead of a new one."""
    batches, M, K = a.shape
    N = b.shape[2]
    dtype = np.result_type(a.dtype, b.dtype)
    tiles = tiles or tiles_for(batches, M, N)
    if out is not None:
        if out.shape != (batches, M, N) or out.dtype != dtype or not out.is_contiguous:
            raise ValueError(f"matmul: out must be a contiguous {dtype} array of shape {(batches, M, N)}, got {out!r}")
        splits = 1
    splits = splits or splits_for(tiles, batches, M, N, K)
    if out is None:
        out = CudaArray.empty((batches, splits, M, N) if splits > 1 else (batches, M, N), dtype)
    if out.size == 0:
        return out.reshape(batches, M, N)
    kernel, threads = gemm_kernel(tiles, dtype)
    tasks = batches * splits
    blocks = (math.ceil(N / tiles[1]), math.ceil(M / tiles[0]), min(tasks, MAX_BATCH_BLOCKS))
    chunk = math.ceil(K / splits)
    launch(kernel, blocks, threads, tasks, splits, chunk, M, N, K, out.buf, out.offset, a.buf, a.offset, a.strides,
           b.buf, b.offset, b.strides)
    return out.sum(axis=1) if splits > 1 else out
