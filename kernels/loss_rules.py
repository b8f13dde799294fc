"""The element-wise losses, each written once: the loss of one element l(x, t, a), from the
input x, the target t and the loss's parameter a (smooth L1's beta, Huber's delta; unused by
the others), and its two derivatives dl/dx and dl/dt (PyTorch gives a target that requires
grad its gradient too).

Both devices make their kernels from these functions, as they do from the activations'
rules (kernels/activations.py, whose conventions these follow): the names the rules call
(`where`, `exp`, `log`, `log1p`) are bound here to NumPy's ufuncs, and rebound to functions
of one number by the compiled loops of kernels/cpu/loss.py and kernels/cuda/loss.py, and to
Tensor ops by PointwiseLoss.graph_backward (tinygrad_nb/ops/loss.py), which makes the
derivatives themselves differentiable. Hence the rules are branch-free expressions;
`where(c, p, q)` picks p where c holds, else q, a constant branch is written `0 * x + c` so
that it has x's type (and is a Tensor under the Tensor binding), and a log or exp whose other
branch is taken is fed a safe value, so that it never warns or overflows.

The forms are PyTorch's numerically stable ones. Numba caches the kernels built from a rule
under the kernel files' dates only: after editing a rule, empty NUMBA_CACHE_DIR.
"""
import math
import types
from typing import Callable, NamedTuple

import numpy as np

where, exp, log, log1p = np.where, np.exp, np.log, np.log1p

LOG_FLOOR = math.exp(-100.0)  # binary cross-entropy clamps each log at -100, as PyTorch does
BCE_EPS = 1e-12  # PyTorch's floor on x (1 - x) in binary cross-entropy's derivative


def mse(x, t, a):
    """(x - t)^2."""
    return (x - t) * (x - t)


def mse_d_input(x, t, a):
    return 2 * (x - t)


def mse_d_target(x, t, a):
    return 2 * (t - x)


def l1(x, t, a):
    """|x - t|."""
    return where(x > t, x - t, t - x)


def l1_d_input(x, t, a):
    """sign(x - t): 0 where x = t, as PyTorch's sign."""
    return where(x > t, 0 * x + 1, where(x < t, 0 * x - 1, 0 * x))


def l1_d_target(x, t, a):
    return where(x > t, 0 * x - 1, where(x < t, 0 * x + 1, 0 * x))


def smooth_l1(x, t, a):
    """d^2 / (2a) where |d| < a, else |d| - a/2, with d = x - t and a = beta > 0 (beta = 0 is
    the L1 loss, which the caller picks instead)."""
    d = x - t
    m = where(d > 0, d, -d)
    return where(m < a, 0.5 * d * d / a, m - 0.5 * a)


def smooth_l1_d_input(x, t, a):
    """d / a, clamped to [-1, 1]."""
    d = x - t
    return where(d > a, 0 * d + 1, where(d < -a, 0 * d - 1, d / a))


def smooth_l1_d_target(x, t, a):
    d = x - t
    return where(d > a, 0 * d - 1, where(d < -a, 0 * d + 1, -d / a))


def huber(x, t, a):
    """d^2 / 2 where |d| < a, else a (|d| - a/2), with d = x - t and a = delta > 0."""
    d = x - t
    m = where(d > 0, d, -d)
    return where(m < a, 0.5 * d * d, a * (m - 0.5 * a))


def huber_d_input(x, t, a):
    """d, clamped to [-a, a]."""
    d = x - t
    return where(d > a, 0 * d + a, where(d < -a, 0 * d - a, d))


def huber_d_target(x, t, a):
    d = x - t
    return where(d > a, 0 * d - a, where(d < -a, 0 * d + a, -d))


def bce(x, t, a):
    """-(t log x + (1 - t) log(1 - x)) for a probability x, each log at least -100 (PyTorch's
    clamp, which keeps x = 0 and x = 1 finite), log(1 - x) as log1p(-x); NaN stays NaN."""
    log_x = where(x <= LOG_FLOOR, 0 * x - 100, log(where(x <= LOG_FLOOR, 0 * x + 1, x)))
    log_1mx = where(x >= 1, 0 * x - 100, log1p(-where(x >= 1, 0 * x, x)))
    return -(t * log_x + (1 - t) * log_1mx)


def bce_d_input(x, t, a):
    """(x - t) / max(x (1 - x), 1e-12), as PyTorch computes it (finite at x = 0 and 1)."""
    v = x * (1 - x)
    return (x - t) / where(v > BCE_EPS, v, 0 * v + BCE_EPS)


def bce_d_target(x, t, a):
    """log(1 - x) - log x, with the forward pass's clamps (PyTorch leaves them out here, giving
    inf at x = 0 and 1; inside (e^-100, 1) the two agree)."""
    log_x = where(x <= LOG_FLOOR, 0 * x - 100, log(where(x <= LOG_FLOOR, 0 * x + 1, x)))
    log_1mx = where(x >= 1, 0 * x - 100, log1p(-where(x >= 1, 0 * x, x)))
    return log_1mx - log_x


def bce_with_logits(x, t, a):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) from the logit x, as
    max(x, 0) - x t + log(1 + e^-|x|), which never overflows."""
    return where(x > 0, x, 0 * x) - x * t + log1p(exp(-where(x > 0, x, -x)))


def bce_with_logits_d_input(x, t, a):
    """sigmoid(x) - t, with sigmoid(x) from e = e^-|x|: 1 / (1 + e) for x >= 0, e / (1 + e) below."""
    e = exp(-where(x > 0, x, -x))
    return where(x >= 0, 1 / (1 + e), e / (1 + e)) - t


def bce_with_logits_d_target(x, t, a):
    return -x


def kl_div(x, t, a):
    """t (log t - x) for a log-probability x and a probability t; 0 where t <= 0."""
    return where(t > 0, t * (log(where(t > 0, t, 0 * t + 1)) - x), 0 * t)


def kl_div_d_input(x, t, a):
    return where(t > 0, -t, 0 * t)


def kl_div_d_target(x, t, a):
    """log t + 1 - x where t > 0, else 0 (PyTorch's is NaN at t = 0)."""
    return where(t > 0, log(where(t > 0, t, 0 * t + 1)) + 1 - x, 0 * t)


def kl_div_log_target(x, t, a):
    """e^t (t - x), both x and t log-probabilities."""
    return exp(t) * (t - x)


def kl_div_log_target_d_input(x, t, a):
    return -exp(t)


def kl_div_log_target_d_target(x, t, a):
    return exp(t) * (t - x + 1)


class Rule(NamedTuple):
    loss: Callable  # l(x, t, a): one element's loss
    d_input: Callable  # dl/dx (x, t, a)
    d_target: Callable  # dl/dt (x, t, a)


RULES = {
    "mse": Rule(mse, mse_d_input, mse_d_target),
    "l1": Rule(l1, l1_d_input, l1_d_target),
    "smooth_l1": Rule(smooth_l1, smooth_l1_d_input, smooth_l1_d_target),
    "huber": Rule(huber, huber_d_input, huber_d_target),
    "bce": Rule(bce, bce_d_input, bce_d_target),
    "bce_with_logits": Rule(bce_with_logits, bce_with_logits_d_input, bce_with_logits_d_target),
    "kl_div": Rule(kl_div, kl_div_d_input, kl_div_d_target),
    "kl_div_log_target": Rule(kl_div_log_target, kl_div_log_target_d_input, kl_div_log_target_d_target),
}


def specialise(template, name, **functions):
    """The kernel `template` with each of `functions` bound to its name, as a function of its
    own `name` (activations.specialise, for a template that calls more than one rule)."""
    kernel = types.FunctionType(template.__code__, {**template.__globals__, **functions}, name)
    kernel.__qualname__ = name
    return kernel
