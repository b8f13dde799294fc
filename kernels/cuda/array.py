"""CudaArray: an n-dimensional array in GPU memory with NumPy's operators and views.

A CudaArray is a view of a flat Numba device buffer: a shape, strides counted in elements
(0 along broadcast axes) and the offset of its first element. Reshapes that NumPy can do
without a copy, transposes, basic slicing and broadcasting only make new views (the stride
algebra is here); arithmetic launches the elementwise kernels; nothing comes back to the
host except through `get()` (or `item()`). The buffer belongs to a memory.Block, which
every view keeps alive; when the last view goes, the buffer returns to the memory pool
(memory.py) for the next array of its size.

The work behind the operators lives beside the kernels it launches: elementwise.py
(arithmetic, comparisons), reduce.py (sum, max, min), indexing.py (what an index selects;
movement.py moves it), dtypes.py (NumPy's result dtypes, numbers meeting arrays). A number
meeting an array becomes a 0-d device `constant`, uploaded once per (value, dtype). Those
modules know a CudaArray only as a DeviceArray (device_array.py), so they never import this one.
"""
import functools
import math
import numbers
import operator

import numpy as np

from ..shapes import normalise_axes, resolve_shape
from . import dtypes, indexing, launch, memory
from . import elementwise as ew
from . import reduce as red
from .device_array import DeviceArray


def contiguous_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class CudaArray(DeviceArray):
    __array_ufunc__ = None  # ndarray <op> CudaArray calls CudaArray's reflected operator

    def __init__(self, owner, shape, strides=None, offset=0):
        self.owner = owner  # the memory.Block holding the buffer: every view keeps it alive
        self.buf = owner.array
        self.shape = tuple(int(n) for n in shape)
        self.strides = contiguous_strides(self.shape) if strides is None else tuple(int(s) for s in strides)
        self.offset = int(offset)
        self.dtype = np.dtype(self.buf.dtype)

    @classmethod
    def empty(cls, shape, dtype):
        shape = tuple(int(n) for n in shape)
        return cls(memory.allocate(math.prod(shape), dtype), shape)

    @classmethod
    def from_host(cls, array, what="upload"):
        """A copy of a host array. A 0-d one is a number, which may be uploaded during a
        capture: it is a constant of the captured step."""
        array = np.asarray(array)
        return cls(memory.upload(np.ascontiguousarray(array), what, constant=array.ndim == 0), array.shape)

    @staticmethod
    def constant(value, dtype):
        """A 0-d device array holding value as dtype (cached: numbers repeat from step to step)."""
        dtype = np.dtype(dtype)
        return _constant_cached(dtype, np.asarray(value, dtype).tobytes())

    def set_from_host(self, values):
        """Copy host values (broadcast to self's shape) into this contiguous array at once:
        also during a capture, when the copy is not part of the graph (how hyper-parameters
        reach one)."""
        if not self.is_contiguous:
            raise ValueError(f"set_from_host: the array of shape {self.shape} is not contiguous")
        values = np.ascontiguousarray(np.broadcast_to(np.asarray(values, self.dtype), self.shape))
        if self.size:
            self.buf[self.offset : self.offset + self.size].copy_to_device(values.reshape(-1))

    # ---- inspection -------------------------------------------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def is_contiguous(self):
        return all(s == c for s, c, n in zip(self.strides, contiguous_strides(self.shape), self.shape) if n != 1)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self):
        return f"CudaArray(shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a CudaArray lives in GPU memory: copy it to the host explicitly with .get()")

    # ---- host transfers ---------------------------------------------------------------
    def get(self, what="CudaArray.get"):
        """A NumPy copy of the values (the one way data comes back to the host)."""
        launch.no_host_copies(what)
        if self.size == 0:
            return np.empty(self.shape, self.dtype)
        flat = self.contiguous()
        return flat.buf[flat.offset : flat.offset + flat.size].copy_to_host().reshape(self.shape)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: only one-element arrays convert to a Python number, got shape {self.shape}")
        return self.get().reshape(()).item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    # ---- copies and views -------------------------------------------------------------
    def copy(self):
        return self.astype(self.dtype)

    def contiguous(self):
        """self when its elements lie in C order without gaps (from any offset in the
        buffer), else a contiguous copy: what a kernel reading flat memory needs."""
        return self if self.is_contiguous else self.copy()

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        out = CudaArray.empty(self.shape, dtype)
        ew.run(ew.copy_kernel, out, self)
        return out

    def _view(self, shape, strides, offset=None):
        return CudaArray(self.owner, shape, strides, self.offset if offset is None else offset)

    def reshape(self, *shape):
        shape = resolve_shape(shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape, self.shape)
        strides = _reshaped_strides(self.shape, self.strides, shape)
        if strides is None:
            return self.copy().reshape(shape)
        return self._view(shape, strides)

    def transpose(self, *axes):
        if not axes or axes == (None,):
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
            axes = tuple(axes[0])
        axes = tuple(operator.index(a) % max(self.ndim, 1) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {self.ndim} axes of shape {self.shape}")
        return self._view([self.shape[a] for a in axes], [self.strides[a] for a in axes])

    @property
    def T(self):
        return self.transpose()

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        a, b = a % self.ndim, b % self.ndim
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def broadcast_to(self, shape):
        if shape == self.shape:
            return self
        shape = tuple(int(n) for n in shape)
        lead = len(shape) - self.ndim
        if lead < 0 or any(n != 1 and n != m for n, m in zip(self.shape, shape[lead:])):
            raise ValueError(f"broadcast_to: cannot broadcast shape {self.shape} to {shape}")
        strides = [0] * lead + [s if n == m else 0 for s, n, m in zip(self.strides, self.shape, shape[lead:])]
        return self._view(shape, strides)

    def ravel(self):
        return self.reshape(-1)

    def flatten(self):
        return self.copy().reshape(-1)

    # ---- indexing (indexing.py) -------------------------------------------------------
    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if indexing.is_advanced(index):
            return indexing.gather(self, index)
        return indexing.view(self, index)

    def __setitem__(self, index, value):
        index = index if isinstance(index, tuple) else (index,)
        value = dtypes.device_operand(value, self.dtype, self)
        if indexing.is_advanced(index):
            indexing.scatter(self, index, value)
            return
        target = indexing.view(self, index)
        ew.run(ew.copy_kernel, target, value.broadcast_to(target.shape))

    def scatter_add(self, index, value):
        """self[index] += value with repeated indices adding up (np.add.at)."""
        index = index if isinstance(index, tuple) else (index,)
        value = dtypes.device_operand(value, self.dtype, self)
        if not indexing.is_advanced(index):
            self[index] = self[index] + value
            return
        indexing.scatter(self, index, value, accumulate=True)

    # ---- arithmetic -------------------------------------------------------------------
    def __add__(self, other):
        return ew.binary(ew.ADD, np.add, self, other)

    def __radd__(self, other):
        return ew.binary(ew.ADD, np.add, other, self)

    def __sub__(self, other):
        return ew.binary(ew.SUB, np.subtract, self, other)

    def __rsub__(self, other):
        return ew.binary(ew.SUB, np.subtract, other, self)

    def __mul__(self, other):
        return ew.binary(ew.MUL, np.multiply, self, other)

    def __rmul__(self, other):
        return ew.binary(ew.MUL, np.multiply, other, self)

    def __truediv__(self, other):
        return ew.binary(ew.DIV, np.true_divide, self, other)

    def __rtruediv__(self, other):
        return ew.binary(ew.DIV, np.true_divide, other, self)

    def __pow__(self, other):
        return ew.binary(ew.POW, np.power, self, other)

    def __rpow__(self, other):
        return ew.binary(ew.POW, np.power, other, self)

    def __iadd__(self, other):
        return ew.binary(ew.ADD, np.add, self, other, out=self)

    def __isub__(self, other):
        return ew.binary(ew.SUB, np.subtract, self, other, out=self)

    def __imul__(self, other):
        return ew.binary(ew.MUL, np.multiply, self, other, out=self)

    def __itruediv__(self, other):
        return ew.binary(ew.DIV, np.true_divide, self, other, out=self)

    def __neg__(self):
        if self.dtype == np.bool_:
            raise TypeError("negative: not supported for bool arrays; use ~ for logical not")
        return ew.unary(ew.NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ew.unary(ew.ABS, self)

    def __lt__(self, other):
        return ew.compare(ew.LT, self, other)

    def __le__(self, other):
        return ew.compare(ew.LE, self, other)

    def __gt__(self, other):
        return ew.compare(ew.GT, self, other)

    def __ge__(self, other):
        return ew.compare(ew.GE, self, other)

    def __eq__(self, other):
        return ew.compare(ew.EQ, self, other)

    def __ne__(self, other):
        return ew.compare(ew.NE, self, other)

    __hash__ = None

    def __invert__(self):
        dtypes.require_bool("invert", self)
        return ew.compare(ew.EQ, self, False)

    def __and__(self, other):
        dtypes.require_bool("logical and", self, other)
        return ew.where(self, other, False)

    def __or__(self, other):
        dtypes.require_bool("logical or", self, other)
        return ew.where(self, True, other)

    def __rand__(self, other):
        return self & other

    def __ror__(self, other):
        return self | other

    def __iand__(self, other):
        dtypes.require_bool("logical and", self, other)
        return ew.where(self, other, False, out=self)

    def __ior__(self, other):
        dtypes.require_bool("logical or", self, other)
        return ew.where(self, True, other, out=self)

    def __bool__(self):
        raise TypeError("the truth value of a CudaArray needs a copy to the host: use .item()")

    # ---- reductions -------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, keepdims=False):
        return red.reduce(red.SUM, self, axis, keepdims, dtype)

    def max(self, axis=None, keepdims=False):
        return red.reduce(red.MAX, self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return red.reduce(red.MIN, self, axis, keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        if dtype is None:
            dtype = self.dtype if self.dtype.kind == "f" else np.dtype(np.float64)
        count = math.prod(self.shape[a] for a in normalise_axes(axis, self.shape, "mean"))
        return self.sum(axis, dtype=dtype, keepdims=keepdims) / dtype.type(count)


@functools.lru_cache(maxsize=1024)
def _constant_cached(dtype, raw):
    return CudaArray(memory.upload(np.frombuffer(raw, dtype), constant=True), ())


def _reshaped_strides(shape, strides, new_shape):
    """Strides showing the same elements in new_shape without a copy, or None when a copy is
    needed (NumPy's rule: each group of old axes that the new axes regroup must be contiguous)."""
    if math.prod(shape) == 0 or math.prod(new_shape) == 1:
        return contiguous_strides(new_shape)
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    new = list(new_shape)
    out = [0] * len(new)
    i = j = 0
    while i < len(old) and j < len(new):
        if new[j] == 1:
            j += 1
            continue
        i_end, j_end, size_old, size_new = i + 1, j + 1, old[i][0], new[j]
        while size_old != size_new:
            if size_old < size_new:
                size_old *= old[i_end][0]
                i_end += 1
            else:
                size_new *= new[j_end]
                j_end += 1
        for k in range(i, i_end - 1):
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                return None
        step = old[i_end - 1][1]
        for k in range(j_end - 1, j - 1, -1):
            out[k] = step
            step *= new[k]
        i, j = i_end, j_end
    return tuple(out)

