"""Movement ops: they move numbers around without changing them, so each backward
moves the gradient back the opposite way."""
import numpy as np

from ..function import Function
from .elementwise import unbroadcast, unbroadcast_tensor


class Reshape(Function):
    """y = x viewed with a new shape;   dx = g reshaped to x's shape"""

    def forward(ctx, x, shape=None):
        ctx.shape = x.shape
        return x.reshape(shape)

    def backward(ctx, g):
        return g.reshape(ctx.shape)

    graph_backward = backward


class Permute(Function):
    """y = x with axes reordered by `order`;   dx = g permuted by the inverse order"""

    def forward(ctx, x, order=None):
        ctx.order = order
        return x.transpose(order)

    def backward(ctx, g):
        return g.transpose(_inverse(ctx.order))

    def graph_backward(ctx, g):
        return g.permute(*_inverse(ctx.order))


def _inverse(order):
    inverse = [0] * len(order)
    for i, o in enumerate(order):
        inverse[o] = i
    return inverse


class Expand(Function):
    """y = x broadcast to `shape` (no copy);   dx = g summed over the broadcast axes"""

    def forward(ctx, x, shape=None):
        ctx.shape = x.shape
        return ctx.xp.broadcast_to(x, shape)

    def backward(ctx, g):
        return unbroadcast(ctx.xp, g, ctx.shape)

    def graph_backward(ctx, g):
        return unbroadcast_tensor(g, ctx.shape)


class Pad(Function):
    """y = x with constant borders; widths ((before, after), ...) per axis, negatives crop;
    dx = the centre of g (the part that came from x): g padded by the negated widths"""

    def forward(ctx, x, widths=None, value=0.0):
        xp = ctx.xp
        grow = [(max(a, 0), max(b, 0)) for a, b in widths]
        y = xp.pad(x, grow, mode="constant", constant_values=value) if any(a or b for a, b in grow) else x
        crop = tuple(slice(-min(a, 0), n - (-min(b, 0))) for (a, b), n in zip(widths, y.shape))
        ctx.in_shape, ctx.grow, ctx.crop, ctx.widths = x.shape, grow, crop, widths
        return y[crop]

    def backward(ctx, g):
        xp = ctx.xp
        full = xp.zeros(tuple(n + a + b for n, (a, b) in zip(ctx.in_shape, ctx.grow)), g.dtype)
        full[ctx.crop] = g
        centre = tuple(slice(a, a + n) for n, (a, b) in zip(ctx.in_shape, ctx.grow))
        return full[centre]

    def graph_backward(ctx, g):
        return Pad.apply(g, widths=[(-a, -b) for a, b in ctx.widths])


class Clone(Function):
    """y = a copy of x in a buffer of its own;   dx = g"""

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g

    graph_backward = backward


class GetItem(Function):
    """y = x[index] (slices, ints, None, ..., integer or boolean arrays);
    dx = zeros with g scattered into x[index], repeated indices adding up"""

    def forward(ctx, x, index=None):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    def backward(ctx, g):
        return _index_add(ctx.xp, g, ctx.shape, ctx.index)

    def graph_backward(ctx, g):
        return IndexAdd.apply(g, shape=ctx.shape, index=ctx.index)


class IndexAdd(Function):
    """y = zeros(shape) with x added at y[index] (repeated indices adding up): GetItem's
    gradient, and its adjoint;   dx = g[index]"""

    def forward(ctx, x, shape=None, index=None):
        ctx.index = index
        return _index_add(ctx.xp, x, shape, index)

    def backward(ctx, g):
        return g[ctx.index]

    def graph_backward(ctx, g):
        return GetItem.apply(g, index=ctx.index)


def _index_add(xp, x, shape, index):
    """zeros(shape) with x added at y[index]: a plain assignment unless integer arrays in the
    index can pick one position twice (np.add.at, much slower, adds those up)."""
    y = xp.zeros(shape, x.dtype)
    parts = index if isinstance(index, tuple) else (index,)
    picks = [(axis, it) for axis, it in enumerate(parts) if isinstance(it, list) or
             getattr(it, "dtype", None) is not None and it.dtype.kind in "iu" and it.ndim]
    if picks and not _distinct(xp, picks, shape):
        xp.add.at(y, index, x)
    else:
        y[index] = x
    return y


def _distinct(xp, picks, shape):
    """Whether one integer array on the host picks each position at most once (packed rows,
    a permutation): then assignment does what np.add.at would."""
    if len(picks) != 1 or xp is not np:
        return False
    axis, it = picks[0]
    flat = np.asarray(it).reshape(-1) % shape[axis]
    return np.unique(flat).size == flat.size


class Cat(Function):
    """y = the inputs joined along `axis`;   dx_i = the slice of g where x_i went"""

    def forward(ctx, *xs, axis=0):
        ctx.axis, ctx.sizes = axis, [x.shape[axis] for x in xs]
        return ctx.xp.concatenate(xs, axis=axis)

    def backward(ctx, g):
        grads, start = [], 0
        for n in ctx.sizes:
            index = [slice(None)] * g.ndim
            index[ctx.axis] = slice(start, start + n)
            grads.append(g[tuple(index)])
            start += n
        return tuple(grads)

    graph_backward = backward


class TakeRows(Function):
    """y_i = x[i, t_i] for the rows of x (R, C) and integer labels t (R,), 0 where t_i is
    `ignore`;   dx = g_i at (i, t_i) and 0 elsewhere"""

    def forward(ctx, x, labels, ignore=-100):
        ctx.labels, ctx.ignore, ctx.classes = ctx.xp.ascontiguousarray(labels), ignore, x.shape[1]
        return ctx.backend.take_rows(x, ctx.labels, ignore)

    def backward(ctx, g):
        return ctx.backend.take_rows_backward(g, ctx.labels, ctx.ignore, ctx.classes), None

    def graph_backward(ctx, g):
        xp, labels = ctx.xp, ctx.labels
        kept = labels != ctx.ignore
        index = (xp.arange(labels.shape[0]), xp.where(kept, labels, 0))
        kept = ctx.constant(kept.astype(g.dtype))
        return IndexAdd.apply(g * kept, shape=(labels.shape[0], ctx.classes), index=index), None


class Embedding(Function):
    """y[..., :] = W[ids[...], :] for integer ids of any shape (negative ids count from the end
    with `wrap`, as in indexing);   dW = zeros with each row of g added at its id's row (a
    repeated id gets every one)"""

    def forward(ctx, weight, ids, wrap=False):
        ctx.ids, ctx.rows, ctx.wrap = ids, weight.shape[0], wrap
        return ctx.backend.embedding(weight, ids, wrap)

    def backward(ctx, g):
        return ctx.backend.embedding_backward(g, ctx.ids, ctx.rows, ctx.wrap), None

    def graph_backward(ctx, g):
        ids = ctx.xp.where(ctx.ids < 0, ctx.ids + ctx.rows, ctx.ids) if ctx.wrap else ctx.ids
        return IndexAdd.apply(g, shape=(ctx.rows,) + tuple(g.shape[ids.ndim:]), index=ids), None
