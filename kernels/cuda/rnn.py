"""Recurrent layers on the GPU: the CPU's six kernels, with the same shapes and results (their
arguments: kernels/backend.py).

x (T, B, I) is time-major; hs, cs (T+1, B, H) hold the initial state and every step's new
one; lengths (B,) int64, on the device, marks the steps t >= lengths[b] as padding (see
kernels/cpu/recurrent.py for the layout and what padding does; lstm.py, gru.py and elman.py
there for the formulas). Inputs of any strides are read in place (a batch_first view, a
broadcast gradient, a slice of h0): no copies first (but of an x whose (T, B) axes merge in
neither order). Per layer and direction:
  * forward, two launches: x @ W_ih^T for all steps as one product (taken batch-major when
    x is a batch_first view, so it is read in place), then one persistent kernel that runs
    all T steps (rnn_kernels.py);
  * backward, two launches (three with dx): one persistent kernel runs the steps in reverse,
    writing the gate gradients dG and the rows of [x | h_read | 1 | 1]; then one product
        dG^T @ [x | h_read | 1 | 1] = [dW_ih | dW_hh | db_ih | db_hh]
    gives every weight and bias gradient at once, as views of its columns (the GRU, whose
    dgx and dgh differ, makes the two halves as a batch of two: dgx^T @ [x | 1], dgh^T @
    [h_read | 1]); dx = dgx @ W_ih is the third. The products are not split along their
    T*B rows, which would cost a launch more for the partial sums.

The persistent kernels need no grid-wide barrier: batch rows are independent through time,
so each CUDA block owns R rows for the whole sequence, and its threads meet at a block
barrier once per step (and twice per weight tile). A thread owns hidden units j, j + THREADS,
...: their gates, cell state and dh, so the cell math needs no exchange between threads. Per
step a CUDA block streams all of W_hh (G*H x H) from L2 through shared memory once, and each
weight it loads serves its R rows, held in registers; the B/R blocks run side by side on as
many SMs. R (the smallest power of two that holds the batch, at most 8) and THREADS are
set in rnn_kernels.py, with the limits that fix them; bench/README.md ("Why the GPU kernels
are shaped as they are") has the arithmetic behind them.
Under the simulator, CUDA blocks have 4 threads and 1 or 2 rows, so that the tests meet
several blocks, a partial last block and threads that own two units.
"""
import math

from . import memory
from .array import CudaArray
from .launch import launch
from .matmul import matmul
from .rnn_kernels import ELMAN, GRU, LSTM, ROWS, THREADS, backward_kernel, forward_kernel


def _strided(a):
    """An array as a kernel reads it in place: buffer, offset, strides."""
    return a.buf, a.offset, tuple(a.strides)


def _bias(b):
    return b.buf, b.offset, b.strides[0]


def _lengths(lengths):
    """(masked, buffer, offset, stride) of the lengths as the kernels take them; without
    lengths a stand-in the kernels never read."""
    if lengths is None:
        return False, memory.stand_in("int64"), 0, 0
    return (True, *_bias(lengths))


def _blocks(B):
    """(batch rows per CUDA block, CUDA blocks) for a batch of B."""
    rows = next((r for r in ROWS if r >= B), ROWS[-1])
    return rows, math.ceil(B / rows)


def _project(x, w_ih):
    """x @ W_ih^T for every step at once, (T, B, G*H): one product over the T*B rows, taken
    batch-major when x's batch axis is outermost in memory (a batch_first view), so that
    either layout merges into rows without a copy. The result may then be a strided view."""
    T, B, I = x.shape
    batch_major = x.strides[1] > x.strides[0]
    rows = x.transpose(1, 0, 2) if batch_major else x
    gates = matmul(rows.reshape(1, T * B, I), w_ih.T.reshape(1, I, -1)).reshape(*rows.shape[:2], -1)
    return gates.transpose(1, 0, 2) if batch_major else gates


def _forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths, extra_shape):
    """Both launches of a forward pass; -> hs, gates (what backward reads of them), extra."""
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    gates = _project(x, w_ih)
    hs = CudaArray.empty((T + 1, B, H), x.dtype)
    extra = CudaArray.empty(extra_shape, x.dtype) if extra_shape else hs
    rows, blocks = _blocks(B)
    launch(forward_kernel(cell, rows, x.dtype), blocks, THREADS, T, B, H, bool(reverse), bool(relu), *_lengths(lengths),
           *_strided(gates),
           *_strided(w_hh), *_bias(b_ih), *_bias(b_hh), *_strided(h0), *_strided(c0), hs.buf, extra.buf)
    return hs, gates, extra


def _backward(cell, x, w_ih, w_hh, hs, acts, extra, d_out, dh_n, dc_n, relu, reverse, need_dx, lengths):
    """Both (or three) launches of a backward pass; -> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh."""
    T, B, I = x.shape
    G, H = w_hh.shape[0] // w_hh.shape[1], w_hh.shape[1]
    slots = 2 if cell == GRU else 1  # the GRU's input and recurrent parts differ
    width = max(I, H) + 1 if cell == GRU else I + H + 2
    dg = CudaArray.empty((slots, T * B, G * H), x.dtype)
    operand = CudaArray.empty((slots, T * B, width), x.dtype)
    dh = CudaArray.empty((B, H), x.dtype)
    dc = CudaArray.empty((B, H), x.dtype) if cell == LSTM else dh
    rows, blocks = _blocks(B)
    launch(backward_kernel(cell, rows, x.dtype), blocks, THREADS, T, B, H, bool(reverse), bool(relu), *_lengths(lengths),
           *_strided(acts),
           extra.buf, *_strided(w_hh), *_strided(d_out), *_strided(dh_n), *_strided(dc_n), *_strided(x), I, hs.buf,
           dg.buf, dh.buf, dc.buf, operand.buf, width)
    grads = matmul(dg.transpose(0, 2, 1), operand, splits=1)
    if cell == GRU:
        dw_ih, db_ih, dw_hh, db_hh = grads[0, :, :I], grads[0, :, I], grads[1, :, :H], grads[1, :, H]
    else:
        dw_ih, dw_hh, db_ih, db_hh = grads[0, :, :I], grads[0, :, I:I + H], grads[0, :, I + H], grads[0, :, I + H + 1]
    dx = matmul(dg[:1], w_ih.reshape(1, *w_ih.shape), splits=1).reshape(x.shape) if need_dx else None
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    hs, acts, cs = _forward(LSTM, x, h0, c0, w_ih, w_hh, b_ih, b_hh, False, reverse, lengths, (x.shape[0] + 1, *h0.shape))
    return hs, cs, acts


def lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx, lengths=None):
    return _backward(LSTM, x, w_ih, w_hh, hs, acts, cs, d_out, dh_n, dc_n, False, reverse, need_dx, lengths)


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    return _forward(GRU, x, h0, h0, w_ih, w_hh, b_ih, b_hh, False, reverse, lengths, (x.shape[0], *h0.shape))


def gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx, lengths=None):
    dx, dh, _, *grads = _backward(GRU, x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, dh_n, False, reverse, need_dx, lengths)
    return (dx, dh, *grads)


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths=None):
    return _forward(ELMAN, x, h0, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths, None)[0]


def rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx, lengths=None):
    dx, dh, _, *grads = _backward(ELMAN, x, w_ih, w_hh, hs, hs, hs, d_out, dh_n, dh_n, relu, reverse, need_dx, lengths)
    return (dx, dh, *grads)
