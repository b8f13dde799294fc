"""Numba CPU kernels. `KERNELS` maps each kernel's name to the module that defines it."""

KERNELS = {
    "matmul": "matmul",
    "erf": "elementwise",
    "relu": "activation",
    "relu_backward": "activation",
    "lstm_forward": "rnn",
    "lstm_backward": "rnn",
    "gru_forward": "rnn",
    "gru_backward": "rnn",
    "rnn_forward": "rnn",
    "rnn_backward": "rnn",
    "conv2d": "conv",
    "conv2d_backward_input": "conv",
    "conv2d_backward_weight": "conv",
    "take_rows": "gather",
    "take_rows_backward": "gather",
    "max_pool2d": "pool",
    "max_pool2d_backward": "pool",
    "avg_pool2d": "pool",
    "avg_pool2d_backward": "pool",
}
