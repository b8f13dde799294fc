"""Picking one entry per row, the gather of the classification losses: y_i = x[i, t_i].

Rows whose index is `ignore` give 0 (they carry no loss); an index outside [0, C) gives NaN,
so a bad label is visible in the loss rather than read from another row."""
import numpy as np


def take_rows(x, labels, ignore):
    """x (R, C), labels (R,) integers -> (R,) with x[i, labels[i]]."""
    rows, classes = x.shape
    valid = (labels >= 0) & (labels < classes)
    out = x[np.arange(rows), np.where(valid, labels, 0)]
    out = np.where(valid, out, np.nan).astype(x.dtype, copy=False)
    out[labels == ignore] = 0
    return out


def take_rows_backward(g, labels, ignore, classes):
    """The gradient of take_rows: (R, C) zeros with g_i at (i, labels[i])."""
    dx = np.zeros((g.shape[0], classes), g.dtype)
    valid = (labels >= 0) & (labels < classes) & (labels != ignore)
    dx[np.nonzero(valid)[0], labels[valid]] = g[valid]
    return dx
