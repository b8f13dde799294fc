"""DataLoader: a data set in batches of Tensors, shuffled or in order, made in this process
or in worker processes, with a state to resume from mid-pass."""
import contextlib
import math

import numpy as np

from ..random import generator
from ..tensor import Tensor
from ..workers import _mp_context, _pack, _unpack, _Workers
from .collate import _collate_arrays, _tensors
from .dataset import IterableDataset, TensorDataset


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
