"""How Tensor's methods read their arguments: the default dtype, dtypes, shapes and axes.

Shared by tensor.py and the files its methods live in (tensor_create, tensor_math,
tensor_reduce, tensor_movement, tensor_inplace), each of which checks its arguments the
same way and fails with the same messages.
"""
import numpy as np

from .kernels.shapes import normalise_axis, shape_from_args

DEFAULT_FLOAT = np.float32


def _to_dtype(dtype):
    return None if dtype is None else np.dtype(getattr(dtype, "np_dtype", dtype))


def _check_dtype(dtype, who):
    if dtype.kind in "cOUSV":
        raise TypeError(f"{who}: unsupported dtype {dtype}; expected float16, float32, float64, an integer or bool")


def _shape_arg(shape):
    """Accept f(2, 3) and f((2, 3))."""
    return shape_from_args(shape)


def _axis(t, axis, op, extra=0):
    """Normalise one axis (negative counts from the end) with a clear error."""
    return normalise_axis(axis, t.shape, op, extra, of="a tensor")
