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

    world.py          init, rank, world_size, is_main, pin_to_cores, cuda_aware: the MPI world
    collectives.py    all_sum, broadcast_parameters, broadcast_optimizer_state
    data_parallel.py  DistributedDataParallel, and how its gradients travel
    sampler.py        DistributedSampler
"""
from .collectives import all_sum, broadcast_optimizer_state, broadcast_parameters
from .data_parallel import DistributedDataParallel
from .sampler import DistributedSampler
from .world import cuda_aware, init, is_main, local_rank_and_size, pin_to_cores, rank, world_size

__all__ = ["init", "world_size", "rank", "is_main", "local_rank_and_size", "pin_to_cores", "cuda_aware", "all_sum",
           "broadcast_parameters", "broadcast_optimizer_state", "DistributedDataParallel", "DistributedSampler"]
