"""One thread pool on the CPU's hot path: Numba's.

The kernels call BLAS (SciPy's, which `np.dot` and `gemm` inside @njit reach) and run
`prange` loops on Numba's threads. Each keeps its own pool, and a pool that has just
finished keeps spinning while the other one starts: on 2 cores a LeNet training step
takes more than twice as long with both pools at work as with BLAS single-threaded inside
Numba's threads. So the kernels share out the work themselves (the samples of a
convolution, the row blocks of a matrix product, the hidden units of an LSTM step) and
SciPy's BLAS is asked, once, to use one thread. That needs threadpoolctl (the `threads`
extra). Without it BLAS keeps its threads and our kernels run their loops on one Numba
thread (`numba_threads`), still faster than two pools. Kernels that have no parallel loops
of their own (the GRU and Elman layers) give BLAS its threads back while they run
(`blas_threaded`). bench/README.md has the figures.
"""
import contextlib
import functools
import os

from numba import get_num_threads, njit, set_num_threads

_state = {}


def serial_blas():
    """True once SciPy's BLAS runs single-threaded (set on the first call, then left so)."""
    if "serial" not in _state:
        _state["serial"] = _limit_scipy_blas()
    return _state["serial"]


def _limit_scipy_blas():
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS library to limit)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return False
    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    # pip's SciPy brings its own BLAS (in scipy.libs), apart from NumPy's: limit that one
    # only, so NumPy's products outside our kernels keep their threads. Where both share
    # one library (conda), limiting it is the only way.
    scipys = [lib for lib in libraries if os.path.basename(os.path.dirname(lib.filepath)).startswith("scipy")]
    _state["limited"] = scipys or libraries
    for lib in _state["limited"]:
        lib.set_num_threads(1)
    return bool(libraries)


def threads_for_kernels():
    """How many Numba threads a kernel that calls BLAS inside `prange` may use."""
    return get_num_threads() if serial_blas() else 1


@contextlib.contextmanager
def numba_threads():
    """Run the enclosed kernel on threads_for_kernels() Numba threads."""
    wanted, before = threads_for_kernels(), get_num_threads()
    if wanted == before:
        yield
        return
    set_num_threads(wanted)
    try:
        yield
    finally:
        set_num_threads(before)


def blas_threaded(kernel):
    """Run `kernel` with BLAS on every core: for kernels whose own loops stay serial and
    whose parallel work is all in BLAS (the GRU and Elman layers: a loop over time steps
    around products too small to split). Numba's pool sits idle meanwhile, so only one pool works."""

    @functools.wraps(kernel)
    def run(*args):
        libraries = _state.get("limited", []) if serial_blas() else []
        for lib in libraries:
            lib.set_num_threads(get_num_threads())
        try:
            return kernel(*args)
        finally:
            for lib in libraries:
                lib.set_num_threads(1)

    return run


@njit(cache=True, fastmath=False)
def sum_of_slots(partial):
    """partial[0] + partial[1] + ..., in that order, as a new array. A kernel whose threads
    would add into one array (a weight gradient summed over samples) gives each thread its
    own slot partial[t] instead, and adds the slots up after its parallel loop: a shared
    `+=` inside `prange` races."""
    total = partial[0].copy()
    for t in range(1, partial.shape[0]):
        total += partial[t]
    return total
