"""One sparse matrix applied along one axis of an array, on the GPU (kernels/cpu/resample.py
has the formula): one launch, one thread per output element, which sums its row of the
matrix; the matrix's CSR tables are uploaded once per table."""
import functools

import numpy as np

from ..shapes import around_axis
from .array import CudaArray
from .launch import cuda, grid, launch


@cuda.jit(cache=True)
def along_kernel(total, x, x0, ptr, col, val, dims, y, zero):
    """y[a, o, b] = sum_j val[j] x[a, col[j], b] over j in [ptr[o], ptr[o+1]); x (from offset
    x0) and y contiguous."""
    n_in, rows, inner = dims
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        b, o, a = e % inner, (e // inner) % rows, e // (inner * rows)
        acc = zero
        for j in range(ptr[o], ptr[o + 1]):
            acc += val[j] * x[x0 + (a * n_in + col[j]) * inner + b]
        y[e] = acc


@functools.lru_cache(maxsize=256)
def _tables(ptr, col, val, dtype):
    return (cuda.to_device(np.frombuffer(ptr, np.int64)), cuda.to_device(np.frombuffer(col, np.int64)),
            cuda.to_device(np.frombuffer(val, np.float64).astype(dtype)))


def along_axis(x, axis, ptr, col, val):
    shape = x.shape
    rows = len(ptr) - 1
    out = CudaArray.empty(shape[:axis] + (rows,) + shape[axis + 1:], x.dtype)
    if out.size:
        x = x.contiguous()
        _, along, inner = around_axis(shape, axis)
        tables = _tables(np.asarray(ptr, np.int64).tobytes(), np.asarray(col, np.int64).tobytes(),
                         np.asarray(val, np.float64).tobytes(), np.dtype(x.dtype))
        launch(along_kernel, *grid(out.size), out.size, x.buf, x.offset, *tables, (along, rows, inner), out.buf,
               x.dtype.type(0))
    return out
