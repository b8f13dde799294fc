"""Uniform random numbers made on the GPU, so that a captured step draws new ones on every
replay instead of the numbers of the capture.

A counter-based generator: element i of a draw is a hash of (seed, counter + i), so the
threads share no state and any element can be made alone. The generator's state is a device
array [seed, counter]; `uniform` fills an array from it and then advances the counter by the
draw's size in a second launch, which a captured graph repeats on every replay. The hash is
Wellons' lowbias32, applied in rounds that mix the seed with both halves of the counter; its
32-bit products are taken in 64-bit integers and masked, so nothing ever overflows (NumPy, which
runs the kernels in the simulator, would warn).
"""
import numpy as np

from .launch import cuda, grid, launch

LOW = np.uint64(0xFFFFFFFF)
C1, C2 = np.uint64(0x7FEB352D), np.uint64(0x846CA68B)
S8, S11, S15, S16, S21, S32 = (np.uint64(s) for s in (8, 11, 15, 16, 21, 32))


@cuda.jit(device=True)
def _hash32(x):
    x ^= x >> S16
    x = (x * C1) & LOW
    x ^= x >> S15
    x = (x * C2) & LOW
    return x ^ (x >> S16)


@cuda.jit(cache=True)
def uniform_kernel(n, out, o0, state, wide):
    """out[o0 + i] in [0, 1): 24 random bits (float32), 53 when `wide` (float64)."""
    seed, counter = state[0], state[1]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        c = counter + np.uint64(i)
        key = _hash32((seed & LOW) ^ _hash32(c >> S32))
        h = _hash32(_hash32((c & LOW) ^ key) ^ (seed >> S32))
        if wide:
            low = _hash32(h ^ key)
            out[o0 + i] = ((h << S21) ^ (low >> S11)) * 1.1102230246251565e-16  # 2**-53
        else:
            out[o0 + i] = (h >> S8) * 5.960464477539063e-08  # 2**-24


@cuda.jit(cache=True)
def advance_kernel(state, n):
    if cuda.grid(1) == 0:
        state[1] += np.uint64(n)


def uniform(out, state):
    """Fill the contiguous float array `out` with uniform numbers from the generator `state`
    (a uint64 device array [seed, counter]) and advance it."""
    n = out.size
    if n == 0:
        return
    launch(uniform_kernel, *grid(n), n, out.buf, out.offset, state.buf, out.dtype == np.float64)
    launch(advance_kernel, 1, 1, state.buf, n)
