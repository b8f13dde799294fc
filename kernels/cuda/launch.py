"""Numba's CUDA target, the launch configurations every CUDA kernel here uses, and the one
place that launches: `launch()` runs a kernel now (on a GPU through the lean launcher,
lean.py), or, while a CUDA graph is being captured (graph.py), hands it to the capture,
which records it instead.

`NUMBA_ENABLE_CUDASIM=1` runs the kernels in Numba's CUDA simulator, where every GPU thread
is a Python thread: launches there use a handful of threads and grid-stride loops cover the
rest of the data, so the same kernels are tested on machines without a GPU.
"""
import functools
import math
import os
import sys
import threading
import warnings

import numpy as np
from numba.core import config

if "numba.cuda" not in sys.modules:
    config.reload_config()  # Numba reads its environment once, on import: honour a simulator switch made since
from numba import cuda  # noqa: E402

from .lean import Lean  # noqa: E402

SIMULATED = bool(config.ENABLE_CUDASIM)

# Threads per block for one-dimensional work, and the most blocks a grid-stride loop needs.
THREADS = 16 if SIMULATED else 256
MAX_BLOCKS = 2 if SIMULATED else 8192


def grid(n):
    """(blocks, threads) for n independent items, each thread striding over the rest."""
    threads = min(THREADS, max(n, 1))
    return min(math.ceil(n / threads), MAX_BLOCKS), threads


def configure(kernel, blocks, threads, stream=0):
    """`kernel[blocks, threads, stream]`, ready to call. Small grids make Numba warn about
    under-used GPUs: a small tensor is the user's choice, not a mistake, so the warning
    (raised when a launch is configured) stays here. It is matched by its text: numba-cuda
    raises its own NumbaPerformanceWarning class, not numba.core's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU under-utilization")
        return kernel[blocks, threads, stream]


_configured = functools.lru_cache(maxsize=4096)(configure)

# Off with TINYGRAD_NB_LEAN_LAUNCH=0: every launch then goes through numba-cuda's own path.
_lean = None if SIMULATED or os.environ.get("TINYGRAD_NB_LEAN_LAUNCH") == "0" else Lean(_configured)

# The CUDA graph capture each thread has in progress (a graph.Capture): that thread's
# launches go to it, while other threads' run as usual (a capture is per stream in CUDA).
_local = threading.local()


def capturing():
    """This thread's capture in progress, or None."""
    return getattr(_local, "capture", None)


def set_capturing(capture):
    _local.capture = capture


def launch(kernel, blocks, threads, *args):
    """Run `kernel[blocks, threads](*args)` on the default stream, or record it into this
    thread's capture in progress."""
    capture = capturing()
    if capture is not None:
        capture.record(kernel, blocks, threads, args)
    elif SIMULATED:
        simulate(kernel, blocks, threads, args)
    elif _lean is not None:
        _lean.launch(kernel, blocks, threads, args)
    else:
        _configured(kernel, blocks, threads)(*args)


def no_host_copies(what):
    """Raise when a copy to the host is asked for during a capture: nothing captured has
    run yet, so there is no value to copy, and a replay would not copy again."""
    if capturing() is not None:
        raise RuntimeError(
            f"{what}: a GPU value was read on the host while a CUDA graph was being captured; inside "
            "tg.cuda.graph() nothing runs until replay(), so there is no value yet. Keep .item(), "
            ".numpy(), printing and Python branches on tensor values out of the captured step: "
            "return the tensors and read them after replay()"
        )


def _thread_safe_shared_arrays():
    """Patch the simulator's cuda.shared.array, which looks a block's array up by the
    calling line and creates it on a miss without a lock: a thread switch between the
    lookup and the store gives two threads of one block two different "shared" arrays,
    and the block computes garbage. Under load that happened in about one test run in
    ten (wrong LSTM gradients, a wrong maximum). Here the lookup and the store are one step."""
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    lock = threading.Lock()
    dynamic = kernelapi.FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0:  # dynamic shared memory: no lookup to race
            return dynamic(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)  # the simulator's own key
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        with lock:
            if key not in self._allocations:
                self._allocations[key] = np.empty(shape, dtype)
            return self._allocations[key]

    kernelapi.FakeCUDAShared.array = array


if SIMULATED:
    _thread_safe_shared_arrays()


_simulator = threading.Lock()


def simulate(kernel, blocks, threads, args):
    # The simulator's kernel[...] sets the grid on the kernel object itself (nothing to keep),
    # so launches from several Python threads take turns, as kernels on one stream do; and
    # its scheduler polls its threads in a busy loop: a short interpreter switch interval
    # hands them the GIL sooner (three times faster on 2 cores, more under load).
    with _simulator:
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)
        try:
            kernel[blocks, threads](*args)
        finally:
            sys.setswitchinterval(interval)
