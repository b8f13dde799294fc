"""The lean launcher: launch a compiled kernel without numba-cuda's work on every call.

A numba-cuda launch types every argument to pick the compiled kernel, then flattens each
argument into the kernel's parameters (an array becomes meminfo, parent, size, itemsize,
data pointer, shape and strides in bytes) and hands them to `cuda.core.launch`: host time
several times that of the launch itself (bench/README.md has the figures). Our launches repeat
a few argument shapes (flat device buffers, ints, floats, bools, tuples of them), so here a
cheap key of the arguments' Python types finds the compiled kernel, and the parameters are
packed by a short loop that does what numba's `_Kernel._prepare_args` does for those kinds.

Safety first, since a wrong parameter would be a wrong result: the first launch for each
(kernel, key) goes through numba as before, and beside it both packings are made for the
same arguments and compared; the lean path is used for that key only if they are equal.
Anything unexpected (an argument kind not handled here, numba internals that moved) sends
that kernel back to numba's own path for good, with one warning. Only on a real GPU: the
simulator has no compiled kernels.
"""
import ctypes
import warnings

import numpy as np


class Lean:
    def __init__(self, configure):
        self.configure = configure  # numba's own launch configuration (launch.py's, warnings filtered)
        self.ready = {}  # (kernel, key) -> (cufunc kernel, argument types, cooperative), or None: use numba
        self.configs = {}
        self.stream = None

    def launch(self, kernel, blocks, threads, args):
        key = (kernel, _key(args))
        entry = self.ready.get(key, False)
        if entry:
            try:
                self._launch(entry, blocks, threads, args)
                return
            except Exception as error:  # noqa: BLE001  (numba's path stays correct whatever happened here)
                self._give_up(key, error)
        self.configure(kernel, blocks, threads)(*args)
        if entry is False:
            self._learn(key, kernel, args)

    def _launch(self, entry, blocks, threads, args):
        from cuda.core import launch

        function, types, cooperative = entry
        params = []
        for ty, value in zip(types, args):
            _pack(ty, value, params)
        launch(self.stream, self._config(blocks, threads, cooperative), function, *params)

    def _config(self, blocks, threads, cooperative):
        config = self.configs.get((blocks, threads, cooperative))
        if config is None:
            from cuda.core import LaunchConfig

            config = self.configs[blocks, threads, cooperative] = LaunchConfig(
                grid=blocks, block=threads, shmem_size=0, is_cooperative=cooperative)
        return config

    def _learn(self, key, kernel, args):
        """After numba's launch: find the kernel it compiled for these arguments, and trust the
        lean packing for them only if it gives numba's own parameters."""
        try:
            from numba.cuda.cudadrv import driver

            compiled = kernel.overloads[tuple(kernel.typeof_pyval(a) for a in args)]
            if compiled.debug or compiled.extensions:
                self.ready[key] = None
                return
            theirs, ours = [], []
            for ty, value in zip(compiled.argument_types, args):
                compiled._prepare_args(ty, value, 0, [], theirs)
                _pack(ty, value, ours)
            if [_plain(p) for p in ours] != [_plain(p) for p in theirs]:
                raise ValueError("the packed parameters differ from numba's")
            if self.stream is None:
                self.stream = driver._to_core_stream(0)
            function = compiled._codelibrary.get_cufunc().kernel
            self.ready[key] = (function, compiled.argument_types, compiled.cooperative)
        except Exception as error:  # noqa: BLE001
            self._give_up(key, error)

    def _give_up(self, key, error):
        self.ready[key] = None
        name = getattr(key[0], "__name__", key[0])
        warnings.warn(f"lean launcher: {name} goes through numba-cuda's own launch ({error!r})", RuntimeWarning,
                      stacklevel=4)


def _key(args):
    """The Python types of the arguments, recursing into tuples; dtype, rank and C-contiguity
    for device arrays (what numba's typing of them depends on)."""
    return tuple(_key(a) if type(a) is tuple else _array_key(a) if hasattr(a, "device_ctypes_pointer") else type(a)
                 for a in args)


def _array_key(a):
    return a.dtype.str, a.ndim, a.is_c_contiguous()


def _pack(ty, value, params):
    """numba's _prepare_args for the argument kinds of this package's kernels."""
    from numba.core import types

    if isinstance(ty, types.Array):
        itemsize = value.dtype.itemsize
        params += [0, 0, value.size, itemsize, value.device_ctypes_pointer.value or 0]
        params += list(value.shape)
        params += [s for s in value.strides]
    elif isinstance(ty, types.BaseTuple):
        for t, v in zip(ty, value):
            _pack(t, v, params)
    elif isinstance(ty, types.Integer):
        params.append(getattr(ctypes, f"c_{ty}")(value))
    elif ty == types.float64:
        params.append(ctypes.c_double(value))
    elif ty == types.float32:
        params.append(ctypes.c_float(value))
    elif ty == types.boolean:
        params.append(value)
    else:
        raise NotImplementedError(f"argument of type {ty}")


def _plain(param):
    """A parameter as (kind, value), to compare packings."""
    if isinstance(param, ctypes._SimpleCData):
        return type(param).__name__, param.value
    return type(param).__name__, int(param) if isinstance(param, (int, np.integer)) else param
