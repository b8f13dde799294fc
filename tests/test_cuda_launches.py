"""How many kernels a training step launches on the 'cuda' device. On a GPU each launch costs
tens of microseconds of host time, so the count is a budget: a LeNet-shaped SGD-momentum step
(Conv-ReLU-Pool twice, Flatten, Linear-ReLU-Linear, cross-entropy) makes at most 40, at any
batch size. A step is counted by capturing it as a CUDA graph (graph.num_kernels), which
records every launch; in the simulator that is deterministic, so the budgets hold on every
machine."""
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

LENET_BUDGET = 40


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


def test_an_lstm_step_launches_a_fixed_number_of_kernels_plus_four_per_time_step():
    """The recurrent kernels' own launches (two per step each way) are the GPU-kernels issue's
    to remove; around them, the step's other launches stay within 17."""
    counts = {}
    for steps in (3, 5):
        layer = nn.LSTM(3, 4).to("cuda")
        x = Tensor(np.ones((steps, 2, 3), np.float32), device="cuda")

        def step():
            layer.zero_grad()
            out, _ = layer(x)
            out.sum().backward()

        counts[steps] = _launches(step)
    per_step = (counts[5] - counts[3]) // 2
    assert per_step == 4 and counts[3] - 3 * per_step <= 17


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
