"""Numba CPU kernels. `KERNELS` maps each kernel's name to the module that defines it."""

KERNELS = {
    "matmul": "matmul",
    "erf": "elementwise",
    "conv2d": "conv",
    "conv2d_backward_input": "conv",
    "conv2d_backward_weight": "conv",
    "max_pool2d": "pool",
    "max_pool2d_backward": "pool",
    "avg_pool2d": "pool",
    "avg_pool2d_backward": "pool",
}
