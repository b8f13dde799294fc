"""Matrix product, batched and broadcast over leading axes like `np.matmul`."""
from ..function import Function
from .elementwise import unbroadcast


class MatMul(Function):
    """Z = X @ Y;   dX = G @ Y^T,  dY = X^T @ G   (then un-broadcast over batch axes)

    Both inputs have at least 2 axes here (Tensor.matmul promotes vectors); the leading
    axes broadcast, are flattened into one batch axis, and one BLAS call runs per matrix."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _bmm(ctx, x, y)

    def backward(ctx, g):
        x, y = ctx.saved
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = unbroadcast(ctx.xp, _bmm(ctx, g, y.swapaxes(-1, -2)), x.shape)
        if ctx.needs_input_grad[1]:
            dy = unbroadcast(ctx.xp, _bmm(ctx, x.swapaxes(-1, -2), g), y.shape)
        return dx, dy


def _bmm(ctx, a, b):
    xp = ctx.xp
    batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = xp.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    b3 = xp.broadcast_to(b, batch + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
    out = ctx.kernel("matmul")(a3, b3)
    return out.reshape(batch + out.shape[-2:])
