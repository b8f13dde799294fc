"""Dropout (Srivastava et al., 2014): while training, zero each element with probability p
and scale the survivors by 1/(1-p), so the expected value is unchanged and evaluation
needs no rescaling."""
import numpy as np

from ..random import generator
from ..tensor import Tensor
from .module import Module


def dropout(input, p=0.5, training=True):
    """x * mask / (1 - p), mask ~ Bernoulli(1 - p); the identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    keep = generator().random(input.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = Tensor(keep * np.asarray(scale, input.dtype), device=input.device)
    return input * mask


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
