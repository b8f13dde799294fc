"""Numba CUDA kernels, the same names as the CPU's in `KERNELS`, on CudaArrays.

Besides the kernel table, `xp` is the device's NumPy-like namespace (elementwise math
with broadcasting, tree reductions, views, gathers and scatters), built on `array.CudaArray`.
Importing this package imports `numba.cuda`; with `NUMBA_ENABLE_CUDASIM=1` set, the kernels
run in Numba's CUDA simulator instead of on a GPU.
"""

KERNELS = {
    "matmul": "matmul",
    "activation": "activation",
    "activation_backward": "activation",
    "conv2d": "conv",
    "conv2d_backward_input": "conv",
    "conv2d_backward_weight": "conv",
    "conv2d_backward": "conv",
    "sgd_step": "optim",
    "adam_step": "optim",
    "rmsprop_step": "optim",
    "cross_entropy": "loss",
    "cross_entropy_backward": "loss",
    "pointwise_loss": "loss",
    "pointwise_loss_backward": "loss",
    "argmax": "reduce",
    "softmax": "reduce",
    "softmax_backward": "reduce",
    "embedding": "movement",
    "embedding_backward": "movement",
    "take_rows": "movement",
    "take_rows_backward": "movement",
    "max_pool2d": "pool",
    "max_pool2d_backward": "pool",
    "avg_pool2d": "pool",
    "avg_pool2d_backward": "pool",
    "along_axis": "resample",
    "lstm_forward": "rnn",
    "lstm_backward": "rnn",
    "gru_forward": "rnn",
    "gru_backward": "rnn",
    "rnn_forward": "rnn",
    "rnn_backward": "rnn",
    "gather_along": "index",
    "scatter_along": "index",
    "scan": "index",
    "argsort": "index",
}
