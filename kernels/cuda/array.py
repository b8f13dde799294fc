"""CudaArray: an n-dimensional array in GPU memory with NumPy's operators and views.

A CudaArray is a view of a flat Numba device buffer: a shape, strides counted in elements
(0 along broadcast axes) and the offset of its first element. Reshapes that NumPy can do
without a copy, transposes, basic slicing and broadcasting only make new views; arithmetic
launches the elementwise kernels; nothing comes back to the host except through `get()`
(or `item()`). When the last view of a buffer goes, the buffer returns to the memory pool
(memory.py) for the next array of its size.

Dtypes follow NumPy, worked out by NumPy itself on empty arrays, so Python numbers stay
"weak" (float32 * 2.0 is float32) as in NumPy 2. A number meeting an array becomes a
one-element device array, uploaded once per (value, dtype) and cached.
"""
import functools
import math
import numbers
import operator

import numpy as np

from . import elementwise as ew
from . import launch, memory, movement
from . import reduce as red


def contiguous_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class CudaArray:
    __array_ufunc__ = None  # ndarray <op> CudaArray calls CudaArray's reflected operator

    def __init__(self, block, shape, strides=None, offset=0):
        self.block = block  # kept alive by every view of the buffer
        self.buf = block.array
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
        flat = self if self.is_contiguous else self.copy()
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

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        out = CudaArray.empty(self.shape, dtype)
        ew.run(ew.copy_kernel, out, self)
        return out

    def _view(self, shape, strides, offset=None):
        return CudaArray(self.block, shape, strides, self.offset if offset is None else offset)

    def reshape(self, *shape):
        shape = _resolve_shape(shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape, self.size)
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

    # ---- indexing ---------------------------------------------------------------------
    def __getitem__(self, index):
        index = _as_tuple(index)
        if not _is_advanced(index):
            return self._basic_view(index)
        positions, lead, out_lead = self._positions(index)
        out = CudaArray.empty(out_lead + self.shape[lead:], self.dtype)
        movement.gather(out, self, positions.array, lead)
        return out

    def __setitem__(self, index, value):
        index = _as_tuple(index)
        value = _device_operand(value, self.dtype)
        if not _is_advanced(index):
            target = self._basic_view(index)
            ew.run(ew.copy_kernel, target, value.broadcast_to(target.shape))
            return
        positions, lead, out_lead = self._positions(index)
        movement.scatter(self, positions.array, lead, _blocks(value, out_lead, self.shape[lead:]))

    def scatter_add(self, index, value):
        """self[index] += value with repeated indices adding up (np.add.at)."""
        index = _as_tuple(index)
        value = _device_operand(value, self.dtype)
        if not _is_advanced(index):
            self[index] = self[index] + value
            return
        positions, lead, out_lead = self._positions(index)
        movement.scatter(self, positions.array, lead, _blocks(value, out_lead, self.shape[lead:]), accumulate=True)

    def _basic_view(self, index):
        """The view for an index of ints, slices, None and at most one Ellipsis."""
        index = _expand_ellipsis(index, self.ndim)
        used = sum(it is not None for it in index)
        if used > self.ndim:
            raise IndexError(f"too many indices for an array of shape {self.shape}")
        shape, strides, start, axis = [], [], self.offset, 0
        for it in index:
            if it is None:
                shape.append(1)
                strides.append(0)
                continue
            n, s = self.shape[axis], self.strides[axis]
            if isinstance(it, slice):
                first, stop, step = it.indices(n)
                count = len(range(first, stop, step))
                start += first * s if count else 0
                shape.append(count)
                strides.append(s * step)
            else:
                i = operator.index(it)
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
                start += (i % n) * s
            axis += 1
        return self._view(shape + list(self.shape[axis:]), strides + list(self.strides[axis:]), start)

    def _positions(self, index):
        """For an advanced index: the buffer offsets (relative to self.offset, a device Block) of the
        selected blocks, how many leading axes the index covers, and the selection's shape.

        NumPy applies the index to a stand-in of the leading axes whose entries are their own
        offsets (a broadcast view per axis, so it costs the size of the result, not of self)."""
        index = _expand_ellipsis(index, self.ndim)
        while index and isinstance(index[-1], slice) and index[-1] == slice(None):
            index = index[:-1]  # trailing whole axes are copied as blocks
        lead = sum(_axes_used(it) for it in index)
        if lead > self.ndim:
            raise IndexError(f"too many indices for an array of shape {self.shape}")
        lead_shape = self.shape[:lead]
        total = np.broadcast_to(np.zeros((), np.int64), lead_shape)[index]
        for axis in range(lead):
            steps = np.arange(lead_shape[axis], dtype=np.int64) * self.strides[axis]
            steps = steps.reshape([-1 if a == axis else 1 for a in range(lead)])
            total = total + np.broadcast_to(steps, lead_shape)[index]
        out_lead = total.shape
        return memory.upload(np.ascontiguousarray(total, np.int64), "indexing with host indices"), lead, out_lead

    # ---- arithmetic -------------------------------------------------------------------
    def __add__(self, other):
        return binary(ew.ADD, np.add, self, other)

    def __radd__(self, other):
        return binary(ew.ADD, np.add, other, self)

    def __sub__(self, other):
        return binary(ew.SUB, np.subtract, self, other)

    def __rsub__(self, other):
        return binary(ew.SUB, np.subtract, other, self)

    def __mul__(self, other):
        return binary(ew.MUL, np.multiply, self, other)

    def __rmul__(self, other):
        return binary(ew.MUL, np.multiply, other, self)

    def __truediv__(self, other):
        return binary(ew.DIV, np.true_divide, self, other)

    def __rtruediv__(self, other):
        return binary(ew.DIV, np.true_divide, other, self)

    def __pow__(self, other):
        return binary(ew.POW, np.power, self, other)

    def __rpow__(self, other):
        return binary(ew.POW, np.power, other, self)

    def __iadd__(self, other):
        return binary(ew.ADD, np.add, self, other, out=self)

    def __isub__(self, other):
        return binary(ew.SUB, np.subtract, self, other, out=self)

    def __imul__(self, other):
        return binary(ew.MUL, np.multiply, self, other, out=self)

    def __itruediv__(self, other):
        return binary(ew.DIV, np.true_divide, self, other, out=self)

    def __neg__(self):
        if self.dtype == np.bool_:
            raise TypeError("negative: not supported for bool arrays; use ~ for logical not")
        return unary(ew.NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return unary(ew.ABS, self)

    def __lt__(self, other):
        return compare(ew.LT, self, other)

    def __le__(self, other):
        return compare(ew.LE, self, other)

    def __gt__(self, other):
        return compare(ew.GT, self, other)

    def __ge__(self, other):
        return compare(ew.GE, self, other)

    def __eq__(self, other):
        return compare(ew.EQ, self, other)

    def __ne__(self, other):
        return compare(ew.NE, self, other)

    __hash__ = None

    def __invert__(self):
        _require_bool("invert", self)
        return compare(ew.EQ, self, False)

    def __and__(self, other):
        _require_bool("logical and", self, other)
        return where(self, other, False)

    def __or__(self, other):
        _require_bool("logical or", self, other)
        return where(self, True, other)

    def __rand__(self, other):
        return self & other

    def __ror__(self, other):
        return self | other

    def __iand__(self, other):
        _require_bool("logical and", self, other)
        return where(self, other, False, out=self)

    def __ior__(self, other):
        _require_bool("logical or", self, other)
        return where(self, True, other, out=self)

    def __bool__(self):
        raise TypeError("the truth value of a CudaArray needs a copy to the host: use .item()")

    # ---- reductions -------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, keepdims=False):
        return reduce(red.SUM, self, axis, keepdims, dtype)

    def max(self, axis=None, keepdims=False):
        return reduce(red.MAX, self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return reduce(red.MIN, self, axis, keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        if dtype is None:
            dtype = self.dtype if self.dtype.kind == "f" else np.dtype(np.float64)
        count = math.prod(self.shape[a] for a in _normalise_axes(axis, self.ndim, "mean"))
        return self.sum(axis, dtype=dtype, keepdims=keepdims) / dtype.type(count)


def _blocks(value, lead_shape, inner_shape):
    """value broadcast to the selection's shape, seen as (J, *inner): one block per position."""
    return value.broadcast_to(tuple(lead_shape) + tuple(inner_shape)).reshape((math.prod(lead_shape),) + tuple(inner_shape))


# ---- elementwise front ends -----------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _result_dtype(ufunc, *kinds):
    """The dtype NumPy gives ufunc(*operands), each operand a dtype or a Python number type."""
    protos = [np.zeros(1, k) if isinstance(k, np.dtype) else k(0) for k in kinds]
    with np.errstate(all="ignore"):
        return ufunc(*protos).dtype


def _kind(x):
    if isinstance(x, CudaArray):
        return x.dtype
    if isinstance(x, (bool, int, float)):
        return bool if isinstance(x, bool) else int if isinstance(x, int) else float
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        return np.asarray(x).dtype
    raise TypeError(
        f"a CudaArray cannot meet a {type(x).__name__}"
        + (f" of shape {np.shape(x)} (a host array: move it to the GPU first)" if isinstance(x, np.ndarray) else "")
    )


def _dtype_of(ufunc, *operands):
    try:
        return _result_dtype(ufunc, *(_kind(x) for x in operands))
    except TypeError as e:
        if "CudaArray cannot meet" in str(e):
            raise
        kinds = ", ".join(str(_kind(x)) for x in operands)
        raise TypeError(f"{ufunc.__name__}: not supported for operands of types {kinds}") from None


@functools.lru_cache(maxsize=1024)
def _constant_cached(dtype, raw):
    return CudaArray(memory.upload(np.frombuffer(raw, dtype), constant=True), ())


def constant(value, dtype):
    """A 0-d device array holding value as dtype (cached: numbers repeat from step to step)."""
    dtype = np.dtype(dtype)
    return _constant_cached(dtype, np.asarray(value, dtype).tobytes())


def _device_operand(x, dtype):
    """x as a CudaArray; a number (Python or NumPy) becomes a cached constant of `dtype`,
    a host array is uploaded (values assigned into a CudaArray come from the host)."""
    if isinstance(x, CudaArray):
        return x
    if isinstance(x, np.ndarray) and x.ndim:
        return CudaArray.from_host(x.astype(dtype, copy=False))
    return constant(x, dtype)


def _operands(dtype, *xs):
    """Every operand as a CudaArray; numbers take the dtype NumPy 2 gives them beside the arrays."""
    arrays = [x for x in xs if isinstance(x, CudaArray)]
    out = []
    for x in xs:
        if isinstance(x, CudaArray):
            out.append(x)
        else:
            weak_with = arrays[0].dtype if arrays else dtype
            out.append(constant(x, np.result_type(weak_with, x) if isinstance(x, (bool, int, float)) else _kind(x)))
    return out


def _broadcast(op_name, *arrays):
    shapes = {a.shape for a in arrays if a.shape}
    if len(shapes) <= 1:  # one shape, with 0-d operands beside it: no need to ask NumPy
        return shapes.pop() if shapes else ()
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = " and ".join(str(a.shape) for a in arrays)
        raise ValueError(f"{op_name}: shapes {shapes} cannot be broadcast together") from None


def _output(shape, dtype, out, op_name):
    if out is None:
        return CudaArray.empty(shape, dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{op_name}: cannot write a result of shape {shape} into an array of shape {out.shape}")
    return out


def _as_numeric(x, dtype):
    """Kernels do arithmetic on numbers: bool operands take the result's dtype first."""
    return x.astype(dtype) if x.dtype == np.bool_ and dtype != np.bool_ else x


def binary(op, ufunc, a, b, out=None):
    dtype = _dtype_of(ufunc, a, b)
    a, b = (_as_numeric(x, dtype) for x in _operands(dtype, a, b))
    shape = _broadcast(ufunc.__name__, a, b)
    out = _output(shape, dtype, out, ufunc.__name__)
    ew.run(ew.binary_kernel, out, a.broadcast_to(shape), b.broadcast_to(shape), op=op)
    return out


_COMPARE_UFUNCS = {ew.LT: np.less, ew.LE: np.less_equal, ew.GT: np.greater, ew.GE: np.greater_equal, ew.EQ: np.equal, ew.NE: np.not_equal}


def compare(op, a, b):
    ufunc = _COMPARE_UFUNCS[op]
    a, b = _operands(promote(a, b), a, b)
    shape = _broadcast(ufunc.__name__, a, b)
    out = CudaArray.empty(shape, np.bool_)
    ew.run(ew.compare_kernel, out, a.broadcast_to(shape), b.broadcast_to(shape), op=op)
    return out


def isfinite(x):
    out = CudaArray.empty(x.shape, np.bool_)
    ew.run(ew.compare_kernel, out, x, x, op=ew.ISFINITE)
    return out


def unary(op, x, out=None):
    if x.dtype == np.bool_:
        x = x.astype(np.float32)  # NumPy would use float16, which tinygrad_nb does not have
    dtype = x.dtype if op in (ew.NEG, ew.ABS, ew.SIGN) or x.dtype.kind == "f" else np.dtype(np.float64)
    out = _output(x.shape, dtype, out, "unary")
    ew.run(ew.unary_kernel, out, x, op=op)
    return out


def promote(*xs):
    """np.result_type of arrays and numbers, Python numbers weak as in NumPy 2."""
    return np.result_type(*(x.dtype if isinstance(x, CudaArray) else x for x in xs))


def where(condition, a, b, out=None):
    dtype = promote(a, b)
    condition = _device_operand(condition, np.bool_)
    a, b = _operands(dtype, a, b)
    shape = _broadcast("where", condition, a, b)
    out = _output(shape, dtype, out, "where")
    ew.run(ew.where_kernel, out, *(x.broadcast_to(shape) for x in (condition, a, b)))
    return out


def _require_bool(op_name, *xs):
    for x in xs:
        if _kind(x) not in (np.dtype(np.bool_), bool):
            raise TypeError(f"{op_name}: only bool arrays are supported on the GPU, got {_kind(x)}")


# ---- reductions -----------------------------------------------------------------------
def _normalise_axes(axis, ndim, op_name):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"{op_name}: axis {a} is out of bounds for an array of {ndim} dimensions")
        out.append(a % max(ndim, 1))
    return tuple(sorted(set(out))) if ndim else ()


def _identity(op, dtype):
    if op == red.SUM:
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if op == red.MAX else np.inf)
    if dtype == np.bool_:
        return dtype.type(op != red.MAX)
    info = np.iinfo(dtype)
    return dtype.type(info.min if op == red.MAX else info.max)


def reduce(op, x, axis=None, keepdims=False, dtype=None):
    """sum / max / min of x over `axis` (None: all), with NumPy's dtypes and keepdims."""
    name = ("sum", "max", "min")[op]
    axes = _normalise_axes(axis, x.ndim, name)
    if op == red.SUM:
        dtype = np.dtype(dtype) if dtype is not None else (np.dtype(np.int64) if x.dtype.kind in "biu" else x.dtype)
    else:
        dtype = x.dtype
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name}: zero-size reduction over axes {axes} of shape {x.shape}, which has no identity")
    kept = [a for a in range(x.ndim) if a not in axes]
    out_shape = tuple(1 if a in axes else n for a, n in enumerate(x.shape)) if keepdims else tuple(x.shape[a] for a in kept)
    out = CudaArray.empty(out_shape, dtype)
    red.reduce_into(
        op,
        _identity(op, dtype),
        out.buf,
        x,
        [x.shape[a] for a in kept],
        [x.strides[a] for a in kept],
        [x.shape[a] for a in axes],
        [x.strides[a] for a in axes],
    )
    return out


# ---- shapes ---------------------------------------------------------------------------
def _resolve_shape(shape, size):
    shape = tuple(operator.index(n) for n in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only infer one dimension, got {shape}")
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ValueError(f"reshape: cannot reshape an array of size {size} into shape {shape}")
    return shape


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


def _as_tuple(index):
    return index if isinstance(index, tuple) else (index,)


def _is_index_array(it):
    return isinstance(it, (list, CudaArray, bool, np.bool_)) or (
        isinstance(it, np.ndarray) and (it.ndim > 0 or it.dtype == np.bool_)
    )


def _is_advanced(index):
    return any(_is_index_array(it) for it in index)


def _axes_used(it):
    """How many axes of the indexed array one index entry consumes."""
    if it is None or it is Ellipsis:
        return 0
    if isinstance(it, (bool, np.bool_)):
        return 0
    if isinstance(it, (np.ndarray, CudaArray)) and it.dtype == np.bool_:
        return it.ndim
    return 1


def _expand_ellipsis(index, ndim):
    """Replace '...' by the whole slices it stands for."""
    index = tuple(it.get() if isinstance(it, CudaArray) else it for it in index)
    count = sum(it is Ellipsis for it in index)
    if count > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if not count:
        return index
    at = next(i for i, it in enumerate(index) if it is Ellipsis)
    rest = sum(_axes_used(it) for it in index if it is not Ellipsis)
    return index[:at] + (slice(None),) * max(ndim - rest, 0) + index[at + 1 :]
