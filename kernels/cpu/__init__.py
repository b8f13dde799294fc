"""Numba CPU kernels: @njit functions on NumPy arrays. The ops reach them through the
backend object of kernels/cpu/backend.py, which binds the contract of kernels/backend.py."""
