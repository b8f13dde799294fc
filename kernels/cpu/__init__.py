"""Numba CPU kernels. `KERNELS` maps each kernel's name to the module that defines it."""

KERNELS = {
    "matmul": "matmul",
    "erf": "elementwise",
}
