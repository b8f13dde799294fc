"""2-D pooling (NCHW). The kernels do the work; see kernels/cpu/pool.py.
Geometry arguments are checked and worked out by nn.functional."""
from ..function import Function


class MaxPool2d(Function):
    """y[n,c,oh,ow] = max over the window of x (dilated taps, padding never wins);
    dx = dy routed to the arg-max of each window (one winner per window, the first on ties),
    summed where windows overlap. With return_indices the arg-max indices are a second output
    (one that has no gradient)."""

    def forward(ctx, x, kernel_hw=None, stride=None, padding=None, dilation=None, out_hw=None, return_indices=False):
        y, argmax = ctx.backend.max_pool2d(x, kernel_hw, stride, padding, dilation, out_hw)
        ctx.argmax, ctx.input_hw, ctx.geometry = argmax, x.shape[2:], (kernel_hw, stride, padding, dilation)
        return (y, argmax) if return_indices else y

    def backward(ctx, g, *g_argmax):
        return ctx.backend.max_pool2d_backward(g, ctx.argmax, ctx.input_hw, *ctx.geometry)

    def graph_backward(ctx, g, *g_argmax):
        return MaxUnpool2d.apply(g, argmax=ctx.argmax, input_hw=ctx.input_hw, geometry=ctx.geometry)


class MaxUnpool2d(Function):
    """y = zeros (N, C, H, W) with x[n,c,oh,ow] added at the arg-max argmax[n,c,oh,ow] (a flat
    index into the H x W plane): MaxPool2d's gradient, as an op;   dx = g at the arg-maxes"""

    def forward(ctx, x, argmax=None, input_hw=None, geometry=None):
        ctx.argmax = argmax
        return ctx.backend.max_pool2d_backward(x, argmax, input_hw, *geometry)

    def backward(ctx, g):
        return g.reshape(-1)[_winners(ctx.xp, ctx.argmax, g.shape)].reshape(ctx.argmax.shape)

    def graph_backward(ctx, g):
        return g.reshape(-1)[_winners(ctx.xp, ctx.argmax, g.shape)].reshape(*ctx.argmax.shape)


def _winners(xp, argmax, shape):
    """The arg-maxes as flat indices into the whole (N, C, H, W) array."""
    planes = argmax.shape[0] * argmax.shape[1]
    starts = xp.arange(planes, dtype=argmax.dtype).reshape(planes, 1) * (shape[2] * shape[3])
    return (argmax.reshape(planes, -1) + starts).reshape(-1)


class AvgPool2d(Function):
    """y[n,c,oh,ow] = scale[oh,ow] * sum of x over rows [r0, r1) and columns [c0, c1) of the window;
    dx[n,c,h,w] = sum over the windows that hold (h, w) of scale * dy"""

    def forward(ctx, x, windows=None):
        ctx.windows, ctx.input_hw = windows, x.shape[2:]
        return ctx.backend.avg_pool2d(x, *windows)

    def backward(ctx, g):
        return ctx.backend.avg_pool2d_backward(g, *ctx.windows, ctx.input_hw)

    def graph_backward(ctx, g):
        return AvgUnpool2d.apply(g, windows=ctx.windows, input_hw=ctx.input_hw)


class AvgUnpool2d(Function):
    """y[n,c,h,w] = sum over the windows that hold (h, w) of scale * x[n,c,oh,ow]: AvgPool2d's
    gradient, as an op;   dx = avg_pool2d(g) (it is linear: the average pooling is its adjoint)"""

    def forward(ctx, x, windows=None, input_hw=None):
        ctx.windows = windows
        return ctx.backend.avg_pool2d_backward(x, *windows, input_hw)

    def backward(ctx, g):
        return ctx.backend.avg_pool2d(g, *ctx.windows)

    def graph_backward(ctx, g):
        return AvgPool2d.apply(g, windows=ctx.windows)
