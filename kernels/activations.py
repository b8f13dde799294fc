"""The activations, each written once: its value y = f(x, a) and its backward pass
dx = df(g, s, a), where g is the gradient of y and s is whichever of x or y the rule keeps
(`saves`: keeping y lets the input go free, as ReLU's backward needs only where y > 0); `a`
is the activation's parameter (LeakyReLU's slope) and unused by the others.

Both devices make their kernels from these functions. The names they call (`where`, `tanh`,
`erf`, `exp`, `log1p`) are bound here to NumPy's and SciPy's ufuncs, so on the CPU a rule applied to
whole arrays runs as NumPy's vectorised passes; the GPU (kernels/cuda/activation.py) and the
CPU's compiled loops (kernels/cpu/activation.py) rebind them to functions of one number
and compile the same code for one element. Hence the rules are branch-free expressions:
`where(c, p, q)` picks p where c holds, else q. A constant branch is written `0 * x` (or
`0 * x + 6`) rather than 0, so that both branches have x's type on every target; an exp
whose other branch is taken is fed `where(..., 0 * x, x)` so that it never overflows.

Adding an activation takes two steps, both here (docs/architecture.md walks through one):
its rule and derivative as two functions, and its row in RULES. The op (ops/activation.py),
the Tensor method, nn.functional's function and the nn module (named by `module`) are made
from the row. An activation with a parameter gets its op the same way; its Tensor method and
module, which name the parameter, are written by hand (leaky_relu, elu, softplus, gelu).
Numba caches the kernels built from a rule under the kernel files' dates only: after editing
a rule, empty NUMBA_CACHE_DIR.
"""
import types
from typing import Callable, NamedTuple, Optional

import numpy as np

where, tanh, exp, log1p = np.where, np.tanh, np.exp, np.log1p


def erf(x):
    """SciPy's erf of an array, imported on first use: importing tinygrad_nb imports no SciPy."""
    from scipy.special import erf as scipy_erf

    return scipy_erf(x)


SQRT_HALF = 0.7071067811865476  # 1 / sqrt 2
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi), the standard normal density at 0
SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi), in GELU's tanh approximation
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # Klambauer et al., 2017
SOFTPLUS_THRESHOLD = 20.0  # beyond beta x = 20, softplus is x (PyTorch's default threshold)


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


def gelu_tanh(x, a):
    """x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3): GELU's tanh approximation."""
    return 0.5 * x * (1 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


def gelu_tanh_backward(g, x, a):
    """g ((1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2), t = tanh(u)."""
    t = tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 0.134145 * x * x))


def elu(x, a):
    """x where x > 0, else a (e^x - 1)."""
    return where(x > 0, x, a * (exp(where(x > 0, 0 * x, x)) - 1))


def elu_backward(g, x, a):
    """g where x > 0, else a e^x g."""
    return where(x > 0, g, a * exp(where(x > 0, 0 * x, x)) * g)


def selu(x, a):
    """scale * elu(x, alpha) with the self-normalising constants."""
    return SELU_SCALE * where(x > 0, x, SELU_ALPHA * (exp(where(x > 0, 0 * x, x)) - 1))


def selu_backward(g, x, a):
    """scale g where x > 0, else scale alpha e^x g."""
    return SELU_SCALE * where(x > 0, g, SELU_ALPHA * exp(where(x > 0, 0 * x, x)) * g)


def softplus(x, a):
    """log(1 + e^(a x)) / a (a = beta), x itself beyond a x = 20; as max(ax, 0) + log1p(e^-|ax|),
    which never overflows."""
    b = a * x
    return where(b > SOFTPLUS_THRESHOLD, x, (where(b > 0, b, 0 * b) + log1p(exp(-where(b > 0, b, -b)))) / a)


def softplus_backward(g, x, a):
    """g sigmoid(a x) (g beyond a x = 20)."""
    b = a * x
    return where(b > SOFTPLUS_THRESHOLD, g, g * (0.5 * (1 + tanh(0.5 * b))))


def relu6(x, a):
    """min(max(x, 0), 6)."""
    return where(x <= 0, 0 * x, where(x >= 6, 0 * x + 6, x))


def relu6_backward(g, x, a):
    """g where 0 < x < 6, else 0."""
    return where(x > 0, where(x < 6, g, 0 * g), 0 * g)


def hardsigmoid(x, a):
    """0 for x <= -3, 1 for x >= 3, x/6 + 1/2 between."""
    return where(x <= -3, 0 * x, where(x >= 3, 0 * x + 1, x / 6 + 0.5))


def hardsigmoid_backward(g, x, a):
    """g / 6 where -3 < x < 3, else 0."""
    return where(x > -3, where(x < 3, g / 6, 0 * g), 0 * g)


def hardswish(x, a):
    """x hardsigmoid(x): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between."""
    return where(x <= -3, 0 * x, where(x >= 3, x, x * (x + 3) / 6))


def hardswish_backward(g, x, a):
    """0 for x < -3, g for x > 3, g (2x + 3) / 6 between (PyTorch's one-sided choices)."""
    return where(x < -3, 0 * g, where(x > 3, g, g * (2 * x + 3) / 6))


def mish(x, a):
    """x tanh(softplus(x))."""
    return x * tanh(where(x > 0, x, 0 * x) + log1p(exp(-where(x > 0, x, -x))))


def mish_backward(g, x, a):
    """g (t + x sigmoid(x) (1 - t^2)), t = tanh(softplus(x))."""
    t = tanh(where(x > 0, x, 0 * x) + log1p(exp(-where(x > 0, x, -x))))
    return g * (t + x * (0.5 * (1 + tanh(0.5 * x))) * (1 - t * t))


def normal_cdf(x, a):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal distribution function (GELU's
    derivative needs it as an op of its own for gradients of gradients)."""
    return 0.5 * (1 + erf(x * SQRT_HALF))


def normal_cdf_backward(g, x, a):
    """g phi(x), phi the standard normal density."""
    return g * (exp(-0.5 * x * x) * INV_SQRT_2PI)


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
    module: Optional[str] = None  # its nn module's name (PyTorch's), for one without a parameter
    keeps_integers: bool = False  # integer tensors stay integer (ReLU); the others compute in floats


RULES = {
    "relu": Rule(relu, relu_backward, "output", loop=True, module="ReLU", keeps_integers=True),
    "leaky_relu": Rule(leaky_relu, leaky_relu_backward, "input", loop=True),
    "sigmoid": Rule(sigmoid, sigmoid_backward, "output", loop=False, module="Sigmoid"),
    "tanh": Rule(tanh_, tanh_backward, "output", loop=False, module="Tanh"),
    "gelu": Rule(gelu, gelu_backward, "input", loop=True),
    "silu": Rule(silu, silu_backward, "input", loop=False, module="SiLU"),
    "gelu_tanh": Rule(gelu_tanh, gelu_tanh_backward, "input", loop=False),
    "elu": Rule(elu, elu_backward, "input", loop=False),
    "selu": Rule(selu, selu_backward, "input", loop=False, module="SELU"),
    "softplus": Rule(softplus, softplus_backward, "input", loop=False),
    "relu6": Rule(relu6, relu6_backward, "input", loop=True, module="ReLU6", keeps_integers=True),
    "hardsigmoid": Rule(hardsigmoid, hardsigmoid_backward, "input", loop=True, module="Hardsigmoid"),
    "hardswish": Rule(hardswish, hardswish_backward, "input", loop=True, module="Hardswish"),
    "mish": Rule(mish, mish_backward, "input", loop=False, module="Mish"),
    "normal_cdf": Rule(normal_cdf, normal_cdf_backward, "input", loop=False),
}
