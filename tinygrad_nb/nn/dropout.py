"""Dropout (Srivastava et al., 2014): while training, zero each element with probability p
and scale the survivors by 1/(1-p), so the expected value is unchanged and evaluation
needs no rescaling."""
from ..tensor import Tensor
from .module import Module


def dropout(input, p=0.5, training=True):
    """x * mask / (1 - p), mask ~ Bernoulli(1 - p); the identity when not training. The mask is
    drawn on input's device (on a GPU by its own generator, so a captured step draws anew on
    every replay)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    keep = Tensor.rand(input.shape, dtype=input.dtype, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * (keep.cast(input.dtype) * scale)


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, got {p}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


def dropout2d(input, p=0.5, training=True):
    """Whole channels dropped: each (sample, channel) plane of an (N, C, H, W) input (or each
    channel of a (C, H, W) one) is zeroed with probability p, the others scaled by 1/(1-p)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected an input of shape (N, C, H, W) or (C, H, W), got {input.shape}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    keep = Tensor.rand(input.shape[:-2] + (1, 1), dtype=input.dtype, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * (keep.cast(input.dtype) * scale)


class Dropout2d(Dropout):
    def forward(self, x):
        return dropout2d(x, self.p, self.training)
