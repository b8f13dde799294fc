"""Benchmark fixtures: run reference implementations (PyTorch, NumPy) in worker processes.

PyTorch, NumPy's OpenBLAS, SciPy's OpenBLAS (used by Numba) and Numba's `prange` each keep
their own thread pool, and on a 2-core machine pools that share a process slow each other
down. So every reference runs in its own freshly spawned process: the workload is built
there once, then each benchmark round sends one message and waits for the reply. The
message costs tens of microseconds, next to workloads of milliseconds.

A workload builder is a module-level function `build(**kwargs) -> step`, where `step()`
runs one iteration; it imports what it needs itself (torch is never imported here):

    def torch_conv(n):
        import torch
        x = torch.randn(n, 64, 32, 32)
        return lambda: torch.conv2d(x, w, padding=1)

    def test_conv(benchmark, torch_ref):
        benchmark(torch_ref(torch_conv, n=32))

`fresh_process` times a first call in a new process (start, import, compile or cache load).
"""
import importlib
import importlib.util
import inspect
import multiprocessing
import os
import subprocess
import sys
import traceback

import pytest

MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# OPENBLAS_CORETYPE overrides the kernels OpenBLAS would pick for the CPU (our products run in
# SciPy's OpenBLAS; PyTorch's in MKL and oneDNN, which ignore it).
BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# glibc's settings that spare a process the page faults of mapping each large temporary
# afresh: without them PyTorch, which allocates per step, runs at its worst.
BEST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "2000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000"}


def pytest_configure(config):
    """Every implementation, ours in this process and the references in theirs, runs with the
    same malloc settings: the user's if any is set, else BEST_MALLOC
    (TINYGRAD_NB_BENCH_MALLOC=glibc keeps glibc's defaults). glibc reads them when a process
    starts, so a run from the command line starts over with them set; the workers inherit them."""
    if any(k in os.environ for k in MALLOC_VARIABLES) or os.environ.get("TINYGRAD_NB_BENCH_MALLOC") == "glibc":
        return
    if tuple(config.invocation_params.args) != tuple(sys.argv[1:]):
        return  # pytest.main() from a program: starting over would end that program
    os.environ.update(BEST_MALLOC)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *sys.argv[1:]])


def _serve(conn, path, name, kwargs):
    """Worker process: build the workload, then run one step per message until told to stop."""
    try:
        sys.path.insert(0, os.path.dirname(path))
        module = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
        step = getattr(module, name)(**kwargs)
        step()  # warm-up: one-time allocations and lazy initialisation stay out of the timings
        conn.send(("ready", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while conn.recv() == "run":
        try:
            step()
            conn.send(("done", None))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class Worker:
    """One spawned process running one workload; calling the object runs one step there."""

    def __init__(self, build, **kwargs):
        path = inspect.getfile(build)
        self.name = f"{build.__name__}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child, path, build.__name__, kwargs), daemon=True
        )
        self.process.start()
        self._reply()

    def _reply(self):
        status, detail = self.conn.recv()
        if status == "error":
            self.close()
            raise RuntimeError(f"benchmark worker {self.name} failed:\n{detail}")

    def __call__(self):
        self.conn.send("run")
        self._reply()

    def close(self):
        if self.process.is_alive():
            self.conn.send("stop")
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def _worker_factory():
    workers = []

    def start(build, **kwargs):
        worker = Worker(build, **kwargs)
        workers.append(worker)
        return worker

    return start, workers


@pytest.fixture
def reference():
    """`reference(build, **kwargs)` -> a callable running build's step in its own process."""
    start, workers = _worker_factory()
    yield start
    for w in workers:
        w.close()


@pytest.fixture
def torch_ref():
    """Like `reference`, for PyTorch workloads; skips the benchmark when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed")
    start, workers = _worker_factory()
    yield start
    for w in workers:
        w.close()


@pytest.fixture
def fresh_process(benchmark):
    """`fresh_process(imports, workload)` times a new Python process that runs `imports` and
    then `workload` (Python source) once, the way a user's script meets its first call. A
    first run fills the Numba cache if it was empty, so the rounds measure a warm cache;
    `extra_info` splits the time into import_s and first_call_s."""

    def run_timed(imports, workload):
        script = (f"import time\nstart = time.perf_counter()\n{imports}\nimported = time.perf_counter()\n"
                  f"{workload}\nprint(imported - start, time.perf_counter() - imported)\n")

        def run():
            return subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=os.environ)

        run()
        benchmark.pedantic(run, rounds=3, iterations=1)
        import_s, first_call_s = (float(v) for v in run().stdout.split())
        benchmark.extra_info.update(import_s=round(import_s, 3), first_call_s=round(first_call_s, 3))

    return run_timed


def _vector_extensions():
    """The host's widest vector instruction sets, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    return [name for name in ("avx2", "avx512f") if name in flags]


def _blas_libraries():
    """(library, kernels it chose, version) of each BLAS loaded here, from threadpoolctl."""
    try:
        import threadpoolctl
        from scipy.linalg import cython_blas  # noqa: F401  (loads SciPy's OpenBLAS, the one the kernels call)
    except ImportError:
        return []
    return [[i.get("internal_api"), i.get("architecture"), i.get("version")] for i in threadpoolctl.threadpool_info()
            if i.get("user_api") == "blas"]


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record the settings that move the numbers: malloc tuning, thread counts, vector width
    and the BLAS kernels in use."""
    machine_info["malloc_env"] = {k: os.environ[k] for k in MALLOC_VARIABLES if k in os.environ}
    machine_info["thread_env"] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    machine_info["blas_env"] = {k: os.environ[k] for k in BLAS_VARIABLES if k in os.environ}
    machine_info["blas"] = _blas_libraries()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["vector_extensions"] = _vector_extensions()
