"""Activations on the GPU, made from the rules of kernels/activations.py: each rule is
compiled as a device function for one element, and its forward and backward kernels are
the templates below with that function bound in, one launch each way. Like elementwise.py's
kernels, each comes in a general form (any strides, found from the multi-index) and a
flat twin for work that collapses to one axis."""
import functools
import math

from ..activations import RULES, bind, specialise
from . import elementwise as ew
from .array import CudaArray
from .launch import cuda


@cuda.jit(device=True)
def _where(c, p, q):
    return p if c else q


# The rules' names for one element (exp, tanh and log1p as elementwise.py binds them: the
# simulator needs NumPy's, which keep float32 and do not raise).
SCALAR = {"where": _where, "tanh": ew.tanh, "exp": ew.exp, "erf": math.erf, "log1p": ew.log1p}


def _forward(a, n, shape, out, o0, os, x, x0, xs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[ew.offset(i, shape, os, o0)] = rule(x[ew.offset(i, shape, xs, x0)], a)  # noqa: F821


def _forward_flat(a, n, out, o0, os, x, x0, xs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = rule(x[x0 + i * xs], a)  # noqa: F821


def _backward(a, n, shape, out, o0, os, g, g0, gs, s, s0, ss):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[ew.offset(i, shape, os, o0)] = rule(g[ew.offset(i, shape, gs, g0)], s[ew.offset(i, shape, ss, s0)], a)  # noqa: F821


def _backward_flat(a, n, out, o0, os, g, g0, gs, s, s0, ss):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = rule(g[g0 + i * gs], s[s0 + i * ss], a)  # noqa: F821


def _compiled(template, name, device_rule):
    """The kernel `template` calling `device_rule`. It joins the module under its name, as a
    kernel defined here would (the debug trace and the PTX check look for kernels there)."""
    kernel = cuda.jit(cache=True)(specialise(template, name, device_rule))
    globals()[name] = kernel
    return kernel


@functools.lru_cache(maxsize=None)
def _kernels(name):
    """(forward, backward) general kernels of the rule `name`; their flat twins join ew.FLAT."""
    rule = RULES[name]
    kernels = []
    for fn, general, flat, way in ((rule.forward, _forward, _forward_flat, "forward"),
                                   (rule.backward, _backward, _backward_flat, "backward")):
        device_rule = cuda.jit(device=True)(bind(fn, SCALAR))
        kernel = _compiled(general, f"{name}_{way}_kernel", device_rule)
        ew.FLAT[kernel] = _compiled(flat, f"{name}_{way}_flat_kernel", device_rule)
        kernels.append(kernel)
    return tuple(kernels)


def activation(name, x, a=0.0):
    """y = RULES[name](x, a), elementwise; -> (y, what the backward pass reads: x or y)."""
    y = CudaArray.empty(x.shape, x.dtype)
    ew.run(_kernels(name)[0], y, x, op=float(a))
    return y, (y if RULES[name].saves == "output" else x)


def activation_backward(name, g, saved, a=0.0):
    """dx from the gradient g of y and the value activation() returned to keep."""
    dx = CudaArray.empty(g.shape, g.dtype)
    ew.run(_kernels(name)[1], dx, g, saved, op=float(a))
    return dx
