"""ReLU on the GPU, under the kernel names the CPU table uses: one elementwise launch each way."""
from . import elementwise as ew
from .array import CudaArray


def relu(x):
    """max(x, 0), elementwise (NaN stays NaN, as in PyTorch)."""
    y = CudaArray.empty(x.shape, x.dtype)
    ew.run(ew.unary_kernel, y, x, op=ew.RELU)
    return y


def relu_backward(g, y):
    """g where y = relu(x) > 0, else 0."""
    dx = CudaArray.empty(g.shape, g.dtype)
    ew.run(ew.binary_kernel, dx, g, y, op=ew.RELU_GRAD)
    return dx
