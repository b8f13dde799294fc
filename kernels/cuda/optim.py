"""Multi-tensor optimiser steps on the GPU: one launch updates up to SLOTS parameters.

A launch's arguments are fixed in number, so a kernel takes its tensors as tuples of SLOTS
buffers (with their offsets); slots a group does not fill hold an empty stand-in of size 0.
A gradient may be a transposed view (a Linear layer's is): it is read through its strides,
seen as at most two axes (`layout`), rather than copied first.
The elements of all the tensors are numbered in one range, and each thread finds its tensor
by walking the sizes. Adam and RMSprop count their steps first, in a launch of their own:
every element of a tensor must read the same new count. The update rules are
kernels/optim_rules.py's, the same functions the CPU's kernels compile.
"""
import numpy as np

from .. import optim_rules as rules
from . import memory
from .elementwise import collapse
from .launch import cuda, grid, launch

SLOTS = 8

sgd_rule = cuda.jit(device=True)(rules.sgd)
adam_rule = cuda.jit(device=True)(rules.adam)
rmsprop_rule = cuda.jit(device=True)(rules.rmsprop)


@cuda.jit(device=True)
def _locate(sizes, i):
    """(tensor, element) of element i of the concatenated tensors."""
    k = 0
    while i >= sizes[k]:
        i -= sizes[k]
        k += 1
    return k, i


@cuda.jit(device=True)
def _at(j, g0, cols, row_step, col_step):
    """Where element j (in C order) of a gradient seen as (rows, cols) with these strides is."""
    return g0 + (j // cols) * row_step + (j % cols) * col_step


@cuda.jit(cache=True)
def count_kernel(n, steps, s0):
    k = cuda.grid(1)
    if k < n:
        steps[k][s0[k]] += 1.0


@cuda.jit(cache=True)
def sgd_kernel(total, sizes, ps, p0, gs, g0, gc, gr, gcs, bufs, lr, lr0, momentum, dampening, weight_decay, nesterov,
               first):
    for i in range(cuda.grid(1), total, cuda.gridsize(1)):
        k, j = _locate(sizes, i)
        grad = gs[k][_at(j, g0[k], gc[k], gr[k], gcs[k])]
        buf = bufs[k][j] if momentum != 0.0 else 0.0
        p, buf = sgd_rule(ps[k][p0[k] + j], grad, buf, lr[lr0], momentum, dampening, weight_decay, nesterov, first)
        ps[k][p0[k] + j] = p
        if momentum != 0.0:
            bufs[k][j] = buf


@cuda.jit(cache=True)
def adam_kernel(total, sizes, ps, p0, gs, g0, gc, gr, gcs, ms, vs, v_maxes, steps, s0, lr, lr0, beta1, beta2, eps,
                weight_decay, decoupled, amsgrad):
    for i in range(cuda.grid(1), total, cuda.gridsize(1)):
        k, j = _locate(sizes, i)
        grad = gs[k][_at(j, g0[k], gc[k], gr[k], gcs[k])]
        v_max = v_maxes[k][j] if amsgrad else 0.0
        p, m, v, v_max = adam_rule(ps[k][p0[k] + j], grad, ms[k][j], vs[k][j], v_max, lr[lr0], beta1, beta2, eps,
                                   weight_decay, decoupled, amsgrad, steps[k][s0[k]])
        ps[k][p0[k] + j], ms[k][j], vs[k][j] = p, m, v
        if amsgrad:
            v_maxes[k][j] = v_max


@cuda.jit(cache=True)
def rmsprop_kernel(total, sizes, ps, p0, gs, g0, gc, gr, gcs, squares, averages, bufs, lr, lr0, alpha, eps,
                   weight_decay, momentum, centered):
    for i in range(cuda.grid(1), total, cuda.gridsize(1)):
        k, j = _locate(sizes, i)
        grad = gs[k][_at(j, g0[k], gc[k], gr[k], gcs[k])]
        average = averages[k][j] if centered else 0.0
        buf = bufs[k][j] if momentum > 0.0 else 0.0
        p, square, average, buf = rmsprop_rule(ps[k][p0[k] + j], grad, squares[k][j], average, buf, lr[lr0], alpha,
                                               eps, weight_decay, momentum, centered)
        ps[k][p0[k] + j], squares[k][j] = p, square
        if centered:
            averages[k][j] = average
        if momentum > 0.0:
            bufs[k][j] = buf


def _slots(arrays, dtype):
    """(buffers, offsets) tuples of SLOTS entries for up to SLOTS contiguous arrays (or None)."""
    if arrays is None:
        arrays = []
    bufs = tuple(a.buf for a in arrays) + (memory.stand_in(dtype),) * (SLOTS - len(arrays))  # size 0: unread
    offsets = tuple(a.offset for a in arrays) + (0,) * (SLOTS - len(arrays))
    return bufs, offsets


def _chunks(params, *lists):
    """The tensors SLOTS at a time: (sizes, total, params, grads, and each list's part)."""
    for start in range(0, len(params), SLOTS):
        part = params[start : start + SLOTS]
        for p in part:
            if not p.is_contiguous:
                raise ValueError(f"optimizer step: parameter of shape {p.shape} is not contiguous")
        sizes = tuple(p.size for p in part) + (0,) * (SLOTS - len(part))
        yield (sizes, sum(sizes), part) + tuple(None if l is None else l[start : start + SLOTS] for l in lists)


def _layout(grads):
    """(buffers, offsets, columns, row strides, column strides) of up to SLOTS gradients, each
    seen as (rows, columns); one that needs more axes than two is copied first."""
    views = []
    for g in grads:
        shape, (strides,) = collapse(g.shape, [g.strides])
        if len(shape) > 2:
            g = g.copy()
            shape, strides = (g.size,), (1,)
        views.append((g, shape[-1], strides[0] if len(shape) == 2 else 0, strides[-1]))
    bufs, offsets = _slots([v[0] for v in views], grads[0].dtype)
    pad = (1,) * (SLOTS - len(views))
    return (bufs, offsets, tuple(v[1] for v in views) + pad, tuple(v[2] for v in views) + pad,
            tuple(v[3] for v in views) + pad)


def sgd_step(params, grads, bufs, lr, momentum, dampening, weight_decay, nesterov, first):
    """p -= lr * (the step of SGD with momentum), in place for every parameter, one launch per
    SLOTS of them; bufs (momentum buffers) are None without momentum."""
    dtype = params[0].dtype
    for sizes, total, ps, gs, bs in _chunks(params, grads, bufs):
        if total:
            (pb, p0), (bb, _) = _slots(ps, dtype), _slots(bs, dtype)
            launch(sgd_kernel, *grid(total), total, sizes, pb, p0, *_layout(gs), bb, lr.buf, lr.offset, float(momentum),
                   float(dampening), float(weight_decay), bool(nesterov), bool(first))


def _count(steps):
    """Add 1 to each step counter (0-d float64 arrays); returns their (buffers, offsets)."""
    bufs, offsets = _slots(steps, np.dtype(np.float64))
    launch(count_kernel, 1, SLOTS, len(steps), bufs, offsets)
    return bufs, offsets


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay,
              decoupled, amsgrad):
    """Adam (AdamW when decoupled) for every parameter: two launches per SLOTS of them."""
    dtype = params[0].dtype
    for sizes, total, ps, gs, ms, vs, v_maxes, ss in _chunks(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                                              steps):
        sb, s0 = _count(ss)
        if total:
            pb, p0 = _slots(ps, dtype)
            launch(adam_kernel, *grid(total), total, sizes, pb, p0, *_layout(gs), _slots(ms, dtype)[0],
                   _slots(vs, dtype)[0], _slots(v_maxes, dtype)[0], sb, s0, lr.buf, lr.offset, float(beta1),
                   float(beta2), float(eps), float(weight_decay), bool(decoupled), bool(amsgrad))


def rmsprop_step(params, grads, square_avgs, grad_avgs, bufs, steps, lr, alpha, eps, weight_decay, momentum, centered):
    """RMSprop for every parameter: two launches per SLOTS of them; grad_avgs None unless
    centered, bufs None without momentum."""
    dtype = params[0].dtype
    for sizes, total, ps, gs, sq, av, bs, ss in _chunks(params, grads, square_avgs, grad_avgs, bufs, steps):
        _count(ss)
        if total:
            pb, p0 = _slots(ps, dtype)
            launch(rmsprop_kernel, *grid(total), total, sizes, pb, p0, *_layout(gs), _slots(sq, dtype)[0],
                   _slots(av, dtype)[0], _slots(bs, dtype)[0], lr.buf, lr.offset, float(alpha), float(eps),
                   float(weight_decay), float(momentum), bool(centered))
