"""Data: a DataLoader that batches arrays, and small data sets to train on.

    train = data.digits("train")                   # scikit-learn's handwritten digits
    for images, labels in data.DataLoader(train, batch_size=64, shuffle=True, seed=0):
        ...                                         # Tensors of shape (64, 1, 8, 8) and (64,)

The digits ship inside scikit-learn (the optional extra `digits`); the sequence sets are
made in code; the text is the Zen of Python, which ships with Python itself.

    dataset.py           Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, random_split
    collate.py           default_collate: samples -> a batch
    dataloader.py        DataLoader (its worker processes: tinygrad_nb/workers.py)
    builtin_datasets.py  digits, sine_waves, copy_task, zen_of_python, char_sequences
"""
from ..workers import WorkerInfo, get_worker_info
from .builtin_datasets import char_sequences, copy_task, digits, sine_waves, zen_of_python
from .collate import default_collate
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "default_collate",
           "DataLoader", "WorkerInfo", "get_worker_info", "digits", "sine_waves", "copy_task", "zen_of_python",
           "char_sequences"]
