"""Elementwise kernels on the GPU, generic over shapes and strides.

Every operand is a view of a flat device buffer: (buffer, offset, strides), with stride 0
along broadcast axes. A kernel walks the output's elements in C order with a grid-stride
loop and finds each operand's element from the shared multi-index, so one kernel serves
every broadcast, transposed or sliced layout. Before a launch, neighbouring axes that
every operand steps through as one are merged (`collapse`): contiguous work has one axis,
and work of one axis runs in the `*_flat_kernel` twins, which step through it without
dividing indices.

The op is a runtime argument (`EXP`, `ADD`, ...) rather than one kernel per op: every
thread takes the same branch, and a few general kernels compile once per dtype and rank.

The front ends at the end (`binary`, `unary`, `compare`, `where`, `isfinite`) are what
CudaArray's operators and the `xp` namespace call: they take CudaArrays and numbers, give
the result NumPy's dtype and broadcast shape (dtypes.py), and launch one kernel through `run`.
"""
import math

import numpy as np

from . import dtypes
from .device_array import DeviceArray
from .launch import SIMULATED, cuda, grid, launch

# Unary math ops (float inputs); the activations have kernels of their own (activation.py).
NEG, EXP, LOG, SQRT, TANH, ABS, SIGN, SIN, COS = range(9)
# Binary arithmetic ops.
ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM = range(7)
# Comparisons (bool results); ISFINITE reads its first operand only.
LT, LE, GT, GE, EQ, NE, ISFINITE = range(7)

if SIMULATED:
    # Python's math raises (log 0, exp 1000, sqrt -1) where the GPU returns inf or nan, and
    # returns Python floats, which NumPy 2 lets a float32 operand pull down to float32;
    # NumPy's scalar functions keep their argument's type and return what the GPU does.
    exp, log, log1p, sqrt, tanh, sin, cos = np.exp, np.log, np.log1p, np.sqrt, np.tanh, np.sin, np.cos
else:
    exp, log, log1p, sqrt, tanh, sin, cos = math.exp, math.log, math.log1p, math.sqrt, math.tanh, math.sin, math.cos


@cuda.jit(device=True)
def offset(i, shape, strides, start):
    """Buffer position of element i (counted in C order over `shape`) of a strided view."""
    for d in range(len(shape) - 1, -1, -1):
        q = i // shape[d]
        start += (i - q * shape[d]) * strides[d]
        i = q
    return start


@cuda.jit(device=True)
def unary_op(op, x):
    if op == NEG:
        return -x
    if op == EXP:
        return exp(x)
    if op == LOG:
        return log(x)
    if op == SQRT:
        return sqrt(x)
    if op == TANH:
        return tanh(x)
    if op == ABS:
        return abs(x)
    if op == SIN:
        return sin(x)
    if op == COS:
        return cos(x)
    if x > 0:  # SIGN
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0 and nan are their own sign, as in np.sign


@cuda.jit(device=True)
def binary_op(op, a, b):
    if op == ADD:
        return a + b
    if op == SUB:
        return a - b
    if op == MUL:
        return a * b
    if op == DIV:
        return a / b
    if op == POW:
        return a**b
    if op == MAXIMUM:
        return a if a > b or a != a else b  # nan wins, as np.maximum
    return a if a < b or a != a else b  # MINIMUM


@cuda.jit(device=True)
def compare_op(op, a, b):
    if op == LT:
        return a < b
    if op == LE:
        return a <= b
    if op == GT:
        return a > b
    if op == GE:
        return a >= b
    if op == EQ:
        return a == b
    if op == NE:
        return a != b
    return a - a == 0  # false exactly for inf and nan


@cuda.jit(cache=True)
def copy_kernel(n, shape, out, o0, os, a, a0, as_):
    """out = a, converting to out's dtype."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[offset(i, shape, os, o0)] = a[offset(i, shape, as_, a0)]


@cuda.jit(cache=True)
def unary_kernel(op, n, shape, out, o0, os, a, a0, as_):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[offset(i, shape, os, o0)] = unary_op(op, a[offset(i, shape, as_, a0)])


@cuda.jit(cache=True)
def binary_kernel(op, n, shape, out, o0, os, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[offset(i, shape, os, o0)] = binary_op(op, a[offset(i, shape, as_, a0)], b[offset(i, shape, bs, b0)])


@cuda.jit(cache=True)
def compare_kernel(op, n, shape, out, o0, os, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[offset(i, shape, os, o0)] = compare_op(op, a[offset(i, shape, as_, a0)], b[offset(i, shape, bs, b0)])


@cuda.jit(cache=True)
def where_kernel(n, shape, out, o0, os, c, c0, cs, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        if c[offset(i, shape, cs, c0)]:
            out[offset(i, shape, os, o0)] = a[offset(i, shape, as_, a0)]
        else:
            out[offset(i, shape, os, o0)] = b[offset(i, shape, bs, b0)]


# The same kernels for work that collapses to one axis (contiguous arrays, a number broadcast
# against an array, a strided 1-D view: most elementwise work): element i of an operand is
# at start + i * step, with no index division per element.
@cuda.jit(cache=True)
def copy_flat_kernel(n, out, o0, os, a, a0, as_):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = a[a0 + i * as_]


@cuda.jit(cache=True)
def unary_flat_kernel(op, n, out, o0, os, a, a0, as_):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = unary_op(op, a[a0 + i * as_])


@cuda.jit(cache=True)
def binary_flat_kernel(op, n, out, o0, os, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = binary_op(op, a[a0 + i * as_], b[b0 + i * bs])


@cuda.jit(cache=True)
def compare_flat_kernel(op, n, out, o0, os, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = compare_op(op, a[a0 + i * as_], b[b0 + i * bs])


@cuda.jit(cache=True)
def where_flat_kernel(n, out, o0, os, c, c0, cs, a, a0, as_, b, b0, bs):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[o0 + i * os] = a[a0 + i * as_] if c[c0 + i * cs] else b[b0 + i * bs]


FLAT = {copy_kernel: copy_flat_kernel, unary_kernel: unary_flat_kernel, binary_kernel: binary_flat_kernel,
        compare_kernel: compare_flat_kernel, where_kernel: where_flat_kernel}


def collapse(shape, strides):
    """Drop size-1 axes and merge each axis into the next where every operand's strides
    allow it. `strides` holds one tuple per operand; returns (shape, strides) of rank >= 1."""
    merged = []
    for d, n in enumerate(shape):
        if n == 1:
            continue
        step = [s[d] for s in strides]
        if merged and all(p == q * n for p, q in zip(merged[-1][1], step)):
            merged[-1] = (merged[-1][0] * n, step)
        else:
            merged.append((n, step))
    if not merged:
        merged = [(1, [0] * len(strides))]
    return tuple(n for n, _ in merged), [tuple(step[k] for _, step in merged) for k in range(len(strides))]


def run(kernel, out, *inputs, op=None):
    """Launch an elementwise kernel writing the view `out` from views already broadcast to
    out's shape. Views are anything with .buf, .offset, .shape and .strides."""
    views = (out,) + inputs
    shape, strides = collapse(out.shape, [v.strides for v in views])
    n = math.prod(shape)
    if n == 0:
        return
    args = [] if op is None else [op]
    if len(shape) == 1:
        args.append(n)
        for v, s in zip(views, strides):
            args += [v.buf, v.offset, s[0]]
        launch(FLAT[kernel], *grid(n), *args)
        return
    args += [n, shape]
    for v, s in zip(views, strides):
        args += [v.buf, v.offset, s]
    launch(kernel, *grid(n), *args)



# ---- front ends: CudaArrays and numbers in, NumPy's dtype and shape out ------------------
def _broadcast(op_name, *arrays):
    shapes = {a.shape for a in arrays if a.shape}
    if len(shapes) <= 1:  # one shape, with 0-d operands beside it: no need to ask NumPy
        return shapes.pop() if shapes else ()
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = " and ".join(str(a.shape) for a in arrays)
        raise ValueError(f"{op_name}: shapes {shapes} cannot be broadcast together") from None


def _output(shape, dtype, out, op_name, like):
    if out is None:
        return type(like).empty(shape, dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{op_name}: cannot write a result of shape {shape} into an array of shape {out.shape}")
    return out


def _as_numeric(x, dtype):
    """Kernels do arithmetic on numbers: bool operands take the result's dtype first."""
    return x.astype(dtype) if x.dtype == np.bool_ and dtype != np.bool_ else x


def binary(op, ufunc, a, b, out=None):
    """ufunc(a, b) (`op` its kernel op: ADD for np.add, ...), into `out` if given."""
    dtype = dtypes.dtype_of(ufunc, a, b)
    a, b = (_as_numeric(x, dtype) for x in dtypes.operands(dtype, a, b))
    shape = _broadcast(ufunc.__name__, a, b)
    out = _output(shape, dtype, out, ufunc.__name__, a)
    run(binary_kernel, out, a.broadcast_to(shape), b.broadcast_to(shape), op=op)
    return out


_COMPARE_UFUNCS = {LT: np.less, LE: np.less_equal, GT: np.greater, GE: np.greater_equal, EQ: np.equal, NE: np.not_equal}


def compare(op, a, b):
    """a < b, a == b, ... (`op` LT, EQ, ...) as a bool array."""
    ufunc = _COMPARE_UFUNCS[op]
    a, b = dtypes.operands(dtypes.promote(a, b), a, b)
    shape = _broadcast(ufunc.__name__, a, b)
    out = type(a).empty(shape, np.bool_)
    run(compare_kernel, out, a.broadcast_to(shape), b.broadcast_to(shape), op=op)
    return out


def isfinite(x):
    """np.isfinite: False at inf and NaN."""
    out = type(x).empty(x.shape, np.bool_)
    run(compare_kernel, out, x, x, op=ISFINITE)
    return out


def unary(op, x, out=None):
    """A math function of x (`op` EXP, LOG, ...): float results for integer x, as NumPy's."""
    if x.dtype == np.bool_:
        x = x.astype(np.float32)  # NumPy would use float16, which tinygrad_nb does not have
    dtype = x.dtype if op in (NEG, ABS, SIGN) or x.dtype.kind == "f" else np.dtype(np.float64)
    out = _output(x.shape, dtype, out, "unary", x)
    run(unary_kernel, out, x, op=op)
    return out


def where(condition, a, b, out=None):
    """a where condition holds, else b (np.where), all three broadcast together."""
    dtype = dtypes.promote(a, b)
    like = next((x for x in (condition, a, b) if isinstance(x, DeviceArray)), None)
    if like is None:
        raise TypeError("where: none of condition, x and y is on the GPU; expected at least one CudaArray")
    condition = dtypes.device_operand(condition, np.bool_, like)
    a, b = dtypes.operands(dtype, a, b, like=like)
    shape = _broadcast("where", condition, a, b)
    out = _output(shape, dtype, out, "where", like)
    run(where_kernel, out, *(x.broadcast_to(shape) for x in (condition, a, b)))
    return out

