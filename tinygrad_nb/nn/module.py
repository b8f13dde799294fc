"""Module and Parameter: the containers every layer is built from (PyTorch's API).

A Module finds its parameters, buffers and sub-modules by looking at its attributes,
so `self.weight = Parameter(...)` and `self.fc = Linear(...)` are all a layer needs.
"""
from collections import OrderedDict

import numpy as np

from ..device import canonical
from ..function import RemovableHandle
from ..ops.hooks import BackwardHook
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight: requires_grad by default. It shares the
    buffer of the Tensor it is made from, as torch.nn.Parameter does."""

    def __init__(self, data, requires_grad=True):
        t = data if isinstance(data, Tensor) else Tensor(data)
        self.array, self.device, self.grad, self._ctx, self._out_index = t.array, t.device, None, None, 0
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _BackwardHooks:
    """One forward of a module with backward hooks: its tensor inputs and outputs pass
    through BackwardHook ops, so that backward hands over the outputs' gradients (to the
    pre-hooks) and then the inputs' (to the hooks, with the outputs')."""

    def __init__(self, module):
        self.module, self.grad_output = module, None

    def call(self, args, kwargs):
        slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.tensor_inputs = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        args = list(args)
        if slots:
            views = BackwardHook.apply(*(args[i] for i in slots), call=self.inputs_done)
            for i, v in zip(slots, views):
                args[i] = v
        self.slots = slots
        output = self.module._forward_hooked(tuple(args), kwargs)
        flat = _tensors(output)
        live = [k for k, t in enumerate(flat) if t.requires_grad]
        if not live:
            return output
        self.n_outputs = len(flat)
        self.live_outputs = live
        views = BackwardHook.apply(*(flat[k] for k in live), call=self.outputs_done)
        for k, v in zip(live, views):
            flat[k] = v
        return _rebuilt(output, iter(flat))

    def outputs_done(self, grads):
        grad_output = [None] * self.n_outputs
        for k, g in zip(self.live_outputs, grads):
            grad_output[k] = g
        for hook in self.module.__dict__.get("_backward_pre_hooks", ()):
            changed = hook(self.module, tuple(grad_output))
            if changed is not None:
                grad_output = list(changed)
        self.grad_output = tuple(grad_output)
        if not self.slots:  # no input needs a gradient: the hooks hear of the outputs' alone
            self.inputs_done(())
        return tuple(grad_output[k] for k in self.live_outputs)

    def inputs_done(self, grads):
        position = {slot: g for slot, g in zip(self.slots, grads)}
        grad_input = tuple(position.get(i) for i in self.tensor_inputs)
        for hook in self.module.__dict__.get("_backward_hooks", ()):
            changed = hook(self.module, grad_input, self.grad_output)
            if changed is not None:
                grad_input = tuple(changed)
        return tuple(grad_input[self.tensor_inputs.index(i)] for i in self.slots)


def _tensors(output):
    """The tensors of a module's output (a tensor, or nested tuples and lists of them), in order."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _rebuilt(output, tensors):
    """output with its tensors taken in order from the iterator `tensors`."""
    if isinstance(output, Tensor):
        return next(tensors)
    if isinstance(output, (tuple, list)):
        items = [_rebuilt(item, tensors) for item in output]
        return type(output)(*items) if hasattr(output, "_fields") else type(output)(items)
    return output


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


class ModuleList(Module):
    """A list of modules whose parameters are registered (named 0, 1, ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def __getitem__(self, i):
        """One module, or for a slice a ModuleList of those modules (as in PyTorch)."""
        children = list(self.children())
        return ModuleList(children[i]) if isinstance(i, slice) else children[i]

    def __len__(self):
        return len(list(self.children()))

    def __iter__(self):
        return iter(list(self.children()))


class Sequential(ModuleList):
    """Calls its modules in order: Sequential(a, b, c)(x) == c(b(a(x))).
    Also accepts one OrderedDict of name -> module."""

    def __init__(self, *modules):
        Module.__init__(self)
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                setattr(self, name, module)
        else:
            for module in modules:
                self.append(module)

    def __getitem__(self, i):
        """One module, or for a slice a Sequential of those modules under their names."""
        if isinstance(i, slice):
            return Sequential(dict(list(self.named_children())[i]))
        return super().__getitem__(i)

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for name, module in dict(modules or {}).items():
            self[name] = module

    def __setitem__(self, name, module):
        self.add_module(str(name), module)

    def __getitem__(self, name):
        return dict(self.named_children())[name]

    def __contains__(self, name):
        return name in dict(self.named_children())

    def __len__(self):
        return len(list(self.named_children()))

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [name for name, _ in self.named_children()]

    def values(self):
        return list(self.children())

    def items(self):
        return list(self.named_children())


class ParameterList(Module):
    """A list of Parameters, registered as 0, 1, ... (Tensors given are made Parameters)."""

    def __init__(self, values=()):
        super().__init__()
        self._count = 0
        for value in values:
            self.append(value)

    def append(self, value):
        setattr(self, str(self._count), value if isinstance(value, Parameter) else Parameter(value))
        self._count += 1
        return self

    def __getitem__(self, i):
        return getattr(self, str(range(self._count)[i]))

    def __len__(self):
        return self._count

    def __iter__(self):
        return (self[i] for i in range(self._count))


class ParameterDict(Module):
    """A dict of Parameters, registered under their keys (Tensors given are made Parameters)."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = []
        for name, value in dict(parameters or {}).items():
            self[name] = value

    def __setitem__(self, name, value):
        if name not in self._keys:
            self._keys.append(name)
        setattr(self, name, value if isinstance(value, Parameter) else Parameter(value))

    def __getitem__(self, name):
        return getattr(self, name)

    def __contains__(self, name):
        return name in self._keys

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(list(self._keys))

    def keys(self):
        return list(self._keys)

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]
