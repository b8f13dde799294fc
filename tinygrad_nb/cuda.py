"""The 'cuda' device: tensors in NVIDIA GPU memory, worked on by Numba CUDA kernels.

    import tinygrad_nb as tg
    if tg.cuda.is_available():
        x = tg.randn(64, 32, device="cuda")   # or Tensor.to('cuda') / .cuda()

Data stays on the GPU from op to op; only `.numpy()` and `.item()` copy back. Memory a
tensor frees is cached for the next tensor of its size (`empty_cache()` releases it). Without a
GPU, setting NUMBA_ENABLE_CUDASIM=1 before Numba is first imported runs the same kernels
in Numba's CUDA simulator (slow: every GPU thread is a Python thread; for tests).
Importing this module compiles nothing and does not import Numba.

A whole training step can be captured as one CUDA graph and replayed, PyTorch's API:

    g = tg.cuda.CUDAGraph()
    with tg.cuda.graph(g):          # records the step's kernels; runs nothing
        loss = step(static_x, static_y)
    static_x.copy_(x); static_y.copy_(y)
    g.replay()                      # runs them all, about 1 us per kernel on a GPU

or `make_graphed_step(step, x, y)`, which does the warm-up, the capture and the copies.
"""
import ctypes
import ctypes.util
import os
import sys

import numpy as np

from .device import get_device


def driver_has_gpu():
    """Whether the NVIDIA driver reports a GPU, asked directly (without importing Numba, so
    callers can still choose the simulator before Numba reads its settings)."""
    name = ctypes.util.find_library("nvcuda") if os.name == "nt" else "libcuda.so.1"
    try:
        driver = ctypes.CDLL(name)
    except (OSError, TypeError):
        return False
    count = ctypes.c_int(0)
    return driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def _backend():
    return get_device("cuda").backend


def is_simulated():
    """True when CUDA kernels run in Numba's simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return _backend().simulated


def is_available():
    """True when CUDA tensors work here: a GPU with a working driver, or the simulator."""
    return bool(_backend().is_available())


def empty_cache():
    """Release the GPU memory cached for reuse by later tensors (as torch.cuda.empty_cache)."""
    from .kernels.cuda import memory

    memory.empty()


def memory_cached():
    """Bytes of freed GPU memory held for reuse."""
    from .kernels.cuda import memory

    return memory.cached_bytes()


def is_current_stream_capturing():
    """True inside `with graph(g):` (PyTorch's name)."""
    launch = sys.modules.get("tinygrad_nb.kernels.cuda.launch")  # not imported: nothing can be capturing
    return launch is not None and launch.capturing() is not None


# ---- CUDA graphs ------------------------------------------------------------------------
class CUDAGraph:
    """A captured sequence of GPU work, replayed as a whole (torch.cuda.CUDAGraph).

    Between `capture_begin()` and `capture_end()` (or inside `with graph(g):`) ops record
    their kernels instead of running them; tensors made there hold no values until a
    replay. Each `replay()` runs the recorded kernels again on the same buffers: to feed new
    data, `copy_()` it into the tensors the capture read; the tensors it made hold the new
    results. Memory allocated during capture belongs to the graph; tensors from before it
    (parameters, static inputs, optimiser state) must stay alive while it is replayed."""

    def __init__(self):
        self._capture = None
        self._recording = None

    def capture_begin(self):
        if self._capture is not None or self._recording is not None:
            raise RuntimeError("CUDAGraph.capture_begin: this graph already holds a capture; call reset() first")
        from .kernels.cuda.graph import Capture

        recording = Capture()
        recording.begin()
        self._recording = recording

    def capture_end(self):
        if self._recording is None:
            raise RuntimeError("CUDAGraph.capture_end: capture_begin() was not called")
        self._recording.end()
        self._capture, self._recording = self._recording, None

    def _capture_abort(self):
        if self._recording is not None:
            self._recording.abort()
            self._recording = None

    def replay(self):
        """Run the captured work again (on the GPU's default stream, after everything queued)."""
        if self._capture is None:
            raise RuntimeError("CUDAGraph.replay: nothing has been captured into this graph yet")
        self._capture.replay()

    def reset(self):
        """Drop the captured work and the memory that belongs to it."""
        self._capture_abort()
        self._capture = None

    @property
    def num_kernels(self):
        """How many kernel launches the capture recorded (one replay runs them all)."""
        capture = self._capture or self._recording
        return 0 if capture is None else capture.count


class graph:
    """`with graph(g): ...` captures the block's GPU work into the CUDAGraph g (torch.cuda.graph).
    As in PyTorch, the block is recorded, not run: warm the step up eagerly before capturing it
    (the first run compiles kernels and creates optimiser state). An error inside the block
    ends the capture and leaves g empty."""

    def __init__(self, cuda_graph):
        if not isinstance(cuda_graph, CUDAGraph):
            raise TypeError(f"graph: expected a tg.cuda.CUDAGraph, got {type(cuda_graph).__name__}")
        self.cuda_graph = cuda_graph

    def __enter__(self):
        self.cuda_graph.capture_begin()
        return self.cuda_graph

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.cuda_graph.capture_end()
        else:
            self.cuda_graph._capture_abort()
        return False


def before_replay(callback):
    """Run callback() before every replay of the graph being captured now (no-op when none
    is). How host-side settings that change between replays, such as an optimiser's learning
    rate under a scheduler, reach a captured graph."""
    if is_current_stream_capturing():
        from .kernels.cuda.launch import capturing

        capturing().before_replay.append(callback)


class GraphedStep:
    """A step function captured as a CUDA graph; call it with new inputs of the captured shapes.

    Calling it copies the inputs into the static tensors the capture read, replays the graph
    and returns the step's outputs, static tensors that the replay has just written (read
    them before the next call, which overwrites them)."""

    def __init__(self, cuda_graph, static_inputs, outputs):
        self.graph, self.static_inputs, self.outputs = cuda_graph, static_inputs, outputs

    def __call__(self, *inputs):
        if len(inputs) != len(self.static_inputs):
            raise TypeError(f"graphed step: captured with {len(self.static_inputs)} inputs, called with {len(inputs)}")
        for i, (new, static) in enumerate(zip(inputs, self.static_inputs)):
            shape = tuple(new.shape) if hasattr(new, "shape") else np.shape(new)
            if shape != static.shape:
                raise ValueError(
                    f"graphed step: input {i} has shape {shape}, but the step was captured for {static.shape}; "
                    "capture another graph for that shape (fit() runs a last, smaller batch eagerly)"
                )
            static.copy_(new)
        self.graph.replay()
        return self.outputs


def make_graphed_step(step, *example_inputs, warmup=1):
    """Capture `step(*inputs)` (for instance forward, backward and optimiser step) as a CUDA
    graph and return a GraphedStep that replays it on new inputs.

    The inputs are copied into static cuda tensors of their shapes and dtypes. `warmup`
    eager calls on them come first and are real steps (a training step trains on the example
    batch); the captured call is recorded, not run. So N calls of the result after
    `make_graphed_step(step, x, y, warmup=1)` do what N + 1 eager steps would have done."""
    from .tensor import Tensor

    statics = []
    for x in example_inputs:
        data = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        statics.append(Tensor(data, device="cuda"))
    for _ in range(warmup):
        step(*statics)
    cuda_graph = CUDAGraph()
    with graph(cuda_graph):
        outputs = step(*statics)
    return GraphedStep(cuda_graph, statics, outputs)
