"""Recurrent layers: RNN, LSTM, GRU and their cells against a step-by-step NumPy
reference, float64 gradient checks of every parameter, input and initial state (on every
device: on the GPU against the CPU's gradients), and PyTorch's names, shapes,
initialisation and errors."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn
from tinygrad_nb.kernels.cpu import lstm
from tinygrad_nb.kernels.cpu.backend import CPU as kernels

from conftest import on_devices, t64

MODULES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# ---- the reference: PyTorch's equations, one time step at a time, in NumPy ----------------------
def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    gx, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "LSTM":
        a = gx + gh
        i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    if mode == "GRU":
        r, z = sigmoid(gx[:, :H] + gh[:, :H]), sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h, c
    a = gx + gh
    return (np.maximum(a, 0) if mode == "RNN_RELU" else np.tanh(a)), c


def reference(module, x, h0=None, c0=None):
    """Output and final states of `module` for time-major x (T, B, I), using its parameters."""
    p = {name: v.numpy().astype(np.float64) for name, v in module.named_parameters()}
    directions = 2 if module.bidirectional else 1
    T, B, _ = x.shape
    H, count = module.hidden_size, module.num_layers * directions
    h0 = np.zeros((count, B, H)) if h0 is None else h0
    c0 = np.zeros((count, B, H)) if c0 is None else c0
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[:directions]):
            w = [p.get(f"{kind}_l{layer}{suffix}", 0.0) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[layer * directions + d], c0[layer * directions + d]
            out = np.zeros((T, B, H))
            for t in (reversed(range(T)) if d else range(T)):
                h, c = reference_step(module.mode, x[t], h, c, *w)
                out[t] = h
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = np.concatenate(outs, axis=2)
    return x, np.stack(h_n), np.stack(c_n)


def run(module, x, h0=None, c0=None):
    """module's (output, h_n[, c_n]) as a flat tuple."""
    state = None if h0 is None else ((h0, c0) if module.mode == "LSTM" else h0)
    out, final = module(x, state)
    return (out, *final) if module.mode == "LSTM" else (out, final)


# ---- forward --------------------------------------------------------------------------------
CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, batch_first=True, bias=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["plain", "2-layer-bidirectional", "batch-first-no-bias"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN_RELU"])
def test_forward_matches_numpy_step_by_step(rng, kind, config):
    tg.manual_seed(1)
    module = nn.RNN(3, 5, nonlinearity="relu", **config) if kind == "RNN_RELU" else MODULES[kind](3, 5, **config)
    T, B, count = 6, 4, module.num_layers * (2 if module.bidirectional else 1)
    x = rng.standard_normal((T, B, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((count, B, 5)).astype(np.float32) for _ in range(2))
    expected = reference(module, x, h0, c0)
    feed = x.transpose(1, 0, 2) if module.batch_first else x
    got = run(module, Tensor(feed), Tensor(h0), Tensor(c0))
    out = got[0].numpy().transpose(1, 0, 2) if module.batch_first else got[0].numpy()
    assert got[0].dtype == np.float32 and out.shape == (T, B, 5 * (2 if module.bidirectional else 1))
    np.testing.assert_allclose(out, expected[0], rtol=1e-5, atol=2e-6)
    for got_state, want in zip(got[1:], expected[1:]):
        assert got_state.shape == (count, B, 5)
        np.testing.assert_allclose(got_state.numpy(), want, rtol=1e-5, atol=2e-6)


def test_default_initial_state_is_zero(rng):
    lstm = nn.LSTM(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    zeros = np.zeros((1, 2, 4), np.float32)
    out, (h, c) = lstm(Tensor(x))
    out0, (h0, c0) = lstm(Tensor(x), (Tensor(zeros), Tensor(zeros)))
    np.testing.assert_array_equal(out.numpy(), out0.numpy())
    np.testing.assert_array_equal(c.numpy(), c0.numpy())


def test_unbatched_input(rng):
    gru = nn.GRU(3, 4, num_layers=2)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    out, h = gru(Tensor(x))
    batched, hb = gru(Tensor(x[:, None]))
    assert out.shape == (5, 4) and h.shape == (2, 4)
    np.testing.assert_allclose(out.numpy(), batched.numpy()[:, 0], rtol=1e-6)
    np.testing.assert_allclose(h.numpy(), hb.numpy()[:, 0], rtol=1e-6)


def test_float32_tanh_approximation_stays_close(rng):
    """The float32 gate math uses a rational approximation of tanh: check its error bound
    through the Elman kernel with W_ih = I, W_hh = 0, b = 0, where h_t = tanh(x_t)."""
    values = np.linspace(-12, 12, 20001).astype(np.float32)
    x = values.reshape(-1, 1, 1)
    one, zero, no_bias = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32), np.zeros(1, np.float32)
    hs = kernels.rnn_forward(x, zero, one, zero, no_bias, no_bias, False, False)
    err = np.abs(hs[1:].ravel() - np.tanh(values.astype(np.float64)))
    assert err.max() < 4e-7
    assert np.all(np.abs(hs[1:]) <= 1)


# ---- gradients ------------------------------------------------------------------------------
GRAD_CONFIGS = [
    (dict(num_layers=2, bidirectional=True, batch_first=True), 3, 2),
    (dict(), 1, 2),  # a sequence of length one
    (dict(bias=False), 3, 1),  # batch of one
]


def _module(kind, config, hidden):
    tg.manual_seed(1)
    return nn.RNN(2, hidden, nonlinearity="relu", **config) if kind == "RNN_RELU" else MODULES[kind](2, hidden, **config)


def _arrays(rng, config, T, B, hidden=3):
    count = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = rng.standard_normal((B, T, 2) if config.get("batch_first") else (T, B, 2))
    return x, rng.standard_normal((count, B, hidden)), rng.standard_normal((count, B, hidden))


def _everything(kind, config, arrays, dtype, device):
    """Outputs, final states and the gradients of the input, initial states and parameters,
    for a random weighting of the outputs and final states."""
    module = _module(kind, config, arrays[1].shape[-1]).to(dtype).to(device)
    x, h0, c0 = (Tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays)
    outs = run(module, x, h0, c0)
    weights = np.random.default_rng(2)
    sum(((o * Tensor(weights.standard_normal(o.shape), device=device, dtype=dtype)).sum() for o in outs),
        Tensor(0.0, device=device, dtype=dtype)).backward()
    grads = [x.grad, h0.grad] + ([c0.grad] if kind == "LSTM" else []) + [p.grad for p in module.parameters()]
    return [o for o in outs] + grads


GRAD_IDS = ["2-layer-bidirectional-batch-first", "T1", "B1-no-bias"]
# On the GPU also one configuration whose batch and hidden size exceed a simulated block's rows and
# threads: a block owns 2 batch rows and has 4 threads, so B = 5 makes three blocks, the last with
# one row, and H = 6 makes each thread take a second hidden unit, for the first two threads.
WIDE = pytest.param(dict(bidirectional=True, batch_first=True), 4, 5, 6, id="blocks-and-unit-passes")


@pytest.mark.parametrize("device,config,T,B,hidden",
                         on_devices([pytest.param(*c, 3, id=i) for c, i in zip(GRAD_CONFIGS, GRAD_IDS)],
                                    cuda=[pytest.param(*c, 3, id=i) for c, i in zip(GRAD_CONFIGS, GRAD_IDS)] + [WIDE]),
                         indirect=["device"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN_RELU"])
def test_gradients_of_parameters_inputs_and_initial_states(rng, device, kind, config, T, B, hidden):
    """The loss weighs the output and the final states, so gradients must flow through h_n
    (and c_n) as well as through the output. On the CPU against finite differences; on the
    GPU outputs, states and every gradient equal the CPU's to rounding."""
    arrays = _arrays(rng, config, T, B, hidden)
    if device == "cpu":
        module = _module(kind, config, hidden).double()
        x, h0, c0 = (t64(a) for a in arrays)
        inputs = [x, h0] + ([c0] if kind == "LSTM" else []) + list(module.parameters())
        assert tg.gradcheck(lambda *_: run(module, x, h0, c0), inputs)
    else:
        cpu, gpu = (_everything(kind, config, arrays, np.float64, d) for d in ("cpu", device))
        assert len(cpu) == len(gpu)
        for c, g in zip(cpu, gpu):
            assert g.device == device
            np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_float32_layers_stay_close_to_float64(rng, device, kind):
    """float32 gate math (the CPU's close approximation of tanh, the GPU's exact one) gives
    float32 outputs and gradients within float32's rounding of float64's."""
    config = dict(num_layers=2, bidirectional=True)
    arrays = _arrays(rng, config, 4, 2)
    single, double = (_everything(kind, config, arrays, dtype, device) for dtype in (np.float32, np.float64))
    for s, d in zip(single, double):
        assert s.dtype == np.float32 and s.device == device
        np.testing.assert_allclose(s.numpy(), d.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_lstm_kernels_give_the_same_result_however_the_hidden_units_are_shared_out(rng, monkeypatch, threads):
    """The LSTM kernels split every step over blocks of hidden units, one per thread: with
    H = 7 the blocks are unequal (3 threads: 2, 2, 3 units); with H = 1 there are more
    threads than units. Forward and backward, in either direction, must not depend on it.
    With B = 9 the steps' products run through small_gemm's tiles (8 float64 columns) as
    well as BLAS."""
    for H, reverse, B in ((7, False, 3), (7, True, 9), (1, False, 3)):
        T, I = 4, 2
        x = rng.standard_normal((T, B, I))
        h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
        w_ih, w_hh, b_ih, b_hh = (rng.standard_normal(shape) for shape in ((4 * H, I), (4 * H, H), (4 * H,), (4 * H,)))
        d_out, dh_n, dc_n = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

        def both_passes():
            hs, cs, acts = kernels.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
            grads = kernels.lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, True)
            return [np.array(a) for a in (hs, cs, *grads)]

        monkeypatch.setattr(lstm, "threads_for_kernels", lambda: 1)
        expected = both_passes()
        monkeypatch.setattr(lstm, "threads_for_kernels", lambda: threads)
        for got, want in zip(both_passes(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_backward_without_dx_gives_the_same_gradients(rng, reverse):
    """Without dx the LSTM's backward keeps one slot of gate gradients for every step instead
    of all of them: the weights', biases' and initial states' gradients are unchanged, also
    with padded sequences."""
    T, B, I, H = 5, 9, 3, 6
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0, c0 = rng.standard_normal((B, H)).astype(np.float32), rng.standard_normal((B, H)).astype(np.float32)
    w_ih, w_hh = rng.standard_normal((4 * H, I)).astype(np.float32), rng.standard_normal((4 * H, H)).astype(np.float32)
    b_ih, b_hh = rng.standard_normal(4 * H).astype(np.float32), rng.standard_normal(4 * H).astype(np.float32)
    d_out, dh_n, dc_n = (rng.standard_normal(s).astype(np.float32) for s in ((T, B, H), (B, H), (B, H)))
    lengths = np.array([5, 3, 5, 1, 4, 5, 2, 5, 5])
    hs, cs, acts = kernels.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths)
    with_dx = kernels.lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, True, lengths)
    without = kernels.lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, False, lengths)
    assert with_dx[0] is not None and without[0] is None
    for a, b in zip(with_dx[1:], without[1:]):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_lstm_with_a_single_hidden_unit(rng):
    """Fewer hidden units than threads: forward against the reference, and gradients."""
    lstm = nn.LSTM(2, 1)
    x = rng.standard_normal((3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(lstm(Tensor(x))[0].numpy(), reference(lstm, x)[0], rtol=1e-5, atol=2e-6)
    lstm.double()
    x64 = t64(x)
    assert tg.gradcheck(lambda *_: run(lstm, x64), [x64] + list(lstm.parameters()))


def test_lstm_with_a_batch_wide_enough_for_register_tiles(rng):
    """The LSTM's step products run in 4-row tiles of 16 float32 (8 float64) columns, and
    BLAS takes the columns and rows left over: B = 37 and 9, H = 6 (backward's products
    have H rows, one tile and two rows left)."""
    lstm = nn.LSTM(3, 6)
    x = rng.standard_normal((5, 37, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((1, 37, 6)).astype(np.float32) for _ in range(2))
    got, expected = run(lstm, Tensor(x), Tensor(h0), Tensor(c0)), reference(lstm, x, h0, c0)
    for g, want in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=2e-6)
    lstm.double()
    x64, h64, c64 = t64(x[:3, :9]), t64(h0[:, :9]), t64(c0[:, :9])
    assert tg.gradcheck(lambda *_: run(lstm, x64, h64, c64), [x64, h64, c64] + list(lstm.parameters()))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradient_through_the_final_state_alone(rng, kind):
    module = MODULES[kind](2, 3, num_layers=2).double()
    x = t64(rng.standard_normal((4, 2, 2)))
    assert tg.gradcheck(lambda *_: run(module, x)[1:], [x] + list(module.parameters()))


def test_dropout_between_layers_only_while_training(rng):
    tg.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = Tensor(rng.standard_normal((5, 2, 3)).astype(np.float32))
    lstm.eval()
    np.testing.assert_allclose(lstm(x)[0].numpy(), reference(lstm, x.numpy())[0], rtol=1e-5, atol=2e-6)
    lstm.train()
    tg.manual_seed(7)
    first = lstm(x)[0].numpy()
    tg.manual_seed(7)
    again = lstm(x)[0].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, reference(lstm, x.numpy())[0], atol=1e-3)


# ---- cells ----------------------------------------------------------------------------------
CELLS = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN_TANH": nn.RNNCell}


@pytest.mark.parametrize("mode", list(CELLS))
def test_cells_match_one_reference_step_and_pass_gradcheck(rng, mode):
    cell = CELLS[mode](3, 4)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert cell.weight_ih.shape == (GATES[mode] * 4, 3) and cell.weight_hh.shape == (GATES[mode] * 4, 4)
    x, h, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (2, 4), (2, 4)))
    w = [p.numpy() for p in cell.parameters()]
    want_h, want_c = reference_step(mode, x, h, c, *w)
    got = cell(Tensor(x), (Tensor(h), Tensor(c)) if mode == "LSTM" else Tensor(h))
    got_h, got_c = got if mode == "LSTM" else (got, None)
    np.testing.assert_allclose(got_h.numpy(), want_h, rtol=1e-5, atol=2e-6)
    if mode == "LSTM":
        np.testing.assert_allclose(got_c.numpy(), want_c, rtol=1e-5, atol=2e-6)
    cell.double()
    x64, h64, c64 = t64(x), t64(h), t64(c)
    state = (h64, c64) if mode == "LSTM" else h64
    inputs = [x64, h64] + ([c64] if mode == "LSTM" else []) + list(cell.parameters())
    assert tg.gradcheck(lambda *_: cell(x64, state), inputs)


def test_cells_default_state_and_unbatched_input(rng):
    cell = nn.GRUCell(3, 4, bias=False)
    assert cell.bias_ih is None and len(list(cell.parameters())) == 2
    x = rng.standard_normal(3).astype(np.float32)
    h = cell(Tensor(x))
    assert h.shape == (4,)
    np.testing.assert_allclose(h.numpy(), cell(Tensor(x[None]), Tensor.zeros(1, 4)).numpy()[0], rtol=1e-6)
    h, c = nn.LSTMCell(3, 4)(Tensor(x))
    assert h.shape == c.shape == (4,)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")


# ---- PyTorch's names, shapes, initialisation, errors ----------------------------------------
def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in lstm.named_parameters()]
    per_direction = ["weight_ih_l{}{}", "weight_hh_l{}{}", "bias_ih_l{}{}", "bias_hh_l{}{}"]
    assert names == [n.format(k, s) for k in (0, 1) for s in ("", "_reverse") for n in per_direction]
    assert lstm.weight_ih_l0.shape == (20, 3) and lstm.weight_hh_l0_reverse.shape == (20, 5)
    assert lstm.weight_ih_l1.shape == (20, 10) and lstm.bias_hh_l1_reverse.shape == (20,)
    assert nn.GRU(3, 5).weight_ih_l0.shape == (15, 3)
    assert [n for n, _ in nn.RNN(3, 5, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert repr(nn.GRU(3, 5, num_layers=2, batch_first=True)) == "GRU(3, 5, num_layers=2, batch_first=True)"


def test_default_init_is_uniform_in_one_over_sqrt_hidden():
    tg.manual_seed(0)
    lstm = nn.LSTM(50, 100)
    bound = 1 / math.sqrt(100)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    np.testing.assert_allclose(values.var(), bound**2 / 3, rtol=0.05)


def test_bad_input_gets_clear_errors():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM: expected input of shape \(T, B, 3\)"):
        lstm(Tensor.zeros(5, 2, 4))
    with pytest.raises(RuntimeError, match=r"h_0 of shape \(2, 2, 4\)"):
        lstm(Tensor.zeros(5, 2, 3), (Tensor.zeros(1, 2, 4), Tensor.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        lstm(Tensor.zeros(5, 2, 3), Tensor.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="input dtype float64 does not match the parameters' dtype float32"):
        nn.GRU(3, 4)(Tensor.zeros(5, 2, 3, dtype=np.float64))
    with pytest.raises(RuntimeError, match="empty"):
        nn.RNN(3, 4)(Tensor.zeros(0, 2, 3))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(RuntimeError, match=r"GRUCell: expected input of shape \(B, 3\)"):
        nn.GRUCell(3, 4)(Tensor.zeros(2, 5))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_reused_buffers_never_overwrite_what_a_caller_holds(rng, kind):
    """The kernels take their arrays from a pool and reuse one only when nothing else
    refers to it: outputs, final states and gradients of earlier steps must keep their values."""
    module = MODULES[kind](3, 4, num_layers=2, bidirectional=True)
    held = []
    for _ in range(3):  # a new input each time, so a reused buffer would change held values
        module.zero_grad()
        x = Tensor(rng.standard_normal((5, 2, 3)).astype(np.float32), requires_grad=True)
        out, final = module(x)
        out.sum().backward()
        arrays = [out, *(final if kind == "LSTM" else (final,)), x.grad] + [p.grad for p in module.parameters()]
        held.append((arrays, [a.numpy().copy() for a in arrays]))
    for arrays, values in held:
        for a, v in zip(arrays, values):
            np.testing.assert_array_equal(a.numpy(), v)
    assert not np.shares_memory(module.bias_ih_l0.grad.numpy(), module.bias_hh_l0.grad.numpy())
