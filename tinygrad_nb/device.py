"""Devices: where a tensor's buffer lives and which kernels work on it.

A device offers two things to the ops:
  * `xp`, a NumPy-like array namespace for the simple elementwise, reduction and
    movement work (NumPy itself on the CPU);
  * `kernel(name)`, the heavy kernels (matmul, conv, pool, rnn ...), looked up by
    (name, device) in the table `KERNELS` of `tinygrad_nb.kernels.<device>`; Numba has
    no float16, so a kernel given a float16 array says so and asks for float32;
  * `uniform(shape, dtype)`, `scalar(value, dtype)` and `write(array, values)`: random
    numbers from the device's generator, a number as a (possibly shared, read-only) 0-d
    array on the device, and host values copied into a device array in place.
Ops never mention a device, so adding a device means adding kernels, not touching ops.
"""
import functools
import importlib
import sys
import types

import numpy as np

from . import random

# Set by the debug trace at level 2 (tinygrad_nb/debug.py) to wrap each kernel handed out,
# so it can report what Numba did; None otherwise, which leaves kernels untouched.
kernel_observer = None


class Device:
    def __init__(self, name):
        self.name = name
        self._kernels = {}
        self._table = None

    @property
    def xp(self):
        raise NotImplementedError

    def kernel(self, name):
        """The kernel `name` for this device; its module is imported on first use."""
        fn = self._kernels.get(name)
        if fn is None:
            package = f"tinygrad_nb.kernels.{self.name}"
            if self._table is None:
                self._table = importlib.import_module(package).KERNELS
            if name not in self._table:
                raise NotImplementedError(f"no kernel '{name}' for device '{self.name}'")
            module = importlib.import_module(f"{package}.{self._table[name]}")
            fn = self._kernels[name] = _no_float16(name, getattr(module, name), self.name)
        return fn if kernel_observer is None else kernel_observer(name, fn)

    def from_numpy(self, array):
        raise NotImplementedError

    def to_numpy(self, array):
        raise NotImplementedError

    def uniform(self, shape, dtype):
        """An array of uniform samples in [0, 1) from the device's generator."""
        raise NotImplementedError

    def scalar(self, value, dtype):
        """A 0-d array holding value, to be read only: it may be shared (a GPU caches one
        per value rather than copying a number to the device at every use)."""
        raise NotImplementedError

    def write(self, array, values):
        """Copy host values into a contiguous array of this device, in place and at once
        (during a CUDA graph capture too, so a replay reads them: hyper-parameters, seeds)."""
        raise NotImplementedError


def _no_float16(name, fn, device):
    """fn, with the error Numba raises for a float16 array (it cannot compile for one) turned
    into one that names the kernel. Checked only once a call has failed: free when it works."""

    @functools.wraps(fn, updated=())
    def kernel(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if not any(_is_float16(a) for a in (*args, *kwargs.values())):
                raise
        raise TypeError(f"{name}: float16 is not supported by this op's {device} kernel (Numba compiles for float32 "
                        "and float64 only); use float32: tensor.float(), model.float()") from None

    return kernel


def _is_float16(value):
    if isinstance(value, (list, tuple)):
        return any(_is_float16(v) for v in value)
    return getattr(value, "dtype", None) == np.float16


class CPU(Device):
    xp = np

    def __init__(self):
        super().__init__("cpu")

    def from_numpy(self, array):
        return array

    def to_numpy(self, array):
        return array

    def uniform(self, shape, dtype):
        return random.uniform(shape, dtype)

    def scalar(self, value, dtype):
        return np.asarray(value, dtype)

    def write(self, array, values):
        array[...] = values


_DEVICES = {"cpu": CPU()}


def register_device(device):
    _DEVICES[device.name] = device


def canonical(name):
    """'cuda:0' -> 'cuda'; accepts Device objects and strings."""
    name = getattr(name, "name", name)
    if not isinstance(name, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda', got {name!r}")
    return name.split(":")[0].lower()


def get_device(name):
    device = _DEVICES.get(name) if type(name) is str else None
    if device is not None:  # the usual case, a tensor's own device name: no parsing
        return device
    name = canonical(name)
    if name == "cuda" and name not in _DEVICES:
        importlib.import_module("tinygrad_nb.cuda")  # registers the device, or explains why it cannot
    if name not in _DEVICES:
        raise ValueError(f"unknown device '{name}': expected one of {sorted(set(_DEVICES) | {'cuda'})}")
    return _DEVICES[name]


class DeviceName(str):
    """What tg.device('cuda:0') returns, as torch.device does: the device's name, usable
    wherever one is taken, with PyTorch's .type and .index."""

    def __new__(cls, type, index=None):
        name = type if index is None else f"{type}:{index}"
        if name.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {name!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        return super().__new__(cls, name)

    @property
    def type(self):
        return self.split(":")[0]

    @property
    def index(self):
        return int(self.split(":")[1]) if ":" in self else None


class _CallableModule(types.ModuleType):
    """This module, callable as torch.device is (tg.device('cuda') in a ported script), while
    `tinygrad_nb.device` stays the module that holds the devices."""

    def __call__(self, type, index=None):
        return DeviceName(type, index)


sys.modules[__name__].__class__ = _CallableModule
