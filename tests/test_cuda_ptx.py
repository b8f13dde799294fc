"""Every GPU kernel compiles for a real GPU (sm_90), not only runs in the simulator.

The suite's simulated launches are recorded (conftest.py) and compiled by NVIDIA's compiler
in a process with the simulator off (ptx.py); this test runs last to see them all. Run on
its own, it launches a small CNN and LSTM training step first. Skipped where the compiler
wheels (`pip install -e '.[ptx]'`) are missing, and on a GPU, where the suite compiles every
kernel for real anyway."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LAUNCHES

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("a GPU compiles every kernel as the suite launches it", allow_module_level=True)

import ptx  # noqa: E402


def _train_a_little():
    """A conv net and an LSTM stepped once each on the simulated GPU, to have launches to compile."""
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8, 3)).to("cuda")
    lstm, head = nn.LSTM(3, 4, batch_first=True).to("cuda"), nn.Linear(4, 3).to("cuda")
    opt = optim.Adam(list(cnn.parameters()) + list(lstm.parameters()) + list(head.parameters()))
    y = Tensor(rng.integers(0, 3, 2), device="cuda")
    images = Tensor(rng.standard_normal((2, 1, 4, 4)).astype(np.float32), device="cuda")
    sequences = Tensor(rng.standard_normal((2, 5, 3)).astype(np.float32), device="cuda")
    loss = F.cross_entropy(cnn(images), y) + F.cross_entropy(head(lstm(sequences)[0][:, -1]), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_every_launched_kernel_compiles_for_sm90(tmp_path):
    if not LAUNCHES:
        _train_a_little()
    launches, report = tmp_path / "launches.pkl", tmp_path / "report.json"
    launches.write_bytes(pickle.dumps(LAUNCHES))
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, str(Path(ptx.__file__)), str(launches), str(report)], env=env,
                          capture_output=True, text=True, timeout=1200)
    if done.returncode == ptx.NO_COMPILER:
        pytest.skip("NVIDIA's compiler wheels are not installed (pip install -e '.[ptx]')")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["failures"] == []
    assert result["compiled"] >= 10
