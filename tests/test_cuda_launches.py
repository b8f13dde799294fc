"""How many kernels a training step launches on the 'cuda' device. On a GPU each launch costs
tens of microseconds of host time, so the count is a budget: a LeNet-shaped SGD-momentum step
(Conv-ReLU-Pool twice, Flatten, Linear-ReLU-Linear, cross-entropy) makes at most 31, at any
batch size. A step is counted by capturing it as a CUDA graph (graph.num_kernels), which
records every launch; in the simulator that is deterministic, so the budgets hold on every
machine."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

from tinygrad_nb.kernels.cuda import launch  # noqa: E402

LENET_BUDGET = 31


def _launches(step):
    """Kernel launches of one step, after an eager warm-up."""
    step()
    graph = tg_cuda.CUDAGraph()
    with tg_cuda.graph(graph):
        step()
    return graph.num_kernels


@pytest.mark.parametrize("batch", [2, 16])
def test_a_lenet_sgd_step_stays_within_its_launch_budget(batch):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3)).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((batch, 1, 8, 8)).astype(np.float32), device="cuda")
    y = Tensor(rng.integers(0, 3, batch), device="cuda")

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    assert _launches(step) <= LENET_BUDGET


# A recurrent layer's training step (forward, .sum(), backward): two launches each way for the
# layer (the input product and the persistent kernel; the persistent kernel and the weight
# gradients' product); around them, the zero initial state, stacking the final states (h_n,
# and c_n), the sum and its seed, and zero gradients for the final states the loss skips.
RECURRENT_BUDGETS = {"LSTM": 12, "GRU": 10, "RNN": 10}


@pytest.mark.parametrize("kind", RECURRENT_BUDGETS)
def test_a_recurrent_step_launches_the_same_kernels_at_any_sequence_length(kind):
    """Each layer runs the whole sequence in one kernel each way: a step launches as many
    kernels at T = 5 as at T = 20."""
    counts = {}
    for steps in (5, 20):
        layer = getattr(nn, kind)(3, 4).to("cuda")
        x = Tensor(np.ones((steps, 2, 3), np.float32), device="cuda")

        def step():
            layer.zero_grad()
            out, _ = layer(x)
            out.sum().backward()

        counts[steps] = _launches(step)
    assert counts[5] == counts[20] <= RECURRENT_BUDGETS[kind]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_recurrent_layer_launches_two_kernels_forward_and_three_backward(cell):
    """Per layer and direction: the input product and the persistent kernel forward; the
    persistent kernel, the weight gradients' product and the input gradient's backward, with
    the inputs read in place: a batch_first view, a broadcast output gradient, reversed."""
    from tinygrad_nb.kernels.cuda import rnn
    from tinygrad_nb.kernels.cuda.array import CudaArray

    rng = np.random.default_rng(0)
    T, B, I, H, G = 3, 2, 3, 4, {"lstm": 4, "gru": 3, "rnn": 1}[cell]

    def up(*shape):
        return CudaArray.from_host(rng.standard_normal(shape).astype(np.float32))

    x, d_out = up(B, T, I).transpose(1, 0, 2), up(1, B, H).broadcast_to((T, B, H))
    h0, dh_n, w_ih, w_hh, b_ih, b_hh = up(B, H), up(B, H), up(G * H, I), up(G * H, H), up(G * H), up(G * H)
    forward = {"lstm": lambda: rnn.lstm_forward(x, h0, h0, w_ih, w_hh, b_ih, b_hh, True),
               "gru": lambda: rnn.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, True),
               "rnn": lambda: rnn.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, False, True)}[cell]
    saved = forward()
    backward = {"lstm": lambda: rnn.lstm_backward(x, w_ih, w_hh, *saved, d_out, dh_n, dh_n, True, True),
                "gru": lambda: rnn.gru_backward(x, w_ih, w_hh, *saved, d_out, dh_n, True, True),
                "rnn": lambda: rnn.rnn_backward(x, w_ih, w_hh, saved, d_out, dh_n, False, True, True)}[cell]
    assert (_launches(forward), _launches(backward)) == (2, 3)


def test_small_grids_do_not_warn(recwarn):
    """numba-cuda warns (with its own warning class) when a grid has few blocks; a small
    tensor is the user's choice, so configuring a launch keeps that warning to itself."""
    NumbaPerformanceWarning = pytest.importorskip("numba.cuda.core.errors").NumbaPerformanceWarning

    class Kernel:
        def __getitem__(self, config):
            warnings.warn(NumbaPerformanceWarning("Grid size 1 will likely result in GPU under-utilization due to low occupancy."))
            return lambda *args: None

    launch.configure(Kernel(), 1, 1)
    assert not [w for w in recwarn if "under-utilization" in str(w.message)]


LEAN_CHECK = textwrap.dedent("""
    import ctypes, types
    import numpy as np
    import numba
    import numba.cuda.dispatcher as dispatcher
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from tinygrad_nb.kernels.cuda.lean import _key, _pack, _plain

    class Kernel:  # numba's own packing, run on our arguments
        extensions = []
        _prepare_args = dispatcher._Kernel._prepare_args

    def device_array(n, dtype, address):  # a device array over a made-up address: nothing touches a GPU
        memory = types.SimpleNamespace(device_ctypes_pointer=ctypes.c_void_p(address), size=n * 8)
        return DeviceNDArray((n,), (np.dtype(dtype).itemsize,), np.dtype(dtype), gpu_data=memory)

    a, b = device_array(10, np.float32, 0x7F0000001000), device_array(3, np.int64, 0x7F0000002000)
    args = (a, 7, 2.5, True, np.float32(0.5), np.int64(-3), (4, 5), (a, a), (a.dtype.type(0), 1))
    theirs, ours = [], []
    for value in args:
        ty = numba.typeof(value)
        Kernel()._prepare_args(ty, value, 0, [], theirs)
        _pack(ty, value, ours)
    assert [_plain(p) for p in ours] == [_plain(p) for p in theirs], (ours, theirs)
    assert _key((a, 7)) == _key((a, 8)) != _key((b, 7)) != _key((a, 7.0))
    print("same")
""")


def test_the_lean_launcher_packs_arguments_as_numba_does(tmp_path):
    """The lean launcher (kernels/cuda/lean.py) replaces numba-cuda's argument packing on a GPU;
    here its packing is compared with numba-cuda's own for the argument kinds our kernels take.
    numba-cuda proper, not its simulator, so in a process of its own."""
    pytest.importorskip("numba.cuda.cudadrv.devicearray")
    script = tmp_path / "lean_check.py"
    script.write_text(LEAN_CHECK)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr[-2000:]


POOLS = {"max": lambda x: F.max_pool2d(x, 3, 2, 1), "avg": lambda x: F.avg_pool2d(x, 3, 2, 1),
         "adaptive": lambda x: F.adaptive_avg_pool2d(x, (4, 3))}


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("strided", [False, True])
def test_pooling_launches_one_kernel_each_way(pool, strided):
    """Forward and backward of each pooling are one launch each, also when the input and the
    incoming gradient are transposed views (read in place, not copied first); a
    .sum().backward() seed adds three (the sum, its ones, their broadcast copy)."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 8, 7)).astype(np.float32), device="cuda", requires_grad=True)
    view = (lambda t: t.transpose(2, 3)) if strided else (lambda t: t)  # its own inverse
    shape = view(POOLS[pool](view(x))).shape
    gy = view(Tensor(rng.standard_normal(shape).astype(np.float32), device="cuda"))

    def step():
        x.grad = None
        POOLS[pool](view(x)).backward(gy)

    def seeded():
        x.grad = None
        POOLS[pool](view(x)).sum().backward()

    assert _launches(step) == 2
    assert _launches(seeded) == 5
