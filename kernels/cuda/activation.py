"""ReLU on the GPU, under the kernel names the CPU table uses: one comparison and one select."""
from .array import where


def relu(x):
    """max(x, 0), elementwise (NaN stays NaN, as in PyTorch)."""
    return where(x <= 0, 0, x)


def relu_backward(g, y):
    """g where y = relu(x) > 0, else 0."""
    return where(y > 0, g, 0)
