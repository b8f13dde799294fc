"""Linear (fully connected) layer, and the two shape helpers Identity and Flatten."""
import math

import numpy as np

from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def linear(input, weight, bias=None):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch."""
    if input.ndim < 1 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(
            f"linear: input of shape {input.shape} needs last dimension {weight.shape[-1]} "
            f"to match weight of shape {weight.shape}"
        )
    out = input @ weight.T
    return out if bias is None else out + bias


class Linear(Module):
    """y = x W^T + b. W and b start uniform in +-1/sqrt(in_features) (PyTorch's default)."""

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = dtype or np.float32
        self.weight = Parameter(Tensor.zeros(out_features, in_features, dtype=dtype))
        self.bias = Parameter(Tensor.zeros(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x: stands where a model has no layer to put (for example, a skipped projection)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flattens axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits axis dim into unflattened_size: (N, C*H*W) -> (N, C, H, W), Flatten's inverse."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
