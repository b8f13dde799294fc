"""`tg.cpu`: the CPU kernels' cached memory, as tg.cuda has the GPU's.

The CPU kernels keep arrays for reuse (kernels/cpu/buffers.py): outputs that come back to
a pool once nothing refers to them, and each thread's scratch. A large convolution can
leave gigabytes there; `empty_cache()` hands them back."""


def empty_cache():
    """Release the arrays the CPU kernels keep for reuse: the pool's, and the calling
    thread's scratch (other threads keep theirs until they end). Arrays tensors still
    hold stay theirs."""
    from .kernels.cpu import buffers

    buffers.release()


def memory_cached():
    """Bytes the CPU kernels keep for reuse (in the pool, and the calling thread's scratch)."""
    from .kernels.cpu import buffers

    return buffers.cached_bytes()
