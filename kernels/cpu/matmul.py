"""Matrix product on the CPU: every product goes to BLAS (`gemm`), shared out over Numba's threads.

`matmul(a, b)` takes float arrays of shape (B, M, K) and (B, K, N) and returns (B, M, N).
BLAS runs single-threaded (see threads.py), so the kernel splits the work itself: over the
batch when there are enough matrices, else each product into blocks of rows of the
output (or of columns, when there are few rows), one block per thread.

An operand that is the transpose of a C-contiguous array (as `x @ W.T` in a linear layer,
and the products of every backward pass) goes to BLAS as it is, with its transpose flag
set, instead of being copied.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .buffers import empty
from .threads import numba_threads, threads_for_kernels


@njit(cache=True, fastmath=False, parallel=True)
def batched_products(a, trans_a, b, trans_b, out, blocks, split_rows):
    """out[i] = op(a[i]) @ op(b[i]), op = transpose when the flag is set; `blocks` parts per
    product, over rows of out when split_rows, else over its columns."""
    batch, m, n = out.shape
    k = a.shape[1] if trans_a else a.shape[2]
    af, bf, of = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    parts = m if split_rows else n
    for task in prange(batch * blocks):
        i, block = task // blocks, task % blocks
        lo, hi = block * parts // blocks, (block + 1) * parts // blocks
        if lo == hi:
            continue
        a_at, b_at, o_at = i * m * k, i * k * n, i * m * n
        rows, cols = (hi - lo, n) if split_rows else (m, hi - lo)
        if split_rows:  # rows lo..hi of op(a): row lo of a, or column lo of a stored transposed
            a_at += lo if trans_a else lo * k
            o_at += lo * n
        else:  # columns lo..hi of op(b): column lo of b, or row lo of b stored transposed
            b_at += lo * k if trans_b else lo
            o_at += lo
        gemm(trans_a, trans_b, rows, cols, k, 1.0, af[a_at:], m if trans_a else k,
             bf[b_at:], k if trans_b else n, 0.0, of[o_at:], n)
    return out


_SMALL = 64 * 64 * 64  # below this many multiply-adds one thread is quicker than two


def matmul(a, b):
    if a.dtype != b.dtype or a.dtype.kind != "f":
        return np.matmul(a, b)  # integer or mixed products: rare, and BLAS has no kernel for them
    batch, m, k = a.shape
    n = b.shape[2]
    out = empty((batch, m, n), a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        out[...] = 0
        return out
    (a, trans_a), (b, trans_b) = _as_blas_operand(a), _as_blas_operand(b)
    threads = threads_for_kernels()
    blocks = 1 if batch >= threads or m * n * k < _SMALL else threads
    with numba_threads():
        return batched_products(a, trans_a, b, trans_b, out, blocks, m >= n)


def _as_blas_operand(x):
    """(array, transposed): x itself when C-contiguous, the C-contiguous array x is the
    transpose of (flag set), else a copy. Always writable: Numba compiles read-only arrays
    (such as NumPy's broadcast views) as another signature, and one layout keeps one kernel."""
    if x.flags.c_contiguous and x.flags.writeable:
        return x, False
    xt = x.swapaxes(1, 2)
    if xt.flags.c_contiguous and xt.flags.writeable:
        return xt, True
    return np.array(x, order="C"), False
