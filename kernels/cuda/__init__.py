"""Numba CUDA kernels on CudaArrays, the CPU's entry points under the same names, bound in
kernels/cuda/backend.py. Importing this package imports nothing; the backend imports
`numba.cuda` (with NUMBA_ENABLE_CUDASIM=1 set, the kernels run in Numba's CUDA simulator).
`xp.py` is the device's NumPy-like namespace, built on `array.CudaArray`."""
