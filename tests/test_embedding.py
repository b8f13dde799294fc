"""Embedding: lookup against NumPy indexing, gradients that add up over repeated ids,
padding_idx, from_pretrained, errors, and a small text model trained end to end."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim

from conftest import t64


def test_lookup_matches_numpy_indexing(rng, device):
    emb = nn.Embedding(10, 4).to(device)
    assert emb.weight.shape == (10, 4) and list(emb.state_dict()) == ["weight"]
    ids = np.array([[1, 2, 1], [9, 0, 3]])
    out = emb(Tensor(ids))  # ids on the CPU go to the table's device
    assert out.shape == (2, 3, 4) and out.dtype == np.float32 and out.device == device
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[ids])
    np.testing.assert_array_equal(F.embedding(ids, emb.weight).numpy(), out.numpy())


def test_gradient_adds_up_over_repeated_indices(rng, device):
    emb = nn.Embedding(5, 3).to(device)
    ids = np.array([[4, 1, 4], [4, 0, 1]])
    upstream = rng.standard_normal((2, 3, 3)).astype(np.float32)
    emb(Tensor(ids, device=device)).backward(Tensor(upstream, device=device))
    expected = np.zeros((5, 3), np.float32)
    for position, row in np.ndenumerate(ids):
        expected[row] += upstream[position]
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-6)
    assert not expected[2].any() and expected[4].any()  # row 2 unused, row 4 used three times


def test_gradcheck():
    weight = t64(np.arange(12.0).reshape(4, 3) / 7)
    ids = Tensor(np.array([0, 3, 3, 1]))
    assert tg.gradcheck(lambda w: F.embedding(ids, w), [weight])


def test_padding_idx_starts_at_zero_and_gets_no_gradient(device):
    emb = nn.Embedding(6, 2, padding_idx=-1).double().to(device)
    assert emb.padding_idx == 5
    np.testing.assert_array_equal(emb.weight.numpy()[5], 0)
    emb(Tensor(np.array([5, 2, 5]), device=device)).sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[5], 0)
    np.testing.assert_array_equal(grad[2], 1)


def test_from_pretrained_freezes_by_default():
    table = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    frozen = nn.Embedding.from_pretrained(Tensor(table))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(Tensor(np.array([2]))).numpy(), table[[2]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_bad_indices_get_clear_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="index 4 is out of range for a table of 4 rows"):
        emb(Tensor(np.array([0, 4])))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(Tensor(np.array([-1])))
    with pytest.raises(TypeError, match="indices must be integers"):
        emb(Tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="padding_idx 7 is out of range"):
        nn.Embedding(4, 2, padding_idx=7)


class CharModel(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        out, _ = self.lstm(self.embed(ids))
        return self.head(out)


def test_a_text_model_learns_end_to_end():
    """Embedding -> LSTM -> Linear learns to continue a repeating text."""
    tg.manual_seed(0)
    text = np.array([0, 1, 2, 3, 2, 1] * 6)
    inputs, targets = Tensor(text[None, :-1]), Tensor(text[None, 1:])
    model = CharModel(vocab=4, hidden=16)
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, 4), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(p.grad is not None for p in model.parameters())


def test_an_id_outside_the_table(device):
    """The CPU says which id is out of range; a GPU kernel cannot raise, and reads NaN rows."""
    table = nn.Embedding(4, 2).to(device)
    if device == "cpu":
        with pytest.raises(IndexError, match="index 4 is out of range for a table of 4 rows"):
            table(np.array([1, 4]))
    else:
        out = table(Tensor(np.array([1, 4, -1]), device=device)).numpy()
        assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()
