"""A CNN feeding an LSTM: the CNN encodes each digit image of a sequence into a vector,
the LSTM reads the vectors in order and outputs the running sum of the digits so far.

    python examples/cnn_lstm.py

Each sample is 3 random digit images; the targets are the sums after 1, 2 and 3 images
(classes 0-27), so the first step teaches the encoder to read a digit and the last one
needs all three. Expected result (about a minute on 2 CPU cores): the accuracy of the
full 3-digit sum on sequences of unseen test images starts near chance (7%), passes 50%
around epoch 7 and ends near 89% (seed 0: 88.9%); every one of the three digits must be
read right, so that is about 96% per digit.
"""
import numpy as np

import tinygrad_nb as tg
from tinygrad_nb import data, nn, optim

LENGTH, CLASSES = 3, 28  # digits per sequence; sums 0..27


def digit_sums(split, count, seed):
    """`count` sequences of LENGTH images from one split, with their running sums."""
    images, labels = data.digits(split).arrays
    pick = np.random.default_rng(seed).integers(0, len(labels), (count, LENGTH))
    return images[pick], np.cumsum(labels[pick], axis=1)  # (count, 3, 1, 8, 8), (count, 3)


class CNNLSTM(nn.Module):
    def __init__(self, features=64, hidden=128):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 4, 4)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 2, 2)
            nn.Flatten(), nn.Linear(128, features), nn.ReLU(),
        )
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, sequences):
        n, t = sequences.shape[:2]
        codes = self.encoder(sequences.reshape(n * t, 1, 8, 8)).reshape(n, t, -1)  # every image at once
        out, _ = self.lstm(codes)                                                    # (N, T, hidden)
        return self.head(out)                                                        # (N, T, 28)


def main(epochs=15, sequences=4000):
    tg.manual_seed(0)
    train = data.DataLoader(digit_sums("train", sequences, seed=0), batch_size=64, shuffle=True, seed=0)
    test_x, test_y = digit_sums("test", sequences // 4, seed=1)
    model = CNNLSTM()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for x, y in train:
            scores = model(x)                                                   # (N, T, C)
            loss = nn.functional.cross_entropy(scores.permute(0, 2, 1), y)      # expects (N, C, T)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with tg.no_grad():
            final = model(tg.Tensor(test_x))[:, -1].argmax(1).numpy()
        print(f"epoch {epoch}: train loss {np.mean(losses):.3f}, "
              f"test accuracy of the 3-digit sum {(final == test_y[:, -1]).mean():.1%}")


if __name__ == "__main__":
    main()
