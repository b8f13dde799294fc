"""The op behind a module's backward hooks (Module.register_full_backward_hook): an identity
on a group of tensors whose backward hands the group's gradients to a function, which may
replace them. Wrapped around a module's inputs it sees their gradients all at once, and
only this module's share of them (not what other users of the same tensors add)."""
from ..function import Function


class BackwardHook(Function):
    """y_k = x_k (the same arrays);   dx_k = call(dy)_k, call given the gradients as Tensors
    (None where no gradient flowed) and returning them, or replacements"""

    def forward(ctx, *xs, call=None):
        ctx.call = call
        return tuple(xs)

    def backward(ctx, *grads):
        given = tuple(None if g is None else ctx.constant(g) for g in grads)
        return tuple(None if g is None else g.array for g in ctx.call(given))

    def graph_backward(ctx, *grads):
        return tuple(ctx.call(grads))
