"""Cross-entropy on the GPU: the forward pass in one launch, the backward in one launch
(tinygrad_nb/ops/loss.py has the formulas; kernels/cpu/loss.py is the CPU's twin).

The forward runs as a single block: each thread takes rows (max, sum of exponentials,
logsumexp, the row's loss), then the block adds the losses and the weights up in shared
memory and writes the reduced loss, so 'mean' and 'sum' need no second launch. The backward
is elementwise: dx_ij from the row's saved logsumexp and label.
"""
import math

import numpy as np

from . import memory
from .array import CudaArray
from .elementwise import exp, log
from .launch import THREADS, cuda, grid, launch

NONE, MEAN, SUM = range(3)


@cuda.jit(device=True)
def _weight(weight, has_weight, c):
    return weight[c] if has_weight else 1.0


@cuda.jit(cache=True)
def cross_entropy_kernel(rows, classes, x, x0, xs, labels, l0, weight, has_weight, ignore, smoothing, mode, out,
                         lse, totals, nan):
    losses = cuda.shared.array(THREADS, np.float64)
    weights = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    loss_sum, weight_sum = 0.0, 0.0
    for i in range(t, rows, THREADS):
        row = x0 + i * xs[0]
        top = -math.inf
        for c in range(classes):
            v = x[row + c * xs[1]]
            if v > top or v != v:
                top = v
        total = 0.0
        for c in range(classes):
            total += exp(x[row + c * xs[1]] - top)
        norm = top + log(total)
        lse[i] = norm
        label = labels[l0 + i]
        loss, w_row = 0.0, 0.0
        if label != ignore:
            if label < 0 or label >= classes:
                loss, w_row = nan, 1.0
            else:
                w_row = _weight(weight, has_weight, label)
                loss = -(1.0 - smoothing) * w_row * (x[row + label * xs[1]] - norm)
                if smoothing != 0.0:
                    spread = 0.0
                    for c in range(classes):
                        spread += _weight(weight, has_weight, c) * (x[row + c * xs[1]] - norm)
                    loss -= smoothing / classes * spread
        if mode == NONE:
            out[i] = loss
        loss_sum += loss
        weight_sum += w_row
    losses[t], weights[t] = loss_sum, weight_sum
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if t < step:
            losses[t] += losses[t + step]
            weights[t] += weights[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        all_classes = 0.0
        for c in range(classes):
            all_classes += _weight(weight, has_weight, c)
        totals[0], totals[1] = weights[0], all_classes
        if mode == MEAN:
            out[0] = losses[0] / weights[0]
        elif mode == SUM:
            out[0] = losses[0]


@cuda.jit(cache=True)
def cross_entropy_backward_kernel(n, classes, g, g0, gs, x, x0, xs, labels, l0, weight, has_weight, ignore, smoothing,
                                  mode, lse, totals, dx, nan):
    for e in range(cuda.grid(1), n, cuda.gridsize(1)):
        i, c = e // classes, e % classes
        label = labels[l0 + i]
        if label == ignore:
            dx[e] = 0.0
        elif label < 0 or label >= classes:
            dx[e] = nan
        else:
            scale = g[g0 + i * gs] if mode == NONE else (g[g0] / totals[0] if mode == MEAN else g[g0])
            w_row = _weight(weight, has_weight, label)
            a = -(smoothing / classes) * _weight(weight, has_weight, c)
            if c == label:
                a -= (1.0 - smoothing) * w_row
            total_a = -(1.0 - smoothing) * w_row - (smoothing / classes) * totals[1]
            softmax = exp(x[x0 + i * xs[0] + c * xs[1]] - lse[i])
            dx[e] = scale * (a - softmax * total_a)


def _weight_args(weight, dtype):
    if weight is None:
        return memory.stand_in(dtype), False
    return (weight if weight.is_contiguous and weight.offset == 0 else weight.copy()).buf, True


def cross_entropy(x, labels, weight, ignore, smoothing, mode):
    """x (R, C), labels (R,) -> (loss: (R,) for mode NONE, () for MEAN and SUM, logsumexp of
    each row, [W, sum_c w_c]), in one launch."""
    rows, classes = x.shape
    out = CudaArray.empty((rows,) if mode == NONE else (), x.dtype)
    lse, totals = CudaArray.empty((rows,), np.float64), CudaArray.empty((2,), np.float64)
    w, has_weight = _weight_args(weight, x.dtype)
    launch(cross_entropy_kernel, 1, THREADS, rows, classes, x.buf, x.offset, x.strides, labels.buf, labels.offset, w,
           has_weight, labels.dtype.type(ignore), float(smoothing), mode, out.buf, lse.buf, totals.buf,
           x.dtype.type("nan"))
    return out, lse, totals


def cross_entropy_backward(g, x, labels, weight, lse, totals, ignore, smoothing, mode):
    rows, classes = x.shape
    dx = CudaArray.empty((rows, classes), x.dtype)
    if dx.size:
        w, has_weight = _weight_args(weight, x.dtype)
        launch(cross_entropy_backward_kernel, *grid(dx.size), dx.size, classes, g.buf, g.offset,
               g.strides[0] if g.ndim else 0, x.buf, x.offset, x.strides, labels.buf, labels.offset, w, has_weight,
               labels.dtype.type(ignore), float(smoothing), mode, lse.buf, totals.buf, dx.buf, x.dtype.type("nan"))
    return dx
