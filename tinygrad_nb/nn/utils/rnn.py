"""Variable-length sequences for the recurrent layers, with PyTorch's API (torch.nn.utils.rnn).

    padded = pad_sequence([a, b, c])                        # (T, 3, *) with T the longest
    packed = pack_padded_sequence(padded, [5, 2, 4], enforce_sorted=False)
    out, h_n = nn.GRU(8, 16)(packed)                         # each sequence stops at its length
    out, lengths = pad_packed_sequence(out)                  # (T, 3, 16), zeros past each end

A PackedSequence keeps the real steps only, time-major, the sequences sorted longest
first: `data` holds step 0 of every sequence, then step 1 of those still running, and so
on; batch_sizes[t] is how many sequences step t has. For lengths [3, 1, 2]:

    sorted order a, c, b:   data = a0 c0 b0 | a1 c1 | a2,   batch_sizes = [3, 2, 1]
    sorted_indices = [0, 2, 1] (the original batch position of each sorted one),
    unsorted_indices = [0, 2, 1] (where each original sequence went; the inverse permutation)

Every conversion is one gather (Tensor indexing with an integer array), so gradients flow
back to the padded input or the packed data. The recurrent layers read a PackedSequence
as a padded batch plus its lengths (see `padded_batch`), in sorted order.
"""
import functools
from collections import namedtuple

import numpy as np

from ...tensor import Tensor


def _host_ints(values, what):
    """values (a list, an array or a Tensor) as a NumPy int64 array."""
    array = values.numpy() if isinstance(values, Tensor) else np.asarray(values)
    if array.dtype.kind not in "iu" and array.size:
        raise TypeError(f"{what} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def invert_permutation(permutation):
    """The permutation that undoes `permutation` (an integer Tensor), on its device."""
    if permutation is None:
        return None
    order = _host_ints(permutation, "invert_permutation: the permutation")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return Tensor(inverse, device=permutation.device)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A batch of sequences of different lengths, packed (see the module's docstring):
    data (sum(lengths), *) on any device; batch_sizes (T,) int64, on the CPU as in PyTorch;
    sorted_indices and unsorted_indices (B,) int64 on data's device, or None when the batch
    was already sorted. Make one with pack_padded_sequence or pack_sequence."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, target):
        """The same sequence with data moved to a device or cast to a dtype (`.to('cuda')`,
        `.to(np.float64)`); the indices follow data's device, batch_sizes stays on the CPU."""
        data = self.data.to(target)
        if data is self.data:
            return self
        indices = (None if i is None else i.to(data.device) for i in (self.sorted_indices, self.unsorted_indices))
        return type(self)(data, self.batch_sizes, *indices)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    @property
    def is_cuda(self):
        return self.data.device == "cuda"


# ---- where the packed rows sit in a padded batch --------------------------------------------
def _sorted_lengths(batch_sizes):
    """Each sorted sequence's length, from batch_sizes: sequence b runs while batch_sizes[t] > b."""
    return (batch_sizes[:, None] > np.arange(batch_sizes[0])).sum(axis=0)


def _packed_rows(batch_sizes):
    """For each packed row, in order, its row t*B + b of a time-major padded batch flattened to
    (total_length * B, *), B = batch_sizes[0] (sorted order)."""
    B = batch_sizes[0]
    steps, batch = np.nonzero(np.arange(B) < batch_sizes[:, None])  # row-major: the packed order
    return steps * B + batch


@functools.lru_cache(maxsize=64)
def _layout(batch_sizes, device):
    """For batch_sizes (a tuple) on `device`, the Tensors a recurrent layer reads a packed
    sequence through: the sorted lengths (B,) int64, to_padded (T*B,), the row of data (or
    the padding row, sum(lengths), past its end) for each row of the padded batch, and
    to_packed (sum(lengths),), the padded row of each packed one. Cached, so that a batch
    of one shape uploads them once (and a captured CUDA graph may replay with them)."""
    sizes = np.asarray(batch_sizes, np.int64)
    rows = _packed_rows(sizes)
    to_padded = np.full(len(sizes) * sizes[0], rows.size, np.int64)
    to_padded[rows] = np.arange(rows.size)
    return tuple(Tensor(a, device=device) for a in (_sorted_lengths(sizes), to_padded, rows))


def padded_batch(sequence):
    """A PackedSequence as the recurrent layers run it: (x, lengths, to_packed), x the padded
    batch (T, B, *) time-major in sorted order (zeros past each end), lengths (B,) int64 on
    data's device, and to_packed the index that gathers the packed rows back out of an
    output (T, B, *) flattened to (T*B, *)."""
    data, sizes = sequence.data, _host_ints(sequence.batch_sizes, "PackedSequence: batch_sizes")
    lengths, to_padded, to_packed = _layout(tuple(sizes.tolist()), data.device)
    with_pad = Tensor.cat([data, Tensor.zeros((1, *data.shape[1:]), dtype=data.dtype, device=data.device)])
    return with_pad[to_padded].reshape(len(sizes), int(sizes[0]), *data.shape[1:]), lengths, to_packed


# ---- the public functions -------------------------------------------------------------------
def _check_lengths(name, lengths, input_shape, T, B):
    if lengths.ndim != 1 or lengths.size != B:
        raise RuntimeError(f"{name}: Expected `len(lengths)` to be equal to batch_size, but got {lengths.size} "
                           f"(batch_size={B}); lengths of shape {lengths.shape} for input of shape {input_shape}")
    if (lengths <= 0).any():
        raise RuntimeError(f"{name}: Length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if (lengths > T).any():
        raise RuntimeError(f"{name}: a length is longer than the input's {T} steps: lengths {lengths.tolist()} "
                           f"for input of shape {input_shape}; expected every length in 1..{T}")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch input (T, B, *) ((B, T, *) with batch_first) whose sequence b has
    lengths[b] real steps. With enforce_sorted the lengths must not increase (sorted_indices
    is then None); otherwise the batch is sorted here and the order kept to undo it."""
    name = "pack_padded_sequence"
    if input.ndim < 2:
        raise RuntimeError(f"{name}: expected input of shape (T, B, *) or (B, T, *) with batch_first, "
                           f"got {input.shape}")
    lengths = _host_ints(lengths, f"{name}: lengths")
    B, T = input.shape[:2] if batch_first else input.shape[1::-1]
    _check_lengths(name, lengths, input.shape, T, B)
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError(
                f"{name}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can "
                "pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this "
                f"requirement if you do not need ONNX exportability. Got lengths {lengths.tolist()}")
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor(order, device=input.device)
    sizes = (lengths[order] > np.arange(lengths.max())[:, None]).sum(axis=1)
    rows = _packed_rows(sizes)
    step, original = rows // B, order[rows % B]
    flat_rows = original * T + step if batch_first else step * B + original
    data = input.reshape(T * B, *input.shape[2:])[flat_rows]
    return PackedSequence(data, Tensor(sizes), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded, lengths), padded (T, B, *) ((B, T, *) with
    batch_first) in the original batch order with padding_value past each sequence's end,
    T = total_length or the longest length; lengths (B,) int64 on the CPU."""
    data, sizes = sequence.data, _host_ints(sequence.batch_sizes, "pad_packed_sequence: batch_sizes")
    longest, B = len(sizes), int(sizes[0])
    T = longest if total_length is None else int(total_length)
    if T < longest:
        raise ValueError(f"pad_packed_sequence: Expected total_length to be at least the length of the longest "
                         f"sequence in input, but got total_length={total_length} and max sequence length being "
                         f"{longest}")
    unsorted = np.arange(B) if sequence.unsorted_indices is None else _host_ints(sequence.unsorted_indices, "indices")
    to_padded = np.full((T, B), data.shape[0], np.int64)  # the padding row, past data's end
    to_padded.reshape(-1)[_packed_rows(sizes)] = np.arange(data.shape[0])
    to_padded = to_padded[:, unsorted]  # original sequence b is sorted sequence unsorted[b]
    if batch_first:
        to_padded = to_padded.T
    pad = Tensor.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = Tensor.cat([data, pad])[np.ascontiguousarray(to_padded).reshape(-1)].reshape(*to_padded.shape,
                                                                                           *data.shape[1:])
    return padded, Tensor(_sorted_lengths(sizes)[unsorted])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences (L_i, *) of one trailing shape into (T, B, *) ((B, T, *) with
    batch_first), T the longest L_i, filling with padding_value after each sequence (before
    it with padding_side='left')."""
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    trailing = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.ndim < 1 or s.shape[1:] != trailing:
            raise RuntimeError(f"pad_sequence: expected every sequence of shape (L, *{trailing}) like the first, "
                               f"got {s.shape} for sequence {i}")
    T = max(s.shape[0] for s in sequences)
    rest = [(0, 0)] * len(trailing)
    padded = [s.pad([(T - s.shape[0], 0) if padding_side == "left" else (0, T - s.shape[0])] + rest, padding_value)
              for s in sequences]
    return Tensor.stack(padded, axis=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *): pack_padded_sequence(pad_sequence(sequences), L)."""
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences in a padded batch: sequence b is its first lengths[b] steps."""
    lengths = _host_ints(lengths, "unpad_sequence: lengths")
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [batch[b, :int(n)] for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The list of sequences in a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
