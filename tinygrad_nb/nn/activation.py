"""Activation functions as modules (and their functional forms for nn.functional).
Each is one Tensor method; the math and derivatives live in kernels/activations.py (one
rule per activation, for both devices) and ops/reduce.py (softmax)."""
from .module import Module


def relu(input):
    return input.relu()


def leaky_relu(input, negative_slope=0.01):
    return input.leaky_relu(negative_slope)


def gelu(input):
    return input.gelu()


def silu(input):
    return input.silu()


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def softmax(input, dim=-1):
    return input.softmax(dim)


def log_softmax(input, dim=-1):
    return input.log_softmax(dim)


class ReLU(Module):
    """max(x, 0)"""

    def forward(self, x):
        return x.relu()


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise"""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF (the exact form, PyTorch's default)"""

    def forward(self, x):
        return x.gelu()


class SiLU(Module):
    """x * sigmoid(x) (also called swish)"""

    def forward(self, x):
        return x.silu()


class Sigmoid(Module):
    """1 / (1 + e^-x)"""

    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class Softmax(Module):
    """e^x / sum e^x along dim"""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.softmax(self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """x - logsumexp(x) along dim"""

    def forward(self, x):
        return x.log_softmax(self.dim)
