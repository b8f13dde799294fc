"""GPU benchmarks: tinygrad_nb's 'cuda' device side by side with PyTorch on the same GPU.

The workloads of test_bench_cnn.py and test_bench_rnn.py, plus the float32 matrix product
at 1024 and 4096 (TFLOP/s in extra_info), run on the GPU; the LeNet step at batch 256 also runs on tinygrad_nb's CPU backend
(in a worker process), for the GPU-against-CPU ratio. The training steps also run as one
captured CUDA graph, replayed (`tinygrad-graph`), beside the eager step (`tinygrad`). Every step ends by waiting for the
GPU (kernels are asynchronous), so the times are whole steps. PyTorch runs with TF32 off,
so both sides do true float32 arithmetic. Skipped without an NVIDIA GPU (the CUDA simulator
is far too slow to time). Run with:  pytest bench/test_bench_cuda.py --benchmark-only
"""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from models import lenet
from test_bench_cnn import CONV, POOL, _data, tinygrad_lenet
from test_bench_rnn import CELLS, SIZES
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb import cuda as tg_cuda

pytestmark = pytest.mark.skipif(not tg_cuda.driver_has_gpu(), reason="needs an NVIDIA GPU")

MATMUL_SIZES = (1024, 4096)
LENET_BATCHES = (64, 256)


def _synchronize():
    from numba import cuda

    cuda.synchronize()


def _on_gpu(step):
    """The step, then a wait for the GPU to finish it."""

    def timed():
        step()
        _synchronize()

    return timed


# ---- tinygrad_nb on the GPU (this process) ------------------------------------------------
def tinygrad_matmul(n):
    a, b = Tensor(_data(n, n), device="cuda"), Tensor(_data(n, n, seed=1), device="cuda")
    return _on_gpu(tg.no_grad()(lambda: a @ b))


def tinygrad_conv(n, c, size, filters):
    x = Tensor(_data(n, c, size, size), device="cuda", requires_grad=True)
    w = Tensor(_data(filters, c, 3, 3, seed=1) * 0.05, device="cuda", requires_grad=True)
    b = Tensor(_data(filters, seed=2), device="cuda", requires_grad=True)
    gy = Tensor(_data(n, filters, size, size, seed=3), device="cuda")

    def step():
        for t in (x, w, b):
            t.grad = None
        F.conv2d(x, w, b, padding=1).backward(gy)

    return _on_gpu(step)


def tinygrad_pool(n, c, size):
    x = Tensor(_data(n, c, size, size), device="cuda", requires_grad=True)
    gy = Tensor(_data(n, c, size // 2, size // 2, seed=1), device="cuda")

    def step():
        x.grad = None
        F.max_pool2d(x, 2).backward(gy)

    return _on_gpu(step)


def _graphed(step):
    """The step captured as a CUDA graph after one eager warm-up run; timed by its replay."""
    step()
    graph = tg_cuda.CUDAGraph()
    with tg_cuda.graph(graph):
        step()
    return _on_gpu(graph.replay)


def tinygrad_lenet_cuda(batch, graphed=False):
    tg.manual_seed(0)
    model = lenet(nn).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01)
    x, labels = Tensor(_data(batch, 1, 28, 28), device="cuda"), np.random.default_rng(0).integers(0, 10, batch)

    labels = Tensor(labels, device="cuda")

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()

    return _graphed(step) if graphed else _on_gpu(step)


def tinygrad_rnn(cell, T, B, I, H, graphed=False):
    tg.manual_seed(0)
    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](I, H).to("cuda")
    x = Tensor(np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32), device="cuda")

    def step():
        layer.zero_grad()
        out, _ = layer(x)
        out.sum().backward()

    return _graphed(step) if graphed else _on_gpu(step)


# ---- PyTorch on the GPU (worker process; torch is imported only there) --------------------
def _torch():
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def _torch_on_gpu(torch, step):
    def timed():
        step()
        torch.cuda.synchronize()

    return timed


def torch_matmul(n):
    torch = _torch()
    a, b = (torch.from_numpy(_data(n, n, seed=s)).cuda() for s in (0, 1))
    return _torch_on_gpu(torch, lambda: a @ b)


def torch_conv(n, c, size, filters):
    torch = _torch()
    x, w, b = (torch.from_numpy(a).cuda().requires_grad_(True) for a in
               (_data(n, c, size, size), _data(filters, c, 3, 3, seed=1) * 0.05, _data(filters, seed=2)))
    gy = torch.from_numpy(_data(n, filters, size, size, seed=3)).cuda()

    def step():
        for t in (x, w, b):
            t.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=1).backward(gy)

    return _torch_on_gpu(torch, step)


def torch_pool(n, c, size):
    torch = _torch()
    x = torch.from_numpy(_data(n, c, size, size)).cuda().requires_grad_(True)
    gy = torch.from_numpy(_data(n, c, size // 2, size // 2, seed=1)).cuda()

    def step():
        x.grad = None
        torch.nn.functional.max_pool2d(x, 2).backward(gy)

    return _torch_on_gpu(torch, step)


def torch_lenet(batch):
    torch = _torch()
    torch.manual_seed(0)
    model = lenet(torch.nn).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.from_numpy(_data(batch, 1, 28, 28)).cuda()
    labels = torch.from_numpy(np.random.default_rng(0).integers(0, 10, batch)).cuda()

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()

    return _torch_on_gpu(torch, step)


def torch_rnn(cell, T, B, I, H):
    torch = _torch()
    torch.manual_seed(0)
    layer = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[cell](I, H).cuda()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)).cuda()

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        out.sum().backward()

    return _torch_on_gpu(torch, step)


WORKLOADS = {
    **{f"matmul {n} float32 (GPU)": (dict(n=n), tinygrad_matmul, torch_matmul) for n in MATMUL_SIZES},
    "conv2d forward+backward (GPU)": (CONV, tinygrad_conv, torch_conv),
    "max_pool2d 2x2 forward+backward (GPU)": (POOL, tinygrad_pool, torch_pool),
    **{f"LeNet training step, batch {b} (GPU)": (dict(batch=b), tinygrad_lenet_cuda, torch_lenet) for b in LENET_BATCHES},
    **{f"{c} training step T={SIZES['T']} B={SIZES['B']} (GPU)": (dict(SIZES, cell=c), tinygrad_rnn, torch_rnn) for c in CELLS},
}


GRAPHED = {group for group in WORKLOADS if "training step" in group}


@pytest.mark.parametrize("impl", ["tinygrad", "tinygrad-graph", "torch"])
@pytest.mark.parametrize("group", WORKLOADS)
def test_cuda(benchmark, request, group, impl):
    kwargs, ours, theirs = WORKLOADS[group]
    benchmark.group = group
    if impl == "tinygrad-graph" and group not in GRAPHED:
        pytest.skip("graph replay is measured for the training steps")
    if impl.startswith("tinygrad"):
        step = ours(**kwargs, graphed=True) if impl == "tinygrad-graph" else ours(**kwargs)
        step()  # compile (or load from the cache) and allocate once
    else:
        try:
            step = request.getfixturevalue("torch_ref")(theirs, **kwargs)
        except RuntimeError as e:  # a CPU-only PyTorch build
            if "CUDA" not in str(e):
                raise
            pytest.skip("this PyTorch cannot use the GPU")
    benchmark(step)
    if group.startswith("matmul"):
        flops = 2 * kwargs["n"] ** 3
        benchmark.extra_info["tflops"] = round(flops / benchmark.stats.stats.median / 1e12, 2)


def test_lenet_batch_256_on_the_cpu_backend(benchmark, reference):
    """The CPU row of the GPU-against-CPU comparison (the target: the GPU step 10x faster)."""
    benchmark.group = f"LeNet training step, batch {LENET_BATCHES[-1]} (GPU)"
    benchmark(reference(tinygrad_lenet, batch=LENET_BATCHES[-1]))
