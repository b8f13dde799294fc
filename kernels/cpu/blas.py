"""A general matrix product, C = alpha op(A) op(B) + beta C, on sub-matrices given by a
start and a row stride: BLAS's gemm, callable from inside @njit.

`np.dot(a, b, out)` covers whole contiguous arrays. Convolution wants more: a product over
a window of a larger array (rows a fixed stride apart, not contiguous as a block) and
products that add into their output (beta = 1) instead of writing a temporary. BLAS's
interface takes exactly that: a pointer, a leading dimension (the row stride) and beta.

We call the same BLAS entry point Numba's own np.dot calls, `numba_xxgemm` (it forwards to
SciPy's BLAS); it is found by name when the code loads, so functions using it still cache.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

_TRANS, _NO_TRANS = ord("t"), ord("n")


def _xxgemm(dtype):
    return types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char,                    # kind ('s'/'d'), trans of the two operands
        types.intp, types.intp, types.intp,                    # m, n, k
        types.CPointer(dtype), types.CPointer(dtype), types.intp,  # alpha, a, lda
        types.CPointer(dtype), types.intp,                     # b, ldb
        types.CPointer(dtype), types.CPointer(dtype), types.intp,  # beta, c, ldc
    ))


_sgemm, _dgemm = _xxgemm(types.float32), _xxgemm(types.float64)


def _call_blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS gemm on flat arrays; defined for @njit code by the overload below."""
    raise TypeError("_call_blas runs only inside @njit code")


@overload(_call_blas)
def _call_blas_typed(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    if c.dtype not in (types.float32, types.float64):
        return None
    blas, kind = (_sgemm, ord("s")) if c.dtype == types.float32 else (_dgemm, ord("d"))

    def impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        return blas(kind, ta, tb, m, n, k, alpha.ctypes, a.ctypes, lda, b.ctypes, ldb, beta.ctypes, c.ctypes, ldc)

    return impl


@njit(cache=True)
def gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """C = alpha op(A) op(B) + beta C in row-major terms, C (m, n), op(A) (m, k), op(B) (k, n).

    a, b, c are flat (1-D) arrays whose first element is the matrix's first element; lda,
    ldb, ldc are the row strides in elements; op(X) = X^T when trans_x. BLAS is column-major,
    and a row-major matrix read column-major is its transpose, so we ask BLAS for
    C^T = op(B)^T op(A)^T, which it writes as C in row-major order."""
    scale = np.empty(2, c.dtype)
    scale[0], scale[1] = alpha, beta
    status = _call_blas(_TRANS if trans_b else _NO_TRANS, _TRANS if trans_a else _NO_TRANS,
                        n, m, k, scale[0:1], b, ldb, a, lda, scale[1:2], c, ldc)
    if status != 0:
        raise RuntimeError("gemm: BLAS is not available (SciPy's BLAS is needed)")
