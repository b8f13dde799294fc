"""GPU memory: a cache of freed buffers, so that a training step, which allocates the same
shapes every time, stops paying for allocation after its first run.

Numba allocates every device array afresh (cuMemAlloc and a new array object, tens of
microseconds, often more than the kernel that fills it). Here each buffer belongs to a
`Block`; when the last array viewing a block goes, its buffer returns to the pool, keyed
by (element count, dtype), and the next request of that size takes it back. Reuse is safe
without synchronising: every kernel and copy runs on the default stream, in order, so a
kernel queued later cannot run before the one still reading the old contents.
The pool keeps at most `LIMIT` bytes; `empty()` releases them to the driver (as
torch.cuda.empty_cache does), and does so by itself when an allocation runs out of memory.
"""
import numpy as np
from numba.cuda.cudadrv.driver import CudaAPIError

from .launch import cuda

LIMIT = 2 << 30  # bytes of freed buffers kept for reuse

_free = {}  # (count, dtype) -> [device arrays]
_cached = [0]  # bytes held in _free


class Block:
    """Owns one device buffer while arrays view it."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __del__(self):
        try:
            _give(self.array)
        except Exception:  # noqa: BLE001  (interpreter shutdown: the module may be gone already)
            pass


def allocate(count, dtype):
    """A Block with an uninitialised device buffer of `count` elements."""
    dtype = np.dtype(dtype)
    stack = _free.get((count, dtype.str))
    if stack:
        array = stack.pop()
        _cached[0] -= array.nbytes
        return Block(array)
    try:
        return Block(cuda.device_array(count, dtype))
    except (MemoryError, CudaAPIError):
        empty()
        return Block(cuda.device_array(count, dtype))


def upload(host):
    """A Block holding a copy of the contiguous host array `host` (flattened)."""
    block = allocate(host.size, host.dtype)
    if host.size:
        block.array.copy_to_device(host.reshape(-1))
    return block


def _give(array):
    if _cached[0] + array.nbytes > LIMIT:
        return  # dropped: Numba frees it
    _free.setdefault((array.size, np.dtype(array.dtype).str), []).append(array)
    _cached[0] += array.nbytes


def cached_bytes():
    """Bytes of freed device buffers the pool holds for reuse."""
    return _cached[0]


def empty():
    """Hand every cached buffer back to the driver."""
    _free.clear()
    _cached[0] = 0
