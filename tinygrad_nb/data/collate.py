"""Collation: a list of samples -> one batch (PyTorch's default_collate). Worker processes
collate into NumPy arrays, which travel between processes; the loader's process makes the
Tensors."""
import numpy as np

from ..tensor import Tensor


def default_collate(samples):
    """Samples -> a batch, as PyTorch's default: tuples and lists field by field, dicts key by
    key, arrays and numbers stacked into one Tensor."""
    return _tensors(_collate_arrays(samples))


def _collate_arrays(samples):
    """default_collate's batch with NumPy arrays where it has Tensors: what a worker process
    sends (the main process makes the Tensors)."""
    first = samples[0]
    if isinstance(first, dict):
        return {key: _collate_arrays([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        fields = [_collate_arrays(list(column)) for column in zip(*samples)]
        return tuple(fields) if isinstance(first, tuple) else fields
    return np.ascontiguousarray(np.stack([s.numpy() if isinstance(s, Tensor) else np.asarray(s) for s in samples]))


def _tensors(batch):
    """The arrays of a collated batch (in dicts, tuples, lists) as Tensors."""
    if isinstance(batch, dict):
        return {key: _tensors(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_tensors(value) for value in batch)
    return Tensor(batch)
