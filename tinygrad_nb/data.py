"""Data: a DataLoader that batches arrays, and small data sets to train on.

    train = data.digits("train")                   # scikit-learn's handwritten digits
    for images, labels in data.DataLoader(train, batch_size=64, shuffle=True, seed=0):
        ...                                         # Tensors of shape (64, 1, 8, 8) and (64,)

The digits ship inside scikit-learn (the optional extra `digits`); the sequence sets are
made in code; the text is the Zen of Python, which ships with Python itself.
"""
import codecs
import contextlib
import importlib.util
import math
import os

import numpy as np

from . import random as _random
from .random import generator
from .tensor import Tensor
from .workers import WorkerInfo, _mp_context, _pack, _unpack, _Workers, get_worker_info  # noqa: F401  (the data API)


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


def default_collate(samples):
    """Samples -> a batch, as PyTorch's default: tuples and lists field by field, dicts key by
    key, arrays and numbers stacked into one Tensor."""
    return _tensors(_collate_arrays(samples))


def _collate_arrays(samples):
    """default_collate's batch with NumPy arrays where it has Tensors: what a worker process
    sends (the main process makes the Tensors)."""
    first = samples[0]
    if isinstance(first, dict):
        return {key: _collate_arrays([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        fields = [_collate_arrays(list(column)) for column in zip(*samples)]
        return tuple(fields) if isinstance(first, tuple) else fields
    return np.ascontiguousarray(np.stack([s.numpy() if isinstance(s, Tensor) else np.asarray(s) for s in samples]))


def _tensors(batch):
    """The arrays of a collated batch (in dicts, tuples, lists) as Tensors."""
    if isinstance(batch, dict):
        return {key: _tensors(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_tensors(value) for value in batch)
    return Tensor(batch)


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


class DataLoader:
    """Iterates over a dataset in batches of Tensors.

    dataset: a TensorDataset, a tuple of equal-length arrays, or anything with __len__ and
    __getitem__(int) returning a tuple of array-likes (collated by stacking). With shuffle,
    each pass draws a new order: from its own generator when `seed` (or `generator`, a NumPy
    Generator, as PyTorch's argument of that name) is given, reproducible and independent of
    other draws, else from the generator of tinygrad_nb.manual_seed.

    `sampler` (PyTorch's argument; e.g. distributed.DistributedSampler) decides which
    indices each pass visits and in what order, instead of `shuffle`: anything iterable over
    indices, again for every pass, with a length. `collate_fn(samples)` makes a batch of a
    list of samples (default_collate by default: tuples field by field, dicts key by key).
    An IterableDataset's samples are batched in the order they come.

    num_workers > 0 makes batches in that many worker processes, as PyTorch's: this process
    draws the indices and hands each batch to the next worker in turn (prefetch_factor
    batches per worker ahead), and hands them out in order. Each worker seeds NumPy, `random`
    and tinygrad_nb.manual_seed with base_seed + its id, runs worker_init_fn(id), and
    collates into NumPy arrays, which become Tensors here; inside it get_worker_info() says
    who it is. Each worker iterates its own copy of an IterableDataset (shard it with
    get_worker_info(), or every sample comes num_workers times), batches taken from the
    workers in turn. An error in a worker is raised here with its id and traceback; `timeout`
    (seconds, 0: none) bounds the wait for a batch. Workers end with each pass, or with the
    loader under persistent_workers. They start with 'fork' on Linux ('spawn' elsewhere,
    which needs a picklable dataset and functions; multiprocessing_context chooses). Workers
    pay when a sample costs real work (decoding, augmenting); stacking arrays costs
    microseconds, less than sending them between processes. `pin_memory` is accepted and
    does nothing: batches are made on the CPU, and sent to a GPU by `.to()`.

    `state_dict()` / `load_state_dict()` save and restore where it is: the generator state
    its current pass drew its order from, and how many batches of the pass it has handed
    out, so that a loader restored mid-pass hands out the rest of that pass's batches (with
    tg.set_rng_state, a resumed run repeats an uninterrupted one exactly)."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, generator=None, sampler=None,
                 collate_fn=None, num_workers=0, pin_memory=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, prefetch_factor=None, persistent_workers=False):
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be at least 0, got {num_workers}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need num_workers > 0")
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be a positive integer, got {prefetch_factor}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0 seconds, got {timeout}")
        if isinstance(dataset, IterableDataset) and (shuffle or sampler is not None):
            raise ValueError("DataLoader: an IterableDataset gives its samples in its own order: no shuffle, no sampler")
        if isinstance(dataset, (tuple, np.ndarray, Tensor)):
            dataset = TensorDataset(*dataset) if isinstance(dataset, tuple) else TensorDataset(dataset)
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler decides the order)")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, int(batch_size), shuffle, drop_last
        self.sampler, self.collate_fn = sampler, collate_fn
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.prefetch_factor = 2 if num_workers and prefetch_factor is None else prefetch_factor
        self.persistent_workers = persistent_workers
        self._workers = None  # the persistent workers, once started
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give a seed or a generator, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got {type(generator).__name__}")
        self.rng = generator if generator is not None else None if seed is None else np.random.default_rng(seed)
        self._pass_state = None  # the generator's state before this pass drew its order
        self._handed_out = 0  # batches of this pass handed out so far
        self._resume = False  # the next pass continues the one load_state_dict restored
        self._passes = 0  # passes started: with the generator state, it makes the workers' base seed

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            raise TypeError("DataLoader: a loader over an IterableDataset has no length")
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        batcher = _Batcher(self.dataset, self.collate_fn, self.batch_size, self.drop_last)
        if isinstance(self.dataset, IterableDataset):
            if not self.num_workers:
                yield from map(batcher.tensors, batcher.stream())
                return
            self._passes += 1
            with contextlib.closing(self._from_workers(batcher, None, (self.rng or generator()).bit_generator.state)) as batches:
                yield from batches
            return
        n = len(self.dataset)
        rng = self.rng or generator()
        if self._resume:  # redraw the restored pass's order from a copy: `rng` is already past it
            self._resume = False
            first = self._handed_out
            order = _generator_at(self._pass_state).permutation(n) if self.shuffle else self._indices(n)
        else:
            first, self._handed_out = 0, 0
            self._pass_state, self._passes = rng.bit_generator.state, self._passes + 1
            order = rng.permutation(n) if self.shuffle else self._indices(n)
        indices = (order[b * self.batch_size : (b + 1) * self.batch_size] for b in range(first, len(self)))
        if self.num_workers:
            batches = self._from_workers(batcher, indices, self._pass_state)
        else:
            batches = (batcher.tensors(batcher.arrays(index)) for index in indices)
        with contextlib.closing(batches):
            for b, batch in enumerate(batches, first):
                self._handed_out = b + 1
                yield batch

    def _from_workers(self, batcher, indices, pass_state):
        """The batches of `indices` (None: of an IterableDataset) made by the worker processes."""
        workers = self._workers
        if workers is None or workers.closed:
            # the base seed is drawn from a copy, so the order of later passes does not depend on num_workers
            base_seed = int(np.random.default_rng([_generator_at(pass_state).integers(2**62), self._passes]).integers(2**62))
            workers = _Workers(batcher, self.num_workers, base_seed, self.worker_init_fn,
                               _mp_context(self.multiprocessing_context))
            if self.persistent_workers:
                self._workers = workers
        try:
            yield from workers.run(indices, self.prefetch_factor, self.timeout)
        finally:
            if not self.persistent_workers:
                workers.close()

    def _indices(self, n):
        return np.arange(n) if self.sampler is None else np.fromiter(self.sampler, np.int64)

    def state_dict(self):
        """Where the loader is: its own generator (if seeded), the state the current pass drew
        its order from, and the batches of that pass handed out."""
        return {"rng": None if self.rng is None else self.rng.bit_generator.state,
                "pass_state": self._pass_state, "handed_out": self._handed_out, "passes": self._passes}

    def load_state_dict(self, state):
        """Continue from `state`: the next iteration hands out the rest of its pass (or starts
        a new pass if that one was finished)."""
        if (state["rng"] is None) != (self.rng is None):
            raise ValueError("DataLoader.load_state_dict: the state is of a loader "
                             f"{'without' if state['rng'] is None else 'with'} a seed of its own; this one differs")
        if self.rng is not None:
            self.rng.bit_generator.state = state["rng"]
        self._pass_state, self._handed_out = state["pass_state"], int(state["handed_out"])
        self._passes = int(state.get("passes", 0))
        self._resume = self._pass_state is not None and self._handed_out < len(self)


class _Batcher:
    """Makes a loader's batches, in this process or in a worker's: first as NumPy arrays
    (`arrays`, `stream`), which travel between processes, then as Tensors (`tensors`)."""

    def __init__(self, dataset, collate_fn, batch_size, drop_last):
        self.dataset, self.collate_fn, self.batch_size, self.drop_last = dataset, collate_fn, batch_size, drop_last

    def arrays(self, index):
        """The batch of the samples at `index`."""
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:  # rows taken at once
            return tuple(np.ascontiguousarray(field) for field in self.dataset[index])
        return self.collate([self.dataset[int(i)] for i in index])

    def stream(self):
        """The batches of an IterableDataset, in the order its samples come."""
        samples = []
        for sample in self.dataset:
            samples.append(sample)
            if len(samples) == self.batch_size:
                yield self.collate(samples)
                samples = []
        if samples and not self.drop_last:
            yield self.collate(samples)

    def collate(self, samples):
        """collate_fn's batch if given; else default_collate's (in arrays), a sample that is one
        array (not a tuple or dict) making a batch of one field."""
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        if not isinstance(samples[0], (tuple, dict)):
            return (_collate_arrays(samples),)
        return _collate_arrays(samples)

    def tensors(self, batch):
        """A batch as the loader hands it out: collate_fn's as it made it, default ones as Tensors."""
        return batch if self.collate_fn is not None else _tensors(batch)

    def pack(self, batch):
        """A batch ready to leave a worker: collate_fn's Tensors as arrays, marked to become Tensors again."""
        return _pack(batch) if self.collate_fn is not None else batch

    def unpack(self, batch):
        """A batch from a worker as tensors() makes it in this process."""
        return _unpack(batch) if self.collate_fn is not None else _tensors(batch)


def _generator_at(state):
    """A new generator in `state` (a bit generator's state dict, which names its kind)."""
    rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
    rng.bit_generator.state = state
    return rng


def digits(split="train", test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8 grey images, classes 0-9) as a
    TensorDataset of images (N, 1, 8, 8) in [0, 1], float32, and labels (N,), int64.
    A fixed shuffle with `seed` splits off the last test_fraction as the 'test' split."""
    if split not in ("train", "test"):
        raise ValueError(f"digits: split must be 'train' or 'test', got {split!r}")
    images, labels = _digits_arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    chosen = order[: len(order) - n_test] if split == "train" else order[len(order) - n_test :]
    return TensorDataset(images[chosen], labels[chosen])


def _digits_arrays():
    """Images (1797, 1, 8, 8) scaled to [0, 1] and labels, from the CSV file inside
    scikit-learn, read directly: importing sklearn.datasets takes seconds, reading the file
    milliseconds. load_digits, which reads the same file, is the fallback."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("digits: needs scikit-learn; install it with  pip install 'tinygrad_nb[digits]'")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        pixels, labels = load_digits(return_X_y=True)
    return (pixels / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), labels.astype(np.int64)


def sine_waves(n=256, length=50, seed=0):
    """Next-step prediction: inputs (n, length, 1) are sine waves of random frequency and
    phase, targets (n, length, 1) the same waves one step later."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.3, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(freq * np.arange(length + 1) + phase).astype(np.float32)[:, :, None]
    return TensorDataset(wave[:, :-1], wave[:, 1:])


def copy_task(n=256, length=8, vocab=8, seed=0):
    """Memory test: inputs (n, 2 * length) are `length` random tokens 1..vocab followed by
    blanks (0); targets are blanks followed by the same tokens, so a model must remember
    the first half to write the second. Both int64."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab + 1, (n, length))
    blank = np.zeros((n, length), np.int64)
    return TensorDataset(np.concatenate([tokens, blank], 1), np.concatenate([blank, tokens], 1))


def zen_of_python():
    """The Zen of Python (PEP 20), read from the `this` module that ships with Python
    (stored there ROT13-encoded; importing `this` would print it, so we read the source)."""
    source = open(importlib.util.find_spec("this").origin, encoding="utf-8").read()
    encoded = source.split('"""')[1]
    return codecs.decode(encoded, "rot13")


def char_sequences(text, length):
    """Character-level language modelling: the text cut into windows. Returns
    (TensorDataset of inputs (N, length) and targets (N, length) shifted by one, both
    int64 character ids; the sorted vocabulary string, id -> character)."""
    vocab = "".join(sorted(set(text)))
    ids = np.array([vocab.index(c) for c in text], np.int64)
    if len(ids) <= length:
        raise ValueError(f"char_sequences: text of {len(ids)} characters is too short for windows of {length}")
    starts = np.arange(0, len(ids) - length)
    windows = ids[starts[:, None] + np.arange(length + 1)]
    return TensorDataset(windows[:, :-1], windows[:, 1:]), vocab
