"""Several Python threads using the framework at once get exactly the numbers each would get
alone, on both devices: the CPU kernels' scratch belongs to the thread that runs them, and the
simulated GPU runs one kernel at a time (a GPU's stream does too)."""
import threading

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim

# Per device: threads, steps each, channels, image size (the simulated GPU runs its kernels
# as Python, one thread per GPU thread: less of everything there)
SIZES = {"cpu": (4, 6, 8, 10), "cuda": (2, 1, 2, 4)}


def _workload(seed, device="cpu", channels=8, size=10):
    """A closure running one step of convolution, pooling, an LSTM and a CNN training step,
    returning every number it made; each seed its own data and model."""
    rng = np.random.default_rng(seed)
    tg.manual_seed(seed)
    c, s = channels, size
    x = Tensor(rng.standard_normal((3, c, s, s)).astype(np.float32), device=device, requires_grad=True)
    w = Tensor(rng.standard_normal((c, c, 3, 3)).astype(np.float32), device=device, requires_grad=True)
    seq = Tensor(rng.standard_normal((5, 3, 4)).astype(np.float32), device=device)
    lstm = nn.LSTM(4, 6).to(device)
    cnn = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(c * (s // 2) ** 2, 3)).to(device)
    opt = optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9)
    labels = Tensor(rng.integers(0, 3, 3), device=device)

    def step():
        x.grad = w.grad = None
        y = F.max_pool2d(F.conv2d(x, w, padding=1).relu(), 2)
        y.sum().backward()
        out, _ = lstm(seq)
        loss = F.cross_entropy(cnn(x.detach()), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return [y.numpy(), x.grad.numpy(), w.grad.numpy(), out.numpy(), loss.numpy()] + [p.numpy() for p in cnn.parameters()]

    return step


def _run(step, steps, seed, results):
    results[seed] = [step() for _ in range(steps)]


@pytest.mark.parametrize("device", SIZES)
def test_threads_running_at_once_get_the_numbers_they_get_alone(device):
    """The workloads are built one after another (the global random state is one stream, as
    in PyTorch), then stepped alone and at once from fresh copies."""
    if device == "cuda" and not tg.cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    count, steps, channels, size = SIZES[device]
    alone = {}
    for seed in range(count):
        _run(_workload(seed, device, channels, size), steps, seed, alone)
    workloads = [_workload(seed, device, channels, size) for seed in range(count)]
    together = {}
    threads = [threading.Thread(target=_run, args=(workloads[seed], steps, seed, together)) for seed in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(count):
        for got, want in zip(together[seed], alone[seed]):
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
