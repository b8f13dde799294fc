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
import math
import numbers
import os
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT, VERSION, HEADER = "tinygrad_nb", 1, "__tinygrad_nb__"


class SerializationError(ValueError):
    """A file that is not a readable tinygrad_nb save file."""


def flatten(obj):
    """(tree, arrays): obj as save stores it, in memory: the JSON-able tree of the header
    and the arrays it names (how data-parallel training sends an optimiser's state)."""
    arrays = {}
    return _encode(obj, arrays), arrays


def unflatten(tree, arrays, device="cpu"):
    """The object that flatten took apart."""
    return _decode(tree, arrays, device, 0)


def save(obj, path):
    """Write obj (nested dicts, lists and tuples of Tensors, arrays, numbers, strings) to path."""
    tree, arrays = flatten(obj)
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
    tinygrad_nb save file raises SerializationError saying why.

    Files may come from anyone, so nothing in them is trusted: every member must be a plain
    .npy array of numbers or bools, stored as save stores it (uncompressed: no zip bomb),
    whose header declares exactly the bytes it holds; memory grows only with what the file
    itself holds, and every refusal comes before a large allocation."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file '{path}'")
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise SerializationError(f"load: '{path}' is a single .npy array, not a tinygrad_nb save file")
        with zipfile.ZipFile(path) as archive:
            header, arrays = _read_archive(archive, path, os.path.getsize(path))
    except SerializationError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError, EOFError,
            UnicodeDecodeError, RecursionError) as e:
        raise SerializationError(f"load: '{path}' is corrupt or not a tinygrad_nb save file ({type(e).__name__}: {e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
        raise SerializationError(f"load: '{path}' has a header that is not tinygrad_nb's")
    if header.get("version") != VERSION:
        raise SerializationError(f"load: '{path}' is format version {header.get('version')!r}; this library reads version {VERSION}")
    try:
        return _decode(header["tree"], arrays, device, 0)
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(f"load: '{path}' is damaged: its header does not match its arrays ({e})") from e


MAX_DEPTH = 64  # nesting of lists, tuples and dicts in a saved object


def _read_archive(archive, path, file_size):
    """(the JSON header, {name: array}) of a save file's zip archive, checked member by member."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if any(name.endswith(".pkl") for name in names):
        raise SerializationError(
            f"load: '{path}' looks like a PyTorch file (torch.save pickles its objects, and load never runs "
            "pickles); in PyTorch, save {name: tensor.numpy()} with numpy.savez, or load a state_dict there "
            "and pass it to load_state_dict here")
    if f"{HEADER}.npy" not in names:
        raise SerializationError(f"load: '{path}' is a zip archive without a '{HEADER}' header; not a tinygrad_nb save file")
    if len(set(names)) != len(names):
        raise SerializationError(f"load: '{path}' holds two members of one name")
    arrays = {}
    for info in infos:
        arrays[info.filename[:-4]] = _read_member(archive, info, path, file_size)
    raw = arrays.pop(HEADER)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(f"load: '{path}' has a header that is not tinygrad_nb's")
    return json.loads(raw.tobytes().decode("utf-8")), arrays


def _read_member(archive, info, path, file_size):
    """One member's array, read only after its zip entry and .npy header add up."""
    where = f"load: '{path}', member '{info.filename}'"
    if not info.filename.endswith(".npy"):
        raise SerializationError(f"{where}: not a .npy array")
    if info.compress_type != zipfile.ZIP_STORED:
        raise SerializationError(f"{where}: compressed; save never compresses, so this file is not one it wrote")
    if info.file_size != info.compress_size or info.file_size > file_size:
        raise SerializationError(f"{where}: declares {info.file_size} bytes in a file of {file_size}")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise SerializationError(f"{where}: .npy format version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise SerializationError(f"{where}: holds dtype {dtype}; save stores only numbers and bools")
        nbytes = math.prod(shape) * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            raise SerializationError(f"{where}: declares an array of {nbytes} bytes in {info.file_size - f.tell()}")
        data = bytearray(nbytes)
        if f.readinto(data) != nbytes or f.read(1):
            raise SerializationError(f"{where}: shorter than it declares")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def _decode(node, arrays, device, depth):
    if depth > MAX_DEPTH:
        raise ValueError(f"objects nested deeper than {MAX_DEPTH}")
    if isinstance(node, list):
        return [_decode(v, arrays, device, depth + 1) for v in node]
    if not isinstance(node, dict):
        return node
    (kind, value), = node.items()
    if kind == "tensor":
        return Tensor(arrays[value], device=device)
    if kind == "array":
        return arrays[value]
    if kind == "tuple":
        return tuple(_decode(v, arrays, device, depth + 1) for v in value)
    if kind == "dict":
        return {key: _decode(v, arrays, device, depth + 1) for key, v in value}
    raise ValueError(f"unknown node kind '{kind}'")
