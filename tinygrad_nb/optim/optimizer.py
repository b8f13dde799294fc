"""Optimizer: the base class. It holds parameter groups (each a dict of hyper-parameters
and its parameters) and per-parameter state; a subclass supplies `update`, which changes a
group's parameters, in place, from their gradients.

Updates work on the raw device arrays (`p.array`, `p.grad.array`) through the device's
multi-tensor kernels (kernels/*/optim.py: one call updates many parameters, one launch on a
GPU), so they record no graph and run on any device, as the ops do. Parameters and state arrays
are changed in place, never replaced: a captured CUDA graph (tg.cuda.graph) replays its
kernels on the buffers it saw, so a replayed step trains only if those buffers are the
parameters. For the same reason the step count lives in a device array (float64, exact),
and the learning rate is read from one that `step()` (or, for a graph, each replay)
rewrites when a scheduler changes it."""
import numpy as np

from ..cuda import before_replay, is_current_stream_capturing
from ..device import get_device
from ..tensor import Tensor


class Optimizer:
    counters = ("step",)  # state entries saved as plain numbers (0-d float64 arrays on the device)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        self._rates = {}  # (id(group), device) -> [group, device, 0-d float64 array holding its lr, value written]
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add parameters with their own hyper-parameters (missing ones take the defaults)."""
        name = type(self).__name__
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor) or p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating Tensors, got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one parameter group")
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients (set_to_none) or replace them by zeros. Not zeroed in place: a
        gradient may be a read-only view, or shared with another tensor."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None if set_to_none or p.grad is None else Tensor.zeros_like(p.grad)

    def step(self):
        """Apply one update, in place, to every parameter that has a gradient: one kernel
        call for each group's parameters of one device and dtype."""
        self._write_rates()
        before_replay(self._write_rates)
        for group in self.param_groups:
            kinds = {}
            for p in group["params"]:
                if p.grad is not None:
                    kinds.setdefault((p.device, p.dtype.str), []).append(p)
            for params in kinds.values():
                device = get_device(params[0].device)
                self.update(device, params, [self.state.setdefault(p, {}) for p in params], group,
                            self._rate(group, params[0]))

    def update(self, device, params, states, group, lr):
        """Change `params` (Tensors of one device and dtype, each with a gradient) in place,
        and their `states` (each parameter's own dict of buffers); lr is a 0-d array on the
        device. Subclasses call the device's multi-tensor kernel."""
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    def _rate(self, group, p):
        """group's learning rate as a 0-d float64 array on p's device (the update rules compute
        in float64)."""
        key = (id(group), p.device)
        entry = self._rates.get(key)
        if entry is None:
            device = get_device(p.device)
            entry = self._rates[key] = [group, device, device.xp.empty((), np.float64), None]
            self._write_rates()
        return entry[2]

    def _write_rates(self):
        for entry in self._rates.values():
            group, device, array, written = entry
            if group["lr"] != written:
                device.write(array, group["lr"])
                entry[3] = group["lr"]

    def _first_step(self, state):
        """True when `state` is still empty. The first step creates it, and a CUDA graph would
        replay that creation on every step: it must run eagerly, before any capture."""
        if state:
            return False
        if is_current_stream_capturing():
            raise RuntimeError(
                f"{type(self).__name__}.step: the first step creates the optimiser's state and cannot be captured "
                "in a CUDA graph (each replay would create it afresh); run one step eagerly before capturing"
            )
        return True

    @staticmethod
    def _arrays(states, key):
        return [state[key] for state in states]

    @staticmethod
    def _grads(params, group):
        """The gradients the update descends: negated with `maximize` (the update then climbs)."""
        if group.get("maximize"):
            return [-p.grad.array for p in params]
        return [p.grad.array for p in params]

    # ---- saving and restoring ---------------------------------------------------------
    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """{'state': {index: {name: value}}, 'param_groups': [{hyper-parameters, 'params': [index]}]},
        parameters numbered in the order of their groups, as PyTorch does."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {}
        for p, entries in self.state.items():
            state[index[id(p)]] = {
                k: _count(v, p) if k in self.counters else Tensor._from_array(v.copy(), p.device) for k, v in entries.items()
            }
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; values may be Tensors or NumPy arrays."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError(f"{name}.load_state_dict: the saved parameter groups do not match this optimizer's")
        params = self._params()
        self.state = {}
        for i, entries in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: self._restore(k, v, p) for k, v in entries.items()}
        for own, saved in zip(self.param_groups, groups):
            own.update({k: _plain(v) for k, v in saved.items() if k != "params"})

    def _restore(self, key, value, p):
        if key in self.counters:
            return get_device(p.device).from_numpy(np.asarray(_plain(value), np.float64))
        array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
        if array.shape != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state '{key}' has shape {array.shape}, parameter has {p.shape}")
        return get_device(p.device).from_numpy(array.astype(p.dtype, copy=True))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _count(array, p):
    """A counter kept on the device (the step) as a Python int."""
    return int(Tensor._from_array(array, p.device).item())


def _plain(value):
    """A saved number (maybe a 0-d array or Tensor) as a Python number; lists as tuples."""
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def check_hyperparameters(name, **values):
    """A clear error for a negative learning rate, momentum, epsilon or decay."""
    for key, value in values.items():
        if value < 0.0:
            raise ValueError(f"{name}: invalid {key} {value}; expected a value >= 0")
