"""RNN, LSTM and GRU layers on the 'cuda' device against the CPU: outputs, final states and
the gradients of inputs, initial states and every parameter, in the configurations the CPU
gradient checks use (layers, both directions, batch_first, no bias, T = 1, B = 1), and in
one whose batch and hidden size exceed a simulated block's rows and threads."""
import numpy as np
import pytest

import test_rnn as rnn_cases
import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)


def _module(kind, config, hidden):
    tg.manual_seed(1)
    if kind == "RNN_RELU":
        return nn.RNN(2, hidden, nonlinearity="relu", **config)
    return rnn_cases.MODULES[kind](2, hidden, **config)


def _run(kind, config, arrays, dtype, device):
    module = _module(kind, config, arrays[1].shape[-1]).to(dtype).to(device)
    x, h0, c0 = (Tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays)
    outs = rnn_cases.run(module, x, h0, c0)
    rng = np.random.default_rng(2)
    sum(((o * Tensor(rng.standard_normal(o.shape), device=device, dtype=dtype)).sum() for o in outs), Tensor(0.0, device=device, dtype=dtype)).backward()
    grads = [x.grad, h0.grad] + ([c0.grad] if kind == "LSTM" else []) + [p.grad for p in module.parameters()]
    return [o.numpy() for o in outs] + [g.numpy() for g in grads]


def _arrays(rng, kind, config, T, B, hidden=3):
    count = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = rng.standard_normal((B, T, 2) if config.get("batch_first") else (T, B, 2))
    return x, rng.standard_normal((count, B, hidden)), rng.standard_normal((count, B, hidden))


# A simulated block owns 2 batch rows and has 4 threads: B = 5 makes three blocks, the last with
# one row, and H = 6 makes each thread take a second hidden unit, for the first two threads.
WIDE = (dict(bidirectional=True, batch_first=True), 4, 5, 6)


@pytest.mark.parametrize("config,T,B,hidden", [(*c, 3) for c in rnn_cases.GRAD_CONFIGS] + [WIDE],
                         ids=["2-layer-bidirectional-batch-first", "T1", "B1-no-bias", "blocks-and-unit-passes"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN_RELU"])
def test_layers_match_the_cpu(rng, kind, config, T, B, hidden):
    arrays = _arrays(rng, kind, config, T, B, hidden)
    cpu, gpu = (_run(kind, config, arrays, np.float64, device) for device in ("cpu", "cuda"))
    assert len(cpu) == len(gpu)
    for c, g in zip(cpu, gpu):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_float32_layers(rng, kind):
    """float32 gate math on the GPU uses the exact tanh, the CPU a close approximation."""
    config = dict(num_layers=2, bidirectional=True)
    arrays = _arrays(rng, kind, config, 4, 2)
    cpu, gpu = (_run(kind, config, arrays, np.float32, device) for device in ("cpu", "cuda"))
    for c, g in zip(cpu, gpu):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)


def test_an_embedding_id_outside_the_table_reads_nan_on_the_gpu():
    table = nn.Embedding(4, 2).to("cuda")
    out = table(Tensor(np.array([1, 4, -1]), device="cuda")).numpy()
    assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()
    with pytest.raises(IndexError, match="index 4 is out of range for a table of 4 rows"):
        nn.Embedding(4, 2)(np.array([1, 4]))


def test_embedding_lookup_and_gradient(rng):
    ids = np.array([[1, 3, 1], [0, 3, 2]])
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        table = nn.Embedding(4, 3, padding_idx=2).double().to(device)
        out = table(Tensor(ids))
        (out * Tensor(np.arange(18.0).reshape(2, 3, 3), device=device)).sum().backward()
        results[device] = (out.numpy(), table.weight.grad.numpy())
    for c, g in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(g, c, rtol=1e-12)
