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
        y = ctx.kernel("softmax")(x, axis, False)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        return ctx.kernel("softmax_backward")(g, ctx.saved[0], ctx.axis, False)

    def graph_backward(ctx, g):
        y = ctx.output()
        return y * (g - (g * y).sum(axis=ctx.axis, keepdim=True))


class LogSoftmax(Function):
    """y = (x - m) - log sum e^(x - m);   dx = g - e^y * sum(g)"""

    def forward(ctx, x, axis=-1):
        y = ctx.kernel("softmax")(x, axis, True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        return ctx.kernel("softmax_backward")(g, ctx.saved[0], ctx.axis, True)

    def graph_backward(ctx, g):
        return g - ctx.output().exp() * g.sum(axis=ctx.axis, keepdim=True)
