"""Tensor's factories: zeros ones full randn rand randint arange eye, the *_like and new_*
forms, and from_numpy.

They are class methods of Tensor (mixed in from here by tensor.py), also exported as
tg.zeros(...) and the like. Like every method outside tensor.py they make tensors through
`_from_data` (Tensor(data, ...)) and `_from_array` (an array already on the device), which
always make a plain Tensor, also when reached through a subclass such as nn.Parameter.
"""
import numbers

import numpy as np

from . import random
from .device import get_device
from .random import generator
from .tensor_args import DEFAULT_FLOAT, _check_dtype, _shape_arg, _to_dtype


class TensorFactories:
    @classmethod
    def _factory(cls, array, dtype, device, requires_grad):
        return cls._from_data(array, requires_grad, device, _to_dtype(dtype) or DEFAULT_FLOAT)

    @classmethod
    def _on_device(cls, make, shape, dtype, device, requires_grad):
        """A tensor whose buffer the device makes itself in the final dtype (no host copy,
        so factories also work inside a captured CUDA graph)."""
        dev = get_device(device)
        dtype = _to_dtype(dtype) or np.dtype(DEFAULT_FLOAT)
        return cls._from_array(make(dev, shape, dtype), dev.name).requires_grad_(requires_grad)

    @classmethod
    def zeros(cls, *shape, dtype=None, device="cpu", requires_grad=False):
        return cls.full(_shape_arg(shape), 0, dtype, device, requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=None, device="cpu", requires_grad=False):
        return cls.full(_shape_arg(shape), 1, dtype, device, requires_grad)

    @classmethod
    def full(cls, shape, fill_value, dtype=None, device="cpu", requires_grad=False):
        shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
        return cls._on_device(lambda dev, s, d: dev.xp.full(s, fill_value, d), shape, dtype, device, requires_grad)

    @classmethod
    def from_numpy(cls, array):
        """torch.from_numpy: a CPU tensor sharing the array's memory (writes show on both
        sides), with the array's dtype."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
        _check_dtype(array.dtype, "from_numpy")
        return cls._from_array(array, "cpu")

    @classmethod
    def randn(cls, *shape, dtype=None, device="cpu", requires_grad=False):
        """Standard normal samples from the generator seeded by `manual_seed`, drawn in the
        tensor's dtype (on the host, for every device)."""
        return cls._on_device(lambda dev, s, d: dev.from_numpy(random.normal(s, d)), _shape_arg(shape), dtype, device,
                              requires_grad)

    @classmethod
    def rand(cls, *shape, dtype=None, device="cpu", requires_grad=False):
        """Uniform samples in [0, 1): on the CPU from the generator seeded by `manual_seed`, on
        the GPU from the GPU's own generator (seeded from it), so a captured step draws new ones."""
        return cls._on_device(lambda dev, s, d: dev.uniform(s, d), _shape_arg(shape), dtype, device, requires_grad)

    @classmethod
    def randint(cls, low, high=None, size=(), dtype=None, device="cpu"):
        if high is None:
            low, high = 0, low
        values = generator().integers(low, high, size=_shape_arg((size,)))
        return cls._from_data(values, device=device, dtype=_to_dtype(dtype) or np.int64)

    @classmethod
    def arange(cls, start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
        """Like torch.arange: integer arguments give int64, any float gives float32."""
        if end is None:
            start, end = 0, start
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        default = np.int64 if ints else DEFAULT_FLOAT
        return cls._from_data(np.arange(start, end, step), requires_grad, device, _to_dtype(dtype) or default)

    @classmethod
    def eye(cls, n, m=None, dtype=None, device="cpu", requires_grad=False):
        return cls._factory(np.eye(n, m), dtype, device, requires_grad)

    @classmethod
    def zeros_like(cls, t, dtype=None, device=None, requires_grad=False):
        return cls.zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)

    @classmethod
    def ones_like(cls, t, dtype=None, device=None, requires_grad=False):
        return cls.ones(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)

    def new_zeros(self, *shape):
        """Zeros of the given shape with this tensor's dtype and device."""
        return self.zeros(_shape_arg(shape), dtype=self.dtype, device=self.device)

    def new_ones(self, *shape):
        return self.ones(_shape_arg(shape), dtype=self.dtype, device=self.device)
