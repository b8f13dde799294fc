"""Activations on the GPU, under the kernel names the CPU table uses: one elementwise launch
each way (the scalar functions are op codes of elementwise.py's kernels)."""
from . import elementwise as ew
from .array import CudaArray


def _unary(op, x):
    y = CudaArray.empty(x.shape, x.dtype)
    ew.run(ew.unary_kernel, y, x, op=op)
    return y


def _backward(op, g, saved):
    dx = CudaArray.empty(g.shape, g.dtype)
    ew.run(ew.binary_kernel, dx, g, saved, op=op)
    return dx


def relu(x):
    """max(x, 0), elementwise (NaN stays NaN, as in PyTorch)."""
    return _unary(ew.RELU, x)


def relu_backward(g, y):
    """g where y = relu(x) > 0, else 0."""
    return _backward(ew.RELU_GRAD, g, y)


def tanh_backward(g, y):
    """g (1 - y^2) for y = tanh x."""
    return _backward(ew.TANH_GRAD, g, y)


def sigmoid(x):
    """1 / (1 + e^-x), as (1 + tanh(x/2)) / 2."""
    return _unary(ew.SIGMOID, x)


def sigmoid_backward(g, y):
    """g y (1 - y) for y = sigmoid x."""
    return _backward(ew.SIGMOID_GRAD, g, y)


def gelu(x):
    """x Phi(x), Phi the standard normal distribution function."""
    return _unary(ew.GELU, x)


def gelu_backward(g, x):
    """g (Phi(x) + x phi(x)), phi the standard normal density."""
    return _backward(ew.GELU_GRAD, g, x)
