"""Small data sets to train on, built in: scikit-learn's handwritten digits (the optional
extra `digits`), sequence tasks made in code, and the Zen of Python, which ships with Python
itself, as text for a character-level model."""
import codecs
import importlib.util
import os

import numpy as np

from .dataset import TensorDataset


def digits(split="train", test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8 grey images, classes 0-9) as a
    TensorDataset of images (N, 1, 8, 8) in [0, 1], float32, and labels (N,), int64.
    A fixed shuffle with `seed` splits off the last test_fraction as the 'test' split."""
    if split not in ("train", "test"):
        raise ValueError(f"digits: split must be 'train' or 'test', got {split!r}")
    images, labels = _digits_arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    chosen = order[: len(order) - n_test] if split == "train" else order[len(order) - n_test :]
    return TensorDataset(images[chosen], labels[chosen])


def _digits_arrays():
    """Images (1797, 1, 8, 8) scaled to [0, 1] and labels, from the CSV file inside
    scikit-learn, read directly: importing sklearn.datasets takes seconds, reading the file
    milliseconds. load_digits, which reads the same file, is the fallback."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("digits: needs scikit-learn; install it with  pip install 'tinygrad_nb[digits]'")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        pixels, labels = load_digits(return_X_y=True)
    return (pixels / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), labels.astype(np.int64)


def sine_waves(n=256, length=50, seed=0):
    """Next-step prediction: inputs (n, length, 1) are sine waves of random frequency and
    phase, targets (n, length, 1) the same waves one step later."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.3, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(freq * np.arange(length + 1) + phase).astype(np.float32)[:, :, None]
    return TensorDataset(wave[:, :-1], wave[:, 1:])


def copy_task(n=256, length=8, vocab=8, seed=0):
    """Memory test: inputs (n, 2 * length) are `length` random tokens 1..vocab followed by
    blanks (0); targets are blanks followed by the same tokens, so a model must remember
    the first half to write the second. Both int64."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab + 1, (n, length))
    blank = np.zeros((n, length), np.int64)
    return TensorDataset(np.concatenate([tokens, blank], 1), np.concatenate([blank, tokens], 1))


def zen_of_python():
    """The Zen of Python (PEP 20), read from the `this` module that ships with Python
    (stored there ROT13-encoded; importing `this` would print it, so we read the source)."""
    source = open(importlib.util.find_spec("this").origin, encoding="utf-8").read()
    encoded = source.split('"""')[1]
    return codecs.decode(encoded, "rot13")


def char_sequences(text, length):
    """Character-level language modelling: the text cut into windows. Returns
    (TensorDataset of inputs (N, length) and targets (N, length) shifted by one, both
    int64 character ids; the sorted vocabulary string, id -> character)."""
    vocab = "".join(sorted(set(text)))
    ids = np.array([vocab.index(c) for c in text], np.int64)
    if len(ids) <= length:
        raise ValueError(f"char_sequences: text of {len(ids)} characters is too short for windows of {length}")
    starts = np.arange(0, len(ids) - length)
    windows = ids[starts[:, None] + np.arange(length + 1)]
    return TensorDataset(windows[:, :-1], windows[:, 1:]), vocab
