"""Reductions. The backward of a reduction broadcasts the gradient back over the axes
that were reduced (it was one number per reduced slice; each element of the slice
contributed to it)."""
from ..function import Function


def _expand_back(xp, g, shape, axis, keepdim):
    """Reshape the reduced gradient so it broadcasts against the input's `shape`."""
    if not keepdim:
        g = g.reshape(_kept(shape, axis))
    return xp.broadcast_to(g, shape)


def _kept(shape, axis):
    """The reduced shape with its axes kept (as size 1)."""
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _expand_back_tensor(g, shape, axis, keepdim):
    """_expand_back for a Tensor gradient, with Tensor ops (create_graph)."""
    return (g if keepdim else g.reshape(_kept(shape, axis))).expand(*shape)


class Sum(Function):
    """y = sum_{axis} x;   dx = g broadcast back over axis"""

    def forward(ctx, x, axis=None, keepdim=False):
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        return ctx.xp.sum(x, axis=axis, keepdims=keepdim)

    def backward(ctx, g):
        return _expand_back(ctx.xp, g, ctx.shape, ctx.axis, ctx.keepdim).copy()  # a writable array, not a view

    def graph_backward(ctx, g):
        return _expand_back_tensor(g, ctx.shape, ctx.axis, ctx.keepdim)


class Max(Function):
    """y = max_{axis} x;   dx = g at the maxima, split evenly among ties (as torch.amax)"""

    def forward(ctx, x, axis=None, keepdim=False, use_min=False):
        xp = ctx.xp
        y = (xp.min if use_min else xp.max)(x, axis=axis, keepdims=True)
        hit = x == y
        ctx.share = hit / xp.sum(hit, axis=axis, keepdims=True).astype(x.dtype)
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        return y if keepdim else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axis))

    def backward(ctx, g):
        return _expand_back(ctx.xp, g, ctx.shape, ctx.axis, ctx.keepdim) * ctx.share

    def graph_backward(ctx, g):
        return _expand_back_tensor(g, ctx.shape, ctx.axis, ctx.keepdim) * ctx.constant(ctx.share)


class LogSumExp(Function):
    """y = m + log sum_{axis} e^(x - m), m = max x (so e^1e4 never overflows);
    dx = g * softmax(x) = g * e^(x - y)"""

    def forward(ctx, x, axis=None, keepdim=False):
        xp = ctx.xp
        s, m = _shifted(xp, x, axis)
        y = xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        return y if keepdim else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axis))

    def backward(ctx, g):
        x, y = ctx.saved
        return _expand_back(ctx.xp, g, ctx.shape, ctx.axis, ctx.keepdim) * ctx.xp.exp(x - y)

    def graph_backward(ctx, g):
        y = ctx.output().reshape(_kept(ctx.shape, ctx.axis))
        return _expand_back_tensor(g, ctx.shape, ctx.axis, ctx.keepdim) * (ctx.parents[0] - y).exp()


def _shifted(xp, x, axis):
    """(x - m, m), m = max(x) along axis: x - m is exact in floating point, and makes every e^(.) <= 1."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    return x - m, m


class Softmax(Function):
    """y = e^(x - m) / sum e^(x - m);   dx = y * (g - sum(g * y))"""

    def forward(ctx, x, axis=-1):
        y = ctx.backend.softmax(x, axis, False)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        return ctx.backend.softmax_backward(g, ctx.saved[0], ctx.axis, False)

    def graph_backward(ctx, g):
        y = ctx.output()
        return y * (g - (g * y).sum(axis=ctx.axis, keepdim=True))


class LogSoftmax(Function):
    """y = (x - m) - log sum e^(x - m);   dx = g - e^y * sum(g)"""

    def forward(ctx, x, axis=-1):
        y = ctx.backend.softmax(x, axis, True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        return ctx.backend.softmax_backward(g, ctx.saved[0], ctx.axis, True)

    def graph_backward(ctx, g):
        return g - ctx.output().exp() * g.sum(axis=ctx.axis, keepdim=True)


def _line(x, axis):
    """x and the axis of its lines: all of x as one line when axis is None."""
    return (x.reshape(-1), 0) if axis is None else (x, axis)


class Prod(Function):
    """y = prod_{axis} x (of everything when axis is None);
    dx_i = g * prod_{j != i} x_j, the product of the others: the product of those before i
    times that of those after (running products, no division), so exact where x has zeros"""

    def forward(ctx, x, axis=None, keepdim=False):
        ctx.save_for_backward(x)
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        ctx.axes = tuple(range(x.ndim)) if axis is None else (axis,)
        shape = _kept(x.shape, ctx.axes) if keepdim else tuple(n for i, n in enumerate(x.shape) if i not in ctx.axes)
        line, a = _line(x, axis)
        if line.shape[a] == 0:
            return ctx.xp.ones(shape, x.dtype)  # the empty product
        running = ctx.backend.scan(line, a, True, False, False)
        return running[(slice(None),) * a + (slice(-1, None),)].reshape(shape)

    def backward(ctx, g):
        line, a = _line(ctx.saved[0], ctx.axis)
        scan = ctx.backend.scan
        others = scan(line, a, True, False, True) * scan(line, a, True, True, True)
        return _expand_back(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdim) * others.reshape(ctx.shape)

    def graph_backward(ctx, g):
        # the product of the others as a product of rows: row i holds the line with x_i set to 1,
        # which Prod itself differentiates (exactly, zeros included)
        line, a = _line(ctx.parents[0], ctx.axis)
        line = line.transpose(a, -1)
        n = line.shape[-1]
        rows = line.unsqueeze(-2).expand(*line.shape[:-1], n, n)
        others = Prod.apply(rows.masked_fill(ctx.constant(ctx.xp.eye(n, dtype=bool)), 1.0), axis=rows.ndim - 1)
        return _expand_back_tensor(g, ctx.shape, ctx.axes, ctx.keepdim) * others.transpose(a, -1).reshape(ctx.shape)


class Cumsum(Function):
    """y_i = sum_{j <= i} x_j along axis (with reverse, sum_{j >= i});
    dx_j = sum_{i >= j} g_i, the cumsum of g from the other end"""

    def forward(ctx, x, axis=0, reverse=False):
        ctx.axis, ctx.reverse = axis, reverse
        return ctx.backend.scan(x, axis, False, reverse, False)

    def backward(ctx, g):
        return ctx.backend.scan(g, ctx.axis, False, not ctx.reverse, False)

    def graph_backward(ctx, g):
        return Cumsum.apply(g, axis=ctx.axis, reverse=not ctx.reverse)
