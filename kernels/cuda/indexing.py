"""NumPy indexing of a CudaArray: what an index selects, worked out on the host.

A basic index (ints, slices, None, one Ellipsis) selects a view: a new shape, strides and
offset over the same buffer (`view`), no copy and no launch. An advanced index (integer or
bool arrays, lists) selects whole sub-arrays: x[idx] with x of shape (lead..., inner...)
picks J positions over the leading axes, each the start of an `inner`-shaped sub-array.
`positions` turns the index into those J buffer offsets (NumPy works them out on the index
alone, never on the data), and movement.py's kernels move the J sub-arrays (`gather`,
`scatter`). CudaArray's __getitem__, __setitem__ and scatter_add call these.
"""
import math
import operator

import numpy as np

from . import memory, movement
from .device_array import DeviceArray


def is_advanced(index):
    """Whether the index tuple holds an integer or bool array (or a list, or a bool)."""
    return any(_is_index_array(it) for it in index)


def _is_index_array(it):
    return isinstance(it, (list, DeviceArray, bool, np.bool_)) or (
        isinstance(it, np.ndarray) and (it.ndim > 0 or it.dtype == np.bool_)
    )


def _axes_used(it):
    """How many axes of the indexed array one index entry consumes."""
    if it is None or it is Ellipsis:
        return 0
    if isinstance(it, (bool, np.bool_)):
        return 0
    if isinstance(it, (np.ndarray, DeviceArray)) and it.dtype == np.bool_:
        return it.ndim
    return 1


def _expand_ellipsis(index, ndim):
    """Replace '...' by the whole slices it stands for."""
    index = tuple(it.get() if isinstance(it, DeviceArray) else it for it in index)
    count = sum(it is Ellipsis for it in index)
    if count > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if not count:
        return index
    at = next(i for i, it in enumerate(index) if it is Ellipsis)
    rest = sum(_axes_used(it) for it in index if it is not Ellipsis)
    return index[:at] + (slice(None),) * max(ndim - rest, 0) + index[at + 1 :]


def view(a, index):
    """The view of `a` a basic index tuple (ints, slices, None, at most one Ellipsis) selects."""
    index = _expand_ellipsis(index, a.ndim)
    used = sum(it is not None for it in index)
    if used > a.ndim:
        raise IndexError(f"too many indices for an array of shape {a.shape}")
    shape, strides, start, axis = [], [], a.offset, 0
    for it in index:
        if it is None:
            shape.append(1)
            strides.append(0)
            continue
        n, s = a.shape[axis], a.strides[axis]
        if isinstance(it, slice):
            first, stop, step = it.indices(n)
            count = len(range(first, stop, step))
            start += first * s if count else 0
            shape.append(count)
            strides.append(s * step)
        else:
            i = operator.index(it)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            start += (i % n) * s
        axis += 1
    return a._view(shape + list(a.shape[axis:]), strides + list(a.strides[axis:]), start)


def positions(a, index):
    """For an advanced index tuple: the buffer offsets of the selected sub-arrays (relative
    to a.offset, in a device memory.Block), how many leading axes the index covers, and the
    selection's shape over them.

    NumPy applies the index to a stand-in of the leading axes whose entries are their own
    offsets (a broadcast view per axis, so it costs the size of the result, not of `a`)."""
    index = _expand_ellipsis(index, a.ndim)
    while index and isinstance(index[-1], slice) and index[-1] == slice(None):
        index = index[:-1]  # trailing whole axes are moved as parts of each sub-array
    lead = sum(_axes_used(it) for it in index)
    if lead > a.ndim:
        raise IndexError(f"too many indices for an array of shape {a.shape}")
    lead_shape = a.shape[:lead]
    total = np.broadcast_to(np.zeros((), np.int64), lead_shape)[index]
    for axis in range(lead):
        steps = np.arange(lead_shape[axis], dtype=np.int64) * a.strides[axis]
        steps = steps.reshape([-1 if d == axis else 1 for d in range(lead)])
        total = total + np.broadcast_to(steps, lead_shape)[index]
    out_lead = total.shape
    return memory.upload(np.ascontiguousarray(total, np.int64), "indexing with host indices"), lead, out_lead


def gather(a, index):
    """a[index] for an advanced index tuple: a new contiguous array."""
    offsets, lead, out_lead = positions(a, index)
    out = type(a).empty(out_lead + a.shape[lead:], a.dtype)
    movement.gather(out, a, offsets.array, lead)
    return out


def scatter(a, index, value, accumulate=False):
    """a[index] = value (a CudaArray) for an advanced index tuple, in place; with
    `accumulate`, a[index] += value with repeated positions adding up (np.add.at)."""
    offsets, lead, out_lead = positions(a, index)
    inner = a.shape[lead:]
    per_position = value.broadcast_to(tuple(out_lead) + inner).reshape((math.prod(out_lead),) + inner)
    movement.scatter(a, offsets.array, lead, per_position, accumulate=accumulate)
