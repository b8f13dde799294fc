"""Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient
back to each input's shape ("un-broadcasting"): if x was broadcast along an axis, every
output position along it used the same x, so dL/dx adds up over that axis.

Each op's graph_backward (for create_graph) is its backward's formula with the inputs and
outputs as Tensors."""
from ..function import Function


def _broadcast_axes(grad_shape, shape):
    """The axes of a gradient of grad_shape that broadcasting to it added to `shape`."""
    lead = len(grad_shape) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad_shape[lead + i] != 1)


def unbroadcast(xp, grad, shape):
    """Sum `grad` down to `shape`: over the leading axes broadcasting added, and over
    the axes where `shape` has size 1."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    return xp.sum(grad, axis=_broadcast_axes(grad.shape, shape), keepdims=True).reshape(shape)


def unbroadcast_tensor(grad, shape):
    """unbroadcast for a Tensor gradient, with Tensor ops (create_graph)."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    return grad.sum(axis=_broadcast_axes(grad.shape, shape), keepdim=True).reshape(shape)


def _where(ctx, mask, g):
    """g where the mask (an array) holds, else 0, as a Tensor op."""
    return type(g).where(ctx.constant(mask), g, 0.0)


class Add(Function):
    """z = x + y;   dx = g,  dy = g   (each un-broadcast)"""

    def forward(ctx, x, y):
        ctx.shapes = x.shape, y.shape
        return x + y

    def backward(ctx, g):
        sx, sy = ctx.shapes
        return unbroadcast(ctx.xp, g, sx), unbroadcast(ctx.xp, g, sy)

    def graph_backward(ctx, g):
        sx, sy = ctx.shapes
        return unbroadcast_tensor(g, sx), unbroadcast_tensor(g, sy)


class Sub(Function):
    """z = x - y;   dx = g,  dy = -g"""

    def forward(ctx, x, y):
        ctx.shapes = x.shape, y.shape
        return x - y

    def backward(ctx, g):
        sx, sy = ctx.shapes
        return unbroadcast(ctx.xp, g, sx), unbroadcast(ctx.xp, -g, sy)

    def graph_backward(ctx, g):
        sx, sy = ctx.shapes
        return unbroadcast_tensor(g, sx), unbroadcast_tensor(-g, sy)


class Mul(Function):
    """z = x * y;   dx = g * y,  dy = g * x"""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    def backward(ctx, g):
        x, y = ctx.saved
        dx = unbroadcast(ctx.xp, g * y, x.shape) if ctx.needs_input_grad[0] else None
        dy = unbroadcast(ctx.xp, g * x, y.shape) if ctx.needs_input_grad[1] else None
        return dx, dy

    def graph_backward(ctx, g):
        x, y = ctx.parents
        dx = unbroadcast_tensor(g * y, x.shape) if ctx.needs_input_grad[0] else None
        dy = unbroadcast_tensor(g * x, y.shape) if ctx.needs_input_grad[1] else None
        return dx, dy


class Div(Function):
    """z = x / y;   dx = g / y,  dy = -g * x / y^2"""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    def backward(ctx, g):
        x, y = ctx.saved
        dx = unbroadcast(ctx.xp, g / y, x.shape) if ctx.needs_input_grad[0] else None
        dy = unbroadcast(ctx.xp, -g * x / (y * y), y.shape) if ctx.needs_input_grad[1] else None
        return dx, dy

    def graph_backward(ctx, g):
        x, y = ctx.parents
        dx = unbroadcast_tensor(g / y, x.shape) if ctx.needs_input_grad[0] else None
        dy = unbroadcast_tensor(-g * x / (y * y), y.shape) if ctx.needs_input_grad[1] else None
        return dx, dy


class Pow(Function):
    """z = x ** y;   dx = g * y * x^(y-1),  dy = g * z * log(x)   (dy only where x > 0)"""

    def forward(ctx, x, y):
        z = x**y
        ctx.save_for_backward(x, y, z)
        return z

    def backward(ctx, g):
        xp = ctx.xp
        x, y, z = ctx.saved
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = unbroadcast(xp, g * y * x ** (y - 1), x.shape)
        if ctx.needs_input_grad[1]:
            positive = x > 0
            logx = xp.log(xp.where(positive, x, 1))
            dy = unbroadcast(xp, xp.where(positive, g * z * logx, 0), y.shape)
        return dx, dy

    def graph_backward(ctx, g):
        x, y = ctx.parents
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = unbroadcast_tensor(g * y * x ** (y - 1), x.shape)
        if ctx.needs_input_grad[1]:
            positive = x.array > 0
            logx = type(x).where(ctx.constant(positive), x, 1.0).log()
            dy = unbroadcast_tensor(_where(ctx, positive, g * ctx.output() * logx), y.shape)
        return dx, dy


class Maximum(Function):
    """z = max(x, y);   the gradient goes to the larger input, split evenly on ties"""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return ctx.xp.maximum(x, y)

    def backward(ctx, g):
        x, y = ctx.saved
        share_x = (x > y) + 0.5 * (x == y)
        return unbroadcast(ctx.xp, g * share_x, x.shape), unbroadcast(ctx.xp, g * (1 - share_x), y.shape)

    def graph_backward(ctx, g):
        x, y = ctx.saved
        share_x = ctx.constant(((x > y) + 0.5 * (x == y)).astype(g.dtype))
        return unbroadcast_tensor(g * share_x, x.shape), unbroadcast_tensor(g * (1 - share_x), y.shape)


class Where(Function):
    """z = cond ? x : y;   dx = g where cond,  dy = g where not cond   (cond gets none)"""

    def forward(ctx, cond, x, y):
        ctx.cond = cond.astype(bool)
        ctx.shapes = x.shape, y.shape
        return ctx.xp.where(ctx.cond, x, y)

    def backward(ctx, g):
        xp, c = ctx.xp, ctx.cond
        zero = xp.zeros((), g.dtype)
        sx, sy = ctx.shapes
        return None, unbroadcast(xp, xp.where(c, g, zero), sx), unbroadcast(xp, xp.where(c, zero, g), sy)

    def graph_backward(ctx, g):
        sx, sy = ctx.shapes
        c = ctx.constant(ctx.cond)
        return None, unbroadcast_tensor(type(g).where(c, g, 0.0), sx), unbroadcast_tensor(type(g).where(c, 0.0, g), sy)


class Neg(Function):
    """y = -x;   dx = -g"""

    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g

    graph_backward = backward


class Exp(Function):
    """y = e^x;   dx = g * y"""

    def forward(ctx, x):
        y = ctx.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * ctx.saved[0]

    def graph_backward(ctx, g):
        return g * ctx.output()


class Sin(Function):
    """y = sin x;   dx = g * cos x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sin(x)

    def backward(ctx, g):
        return g * ctx.xp.cos(ctx.saved[0])

    def graph_backward(ctx, g):
        return g * ctx.parents[0].cos()


class Cos(Function):
    """y = cos x;   dx = -g * sin x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cos(x)

    def backward(ctx, g):
        return -(g * ctx.xp.sin(ctx.saved[0]))

    def graph_backward(ctx, g):
        return -(g * ctx.parents[0].sin())


class Log(Function):
    """y = ln x;   dx = g / x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log(x)

    def backward(ctx, g):
        return g / ctx.saved[0]

    def graph_backward(ctx, g):
        return g / ctx.parents[0]


class Sqrt(Function):
    """y = sqrt(x);   dx = g / (2 y)"""

    def forward(ctx, x):
        y = ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g / (2 * ctx.saved[0])

    def graph_backward(ctx, g):
        return g / (2 * ctx.output())


class Abs(Function):
    """y = |x|;   dx = g * sign(x)   (0 at x = 0, as PyTorch)"""

    def forward(ctx, x):
        ctx.save_for_backward(ctx.xp.sign(x))
        return ctx.xp.abs(x)

    def backward(ctx, g):
        return g * ctx.saved[0]

    def graph_backward(ctx, g):
        return g * ctx.constant(ctx.saved[0])


class Clip(Function):
    """y = min(max(x, lo), hi);   dx = g where lo <= x <= hi, else 0"""

    def forward(ctx, x, lo=None, hi=None):
        xp = ctx.xp
        inside = xp.ones(x.shape, bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.save_for_backward(inside)
        return xp.clip(x, lo, hi).astype(x.dtype)

    def backward(ctx, g):
        return g * ctx.saved[0]

    def graph_backward(ctx, g):
        return _where(ctx, ctx.saved[0], g)


class Cast(Function):
    """y = x as another dtype;   dx = g cast back"""

    def forward(ctx, x, dtype=None):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, g):
        return g.astype(ctx.in_dtype)

    def graph_backward(ctx, g):
        return g.cast(ctx.in_dtype)
