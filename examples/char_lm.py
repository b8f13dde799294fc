"""A character-level language model: an LSTM learns to continue the Zen of Python
(`import this`), the text that ships with every Python, then writes some of its own.

    python examples/char_lm.py

The model sees windows of 64 characters and learns to predict each next character
(Embedding -> LSTM -> Linear over the 45 distinct characters). Expected result (about
20 s on 2 CPU cores): the loss falls from ln 45 = 3.8 to 0.27 by epoch 5 and under 0.1
by epoch 15, and the sample that starts from "Beautiful" recites the Zen word for word:

    epoch 5: loss 0.273
    epoch 10: loss 0.104
    epoch 15: loss 0.082
    Beautiful is better than ugly.
    Explicit is better than implicit.
    Simple is better than complex.
    ...
"""
import numpy as np

import tinygrad_nb as tg
from tinygrad_nb import data, nn, optim


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state  # scores (N, T, vocab) for the next character at every step


def sample(model, vocab, start, length=200, temperature=0.5, seed=0):
    """Feed `start`, then draw one character at a time from the softmax of the scores."""
    rng = np.random.default_rng(seed)
    ids, text, state = [vocab.index(c) for c in start], start, None
    model.eval()
    with tg.no_grad():
        for _ in range(length):
            scores, state = model(tg.Tensor(np.array([ids])), state)
            p = (scores[0, -1] / temperature).softmax(-1).numpy().astype(np.float64)
            ids = [int(rng.choice(len(vocab), p=p / p.sum()))]
            text += vocab[ids[0]]
    return text


def main(epochs=15):
    tg.manual_seed(0)
    windows, vocab = data.char_sequences(data.zen_of_python(), length=64)
    loader = data.DataLoader(windows, batch_size=32, shuffle=True, seed=0)
    model = CharLSTM(len(vocab))
    opt = optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for x, y in loader:
            scores, _ = model(x)
            loss = nn.functional.cross_entropy(scores.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # keeps early LSTM steps from blowing up
            opt.step()
            losses.append(loss.item())
        if epoch % 5 == 0:
            print(f"epoch {epoch}: loss {np.mean(losses):.3f}")
    print(sample(model, vocab, "Beautiful"))


if __name__ == "__main__":
    main()
