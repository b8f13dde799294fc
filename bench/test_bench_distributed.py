"""Data-parallel training steps over MPI: what averaging the gradients costs, and how much of
it backward() hides. Run on two ranks, one core each:

    mpiexec -n 2 env NUMBA_NUM_THREADS=1 python -m pytest bench/test_bench_distributed.py \\
        --benchmark-only -p no:cacheprovider

Per workload, on every rank (all ranks time the same fixed rounds, since each step is a
collective; rank 0's table is the one to read):
  ddp      a DistributedDataParallel step on this rank's share of the global batch
  local    the same step inside no_sync(): the same work without the averaging
  whole    the step on the whole global batch in one process (one core), the single-process reference
`extra_info` holds the ranks and, on the ddp row, `exposed_comm`: (ddp - local) / ddp, the
share of a step spent on communication that backward() did not hide. Run without mpiexec,
the world is one rank and ddp equals local plus the hooks' bookkeeping.
"""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from models import LastStepLSTM, lenet
from tinygrad_nb import Tensor, distributed, nn, optim

distributed.init()
if distributed.world_size() > 1:
    distributed.pin_to_cores()

ROUNDS, WARMUP = 30, 3
WORKLOADS = {"LeNet step, global batch 64": 64, "LSTM step T=50 I=64 H=128, global batch 32": 32}
_medians = {}


def _step(group, batch, wrap):
    tg.manual_seed(0)
    rng = np.random.default_rng(distributed.rank())
    if group.startswith("LeNet"):
        model, x = lenet(nn), rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    else:
        model, x = LastStepLSTM(), rng.standard_normal((50, batch, 64)).astype(np.float32)
    x, y = Tensor(x), Tensor(rng.integers(0, 10, batch))
    model = wrap(model)
    opt = optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return model, step


@pytest.mark.parametrize("impl", ["local", "ddp", "whole"])
@pytest.mark.parametrize("group", WORKLOADS)
def test_data_parallel_step(benchmark, group, impl):
    benchmark.group = group
    world = distributed.world_size()
    batch = WORKLOADS[group] if impl == "whole" else WORKLOADS[group] // world
    model, step = _step(group, batch, distributed.DistributedDataParallel if impl != "whole" else lambda m: m)
    if impl == "local":
        def timed():
            with model.no_sync():
                step()
    else:
        timed = step
    benchmark.pedantic(timed, rounds=ROUNDS, warmup_rounds=WARMUP)
    _medians[group, impl] = benchmark.stats.stats.median
    benchmark.extra_info["ranks"] = world
    if impl == "ddp":
        benchmark.extra_info["exposed_comm"] = round(1 - _medians[group, "local"] / _medians[group, "ddp"], 3)
