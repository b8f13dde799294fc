"""RMSprop (Hinton, 2012, lecture 6e), in PyTorch's formulation."""
from .optimizer import Optimizer, check_hyperparameters


class RMSprop(Optimizer):
    """g = grad + weight_decay * p
    s = alpha s + (1 - alpha) g^2                      (running mean square)
    d = sqrt(s - a^2) + eps, a = alpha a + (1 - alpha) g   if centered   else   sqrt(s) + eps
    b = momentum b + g / d,  p = p - lr b              if momentum   else   p = p - lr g / d"""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        check_hyperparameters("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def update(self, xp, param, grad, state, group, lr):
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        if self._first_step(state):
            state["step"], state["square_avg"] = xp.zeros((), xp.float64), xp.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param)
            if momentum:
                state["momentum_buffer"] = xp.zeros_like(param)
        state["step"] += 1
        square = state["square_avg"]
        square *= alpha
        square += (1 - alpha) * grad * grad
        if group["centered"]:
            avg = state["grad_avg"]
            avg *= alpha
            avg += (1 - alpha) * grad
            denom = xp.sqrt(square - avg * avg) + eps
        else:
            denom = xp.sqrt(square) + eps
        if momentum:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / denom
            param -= lr * buf
        else:
            param -= lr * grad / denom
