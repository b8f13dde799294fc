"""Matrix product, batched and broadcast over leading axes like `np.matmul`."""
from ..function import Function
from ..kernels.shapes import is_c_contiguous
from .elementwise import unbroadcast, unbroadcast_tensor


class MatMul(Function):
    """Z = X @ Y;   dX = G @ Y^T,  dY = X^T @ G   (then un-broadcast over batch axes)

    Both inputs have at least 2 axes here (Tensor.matmul promotes vectors); the leading
    axes broadcast, are flattened into one batch axis, and one BLAS call runs per matrix.
    An input stored transposed (W.T in a linear layer's x @ W.T) gets its gradient as the
    transpose of the other product, dY = (G^T X)^T, so that it has the input's layout and
    W's gradient comes out C-ordered, as an optimiser reads it (it would copy it else)."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _bmm(ctx, x, y)

    def backward(ctx, g):
        x, y = ctx.saved
        dx = dy = None
        if ctx.needs_input_grad[0]:
            if _stored_transposed(x, g):
                dx = _bmm(ctx, y, g.swapaxes(-1, -2)).swapaxes(-1, -2)
            else:
                dx = unbroadcast(ctx.xp, _bmm(ctx, g, y.swapaxes(-1, -2)), x.shape)
        if ctx.needs_input_grad[1]:
            if _stored_transposed(y, g):
                dy = _bmm(ctx, g.swapaxes(-1, -2), x).swapaxes(-1, -2)
            else:
                dy = unbroadcast(ctx.xp, _bmm(ctx, x.swapaxes(-1, -2), g), y.shape)
        return dx, dy

    def graph_backward(ctx, g):
        x, y = ctx.parents
        dx = unbroadcast_tensor(MatMul.apply(g, y.transpose(-1, -2)), x.shape) if ctx.needs_input_grad[0] else None
        dy = unbroadcast_tensor(MatMul.apply(x.transpose(-1, -2), g), y.shape) if ctx.needs_input_grad[1] else None
        return dx, dy


def _stored_transposed(operand, g):
    """Whether operand is a transposed C-ordered array that spans the product's whole batch
    (its gradient then needs no sum over broadcast axes)."""
    return (operand.shape[:-2] == g.shape[:-2] and not is_c_contiguous(operand)
            and is_c_contiguous(operand.swapaxes(-1, -2)))


def _bmm(ctx, a, b):
    batch = ctx.xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = ctx.backend.matmul(_batch_of_matrices(ctx.xp, a, batch), _batch_of_matrices(ctx.xp, b, batch))
    return out.reshape(batch + out.shape[-2:])


def _batch_of_matrices(xp, x, batch):
    """x as (B, rows, cols), broadcast over `batch` only where it has to be: a broadcast
    view is read-only and strided, which the kernel would have to copy."""
    if x.shape[:-2] != batch:
        x = xp.broadcast_to(x, batch + x.shape[-2:])
    return x.reshape((-1,) + x.shape[-2:])
