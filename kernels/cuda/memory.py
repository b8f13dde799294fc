"""GPU memory: pools of freed buffers, so that a training step, which allocates the same
shapes every time, stops paying for allocation after its first run.

Numba allocates every device array afresh (cuMemAlloc and a new array object, tens of
microseconds, often more than the kernel that fills it). Here each buffer belongs to a
`Block`; when the last array viewing a block goes, its buffer returns to the block's `Pool`,
keyed by (element count, dtype), and the next request of that size takes it back. Reuse is
safe without synchronising: every kernel and copy runs on the default stream, in order, so a
kernel queued later cannot run before the one still reading the old contents.

While a CUDA graph is being captured (graph.py), allocations come from the capture's own
pool: those buffers belong to the graph, which writes them on every replay, so they are never
handed to tensors outside it and are freed with it (PyTorch's private graph pool).
The shared pool keeps at most `LIMIT` bytes; `empty()` releases them to the driver (as
torch.cuda.empty_cache does), and does so by itself when an allocation runs out of memory.
"""
import weakref

import numpy as np
from numba.cuda.cudadrv.driver import CudaAPIError

from . import launch
from .launch import cuda

LIMIT = 2 << 30  # bytes of freed buffers the shared pool keeps for reuse


class Pool:
    """Freed device buffers by (element count, dtype), at most `limit` bytes (None: no limit)."""

    def __init__(self, limit=None):
        self.limit = limit
        self.free = {}
        self.cached = 0

    def take(self, count, dtype):
        stack = self.free.get((count, dtype.str))
        if not stack:
            return None
        array = stack.pop()
        self.cached -= array.nbytes
        return array

    def give(self, array):
        if self.limit is not None and self.cached + array.nbytes > self.limit:
            return  # dropped: Numba frees it
        self.free.setdefault((array.size, np.dtype(array.dtype).str), []).append(array)
        self.cached += array.nbytes

    def clear(self):
        self.free.clear()
        self.cached = 0


SHARED = Pool(LIMIT)

# Each buffer a Block holds, and the Block, by id(buffer). A captured launch sees only buffers,
# and the capture needs their Blocks to tell its own memory from memory that tensors outside own.
# The strong reference to the buffer matters too: a numba device array frees its memory from a
# weakref finalizer of its pointer object, and when a Block dies in a reference cycle the
# garbage collector runs the weakref callbacks of everything only the cycle reaches *before*
# Block.__del__, so a buffer reachable only through its Block would be freed and then pooled,
# dangling (a ReferenceError at the next copy into it, or a kernel writing freed memory).
# Reachable from here, the buffer is never part of the garbage.
_owners = {}


class Block:
    """Owns one device buffer while arrays view it. `constant` marks read-only uploads that
    caches keep (numbers, pooling windows): a captured graph may hold those for good."""

    __slots__ = ("array", "pool", "constant", "__weakref__")

    def __init__(self, array, pool, constant=False):
        self.array, self.pool, self.constant = array, pool, constant
        _owners[id(array)] = (array, weakref.ref(self))

    def __del__(self):
        try:
            _owners.pop(id(self.array), None)
            self.pool.give(self.array)
        except Exception:  # noqa: BLE001  (interpreter shutdown: the module may be gone already)
            pass


def owner(buffer):
    """The live Block holding `buffer`, or None."""
    entry = _owners.get(id(buffer))
    return None if entry is None else entry[1]()


def allocate(count, dtype, constant=False):
    """A Block with an uninitialised device buffer of `count` elements."""
    dtype = np.dtype(dtype)
    capture = launch.capturing()
    pool = SHARED if capture is None or constant else capture.pool
    array = pool.take(count, dtype)
    if array is None and pool is not SHARED:
        array = SHARED.take(count, dtype)
    if array is None:
        try:
            array = cuda.device_array(count, dtype)
        except (MemoryError, CudaAPIError):
            empty()
            array = cuda.device_array(count, dtype)
    return Block(array, pool, constant)


_stand_ins = {}


def stand_in(dtype):
    """A one-element buffer of `dtype` to pass where a kernel takes an array it will not read
    (an absent weight, an unused slot): kernels have a fixed list of parameters."""
    dtype = np.dtype(dtype)
    block = _stand_ins.get(dtype.str)
    if block is None:
        block = _stand_ins[dtype.str] = allocate(1, dtype, constant=True)
    return block.array


def upload(host, what="upload", constant=False):
    """A Block holding a copy of the contiguous host array `host` (flattened).

    The copy runs at once. During a capture that is wrong for data, which a replay would
    not read again, so only `constant` uploads (values that never change) are allowed then."""
    if launch.capturing() is not None and not constant:
        raise RuntimeError(
            f"{what}: host data of shape {host.shape} met the GPU while a CUDA graph was being captured; "
            "a replay would reuse the values copied now. Copy new data into a static cuda tensor with "
            "copy_() before each replay, and keep host arrays out of the captured step"
        )
    block = allocate(host.size, host.dtype, constant)
    if host.size:
        block.array.copy_to_device(host.reshape(-1))
    return block


def cached_bytes():
    """Bytes of freed device buffers the shared pool holds for reuse."""
    return SHARED.cached


def empty():
    """Hand every cached buffer of the shared pool back to the driver."""
    SHARED.clear()
