"""The optimisers' update rules for one element, written once as plain Python and compiled
for both devices: `kernels/cpu/optim.py` wraps them with `njit`, `kernels/cuda/optim.py` with
`cuda.jit(device=True)`, and each drives them over every element of a group's parameters in
one kernel. Arithmetic is float64 whatever the parameters' dtype (`float()` on every array
element; the results are stored back in the arrays' dtype), so the CPU, the GPU and the GPU
simulator, which runs the rules on NumPy scalars, give the same numbers, and the bias
corrections keep their digits.
PyTorch's formulations (see tinygrad_nb/optim for the formulas as math).

Numba's disk cache checks only the file of the kernel it caches: after editing a rule here,
empty NUMBA_CACHE_DIR, or the kernels of kernels/cpu/optim.py keep the old rule.
"""
import math


def sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """-> (p, momentum buffer)"""
    p, g, buf, lr = float(p), float(g), float(buf), float(lr)
    g = g + weight_decay * p
    if momentum != 0.0:
        buf = g if first else momentum * buf + (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adam(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, step):
    """-> (p, m, v, v_max); step is this update's t (1 on the first)."""
    p, g, m, v, v_max, lr, step = float(p), float(g), float(m), float(v), float(v_max), float(lr), float(step)
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * g * g
    if amsgrad:
        if v > v_max or v != v:  # NaN wins, as in torch.maximum
            v_max = v
        second = v_max
    else:
        second = v
    denom = math.sqrt(second) / math.sqrt(1.0 - beta2**step) + eps
    return p - (lr / (1.0 - beta1**step)) * m / denom, m, v, v_max


def rmsprop(p, g, square, average, buf, lr, alpha, eps, weight_decay, momentum, centered):
    """-> (p, mean square, mean gradient, momentum buffer)"""
    p, g, square, average, buf, lr = float(p), float(g), float(square), float(average), float(buf), float(lr)
    g = g + weight_decay * p
    square = alpha * square + (1.0 - alpha) * g * g
    if centered:
        average = alpha * average + (1.0 - alpha) * g
        denom = math.sqrt(square - average * average) + eps
    else:
        denom = math.sqrt(square) + eps
    if momentum > 0.0:
        buf = momentum * buf + g / denom
        return p - lr * buf, square, average, buf
    return p - lr * g / denom, square, average, buf
