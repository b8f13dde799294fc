"""Module and Parameter: the containers every layer is built from (PyTorch's API).

A Module finds its parameters, buffers and sub-modules by looking at its attributes,
so `self.weight = Parameter(...)` and `self.fc = Linear(...)` are all a layer needs.

    parameter.py       Parameter
    module.py          Module: traversal, state_dict, hooks, modes and devices
    backward_hooks.py  how a module's backward hooks see its gradients
    containers.py      Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
"""
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
