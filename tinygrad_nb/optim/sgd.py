"""Stochastic gradient descent, with momentum (Polyak, 1964) and Nesterov momentum
(Sutskever et al., 2013), in PyTorch's formulation."""
from .optimizer import Optimizer, check_hyperparameters


class SGD(Optimizer):
    """g = grad + weight_decay * p
    b = momentum * b + (1 - dampening) * g          (b = g on the first step)
    g = g + momentum * b   if nesterov   else   b
    p = p - lr * g"""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        check_hyperparameters("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize)
        super().__init__(params, defaults)

    def update(self, device, params, states, group, lr):
        momentum, bufs = group["momentum"], None
        fresh = set()
        if momentum:
            for p, state in zip(params, states):
                if self._first_step(state):
                    state["momentum_buffer"] = device.xp.empty_like(p.array)
                    fresh.add(id(p))
        # the first step sets the buffer to the gradient: those parameters go in a call of their own
        for first in (True, False):
            part = [(p, s) for p, s in zip(params, states) if (id(p) in fresh) == first]
            if not part:
                continue
            if momentum:
                bufs = [s["momentum_buffer"] for _, s in part]
            device.backend.sgd_step([p.array for p, _ in part], self._grads([p for p, _ in part], group), bufs, lr, momentum,
                                      group["dampening"], group["weight_decay"], group["nesterov"], first)
