"""Variable-length sequences (nn.utils.rnn): padding, packing and unpacking against explicit
NumPy constructions, PyTorch's errors, and RNN, LSTM and GRU over a PackedSequence against
an independent reference (each sequence run on its own, unpadded, as a batch of one),
float64 gradient checks, gradients of gradients, and the simulated GPU against the CPU."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradgradcheck
from tinygrad_nb.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                      pad_sequence, unpack_sequence, unpad_sequence)

needs_cuda = pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")


def _sequences(rng, lengths, features=3):
    return [rng.standard_normal((n, features)) for n in lengths]


def _packed_by_hand(sequences):
    """PyTorch's packing, written out: sort longest first (stably), then for each step t the
    rows of the sequences longer than t, in sorted order."""
    lengths = np.array([len(s) for s in sequences])
    order = np.argsort(-lengths, kind="stable")
    rows = [sequences[b][t] for t in range(lengths.max()) for b in order if lengths[b] > t]
    batch_sizes = np.array([(lengths > t).sum() for t in range(lengths.max())])
    return np.stack(rows), batch_sizes, order, np.argsort(order)


# ---- pad_sequence -----------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_fills_after_or_before_each_sequence(rng, batch_first, side):
    seqs = _sequences(rng, [2, 4, 1])
    expected = np.full((4, 3, 3), -1.5)
    for b, s in enumerate(seqs):
        if side == "right":
            expected[:len(s), b] = s
        else:
            expected[4 - len(s):, b] = s
    got = pad_sequence([Tensor(s) for s in seqs], batch_first=batch_first, padding_value=-1.5, padding_side=side)
    np.testing.assert_array_equal(got.numpy(), expected.transpose(1, 0, 2) if batch_first else expected)


def test_pad_sequence_errors():
    with pytest.raises(RuntimeError, match="pad_sequence: received an empty list of sequences"):
        pad_sequence([])
    with pytest.raises(RuntimeError, match=r"pad_sequence: expected every sequence of shape \(L, \*\(3,\)\).*"
                                           r"got \(2, 4\) for sequence 1"):
        pad_sequence([Tensor.zeros(2, 3), Tensor.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        pad_sequence([Tensor.zeros(2, 3)], padding_side="middle")


# ---- packing and unpacking --------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_sequence_matches_the_packing_written_out(rng, batch_first):
    lengths = [2, 5, 1, 5, 3]
    seqs = _sequences(rng, lengths)
    data, batch_sizes, order, inverse = _packed_by_hand(seqs)
    padded = pad_sequence([Tensor(s) for s in seqs], batch_first=batch_first)
    packed = pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=False)
    assert isinstance(packed, PackedSequence) and packed._fields == ("data", "batch_sizes", "sorted_indices",
                                                                     "unsorted_indices")
    np.testing.assert_array_equal(packed.data.numpy(), data)
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), batch_sizes)
    assert packed.batch_sizes.dtype == np.int64 and packed.batch_sizes.device == "cpu"
    np.testing.assert_array_equal(packed.sorted_indices.numpy(), order)
    np.testing.assert_array_equal(packed.unsorted_indices.numpy(), inverse)
    back, got_lengths = pad_packed_sequence(packed, batch_first=batch_first)
    np.testing.assert_array_equal(back.numpy(), padded.numpy())
    np.testing.assert_array_equal(got_lengths.numpy(), lengths)


def test_sorted_lengths_need_no_indices_and_total_length_pads_further(rng):
    seqs = _sequences(rng, [4, 4, 2])
    packed = pack_sequence([Tensor(s) for s in seqs])
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    np.testing.assert_array_equal(packed.data.numpy(), _packed_by_hand(seqs)[0])
    padded, lengths = pad_packed_sequence(packed, padding_value=7.0, total_length=6)
    assert padded.shape == (6, 3, 3)
    np.testing.assert_array_equal(padded.numpy()[4:], 7.0)
    np.testing.assert_array_equal(padded.numpy()[2:, 2], 7.0)
    np.testing.assert_array_equal(padded.numpy()[:2, 2], seqs[2])
    for got, want in zip(unpack_sequence(packed), seqs):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(unpad_sequence(padded, lengths), seqs):
        np.testing.assert_array_equal(got.numpy(), want)


def test_packed_sequence_to_and_its_gradient_path(rng):
    """.to() casts data and keeps the rest; the gradient of pad(pack(x)) reaches x where x is
    real, and nothing where it is padding."""
    x = tg.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    packed = pack_padded_sequence(x, Tensor(np.array([1, 4, 2])), enforce_sorted=False)
    as32 = packed.to(np.float32)
    assert as32.data.dtype == np.float32 and as32.batch_sizes is packed.batch_sizes
    np.testing.assert_array_equal(as32.unsorted_indices.numpy(), packed.unsorted_indices.numpy())
    assert packed.double() is packed and not packed.is_cuda
    padded, _ = pad_packed_sequence(packed)
    (padded * padded).sum().backward()
    real = (np.arange(4)[:, None] < np.array([1, 4, 2]))[..., None]
    np.testing.assert_allclose(x.grad.numpy(), np.where(real, 2 * x.numpy(), 0.0))
    assert tg.gradcheck(lambda x: pad_packed_sequence(pack_padded_sequence(x, [4, 2, 1]), total_length=5)[0], [x])


def test_packing_errors_name_the_function_the_shapes_and_the_expectation():
    x = Tensor.zeros(5, 3, 2)
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: `lengths` array must be sorted in decreasing "
                                           r"order when `enforce_sorted` is True.*Got lengths \[3, 4, 2\]"):
        pack_padded_sequence(x, [3, 4, 2])
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: Length of all samples has to be greater than 0"):
        pack_padded_sequence(x, [3, 0, 2], enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: a length is longer than the input's 5 steps: "
                                           r"lengths \[6, 4, 2\] for input of shape \(5, 3, 2\); expected every "
                                           r"length in 1..5"):
        pack_padded_sequence(x, [6, 4, 2])
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: Expected `len\(lengths\)` to be equal to "
                                           r"batch_size, but got 2 \(batch_size=3\).*input of shape \(5, 3, 2\)"):
        pack_padded_sequence(x, [3, 2])
    with pytest.raises(RuntimeError, match=r"batch_size, but got 2 \(batch_size=5\)"):
        pack_padded_sequence(x, [3, 2], batch_first=True)
    with pytest.raises(ValueError, match=r"pad_packed_sequence: Expected total_length to be at least the length of "
                                         r"the longest sequence in input, but got total_length=2 and max sequence "
                                         r"length being 3"):
        pad_packed_sequence(pack_padded_sequence(x, [3, 2, 1]), total_length=2)
    with pytest.raises(RuntimeError, match=r"LSTM: expected a PackedSequence whose data has shape "
                                           r"\(sum\(lengths\), 3\), got \(6, 2\)"):
        nn.LSTM(3, 4)(pack_padded_sequence(x, [3, 2, 1]))


# ---- recurrent layers over packed sequences -----------------------------------------------------
KINDS = ["LSTM", "GRU", "RNN", "RNN_RELU"]
CONFIGS = {
    "plain": dict(),
    "2-layer-bidirectional": dict(num_layers=2, bidirectional=True),
    "batch-first-no-bias": dict(batch_first=True, bias=False),
}


def _module(kind, config, hidden=4, features=3):
    tg.manual_seed(3)
    if kind == "RNN_RELU":
        return nn.RNN(features, hidden, nonlinearity="relu", **config).double()
    return getattr(nn, kind)(features, hidden, **config).double()


def _states(rng, module, batch):
    count = module.num_layers * (2 if module.bidirectional else 1)
    h0 = rng.standard_normal((count, batch, module.hidden_size))
    c0 = rng.standard_normal((count, batch, module.hidden_size))
    return h0, c0


def _call(module, x, h0, c0):
    """(output, h_n[, c_n]) flat, with the initial states given."""
    out, final = module(x, (h0, c0) if module.mode == "LSTM" else h0)
    return (out, *final) if module.mode == "LSTM" else (out, final)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_each_sequence_gets_what_it_gets_alone(rng, kind, config):
    """Packed (lengths out of order), the outputs and final states of each sequence equal
    those of the same module run on that sequence alone, unpadded, as a batch of one: the
    final state is the one after its last real step (for the reverse direction, after its
    first, having started from h0 at its last)."""
    module = _module(kind, config)
    lengths = [3, 6, 1, 4]
    seqs = _sequences(rng, lengths)
    h0, c0 = _states(rng, module, len(lengths))
    packed = pack_sequence([Tensor(s) for s in seqs], enforce_sorted=False)
    out, *finals = _call(module, packed, Tensor(h0), Tensor(c0))
    assert isinstance(out, PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), packed.batch_sizes.numpy())
    padded, got_lengths = pad_packed_sequence(out, batch_first=True)
    np.testing.assert_array_equal(got_lengths.numpy(), lengths)
    directions = 2 if module.bidirectional else 1
    assert padded.shape == (4, 6, module.hidden_size * directions)
    for b, s in enumerate(seqs):
        alone = s[None] if module.batch_first else s[:, None]
        want = _call(module, Tensor(alone), Tensor(h0[:, b:b + 1]), Tensor(c0[:, b:b + 1]))
        want_out = want[0].numpy()[0] if module.batch_first else want[0].numpy()[:, 0]
        np.testing.assert_allclose(padded.numpy()[b, :len(s)], want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(padded.numpy()[b, len(s):], 0.0)
        for got, expected in zip(finals, want[1:]):
            np.testing.assert_allclose(got.numpy()[:, b], expected.numpy()[:, 0], rtol=1e-12, atol=1e-12)


def test_default_initial_state_and_sorted_input(rng):
    lstm = _module("LSTM", dict(num_layers=2))
    seqs = _sequences(rng, [5, 3, 3])
    out, (h_n, c_n) = lstm(pack_sequence([Tensor(s) for s in seqs]))
    for b, s in enumerate(seqs):
        alone, (h, c) = lstm(Tensor(s[:, None]))
        np.testing.assert_allclose(pad_packed_sequence(out)[0].numpy()[:len(s), b], alone.numpy()[:, 0], rtol=1e-12)
        np.testing.assert_allclose(h_n.numpy()[:, b], h.numpy()[:, 0], rtol=1e-12)
        np.testing.assert_allclose(c_n.numpy()[:, b], c.numpy()[:, 0], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_packed_data_the_initial_states_and_the_weights(rng, kind):
    module = _module(kind, dict(num_layers=2, bidirectional=True), hidden=3, features=2)
    lengths = [2, 4, 1]
    packed = pack_sequence([Tensor(s) for s in _sequences(rng, lengths, 2)], enforce_sorted=False)
    data = tg.tensor(packed.data.numpy(), requires_grad=True)
    h0, c0 = (tg.tensor(a, requires_grad=True) for a in _states(rng, module, len(lengths)))
    weights = [module.weight_hh_l0, module.weight_ih_l1_reverse]

    def run(*_):
        out, *finals = _call(module, PackedSequence(data, packed.batch_sizes, packed.sorted_indices), h0, c0)
        return (out.data, *finals)

    inputs = [data, h0] + ([c0] if kind == "LSTM" else []) + weights
    assert tg.gradcheck(run, inputs)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradients_of_gradients_through_a_packed_layer(rng, kind):
    """backward(create_graph=True) reruns the layers step by step in Tensor ops, where a
    padded step keeps the state as the kernels do."""
    module = _module(kind, dict(bidirectional=True), hidden=2, features=2)
    packed = pack_sequence([Tensor(s) for s in _sequences(rng, [3, 1, 2], 2)], enforce_sorted=False)
    h0 = tg.tensor(_states(rng, module, 3)[0], requires_grad=True)

    def run(data, h0):
        state = (h0, h0 * 0.5) if kind == "LSTM" else h0
        out, final = module(PackedSequence(data, packed.batch_sizes, packed.sorted_indices), state)
        return (out.data, *final) if kind == "LSTM" else (out.data, final)

    data = tg.tensor(packed.data.numpy(), requires_grad=True)
    assert gradgradcheck(run, [data, h0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_a_gradient_made_from_the_layers_own_output_differentiates_again(rng, packed):
    """The gradient of out**2 is 2 out, a tensor made from the layer's own output: the
    second backward must go through it (and end), as finite differences of |dL/dx|^2 say."""
    lstm = _module("LSTM", dict(num_layers=2, bidirectional=True), hidden=2, features=2)
    x0 = rng.standard_normal((3, 3, 2))

    def grad_of_loss(x, create_graph):
        if packed:
            out, (h_n, _) = lstm(pack_sequence([x[:3, 0], x[:1, 1], x[:2, 2]], enforce_sorted=False))
            out = out.data
        else:
            out, (h_n, _) = lstm(x)
        return tg.autograd.grad((out ** 2).sum() + (h_n ** 3).sum(), [x], create_graph=create_graph)[0]

    x = tg.tensor(x0, requires_grad=True)
    g = grad_of_loss(x, True)
    (second,) = tg.autograd.grad((g * g).sum(), [x])
    numeric = np.zeros_like(x0)
    for i in range(x0.size):
        sides = []
        for step in (1e-6, -1e-6):
            moved = x0.copy()
            moved.reshape(-1)[i] += step
            sides.append((grad_of_loss(tg.tensor(moved, requires_grad=True), False).numpy() ** 2).sum())
        numeric.reshape(-1)[i] = (sides[0] - sides[1]) / 2e-6
    np.testing.assert_allclose(second.numpy(), numeric, rtol=1e-5, atol=1e-8)


# ---- the GPU (or its simulator) -----------------------------------------------------------------
def _everything(kind, config, seqs, h0, c0, device):
    module = _module(kind, config).to(device)
    packed = pack_sequence([Tensor(s, device=device) for s in seqs], enforce_sorted=False)
    data = Tensor(packed.data.numpy(), device=device, requires_grad=True)
    h, c = (Tensor(a, device=device, requires_grad=True) for a in (h0, c0))
    out, *finals = _call(module, PackedSequence(data, packed.batch_sizes, packed.sorted_indices), h, c)
    outs = [out.data, *finals]
    rng = np.random.default_rng(5)
    sum((o * Tensor(rng.standard_normal(o.shape), device=device)).sum() for o in outs).backward()
    grads = [data.grad, h.grad] + ([c.grad] if kind == "LSTM" else []) + [p.grad for p in module.parameters()]
    return [a.numpy() for a in outs + grads]


@needs_cuda
@pytest.mark.parametrize("config", [dict(num_layers=2, bidirectional=True), dict(batch_first=True)],
                         ids=["2-layer-bidirectional", "batch-first"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_gpu_gives_the_cpu_results(rng, kind, config):
    """B = 5 makes three simulated blocks (two rows each, the last with one) and H = 4 one
    unit per simulated thread; lengths out of order put padding in every block."""
    seqs = _sequences(rng, [2, 5, 1, 3, 5])
    h0, c0 = _states(rng, _module(kind, config), 5)
    cpu, gpu = (_everything(kind, config, seqs, h0, c0, device) for device in ("cpu", "cuda"))
    assert len(cpu) == len(gpu)
    for c, g in zip(cpu, gpu):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)


# An unpacked LSTM step launches 12 kernels (tests/test_cuda_launches.py); packed input adds
# the padded batch (a zero padding row, the concatenation, the gather) and the packed output's
# gather, forward, and their gradients (the scatter-adds into zeros, the concatenation's slice).
PACKED_LSTM_BUDGET = 21


@needs_cuda
def test_a_packed_lstm_step_launches_the_same_kernels_at_any_sequence_length():
    """The packed layer adds a fixed number of gathers around the same per-layer kernels: a
    captured training step launches as many kernels at T = 5 as at T = 20 (and capturing it
    works: what the packed batch needs on the device was uploaded by the eager step)."""
    counts = {}
    for steps in (5, 20):
        tg.manual_seed(0)
        lstm = nn.LSTM(3, 4).to("cuda")
        seqs = [Tensor(np.ones((n, 3), np.float32), device="cuda") for n in (steps, steps - 2, 1)]
        packed = pack_sequence(seqs, enforce_sorted=False)

        def step():
            lstm.zero_grad()
            out, _ = lstm(packed)
            out.data.sum().backward()

        step()
        graph = tg_cuda.CUDAGraph()
        with tg_cuda.graph(graph):
            step()
        counts[steps] = graph.num_kernels
    assert counts[5] == counts[20] <= PACKED_LSTM_BUDGET
