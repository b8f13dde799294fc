"""summary() tables, the fit/evaluate training loop and its progress bars."""
import io
import re
import sys

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import data, nn, optim
from tinygrad_nb.progress import TextBar, progress_bar


@pytest.fixture
def no_tqdm(monkeypatch):
    """As if tqdm were not installed: importing it raises ImportError."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


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


def test_text_bar_rewrites_one_line():
    out = io.StringIO()
    bar = TextBar(4, "epoch 1/2", file=out, interval=0.0)
    bar.update()
    bar.set_postfix({"loss": "12.5000"}, refresh=False)
    bar.update()
    bar.set_postfix({"loss": "0.5000"})
    bar.close()
    assert out.getvalue().startswith("\r") and out.getvalue().endswith("\n")
    shown = out.getvalue()[1:-1].split("\r")
    assert re.fullmatch(r"epoch 1/2 \[\.{20}\] 0/4 \d+\.\ds", shown[0])
    assert re.fullmatch(r"epoch 1/2 \[#{5}\.{15}\] 1/4 \d+\.\ds", shown[1])
    assert re.fullmatch(r"epoch 1/2 \[#{10}\.{10}\] 2/4 loss=12\.5000 \d+\.\ds", shown[2])
    # One character shorter than the line before, so a space covers that line's last one.
    assert re.fullmatch(r"epoch 1/2 \[#{10}\.{10}\] 2/4 loss=0\.5000 \d+\.\ds ", shown[3])
    assert shown[4] == shown[3][:-1] and len(shown) == 5


def test_text_bar_shows_at_most_every_interval():
    out = io.StringIO()
    bar = TextBar(1000, "epoch 1/1", file=out, interval=3600.0)
    for _ in range(1000):
        bar.update()
    bar.close()
    shown = out.getvalue().split("\r")[1:]
    assert len(shown) == 2 and shown[1].startswith("epoch 1/1 [####################] 1000/1000 ")


def test_disabled_text_bar_writes_nothing():
    out = io.StringIO()
    bar = TextBar(3, "epoch 1/1", disable=True, file=out, interval=0.0)
    bar.update()
    bar.set_postfix({"loss": "1.0"})
    bar.close()
    assert out.getvalue() == ""


def test_progress_bar_is_tqdm_when_installed():
    tqdm = pytest.importorskip("tqdm.auto").tqdm
    bar = progress_bar(3, "epoch 1/1", disable=True)
    assert isinstance(bar, tqdm)
    bar.close()


def test_fit_without_tqdm_prints_a_text_bar(no_tqdm, capsys):
    assert isinstance(progress_bar(3, "epoch 1/1", disable=True), TextBar)
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    train = data.DataLoader(_blobs(64, 0), batch_size=16)
    val = data.DataLoader(_blobs(32, 1), batch_size=32)
    history = tg.fit(model, train, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), epochs=2, val_loader=val)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert all(len(v) == 2 for v in history.values())
    *lines, after = capsys.readouterr().err.split("\n")
    assert len(lines) == 2 and after == ""  # one line per epoch, each rewritten in place
    for epoch, line in enumerate(lines):
        last = line.split("\r")[-1].rstrip()
        metrics = (f"loss={history['loss'][epoch]:.4f}, acc={history['accuracy'][epoch]:.4f}, "
                   f"val_loss={history['val_loss'][epoch]:.4f}, val_acc={history['val_accuracy'][epoch]:.4f}")
        assert re.fullmatch(rf"epoch {epoch + 1}/2 \[#{{20}}\] 4/4 {re.escape(metrics)} \d+\.\ds", last), last


def test_fit_without_progress_prints_nothing(no_tqdm, capsys):
    model = nn.Linear(2, 3)
    tg.fit(model, data.DataLoader(_blobs(16, 0), batch_size=8), nn.CrossEntropyLoss(),
           optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert capsys.readouterr().err == ""
