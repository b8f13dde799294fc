"""Neural-network layers, written on Tensor alone (PyTorch's names and signatures)."""
from . import functional
from .module import Module, ModuleList, Parameter, Sequential
