"""Activation functions as modules (and their functional forms for nn.functional).
Each is one Tensor method; the math and derivatives live in kernels/activations.py (one
rule per activation, for both devices) and ops/reduce.py (softmax). The activations without
a parameter (ReLU, Sigmoid, Mish ...) are made from the rules' table, Tensor.ACTIVATIONS:
a function `mish(input, inplace=False)` and a module class `Mish` each. Those with a
parameter are written out below. PReLU, whose slope is learnt, is a composition of ReLUs.

`inplace=True` (PyTorch's argument) writes the result into the input with copy_, which
follows PyTorch's rules for in-place writes (see Tensor.add_)."""
from ..tensor import ACTIVATIONS, Tensor
from .module import Module, Parameter


def _written(input, result, inplace):
    return input.copy_(result) if inplace else result


def elu(input, alpha=1.0, inplace=False):
    return _written(input, input.elu(alpha), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return input.softplus(beta, threshold)


def prelu(input, weight):
    """max(x, 0) + weight * min(x, 0), weight one slope or one per channel (axis 1)."""
    if weight.numel() not in (1, input.shape[1] if input.ndim > 1 else 1):
        raise ValueError(f"prelu: weight of {weight.numel()} slopes for an input of shape {input.shape}; expected 1 "
                         "or one per channel (axis 1)")
    slope = weight.reshape((1, -1) + (1,) * (input.ndim - 2)) if input.ndim > 1 and weight.numel() > 1 else weight.reshape(())
    return input.relu() - slope * (-input).relu()


def leaky_relu(input, negative_slope=0.01):
    return input.leaky_relu(negative_slope)


def gelu(input, approximate="none"):
    return input.gelu(approximate)


def softmax(input, dim=-1):
    return input.softmax(dim)


def log_softmax(input, dim=-1):
    return input.log_softmax(dim)


class _Activation(Module):
    """A parameter-free activation: its functional form applied, in place if asked."""

    function = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return type(self).function(x, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise"""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return elu(x, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, x itself where beta x > threshold"""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return x.softplus(self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """max(x, 0) + a * min(x, 0) with a learnt slope a: one, or one per channel (axis 1)"""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(Tensor.full((num_parameters,), init))

    def forward(self, x):
        return prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


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
    """x * Phi(x), Phi the standard normal CDF: exact (approximate='none', PyTorch's
    default) or its tanh approximation (approximate='tanh')"""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return x.gelu(self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


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


def _function(name):
    def function(input, inplace=False):
        return _written(input, getattr(input, name)(), inplace)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = getattr(Tensor, name).__doc__
    return function


FUNCTIONS = {name: _function(name) for name in ACTIVATIONS}
MODULES = {module: type(module, (_Activation,), {"function": staticmethod(FUNCTIONS[name]), "__module__": __name__,
                                                 "__doc__": FUNCTIONS[name].__doc__})
           for name, module in ACTIVATIONS.items()}
globals().update(FUNCTIONS)
globals().update(MODULES)
