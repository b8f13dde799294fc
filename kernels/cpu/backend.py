"""The CPU backend: the contract of kernels/backend.py bound to the @njit kernels, on NumPy arrays."""
from ..backend import Backend
from . import conv, elman, gather, gru, index, loss, lstm, optim, pool, reduce, resample
from .activation import activation, activation_backward
from .matmul import matmul


class CPU(Backend):
    name = "cpu"

    matmul = matmul

    activation = activation
    activation_backward = activation_backward
    pointwise_loss = loss.pointwise_loss
    pointwise_loss_backward = loss.pointwise_loss_backward

    conv2d = conv.conv2d
    conv2d_backward_input = conv.conv2d_backward_input
    conv2d_backward_weight = conv.conv2d_backward_weight
    conv2d_backward = conv.conv2d_backward
    channel_sums = conv.channel_sums
    max_pool2d = pool.max_pool2d
    max_pool2d_backward = pool.max_pool2d_backward
    avg_pool2d = pool.avg_pool2d
    avg_pool2d_backward = pool.avg_pool2d_backward
    along_axis = resample.along_axis

    lstm_forward = lstm.lstm_forward
    lstm_backward = lstm.lstm_backward
    gru_forward = gru.gru_forward
    gru_backward = gru.gru_backward
    rnn_forward = elman.rnn_forward
    rnn_backward = elman.rnn_backward

    sgd_step = optim.sgd_step
    adam_step = optim.adam_step
    rmsprop_step = optim.rmsprop_step

    cross_entropy = loss.cross_entropy
    cross_entropy_backward = loss.cross_entropy_backward
    argmax = reduce.argmax
    softmax = reduce.softmax
    softmax_backward = reduce.softmax_backward
    embedding = gather.embedding
    embedding_backward = gather.embedding_backward
    take_rows = gather.take_rows
    take_rows_backward = gather.take_rows_backward
    gather_along = index.gather_along
    scatter_along = index.scatter_along
    scan = index.scan
    argsort = index.argsort
