"""Adam (Kingma and Ba, 2015) and AdamW, Adam with decoupled weight decay (Loshchilov
and Hutter, 2019), in PyTorch's formulation."""
from .optimizer import Optimizer, check_hyperparameters


class Adam(Optimizer):
    """g = grad + weight_decay * p                        (L2 penalty; AdamW decays p instead)
    m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2     (running moments; v_max = max(v_max, v) with amsgrad)
    p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)   (bias-corrected, t = step)"""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
        name = type(self).__name__
        check_hyperparameters(name, lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: invalid betas {betas}; each must be in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def update(self, device, params, states, group, lr):
        (b1, b2), amsgrad = group["betas"], group["amsgrad"]
        xp = device.xp
        for p, state in zip(params, states):
            if self._first_step(state):
                state["step"] = xp.zeros((), xp.float64)  # float64: 1 - b2^t loses digits in float32
                state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(p.array), xp.zeros_like(p.array)
                if amsgrad:
                    state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        device.backend.adam_step(
            [p.array for p in params], self._grads(params, group), self._arrays(states, "exp_avg"),
            self._arrays(states, "exp_avg_sq"), self._arrays(states, "max_exp_avg_sq") if amsgrad else None,
            self._arrays(states, "step"), lr, b1, b2, group["eps"], group["weight_decay"], self.decoupled, amsgrad,
        )


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameter directly, p = p (1 - lr weight_decay),
    instead of adding to the gradient, so it is not rescaled by the adaptive step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
