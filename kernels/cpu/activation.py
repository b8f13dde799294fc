"""ReLU on the CPU. It sits between every convolution and pooling of a CNN, on its largest
arrays. NumPy's x * (x > 0) makes a mask and then the product, in one thread, and backward
another mask; here one pass over the array on every thread, and backward reads the saved
output instead of a mask (measured on 64x32x28x28 float32: 0.64 -> 0.16 ms forward,
0.80 -> 0.22 ms backward).
"""
import numpy as np
from numba import njit, prange
from scipy.special import erf

from .buffers import empty
from .threads import numba_threads


@njit(cache=True, fastmath=False, parallel=True)
def _relu(x, out):
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = 0 if v <= 0 else v  # NaN stays NaN, as in PyTorch


@njit(cache=True, fastmath=False, parallel=True)
def _relu_backward(g, y, out):
    for i in prange(g.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


def _flat(a):
    """a as a 1-D C-contiguous array (a copy only when a is a strided view)."""
    return np.ascontiguousarray(a).reshape(-1)


def relu(x):
    """max(x, 0), elementwise."""
    out = empty(x.shape, x.dtype)
    with numba_threads():
        _relu(_flat(x), out.reshape(-1))
    return out


def relu_backward(g, y):
    """g where y = relu(x) > 0, else 0."""
    out = empty(g.shape, g.dtype)
    with numba_threads():
        _relu_backward(_flat(g), _flat(y), out.reshape(-1))
    return out


# The smooth activations: NumPy's vectorised passes, as formulas (their GPU twins are one launch each).
def tanh_backward(g, y):
    """g (1 - y^2) for y = tanh x."""
    return g * (1 - y * y)


def sigmoid(x):
    """1 / (1 + e^-x), as (1 + tanh(x/2)) / 2, which never overflows."""
    return 0.5 * (1 + np.tanh(0.5 * x))


def sigmoid_backward(g, y):
    """g y (1 - y) for y = sigmoid x."""
    return g * y * (1 - y)


def gelu(x):
    """x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
    return x * (0.5 * (1 + erf(x * x.dtype.type(0.7071067811865476))))


def gelu_backward(g, x):
    """g (Phi(x) + x phi(x)), phi the standard normal density."""
    cdf = 0.5 * (1 + erf(x * x.dtype.type(0.7071067811865476)))
    return g * (cdf + x * (np.exp(-0.5 * x * x) * x.dtype.type(0.3989422804014327)))
