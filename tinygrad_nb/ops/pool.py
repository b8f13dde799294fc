"""2-D pooling (NCHW). The kernels do the work; see kernels/cpu/pool.py.
Geometry arguments are checked and worked out by nn.functional."""
from ..function import Function


class MaxPool2d(Function):
    """y[n,c,oh,ow] = max over the window of x (dilated taps, padding never wins);
    dx = dy routed to the arg-max of each window (one winner per window, the first on ties),
    summed where windows overlap. With return_indices the arg-max indices are a second output
    (one that has no gradient)."""

    def forward(ctx, x, kernel_hw=None, stride=None, padding=None, dilation=None, out_hw=None, return_indices=False):
        y, argmax = ctx.kernel("max_pool2d")(x, kernel_hw, stride, padding, dilation, out_hw)
        ctx.argmax, ctx.input_hw, ctx.geometry = argmax, x.shape[2:], (kernel_hw, stride, padding, dilation)
        return (y, argmax) if return_indices else y

    def backward(ctx, g, *g_argmax):
        return ctx.kernel("max_pool2d_backward")(g, ctx.argmax, ctx.input_hw, *ctx.geometry)


class AvgPool2d(Function):
    """y[n,c,oh,ow] = scale[oh,ow] * sum of x over rows [r0, r1) and columns [c0, c1) of the window;
    dx[n,c,h,w] = sum over the windows that hold (h, w) of scale * dy"""

    def forward(ctx, x, windows=None):
        ctx.windows, ctx.input_hw = windows, x.shape[2:]
        return ctx.kernel("avg_pool2d")(x, *windows)

    def backward(ctx, g):
        return ctx.kernel("avg_pool2d_backward")(g, *ctx.windows, ctx.input_hw)
