"""Embedding: a lookup table of learned vectors, one row per token id.

The lookup is indexing, weight[ids] (one op, Embedding, with its own kernels), so its
gradient is indexing's: each row of the table receives the sum of the gradients of every
position that read it (a token seen three times in a batch gets three contributions).
"""
import numpy as np

from ..ops import movement as movement_ops
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def embedding(input, weight, padding_idx=None):
    """out[..., :] = weight[input[...], :] for integer ids `input` of any shape.
    The row padding_idx, if given, receives no gradient. The lookup runs on the table's
    device: ids given as arrays go there, and on a GPU an id outside the table gives a row
    of NaN instead of the CPU's IndexError (checking would copy the ids back every step)."""
    ids = input if isinstance(input, Tensor) else Tensor(np.asarray(input), device=weight.device)
    rows = weight.shape[0]
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {ids.dtype}")
    ids = ids.to(weight.device)
    if ids.device == "cpu" and ids.numel():
        host = ids.numpy()
        if host.min() < 0 or host.max() >= rows:
            bad = host.min() if host.min() < 0 else host.max()
            raise IndexError(f"embedding: index {bad} is out of range for a table of {rows} rows (shape {weight.shape})")
    out = movement_ops.Embedding.apply(weight, ids)
    if padding_idx is None:
        return out
    return Tensor.where((ids == _row(padding_idx, rows)).unsqueeze(-1), out.detach(), out)


def _row(padding_idx, rows):
    if not -rows <= padding_idx < rows:
        raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for {rows} embeddings")
    return padding_idx % rows


class Embedding(Module):
    """A table weight (num_embeddings, embedding_dim) drawn from N(0, 1), as in PyTorch;
    the padding_idx row starts at zero and is never updated."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else _row(padding_idx, num_embeddings)
        if _weight is None:
            self.weight = Parameter(Tensor.zeros(num_embeddings, embedding_dim, dtype=dtype or np.float32))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, "
                                 f"expected {(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            table = self.weight.numpy().copy()
            table[self.padding_idx] = 0
            self.weight.array = Tensor(table, device=self.weight.device).array

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding `embeddings` (2-D), trainable only with freeze=False."""
        embeddings = embeddings if isinstance(embeddings, Tensor) else Tensor(embeddings)
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        module = cls(*embeddings.shape, padding_idx=padding_idx, _weight=embeddings.detach())
        module.weight.requires_grad = not freeze
        return module

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"
