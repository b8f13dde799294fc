"""Adagrad (Duchi, Hazan and Singer, 2011) and Adadelta (Zeiler, 2012), in PyTorch's
formulations. Their updates are compositions of the device's array operations (a few
launches per parameter on a GPU), not fused kernels like SGD's and Adam's; they change
parameters and state in place, so a captured CUDA graph replays them too."""
from .optimizer import Optimizer, check_hyperparameters


class Adagrad(Optimizer):
    """g = grad + weight_decay * p,   s = s + g^2   (s starts at initial_accumulator_value)
    p = p - lr_t g / (sqrt(s) + eps),   lr_t = lr / (1 + (t - 1) lr_decay)"""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False):
        check_hyperparameters("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                              initial_accumulator_value=initial_accumulator_value)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps, maximize=maximize,
                                      initial_accumulator_value=initial_accumulator_value))

    def update(self, device, params, states, group, lr):
        xp = device.xp
        for p, g, state in zip(params, self._grads(params, group), states):
            if self._first_step(state):
                state["step"] = xp.zeros((), xp.float64)
                state["sum"] = xp.full(p.shape, group["initial_accumulator_value"], p.dtype)
            state["step"][...] = state["step"] + 1.0
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.array
            state["sum"][...] = state["sum"] + g * g
            rate = lr / (1.0 + (state["step"] - 1.0) * group["lr_decay"])
            p.array[...] = p.array - (rate * g / (xp.sqrt(state["sum"]) + group["eps"])).astype(p.dtype)


class Adadelta(Optimizer):
    """g = grad + weight_decay * p,   s = rho s + (1 - rho) g^2
    d = sqrt(u + eps) / sqrt(s + eps) * g,   u = rho u + (1 - rho) d^2,   p = p - lr d"""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        check_hyperparameters("Adadelta", lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        if rho > 1.0:
            raise ValueError(f"Adadelta: invalid rho {rho}; expected a value in [0, 1]")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def update(self, device, params, states, group, lr):
        xp = device.xp
        rho, eps = group["rho"], group["eps"]
        for p, g, state in zip(params, self._grads(params, group), states):
            if self._first_step(state):
                state["step"] = xp.zeros((), xp.float64)
                state["square_avg"], state["acc_delta"] = xp.zeros_like(p.array), xp.zeros_like(p.array)
            state["step"][...] = state["step"] + 1.0
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.array
            state["square_avg"][...] = rho * state["square_avg"] + (1.0 - rho) * g * g
            delta = xp.sqrt(state["acc_delta"] + eps) / xp.sqrt(state["square_avg"] + eps) * g
            state["acc_delta"][...] = rho * state["acc_delta"] + (1.0 - rho) * delta * delta
            p.array[...] = p.array - (lr * delta).astype(p.dtype)
