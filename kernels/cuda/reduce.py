"""Reductions on the GPU: shared-memory tree reductions, a row of a CUDA block's threads per output.

The input is seen as a matrix of M rows (the kept axes) by K columns (the reduced axes),
each side with its own shape and strides, so any axes of any view reduce without a copy.
A CUDA block is T x R threads: R rows at a time, T threads per row. Each thread folds every
T-th element of its row, then the T partial results meet in shared memory in log2(T)
halving steps. When there are few rows but long ones, each row is split into P parts that
separate blocks fold, and a second pass folds the P partial results.
`argmax` and the softmax pair are simpler: one thread walks each row (rows of classes are
short), so each is one launch. `reduce` is the front end CudaArray.sum/max/min and `xp`
call: NumPy's axes, dtypes and keepdims over `reduce_into`.
"""
import functools
import math

import numba
import numpy as np

from ..shapes import normalise_axes
from .elementwise import exp, log, offset
from .launch import SIMULATED, THREADS, cuda, grid, launch

SUM, MAX, MIN = range(3)

BLOCK_THREADS = 16 if SIMULATED else 256  # threads per CUDA block, T * R; also the shared array's length
MAX_BLOCKS = 2 if SIMULATED else 4096
SPLIT_AT = 8 * BLOCK_THREADS  # a row longer than this, in a grid of few rows, is split into parts


@cuda.jit(device=True)
def block_sum(cache, k):
    """cache[0] = the sum of the block's THREADS slots of the shared array `cache`, thread k
    having written cache[k]: log2(THREADS) halving steps. Every thread of the block calls it
    (it synchronises them)."""
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if k < step:
            cache[k] += cache[k + step]
        cuda.syncthreads()
        step //= 2


@cuda.jit(device=True)
def combine(op, a, b):
    if op == SUM:
        return a + b
    if op == MAX:
        return a if a > b or a != a else b  # nan wins, as np.max
    return a if a < b or a != a else b


@functools.lru_cache(maxsize=None)
def _kernel(dtype):
    """The reduction kernel accumulating in `dtype` (the shared array's type is fixed at compile time)."""
    acc_type = numba.from_dtype(dtype)

    @cuda.jit(cache=True)
    def reduce_rows(op, identity, rows, parts, chunk, length, out, x, x0, kept_shape, kept_strides, red_shape, red_strides):
        cache = cuda.shared.array(BLOCK_THREADS, acc_type)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        width, height = cuda.blockDim.x, cuda.blockDim.y
        slot = ty * width + tx
        for first in range(cuda.blockIdx.x * height, rows * parts, cuda.gridDim.x * height):
            task = first + ty  # one (row, part) pair per block row
            acc = identity
            if task < rows * parts:
                row, part = task // parts, task % parts
                start = offset(row, kept_shape, kept_strides, x0)
                for r in range(part * chunk + tx, min(length, (part + 1) * chunk), width):
                    acc = combine(op, acc, x[offset(r, red_shape, red_strides, start)])
            cache[slot] = acc
            cuda.syncthreads()
            step = width // 2
            while step > 0:
                if tx < step:
                    cache[slot] = combine(op, cache[slot], cache[slot + step])
                cuda.syncthreads()
                step //= 2
            if tx == 0 and task < rows * parts:
                out[task] = cache[slot]

    return reduce_rows


def _pow2_at_least(n):
    return 1 << max(n - 1, 0).bit_length()


def reduce_into(op, identity, out, x, kept_shape, kept_strides, red_shape, red_strides, parts=None):
    """Fold the strided view x (a buffer with .buf and .offset) into the flat buffer `out`:
    out[row] = op over the reduced axes of row `row` (rows in C order over kept_shape).
    `parts` splits each row; by default rows are split when there are few and long ones."""
    rows, length = math.prod(kept_shape), math.prod(red_shape)
    if parts is None:
        parts = 1
        if length > SPLIT_AT and rows < MAX_BLOCKS // 4:
            parts = min(math.ceil(length / SPLIT_AT), MAX_BLOCKS // max(rows, 1))
    chunk = math.ceil(length / parts)
    kernel = _kernel(np.dtype(out.dtype))
    target = out if parts == 1 else cuda.device_array(rows * parts, out.dtype)
    width = min(_pow2_at_least(chunk), BLOCK_THREADS)
    height = BLOCK_THREADS // width
    blocks = min(math.ceil(rows * parts / height), MAX_BLOCKS)
    kept = (tuple(kept_shape) or (1,), tuple(kept_strides) or (0,))
    reduced = (tuple(red_shape) or (1,), tuple(red_strides) or (0,))
    if rows == 0:
        return
    launch(kernel, blocks, (width, height), op, identity, rows, parts, chunk, length, target, x.buf, x.offset, *kept, *reduced)
    if parts > 1:  # row r's partial results sit at target[r * parts : (r + 1) * parts]
        reduce_into(op, identity, out, _Flat(target), (rows,), (parts,), (parts,), (1,), parts=1)


class _Flat:
    """A contiguous buffer seen as a view, for the pass over partial results."""

    def __init__(self, buf):
        self.buf, self.offset = buf, 0


def identity(op, dtype):
    """The value op starts from: 0 for a sum, the lowest (highest) value of dtype for max (min)."""
    if op == SUM:
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if op == MAX else np.inf)
    if dtype == np.bool_:
        return dtype.type(op != MAX)
    info = np.iinfo(dtype)
    return dtype.type(info.min if op == MAX else info.max)


def reduce(op, x, axis=None, keepdims=False, dtype=None):
    """sum / max / min of x over `axis` (None: all), with NumPy's dtypes and keepdims."""
    name = ("sum", "max", "min")[op]
    axes = normalise_axes(axis, x.shape, name)
    if op == SUM:
        dtype = np.dtype(dtype) if dtype is not None else (np.dtype(np.int64) if x.dtype.kind in "biu" else x.dtype)
    else:
        dtype = x.dtype
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name}: zero-size reduction over axes {axes} of shape {x.shape}, which has no identity")
    kept = [a for a in range(x.ndim) if a not in axes]
    out_shape = tuple(1 if a in axes else n for a, n in enumerate(x.shape)) if keepdims else tuple(x.shape[a] for a in kept)
    out = type(x).empty(out_shape, dtype)
    reduce_into(op, identity(op, dtype), out.buf, x, [x.shape[a] for a in kept], [x.strides[a] for a in kept],
                [x.shape[a] for a in axes], [x.strides[a] for a in axes])
    return out


@cuda.jit(cache=True)
def argmax_kernel(rows, length, kept_shape, kept_strides, x, x0, step, out, smallest):
    for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
        start = offset(r, kept_shape, kept_strides, x0)
        best, where = x[start], 0
        for k in range(1, length):
            if best != best:
                break  # the first NaN wins, as in np.argmax
            v = x[start + k * step]
            if (v < best if smallest else v > best) or v != v:
                best, where = v, k
        out[r] = where


def _rows(a, axis):
    """(kept shape, kept strides) of a seen as rows along `axis`."""
    kept = [d for d in range(a.ndim) if d != axis]
    return tuple(a.shape[d] for d in kept) or (1,), tuple(a.strides[d] for d in kept) or (0,)


def argmax(x, axis, keepdims, smallest):
    """Index of the largest (smallest) element along `axis` (None: of the flattened array),
    the first one on ties and the first NaN if there is one, as int64; one thread per output."""
    if axis is None:
        flat = x.contiguous()
        out = argmax(flat.reshape(-1), 0, False, smallest)
        return out.reshape((1,) * x.ndim) if keepdims else out
    out = type(x).empty(tuple(n for a, n in enumerate(x.shape) if a != axis), np.int64)
    if out.size:
        shape, strides = _rows(x, axis)
        launch(argmax_kernel, *grid(out.size), out.size, x.shape[axis], shape, strides, x.buf, x.offset,
               x.strides[axis], out.buf, bool(smallest))
    return out.reshape(tuple(1 if a == axis else n for a, n in enumerate(x.shape))) if keepdims else out


@cuda.jit(cache=True)
def softmax_kernel(rows, length, kept_shape, x_kept, x, x0, x_step, out_kept, out, out_step, log_out):
    for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
        start, to = offset(r, kept_shape, x_kept, x0), offset(r, kept_shape, out_kept, 0)
        top = -math.inf
        for k in range(length):
            v = x[start + k * x_step]
            if v > top or v != v:
                top = v
        total = 0.0  # a row whose maximum is +inf or NaN (or all -inf) is NaN throughout, as in PyTorch
        for k in range(length):
            total += exp(x[start + k * x_step] - top)
        norm = log(total)
        for k in range(length):
            shifted = x[start + k * x_step] - top
            out[to + k * out_step] = shifted - norm if log_out else exp(shifted) / total


@cuda.jit(cache=True)
def softmax_backward_kernel(rows, length, kept_shape, g_kept, g, g0, g_step, y_kept, y, y0, y_step, out_kept, dx,
                            dx_step, log_out):
    for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
        gs, ys, to = offset(r, kept_shape, g_kept, g0), offset(r, kept_shape, y_kept, y0), offset(r, kept_shape, out_kept, 0)
        total = 0.0
        for k in range(length):
            total += g[gs + k * g_step] if log_out else g[gs + k * g_step] * y[ys + k * y_step]
        for k in range(length):
            gk, yk = g[gs + k * g_step], y[ys + k * y_step]
            dx[to + k * dx_step] = gk - exp(yk) * total if log_out else yk * (gk - total)


def softmax(x, axis, log):
    """e^(x - m) / sum e^(x - m) along axis, or its logarithm: one launch, a thread per row."""
    axis %= max(x.ndim, 1)
    out = type(x).empty(x.shape, x.dtype)
    if out.size:
        shape, x_kept = _rows(x, axis)
        launch(softmax_kernel, *grid(out.size // x.shape[axis]), out.size // x.shape[axis], x.shape[axis], shape,
               x_kept, x.buf, x.offset, x.strides[axis], _rows(out, axis)[1], out.buf, out.strides[axis], bool(log))
    return out


def softmax_backward(g, y, axis, log):
    """dx of softmax (y (g - sum(g y))) or of log-softmax (g - e^y sum(g)), from its output y."""
    axis %= max(y.ndim, 1)
    dx = type(y).empty(y.shape, y.dtype)
    if dx.size:
        rows = dx.size // y.shape[axis]
        shape, g_kept = _rows(g, axis)
        launch(softmax_backward_kernel, *grid(rows), rows, y.shape[axis], shape, g_kept, g.buf, g.offset,
               g.strides[axis], _rows(y, axis)[1], y.buf, y.offset, y.strides[axis], _rows(dx, axis)[1], dx.buf,
               dx.strides[axis], bool(log))
    return dx
