"""Dtypes on the GPU: NumPy's promotion rules, and numbers meeting CudaArrays.

A result's dtype is the one NumPy gives, worked out by NumPy itself on empty arrays (and
cached per combination), so Python numbers stay "weak" as in NumPy 2: float32 * 2.0 is
float32, int64 + 1.5 is float64. A number that meets an array becomes a 0-d device
constant of the dtype it takes there (`CudaArray.constant`, uploaded once per value and
dtype), made through the class of an array it meets (device_array.py says why).
"""
import functools

import numpy as np

from .device_array import DeviceArray


@functools.lru_cache(maxsize=None)
def _result_dtype(ufunc, *kinds):
    """The dtype NumPy gives ufunc(*operands), each operand a dtype or a Python number type."""
    protos = [np.zeros(1, k) if isinstance(k, np.dtype) else k(0) for k in kinds]
    with np.errstate(all="ignore"):
        return ufunc(*protos).dtype


def kind(x):
    """What promotion sees of an operand: a CudaArray's or a NumPy scalar's dtype, or the
    type of a Python number (bool, int, float), which NumPy 2 treats as weak."""
    if isinstance(x, DeviceArray):
        return x.dtype
    if isinstance(x, (bool, int, float)):
        return bool if isinstance(x, bool) else int if isinstance(x, int) else float
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        return np.asarray(x).dtype
    raise TypeError(
        f"a CudaArray cannot meet a {type(x).__name__}"
        + (f" of shape {np.shape(x)} (a host array: move it to the GPU first)" if isinstance(x, np.ndarray) else "")
    )


def dtype_of(ufunc, *operands):
    """The dtype of ufunc(*operands) in NumPy's rules, or a TypeError naming the ufunc."""
    try:
        return _result_dtype(ufunc, *(kind(x) for x in operands))
    except TypeError as e:
        if "CudaArray cannot meet" in str(e):
            raise
        kinds = ", ".join(str(kind(x)) for x in operands)
        raise TypeError(f"{ufunc.__name__}: not supported for operands of types {kinds}") from None


def promote(*xs):
    """np.result_type of arrays and numbers, Python numbers weak as in NumPy 2."""
    return np.result_type(*(x.dtype if isinstance(x, DeviceArray) else x for x in xs))


def require_bool(op_name, *xs):
    """The logical operators (& | ~) take bool operands only on the GPU."""
    for x in xs:
        if kind(x) not in (np.dtype(np.bool_), bool):
            raise TypeError(f"{op_name}: only bool arrays are supported on the GPU, got {kind(x)}")


def device_operand(x, dtype, like):
    """x as a CudaArray (of the class of the array `like`); a number (Python or NumPy)
    becomes a cached constant of `dtype`, a host array is uploaded (values assigned into a
    CudaArray come from the host)."""
    if isinstance(x, DeviceArray):
        return x
    if isinstance(x, np.ndarray) and x.ndim:
        return type(like).from_host(x.astype(dtype, copy=False))
    return type(like).constant(x, dtype)


def operands(dtype, *xs, like=None):
    """Every operand as a CudaArray; numbers take the dtype NumPy 2 gives them beside the
    arrays (beside none, `dtype`, as constants of the class of the array `like`)."""
    arrays = [x for x in xs if isinstance(x, DeviceArray)]
    if not arrays and like is None:
        # Without an array there is no class to make constants of (this module cannot import array.py).
        raise TypeError("none of the operands is on the GPU; expected at least one CudaArray")
    make = type(arrays[0] if arrays else like).constant
    out = []
    for x in xs:
        if isinstance(x, DeviceArray):
            out.append(x)
        else:
            weak_with = arrays[0].dtype if arrays else dtype
            out.append(make(x, np.result_type(weak_with, x) if isinstance(x, (bool, int, float)) else kind(x)))
    return out
