"""DataLoader with worker processes: the same batches in the same order as in-process, worker
info and seeds, sharded IterableDatasets, errors carried back with the worker's id, and no
process left behind."""
import multiprocessing
import os
import time

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, data


@pytest.fixture(autouse=True)
def no_process_left_behind():
    yield
    assert multiprocessing.active_children() == []


class Squares(data.Dataset):
    """Dict samples, as PyTorch scripts often write them."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return {"x": np.array([i, i * i], np.float32), "y": i % 3}


class WhoAmI(data.Dataset):
    """Each sample says which worker made it, with that worker's seed and first NumPy draw."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = data.get_worker_info()
        return i, info.id, info.num_workers, info.seed, info.dataset is self, os.getpid(), np.random.randint(2**31)


class Shards(data.IterableDataset):
    """Each worker yields its share of 0..n-1, as PyTorch's documentation shards a stream."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = data.get_worker_info()
        first, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter((np.float32(i),) for i in range(first, self.n, step))


class Counting(data.IterableDataset):
    def __iter__(self):
        return iter((np.float32(i),) for i in range(3))


class Broken(data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise KeyError(f"sample {i} is missing")
        return np.float32(i)


class Slow(data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        time.sleep(0.3)
        return np.float32(i)


class Dies(data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        os._exit(3)


# Module-level functions (not lambdas), so that the tests also pass where workers are spawned.
def as_list(samples):
    return samples


def seed_numpy(worker_id):
    np.random.seed(100 + worker_id)


def divide_by_zero(worker_id):
    return 1 / 0


def tensor_and_list(samples):
    return tg.tensor(np.stack([s["x"] for s in samples])), [s["y"] for s in samples]


def _plain(batch):
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return [_plain(v) for v in batch]
    assert isinstance(batch, Tensor)
    return batch.numpy().tolist(), str(batch.dtype)


@pytest.mark.parametrize("dataset", [
    lambda: data.TensorDataset(np.arange(22, dtype=np.float32).reshape(11, 2), np.arange(11)),
    Squares,
], ids=["TensorDataset", "dict samples"])
def test_workers_give_the_same_batches_in_the_same_order(dataset):
    def passes(**kwargs):
        loader = data.DataLoader(dataset(), batch_size=3, shuffle=True, seed=7, **kwargs)
        return [[_plain(b) for b in loader] for _ in range(2)]

    alone = passes()
    assert alone[0] != alone[1]  # each pass shuffles anew
    assert passes(num_workers=2) == alone
    assert passes(num_workers=2, prefetch_factor=1, persistent_workers=True) == alone


def test_a_collate_fn_in_a_worker_may_return_tensors():
    loader = data.DataLoader(Squares(), batch_size=4, collate_fn=tensor_and_list, num_workers=2)
    (x, y), *_ = list(loader)
    assert isinstance(x, Tensor) and x.numpy()[3].tolist() == [3, 9] and y == [0, 1, 2, 0]


def test_worker_info_seeds_and_worker_init_fn():
    assert data.get_worker_info() is None

    def run():
        loader = data.DataLoader(WhoAmI(), batch_size=2, num_workers=2, seed=0,
                                 collate_fn=as_list, worker_init_fn=seed_numpy)
        return [sample for batch in loader for sample in batch]

    samples = run()
    assert [s[0] for s in samples] == list(range(8))
    assert [s[1] for s in samples] == [0, 0, 1, 1, 0, 0, 1, 1]  # batch b from worker b % 2
    assert all(s[2] == 2 and s[4] for s in samples)  # num_workers, and the dataset is the worker's copy
    seeds = {s[1]: s[3] for s in samples}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker id, as PyTorch
    assert len({s[5] for s in samples}) == 2 and os.getpid() not in {s[5] for s in samples}
    # worker_init_fn ran in each worker, after the seeding
    first = {s[1]: s[6] for s in reversed(samples)}
    assert first == {i: np.random.RandomState(100 + i).randint(2**31) for i in (0, 1)}
    again = run()
    assert [s[3] for s in again] == [s[3] for s in samples]  # a seeded loader gives its workers the same seeds


def test_persistent_workers_live_across_passes():
    loader = data.DataLoader(WhoAmI(), batch_size=4, num_workers=2, persistent_workers=True,
                             collate_fn=as_list)
    pids = [{s[5] for batch in loader for s in batch} for _ in range(2)]
    assert pids[0] == pids[1] and len(multiprocessing.active_children()) == 2
    first = iter(loader)
    next(first)
    assert len(list(loader)) == 2  # a new pass takes the workers over
    with pytest.raises(RuntimeError, match="a new pass over this loader started"):
        next(first)
    del loader, first  # its workers go with it


def test_an_iterable_dataset_sharded_with_get_worker_info():
    batches = [x.numpy().tolist() for (x,) in data.DataLoader(Shards(9), batch_size=2, num_workers=2)]
    # worker 0 has 0 2 4 6 8, worker 1 has 1 3 5 7: batches come from the workers in turn
    assert batches == [[0, 2], [1, 3], [4, 6], [5, 7], [8]]
    assert [len(x) for (x,) in data.DataLoader(Shards(9), batch_size=2, num_workers=2, drop_last=True)] == [2] * 4
    # as in PyTorch, a stream that does not shard gives every sample once per worker
    assert [x.numpy().tolist() for (x,) in data.DataLoader(Counting(), batch_size=3, num_workers=2)] == [[0, 1, 2]] * 2
    loader = data.DataLoader(Shards(4), batch_size=4, num_workers=2, persistent_workers=True)
    assert [[x.numpy().tolist() for (x,) in loader] for _ in range(2)] == [[[0, 2], [1, 3]]] * 2
    del loader


def test_an_error_in_a_worker_names_it_and_keeps_the_traceback():
    loader = data.DataLoader(Broken(), batch_size=2, num_workers=2)
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 1") as info:
        list(loader)
    assert "sample 3 is missing" in str(info.value) and "\n  File " in str(info.value)  # the traceback, printable
    with pytest.raises(ZeroDivisionError, match="worker process 0"):
        next(iter(data.DataLoader(Squares(), num_workers=1, worker_init_fn=divide_by_zero)))


def test_a_worker_that_dies_or_hangs_is_an_error():
    with pytest.raises(RuntimeError, match="worker process 0 \\(pid \\d+\\) exited unexpectedly with exit code 3"):
        list(data.DataLoader(Dies(), num_workers=1))
    with pytest.raises(RuntimeError, match="timed out after 0.1 seconds"):
        list(data.DataLoader(Slow(), num_workers=1, timeout=0.1))


def test_an_abandoned_iterator_stops_its_workers():
    loader = data.DataLoader(Squares(), batch_size=2, num_workers=2)
    batches = iter(loader)
    next(batches)
    assert len(multiprocessing.active_children()) == 2
    del batches


def test_resuming_mid_pass_with_workers():
    loader = data.DataLoader(Squares(), batch_size=2, shuffle=True, seed=3, num_workers=2)
    batches = iter(loader)
    first = [_plain(next(batches)) for _ in range(2)]
    state = loader.state_dict()
    rest = [_plain(b) for b in batches]
    resumed = data.DataLoader(Squares(), batch_size=2, shuffle=True, seed=3)
    resumed.load_state_dict(state)
    assert [_plain(b) for b in resumed] == rest and len(first + rest) == 6


def test_spawned_workers():
    loader = data.DataLoader(Squares(), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert [_plain(b) for b in loader] == [_plain(b) for b in data.DataLoader(Squares(), batch_size=4)]


def test_worker_arguments_are_checked():
    with pytest.raises(ValueError, match="prefetch_factor and persistent_workers need num_workers > 0"):
        data.DataLoader(Squares(), prefetch_factor=2)
    with pytest.raises(ValueError, match="timeout must be >= 0 seconds, got -1"):
        data.DataLoader(Squares(), num_workers=1, timeout=-1)
    with pytest.raises(ValueError, match="prefetch_factor must be a positive integer, got 0"):
        data.DataLoader(Squares(), num_workers=1, prefetch_factor=0)
