"""Arrays the CPU kernels reuse from call to call.

A training step allocates the same large arrays every time, and glibc's allocator hands
large blocks back to the system and maps them afresh, so each new array costs a page fault
and a zeroed page per 4 KiB before the kernel writes a byte (about a tenth of a LeNet
step's time; bench/README.md). Two kinds of reuse avoid that:

    workspace(name, shape, dtype)  scratch that lives only inside one kernel call
    empty(shape, dtype)            an output array, reused once nothing else refers to it

Scratch belongs to the Python thread that asks for it: two threads running kernels at once
(a model served from a thread pool) must not write into each other's. Outputs need no such
care: an array held by a caller is never free.

`empty` works as PyTorch's caching allocator does on the GPU: arrays go back to a pool,
not to the system. An array is free when the pool holds the only reference to it: not a
Tensor, a view, a graph kept for backward or a name in the caller's code still holds it.
"""
import sys
import threading

import numpy as np

_local = threading.local()  # .workspaces: this thread's scratch by (name, shape, dtype)
_WORKSPACE_BYTES = 1 << 30  # past this much scratch in one thread, its scratch starts again


def _workspaces():
    workspaces = getattr(_local, "workspaces", None)
    if workspaces is None:
        workspaces = _local.workspaces = {}
    return workspaces


def workspace(name, shape, dtype):
    """A scratch array of this thread, reused across its calls with the same name and shape.
    Only for buffers that no result refers to after the call returns."""
    workspaces = _workspaces()
    key = (name, shape, np.dtype(dtype))
    if key not in workspaces:
        size = int(np.prod(shape)) * key[2].itemsize
        if sum(a.nbytes for a in workspaces.values()) + size > _WORKSPACE_BYTES:
            workspaces.clear()
        workspaces[key] = np.empty(shape, dtype)
    return workspaces[key]


_pool = {}
_PER_SHAPE = 8  # arrays kept per (shape, dtype); more live at once are allocated afresh
_SHAPES = 64  # past this many shapes, or this many bytes, the pool starts again (a model
_BYTES = 1 << 30  # whose shapes keep changing should not keep every size it ever used)
_held = 0  # bytes the pool holds


def _references_when_free():
    """What sys.getrefcount reports inside empty's loop for an array only the pool holds
    (3 on CPython up to 3.13: the list, the loop's name, the call's argument); measured,
    since interpreters that borrow references count differently."""
    for array in [np.empty(0)]:
        return sys.getrefcount(array)


_FREE = _references_when_free()


def release():
    """Drop the arrays kept for reuse: the pool's free ones and this thread's scratch."""
    global _held
    _workspaces().clear()
    _pool.clear()
    _held = 0


def cached_bytes():
    """Bytes kept for reuse: the pool's arrays (free or in use) and this thread's scratch."""
    return _held + sum(a.nbytes for a in _workspaces().values())


def empty(shape, dtype):
    """An uninitialised array, from the pool when one of this shape is free."""
    global _held
    key = (tuple(int(n) for n in shape), np.dtype(dtype))
    arrays = _pool.setdefault(key, [])
    for array in arrays:
        if sys.getrefcount(array) == _FREE:
            return array
    array = np.empty(key[0], dtype)
    if len(arrays) < _PER_SHAPE:
        if len(_pool) > _SHAPES or _held + array.nbytes > _BYTES:
            _pool.clear()
            _held = 0
        _pool.setdefault(key, arrays).append(array)
        _held += array.nbytes
    return array
