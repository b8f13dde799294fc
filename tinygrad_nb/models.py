"""The small models `tinygrad-nb train` trains on the 8x8 handwritten digits.

Each takes images of shape (N, 1, 8, 8) and returns class scores (N, 10):
    mlp   the 64 pixels through two Linear layers
    cnn   two 3x3 convolutions with max pooling, then two Linear layers
    lstm  the image read as a sequence of 8 rows of 8 pixels by an LSTM; the last hidden
    gru   state (of a GRU for gru) classifies it
"""
from . import nn


def mlp(hidden=128):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def cnn(channels=(32, 64), hidden=128):
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, c1, 4, 4)
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, c2, 2, 2)
        nn.Flatten(), nn.Linear(c2 * 4, hidden), nn.ReLU(), nn.Linear(hidden, 10),
    )


class RowReader(nn.Module):
    """Reads an image row by row with a recurrent layer and classifies its last state."""

    def __init__(self, cell="lstm", hidden=64):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, images):
        rows = images.reshape(images.shape[0], 8, 8)  # (N, time = row, features = pixels)
        out = self.rnn(rows)[0]
        return self.head(out[:, -1])


MODELS = {"mlp": mlp, "cnn": cnn, "lstm": lambda: RowReader("lstm"), "gru": lambda: RowReader("gru")}
