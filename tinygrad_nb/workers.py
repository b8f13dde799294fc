"""DataLoader's worker processes (num_workers > 0), as PyTorch's: each worker builds whole
batches from index lists the loader sends it, round-robin, and sends them back as NumPy
arrays (Tensors are made in the loader's process); results come back in order, a few in
flight per worker. Inside a worker, get_worker_info() says which one it is."""
import itertools
import multiprocessing
import pickle
import queue
import random as _py_random
import sys
import time
import traceback
from typing import Any, NamedTuple

import numpy as np

from . import random as _random
from .tensor import Tensor


class _TensorArray(NamedTuple):
    """A Tensor on its way from a worker: its array."""
    array: np.ndarray


def _pack(batch):
    if isinstance(batch, Tensor):
        return _TensorArray(batch.numpy())
    if isinstance(batch, dict):
        return {key: _pack(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)) and not isinstance(batch, _TensorArray):
        items = [_pack(value) for value in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    return batch


def _unpack(batch):
    if isinstance(batch, _TensorArray):
        return Tensor.from_numpy(batch.array)
    if isinstance(batch, dict):
        return {key: _unpack(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        items = [_unpack(value) for value in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    return batch


# ---- worker processes ---------------------------------------------------------------------
class WorkerInfo(NamedTuple):
    """Who a DataLoader worker process is (torch.utils.data.get_worker_info()): its id in
    0..num_workers-1, its seed and its own copy of the data set."""
    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info = None
_POLL = 0.1  # seconds between checks that the other side is still alive, while waiting
_JOIN_TIMEOUT = 5.0  # seconds a worker has to exit before it is terminated


def get_worker_info():
    """In a DataLoader worker process, its WorkerInfo(id, num_workers, seed, dataset); None
    in the main process."""
    return _worker_info


def _mp_context(choice):
    """'fork' on Linux (workers start in milliseconds, nothing to pickle), else 'spawn'."""
    if choice is None:
        return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    return multiprocessing.get_context(choice) if isinstance(choice, str) else choice


class _WorkerError(NamedTuple):
    """An exception in a worker, carried to the main process as its type and traceback text."""
    worker_id: int
    kind: type
    text: str

    def reraise(self):
        message = f"Caught {self.kind.__name__} in DataLoader worker process {self.worker_id}.\nOriginal {self.text}"
        if self.kind is KeyError:  # str(KeyError) is the repr of its message, which would print "\n" for newlines
            message = _Verbatim(message)
        try:
            error = self.kind(message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(message)
        raise error


class _Verbatim(str):
    def __repr__(self):
        return self


def _message(epoch, task, kind, payload, worker_id):
    """(epoch, task, kind, payload) pickled here, so a batch that cannot be pickled is an error
    the main process sees (the queue's own pickling would fail in a background thread)."""
    try:
        return pickle.dumps((epoch, task, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        error = _WorkerError(worker_id, RuntimeError, traceback.format_exc())
        return pickle.dumps((epoch, task, "error", error), protocol=pickle.HIGHEST_PROTOCOL)


def _worker_loop(worker_id, batcher, num_workers, base_seed, worker_init_fn, tasks, results):
    """A worker process: answer each task (epoch, task id, indices) with a batch, until None."""
    global _worker_info
    seed = base_seed + worker_id
    _py_random.seed(seed)
    np.random.seed(seed % 2**32)
    _random.seed_worker(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, batcher.dataset)
    failed = None  # worker_init_fn's error, the answer to every task
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as e:
            failed = _WorkerError(worker_id, type(e), traceback.format_exc())
    parent, stream, stream_epoch = multiprocessing.parent_process(), None, None
    try:
        while True:
            try:
                task = tasks.get(timeout=_POLL)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    break
                continue
            if task is None:
                break
            epoch, task_id, index = task
            try:
                if failed is not None:
                    kind, payload = "error", failed
                elif index is None:  # an IterableDataset: the next batch of this worker's copy
                    if stream_epoch != epoch:
                        stream, stream_epoch = batcher.stream(), epoch
                    batch = next(stream, None)
                    kind, payload = ("end", None) if batch is None else ("batch", batcher.pack(batch))
                else:
                    kind, payload = "batch", batcher.pack(batcher.arrays(index))
            except Exception as e:
                kind, payload = "error", _WorkerError(worker_id, type(e), traceback.format_exc())
            results.put(_message(epoch, task_id, kind, payload, worker_id))
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group; the main process handles it
        pass
    results.cancel_join_thread()  # exit without waiting for the main process to read the last answers


class _Workers:
    """The worker processes of a loader, with a task queue each and one queue for results."""

    def __init__(self, batcher, num_workers, base_seed, worker_init_fn, context):
        self.batcher, self.epoch, self.closed = batcher, 0, False
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(num_workers)]
        self.processes = [
            context.Process(target=_worker_loop, args=(i, batcher, num_workers, base_seed, worker_init_fn, q,
                                                       self.results), daemon=True)
            for i, q in enumerate(self.tasks)
        ]
        for process in self.processes:
            process.start()

    def run(self, indices, prefetch_factor, timeout):
        """Hand out the batches of `indices` (None: an IterableDataset's, until every worker's
        copy is exhausted) in order, keeping prefetch_factor tasks per worker in flight."""
        self.epoch += 1  # answers to an abandoned pass's tasks are dropped by their epoch
        epoch = self.epoch
        tasks = itertools.repeat(None) if indices is None else iter(indices)
        active = list(range(len(self.processes)))
        turn, sent, wanted, owner, answers = 0, 0, 0, {}, {}

        def send():
            nonlocal turn, sent
            if not active:
                return
            index = next(tasks, False)
            if index is False:
                return
            worker = active[turn % len(active)]
            turn += 1
            self.tasks[worker].put((epoch, sent, index))
            owner[sent], sent = worker, sent + 1

        for _ in range(prefetch_factor * len(self.processes)):
            send()
        while wanted < sent:
            if self.epoch != epoch:
                raise RuntimeError("DataLoader: a new pass over this loader started (its persistent workers serve "
                                   "one pass at a time), so this one cannot continue")
            while wanted not in answers:
                task, kind, payload = self._receive(timeout)
                answers[task] = kind, payload
            kind, payload = answers.pop(wanted)
            worker = owner.pop(wanted)
            wanted += 1
            if kind == "error":
                payload.reraise()
            if kind == "end":
                if worker in active:
                    active.remove(worker)
                send()
                continue
            send()
            yield self.batcher.unpack(payload)

    def _receive(self, timeout):
        """The next answer of this epoch: (task id, kind, payload)."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            try:
                epoch, task, kind, payload = pickle.loads(self.results.get(timeout=wait))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader: timed out after {timeout} seconds waiting for a batch from "
                                       "the worker processes") from None
                for i, process in enumerate(self.processes):
                    if not process.is_alive():
                        raise RuntimeError(f"DataLoader: worker process {i} (pid {process.pid}) exited unexpectedly "
                                           f"with exit code {process.exitcode}") from None
                continue
            if epoch == self.epoch:
                return task, kind, payload

    def close(self):
        """Ask the workers to exit, wait for them (terminating those that do not), close the queues."""
        if self.closed:
            return
        self.closed = True
        for q in self.tasks:
            q.put(None)
        for process in self.processes:
            process.join(_JOIN_TIMEOUT)
            if process.is_alive():
                process.terminate()
                process.join()
        for q in self.tasks + [self.results]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        self.close()
