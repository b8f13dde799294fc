"""The op trace: print every op as it runs, forward and backward (tinygrad's DEBUG switch).

    TINYGRAD_NB_DEBUG=1 python train.py    # each op: name, shapes in -> out, dtype, device, time
    TINYGRAD_NB_DEBUG=2 python train.py    # ... and each kernel it called, and whether Numba
                                           # compiled it now, loaded it from its disk cache, or
                                           # had it in memory already

or around part of a program:

    with tinygrad_nb.debug.trace(level=2):
        loss.backward()

A forward line reads `inputs -> outputs`; a backward line reads `gradients of the outputs
-> gradients of the inputs` ('-' where an input needs none). Lines go to standard error
so they never mix with what the program prints.
"""
import os
import sys
import time
import warnings

from . import device, function

# Active levels, innermost last; only the innermost prints, so nested traces never double up.
_active = []
# Kernel reports made while an op runs, printed under that op's line once it finishes.
_kernel_lines = []


class trace:
    """Context manager: print each op run inside the block (level 1), and each kernel
    call with its Numba compile status (level 2). `file` defaults to standard error."""

    def __init__(self, level=1, file=None):
        if level not in (1, 2):
            raise ValueError(f"debug.trace: level must be 1 (ops) or 2 (ops and kernels), got {level!r}")
        self.level, self.file = level, file

    def __enter__(self):
        _push(self.level, self.file)
        return self

    def __exit__(self, *exc):
        _pop()


def _push(level, file):
    _active.append((level, file))
    if len(_active) == 1:
        function.op_hooks.append(_print_op)
    _update_kernel_observer()


def _pop():
    _active.pop()
    if not _active:
        function.op_hooks.remove(_print_op)
        _kernel_lines.clear()
    _update_kernel_observer()


def _update_kernel_observer():
    """Kernels are wrapped only at level 2; otherwise the backends hand them out untouched."""
    device.observe_kernels(_observe_kernel if _active and _active[-1][0] >= 2 else None)


def _print_op(phase, ctx, inputs, outputs, seconds):
    file = _active[-1][1]
    if phase == "forward":
        ins = [t.shape for t in inputs]
        outs = [t.shape for t in outputs]
        dtype = outputs[0].dtype
    else:  # inputs are the op's input tensors, outputs the gradients backward returned for them
        ins = [shape for shape, _ in ctx.out_meta]
        outs = [None if g is None else tuple(g.shape) for g in outputs]
        dtype = ctx.out_meta[0][1]
    line = (f"{phase:<8} {type(ctx).__name__:<14} {_shapes(ins)} -> {_shapes(outs)}  "
            f"{dtype} {ctx.device.name}  {format_seconds(seconds)}")
    print("\n".join([line] + _kernel_lines), file=file or sys.stderr)
    _kernel_lines.clear()


def _observe_kernel(name, fn):
    """Wrap kernel `fn` so each call reports what Numba did for the jitted functions it ran:
    compiled new specialisations, loaded them from its disk cache, or had them in memory."""
    dispatchers = _dispatchers(fn)

    def observed(*args, **kwargs):
        before = [_counts(d) for d in dispatchers]
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
        compiled, loaded = [], []
        for d, (hits, misses) in zip(dispatchers, before):
            new_hits, new_misses = _counts(d)
            if new_misses > misses:
                compiled.append(d.__name__)
            elif new_hits > hits:
                loaded.append(d.__name__)
        parts = []
        if compiled:
            parts.append("compiled " + ", ".join(compiled))
        if loaded:
            parts.append("loaded " + ", ".join(loaded) + " from the disk cache")
        if not parts:
            parts.append("already in memory" if dispatchers else "not compiled by Numba")
        _kernel_lines.append(f"{'':<9}kernel {name}: {'; '.join(parts)}  {format_seconds(seconds)}")
        return out

    return observed


def _dispatchers(fn):
    """The Numba functions a kernel may run: itself if jitted, and the jitted functions
    of the module that defines it."""
    found = [fn] if _is_dispatcher(fn) else []
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    for value in vars(module).values() if module else ():
        if _is_dispatcher(value) and value not in found:
            found.append(value)
    return found


def _is_dispatcher(obj):
    """A Numba dispatcher, recognised without importing Numba: it counts its cache hits and misses."""
    return hasattr(getattr(obj, "stats", None), "cache_misses") and hasattr(obj, "py_func")


def _counts(dispatcher):
    stats = dispatcher.stats
    return sum(stats.cache_hits.values()), sum(stats.cache_misses.values())


def _shapes(shapes):
    return ", ".join("-" if s is None else str(tuple(s)) for s in shapes) or "(none)"


def format_seconds(seconds):
    """A duration in the unit that suits it: 12.3 us, 4.56 ms, 1.23 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _level_from_environment():
    value = os.environ.get("TINYGRAD_NB_DEBUG", "").strip()
    if value in ("", "0"):
        return 0
    if value in ("1", "2"):
        return int(value)
    warnings.warn(f"TINYGRAD_NB_DEBUG={value!r} is not a debug level (expected 0, 1 or 2); tracing stays off")
    return 0


_ENV_LEVEL = _level_from_environment()
if _ENV_LEVEL:
    _push(_ENV_LEVEL, None)
