"""The autograd engine: `Function` (one op's forward/backward pair) and the backward walk.

A Tensor made by an op remembers the `Function` instance (its *context*) that made it.
The context holds the parent tensors and whatever forward saved for backward, so the
graph is simply: tensor -> ctx -> parents -> their ctx -> ...

`backward` sorts those contexts in reverse topological order (iteratively, so a chain
of 10,000 ops is fine) and applies the chain rule once per context:
    dL/d(input) = backward(ctx, dL/d(output))
summing the contributions when a tensor feeds several ops.

In-place writes (Tensor.add_ and the like) count, per buffer, how often it was written; an
op records the counts of the arrays it saves for backward, and backward refuses, with
PyTorch's error, to use an array written since. (Until the first in-place write nothing is
recorded: every count is 0.)

With create_graph=True the sweep calls each op's `graph_backward` instead of `backward`: the
same formula written with Tensor ops (other ops' `apply`), so the gradients it returns are
themselves graphs that a second backward() can differentiate (gradients of gradients). There
`ctx.parents` are the input Tensors and `ctx.output(i)` the op's i-th output; a linear op's
gradient is often its adjoint op (a convolution's is a transposed convolution), and the
adjoint's gradient the op again.

Two ways to act during a sweep, as in PyTorch (data-parallel training uses both): a leaf's
post-accumulate-grad hooks (Tensor.register_post_accumulate_grad_hook) run as soon as
the sweep has added the leaf's last contribution into its .grad, and `queue_callback(fn)`
runs fn when the sweep in progress ends.
"""
import threading
import time
import weakref

import numpy as np

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


class no_grad:
    """Context manager and decorator: ops inside record no graph (like torch.no_grad)."""

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.grad_enabled = False

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper


class enable_grad(no_grad):
    """Turns graph recording back on inside a no_grad block."""

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.grad_enabled = True


class TensorBase:
    """What this module knows of a Tensor: tensor.py's Tensor subclasses this class, and
    the graph needs no more of it than its fields `array` (the device array), `device`,
    `requires_grad`, `_ctx` (the Function that made it; None for a leaf) and `_out_index`
    (which of that Function's outputs it is), and `_from_array(array, device)`, which wraps
    an array as a new Tensor. So this module, a layer below tensor.py, never imports it: it
    tells tensors from arrays by this class and makes new tensors with the `_from_array` of
    ones it was given (an op's outputs with that of its first Tensor input)."""


# Observers of every op (the debug trace and the profiler plug in here).
# Each is called as hook(phase, ctx, inputs, outputs, seconds), phase 'forward' or 'backward'.
op_hooks = []


class Function:
    """One differentiable op. Subclasses define

        forward(ctx, *arrays, **options) -> array or tuple of arrays
        backward(ctx, *grad_outputs)      -> one gradient (or None) per Tensor input

    Both work on raw device arrays (NumPy on the CPU); `ctx.xp` is the array namespace
    of the device and `ctx.backend` its kernels (`ctx.backend.conv2d(...)`, kernels/backend.py). For create_graph=True,

        graph_backward(ctx, *grad_outputs) -> the same gradients, from Tensors, with Tensor ops
    """

    differentiable = True

    def save_for_backward(self, *arrays):
        self.saved = arrays
        if _writes:
            self.saved_versions = tuple(version(a) for a in arrays)

    @property
    def xp(self):
        return self.device.xp

    @property
    def backend(self):
        return self.device.backend

    def graph_backward(self, *grads):
        raise RuntimeError(f"{type(self).__name__}: backward(create_graph=True) is not supported through this op "
                           "(it has no differentiable backward)")

    def output(self, i=0):
        """The op's i-th output Tensor (alive while the graph downstream of it is)."""
        return self.outputs[i]()

    def constant(self, array):
        """An array (a mask, a saved intermediate) as a Tensor outside the graph."""
        return self.parents[0]._from_array(array, self.device.name)

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, TensorBase)]
        if not tensors:
            raise TypeError(f"{cls.__name__}.apply: expected at least one Tensor among its arguments, got none")
        device = _common_device(cls.__name__, tensors)
        ctx = cls()
        ctx.device = device
        ctx.needs_input_grad = tuple(t.requires_grad for t in tensors)
        raw = [a.array if isinstance(a, TensorBase) else a for a in args]
        start = time.perf_counter() if op_hooks else 0.0
        out = ctx.forward(*raw, **kwargs)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        track = cls.differentiable and is_grad_enabled() and any(ctx.needs_input_grad)
        results = tuple(tensors[0]._from_array(o, ctx.device.name, requires_grad=track) for o in outs)
        if track:
            ctx.parents = tensors
            ctx.out_meta = tuple((o.shape, o.dtype) for o in outs)
            ctx.outputs = tuple(weakref.ref(r) for r in results)
            for i, r in enumerate(results):
                r._ctx, r._out_index = ctx, i
        if op_hooks:
            seconds = time.perf_counter() - start
            for hook in op_hooks:
                hook("forward", ctx, tensors, results, seconds)
        return results if multi else results[0]


# id(buffer) -> [weak reference to the buffer, in-place writes into it so far]
_writes = {}


def _buffer(array):
    """The memory an array views: a NumPy view's base, a GPU array's device buffer; None for
    what is not an array."""
    buf = getattr(array, "buf", None)
    if buf is not None:
        return buf
    if not isinstance(array, np.ndarray):
        return None
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def version(array):
    """How many in-place writes went into the array's buffer (views share their base's count)."""
    entry = _writes.get(id(_buffer(array)))
    return 0 if entry is None or entry[0]() is None else entry[1]


def bump_version(array):
    """Count one in-place write into the array's buffer."""
    buf = _buffer(array)
    entry = _writes.get(id(buf))
    if entry is None or entry[0]() is not buf:
        key = id(buf)
        entry = _writes[key] = [weakref.ref(buf, lambda _, key=key: _writes.pop(key, None)), 0]
    entry[1] += 1


def _check_versions(ctx):
    """Refuse to run ctx's backward on arrays written in place since it saved them."""
    saved = getattr(ctx, "saved", None) or ()
    expected = getattr(ctx, "saved_versions", None) or (0,) * len(saved)
    for array, then in zip(saved, expected):
        now = version(array)
        if now != then:
            raise RuntimeError(
                f"{type(ctx).__name__}.backward: one of the variables needed for gradient computation has been "
                f"modified by an inplace operation: an array of shape {tuple(array.shape)} it saved is at version "
                f"{now}; expected version {then} instead. Clone the tensor before writing into it, or write after "
                "backward()")


def _common_device(op, tensors):
    from .device import get_device

    names = {t.device for t in tensors}
    if len(names) > 1:
        shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in tensors)
        raise RuntimeError(f"{op}: expected all tensors on one device, got {shapes}")
    return get_device(names.pop())


def _topological_order(root_ctx):
    """Contexts reachable from root_ctx, each after every context that consumes its output.

    Iterative depth-first search with an explicit stack (no recursion limit)."""
    order, visited = [], set()
    stack = [(root_ctx, False)]
    while stack:
        ctx, children_done = stack.pop()
        if children_done:
            order.append(ctx)
            continue
        if id(ctx) in visited:
            continue
        visited.add(id(ctx))
        stack.append((ctx, True))
        for parent in ctx.parents:
            if parent._ctx is not None and id(parent._ctx) not in visited:
                stack.append((parent._ctx, False))
    return order[::-1]


class RemovableHandle:
    """What registering a hook returns: remove() takes the hook out of its list again."""

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def queue_callback(callback):
    """Run callback() when the backward sweep in progress on this thread has ended (after
    every gradient of the sweep is in place), in the order queued."""
    queue = getattr(_state, "callbacks", None)
    if queue is None:
        raise RuntimeError("queue_callback: no backward() is in progress on this thread")
    queue.append(callback)


def backward(root, grad, retain_graph=False, capture=None, create_graph=False):
    """Reverse-mode sweep from `root` (a Tensor) seeded with `grad` (an array). With
    `capture` ({id(tensor): [tensor, None]}, as autograd.grad passes it) the gradients of the
    tensors named there are summed into it instead, and no .grad changes. With create_graph
    the gradients are Tensors with graphs of their own (and the graph is kept)."""
    outer, _state.callbacks = getattr(_state, "callbacks", None), []
    try:
        if create_graph:
            with enable_grad():
                _sweep(root, root._from_array(grad, root.device), True, capture, True)
        else:
            _sweep(root, grad, retain_graph, capture, False)
        queue = _state.callbacks
        while queue:
            queue.pop(0)()
    finally:
        _state.callbacks = outer


def _hooked(leaf):
    return bool(getattr(leaf, "_hooks", None) or getattr(leaf, "_grad_hooks", None))


class _Leaves:
    """The leaves of one sweep. A leaf with hooks gets its contributions summed first (its
    last one is counted from the graph; one some of whose paths carried nothing is finished
    at the end of the sweep): its register_hook hooks see, and may replace, the sum, which
    then goes into .grad, and its post-accumulate-grad hooks run after."""

    def __init__(self, order, capture):
        self.capture, self.waiting, self.pending = capture, {}, {}
        for ctx in order:
            for parent in ctx.parents:
                if parent._ctx is None and parent.requires_grad and _hooked(parent):
                    self.waiting[id(parent)] = self.waiting.get(id(parent), 0) + 1

    def add(self, leaf, g):
        key = id(leaf)
        if self.capture is not None:
            if key in self.capture:
                _add_into(self.capture[key], g)
            return
        if key not in self.waiting:
            leaf._accumulate(g)
            return
        entry = self.pending.setdefault(key, [leaf, None])
        _add_into(entry, g)
        self.waiting[key] -= 1
        if self.waiting[key] == 0:
            _finish_leaf(*self.pending.pop(key))

    def finish(self):
        for leaf, total in list(self.pending.values()):
            _finish_leaf(leaf, total)


def _add_into(entry, g):
    entry[1] = g if entry[1] is None else entry[1] + g


def _finish_leaf(leaf, total):
    total = _run_tensor_hooks(leaf, total)
    leaf._accumulate(total)
    for hook in list(getattr(leaf, "_grad_hooks", ())):
        hook(leaf)


def _run_tensor_hooks(tensor, g):
    """g after the tensor's register_hook hooks: each sees the gradient, and one that returns a
    tensor replaces it."""
    graph = isinstance(g, TensorBase)
    for hook in list(getattr(tensor, "_hooks", ())):
        new = hook(g if graph else tensor._from_array(g, tensor.device))
        if new is not None:
            g = new if graph else new.array
    return g


def _watched_outputs(ctx, outs, given, capture):
    """The outputs of ctx that hooks, retain_grad or autograd.grad watch get their gradient
    (one that was given, not a zero stand-in): hooks may replace it; retain_grad keeps it."""
    for i, ref in getattr(ctx, "watched", {}).items():
        tensor = ref()
        if tensor is None or given[i] is None:
            continue
        if capture is not None:
            if id(tensor) in capture:
                _add_into(capture[id(tensor)], outs[i])
            continue
        outs[i] = _run_tensor_hooks(tensor, outs[i])
        if getattr(tensor, "_retain", False):
            tensor._accumulate(outs[i])


def _sweep(root, grad, retain_graph, capture, graph):
    """The chain rule over the graph, on arrays, or with graph=True on Tensors (create_graph)."""
    if root._ctx is None:
        if capture is None:
            _finish_leaf(root, grad)
        elif id(root) in capture:
            _add_into(capture[id(root)], grad)
        return
    grads = {id(root._ctx): [None] * len(root._ctx.out_meta)}
    grads[id(root._ctx)][root._out_index] = grad
    order = _topological_order(root._ctx)
    leaves = _Leaves(order, capture)
    for ctx in order:
        if getattr(ctx, "freed", False):
            raise RuntimeError(
                f"{type(ctx).__name__}: trying to backward through the graph a second time; "
                "its saved arrays were freed. Pass retain_graph=True to the first backward()."
            )
        outs = grads.pop(id(ctx), None)
        if outs is None:
            continue
        if _writes:
            _check_versions(ctx)
        xp = ctx.device.xp
        given, outs = outs, [g if g is not None else xp.zeros(shape, dtype) for g, (shape, dtype) in zip(outs, ctx.out_meta)]
        if graph:
            outs = [g if isinstance(g, TensorBase) else ctx.constant(g) for g in outs]
        if getattr(ctx, "watched", None):
            _watched_outputs(ctx, outs, given, capture)
        start = time.perf_counter() if op_hooks else 0.0
        in_grads = ctx.graph_backward(*outs) if graph else ctx.backward(*outs)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if op_hooks:
            seconds = time.perf_counter() - start
            for hook in op_hooks:
                hook("backward", ctx, ctx.parents, in_grads, seconds)
        for parent, g in zip(ctx.parents, in_grads):
            if g is None or not parent.requires_grad:
                continue
            if isinstance(g, TensorBase) and not graph:
                g = g.array
            if tuple(g.shape) != tuple(parent.shape):
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward returned a gradient of shape {tuple(g.shape)} "
                    f"for an input of shape {tuple(parent.shape)}"
                )
            if parent._ctx is None:
                leaves.add(parent, g)
            else:
                slot = grads.setdefault(id(parent._ctx), [None] * len(parent._ctx.out_meta))
                i = parent._out_index
                slot[i] = g if slot[i] is None else slot[i] + g
        if not retain_graph:
            ctx.saved = None
            ctx.freed = True
    leaves.finish()
