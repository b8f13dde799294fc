"""Gathers by integer ids on the CPU: one entry per row (the classification losses' pick,
y_i = x[i, t_i]) and whole rows (the embedding lookup, y = W[ids]), with their gradients.

In take_rows, rows whose index is `ignore` give 0 (they carry no loss) and an index outside
[0, C) gives NaN, so a bad label is visible in the loss rather than read from another row."""
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


def embedding(weight, ids, wrap=False):
    """weight (V, D), integer ids of any shape -> out (*ids.shape, D): out[..., :] = weight[id].
    NumPy counts negative ids from the end, which `wrap` asks for (the callers check the range)."""
    return weight[ids]


def embedding_backward(g, ids, rows, wrap=False):
    """dW (rows, D): each row of g added at its id's row, repeated ids adding up."""
    dw = np.zeros((rows, g.shape[-1]), g.dtype)
    np.add.at(dw, ids.reshape(-1), g.reshape(-1, g.shape[-1]))
    return dw
