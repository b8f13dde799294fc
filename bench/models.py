"""The networks the benchmarks train, in one place. LeNet and the C3D blocks are written
once over a module namespace, `tinygrad_nb.nn` or `torch.nn` (the same names and
arguments), so that every implementation of a workload times the same network."""
from tinygrad_nb import nn as tg_nn


def lenet(nn):
    """Two 3x3 convolutions (32 and 64 filters) with ReLU and 2x2 max pooling, then
    Linear(3136, 128), ReLU, Linear(128, 10): 28x28 grey images -> 10 class scores."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def c3d(nn):
    """C3D's first two blocks (Tran et al., 2015), then global pooling and a classifier:
    RGB clips (N, 3, frames, height, width) -> 10 class scores."""
    return nn.Sequential(
        nn.Conv3d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
        nn.Conv3d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(128, 10),
    )


class LastStepLSTM(tg_nn.Module):
    """An LSTM(64, 128) over a sequence (T, N, 64) whose last output a Linear(128, 10) classifies."""

    def __init__(self):
        super().__init__()
        self.lstm, self.head = tg_nn.LSTM(64, 128), tg_nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])
