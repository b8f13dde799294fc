"""The losses on the CPU (tinygrad_nb/ops/loss.py has the formulas; kernels/cuda/loss.py is the
GPU's twin): cross-entropy over rows of class scores, in NumPy's vectorised passes, and the
element-wise losses, compiled loops made from their rules (kernels/loss_rules.py)."""
import functools
import math

import numpy as np
from numba import njit, prange

from ..activations import bind
from ..loss_rules import RULES as LOSSES
from ..loss_rules import specialise
from .activation import SCALAR
from .buffers import empty
from .threads import numba_threads


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


# ---- the element-wise losses ------------------------------------------------------------
# Made from the rules of kernels/loss_rules.py (tinygrad_nb/ops/loss.py's PointwiseLoss has
# the formulas): each rule compiles into one parallel pass per direction, the forward one
# adding the losses up (in float64) as it goes, so a reduced loss never stores its elements.

NONE, MEAN, SUM = range(3)

# The rules' names for one element: the activations' compiled functions, and log.
LOSS_SCALAR = {**SCALAR, "log": math.log}


def _loss(x, t, a, out):
    """out[i] = loss(x[i], t[i], a) where out has room for it (mode 'none'); -> their sum."""
    keep = out.shape[0] > 0
    total = 0.0
    for i in prange(x.shape[0]):
        v = loss(x[i], t[i], a)  # noqa: F821  (bound by _loss_loops)
        if keep:
            out[i] = v
        total += v
    return total


def _loss_gradients(s, x, t, a, dx, dt):
    """dx[i] = s_i d_input(x[i], t[i], a) and dt[i] = s_i d_target(...), each where its array
    has room (a gradient no one asked for gets none); s holds one s_i per element, or one
    for all (a reduced loss)."""
    each, want_x, want_t = s.shape[0] > 1, dx.shape[0] > 0, dt.shape[0] > 0
    for i in prange(x.shape[0]):
        si = s[i] if each else s[0]
        if want_x:
            dx[i] = si * d_input(x[i], t[i], a)  # noqa: F821  (bound by _loss_loops)
        if want_t:
            dt[i] = si * d_target(x[i], t[i], a)  # noqa: F821


def _compiled(loop):
    """The loop, compiled. It joins the module under its name, as a kernel defined here would
    (the debug trace looks for kernels there)."""
    kernel = globals()[loop.__name__] = njit(cache=True, parallel=True)(loop)
    return kernel


@functools.lru_cache(maxsize=None)
def _loss_loops(name):
    """(forward, backward) compiled loops of the loss rule `name`."""
    scalar = {field: njit(inline="always")(bind(fn, LOSS_SCALAR)) for field, fn in LOSSES[name]._asdict().items()}
    return (_compiled(specialise(_loss, f"{name}_loss", loss=scalar["loss"])),
            _compiled(specialise(_loss_gradients, f"{name}_loss_backward", d_input=scalar["d_input"],
                                 d_target=scalar["d_target"])))


def _share(mode, n):
    """What each element's loss counts for in the reduced loss: 1 / n for 'mean' (the mean of
    no elements is NaN, as in PyTorch), else 1."""
    if mode != MEAN:
        return 1.0
    return 1.0 / n if n else math.nan


def pointwise_loss(rule, x, t, a, mode):
    """The loss `rule` of kernels/loss_rules.py of each element of x (targets t, of x's shape and
    dtype, parameter a): -> those losses (mode 0 'none'), their mean (1) or sum (2), of x's dtype."""
    out = empty(x.shape if mode == NONE else (0,), x.dtype)
    with numba_threads():
        total = _loss_loops(rule)[0](np.ravel(x), np.ravel(t), float(a), out.reshape(-1))
    return out if mode == NONE else np.asarray(total * _share(mode, x.size), x.dtype)


def pointwise_loss_backward(rule, g, x, t, a, mode, want_x, want_t):
    """(dx, dt) from the gradient g of pointwise_loss's result; None for one not wanted."""
    s = np.ravel(g).astype(x.dtype, copy=False) if mode == NONE else np.full(1, float(g) * _share(mode, x.size), x.dtype)
    dx, dt = (empty(x.shape if wanted else (0,), x.dtype) for wanted in (want_x, want_t))
    with numba_threads():
        _loss_loops(rule)[1](s, np.ravel(x), np.ravel(t), float(a), dx.reshape(-1), dt.reshape(-1))
    return (dx if want_x else None), (dt if want_t else None)
