"""save(obj, path) and load(path): state dicts (of modules and optimisers) on disk, in a
format that can never run code when read.

The file is a NumPy `.npz` archive (a zip of `.npy` arrays) read with allow_pickle=False:

    __tinygrad_nb__.npy   UTF-8 JSON as a uint8 array:
                          {"format": "tinygrad_nb", "version": 1, "tree": <node>}
    a0.npy, a1.npy, ...   one array for each Tensor or NumPy array in the object

A <node> is a JSON number, string, bool, null or list (a Python list), or one of
    {"tensor": "a0"}  {"array": "a0"}   a Tensor / a NumPy array stored as a0.npy
    {"tuple": [<node>, ...]}
    {"dict": [[key, <node>], ...]}       keys are strings or ints, in their order
so `np.load(path)` can read the arrays of a file without this library.

save writes to a temporary file in the target's folder and renames it over the target,
so a crash mid-write leaves the old file (or none), never half of one. The temporary file,
`.<name>.<pid>.<random>.tmp`, is what a killed save leaves behind; the next save to the same
path removes those whose process no longer runs.
"""
import json
import numbers
import os
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT, VERSION, HEADER = "tinygrad_nb", 1, "__tinygrad_nb__"


class SerializationError(ValueError):
    """A file that is not a readable tinygrad_nb save file."""


def save(obj, path):
    """Write obj (nested dicts, lists and tuples of Tensors, arrays, numbers, strings) to path."""
    arrays = {}
    tree = _encode(obj, arrays)
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")
    arrays[HEADER] = np.frombuffer(header, dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    _remove_litter(folder, os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_litter(folder, name):
    """Delete the temporary files that saves to `name` killed mid-write left in `folder`:
    those whose writer's process is gone (a save still running elsewhere keeps its own)."""
    prefix = f".{name}."
    for entry in os.listdir(folder):
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            try:
                os.unlink(os.path.join(folder, entry))
            except FileNotFoundError:
                pass


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _encode(obj, arrays):
    if isinstance(obj, (Tensor, np.ndarray)):
        name = f"a{len(arrays)}"
        arrays[name] = obj.numpy() if isinstance(obj, Tensor) else obj
        if arrays[name].dtype.kind not in "biuf":
            raise TypeError(f"save: cannot store an array of dtype {arrays[name].dtype}; expected numbers or bools")
        return {"tensor" if isinstance(obj, Tensor) else "array": name}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, str, numbers.Integral, float)):
        return obj
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dictionary keys must be strings or ints, got {key!r}")
        return {"dict": [[key, _encode(value, arrays)] for key, value in obj.items()]}
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__}")


def load(path, device="cpu"):
    """Read what save wrote; Tensors come back on `device`. A file that is not a
    tinygrad_nb save file raises SerializationError saying why."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file '{path}'")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise SerializationError(f"load: '{path}' is a single .npy array, not a tinygrad_nb save file")
        with archive:
            if HEADER not in archive.files:
                raise SerializationError(f"load: '{path}' is an .npz archive without a '{HEADER}' header; not a tinygrad_nb save file")
            header = json.loads(archive[HEADER].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != HEADER}
    except SerializationError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        raise SerializationError(f"load: '{path}' is corrupt or not a tinygrad_nb save file ({type(e).__name__}: {e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
        raise SerializationError(f"load: '{path}' has a header that is not tinygrad_nb's")
    if header.get("version") != VERSION:
        raise SerializationError(f"load: '{path}' is format version {header.get('version')}; this library reads version {VERSION}")
    try:
        return _decode(header["tree"], arrays, device)
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(f"load: '{path}' is damaged: its header does not match its arrays ({e})") from e


def _decode(node, arrays, device):
    if isinstance(node, list):
        return [_decode(v, arrays, device) for v in node]
    if not isinstance(node, dict):
        return node
    (kind, value), = node.items()
    if kind == "tensor":
        return Tensor(arrays[value], device=device)
    if kind == "array":
        return arrays[value]
    if kind == "tuple":
        return tuple(_decode(v, arrays, device) for v in value)
    if kind == "dict":
        return {key: _decode(v, arrays, device) for key, v in value}
    raise ValueError(f"unknown node kind '{kind}'")
