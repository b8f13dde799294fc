"""Data-parallel training over MPI. The sampler and a world of one run in this process; the
rest runs on two ranks under mpiexec (tests/mpi_scenarios.py) and is compared with one
process here. Skipped, with the reason, where mpi4py or mpiexec is missing (the `[mpi]`
extra brings both)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mpi_scenarios as scenarios
import tinygrad_nb as tg
from tinygrad_nb import Tensor, data, distributed, nn

HERE = Path(__file__).parent
TIMEOUT = 120  # seconds for a two-rank run; a hung collective is a failure, not a stuck CI


def _mpiexec(*args):
    if shutil.which("mpiexec") is None:
        pytest.skip("no mpiexec on PATH (pip install 'tinygrad_nb[mpi]')")
    pytest.importorskip("mpi4py", reason="needs mpi4py (pip install 'tinygrad_nb[mpi]')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(["mpiexec", "-n", "2", *args], capture_output=True, text=True, timeout=TIMEOUT, env=env)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Each rank's results of mpi_scenarios' `train` run."""
    out = tmp_path_factory.mktemp("mpi")
    done = _mpiexec(sys.executable, str(HERE / "mpi_scenarios.py"), "train", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return [dict(np.load(out / f"rank{r}.npz")) for r in (0, 1)]


def test_every_rank_ends_with_the_same_values(two_ranks):
    first, second = two_ranks
    assert first.keys() == second.keys()
    for key in first:
        if key != "no_sync.local":  # the one value that is each rank's own
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_two_ranks_of_16_train_as_one_process_of_32(two_ranks, kind):
    model = scenarios.make_mlp()
    opt = scenarios.make_optimizer(kind, model)
    scenarios.steps(model, opt, data.DataLoader(scenarios.dataset(), scenarios.GLOBAL_BATCH))
    for name, p in model.named_parameters():
        np.testing.assert_allclose(two_ranks[0][f"{kind}.{name}"], p.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_cuda_parameters_train_as_on_the_cpu(two_ranks):
    if "cuda.0.weight" not in two_ranks[0]:
        pytest.skip("no CUDA GPU and the simulator is off")
    model = scenarios.make_mlp()
    opt = scenarios.make_optimizer("sgd", model)
    scenarios.steps(model, opt, data.DataLoader(scenarios.dataset(), scenarios.GLOBAL_BATCH), count=2)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(two_ranks[0][f"cuda.{name}"], p.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_cuda_aware_mpi_reduces_device_buckets_in_place(two_ranks):
    if "cuda_aware.0.weight" not in two_ranks[0]:
        pytest.skip("no CUDA GPU and the simulator is off")
    assert two_ranks[0]["cuda_aware.device_buckets"].all() and len(two_ranks[0]["cuda_aware.device_buckets"]) > 1
    assert not two_ranks[0]["cuda.device_buckets"].any()  # MPICH's wheel is not CUDA-aware: host buffers
    for name, _ in scenarios.make_mlp().named_parameters():
        np.testing.assert_allclose(two_ranks[0][f"cuda_aware.{name}"], two_ranks[0][f"cuda.{name}"], rtol=1e-6,
                                   err_msg=name)


def test_gradients_of_parameters_used_on_some_ranks_or_none(two_ranks):
    results = two_ranks[0]
    assert results["unused.grad_is_none"]  # no rank used it: .grad stays None, as in PyTorch
    np.testing.assert_allclose(results["used_by_one.grad"], np.full((2, 2), 0.5))  # (1 + 0) / 2 ranks


def test_no_sync_accumulates_locally_then_averages_the_sums(two_ranks):
    locals_ = [r["no_sync.local"] for r in two_ranks]
    np.testing.assert_allclose(two_ranks[0]["no_sync.synced"], (2 * locals_[0] + 2 * locals_[1]) / 2)


def test_optimizer_state_comes_from_rank_0(two_ranks):
    assert two_ranks[1]["opt.lr"] == 0.005
    assert np.abs(two_ranks[1]["opt.exp_avg"]).sum() > 0


def test_a_failing_rank_ends_the_job():
    done = _mpiexec(sys.executable, str(HERE / "mpi_scenarios.py"), "fail")
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr


def test_ranks_that_build_different_models_are_told_which_parameter_differs():
    done = _mpiexec(sys.executable, str(HERE / "mpi_scenarios.py"), "mismatch")
    assert done.returncode != 0
    assert "has parameter 'weight' of shape" in done.stderr and "every rank must build the same model" in done.stderr


def test_the_digits_train_over_two_processes():
    done = _mpiexec(sys.executable, "-m", "tinygrad_nb", "train", "--distributed", "--epochs", "3", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1  # rank 0 speaks for both
    assert "(16 on each of 2 processes)" in done.stdout
    accuracy = float(done.stdout.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 90


# ---- in this process ----------------------------------------------------------------------
def test_without_mpiexec_the_world_is_this_process():
    tg.manual_seed(0)
    model = distributed.DistributedDataParallel(nn.Linear(3, 2))
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    x = Tensor(np.ones((4, 3), np.float32))
    model(x).sum().backward()
    np.testing.assert_allclose(model.module.weight.grad.numpy(), np.full((2, 3), 4.0))
    assert list(model.state_dict()) == ["module.weight", "module.bias"]


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 4, False)])
def test_sampler_shards_are_disjoint_and_cover_the_data(n, replicas, drop_last):
    dataset = np.arange(n)
    shards = [list(distributed.DistributedSampler(dataset, replicas, r, seed=3, drop_last=drop_last))
              for r in range(replicas)]
    assert len({len(s) for s in shards}) == 1 and all(len(s) == len(distributed.DistributedSampler(
        dataset, replicas, 0, drop_last=drop_last)) for s in shards)
    together = [i for s in shards for i in s]
    if drop_last:
        assert len(set(together)) == len(together) == (n // replicas) * replicas
    else:
        assert set(together) == set(range(n))
        assert len(together) - len(set(together)) == len(together) - n  # only the padding repeats


def test_sampler_epochs_shuffle_alike_on_every_rank():
    samplers = [distributed.DistributedSampler(np.arange(20), 2, r, seed=5) for r in (0, 1)]
    first = [list(s) for s in samplers]
    for s in samplers:
        s.set_epoch(1)
    second = [list(s) for s in samplers]
    assert first != second
    order = np.random.default_rng(6).permutation(20)
    assert second[0] == order[0::2].tolist() and second[1] == order[1::2].tolist()


def test_sampler_and_loader_misuse():
    with pytest.raises(ValueError, match="rank 2 is not in"):
        distributed.DistributedSampler(np.arange(4), num_replicas=2, rank=2)
    sampler = distributed.DistributedSampler(np.arange(4), 2, 0, shuffle=False)
    with pytest.raises(ValueError, match="sampler and shuffle=True exclude each other"):
        data.DataLoader(np.arange(4), 2, shuffle=True, sampler=sampler)
    batches = [b.numpy().tolist() for (b,) in data.DataLoader(np.arange(4), 2, sampler=sampler)]
    assert batches == [[0, 2]]
