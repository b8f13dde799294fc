"""Module: the base class of every layer (PyTorch's API).

A Module finds its parameters, buffers and sub-modules by looking at its attributes,
so `self.weight = Parameter(...)` and `self.fc = Linear(...)` are all a layer needs.
"""
from collections import OrderedDict

import numpy as np

from ...device import canonical
from ...function import RemovableHandle
from ...tensor import Tensor
from .backward_hooks import _BackwardHooks
from .parameter import Parameter


class Module:
    """Base class of every layer. Subclasses set attributes in __init__ and define forward."""

    training = True

    def __init__(self):
        self.training = True

    def register_buffer(self, name, tensor):
        """State that is saved in state_dict but not trained (e.g. BatchNorm's running mean)."""
        self.__dict__.setdefault("_buffer_names", []).append(name)
        setattr(self, name, tensor)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(param).__name__}")
        setattr(self, name, param)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        setattr(self, name, module)

    register_module = add_module

    def register_forward_hook(self, hook):
        """Call hook(module, args, output) after every forward; a value it returns replaces the
        output. Returns a handle whose remove() unregisters it."""
        hooks = self.__dict__.setdefault("_forward_hooks", [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_forward_pre_hook(self, hook):
        """Call hook(module, args) before every forward; a value it returns (a tuple, or one
        argument) replaces the positional arguments. Returns a removable handle."""
        return self._hook("_forward_pre_hooks", hook)

    def register_full_backward_hook(self, hook):
        """Call hook(module, grad_input, grad_output) once the gradients with respect to the
        module's positional tensor inputs are known (grad_input: one per input, None for one
        that needs none; grad_output: one per output tensor). A tuple it returns replaces
        grad_input. As in PyTorch, an input that is modified in place inside forward is not
        allowed to reach the hook's tensors afterwards. Returns a removable handle."""
        return self._hook("_backward_hooks", hook)

    def register_full_backward_pre_hook(self, hook):
        """Call hook(module, grad_output) when the gradients of the module's outputs arrive; a
        tuple it returns replaces them. Returns a removable handle."""
        return self._hook("_backward_pre_hooks", hook)

    def _hook(self, kind, hook):
        hooks = self.__dict__.setdefault(kind, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in self.__dict__.get("_forward_pre_hooks", ()):
            changed = hook(self, args)
            if changed is not None:
                args = changed if isinstance(changed, tuple) else (changed,)
        backward_hooks = self.__dict__.get("_backward_hooks") or self.__dict__.get("_backward_pre_hooks")
        if backward_hooks:
            return _BackwardHooks(self).call(args, kwargs)
        return self._forward_hooked(args, kwargs)

    def _forward_hooked(self, args, kwargs):
        output = self.forward(*args, **kwargs)
        for hook in self.__dict__.get("_forward_hooks", ()):
            changed = hook(self, args, output)
            output = output if changed is None else changed
        return output

    # ---- traversal --------------------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        seen = set()
        for mod_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def requires_grad_(self, requires_grad=True):
        """Switch gradients of every parameter on or off (freezing a part of a model)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def named_buffers(self):
        for mod_name, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", ()):
                value = getattr(module, name)
                if value is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    # ---- state ------------------------------------------------------------------------
    def state_dict(self):
        """Parameters and buffers by dotted name, in PyTorch's names and order: module by
        module, each one's parameters, then its buffers."""
        owner = {}  # the module whose own entries come first in its block
        for name, p in self.named_parameters():
            owner.setdefault(name.rpartition(".")[0], []).append((name, p))
        for name, b in self.named_buffers():
            owner.setdefault(name.rpartition(".")[0], []).append((name, b))
        state = OrderedDict()
        for prefix, _ in self.named_modules():
            state.update((n, t.detach()) for n, t in owner.get(prefix, ()))
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (Tensors or NumPy arrays) into parameters and buffers by name.
        With strict, missing or unexpected keys are an error; shapes must always match."""
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if tuple(array.shape) != target.shape:
                raise ValueError(
                    f"load_state_dict: '{name}' has shape {tuple(array.shape)} in the state dict, "
                    f"but the module expects {target.shape}"
                )
            target.array = Tensor(array.astype(target.dtype, copy=True), device=target.device).array
        return missing, unexpected

    # ---- modes and devices ------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            p.grad = None

    def to(self, device):
        """Move every parameter and buffer to a device, or cast the floating ones to a dtype
        (integer buffers, such as BatchNorm's count, keep theirs, as in PyTorch), in place:
        the Parameters stay the same objects, so an optimiser built before still holds them.
        Their gradients follow."""
        try:
            cast = canonical(device) not in ("cpu", "cuda")
        except TypeError:  # a dtype class such as np.float16
            cast = True
        for module in self.modules():
            for name, value in list(vars(module).items()):
                if isinstance(value, Tensor) and not (cast and value.dtype.kind != "f"):
                    moved = value.detach().to(device)
                    value.array, value.device = moved.array, moved.device
                    if value.grad is not None:
                        value.grad = value.grad.to(device)
        return self

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        """float16 parameters and buffers: for storage (a state dict half the size); layers
        whose ops run Numba kernels (Linear, Conv, RNNs...) need float32 to run."""
        return self.to(np.float16)

    def bfloat16(self):
        raise TypeError(f"{type(self).__name__}.bfloat16: NumPy has no bfloat16 dtype, so neither has tinygrad_nb; "
                        "use half() (float16) or float()")

    def apply(self, fn):
        for m in self.modules():
            fn(m)
        return self

    # ---- printing ---------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"
