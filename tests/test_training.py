"""summary() tables and the fit/evaluate training loop."""
import numpy as np

import tinygrad_nb as tg
from tinygrad_nb import data, nn, optim




def test_summary_table():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    model[2].weight.requires_grad = False
    table = tg.summary(model, (2, 1, 8, 8), print_fn=None)
    lines = table.splitlines()
    assert lines[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert "1 (Linear)" in lines[4] and "[2, 16]" in lines[4] and "1,040" in lines[4]
    assert "4 (Linear)" in lines[7] and "[2, 10]" in lines[7] and "170" in lines[7]
    assert "Total params: 1,242" in table and "Trainable params: 1,226" in table and "Non-trainable params: 16" in table
    assert model.training and model[2].training  # modes restored
    assert "forward" not in vars(model[1])  # recording hooks removed


def test_summary_prints(capsys):
    tg.summary(nn.Linear(3, 2), (4, 3))
    assert "Linear (Linear)" in capsys.readouterr().out


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]], np.float32)
    return (centres[labels] + rng.standard_normal((n, 2)).astype(np.float32) * 0.5), labels


def test_fit_learns_and_reports_history():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    train = data.DataLoader(_blobs(300, 0), batch_size=32, shuffle=True, seed=0)
    val = data.DataLoader(_blobs(100, 1), batch_size=50)
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = tg.fit(model, train, nn.CrossEntropyLoss(), opt, epochs=4, val_loader=val, scheduler=sched, progress=False)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert all(len(v) == 4 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    assert opt.param_groups[0]["lr"] == 0.2 * 0.25
    loss, accuracy = tg.evaluate(model, val, nn.CrossEntropyLoss())
    assert accuracy == history["val_accuracy"][-1] and loss == history["val_loss"][-1]


def test_fit_regression_has_no_accuracy():
    model = nn.Linear(1, 1)
    x = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]
    loader = data.DataLoader((x, 3 * x), batch_size=8)
    history = tg.fit(model, loader, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), epochs=3, progress=False)
    assert set(history) == {"loss", "seconds"}
    assert tg.evaluate(model, loader)[1] is None
