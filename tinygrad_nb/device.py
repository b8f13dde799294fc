"""Devices: where a tensor's buffer lives and which kernels work on it.

A device offers the ops
  * `xp`, a NumPy-like array namespace for the simple elementwise, reduction and
    movement work (NumPy itself on the CPU, kernels/cuda/xp.py on the GPU);
  * `backend`, the heavy kernels (matmul, conv, pool, rnn ...) as methods of one object,
    the device's binding of the contract in kernels/backend.py (`ctx.backend.conv2d(...)`);
    it is imported on first use, so importing tinygrad_nb imports no Numba;
  * `uniform(shape, dtype)`, `scalar(value, dtype)` and `write(array, values)`: random
    numbers from the device's generator, a number as a (possibly shared, read-only) 0-d
    array on the device, and host values copied into a device array in place.
Ops never mention a device, so adding a device means adding a backend, not touching ops.
The devices are the two of `_DEVICES` below; tinygrad_nb/cuda.py is the user's API to the
GPU (availability, memory, graphs) on top of them.
"""
import sys
import types

import numpy as np

from . import random
from .kernels.backend import ENTRY_POINTS

_observer = None  # see observe_kernels


def observe_kernels(observer):
    """Have every backend hand out its kernels wrapped as observer(name, kernel) (the debug
    trace's level 2, which reports what Numba compiled), or plainly again with None."""
    global _observer
    _observer = observer


class Device:
    def __init__(self, name):
        self.name = name
        self._backend = None

    @property
    def xp(self):
        raise NotImplementedError

    @property
    def backend(self):
        """This device's kernels (kernels/backend.py's contract), imported on first use."""
        if self._backend is None:
            self._backend = self._load_backend()
        return self._backend if _observer is None else _Observed(self._backend, _observer)

    def _load_backend(self):
        raise NotImplementedError

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


class _Observed:
    """A backend whose kernels (the contract's entry points) come wrapped by an observer."""

    def __init__(self, backend, observer):
        self._backend, self._observer = backend, observer

    def __getattr__(self, name):
        value = getattr(self._backend, name)
        return self._observer(name, value) if name in ENTRY_POINTS else value


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

    def _load_backend(self):
        from .kernels.cpu.backend import CPU

        return CPU()


class CUDA(Device):
    """NVIDIA GPU memory, worked on by Numba CUDA kernels (or by the same kernels in Numba's
    simulator). Its random numbers come from a [seed, counter] generator on the GPU."""

    def __init__(self):
        super().__init__("cuda")
        self._random_state = None
        random.device_generator("cuda", self._reseed, self._get_generator, self._set_generator)

    def _load_backend(self):
        from .kernels.cuda.backend import CUDA

        return CUDA()

    @property
    def xp(self):
        return self.backend.xp

    def from_numpy(self, array):
        if not self.backend.is_available():
            raise RuntimeError(
                "cuda: no CUDA GPU is available (no NVIDIA driver or device found); "
                "set NUMBA_ENABLE_CUDASIM=1 before importing Numba to run on the simulator"
            )
        return self.xp.ndarray.from_host(np.asarray(array), "Tensor on 'cuda' from host data")

    def to_numpy(self, array):
        return array.get("Tensor.numpy/item/print of a 'cuda' tensor")

    def scalar(self, value, dtype):
        return self.backend.constant(value, dtype)

    def write(self, array, values):
        if array.is_contiguous:
            array.set_from_host(values)
        else:  # staged through a copy on the device
            array[...] = np.asarray(values, array.dtype)

    def uniform(self, shape, dtype):
        """Uniform samples in [0, 1) drawn on the GPU from the device's own generator."""
        out = self.xp.empty(shape, dtype)
        self.backend.uniform(out, self._state())
        return out

    def _state(self):
        if self._random_state is None:
            self._random_state = self.xp.empty(2, np.uint64)
            self._reseed()
        return self._random_state

    def _reseed(self):
        # Rewritten in place, so a graph captured earlier draws from the new seed too.
        if self._random_state is not None:
            self.write(self._random_state, np.array([random.device_seed(), 0], np.uint64))

    def _get_generator(self):
        """[seed, counter] of the GPU generator, or None before its first draw."""
        return None if self._random_state is None else [int(v) for v in self.to_numpy(self._random_state)]

    def _set_generator(self, value):
        if value is None:  # not started then: it starts again from the restored seed
            if self._random_state is not None:
                self._reseed()
        else:
            self.write(self._state(), np.array(value, np.uint64))


_DEVICES = {"cpu": CPU(), "cuda": CUDA()}


def register_device(device):
    """Add a device (an instance of a Device subclass) beside 'cpu' and 'cuda', under its name."""
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
    if name not in _DEVICES:
        raise ValueError(f"unknown device '{name}': expected one of {sorted(_DEVICES)}")
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
