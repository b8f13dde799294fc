"""Kernels: functions that take and return arrays, one sub-package per device.

`cpu/` holds Numba `@njit` kernels, `cuda/` the `@cuda.jit` kernels with the same names.
Each sub-package lists its kernels in `KERNELS` (kernel name -> module); the device layer
imports a module only when one of its kernels is first used, so importing tinygrad_nb
compiles nothing.
"""
