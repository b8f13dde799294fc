"""Convolution and its transpose (NCHW). The kernels do the work; see kernels/cpu/conv.py.

Both ops are linear in x and in w, so their backward passes are the two other products of
the same convolution: for y = conv(x, w),
    dx = conv^T(dy, w)       ("backward input": the transposed convolution of dy)
    dw = corr(x, dy)         ("backward weight": x correlated with dy, summed over the batch)
and the transposed convolution z = conv^T(x, w) swaps the roles: dx = conv(dz, w).
With corr as an op of its own (ConvWeight), the three are closed under differentiation:
each one's gradients are the other two, which is how gradients of gradients go through them.

Geometry arguments are (h, w) pairs already checked by nn.functional.
"""
from ..function import Function


def _bias_grad(ctx, g, has_bias):
    """db_k = sum of dy over the batch and all positions of channel k."""
    return ctx.backend.channel_sums(g) if has_bias and ctx.needs_input_grad[2] else None


def _bias_grad_tensor(ctx, g):
    """_bias_grad with Tensor ops (create_graph)."""
    return g.sum(axis=(0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None


def _geometry(ctx):
    stride, padding, dilation, groups = ctx.geometry
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


class Conv2d(Function):
    """y[n,k,oh,ow] = b[k] + sum_{c,i,j} w[k,c,i,j] x[n, g*C/G + c, oh*s - p + i*d, ow*s - p + j*d]
    (g the group of filter k);
    dx = conv_transpose(dy, w),  dw[k,c,i,j] = sum_{n,oh,ow} dy[n,k,oh,ow] x[n, ., oh*s - p + i*d, .],
    db = sum_{n,oh,ow} dy"""

    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, out_hw=None):
        ctx.geometry = stride, padding, dilation, groups
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return ctx.backend.conv2d(x, w, b, stride, padding, dilation, groups, out_hw)

    def backward(ctx, g):
        x, w = ctx.saved
        dx, dw = ctx.backend.conv2d_backward(x, g, w, *ctx.needs_input_grad[:2], *ctx.geometry)
        return dx, dw, _bias_grad(ctx, g, ctx.has_bias)

    def graph_backward(ctx, g):
        x, w = ctx.parents[:2]
        dx = dw = None
        if ctx.needs_input_grad[0]:
            dx = ConvTranspose2d.apply(g, w, None, out_hw=x.shape[2:], **_geometry(ctx))
        if ctx.needs_input_grad[1]:
            dw = ConvWeight.apply(x, g, kernel_hw=w.shape[2:], **_geometry(ctx))
        return dx, dw, _bias_grad_tensor(ctx, g)


class ConvTranspose2d(Function):
    """z = conv^T(x, w) + b: the gradient of Conv2d with respect to its input, used forwards.
    Every input pixel adds w[c, k, :, :] * x[n, c, h, w] into a kh x kw patch of channel k
    at (h*s - p, w*s - p); w has shape (C_in, C_out/groups, kh, kw) as in PyTorch.
    dx = conv(dz, w),  dw = corr(dz, x) (the Conv2d weight gradient with dz as its input),
    db = sum_{n,h,w} dz"""

    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, out_hw=None):
        ctx.geometry = stride, padding, dilation, groups
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        z = ctx.backend.conv2d_backward_input(x, w, out_hw, *ctx.geometry)
        if b is not None:
            z += b.reshape(1, -1, 1, 1)
        return z

    def backward(ctx, g):
        x, w = ctx.saved
        dx = dw = None
        if ctx.needs_input_grad[0]:
            dx = ctx.backend.conv2d(g, w, None, *ctx.geometry, x.shape[2:])
        if ctx.needs_input_grad[1]:
            dw = ctx.backend.conv2d_backward_weight(g, x, w.shape[2:], *ctx.geometry)
        return dx, dw, _bias_grad(ctx, g, ctx.has_bias)

    def graph_backward(ctx, g):
        x, w = ctx.parents[:2]
        dx = dw = None
        if ctx.needs_input_grad[0]:
            dx = Conv2d.apply(g, w, None, out_hw=x.shape[2:], **_geometry(ctx))
        if ctx.needs_input_grad[1]:
            dw = ConvWeight.apply(g, x, kernel_hw=w.shape[2:], **_geometry(ctx))
        return dx, dw, _bias_grad_tensor(ctx, g)


class ConvWeight(Function):
    """w~ = corr(x, dy): the weight gradient of y = conv(x, w), as an op (for gradients of
    gradients); w~[k,c,i,j] = sum_{n,oh,ow} dy[n,k,oh,ow] x[n, ., oh*s - p + i*d, ow*s - p + j*d].
    Linear in each input:  dx = conv^T(dy, G),  d(dy) = conv(x, G)  for the gradient G of w~"""

    def forward(ctx, x, dy, kernel_hw=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        ctx.geometry = stride, padding, dilation, groups
        ctx.save_for_backward(x, dy)
        return ctx.backend.conv2d_backward_weight(x, dy, kernel_hw, *ctx.geometry)

    def backward(ctx, g):
        x, dy = ctx.saved
        dx = ctx.backend.conv2d_backward_input(dy, g, x.shape[2:], *ctx.geometry) if ctx.needs_input_grad[0] else None
        ddy = ctx.backend.conv2d(x, g, None, *ctx.geometry, dy.shape[2:]) if ctx.needs_input_grad[1] else None
        return dx, ddy

    def graph_backward(ctx, g):
        x, dy = ctx.parents
        dx = ConvTranspose2d.apply(dy, g, None, out_hw=x.shape[2:], **_geometry(ctx)) if ctx.needs_input_grad[0] else None
        ddy = Conv2d.apply(x, g, None, out_hw=dy.shape[2:], **_geometry(ctx)) if ctx.needs_input_grad[1] else None
        return dx, ddy
