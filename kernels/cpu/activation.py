"""Activations on the CPU, made from the rules of kernels/activations.py.

A rule marked `loop` compiles into one parallel pass over the elements: ReLU sits between
every convolution and pooling of a CNN, on its largest arrays, where NumPy's passes make a
mask and then a product, in one thread (the loop takes a quarter of their time; figures in
bench/README.md), and SciPy's erf is slower than the compiled one. The others call
tanh, whose compiled form is one scalar call per element here (Numba has no vector math
library without Intel's SVML): NumPy's vectorised tanh is over ten times faster, so those
rules are applied to whole arrays instead.
"""
import functools
import math

import numpy as np
from numba import njit, prange

from ..activations import RULES, bind, specialise
from .buffers import empty
from .threads import numba_threads


@njit(inline="always")
def _where(c, p, q):
    return p if c else q


# The rules' names for one element instead of whole arrays.
SCALAR = {"where": _where, "tanh": math.tanh, "exp": math.exp, "erf": math.erf, "log1p": math.log1p}


def _forward(x, a, out):
    for i in prange(x.shape[0]):
        out[i] = rule(x[i], a)  # noqa: F821  (bound by _compiled)


def _backward(g, s, a, out):
    for i in prange(g.shape[0]):
        out[i] = rule(g[i], s[i], a)  # noqa: F821  (bound by _compiled)


def _compiled(template, name, fn):
    """The loop `template` calling the rule `fn` on each element, compiled. It joins the module
    under its name, as a kernel defined here would (the debug trace looks for kernels there)."""
    kernel = njit(cache=True, parallel=True)(specialise(template, name, njit(inline="always")(bind(fn, SCALAR))))
    globals()[name] = kernel
    return kernel


@functools.lru_cache(maxsize=None)
def _loops(name):
    rule = RULES[name]
    return _compiled(_forward, f"{name}_forward", rule.forward), _compiled(_backward, f"{name}_backward", rule.backward)


def activation(name, x, a=0.0):
    """y = RULES[name](x, a), elementwise; -> (y, what the backward pass reads: x or y)."""
    rule = RULES[name]
    if rule.loop:
        y = empty(x.shape, x.dtype)
        with numba_threads():
            _loops(name)[0](np.ravel(x), float(a), y.reshape(-1))
    else:
        y = rule.forward(x, a).astype(x.dtype, copy=False)
    return y, (y if rule.saves == "output" else x)


def activation_backward(name, g, saved, a=0.0):
    """dx from the gradient g of y and the value activation() returned to keep."""
    rule = RULES[name]
    if not rule.loop:
        return rule.backward(g, saved, a).astype(g.dtype, copy=False)
    dx = empty(g.shape, g.dtype)
    with numba_threads():
        _loops(name)[1](np.ravel(g), np.ravel(saved), float(a), dx.reshape(-1))
    return dx
