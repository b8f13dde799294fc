"""RMSprop (Hinton, 2012, lecture 6e), in PyTorch's formulation."""
from .optimizer import Optimizer, check_hyperparameters


class RMSprop(Optimizer):
    """g = grad + weight_decay * p
    s = alpha s + (1 - alpha) g^2                      (running mean square)
    d = sqrt(s - a^2) + eps, a = alpha a + (1 - alpha) g   if centered   else   sqrt(s) + eps
    b = momentum b + g / d,  p = p - lr b              if momentum   else   p = p - lr g / d"""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        check_hyperparameters("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                        maximize=maximize)
        super().__init__(params, defaults)

    def update(self, device, params, states, group, lr):
        momentum, centered = group["momentum"], group["centered"]
        xp = device.xp
        for p, state in zip(params, states):
            if self._first_step(state):
                state["step"], state["square_avg"] = xp.zeros((), xp.float64), xp.zeros_like(p.array)
                if centered:
                    state["grad_avg"] = xp.zeros_like(p.array)
                if momentum:
                    state["momentum_buffer"] = xp.zeros_like(p.array)
        device.backend.rmsprop_step(
            [p.array for p in params], self._grads(params, group), self._arrays(states, "square_avg"),
            self._arrays(states, "grad_avg") if centered else None,
            self._arrays(states, "momentum_buffer") if momentum else None, self._arrays(states, "step"), lr,
            group["alpha"], group["eps"], group["weight_decay"], momentum, centered,
        )
