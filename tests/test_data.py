"""DataLoader batching and shuffling, and the bundled data sets."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, data


def _loader(**kwargs):
    x, y = np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10)
    return data.DataLoader(data.TensorDataset(x, y), **kwargs)


def test_batches_in_order_with_a_short_last_batch():
    loader = _loader(batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, Tensor) and x.shape == (4, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(10))


def test_drop_last():
    loader = _loader(batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(b[1]) for b in loader] == [4, 4]


def test_seeded_shuffle_is_reproducible_and_new_each_epoch():
    first = _loader(batch_size=10, shuffle=True, seed=1)
    epoch1, epoch2 = next(iter(first))[1].numpy(), next(iter(first))[1].numpy()
    assert sorted(epoch1) == list(range(10)) and not (epoch1 == epoch2).all()
    again = _loader(batch_size=10, shuffle=True, seed=1)
    np.testing.assert_array_equal(next(iter(again))[1].numpy(), epoch1)
    x, y = next(iter(again))
    np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())  # inputs and targets stay paired


def test_shuffle_without_seed_follows_manual_seed():
    tg.manual_seed(5)
    a = next(iter(_loader(batch_size=10, shuffle=True)))[1].numpy()
    tg.manual_seed(5)
    np.testing.assert_array_equal(next(iter(_loader(batch_size=10, shuffle=True)))[1].numpy(), a)


def test_plain_arrays_and_custom_datasets():
    (only,) = next(iter(data.DataLoader(np.ones((5, 2)), batch_size=5)))
    assert only.shape == (5, 2)
    (x, y), = [next(iter(data.DataLoader((np.zeros((3, 2)), np.arange(3)), batch_size=3)))]
    assert x.shape == (3, 2) and y.shape == (3,)

    class Squares:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.array([i], np.float32), i * i

    x, y = next(iter(data.DataLoader(Squares(), batch_size=3)))
    assert x.shape == (3, 1) and y.numpy().tolist() == [0, 1, 4]


def test_errors():
    with pytest.raises(ValueError, match="same length"):
        data.TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        _loader(batch_size=0)


def test_digits_split():
    train, test = data.digits("train"), data.digits("test")
    assert len(train) + len(test) == 1797 and len(test) == 359
    images, labels = train.arrays
    assert images.shape == (len(train), 1, 8, 8) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and set(labels) == set(range(10))
    assert not set(map(bytes, test.arrays[0])) & set(map(bytes, images))  # no image in both splits
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.digits("validation")


def test_sequence_sets():
    x, y = data.sine_waves(n=4, length=20).arrays
    assert x.shape == y.shape == (4, 20, 1)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # the target is the input one step later
    x, y = data.copy_task(n=3, length=5, vocab=4).arrays
    assert x.shape == y.shape == (3, 10)
    np.testing.assert_array_equal(x[:, :5], y[:, 5:])
    assert (x[:, 5:] == 0).all() and (x[:, :5] >= 1).all() and x.max() <= 4


def test_text_and_char_sequences():
    text = data.zen_of_python()
    assert text.startswith("The Zen of Python, by Tim Peters") and "Beautiful is better than ugly." in text
    windows, vocab = data.char_sequences("abcabd", 3)
    x, y = windows.arrays
    assert vocab == "abcd" and x.tolist() == [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    assert y.tolist() == [[1, 2, 0], [2, 0, 1], [0, 1, 3]]


def test_digits_read_directly_match_scikit_learn():
    from sklearn.datasets import load_digits

    from tinygrad_nb.data.builtin_datasets import _digits_arrays

    images, labels = _digits_arrays()
    reference = load_digits()
    np.testing.assert_array_equal(images[:, 0] * 16, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
