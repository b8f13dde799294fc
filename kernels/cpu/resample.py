"""One sparse matrix applied along one axis of an array, on the CPU: the kernel behind every
resampling (F.interpolate's modes, adaptive averaging). The matrix M (rows = output
positions, columns = input positions) comes in CSR form, `ptr` (rows + 1), `col` and `val`:

    y[a, o, b] = sum_{j = ptr[o]}^{ptr[o+1] - 1} val[j] x[a, col[j], b]

for x viewed as (A, n_in, B) around the axis. Its gradient is the same kernel with M's
transpose, so one kernel serves both directions, and each output is written by one thread
(no scatter, the same sums in the same order on every run)."""
import numpy as np
from numba import njit, prange

from ..shapes import around_axis


@njit(cache=True, fastmath=False, parallel=True)
def _along(x, ptr, col, val, y):
    outer, rows, inner = y.shape
    for a in prange(outer):
        for o in range(rows):
            for b in range(inner):
                y[a, o, b] = 0
            for j in range(ptr[o], ptr[o + 1]):
                w, src = val[j], col[j]
                for b in range(inner):
                    y[a, o, b] += w * x[a, src, b]
    return y


def along_axis(x, axis, ptr, col, val):
    """x with axis `axis` (of length M's columns) replaced by M's rows: y = M applied along it."""
    shape = x.shape
    outer, along, inner = around_axis(shape, axis)
    x3 = np.ascontiguousarray(x).reshape(outer, along, inner)
    y = np.empty((outer, len(ptr) - 1, inner), x.dtype)
    _along(x3, ptr, col, val.astype(x.dtype), y)
    return y.reshape(shape[:axis] + (len(ptr) - 1,) + shape[axis + 1:])
