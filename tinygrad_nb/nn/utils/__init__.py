"""Training utilities that act on a model's gradients, and (in `rnn`) variable-length
sequences for the recurrent layers."""
import math

from ...function import no_grad
from ...tensor import Tensor
from . import rnn  # noqa: F401  (nn.utils.rnn, as in PyTorch)


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most max_norm.

    The joint norm is the norm of the vector of every gradient entry (norm_type may be
    float('inf')); each gradient is multiplied by min(1, max_norm / (norm + 1e-6)), which
    keeps the direction of the update. Returns the norm before clipping, as a Tensor."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(g.abs().max().item() for g in grads)
    else:
        total = sum((g.abs() ** norm_type).sum().item() for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}")
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for p in parameters:
            if p.grad is not None:
                p.grad = p.grad * coef
    return Tensor(total)


@no_grad()
def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    for p in [parameters] if isinstance(parameters, Tensor) else parameters:
        if p.grad is not None:
            p.grad.clamp_(-float(clip_value), float(clip_value))
