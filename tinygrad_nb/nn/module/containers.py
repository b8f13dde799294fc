"""Containers: modules that hold other modules (Sequential, ModuleList, ModuleDict) or
parameters (ParameterList, ParameterDict), registered under their positions or keys."""
from .module import Module
from .parameter import Parameter


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
