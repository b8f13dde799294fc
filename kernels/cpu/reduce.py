"""Reductions on the CPU that NumPy does as they are (the GPU's twins are in kernels/cuda/reduce.py)."""
import numpy as np


def argmax(x, axis, keepdims, smallest):
    """Index of the largest (smallest) element along `axis` (None: of the flattened array),
    the first one on ties and the first NaN if there is one, as int64."""
    return np.asarray((np.argmin if smallest else np.argmax)(x, axis=axis, keepdims=keepdims), np.int64)
