"""Kernels: functions that take and return arrays, one sub-package per device.

`backend.py` is the contract: every entry point the ops call, with its arguments and
shapes. `cpu/` holds Numba `@njit` kernels and `cuda/` the `@cuda.jit` kernels with the same
names; each binds the contract in its own `backend.py`. The device layer imports a backend
when a kernel is first used, so importing tinygrad_nb compiles nothing.
"""
