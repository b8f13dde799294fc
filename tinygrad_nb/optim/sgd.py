"""Stochastic gradient descent, with momentum (Polyak, 1964) and Nesterov momentum
(Sutskever et al., 2013), in PyTorch's formulation."""
from .optimizer import Optimizer, check_hyperparameters


class SGD(Optimizer):
    """g = grad + weight_decay * p
    b = momentum * b + (1 - dampening) * g          (b = g on the first step)
    g = g + momentum * b   if nesterov   else   b
    p = p - lr * g"""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        check_hyperparameters("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def update(self, xp, param, grad, state, group, lr):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        momentum = group["momentum"]
        if momentum:
            if self._first_step(state):
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param -= lr * grad
