"""Resampling along one axis as a linear map: y = M x along the axis, for a fixed sparse
matrix M (rows: output positions, columns: input positions) made on the host. Every mode
of F.interpolate is such a map per axis (nearest: one 1 per row; linear: two weights;
cubic: four; area: an average), applied axis after axis. Being linear, its gradient is the
transposed map, and the gradient's gradient the map again."""
import functools

import numpy as np

from ..function import Function


class SparseMatrix:
    """M (rows x cols) from its entries (row, col, value), repeated entries added, kept in
    CSR form: row o's entries are col[ptr[o]:ptr[o+1]] with values val[ptr[o]:ptr[o+1]]."""

    def __init__(self, rows, cols, values, shape):
        keys, where = np.unique(np.asarray(rows, np.int64) * shape[1] + np.asarray(cols, np.int64), return_inverse=True)
        summed = np.zeros(len(keys))
        np.add.at(summed, where.reshape(-1), np.asarray(values, np.float64).reshape(-1))
        self.shape, self.entries = tuple(shape), (keys // shape[1], keys % shape[1], summed)
        self.ptr = np.searchsorted(self.entries[0], np.arange(shape[0] + 1)).astype(np.int64)
        self.col, self.val = self.entries[1], summed

    @functools.cached_property
    def T(self):
        rows, cols, values = self.entries
        return SparseMatrix(cols, rows, values, self.shape[::-1])


class AlongAxis(Function):
    """y[..., o, ...] = sum_i M[o, i] x[..., i, ...] along `axis`;   dx = M^T g along the same axis"""

    def forward(ctx, x, axis=None, matrix=None):
        ctx.axis, ctx.matrix = axis, matrix
        return ctx.backend.along_axis(x, axis, matrix.ptr, matrix.col, matrix.val)

    def backward(ctx, g):
        t = ctx.matrix.T
        return ctx.backend.along_axis(g, ctx.axis, t.ptr, t.col, t.val)

    def graph_backward(ctx, g):
        return AlongAxis.apply(g, axis=ctx.axis, matrix=ctx.matrix.T)
