"""Matrix product on the CPU: every product goes to BLAS through `np.dot` inside @njit.

`matmul(a, b)` takes C-contiguous float arrays of shape (B, M, K) and (B, K, N) and
returns (B, M, N). The loop over the batch is a plain serial loop: BLAS brings its own
threads, and a `prange` around it would fight BLAS's pool for the 2 cores.
"""
import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def _bmm(a, b, out):
    for i in range(a.shape[0]):
        np.dot(a[i], b[i], out[i])
    return out


def matmul(a, b):
    if a.dtype != b.dtype or a.dtype.kind != "f":
        return np.matmul(a, b)  # integer or mixed products: rare, and BLAS has no kernel for them
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)
    if a.shape[1] == 0 or b.shape[2] == 0:
        return out
    if a.shape[2] == 0:
        out[...] = 0
        return out
    return _bmm(_plain(a), _plain(b), out)


def _plain(a):
    """A C-contiguous, writable array: Numba compiles read-only arrays (such as NumPy's
    broadcast views) as a separate signature, so one layout keeps one compiled kernel."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
