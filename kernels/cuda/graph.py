"""CUDA graphs: record the launches of a whole step once, then replay them with one call.

A numba-cuda launch costs tens of microseconds of host time; a replayed graph costs about
one microsecond per kernel. While a `Capture` is active (`begin` .. `end`), `launch.launch`
hands every launch to it instead of running it:
  * on a GPU, the launch is made into a cuda.core `GraphBuilder` capturing a stream, which
    numba-cuda accepts where a stream goes; `end` instantiates the graph, and `replay`
    launches it on the legacy default stream, where every eager kernel also runs, so a
    replay is ordered after the copies that filled its inputs and before what reads it;
  * in Numba's simulator, which has no graphs, the launch (kernel, configuration,
    arguments) is stored, and `replay` runs the stored launches in order.
Either way nothing runs during capture, and a replay reads and writes exactly the buffers
the capture saw. So those buffers must outlive the graph: memory allocated during capture
comes from the capture's own pool (memory.py) and stays with it; cached constants are held;
buffers that tensors from before the capture own are watched, and replaying after one of
them was freed is an error rather than a write into memory someone else now has.
"""
import weakref

import numpy as np

from . import launch, memory
from .launch import SIMULATED


class Capture:
    def __init__(self):
        self.pool = memory.Pool()  # buffers allocated during capture: the graph's own
        self.launches = []  # simulator: (kernel, blocks, threads, args), in order
        self.count = 0  # launches recorded
        self.held = {}  # id -> constant Block or module-made buffer the graph keeps alive
        self.watched = {}  # id -> weak reference to a Block owned outside the graph
        self.before_replay = []  # host callbacks run before each replay (hyper-parameters)
        self.graph = None
        self._builder = None

    def begin(self):
        if launch.capturing() is not None:
            raise RuntimeError("CUDAGraph.capture_begin: a capture is already in progress; captures do not nest")
        if not SIMULATED:
            from cuda.core import Device

            device = Device()
            device.set_current()
            # A non-blocking stream: the synchronous copies of constants made during capture
            # (legacy default stream) must not have to wait for the stream being captured.
            self._stream = device.create_stream()
            self._builder = self._stream.create_graph_builder()
            # Numba frees memory lazily, in batches; a free would stall the capture.
            self._no_frees = launch.cuda.defer_cleanup()
            self._no_frees.__enter__()
            self._builder.begin_building("relaxed")
        launch.set_capturing(self)

    def record(self, kernel, blocks, threads, args):
        for arg in args:
            self._keep(arg)
        self.count += 1
        if SIMULATED:
            self.launches.append((kernel, blocks, threads, args))
        else:
            launch.configure(kernel, blocks, threads, self._builder)(*args)

    def _keep(self, arg):
        if isinstance(arg, tuple):  # the multi-tensor kernels take tuples of buffers
            for item in arg:
                self._keep(item)
            return
        if isinstance(arg, (int, float, np.generic)):
            return
        block = memory.owner(arg)
        if block is None:  # a buffer a kernel module made itself (a cached upload, a scratch)
            self.held[id(arg)] = arg
        elif block.pool is self.pool:
            return
        elif block.constant:
            self.held[id(block)] = block
        else:
            self.watched[id(block)] = weakref.ref(block)

    def end(self):
        launch.set_capturing(None)
        if not SIMULATED:
            try:
                self._builder.end_building()
                self.graph = self._builder.complete()
            finally:
                self._release()

    def abort(self):
        """Stop capturing after an error; nothing recorded is kept."""
        launch.set_capturing(None)
        if self._builder is not None:
            try:
                self._builder.end_building()
            except Exception:  # noqa: BLE001  (the error that stopped the capture is the one to report)
                pass
            self._release()
        self.launches.clear()
        self.count = 0

    def _release(self):
        self._builder = None
        self._no_frees.__exit__(None, None, None)

    def replay(self):
        if launch.capturing() is not None:
            raise RuntimeError("CUDAGraph.replay: cannot replay a graph while another one is being captured")
        for ref in self.watched.values():
            if ref() is None:
                raise RuntimeError(
                    "CUDAGraph.replay: a GPU buffer the captured step reads or writes was freed after capture "
                    "(a tensor from before the capture: a parameter, a static input, optimiser state). Keep "
                    "every tensor the step uses alive while its graph is replayed, or capture again"
                )
        for callback in self.before_replay:
            callback()
        if SIMULATED:
            for kernel, blocks, threads, args in self.launches:
                launch.simulate(kernel, blocks, threads, args)
        else:
            from cuda.core import LEGACY_DEFAULT_STREAM

            self.graph.launch(LEGACY_DEFAULT_STREAM)


def current():
    """This thread's capture in progress, or None."""
    return launch.capturing()
