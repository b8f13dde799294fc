"""The `tinygrad-nb` command: help, a short MLP run with --save and --plot, --resume, and errors."""
import subprocess
import sys

import numba  # noqa: F401  (already running, so main() leaves this process's thread count alone)
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import cli, models


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "-m", "tinygrad_nb", "--help"], capture_output=True, text=True, check=True).stdout
    assert "train" in out and "handwritten digits" in out
    out = subprocess.run([sys.executable, "-m", "tinygrad_nb", "train", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--model", "--epochs", "--batch-size", "--lr", "--device", "--seed", "--save", "--plot"):
        assert option in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 1
    assert "usage: tinygrad-nb" in capsys.readouterr().out


def test_train_mlp_saves_and_plots(tmp_path, capsys):
    save, plot = tmp_path / "mlp.npz", tmp_path / "mlp.png"
    args = ["train", "--model", "mlp", "--epochs", "3", "--quiet", "--save", str(save), "--plot", str(plot)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 90
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = tg.load(save)
    assert state["config"]["model"] == "mlp" and len(state["history"]["loss"]) == 3
    model = models.mlp()
    model.load_state_dict(state["model"])
    test = tg.data.digits("test")
    with tg.no_grad():
        predicted = model(tg.Tensor(test.arrays[0])).argmax(1).numpy()
    assert (predicted == test.arrays[1]).mean() == pytest.approx(accuracy / 100, abs=1e-4)


def test_same_seed_same_result(capsys):
    runs = []
    for _ in range(2):
        cli.main(["train", "--model", "mlp", "--epochs", "1", "--quiet", "--seed", "3"])
        runs.append(capsys.readouterr().out.split("test accuracy: ")[1].split(" ")[0])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("tqdm", [True, False], ids=["tqdm", "without_tqdm"])
def test_train_shows_progress(tqdm, monkeypatch, capsys):
    if tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert cli.main(["train", "--model", "mlp", "--epochs", "1"]) == 0
    captured = capsys.readouterr()
    assert "Total params: 9,610" in captured.out and "test accuracy: " in captured.out
    last = captured.err.rstrip("\n").split("\r")[-1]
    assert last.startswith("epoch 1/1") and "45/45" in last and "val_acc=" in last


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "transformer"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--epochs", "0"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["train", "--device", "tpu"])
    assert "unknown device 'tpu': expected 'cpu' or 'cuda'" in capsys.readouterr().err


def test_train_resumes_where_a_stopped_run_left_off(tmp_path, monkeypatch, capsys):
    """A run stopped after its first epoch and started again with the same command ends with
    the weights of a run that was never stopped."""
    from tinygrad_nb import training

    base = ["train", "--model", "mlp", "--epochs", "2", "--quiet", "--seed", "4"]
    assert cli.main(base + ["--save", str(tmp_path / "straight.npz")]) == 0
    save_state = training._save_state

    def stop_after_saving(*args):
        save_state(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_state", stop_after_saving)
    with pytest.raises(KeyboardInterrupt):
        cli.main(base + ["--resume", str(tmp_path / "state.npz")])
    monkeypatch.setattr(training, "_save_state", save_state)
    assert cli.main(base + ["--resume", str(tmp_path / "state.npz"), "--save", str(tmp_path / "resumed.npz")]) == 0
    straight, resumed = tg.load(tmp_path / "straight.npz")["model"], tg.load(tmp_path / "resumed.npz")["model"]
    for name in straight:
        np.testing.assert_array_equal(resumed[name].numpy(), straight[name].numpy())
    capsys.readouterr()
