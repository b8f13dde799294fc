"""Data sets, as PyTorch's torch.utils.data.dataset: the map-style Dataset and the
IterableDataset, rows of arrays (TensorDataset), a subset, a concatenation, a random split."""
import numpy as np

from .. import random as _random
from ..tensor import Tensor


class Dataset:
    """A map-style data set, as PyTorch's: subclasses define __len__ and __getitem__(i);
    `a + b` concatenates two."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset:
    """A stream of samples, as PyTorch's: subclasses define __iter__. A DataLoader batches
    them in the order they come (no shuffling, no sampler)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]


class ConcatDataset(Dataset):
    """The samples of several data sets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one data set")
        self.ends = np.cumsum([len(d) for d in self.datasets])

    def __len__(self):
        return int(self.ends[-1])

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} samples")
        which = int(np.searchsorted(self.ends, index, side="right"))
        return self.datasets[which][index - (int(self.ends[which - 1]) if which else 0)]


def random_split(dataset, lengths, generator=None):
    """Subsets of the given lengths (or fractions of the data set, which must add up to 1; the
    samples left over by rounding go one each to the first subsets, as in PyTorch), over a
    random permutation: from `generator` (a NumPy Generator) if given, else from the
    generator of tinygrad_nb.manual_seed."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and not all(float(f).is_integer() for f in lengths):
        if abs(sum(lengths) - 1) > 1e-6:
            raise ValueError(f"random_split: fractions {lengths} do not add up to 1")
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} add up to {sum(lengths)}, but the data set has {n} samples")
    order = (generator if generator is not None else _random.generator()).permutation(n)
    ends = np.cumsum(lengths)
    return [Subset(dataset, order[end - k:end]) for k, end in zip(lengths, ends)]


class TensorDataset(Dataset):
    """Samples are rows of equal-length arrays: dataset[i] == (a[i], b[i], ...)."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array")
        self.arrays = tuple(a.numpy() if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset: arrays must have the same length, got shapes {[a.shape for a in self.arrays]}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)
