"""Reductions on the CPU that NumPy does as they are, and softmax, which is made of them (the
GPU's twins, each one launch, are in kernels/cuda/reduce.py)."""
import numpy as np


def argmax(x, axis, keepdims, smallest):
    """Index of the largest (smallest) element along `axis` (None: of the flattened array),
    the first one on ties and the first NaN if there is one, as int64."""
    return np.asarray((np.argmin if smallest else np.argmax)(x, axis=axis, keepdims=keepdims), np.int64)


def softmax(x, axis, log):
    """e^(x - m) / sum e^(x - m) along axis, or its logarithm (x - m) - log sum e^(x - m),
    m the row's maximum: exact, and every e^(.) <= 1. As in PyTorch, a row whose maximum is
    +inf or NaN (or every entry -inf) is NaN throughout, and NumPy does not warn of it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        s = x - x.max(axis=axis, keepdims=True)
        if log:
            return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))
        e = np.exp(s)
        return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(g, y, axis, log):
    """dx of softmax (y (g - sum(g y))) or of log-softmax (g - e^y sum(g)), from its output y."""
    if log:
        return g - np.exp(y) * g.sum(axis=axis, keepdims=True)
    return y * (g - (g * y).sum(axis=axis, keepdims=True))
