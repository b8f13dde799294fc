"""Work along one axis on the GPU, the CPU's index.py name for name: gathers and scatters by
an index tensor (one thread per index entry, the index read on the device), running sums and
products (one thread per line along the axis), and the sort order.

An index along `axis` has the array's number of axes and picks, for each of its positions,
the entry at index[pos] along `axis` and at pos's own coordinates along the others. There is
no host check of an index already on the GPU (it would cost a copy): a gather reads NaN (0
for integers) where the index is outside the axis, and a scatter skips that entry."""
from ..cpu import index as host_index
from .array import CudaArray
from .launch import cuda, grid, launch


@cuda.jit(device=True)
def _walk(e, shape, axis, a0, a_strides, b0, b_strides):
    """For entry e (C order over shape) the buffer positions in two strided views, the
    first view's position leaving `axis` out (the index fills it in)."""
    for d in range(len(shape) - 1, -1, -1):
        q = e // shape[d]
        c = e - q * shape[d]
        e = q
        if d != axis:
            a0 += c * a_strides[d]
        b0 += c * b_strides[d]
    return a0, b0


@cuda.jit(cache=True)
def gather_kernel(n, shape, axis, size, out, x, x0, xs, index, i0, istr, missing):
    for e in range(cuda.grid(1), n, cuda.gridsize(1)):
        at, i = _walk(e, shape, axis, x0, xs, i0, istr)
        j = index[i]
        out[e] = x[at + j * xs[axis]] if 0 <= j < size else missing


@cuda.jit(cache=True)
def scatter_kernel(n, shape, axis, size, out, o0, ostr, index, i0, istr, src, s0, sstr, accumulate):
    for e in range(cuda.grid(1), n, cuda.gridsize(1)):
        at, i = _walk(e, shape, axis, o0, ostr, i0, istr)
        s, _ = _walk(e, shape, -1, s0, sstr, s0, sstr)  # axis -1: no axis left out
        j = index[i]
        if 0 <= j < size:
            if accumulate:
                cuda.atomic.add(out, at + j * ostr[axis], src[s])
            else:
                out[at + j * ostr[axis]] = src[s]


def gather_along(x, index, axis):
    """out[pos] = x[pos with index[pos] along axis]; out (contiguous) has index's shape."""
    out = CudaArray.empty(index.shape, x.dtype)
    if out.size:
        missing = x.dtype.type("nan" if x.dtype.kind == "f" else 0)
        launch(gather_kernel, *grid(out.size), out.size, index.shape, axis, x.shape[axis], out.buf, x.buf, x.offset,
               x.strides, index.buf, index.offset, index.strides, missing)
    return out


def scatter_along(out, index, src, axis, accumulate):
    """In place: out[pos with index[pos] along axis] = src[pos] (+= with accumulate, repeats
    adding up through atomic additions) for each position of index; src is a number or an
    array at least index's size along every axis. Without accumulate, which of repeated
    positions wins is not defined (as in PyTorch on a GPU)."""
    if not isinstance(src, CudaArray):
        src = CudaArray.constant(src, out.dtype)
    if src.ndim == 0:
        src = src.broadcast_to(index.shape)
    if index.size:
        launch(scatter_kernel, *grid(index.size), index.size, index.shape, axis, out.shape[axis], out.buf, out.offset,
               out.strides, index.buf, index.offset, index.strides, src.buf, src.offset, src.strides, bool(accumulate))


@cuda.jit(cache=True)
def scan_kernel(lines, n, outer, x, x0, x_outer, x_step, out, o0, o_outer, o_step, product, reverse, exclusive, first):
    for line in range(cuda.grid(1), lines, cuda.gridsize(1)):
        at, o = _walk(line, outer, -1, x0, x_outer, o0, o_outer)
        acc = first
        for k in range(n):
            j = n - 1 - k if reverse else k
            if exclusive:
                out[o + j * o_step] = acc
            acc = acc * x[at + j * x_step] if product else acc + x[at + j * x_step]
            if not exclusive:
                out[o + j * o_step] = acc


def scan(x, axis, product, reverse, exclusive):
    """Running sums (products with `product`) along axis, in x's dtype: y_i = x_0 + ... + x_i;
    with reverse from the end; exclusive leaves x_i itself out (the first y is 0, or 1). One
    thread walks each line along the axis."""
    out = CudaArray.empty(x.shape, x.dtype)
    n = x.shape[axis]
    # the other axes, behind a leading 1 so that a 1-D x still has a (non-empty) shape
    outer = (1,) + tuple(m for d, m in enumerate(x.shape) if d != axis)
    x_outer = (0,) + tuple(s for d, s in enumerate(x.strides) if d != axis)
    o_outer = (0,) + tuple(s for d, s in enumerate(out.strides) if d != axis)
    lines = out.size // n if n else 0
    if lines:
        launch(scan_kernel, *grid(lines), lines, n, outer, x.buf, x.offset, x_outer, x.strides[axis], out.buf, out.offset,
               o_outer, out.strides[axis], bool(product), bool(reverse), bool(exclusive), x.dtype.type(1 if product else 0))
    return out


def argsort(x, axis, descending):
    """The int64 positions that sort x along axis (stable, NaN the largest), as the CPU's.
    Computed on the host: a round trip device -> host -> device (two copies, and not allowed
    inside a CUDA graph capture), the simplest correct sort; a GPU sort would replace it."""
    return CudaArray.from_host(host_index.argsort(x.get("argsort"), axis, descending), "argsort")
