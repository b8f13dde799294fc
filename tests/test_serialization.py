"""save/load: round trips of module and optimiser state, the documented format, atomic
writes, and clear errors for corrupt or foreign files."""
import json
import os

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb.serialization import SerializationError


def _trained():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(tg.randn(8, 3)), Tensor(np.arange(8) % 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def test_module_and_optimizer_round_trip(tmp_path):
    model, opt = _trained()
    path = tmp_path / "checkpoint.npz"
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 2, "note": "digits"}, path)
    restored = tg.load(path)
    assert restored["epoch"] == 2 and restored["note"] == "digits"
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(restored["model"])
    x = tg.randn(5, 3)
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(model(x).numpy(), fresh(x).numpy())
    assert fresh[1].num_batches_tracked.item() == 2
    fresh_opt = optim.Adam(fresh.parameters())
    fresh_opt.load_state_dict(restored["optim"])
    assert fresh_opt.param_groups[0]["lr"] == 0.01 and fresh_opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert fresh_opt.state[next(fresh.parameters())]["step"] == 2


def test_types_keys_and_dtypes_survive(tmp_path):
    obj = {
        "t32": tg.ones(2, 3), "t64": Tensor(np.arange(3.0)), "labels": Tensor(np.arange(4)),
        "array": np.array([True, False]), 0: (1, 2.5, None), "nested": [{"x": float("inf")}],
    }
    tg.save(obj, tmp_path / "obj")  # any file name: nothing is appended
    back = tg.load(tmp_path / "obj")
    assert list(back) == ["t32", "t64", "labels", "array", 0, "nested"]
    assert isinstance(back["t32"], Tensor) and back["t32"].dtype == np.float32
    assert back["t64"].dtype == np.float64 and back["labels"].dtype == np.int64
    assert isinstance(back["array"], np.ndarray) and back["array"].dtype == bool
    assert back[0] == (1, 2.5, None) and back["nested"] == [{"x": float("inf")}]


def test_the_file_is_a_plain_npz_with_a_json_header(tmp_path):
    path = tmp_path / "w.npz"
    tg.save({"weight": tg.ones(2)}, path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["__tinygrad_nb__"].tobytes())
        assert header == {"format": "tinygrad_nb", "version": 1, "tree": {"dict": [["weight", {"tensor": "a0"}]]}}
        np.testing.assert_array_equal(archive["a0"], [1, 1])


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    tg.save({"v": 1}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        tg.save({"v": 2}, path)
    assert os.listdir(tmp_path) == ["w.npz"]
    assert tg.load(path) == {"v": 1}


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="save: cannot store an object of type set"):
        tg.save({"s": {1, 2}}, tmp_path / "x")
    with pytest.raises(TypeError, match="dictionary keys must be strings or ints"):
        tg.save({(1, 2): 3}, tmp_path / "x")
    with pytest.raises(TypeError, match="cannot store an array of dtype object"):
        tg.save({"o": np.array([{}], dtype=object)}, tmp_path / "x")
    assert not os.listdir(tmp_path)


def test_corrupt_and_foreign_files(tmp_path):
    good = tmp_path / "good.npz"
    tg.save({"w": tg.ones(100)}, good)
    data = good.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "garbage": b"this is not an archive at all",
        "empty": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SerializationError, match=f"'{tmp_path / name}' is corrupt or not a tinygrad_nb save file"):
            tg.load(tmp_path / name)
    np.savez(tmp_path / "foreign.npz", w=np.ones(2))
    with pytest.raises(SerializationError, match="without a '__tinygrad_nb__' header"):
        tg.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(SerializationError, match="single .npy array"):
        tg.load(tmp_path / "single.npy")
    np.savez(tmp_path / "pickled.npz", __tinygrad_nb__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SerializationError, match="holds dtype object; save stores only numbers and bools"):
        tg.load(tmp_path / "pickled.npz")
    header = json.dumps({"format": "tinygrad_nb", "version": 99, "tree": None}).encode()
    np.savez(tmp_path / "future.npz", __tinygrad_nb__=np.frombuffer(header, np.uint8))
    with pytest.raises(SerializationError, match="format version 99"):
        tg.load(tmp_path / "future.npz")
    header = json.dumps({"format": "tinygrad_nb", "version": 1, "tree": {"tensor": "a7"}}).encode()
    np.savez(tmp_path / "missing.npz", __tinygrad_nb__=np.frombuffer(header, np.uint8))
    with pytest.raises(SerializationError, match="header does not match its arrays"):
        tg.load(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="no such file"):
        tg.load(tmp_path / "absent.npz")


def test_killed_saves_leave_nothing_after_the_next_save(tmp_path):
    """Saves killed mid-write (SIGKILL: no cleanup runs) leave temporary files named after
    their process; the next save to that path removes the ones whose process is gone."""
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "big.npz"
    writer = (f"import numpy as np, tinygrad_nb as tg\nx = np.ones(2_000_000)\nprint('ready', flush=True)\n"
              f"while True:\n    tg.save({{'x': x}}, {str(path)!r})\n")
    for delay in (0.0, 0.01, 0.03, 0.05, 0.08):
        proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    live = tmp_path / f".big.npz.{os.getpid()}.kept.tmp"  # a save still running (this process)
    live.write_bytes(b"")
    tg.save({"x": np.arange(3)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(["big.npz", live.name])
    np.testing.assert_array_equal(tg.load(path)["x"], np.arange(3))


def _archive(path, members, compression=None):
    """A zip of the given {name: bytes} members, as an attacker would write one."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as z:
        for name, content in members.items():
            z.writestr(name, content)


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _header(tree, version=1):
    return _npy(np.frombuffer(json.dumps({"format": "tinygrad_nb", "version": version, "tree": tree}).encode(), np.uint8))


def test_hostile_files_are_refused_before_they_cost_memory(tmp_path):
    import zipfile

    cases = {
        # a compressed member, as a zip bomb's (a megabyte of zeros here): save never compresses
        "bomb": ({"__tinygrad_nb__.npy": _header({"tensor": "a0"}),
                  "a0.npy": _npy(np.zeros(1, np.uint8))[:128] + bytes(10**9 // 1000)}, zipfile.ZIP_DEFLATED,
                 "compressed"),
        "huge": ({"__tinygrad_nb__.npy": _header({"tensor": "a0"}),
                  "a0.npy": _npy(np.zeros(2, np.float32)).replace(b"(2,)", b"(2000000000000,)")}, None,
                 "declares an array of 8000000000000 bytes"),
        "strings": ({"__tinygrad_nb__.npy": _header({"array": "a0"}), "a0.npy": _npy(np.array(["a", "b"]))}, None,
                    "holds dtype <U1"),
        "structured": ({"__tinygrad_nb__.npy": _header({"array": "a0"}),
                        "a0.npy": _npy(np.zeros(2, [("x", np.float32), ("y", np.int8)]))}, None, "holds dtype"),
        "deep": ({"__tinygrad_nb__.npy": _npy(np.frombuffer(b"[" * 100000 + b"]" * 100000, np.uint8))}, None,
                 "corrupt or not a tinygrad_nb save file"),
        "nested": ({"__tinygrad_nb__.npy": _header(json.loads("[" * 80 + "]" * 80))}, None, "nested deeper than 64"),
        "version as text": ({"__tinygrad_nb__.npy": _header(None, version="1")}, None, "format version '1'"),
        "pytorch": ({"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3"}, None,
                    "looks like a PyTorch file"),
        "short": ({"__tinygrad_nb__.npy": _header({"tensor": "a0"}), "a0.npy": _npy(np.ones(100))[:-8]}, None,
                  "declares an array of 800 bytes in 792"),
    }
    for name, (members, compression, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        _archive(path, members, compression)
        with pytest.raises(SerializationError, match=message):
            tg.load(path)


def test_fuzzed_files_load_exactly_or_raise_serialization_error(tmp_path):
    """Truncations and byte flips of a real save file, 500 cases: each loads what was saved or
    raises SerializationError, quickly."""
    import time

    obj = {"w": tg.arange(12.0).reshape(3, 4), "steps": [1, 2.5, "x"], "b": np.arange(5, dtype=np.int64)}
    good = tmp_path / "good.npz"
    tg.save(obj, good)
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(500):
        damaged = bytearray(data)
        if case % 5 == 0:
            damaged = damaged[: rng.integers(0, len(data))]
        else:
            for at in rng.integers(0, len(data), rng.integers(1, 4)):
                damaged[at] = rng.integers(0, 256)
        path = tmp_path / "damaged.npz"
        path.write_bytes(bytes(damaged))
        start = time.perf_counter()
        try:
            back = tg.load(path)
        except SerializationError:
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            np.testing.assert_array_equal(back["w"].numpy(), obj["w"].numpy())
            np.testing.assert_array_equal(back["b"], obj["b"])
            assert back["steps"] == obj["steps"]
        assert time.perf_counter() - start < 1.0
    assert outcomes["refused"] > 300  # most damage is caught (the rest hit bytes zip does not check)
