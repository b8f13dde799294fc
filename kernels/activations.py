"""The activations, each written once: its value y = f(x, a) and its backward pass
dx = df(g, s, a), where g is the gradient of y and s is whichever of x or y the rule keeps
(`saves`: keeping y lets the input go free, as ReLU's backward needs only where y > 0); `a`
is the activation's parameter (LeakyReLU's slope) and unused by the others.

Both devices make their kernels from these functions. The names they call (`where`, `tanh`,
`erf`, `exp`) are bound here to NumPy's and SciPy's ufuncs, so on the CPU a rule applied to
whole arrays runs as NumPy's vectorised passes; the GPU (kernels/cuda/activation.py) and the
CPU's compiled loops (kernels/cpu/activation.py) rebind them to functions of one number
and compile the same code for one element. Hence the rules are branch-free expressions:
`where(c, p, q)` picks p where c holds, else q.

Adding an activation: its rule and derivative here, and its op, a two-line subclass of
Activation in tinygrad_nb/ops/elementwise.py that names the rule (with a Tensor method). Numba caches the kernels built from a rule under the
kernel files' dates only: after editing a rule, empty NUMBA_CACHE_DIR.
"""
import types
from typing import Callable, NamedTuple

import numpy as np
from scipy.special import erf

where, tanh, exp = np.where, np.tanh, np.exp

SQRT_HALF = 0.7071067811865476  # 1 / sqrt 2
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi), the standard normal density at 0


def relu(x, a):
    """max(x, 0); NaN stays NaN, as in PyTorch."""
    return where(x <= 0, 0, x)


def relu_backward(g, y, a):
    """g where y > 0 (exactly where x > 0), else 0."""
    return where(y > 0, g, 0)


def leaky_relu(x, a):
    """x where x > 0, else a x."""
    return where(x > 0, x, a * x)


def leaky_relu_backward(g, x, a):
    """g where x > 0, else a g."""
    return where(x > 0, g, a * g)


def sigmoid(x, a):
    """1 / (1 + e^-x), as (1 + tanh(x/2)) / 2, which never overflows."""
    return 0.5 * (1 + tanh(0.5 * x))


def sigmoid_backward(g, y, a):
    """g y (1 - y)."""
    return g * y * (1 - y)


def tanh_(x, a):
    """tanh x."""
    return tanh(x)


def tanh_backward(g, y, a):
    """g (1 - y^2)."""
    return g * (1 - y * y)


def gelu(x, a):
    """x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard normal distribution function
    (the exact GELU, PyTorch's default)."""
    return x * (0.5 * (1 + erf(x * SQRT_HALF)))


def gelu_backward(g, x, a):
    """g (Phi(x) + x phi(x)), phi the standard normal density."""
    return g * (0.5 * (1 + erf(x * SQRT_HALF)) + x * (exp(-0.5 * x * x) * INV_SQRT_2PI))


def silu(x, a):
    """x sigmoid(x)."""
    return x * (0.5 * (1 + tanh(0.5 * x)))


def silu_backward(g, x, a):
    """g s (1 + x (1 - s)), s = sigmoid(x)."""
    s = 0.5 * (1 + tanh(0.5 * x))
    return g * (s * (1 + x * (1 - s)))


def bind(fn, namespace):
    """The rule `fn` with the names it calls taken from `namespace` (a kernel's, for one element)."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, **namespace}, fn.__name__)


def specialise(template, name, rule):
    """The kernel `template` with `rule` bound to the name `rule` it calls, as a function of its
    own `name`: Numba caches a compiled function under its qualified name, so each rule's
    kernel gets its own cache entry."""
    kernel = types.FunctionType(template.__code__, {**template.__globals__, "rule": rule}, name)
    kernel.__qualname__ = name
    return kernel


class Rule(NamedTuple):
    forward: Callable
    backward: Callable
    saves: str  # "input" or "output": what the backward pass reads besides g
    loop: bool  # on the CPU, a compiled loop over the elements beats NumPy's passes


RULES = {
    "relu": Rule(relu, relu_backward, "output", loop=True),
    "leaky_relu": Rule(leaky_relu, leaky_relu_backward, "input", loop=True),
    "sigmoid": Rule(sigmoid, sigmoid_backward, "output", loop=False),
    "tanh": Rule(tanh_, tanh_backward, "output", loop=False),
    "gelu": Rule(gelu, gelu_backward, "input", loop=True),
    "silu": Rule(silu, silu_backward, "input", loop=False),
}
