"""Optimiser steps on the CPU: one compiled pass over every parameter of a group, in place.

The CUDA twin (kernels/cuda/optim.py) updates a group in one launch; here one call of a
compiled kernel walks the group's parameters, a handful at a time (SLOTS, so that a
kernel has one signature and compiles once), with no temporary arrays. The update rules
are kernels/optim_rules.py's, the same functions the GPU's kernels compile.
"""
import numpy as np
from numba import njit

from .. import optim_rules as rules

SLOTS = 8

sgd_rule = njit(cache=True)(rules.sgd)
adam_rule = njit(cache=True)(rules.adam)
rmsprop_rule = njit(cache=True)(rules.rmsprop)


@njit(cache=True)
def _sgd(ps, gs, bufs, lr, momentum, dampening, weight_decay, nesterov, first):
    for k in range(len(ps)):
        p, g, b = ps[k], gs[k], bufs[k]
        for j in range(p.size):
            buf = b[j] if momentum != 0.0 else 0.0
            p[j], buf = sgd_rule(p[j], g[j], buf, lr, momentum, dampening, weight_decay, nesterov, first)
            if momentum != 0.0:
                b[j] = buf


@njit(cache=True)
def _adam(ps, gs, ms, vs, v_maxes, steps, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad):
    for k in range(len(ps)):
        p, g, m, v, v_max, step = ps[k], gs[k], ms[k], vs[k], v_maxes[k], steps[k]
        if p.size == 0 and step.size == 0:
            continue
        step[0] += 1.0
        t = step[0]  # a local, not an array element the loop might overwrite: beta**t is then computed once
        for j in range(p.size):
            most = v_max[j] if amsgrad else 0.0
            p[j], m[j], v[j], most = adam_rule(p[j], g[j], m[j], v[j], most, lr, beta1, beta2, eps, weight_decay,
                                               decoupled, amsgrad, t)
            if amsgrad:
                v_max[j] = most


@njit(cache=True)
def _rmsprop(ps, gs, squares, averages, bufs, steps, lr, alpha, eps, weight_decay, momentum, centered):
    for k in range(len(ps)):
        p, g, square, average, b, step = ps[k], gs[k], squares[k], averages[k], bufs[k], steps[k]
        if p.size == 0 and step.size == 0:
            continue
        step[0] += 1.0
        for j in range(p.size):
            mean = average[j] if centered else 0.0
            buf = b[j] if momentum > 0.0 else 0.0
            p[j], square[j], mean, buf = rmsprop_rule(p[j], g[j], square[j], mean, buf, lr, alpha, eps, weight_decay,
                                                      momentum, centered)
            if centered:
                average[j] = mean
            if momentum > 0.0:
                b[j] = buf


def _slots(arrays, dtype):
    """SLOTS flat views (a group's arrays, then empty stand-ins) for one kernel call."""
    arrays = [] if arrays is None else [a.reshape(-1) for a in arrays]
    return tuple(arrays) + (np.empty(0, dtype),) * (SLOTS - len(arrays))


def _chunks(*lists):
    for start in range(0, len(lists[0]), SLOTS):
        yield tuple(None if l is None else l[start : start + SLOTS] for l in lists)


def _flat_params(params):
    for p in params:
        if not p.flags.c_contiguous:
            raise ValueError(f"optimizer step: parameter of shape {p.shape} is not contiguous")
    return params


def sgd_step(params, grads, bufs, lr, momentum, dampening, weight_decay, nesterov, first):
    """p -= lr * (the step of SGD with momentum), in place for every parameter; bufs (momentum
    buffers) are None without momentum."""
    dtype = params[0].dtype
    grads = [np.ascontiguousarray(g) for g in grads]
    for ps, gs, bs in _chunks(_flat_params(params), grads, bufs):
        _sgd(_slots(ps, dtype), _slots(gs, dtype), _slots(bs, dtype), float(lr), float(momentum), float(dampening),
             float(weight_decay), bool(nesterov), bool(first))


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay,
              decoupled, amsgrad):
    """Adam (AdamW when decoupled) for every parameter, counting each one's step."""
    dtype = params[0].dtype
    grads = [np.ascontiguousarray(g) for g in grads]
    for ps, gs, ms, vs, v_maxes, ss in _chunks(_flat_params(params), grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                               steps):
        _adam(_slots(ps, dtype), _slots(gs, dtype), _slots(ms, dtype), _slots(vs, dtype), _slots(v_maxes, dtype),
              _slots(ss, np.dtype(np.float64)), float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
              bool(decoupled), bool(amsgrad))


def rmsprop_step(params, grads, square_avgs, grad_avgs, bufs, steps, lr, alpha, eps, weight_decay, momentum, centered):
    """RMSprop for every parameter, counting each one's step; grad_avgs None unless centered,
    bufs None without momentum."""
    dtype = params[0].dtype
    grads = [np.ascontiguousarray(g) for g in grads]
    for ps, gs, sq, av, bs, ss in _chunks(_flat_params(params), grads, square_avgs, grad_avgs, bufs, steps):
        _rmsprop(_slots(ps, dtype), _slots(gs, dtype), _slots(sq, dtype), _slots(av, dtype), _slots(bs, dtype),
                 _slots(ss, np.dtype(np.float64)), float(lr), float(alpha), float(eps), float(weight_decay),
                 float(momentum), bool(centered))
