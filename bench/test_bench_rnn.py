"""Recurrent-layer benchmarks: a training step (forward, then backward of output.sum()) of
LSTM, GRU and RNN(tanh) at T=50, B=32, input 64, hidden 128, float32, three ways:

  * tinygrad_nb's layer: one fused kernel call per sequence, forward and backward;
  * the same cell written with Tensor ops and unrolled over time in Python: the
    framework without the fused kernel (run in a worker process, like every reference);
  * torch.nn.LSTM / GRU / RNN on the CPU, in a worker process.

The input is data (it needs no gradient), as for a model's first layer; the parameters'
gradients are cleared before each step. Read the ratios off the group tables (the fastest
is 1.0). Run with:  pytest bench/test_bench_rnn.py --benchmark-only
"""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn

SIZES = dict(T=50, B=32, I=64, H=128)


def _data(T, B, I):
    return np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)


# ---- tinygrad_nb: the fused layer (this process) -----------------------------------------
def tinygrad_layer(cell, T, B, I, H):
    tg.manual_seed(0)
    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](I, H)
    x = Tensor(_data(T, B, I))

    def step():
        layer.zero_grad()
        out, _ = layer(x)
        out.sum().backward()

    return step


# ---- tinygrad_nb: the same cells from Tensor ops, unrolled in Python (worker process) ----
def _lstm_step(x, h, c, w_ih, w_hh, b):
    a = x @ w_ih.T + h @ w_hh.T + b
    H = h.shape[1]
    i, f, g, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].tanh(), a[:, 3 * H:].sigmoid()
    c = f * c + i * g
    return o * c.tanh(), c


def _gru_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gx, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    H = h.shape[1]
    r, z = (gx[:, :H] + gh[:, :H]).sigmoid(), (gx[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
    n = (gx[:, 2 * H:] + r * gh[:, 2 * H:]).tanh()
    return (1 - z) * n + z * h, c


def _rnn_step(x, h, c, w_ih, w_hh, b):
    return (x @ w_ih.T + h @ w_hh.T + b).tanh(), c


def tinygrad_unrolled(cell, T, B, I, H):
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[cell]
    rng = np.random.default_rng(1)
    bound = 1 / np.sqrt(H)

    def param(*shape):
        return Tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True)

    params = [param(gates * H, I), param(gates * H, H), param(gates * H)] + ([param(gates * H)] if cell == "GRU" else [])
    cell_step = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN": _rnn_step}[cell]
    xs = [Tensor(x_t) for x_t in _data(T, B, I)]
    zeros = Tensor.zeros(B, H)

    def step():
        for p in params:
            p.grad = None
        h, c, outs = zeros, zeros, []
        for x_t in xs:
            h, c = cell_step(x_t, h, c, *params)
            outs.append(h)
        Tensor.stack(outs).sum().backward()

    return step


# ---- PyTorch (worker process; torch is imported only there) ------------------------------
def torch_layer(cell, T, B, I, H):
    import torch

    torch.manual_seed(0)
    layer = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[cell](I, H)
    x = torch.from_numpy(_data(T, B, I))

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        out.sum().backward()

    return step


CELLS = ["LSTM", "GRU", "RNN"]


def _group(cell):
    return f"{cell} training step T={SIZES['T']} B={SIZES['B']} I={SIZES['I']} H={SIZES['H']}"


@pytest.mark.parametrize("cell", CELLS)
def test_tinygrad(benchmark, cell):
    benchmark.group = _group(cell)
    step = tinygrad_layer(cell, **SIZES)
    step()  # compile (or load from the cache) and touch every buffer once
    benchmark(step)


@pytest.mark.parametrize("cell", CELLS)
def test_tinygrad_unrolled(benchmark, reference, cell):
    benchmark.group = _group(cell)
    benchmark(reference(tinygrad_unrolled, cell=cell, **SIZES))


@pytest.mark.parametrize("cell", CELLS)
def test_torch(benchmark, torch_ref, cell):
    benchmark.group = _group(cell)
    benchmark(torch_ref(torch_layer, cell=cell, **SIZES))


def test_first_call_in_fresh_process(benchmark, fresh_process):
    """LSTM forward+backward, first call in a new process with a warm Numba cache."""
    benchmark.group = "first LSTM forward+backward in a fresh process (warm cache)"
    fresh_process("import numpy as np, tinygrad_nb as tg\nfrom tinygrad_nb import nn", """
lstm = nn.LSTM(64, 128)
out, _ = lstm(tg.Tensor(np.ones((50, 32, 64), np.float32)))
out.sum().backward()""")
