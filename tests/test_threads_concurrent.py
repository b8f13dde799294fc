"""Several Python threads using the framework at once get exactly the numbers each would get
alone: the kernels' scratch arrays belong to the thread that runs them."""
import threading

import numpy as np

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim

THREADS, STEPS = 4, 6


def _workload(seed):
    """A closure running one step of convolution, pooling, an LSTM and a CNN training step,
    returning every number it made; each seed its own data and model."""
    rng = np.random.default_rng(seed)
    tg.manual_seed(seed)
    x = Tensor(rng.standard_normal((3, 8, 10, 10)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), requires_grad=True)
    seq = Tensor(rng.standard_normal((5, 3, 4)).astype(np.float32))
    lstm = nn.LSTM(4, 6)
    cnn = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(200, 3))
    opt = optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9)
    labels = Tensor(rng.integers(0, 3, 3))

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


def _run(step, seed, results):
    results[seed] = [step() for _ in range(STEPS)]


def test_threads_running_at_once_get_the_numbers_they_get_alone():
    """The workloads are built one after another (the global random state is one stream, as
    in PyTorch), then stepped alone and at once from fresh copies."""
    alone = {}
    for seed in range(THREADS):
        _run(_workload(seed), seed, alone)
    steps = [_workload(seed) for seed in range(THREADS)]
    together = {}
    threads = [threading.Thread(target=_run, args=(steps[seed], seed, together)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(THREADS):
        for got, want in zip(together[seed], alone[seed]):
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
