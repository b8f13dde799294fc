"""The CUDA backend: the contract of kernels/backend.py bound to the @cuda.jit kernels, on
CudaArrays. Importing it imports numba.cuda (the simulator's, with NUMBA_ENABLE_CUDASIM=1).

Besides the kernels, the device layer finds here what it needs to hold arrays on the GPU:
`xp`, the NumPy-like namespace ops use for simple work (kernels/cuda/xp.py); `constant`, a
number as a shared read-only device array; `uniform`, random numbers drawn on the GPU;
`is_available` and `simulated`, whether there is a GPU (or the simulator) and which."""
from ..backend import Backend
from . import array, conv, index, launch, loss, movement, optim, pool, random, reduce, resample, rnn, xp
from .activation import activation, activation_backward
from .matmul import matmul


class CUDA(Backend):
    name = "cuda"

    xp = xp
    simulated = launch.SIMULATED
    is_available = staticmethod(launch.cuda.is_available)
    constant = staticmethod(array.CudaArray.constant)
    uniform = staticmethod(random.uniform)

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

    lstm_forward = rnn.lstm_forward
    lstm_backward = rnn.lstm_backward
    gru_forward = rnn.gru_forward
    gru_backward = rnn.gru_backward
    rnn_forward = rnn.rnn_forward
    rnn_backward = rnn.rnn_backward

    sgd_step = optim.sgd_step
    adam_step = optim.adam_step
    rmsprop_step = optim.rmsprop_step

    cross_entropy = loss.cross_entropy
    cross_entropy_backward = loss.cross_entropy_backward
    argmax = reduce.argmax
    softmax = reduce.softmax
    softmax_backward = reduce.softmax_backward
    embedding = movement.embedding
    embedding_backward = movement.embedding_backward
    take_rows = movement.take_rows
    take_rows_backward = movement.take_rows_backward
    gather_along = index.gather_along
    scatter_along = index.scatter_along
    scan = index.scan
    argsort = index.argsort
