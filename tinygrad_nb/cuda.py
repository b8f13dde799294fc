"""The 'cuda' device: tensors in NVIDIA GPU memory, worked on by Numba CUDA kernels.

    import tinygrad_nb as tg
    if tg.cuda.is_available():
        x = tg.randn(64, 32, device="cuda")   # or Tensor.to('cuda') / .cuda()

Data stays on the GPU from op to op; only `.numpy()` and `.item()` copy back. Memory a
tensor frees is cached for the next tensor of its size (`empty_cache()` releases it). Without a
GPU, setting NUMBA_ENABLE_CUDASIM=1 before Numba is first imported runs the same kernels
in Numba's CUDA simulator (slow: every GPU thread is a Python thread; for tests).
Importing this module compiles nothing and does not import Numba.
"""
import ctypes
import ctypes.util
import importlib
import os

from .device import Device, register_device


def driver_has_gpu():
    """Whether the NVIDIA driver reports a GPU, asked directly (without importing Numba, so
    callers can still choose the simulator before Numba reads its settings)."""
    name = ctypes.util.find_library("nvcuda") if os.name == "nt" else "libcuda.so.1"
    try:
        driver = ctypes.CDLL(name)
    except (OSError, TypeError):
        return False
    count = ctypes.c_int(0)
    return driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def _kernels(module):
    return importlib.import_module(f"tinygrad_nb.kernels.cuda.{module}")


def is_simulated():
    """True when CUDA kernels run in Numba's simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return _kernels("launch").SIMULATED


def is_available():
    """True when CUDA tensors work here: a GPU with a working driver, or the simulator."""
    return bool(_kernels("launch").cuda.is_available())


def empty_cache():
    """Release the GPU memory cached for reuse by later tensors (as torch.cuda.empty_cache)."""
    _kernels("memory").empty()


def memory_cached():
    """Bytes of freed GPU memory held for reuse."""
    return _kernels("memory").cached_bytes()


class CUDA(Device):
    def __init__(self):
        super().__init__("cuda")
        self._xp = None

    @property
    def xp(self):
        if self._xp is None:  # imported on first use: importing tinygrad_nb imports no Numba
            self._xp = _kernels("xp")
        return self._xp

    def from_numpy(self, array):
        if not is_available():
            raise RuntimeError(
                "cuda: no CUDA GPU is available (no NVIDIA driver or device found); "
                "set NUMBA_ENABLE_CUDASIM=1 before importing Numba to run on the simulator"
            )
        return self.xp.asarray(array)

    def to_numpy(self, array):
        return array.get()


register_device(CUDA())
