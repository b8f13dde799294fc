"""The main job end to end: `tinygrad-nb train` with its defaults, in a fresh process as a
user runs it, trains the small CNN on the handwritten digits to > 95% test accuracy."""
import os
import subprocess
import sys


def _command():
    script = os.path.join(os.path.dirname(sys.executable), "tinygrad-nb")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "tinygrad_nb"]


def test_default_cnn_learns_the_digits():
    run = subprocess.run(_command() + ["train", "--quiet"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("cnn on the handwritten digits")
    accuracy = float(run.stdout.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 95.0, run.stdout
