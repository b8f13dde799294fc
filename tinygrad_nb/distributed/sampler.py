"""DistributedSampler: each rank's shard of a data set's indices, for DataLoader(sampler=...)."""
import math

import numpy as np

from . import world


class DistributedSampler:
    """The indices of this rank's shard of a dataset, for DataLoader(sampler=...), as
    PyTorch's: each pass shuffles all indices with a generator seeded with seed + epoch (the
    same order on every rank; call set_epoch at the start of each epoch for a new one), pads
    them by repeating the first ones to a multiple of the number of ranks (or, with
    drop_last, drops the tail), and gives rank r every num_replicas-th index from r. The
    shards are disjoint (before padding) and together cover the dataset."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.num_replicas = world.world_size() if num_replicas is None else int(num_replicas)
        self.rank = world.rank() if rank is None else int(rank)
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
