"""Numba's CUDA target and the launch configurations every CUDA kernel here uses.

`NUMBA_ENABLE_CUDASIM=1` runs the kernels in Numba's CUDA simulator, where every GPU thread
is a Python thread: launches there use a handful of threads and grid-stride loops cover the
rest of the data, so the same kernels are tested on machines without a GPU.
"""
import functools
import math
import sys
import warnings

from numba.core import config

if "numba.cuda" not in sys.modules:
    config.reload_config()  # Numba reads its environment once, on import: honour a simulator switch made since
from numba import cuda  # noqa: E402
from numba.core.errors import NumbaPerformanceWarning  # noqa: E402

SIMULATED = bool(config.ENABLE_CUDASIM)

# Threads per block for one-dimensional work, and the most blocks a grid-stride loop needs.
THREADS = 16 if SIMULATED else 256
MAX_BLOCKS = 2 if SIMULATED else 8192


def grid(n):
    """(blocks, threads) for n independent items, each thread striding over the rest."""
    threads = min(THREADS, max(n, 1))
    return min(math.ceil(n / threads), MAX_BLOCKS), threads


@functools.lru_cache(maxsize=4096)
def _configured(kernel, blocks, threads):
    # Small grids make Numba warn about under-used GPUs: a small tensor is the user's
    # choice, not a mistake, so the warning (raised when a launch is configured) stays here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        return kernel[blocks, threads]


def launch(kernel, blocks, threads, *args):
    """Run `kernel[blocks, threads](*args)`."""
    if SIMULATED:
        _simulate(kernel, blocks, threads, args)
    else:
        _configured(kernel, blocks, threads)(*args)


def _simulate(kernel, blocks, threads, args):
    # The simulator's kernel[...] sets the grid on the kernel object itself (nothing to keep),
    # and its scheduler polls its threads in a busy loop: a short interpreter switch interval
    # hands them the GIL sooner (three times faster on 2 cores, more under load).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        kernel[blocks, threads](*args)
    finally:
        sys.setswitchinterval(interval)
