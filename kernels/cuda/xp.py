"""The array namespace of the 'cuda' device: NumPy's names, on CudaArrays.

Ops are written once against `ctx.xp`; on the CPU that is NumPy, on the GPU this module.
It offers the part of NumPy the ops use, with NumPy's signatures and dtype rules, and
nothing else (`__all__` lists it); every result stays in GPU memory:

  types and constants  ndarray (CudaArray), dtype, float32 float64 int8 int32 int64 uint8
                       bool_, iinfo finfo, result_type broadcast_shapes, pi e inf nan newaxis
  creation             empty zeros ones full (and *_like), asarray array ascontiguousarray
                       copy arange eye
  elementwise          add subtract multiply divide true_divide power maximum minimum (ufuncs:
                       f(a, b, out=None); add.at), negative exp log sqrt tanh abs absolute sign
                       sin cos square reciprocal log1p expm1, isfinite isnan logical_not where clip
  reductions           sum max min amax amin mean
  shapes               reshape transpose swapaxes moveaxis expand_dims squeeze broadcast_to
                       concatenate stack pad

Each function here is NumPy's calling convention over the front ends that launch the
kernels: elementwise.py (binary, unary, compare, where), reduce.py (reduce), indexing.py
(through CudaArray's [] and []=); dtypes.py gives results NumPy's dtypes.
"""
import builtins

import numpy as np

from ..shapes import as_shape, normalise_axis, normalise_axes
from . import elementwise as ew
from . import reduce as red
from .array import CudaArray
from .dtypes import promote
from .elementwise import binary, compare, isfinite, unary

__all__ = [
    "ndarray", "dtype", "float32", "float64", "int8", "int32", "int64", "uint8", "bool_", "iinfo", "finfo",
    "result_type", "broadcast_shapes", "pi", "e", "inf", "nan", "newaxis",
    "empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like", "asarray", "array",
    "ascontiguousarray", "copy", "arange", "eye",
    "add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum", "negative", "exp", "log",
    "sqrt", "tanh", "abs", "absolute", "sign", "sin", "cos", "square", "reciprocal", "log1p", "expm1", "isfinite",
    "isnan", "logical_not", "where", "clip",
    "sum", "max", "min", "amax", "amin", "mean",
    "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack",
    "pad",
]

ndarray = CudaArray
newaxis = None
pi, e, inf, nan = np.pi, np.e, np.inf, np.nan
float32, float64, int8, int32, int64, uint8, bool_ = np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_
dtype, broadcast_shapes, iinfo, finfo = np.dtype, np.broadcast_shapes, np.iinfo, np.finfo


def result_type(*xs):
    """np.result_type of CudaArrays, dtypes and numbers (Python numbers weak, as in NumPy 2)."""
    return promote(*xs)


# ---- creation -------------------------------------------------------------------------
def empty(shape, dtype=np.float64):
    return CudaArray.empty(as_shape(shape), dtype)


def full(shape, fill_value, dtype=None):
    out = empty(shape, np.result_type(fill_value) if dtype is None else dtype)
    out[...] = fill_value
    return out


def zeros(shape, dtype=np.float64):
    return full(shape, 0, dtype)


def ones(shape, dtype=np.float64):
    return full(shape, 1, dtype)


def empty_like(a, dtype=None):
    return empty(a.shape, a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None):
    return zeros(a.shape, a.dtype if dtype is None else dtype)


def ones_like(a, dtype=None):
    return ones(a.shape, a.dtype if dtype is None else dtype)


def full_like(a, fill_value, dtype=None):
    return full(a.shape, fill_value, a.dtype if dtype is None else dtype)


def asarray(a, dtype=None):
    """A CudaArray as it is (cast if dtype says so); host data is uploaded."""
    if isinstance(a, CudaArray):
        return a if dtype is None else a.astype(dtype, copy=False)
    return CudaArray.from_host(np.asarray(a, dtype))


def array(a, dtype=None):
    return a.astype(a.dtype if dtype is None else dtype) if isinstance(a, CudaArray) else asarray(a, dtype)


def ascontiguousarray(a, dtype=None):
    return asarray(a, dtype).contiguous()


def copy(a):
    return a.copy()


def arange(*args, dtype=None):
    return asarray(np.arange(*args, dtype=dtype))


def eye(n, m=None, k=0, dtype=np.float64):
    return asarray(np.eye(n, m, k, dtype=dtype))


# ---- elementwise ----------------------------------------------------------------------
class _Binary:
    """A binary ufunc: f(a, b, out=None); `add` also has NumPy's unbuffered `add.at`."""

    def __init__(self, op, ufunc):
        self.op, self.ufunc, self.__name__ = op, ufunc, ufunc.__name__

    def __call__(self, a, b, out=None):
        return binary(self.op, self.ufunc, a, b, out=out)

    def at(self, a, index, b):
        if self.op != ew.ADD:
            raise NotImplementedError(f"{self.__name__}.at: only add.at is supported on the GPU")
        a.scatter_add(index, b)


add = _Binary(ew.ADD, np.add)
subtract = _Binary(ew.SUB, np.subtract)
multiply = _Binary(ew.MUL, np.multiply)
divide = true_divide = _Binary(ew.DIV, np.true_divide)
power = _Binary(ew.POW, np.power)
maximum = _Binary(ew.MAXIMUM, np.maximum)
minimum = _Binary(ew.MINIMUM, np.minimum)


def _unary(op):
    def f(x, out=None):
        return unary(op, asarray(x), out=out)

    return f


negative, exp, log, sqrt, tanh = _unary(ew.NEG), _unary(ew.EXP), _unary(ew.LOG), _unary(ew.SQRT), _unary(ew.TANH)
abs = absolute = _unary(ew.ABS)  # noqa: A001  (NumPy's name)
sign = _unary(ew.SIGN)
sin, cos = _unary(ew.SIN), _unary(ew.COS)


def square(x):
    return x * x


def reciprocal(x):
    return 1 / x


def log1p(x):
    return log(x + 1)


def expm1(x):
    return exp(x) - 1


def isnan(x):
    return compare(ew.NE, x, x)


def logical_not(x):
    return compare(ew.EQ, x, False) if x.dtype == np.bool_ else compare(ew.EQ, x, 0)


def where(condition, x, y):
    return ew.where(condition, x, y)


def clip(a, a_min=None, a_max=None):
    out = a if a_min is None else maximum(a, a_min)
    out = out if a_max is None else minimum(out, a_max)
    return out.copy() if out is a else out


# ---- reductions -----------------------------------------------------------------------
def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001  (NumPy's name)
    return red.reduce(red.SUM, a, axis, keepdims, dtype)


def max(a, axis=None, keepdims=False):  # noqa: A001
    return red.reduce(red.MAX, a, axis, keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001
    return red.reduce(red.MIN, a, axis, keepdims)


amax, amin = max, min


def mean(a, axis=None, dtype=None, keepdims=False):
    return a.mean(axis, dtype=dtype, keepdims=keepdims)


# ---- shapes ---------------------------------------------------------------------------
def reshape(a, shape):
    return a.reshape(shape)


def transpose(a, axes=None):
    return a.transpose(axes)


def swapaxes(a, axis1, axis2):
    return a.swapaxes(axis1, axis2)


def moveaxis(a, source, destination):
    source, destination = normalise_axis(source, a.shape, "moveaxis"), normalise_axis(destination, a.shape, "moveaxis")
    order = [n for n in range(a.ndim) if n != source]
    order.insert(destination, source)
    return a.transpose(order)


def expand_dims(a, axis):
    axis = normalise_axis(axis, a.shape, "expand_dims", extra=1)
    return a.reshape(a.shape[:axis] + (1,) + a.shape[axis:])


def squeeze(a, axis=None):
    axes = normalise_axes(axis, a.shape, "squeeze")
    return a.reshape(tuple(n for i, n in enumerate(a.shape) if not (i in axes and n == 1)))


def broadcast_to(a, shape):
    return asarray(a).broadcast_to(shape)


def concatenate(arrays, axis=0):
    arrays = [asarray(a) for a in arrays]
    first = arrays[0]
    axis = normalise_axis(axis, first.shape, "concatenate")
    for a in arrays[1:]:
        if a.ndim != first.ndim or any(n != m for i, (n, m) in enumerate(zip(a.shape, first.shape)) if i != axis):
            shapes = ", ".join(str(x.shape) for x in arrays)
            raise ValueError(f"concatenate: shapes {shapes} must match except along axis {axis}")
    shape = list(first.shape)
    shape[axis] = builtins.sum(a.shape[axis] for a in arrays)
    out = empty(shape, promote(*arrays))
    start = 0
    for a in arrays:
        index = (slice(None),) * axis + (slice(start, start + a.shape[axis]),)
        out[index] = a
        start += a.shape[axis]
    return out


def stack(arrays, axis=0):
    arrays = [asarray(a) for a in arrays]
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def pad(a, pad_width, mode="constant", constant_values=0):
    """Constant padding only (the ops' use); pad_width is ((before, after), ...) per axis."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode '{mode}' is not supported on the GPU (only 'constant')")
    widths = [tuple(w) for w in np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))]
    out = full([n + lo + hi for n, (lo, hi) in zip(a.shape, widths)], constant_values, a.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))] = a
    return out

