"""Programs that tests/test_distributed.py runs on two ranks under mpiexec:

    mpiexec -n 2 python tests/mpi_scenarios.py SCENARIO OUT_DIR

`train` runs the checks that must agree across ranks and writes each rank's results to
OUT_DIR/rank<r>.npz; `fail` and `mismatch` end in an error on one or both ranks. The
single-process side of each comparison (`steps`, `make_*`) is shared with the test."""
import os
import sys

import numpy as np

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, data, nn, optim

SAMPLES, GLOBAL_BATCH, STEPS = 160, 32, 5


def dataset():
    rng = np.random.default_rng(0)
    return data.TensorDataset(rng.standard_normal((SAMPLES, 6)).astype(np.float32), rng.integers(0, 3, SAMPLES))


def make_mlp():
    tg.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def make_optimizer(kind, model):
    return optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if kind == "sgd" else optim.Adam(model.parameters(), lr=0.01)


def steps(model, opt, loader, count=STEPS):
    """`count` optimiser steps of cross-entropy over the loader's first batches."""
    for _, (x, y) in zip(range(count), loader):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _train(out):
    from tinygrad_nb import distributed as dist

    dist.init()
    results = {}
    world = dist.world_size()
    for kind in ("sgd", "adam"):
        model = dist.DistributedDataParallel(make_mlp(), bucket_cap_mb=0.0005)  # 2 KB: several buckets
        opt = make_optimizer(kind, model)
        sampler = dist.DistributedSampler(dataset(), shuffle=False)
        steps(model, opt, data.DataLoader(dataset(), GLOBAL_BATCH // world, sampler=sampler))
        for name, p in model.module.named_parameters():
            results[f"{kind}.{name}"] = p.numpy()

    # On 'cuda' (the simulator without a GPU) the gradients travel through host buffers.
    if tg.cuda.is_available():
        model = dist.DistributedDataParallel(make_mlp().to("cuda"))
        opt = make_optimizer("sgd", model)
        loader = data.DataLoader(dataset(), GLOBAL_BATCH // world, sampler=dist.DistributedSampler(dataset(), shuffle=False))
        steps(model, opt, ((x.to("cuda"), y.to("cuda")) for x, y in loader), count=2)
        for name, p in model.module.named_parameters():
            results[f"cuda.{name}"] = p.numpy()

        # A CUDA-aware MPI (forced here): the buckets live on the device and MPI reduces them in
        # place. The simulator's device arrays are host arrays, which MPI reads through NumPy.
        results["cuda.device_buckets"] = np.array([type(b).__name__ == "_DeviceBucket" for b in model._buckets])
        ddp = dist.data_parallel  # the module whose names DistributedDataParallel looks up
        real_query, real_view = ddp.cuda_aware, ddp._mpi_view
        ddp.cuda_aware, ddp._mpi_view = (lambda: True), (lambda a: real_view(a)._ary)
        model = dist.DistributedDataParallel(make_mlp().to("cuda"), bucket_cap_mb=0.0005)
        ddp.cuda_aware = real_query
        results["cuda_aware.device_buckets"] = np.array([type(b).__name__ == "_DeviceBucket" for b in model._buckets])
        opt = make_optimizer("sgd", model)
        loader = data.DataLoader(dataset(), GLOBAL_BATCH // world, sampler=dist.DistributedSampler(dataset(), shuffle=False))
        steps(model, opt, ((x.to("cuda"), y.to("cuda")) for x, y in loader), count=2)
        for name, p in model.module.named_parameters():
            results[f"cuda_aware.{name}"] = p.numpy()

    # BatchNorm's running statistics: every rank holds rank 0's after each forward.
    tg.manual_seed(2)
    bn = dist.DistributedDataParallel(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)))
    opt = optim.SGD(bn.parameters(), lr=0.1)
    rng = np.random.default_rng(10 + dist.rank())  # different data on each rank
    for _ in range(3):
        opt.zero_grad()
        bn(Tensor(rng.standard_normal((8, 6)).astype(np.float32))).sum().backward()
        opt.step()
    bn(Tensor(np.zeros((2, 6), np.float32)))  # a last forward copies rank 0's statistics
    for name, b in bn.module.named_buffers():
        results[f"bn.{name}"] = np.asarray(b.numpy(), np.float64)

    # A parameter no rank uses keeps grad None; one used by rank 0 only gets the average.
    model = dist.DistributedDataParallel(nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)]))
    x = Tensor(np.ones((1, 2), np.float32))
    out_ = model.module[0](x).sum() + (model.module[1](x).sum() if dist.rank() == 0 else 0)
    out_.backward()
    results["unused.grad_is_none"] = np.array(model.module[2].weight.grad is None)
    results["used_by_one.grad"] = model.module[1].weight.grad.numpy()

    # no_sync: two local backward passes, then one synced: the average of the sums.
    model = dist.DistributedDataParallel(nn.Linear(2, 1))
    scale = float(dist.rank() + 1)
    with model.no_sync():
        (model(x) * scale).sum().backward()
    results["no_sync.local"] = model.module.weight.grad.numpy().copy()
    (model(x) * scale).sum().backward()
    results["no_sync.synced"] = model.module.weight.grad.numpy()

    # Optimiser state from rank 0 (here: only rank 0 has stepped).
    model = make_mlp()
    opt = optim.Adam(model.parameters(), lr=0.01)
    if dist.rank() == 0:
        F.cross_entropy(model(Tensor(np.ones((2, 6), np.float32))), Tensor(np.array([0, 1]))).backward()
        opt.step()
        opt.param_groups[0]["lr"] = 0.005
    dist.broadcast_optimizer_state(opt)
    state = opt.state_dict()
    results["opt.lr"] = np.array(opt.param_groups[0]["lr"])
    results["opt.exp_avg"] = state["state"][0]["exp_avg"].numpy()
    np.savez(os.path.join(out, f"rank{dist.rank()}.npz"), **results)


def _fail():
    """Rank 1 raises while rank 0 waits in a collective: the job must end, not hang."""
    from tinygrad_nb import distributed as dist

    dist.init()
    if dist.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.all_sum([1.0])


def _mismatch():
    from tinygrad_nb import distributed as dist

    dist.init()
    dist.DistributedDataParallel(nn.Linear(3, 2 + dist.rank()))


if __name__ == "__main__":
    scenario = sys.argv[1]
    if scenario == "train":
        _train(sys.argv[2])
    elif scenario == "fail":
        _fail()
    else:
        _mismatch()
