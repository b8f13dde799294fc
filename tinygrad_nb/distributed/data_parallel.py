"""DistributedDataParallel: a model whose gradients are averaged across the ranks during
backward().

How gradients travel: DistributedDataParallel packs the parameters, last layer first (the
order in which backward() finishes them), into buckets of about `bucket_cap_mb`. When
backward() has added the last contribution into every gradient of a bucket (a
post-accumulate-grad hook per parameter), the bucket is copied into one contiguous host
buffer and a non-blocking `Iallreduce` sums it across ranks, while backward() goes on with
the earlier layers. Buckets start in the same order on every rank (MPI matches collectives
by order). When the sweep ends, a callback waits for the sums, divides by the number of
ranks and writes the averages back into `.grad`. Each bucket also carries one slot per
parameter counting the ranks that had a gradient for it, so a parameter no rank used keeps
`.grad = None`, as in PyTorch. 'cuda' gradients are staged through these host buffers,
unless the MPI library says it reads GPU memory itself (MPIX_Query_cuda_support, which MPICH
and Open MPI export: a CUDA-aware build): then each bucket is a GPU buffer that MPI reduces
in place, and gradients never leave the device.
"""
import contextlib
import json

import numpy as np

from ..function import queue_callback
from ..nn.module import Module
from ..tensor import Tensor
from .collectives import _broadcast_arrays, all_sum, broadcast_parameters
from .world import communicator, cuda_aware, init, is_main, rank, world_size


def _mpi_view(array):
    """What MPI reads a GPU array through: its device buffer (which exposes
    __cuda_array_interface__, understood by mpi4py)."""
    return array.buf[array.offset:array.offset + array.size]


class _Bucket:
    """Parameters whose gradients travel together in one host buffer: their values, then
    one slot each counting the ranks that had a gradient."""

    def __init__(self, params):
        self.params = params
        self.sizes = [p.numel() for p in params]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.buffer = np.zeros(self.starts[-1] + len(params), params[0].dtype)
        self.ready, self.request = set(), None

    def message(self):
        return self.buffer

    def fill(self, param, i):
        start, size = self.starts[i], self.sizes[i]
        had = param.grad is not None
        self.buffer[start:start + size] = param.grad.numpy().reshape(-1) if had else 0
        self.buffer[self.starts[-1] + i] = 1 if had else 0
        self.ready.add(i)

    def write_back(self, world):
        values = self.buffer[:self.starts[-1]]
        values /= world
        for i, p in enumerate(self.params):
            if self.buffer[self.starts[-1] + i] > 0:
                # Tensor() copies: the gradient must not share the buffer the next step refills
                p.grad = Tensor(values[self.starts[i]:self.starts[i] + self.sizes[i]].reshape(p.shape), device=p.device)


class _DeviceBucket(_Bucket):
    """A bucket in GPU memory, for a CUDA-aware MPI: gradients are copied into it on the
    device, MPI sums it in place there, and the averages are written back without a host copy."""

    def __init__(self, params):
        super().__init__(params)
        self.buffer = Tensor.zeros(self.buffer.shape, dtype=self.buffer.dtype, device="cuda").array

    def message(self):
        from mpi4py import MPI

        return [_mpi_view(self.buffer), MPI.Datatype.fromcode(self.buffer.dtype.char)]

    def fill(self, param, i):
        start, size, had = self.starts[i], self.sizes[i], param.grad is not None
        if had:
            self.buffer[start:start + size] = param.grad.array.reshape(-1)
        else:
            self.buffer[start:start + size].set_from_host(0)
        self.buffer[self.starts[-1] + i:self.starts[-1] + i + 1].set_from_host(1 if had else 0)
        self.ready.add(i)

    def write_back(self, world):
        counts = Tensor._from_array(self.buffer[self.starts[-1]:], "cuda").numpy()
        values = self.buffer[:self.starts[-1]] / world  # a new array: the next step's fill cannot reach it
        for i, p in enumerate(self.params):
            if counts[i] > 0:
                p.grad = Tensor._from_array(values[self.starts[i]:self.starts[i] + self.sizes[i]].reshape(p.shape), "cuda")


class DistributedDataParallel(Module):
    """The model, trained in step with the same model on every other rank: calling it runs
    the model; backward() then leaves in every parameter's .grad the average of all ranks'
    gradients (see the module docstring for how they travel). Construction broadcasts rank
    0's parameters and buffers; with `broadcast_buffers`, every forward also copies rank 0's
    buffers (BatchNorm's running statistics), as PyTorch does.

    `bucket_cap_mb` (PyTorch's argument, 25 there; 4 here, so that even small models
    overlap some of their communication with backward) bounds a bucket's size. Inside
    `with ddp.no_sync():` gradients accumulate locally; the next backward outside it
    averages what accumulated. Every rank must build the same model: parameters that
    differ in name, shape or dtype between ranks are an error naming the first one."""

    def __init__(self, module, bucket_cap_mb=4, broadcast_buffers=True):
        init()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self._sync = True
        params = [p for p in module.parameters() if p.requires_grad]
        self._check_same_everywhere(module)
        broadcast_parameters(module)
        self._buckets, self._where = [], {}
        current, size, cap = [], 0, bucket_cap_mb * 2 ** 20
        for p in reversed(params):
            if current and (size + p.numel() * p.dtype.itemsize > cap or p.dtype != current[0].dtype):
                self._add_bucket(current)
                current, size = [], 0
            current.append(p)
            size += p.numel() * p.dtype.itemsize
        if current:
            self._add_bucket(current)
        self._next, self._waiting = 0, False
        self._handles = [p.register_post_accumulate_grad_hook(self._ready) for p in params] if communicator() else []

    def _add_bucket(self, params):
        for i, p in enumerate(params):
            self._where[id(p)] = (len(self._buckets), i)
        device = params[0].device == "cuda" and communicator() is not None and cuda_aware()
        self._buckets.append((_DeviceBucket if device else _Bucket)(params))

    def _check_same_everywhere(self, module):
        comm = communicator()
        if comm is None:
            return
        mine = [[name, list(p.shape), p.dtype.str] for name, p in module.named_parameters()]
        everyone = comm.allgather(json.dumps(mine))
        for r, theirs in enumerate(everyone):
            theirs = json.loads(theirs)
            for own, other in zip(mine, theirs):
                if own != other:
                    raise ValueError(f"DistributedDataParallel: rank {rank()} has parameter '{own[0]}' of shape "
                                     f"{tuple(own[1])} ({own[2]}) where rank {r} has '{other[0]}' of shape "
                                     f"{tuple(other[1])} ({other[2]}); every rank must build the same model")
            if len(theirs) != len(mine):
                raise ValueError(f"DistributedDataParallel: rank {rank()} has {len(mine)} parameters, rank {r} has "
                                 f"{len(theirs)}; every rank must build the same model")

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and communicator() is not None:
            buffers = list(self.module.named_buffers())
            if buffers:
                arrays = _broadcast_arrays([b.numpy() for _, b in buffers], 0)
                for (_, b), a in zip(buffers, arrays):
                    b.array = Tensor(a, device=b.device).array
        return self.module(*args, **kwargs)

    # What fit() asks of a model that trains across ranks (see training._world).
    @property
    def world_size(self):
        return world_size()

    @property
    def is_main(self):
        return is_main()

    def all_sum(self, values):
        return all_sum(values)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients on this rank only."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def _ready(self, param):
        """A parameter's gradient is complete: start every bucket, in order, that is now full."""
        if not self._sync:
            return
        if not self._waiting:
            self._waiting = True
            queue_callback(self._finish)
        b, i = self._where[id(param)]
        self._buckets[b].fill(param, i)
        self._start_full_buckets()
        self._progress()

    def _progress(self):
        """Let MPI move the buckets in flight along: without a progress thread, an MPI library
        advances non-blocking collectives only inside MPI calls, such as this test."""
        from mpi4py import MPI

        started = [bucket.request for bucket in self._buckets[:self._next]]
        if started:
            MPI.Request.Testall(started)

    def _start_full_buckets(self):
        from mpi4py import MPI

        while self._next < len(self._buckets) and len(self._buckets[self._next].ready) == len(self._buckets[self._next].params):
            bucket = self._buckets[self._next]
            bucket.request = communicator().Iallreduce(MPI.IN_PLACE, bucket.message(), op=MPI.SUM)
            self._next += 1

    def _finish(self):
        """The sweep is over: parameters that got no gradient go in as zeros, the remaining
        buckets start, and all the averages are written back."""
        from mpi4py import MPI

        for bucket in self._buckets:
            for i, p in enumerate(bucket.params):
                if i not in bucket.ready:
                    bucket.fill(p, i)
        self._start_full_buckets()
        MPI.Request.Waitall([bucket.request for bucket in self._buckets])
        for bucket in self._buckets:
            bucket.write_back(world_size())
            bucket.ready, bucket.request = set(), None
        self._next, self._waiting = 0, False
