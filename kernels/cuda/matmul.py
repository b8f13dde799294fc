"""Matrix product on the GPU: `matmul(a, b)` takes arrays of shape (B, M, K) and (B, K, N),
any strides (a transposed or broadcast view costs no copy), and returns a new contiguous
(B, M, N) array, like the CPU kernel of the same name. The kernel is gemm.py's tiled
product; a small product over a long K (a weight gradient summing over many rows) is split
along K so that the GPU has enough blocks, and the parts are then added up.
"""
import numpy as np

from .gemm import dense, product


def matmul(a, b, tiles=None, splits=None, out=None):
    """(B, M, K) @ (B, K, N) -> (B, M, N), accumulating in the inputs' dtype; `out`, a
    contiguous (B, M, N) array, receives the result instead of a new one."""
    batches, M, K = a.shape
    N = b.shape[2]
    dtype = np.result_type(a.dtype, b.dtype)
    if out is not None and (out.shape != (batches, M, N) or out.dtype != dtype or not out.is_contiguous):
        raise ValueError(f"matmul: out must be a contiguous {dtype} array of shape {(batches, M, N)}, got {out!r}")
    return product(dense(a, 2), dense(b, 1), batches, M, N, K, dtype, out=out, tiles=tiles, splits=splits)
