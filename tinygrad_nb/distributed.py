"""Data-parallel training over MPI: every process (a *rank*) holds the whole model, trains on
its own shard of the data, and the ranks average their gradients before each optimiser step,
so all of them take the same steps (Horovod's scheme, with PyTorch's names):

    mpiexec -n 2 python train.py

    from tinygrad_nb import distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(model)        # rank 0's parameters go to every rank
    sampler = dist.DistributedSampler(train_set, seed=0)
    loader = DataLoader(train_set, batch_size=16, sampler=sampler)   # 16 per rank
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                        # a new shuffle, the same on every rank
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()             # gradients averaged across ranks
            opt.step()

MPI itself comes from mpi4py (the `[mpi]` extra brings it and MPICH's `mpiexec`); on a
cluster the same code runs on the cluster's MPI. Without mpiexec, or without mpi4py, the
world is one rank and everything here is a no-op, so a script runs unchanged on one machine.

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
import ctypes
import json
import math
import os
import sys
import time

import numpy as np

from .function import queue_callback
from .nn.module import Module
from .serialization import flatten, unflatten
from .tensor import Tensor

_world = None  # the MPI communicator once init() ran with more than one rank, else None


def init(abort_on_error=True):
    """Join the MPI world of the ranks started by mpiexec (once; later calls do nothing).

    With more than one rank and `abort_on_error`, an uncaught exception on any rank prints its
    traceback and aborts the whole job (MPI_Abort), instead of leaving the other ranks waiting
    forever in their next collective. Without mpi4py, the world is this one process."""
    global _world
    if _world is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError:
        return
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return
    _world = comm
    if abort_on_error:
        previous = sys.excepthook

        def abort(kind, value, trace):
            previous(kind, value, trace)
            sys.stderr.flush()
            time.sleep(0.5)  # MPI_Abort ends every rank at once: give mpiexec a moment to pass the traceback on
            comm.Abort(1)

        sys.excepthook = abort


def world_size():
    return 1 if _world is None else _world.Get_size()


def rank():
    return 0 if _world is None else _world.Get_rank()


def is_main():
    """True on rank 0: the rank that prints, shows progress and writes checkpoints."""
    return rank() == 0


def local_rank_and_size():
    """(this rank's number among the ranks on this machine, how many there are)."""
    if _world is None:
        return 0, 1
    from mpi4py import MPI

    local = _world.Split_type(MPI.COMM_TYPE_SHARED)
    return local.Get_rank(), local.Get_size()


def pin_to_cores():
    """Give each rank on this machine its own share of the cores (processor affinity), and
    run the CPU kernels on that many of Numba's threads, so that ranks sharing a machine do
    not fight over cores; returns the cores this rank got."""
    import numba

    cores = sorted(os.sched_getaffinity(0))
    local, size = local_rank_and_size()
    share = cores[local * len(cores) // size:(local + 1) * len(cores) // size] or [cores[local % len(cores)]]
    os.sched_setaffinity(0, share)
    numba.set_num_threads(min(len(share), numba.config.NUMBA_NUM_THREADS))
    return share


def all_sum(values):
    """The element-wise sum over all ranks of a list of numbers (float64), on every rank."""
    array = np.asarray(values, np.float64)
    if _world is not None:
        from mpi4py import MPI

        _world.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
    return array


def _broadcast_arrays(arrays, root):
    """Rank `root`'s arrays on every rank; the others' arrays give only their number."""
    if _world is None:
        return arrays
    meta = _broadcast_json([[a.dtype.str, list(a.shape)] for a in arrays] if rank() == root else None, root)
    out = []
    for i, (dtype, shape) in enumerate(meta):
        buf = np.array(arrays[i], order="C") if rank() == root else np.empty(tuple(shape), np.dtype(dtype))
        _world.Bcast(buf, root=root)
        out.append(buf)
    return out


def _broadcast_json(obj, root):
    """A JSON-able object from rank `root`, sent as bytes: nothing received is ever unpickled."""
    raw = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8) if rank() == root else None
    size = np.array([0 if raw is None else raw.size], np.int64)
    _world.Bcast(size, root=root)
    if raw is None:
        raw = np.empty(int(size[0]), np.uint8)
    _world.Bcast(raw, root=root)
    return json.loads(raw.tobytes().decode("utf-8"))


def broadcast_parameters(model, root=0):
    """Copy rank `root`'s parameters and buffers into the model on every rank."""
    if _world is None:
        return
    state = model.state_dict()
    names = list(state)
    arrays = _broadcast_arrays([state[n].numpy() for n in names], root)
    model.load_state_dict(dict(zip(names, arrays)))


def broadcast_optimizer_state(optimizer, root=0):
    """Copy rank `root`'s optimiser state (moments, step counts, hyper-parameters such as a
    scheduled learning rate) into the optimiser on every rank."""
    if _world is None:
        return
    message, arrays = None, {}
    if rank() == root:
        tree, arrays = flatten(optimizer.state_dict())
        message = {"tree": tree, "names": list(arrays)}
    message = _broadcast_json(message, root)
    names = message["names"]
    values = _broadcast_arrays([arrays.get(n) for n in names], root)
    optimizer.load_state_dict(unflatten(message["tree"], dict(zip(names, values))))


def cuda_aware():
    """Whether the MPI library reads and writes GPU memory itself: its MPIX_Query_cuda_support
    (looked up in the libmpi that mpi4py loaded; False where there is none)."""
    try:
        with open("/proc/self/maps") as maps:
            libraries = sorted({line.split()[-1] for line in maps if "/libmpi" in line})
    except OSError:
        return False
    for path in libraries:
        try:
            query = ctypes.CDLL(path).MPIX_Query_cuda_support
        except (OSError, AttributeError):
            continue
        query.restype = ctypes.c_int
        return bool(query())
    return False


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
        self._handles = [p.register_post_accumulate_grad_hook(self._ready) for p in params] if _world else []

    def _add_bucket(self, params):
        for i, p in enumerate(params):
            self._where[id(p)] = (len(self._buckets), i)
        device = params[0].device == "cuda" and _world is not None and cuda_aware()
        self._buckets.append((_DeviceBucket if device else _Bucket)(params))

    def _check_same_everywhere(self, module):
        if _world is None:
            return
        mine = [[name, list(p.shape), p.dtype.str] for name, p in module.named_parameters()]
        everyone = _world.allgather(json.dumps(mine))
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
        if self.broadcast_buffers and _world is not None:
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
            bucket.request = _world.Iallreduce(MPI.IN_PLACE, bucket.message(), op=MPI.SUM)
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


class DistributedSampler:
    """The indices of this rank's shard of a dataset, for DataLoader(sampler=...), as
    PyTorch's: each pass shuffles all indices with a generator seeded with seed + epoch (the
    same order on every rank; call set_epoch at the start of each epoch for a new one), pads
    them by repeating the first ones to a multiple of the number of ranks (or, with
    drop_last, drops the tail), and gives rank r every num_replicas-th index from r. The
    shards are disjoint (before padding) and together cover the dataset."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.num_replicas = world_size() if num_replicas is None else int(num_replicas)
        self.rank = (0 if _world is None else _world.Get_rank()) if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is not in [0, {self.num_replicas})")
        self.dataset, self.shuffle, self.seed, self.drop_last, self.epoch = dataset, shuffle, seed, drop_last, 0
        n = len(dataset)
        self.num_samples = n // self.num_replicas if drop_last else math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        n = len(self.dataset)
        order = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        order = np.resize(order, self.total_size)  # repeats from the start when it must grow
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())
