"""Elman's RNN (tanh or relu) on the CPU: rnn_forward and rnn_backward, a whole sequence per
call (the contract: kernels/backend.py; the layout, padding and threads: recurrent.py)."""
import numpy as np

from .buffers import empty
from .recurrent import (ONE, ZERO, any_padded, batch_minor, bias_grad, contiguous, initial_state, jit, lengths_array,
                        per_step, project_inputs, state_blocks, step_columns, step_order, tanh, weight_and_input_grads)
from .threads import blas_threaded


@jit
def _rnn_cell(pre, col, rec, bias, h, relu):
    """h = act(W_ih x + W_hh h_prev + b_ih + b_hh), act = tanh or relu;
    columns col..col+B of pre hold W_ih x_t, rec = W_hh h_prev."""
    H, B = h.shape
    for j in range(H):
        pj, rj, hj, bj = pre[j, col:col + B], rec[j], h[j], bias[j]
        for b in range(B):
            v = pj[b] + rj[b] + bj
            hj[b] = max(v, ZERO) if relu else tanh(v)


@jit
def _rnn_cell_backward(h, d_out, dh, dpre, col, relu):
    """dpre = (dh + d_out) act'(.), read off the output: tanh' = 1 - h^2, relu' = [h > 0]."""
    H, B = h.shape
    for j in range(H):
        hj, dj, dhj, dpj = h[j], d_out[j], dh[j], dpre[j, col:col + B]
        for b in range(B):
            if relu:
                slope = ONE if hj[b] > ZERO else ZERO
            else:
                slope = ONE - hj[b] * hj[b]
            dpj[b] = (dhj[b] + dj[b]) * slope


@jit
def _rnn_hold(lengths, t, h_prev, h):
    """The padded sequences of step t (t >= lengths[b]) keep their state."""
    for b in range(h.shape[1]):
        if t >= lengths[b]:
            for j in range(h.shape[0]):
                h[j, b] = h_prev[j, b]


@jit
def _rnn_pass_padded(lengths, t, dh, d_out, dpre, col, carried):
    """For the sequences step t pads: no gradient for the step's pre-activation, and
    carried = dh_t + d_out_t, the whole of dL/dh_{t-1} (the state passed through the step
    and was its output); zero for the others."""
    H, B = dh.shape
    for b in range(B):
        padded = t >= lengths[b]
        for j in range(H):
            carried[j, b] = dh[j, b] + d_out[j, b] if padded else ZERO
            if padded:
                dpre[j, col + b] = ZERO


@jit
def _rnn_forward(w_hh, bias, relu, reverse, lengths, hs, pre):
    B = hs.shape[2]
    rec = np.empty((w_hh.shape[0], B), hs.dtype)
    order = step_order(hs.shape[0] - 1, reverse)
    for s in range(order.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(w_hh, hs[read], rec)
        _rnn_cell(pre, t * B, rec, bias, hs[write], relu)
        if any_padded(lengths, t):
            _rnn_hold(lengths, t, hs[read], hs[write])


@jit
def _rnn_backward(w_hh_t, hs, d_out, relu, reverse, lengths, dh, dpre):
    B = dh.shape[1]
    block, carried = np.empty(dh.shape, dh.dtype), np.empty(dh.shape, dh.dtype)
    order = step_order(d_out.shape[0], reverse)
    for s in range(order.shape[0] - 1, -1, -1):
        t, write = order[s, 0], order[s, 2]
        _rnn_cell_backward(hs[write], d_out[t], dh, dpre, t * B, relu)
        padded = any_padded(lengths, t)
        if padded:
            _rnn_pass_padded(lengths, t, dh, d_out[t], dpre, t * B, carried)
        step_columns(dpre, t, block)
        np.dot(w_hh_t, block, dh)  # dh_{t-1} = W_hh^T dpre_t
        if padded:
            dh += carried


@blas_threaded
def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths=None):
    x = contiguous(x)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    pre = empty((H, T * B), x.dtype)
    project_inputs(x, np.ascontiguousarray(w_ih), pre)
    hs = initial_state(h0, T, reverse)
    _rnn_forward(np.ascontiguousarray(w_hh), b_ih + b_hh, bool(relu), bool(reverse), lengths_array(lengths, T, B),
                 hs, pre)
    return hs.transpose(0, 2, 1)


@blas_threaded
def rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx, lengths=None):
    x, hs_t = contiguous(x), state_blocks(hs)
    dh = batch_minor(dh_n)
    dpre = empty((hs_t.shape[1], x.shape[0] * x.shape[1]), x.dtype)
    T, B = x.shape[:2]
    _rnn_backward(np.ascontiguousarray(w_hh.T), hs_t, per_step(d_out), bool(relu), bool(reverse),
                  lengths_array(lengths, T, B), dh, dpre)
    dx, dw_ih, dw_hh = weight_and_input_grads(x, w_ih, hs_t, dpre, dpre, reverse, need_dx)
    db = bias_grad(dpre)  # b_ih and b_hh enter only as their sum, so their gradients are equal
    return dx, dh.T, dw_ih, dw_hh, db, db.copy()
