"""Collectives over the ranks: a sum of numbers, and rank 0's parameters and optimiser state
sent to every rank (as arrays and JSON, so that nothing received is ever unpickled). In a
world of one they return at once."""
import json

import numpy as np

from ..serialization import flatten, unflatten
from .world import communicator, rank


def all_sum(values):
    """The element-wise sum over all ranks of a list of numbers (float64), on every rank."""
    array = np.asarray(values, np.float64)
    comm = communicator()
    if comm is not None:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
    return array


def _broadcast_arrays(arrays, root):
    """Rank `root`'s arrays on every rank; the others' arrays give only their number."""
    comm = communicator()
    if comm is None:
        return arrays
    meta = _broadcast_json([[a.dtype.str, list(a.shape)] for a in arrays] if rank() == root else None, root)
    out = []
    for i, (dtype, shape) in enumerate(meta):
        buf = np.array(arrays[i], order="C") if rank() == root else np.empty(tuple(shape), np.dtype(dtype))
        comm.Bcast(buf, root=root)
        out.append(buf)
    return out


def _broadcast_json(obj, root):
    """A JSON-able object from rank `root`, sent as bytes: nothing received is ever unpickled."""
    raw = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8) if rank() == root else None
    size = np.array([0 if raw is None else raw.size], np.int64)
    communicator().Bcast(size, root=root)
    if raw is None:
        raw = np.empty(int(size[0]), np.uint8)
    communicator().Bcast(raw, root=root)
    return json.loads(raw.tobytes().decode("utf-8"))


def broadcast_parameters(model, root=0):
    """Copy rank `root`'s parameters and buffers into the model on every rank."""
    if communicator() is None:
        return
    state = model.state_dict()
    names = list(state)
    arrays = _broadcast_arrays([state[n].numpy() for n in names], root)
    model.load_state_dict(dict(zip(names, arrays)))


def broadcast_optimizer_state(optimizer, root=0):
    """Copy rank `root`'s optimiser state (moments, step counts, hyper-parameters such as a
    scheduled learning rate) into the optimiser on every rank."""
    if communicator() is None:
        return
    message, arrays = None, {}
    if rank() == root:
        tree, arrays = flatten(optimizer.state_dict())
        message = {"tree": tree, "names": list(arrays)}
    message = _broadcast_json(message, root)
    names = message["names"]
    values = _broadcast_arrays([arrays.get(n) for n in names], root)
    optimizer.load_state_dict(unflatten(message["tree"], dict(zip(names, values))))
