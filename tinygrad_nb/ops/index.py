"""Index ops along one axis, as torch.gather / scatter / scatter_add: an integer index with
the input's number of axes picks, for each of its positions p, the entry at index[p] along
`axis` and at p's own coordinates along the others. A gather reads there, a scatter writes
there, so each one's gradient is the other: what a gather read, its gradient adds back, and
what a scatter wrote, its gradient reads. Sorting and top-k are a gather at the positions
that sort (found by the device's `argsort` kernel, which needs no gradient).

`index` is a device array (int64, checked by the Tensor methods); it is an option of the op,
not an input: nothing flows into it."""
from ..function import Function


def _fit(xp, a, shape):
    """a (smaller or equal along every axis) at the start of zeros of `shape`."""
    if tuple(a.shape) == tuple(shape):
        return a
    out = xp.zeros(shape, a.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def _fit_tensor(a, shape):
    """_fit with Tensor ops (create_graph): zero padding at the end of each axis."""
    return a if a.shape == tuple(shape) else a.pad([(0, m - n) for n, m in zip(a.shape, shape)])


class Gather(Function):
    """y[p] = x[p with index[p] along axis] (torch.gather; sort and topk's values);
    dx = zeros with g[p] added at index[p] (repeated picks add up): ScatterAdd of g"""

    def forward(ctx, x, index=None, axis=0):
        ctx.shape, ctx.index, ctx.axis = x.shape, index, axis
        return ctx.backend.gather_along(x, index, axis)

    def backward(ctx, g):
        dx = ctx.xp.zeros(ctx.shape, g.dtype)
        ctx.backend.scatter_along(dx, ctx.index, g, ctx.axis, True)
        return dx

    def graph_backward(ctx, g):
        zeros = ctx.constant(ctx.xp.zeros(ctx.shape, g.dtype))
        return ScatterAdd.apply(zeros, g, index=ctx.index, axis=ctx.axis)


class Scatter(Function):
    """y = x, then y[p with index[p] along axis] = src[p] (or = value) (torch.scatter);
    dx = g with the written positions zeroed,  dsrc[p] = g[p with index[p] along axis]
    (for every p, also one whose write a repeated position overrode, as PyTorch)"""

    def forward(ctx, x, src=None, index=None, axis=0, value=None):
        ctx.index, ctx.axis, ctx.src_shape = index, axis, None if src is None else src.shape
        y = x.copy()
        ctx.backend.scatter_along(y, index, value if src is None else src, axis, False)
        return y

    def backward(ctx, g):
        dx = dsrc = None
        if ctx.needs_input_grad[0]:
            dx = g.copy()
            ctx.backend.scatter_along(dx, ctx.index, 0, ctx.axis, False)
        if ctx.src_shape is not None and ctx.needs_input_grad[1]:
            dsrc = _fit(ctx.xp, ctx.backend.gather_along(g, ctx.index, ctx.axis), ctx.src_shape)
        return dx, dsrc

    def graph_backward(ctx, g):
        dx = Scatter.apply(g, index=ctx.index, axis=ctx.axis, value=0.0) if ctx.needs_input_grad[0] else None
        dsrc = None
        if ctx.src_shape is not None and ctx.needs_input_grad[1]:
            dsrc = _fit_tensor(Gather.apply(g, index=ctx.index, axis=ctx.axis), ctx.src_shape)
        return dx, dsrc


class ScatterAdd(Function):
    """y = x, then y[p with index[p] along axis] += src[p], repeated positions adding up
    (torch.scatter_add; Gather's gradient);   dx = g,  dsrc[p] = g[p with index[p] along axis]"""

    def forward(ctx, x, src, index=None, axis=0):
        ctx.index, ctx.axis, ctx.src_shape = index, axis, src.shape
        y = x.copy()
        ctx.backend.scatter_along(y, index, src, axis, True)
        return y

    def backward(ctx, g):
        dsrc = None
        if ctx.needs_input_grad[1]:
            dsrc = _fit(ctx.xp, ctx.backend.gather_along(g, ctx.index, ctx.axis), ctx.src_shape)
        return g, dsrc

    def graph_backward(ctx, g):
        dsrc = None
        if ctx.needs_input_grad[1]:
            dsrc = _fit_tensor(Gather.apply(g, index=ctx.index, axis=ctx.axis), ctx.src_shape)
        return g, dsrc
