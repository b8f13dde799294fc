"""Compiling the GPU kernels for a real GPU on a machine without one.

The simulator runs our CUDA kernels as Python, so it never meets what only the CUDA target
refuses: a construct it cannot type, a NumPy call it lacks, a shared array of a size known
too late. NVIDIA's compiler (NVVM, from the `nvidia-cuda-nvcc-cu12` wheel, with NVRTC)
needs no driver, so every kernel the simulated tests launch can also be compiled to PTX
for an H100/H200 (sm_90) with the argument types it was launched with.

Two halves, in two processes, since Numba picks the simulator or the real target once per
process: `record()` (simulator side) notes each launch's kernel and argument types while
the tests run; `python tests/ptx.py launches.pkl report.json` (real side, CUDASIM off)
compiles them and writes the failures.

Kernels made by a factory (a closure per tile shape or dtype) are recompiled from their
factory with the configurations a real GPU uses, which differ from the simulator's small tiles;
the activations' kernels, made from their rules, are found by their names.
"""
import importlib
import json
import pickle
import sys

NO_COMPILER = 3  # exit status when NVVM or NVRTC cannot be found


def _numba_type(value):
    import numba

    array = getattr(value, "_ary", None)  # the simulator's device arrays wrap NumPy arrays
    return numba.typeof(value if array is None else array)


def record(launches):
    """Add (module, kernel name, argument types) to the set `launches` for every simulated launch."""
    from tinygrad_nb.kernels.cuda import launch

    simulate = launch.simulate

    def recording(kernel, blocks, threads, args):
        fn = kernel.py_func
        types = tuple(_numba_type(a) for a in args)
        launches.add((fn.__module__, fn.__qualname__, types, getattr(kernel, "variant", None)))
        return simulate(kernel, blocks, threads, args)

    launch.simulate = recording


def _real_configurations(module, factory, types, variant):
    """The kernels a GPU uses from `factory`, for a launch recorded with argument `types` of a
    kernel whose factory noted its arguments other than tile sizes as `variant`."""
    from numba.np.numpy_support import as_dtype

    if factory == "gemm_kernel":
        return [module.gemm_kernel(tiles, *variant)[0] for tiles in module.GPU_TILES]
    if factory == "backward_weight_kernel":  # depthwise: (..., geo, dw): accumulates in dw's dtype
        return [module.backward_weight_kernel(as_dtype(types[8].dtype))]
    if factory in ("forward_kernel", "backward_kernel"):  # rnn_kernels: (cell, rows, dtype), every row count
        return [getattr(module, factory)(variant[0], rows, variant[1]) for rows in module.GPU_ROWS]
    if factory == "_kernel":  # reduce: (..., out, x, ...): accumulates in out's dtype
        return [module._kernel(as_dtype(types[6].dtype))]
    raise LookupError(f"no real configurations known for the kernel factory {module.__name__}.{factory}")


def _generated(module, name):
    """A kernel kernels/cuda/activation.py makes from a rule: made for every rule, each joins
    the module under its name."""
    from tinygrad_nb.kernels.activations import RULES

    for rule in RULES:
        module._kernels(rule)
    return [getattr(module, name)]


def compile_all(launches):
    """Compile every recorded launch for sm_90; -> (number compiled, failures as text)."""
    from types import SimpleNamespace

    import numba.cuda.dispatcher
    from numba import cuda
    from numba.core import types as nt

    # Device functions ask the current device for its compute capability while they compile;
    # without a driver, answer for the GPU we target.
    numba.cuda.dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(9, 0))
    compiled, failures = 0, []
    for module_name, name, types, variant in sorted(launches, key=str):
        module = importlib.import_module(module_name)
        if "<locals>" in name:
            kernels = _real_configurations(module, name.split(".")[0], types, variant)
        elif hasattr(module, name):
            kernels = [getattr(module, name)]
        else:
            kernels = _generated(module, name)
        for kernel in kernels:
            try:
                cuda.compile_ptx(kernel.py_func, nt.void(*types), cc=(9, 0))
                compiled += 1
            except Exception as error:  # noqa: BLE001  (every failure is reported, whatever its kind)
                first = str(error).strip().splitlines()[:8]
                failures.append(f"{module_name}.{name}{tuple(str(t) for t in types)}: {type(error).__name__}: "
                                + " | ".join(first))
    return compiled, failures


def _compiler_found():
    from cuda.pathfinder import DynamicLibNotFoundError, load_nvidia_dynamic_lib

    try:
        load_nvidia_dynamic_lib("nvvm")
        load_nvidia_dynamic_lib("nvrtc")
    except DynamicLibNotFoundError:
        return False
    return True


if __name__ == "__main__":
    if not _compiler_found():
        sys.exit(NO_COMPILER)
    with open(sys.argv[1], "rb") as f:
        recorded = pickle.load(f)
    count, failed = compile_all(recorded)
    with open(sys.argv[2], "w") as f:
        json.dump({"compiled": count, "failures": failed}, f)
