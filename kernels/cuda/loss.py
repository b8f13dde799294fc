"""The losses on the GPU (tinygrad_nb/ops/loss.py has the formulas; kernels/cpu/loss.py is the
CPU's twin).

Cross-entropy: the forward pass in one launch, the backward in one launch. The forward runs
as a single block: each thread takes rows (max, sum of exponentials, logsumexp, the row's
loss), then the block adds the losses and the weights up in shared memory and writes the
reduced loss, so 'mean' and 'sum' need no second launch. The backward is elementwise: dx_ij
from the row's saved logsumexp and label.

The element-wise losses: kernels made from their rules (kernels/loss_rules.py), as
activation.py makes the activations'. Unreduced, the forward pass is one elementwise launch;
reduced, it is two: every block adds its elements' losses up in shared memory (in float64),
then one block adds the blocks' sums and writes the loss. The backward is one elementwise
launch for dx and dt together.
"""
import functools
import math

import numpy as np

from ..activations import bind
from ..loss_rules import RULES as LOSSES
from ..loss_rules import specialise
from . import elementwise as ew
from . import memory
from .activation import SCALAR
from .array import CudaArray
from .elementwise import exp, log
from .launch import THREADS, cuda, grid, launch
from .reduce import block_sum

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


# ---- the element-wise losses ------------------------------------------------------------
# The rules' names for one element: the activations' device functions, and log.
LOSS_SCALAR = {**SCALAR, "log": ew.log}


def _loss(a, n, shape, out, o0, os, x, x0, xs, t, t0, ts):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        xi, ti = x[ew.offset(i, shape, xs, x0)], t[ew.offset(i, shape, ts, t0)]
        out[ew.offset(i, shape, os, o0)] = loss(xi, ti, a)  # noqa: F821


def _loss_flat(a, n, out, o0, os, x, x0, xs, t, t0, ts):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = loss(x[x0 + i * xs], t[t0 + i * ts], a)  # noqa: F821


def _loss_sums(a, n, shape, x, x0, xs, t, t0, ts, sums):
    """sums[b] = the losses of the elements block b strides over, added up."""
    cache = cuda.shared.array(THREADS, np.float64)
    k = cuda.threadIdx.x
    total = 0.0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        total += loss(x[ew.offset(i, shape, xs, x0)], t[ew.offset(i, shape, ts, t0)], a)  # noqa: F821
    cache[k] = total
    block_sum(cache, k)
    if k == 0:
        sums[cuda.blockIdx.x] = cache[0]


@cuda.jit(cache=True)
def loss_total_kernel(sums, blocks, share, out):
    """out[0] = share * (sums[0] + ... + sums[blocks - 1]), in one block."""
    cache = cuda.shared.array(THREADS, np.float64)
    k = cuda.threadIdx.x
    total = 0.0
    for b in range(k, blocks, THREADS):
        total += sums[b]
    cache[k] = total
    block_sum(cache, k)
    if k == 0:
        out[0] = share * cache[0]


# The backward kernels take op = (a, share, want_x, want_t): share scales g (1 / n for a mean),
# and a gradient no one asked for is not written (its slot holds the other one's array).
def _gradients(op, n, shape, dx, dx0, dxs, dt, dt0, dts, g, g0, gs, x, x0, xs, t, t0, ts):
    a, share, want_x, want_t = op
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        s = share * g[ew.offset(i, shape, gs, g0)]
        xi, ti = x[ew.offset(i, shape, xs, x0)], t[ew.offset(i, shape, ts, t0)]
        if want_x:
            dx[ew.offset(i, shape, dxs, dx0)] = s * d_input(xi, ti, a)  # noqa: F821
        if want_t:
            dt[ew.offset(i, shape, dts, dt0)] = s * d_target(xi, ti, a)  # noqa: F821


def _gradients_flat(op, n, dx, dx0, dxs, dt, dt0, dts, g, g0, gs, x, x0, xs, t, t0, ts):
    a, share, want_x, want_t = op
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        s = share * g[g0 + i * gs]
        xi, ti = x[x0 + i * xs], t[t0 + i * ts]
        if want_x:
            dx[dx0 + i * dxs] = s * d_input(xi, ti, a)  # noqa: F821
        if want_t:
            dt[dt0 + i * dts] = s * d_target(xi, ti, a)  # noqa: F821


def _compiled(kernel):
    """The kernel, compiled. It joins the module under its name, as a kernel defined here would
    (the debug trace and the PTX check look for kernels there)."""
    compiled = globals()[kernel.__name__] = cuda.jit(cache=True)(kernel)
    return compiled


@functools.lru_cache(maxsize=None)
def _loss_kernels(name):
    """(forward, sums, backward) kernels of the loss rule `name`; the flat twins of forward and
    backward join ew.FLAT."""
    device = {field: cuda.jit(device=True)(bind(fn, LOSS_SCALAR)) for field, fn in LOSSES[name]._asdict().items()}
    grads = {"d_input": device["d_input"], "d_target": device["d_target"]}
    forward = _compiled(specialise(_loss, f"{name}_loss_kernel", loss=device["loss"]))
    ew.FLAT[forward] = _compiled(specialise(_loss_flat, f"{name}_loss_flat_kernel", loss=device["loss"]))
    sums = _compiled(specialise(_loss_sums, f"{name}_loss_sums_kernel", loss=device["loss"]))
    backward = _compiled(specialise(_gradients, f"{name}_loss_backward_kernel", **grads))
    ew.FLAT[backward] = _compiled(specialise(_gradients_flat, f"{name}_loss_backward_flat_kernel", **grads))
    return forward, sums, backward


def __getattr__(name):
    """A kernel made from a loss rule, by its name, in a process that has not used it yet (the
    PTX check compiles the kernels the tests launched, in a process of its own)."""
    for rule in LOSSES:
        _loss_kernels(rule)
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _share(mode, n):
    """What each element's loss counts for in the reduced loss: 1 / n for MEAN (the mean of no
    elements is NaN, as in PyTorch), else 1."""
    if mode != MEAN:
        return 1.0
    return 1.0 / n if n else math.nan


def pointwise_loss(rule, x, t, a, mode):
    """The loss `rule` of kernels/loss_rules.py of each element of x (targets t, of x's shape
    and dtype, parameter a): -> those losses (mode NONE), their mean or sum (of x's dtype)."""
    forward, sums, _ = _loss_kernels(rule)
    if mode == NONE:
        out = CudaArray.empty(x.shape, x.dtype)
        ew.run(forward, out, x, t, op=float(a))
        return out
    out = CudaArray.empty((), x.dtype)
    shape, (xs, ts) = ew.collapse(x.shape, [x.strides, t.strides])
    blocks = max(grid(x.size)[0], 1)  # one block at least, which writes the loss of no elements
    partial = CudaArray.empty((blocks,), np.float64)
    launch(sums, blocks, THREADS, float(a), x.size, shape, x.buf, x.offset, xs, t.buf, t.offset, ts, partial.buf)
    launch(loss_total_kernel, 1, THREADS, partial.buf, blocks, _share(mode, x.size), out.buf)
    return out


def pointwise_loss_backward(rule, g, x, t, a, mode, want_x, want_t):
    """(dx, dt) from the gradient g of pointwise_loss's result; None for one not wanted."""
    dx, dt = (CudaArray.empty(x.shape, x.dtype) if wanted else None for wanted in (want_x, want_t))
    g = g if mode == NONE else g.broadcast_to(x.shape)
    op = (float(a), _share(mode, x.size), want_x, want_t)
    ew.run(_loss_kernels(rule)[2], dx if want_x else dt, dt if want_t else dx, g, x, t, op=op)
    return dx, dt
