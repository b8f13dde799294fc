"""Gathers and scatters on the GPU: indexing with integer or boolean arrays.

Advanced indexing picks whole sub-arrays: x[idx] with x of shape (lead..., inner...)
selects J positions over the leading axes, each the start of an `inner`-shaped sub-array.
The host turns the index into those J buffer offsets (indexing.positions, computed by NumPy
on the index alone, never on the data); the kernels here then move the J sub-arrays, one
element per thread.
Repeated positions in `scatter_add` add up through atomic additions. Gathers whose ids are
already on the device (a loss's labels, an embedding's token ids) have kernels of their own,
which read the ids there instead of turning them into positions on the host.
"""
import math

from .elementwise import offset
from .launch import cuda, grid, launch


@cuda.jit(cache=True)
def gather_kernel(n, inner_size, inner_shape, out, positions, x, x0, x_inner):
    """out (contiguous, J sub-arrays of `inner_size` elements) = x's sub-array at each position."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        j = i // inner_size
        out[i] = x[offset(i - j * inner_size, inner_shape, x_inner, x0 + positions[j])]


@cuda.jit(cache=True)
def scatter_kernel(n, inner_size, shape, inner_shape, dst, d0, d_inner, positions, v, v0, vs):
    """dst's sub-array at each position = the matching one of v (v broadcast to (J, *inner))."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        j = i // inner_size
        dst[offset(i - j * inner_size, inner_shape, d_inner, d0 + positions[j])] = v[offset(i, shape, vs, v0)]


@cuda.jit(cache=True)
def scatter_add_kernel(n, inner_size, shape, inner_shape, dst, d0, d_inner, positions, v, v0, vs):
    """dst's sub-array at each position += the matching one of v; repeats accumulate."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        j = i // inner_size
        cuda.atomic.add(dst, offset(i - j * inner_size, inner_shape, d_inner, d0 + positions[j]), v[offset(i, shape, vs, v0)])


def _inner(view, lead):
    shape, strides = view.shape[lead:], view.strides[lead:]
    return (tuple(shape) or (1,)), (tuple(strides) or (0,))


def gather(out, x, positions, lead):
    """out[j, ...] = x[position j, ...]: `positions` a device array of J offsets into x's
    buffer (relative to x.offset), x's first `lead` axes indexed, the rest kept."""
    inner_shape, inner_strides = _inner(x, lead)
    n, inner_size = out.size, math.prod(inner_shape)
    if n:
        launch(gather_kernel, *grid(n), n, inner_size, inner_shape, out.buf, positions, x.buf, x.offset, inner_strides)


def scatter(dst, positions, lead, value, accumulate=False):
    """dst[position j, ...] = value[j, ...] (or += with accumulate); value is a view already
    broadcast to (J, *inner), J = len(positions)."""
    inner_shape, inner_strides = _inner(dst, lead)
    inner_size = math.prod(inner_shape)
    n = len(positions) * inner_size
    if n:
        kernel = scatter_add_kernel if accumulate else scatter_kernel
        shape = (len(positions),) + inner_shape
        strides = tuple(value.strides) + (0,) * (len(shape) - len(value.strides))
        launch(kernel, *grid(n), n, inner_size, shape, inner_shape, dst.buf, dst.offset, inner_strides, positions, value.buf, value.offset, strides)


@cuda.jit(cache=True)
def take_rows_kernel(rows, classes, out, x, x0, xs, labels, l0, ignore, nan, zero):
    for i in range(cuda.grid(1), rows, cuda.gridsize(1)):
        t = labels[l0 + i]
        if t == ignore:
            out[i] = zero
        elif t < 0 or t >= classes:
            out[i] = nan
        else:
            out[i] = x[x0 + i * xs[0] + t * xs[1]]


@cuda.jit(cache=True)
def take_rows_backward_kernel(rows, classes, dx, g, g0, gs, labels, l0, ignore):
    for i in range(cuda.grid(1), rows, cuda.gridsize(1)):
        t = labels[l0 + i]
        if t != ignore and 0 <= t < classes:
            dx[i * classes + t] = g[g0 + i * gs]


def take_rows(x, labels, ignore):
    """x (R, C), labels (R,) -> x[i, labels[i]]: 0 where labels[i] == ignore, NaN where it is
    not a class (there is no host check on the GPU: it would cost a copy every step)."""
    rows, classes = x.shape
    out = type(x).empty((rows,), x.dtype)
    if rows:
        launch(take_rows_kernel, *grid(rows), rows, classes, out.buf, x.buf, x.offset, x.strides, labels.buf,
               labels.offset, labels.dtype.type(ignore), x.dtype.type("nan"), x.dtype.type(0))
    return out


def take_rows_backward(g, labels, ignore, classes):
    """(R, C) zeros with g_i at (i, labels[i]) for each real class label."""
    dx = type(g).empty((g.shape[0], classes), g.dtype)
    dx[...] = 0
    if g.shape[0]:
        launch(take_rows_backward_kernel, *grid(g.shape[0]), g.shape[0], classes, dx.buf, g.buf, g.offset,
               g.strides[0], labels.buf, labels.offset, labels.dtype.type(ignore))
    return dx


@cuda.jit(device=True)
def _row(ids, at, rows, wrap):
    """The table row an id names: negative ids count from the end when `wrap` (indexing),
    not for an embedding; outside the table, -1."""
    row = ids[at]
    if wrap and row < 0:
        row += rows
    return row if 0 <= row < rows else -1


@cuda.jit(cache=True)
def embedding_kernel(n, width, rows, out, w, w0, w_row, w_col, ids, i0, wrap, nan):
    for e in range(cuda.grid(1), n, cuda.gridsize(1)):
        i, d = e // width, e % width
        row = _row(ids, i0 + i, rows, wrap)
        out[e] = w[w0 + row * w_row + d * w_col] if row >= 0 else nan


@cuda.jit(cache=True)
def embedding_backward_kernel(n, width, rows, dw, g, g0, g_row, g_col, ids, i0, wrap):
    for e in range(cuda.grid(1), n, cuda.gridsize(1)):
        i, d = e // width, e % width
        row = _row(ids, i0 + i, rows, wrap)
        if row >= 0:
            cuda.atomic.add(dw, row * width + d, g[g0 + i * g_row + d * g_col])


def embedding(weight, ids, wrap=False):
    """weight (V, D), integer ids of any shape -> out (*ids.shape, D): out[..., :] = weight[id],
    NaN for an id outside the table (there is no host check on the GPU); with `wrap` (indexing
    x[ids]) negative ids count from the end."""
    ids = ids.contiguous()
    rows, width = weight.shape
    out = type(weight).empty(tuple(ids.shape) + (width,), weight.dtype)
    if out.size:
        launch(embedding_kernel, *grid(out.size), out.size, width, rows, out.buf, weight.buf, weight.offset,
               weight.strides[0], weight.strides[1], ids.buf, ids.offset, bool(wrap), weight.dtype.type("nan"))
    return out


def embedding_backward(g, ids, rows, wrap=False):
    """dW (rows, D): each row of g added at its id's row (atomic adds: repeated ids add up)."""
    ids = ids.contiguous()
    width = g.shape[-1]
    g2 = g.reshape(-1, width)
    dw = type(g).empty((rows, width), g.dtype)
    dw[...] = 0
    if g2.size:
        launch(embedding_backward_kernel, *grid(g2.size), g2.size, width, rows, dw.buf, g2.buf, g2.offset,
               g2.strides[0], g2.strides[1], ids.buf, ids.offset, bool(wrap))
    return dw
