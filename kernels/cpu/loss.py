"""Cross-entropy over rows of class scores, forward and backward (tinygrad_nb/ops/loss.py has
the formulas). NumPy's vectorised passes; kernels/cuda/loss.py is the GPU's single launch."""
import numpy as np


def _rows(x, labels, weight, ignore):
    """The class weights, the rows that count (a class label, not ignore), each row's class
    weight w_{t_i} (0 where it does not count), its label made safe to index with, and the
    rows whose label is neither ignore nor a class (their loss is NaN)."""
    classes = x.shape[1]
    w = np.ones(classes, x.dtype) if weight is None else weight
    kept = labels != ignore
    bad = kept & ((labels < 0) | (labels >= classes))
    live = kept & ~bad
    safe = np.where(live, labels, 0)
    return w, live, np.where(live, w[safe], 0).astype(x.dtype), safe, bad


def cross_entropy(x, labels, weight, ignore, smoothing, mode):
    """x (R, C), labels (R,) -> (loss: (R,) for mode 0 'none', () for 1 'mean' and 2 'sum',
    logsumexp of each row, [W, sum_c w_c])."""
    rows, classes = x.shape
    top = x.max(axis=1, keepdims=True) if classes else np.zeros((rows, 1), x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):  # +inf, NaN: NaN as in PyTorch, without NumPy's warning
        lse = (top + np.log(np.exp(x - top).sum(axis=1, keepdims=True)))[:, 0]
        logp = x - lse[:, None]
    w, live, w_row, safe, bad = _rows(x, labels, weight, ignore)
    loss = -(1 - smoothing) * w_row * logp[np.arange(rows), safe]
    if smoothing:
        loss = loss - (smoothing / classes) * np.where(live, (logp * w).sum(axis=1), 0)
    loss = np.where(bad, np.nan, loss).astype(x.dtype)
    totals = np.array([w_row.sum(), w.sum()], np.float64)
    if mode == 0:
        return loss, lse, totals
    total = loss.sum(dtype=np.float64)
    return np.asarray(total / totals[0] if mode == 1 else total, x.dtype), lse, totals


def cross_entropy_backward(g, x, labels, weight, lse, totals, ignore, smoothing, mode):
    rows, classes = x.shape
    w, live, w_row, safe, bad = _rows(x, labels, weight, ignore)
    scale = g.reshape(-1).astype(np.float64) if mode == 0 else np.full(rows, float(g) / (totals[0] if mode == 1 else 1))
    a = -(smoothing / classes) * np.broadcast_to(w, x.shape).astype(np.float64) * live[:, None]
    a[np.arange(rows), safe] -= (1 - smoothing) * w_row
    total_a = -(1 - smoothing) * w_row - (smoothing / classes) * totals[1] * live
    with np.errstate(invalid="ignore"):
        softmax = np.exp(x - lse[:, None])
    dx = scale[:, None] * (a - softmax * total_a[:, None])
    dx[bad] = np.nan
    return dx.astype(x.dtype)
