"""Recurrent layers on the CPU: what the LSTM (lstm.py), GRU (gru.py) and Elman (elman.py)
kernels share. One call runs a layer's whole sequence in one direction, one call runs
backpropagation through time. The six entry points (lstm_, gru_ and rnn_forward and
_backward) and their results are documented in kernels/backend.py.

x is (T, B, I), time-major; states are (B, H); weights are PyTorch's, w_ih (G*H, I) and
w_hh (G*H, H) for G gates. dx is None unless need_dx. hs and cs (T+1, B, H) hold the
initial state and every step's new state in time order: running forward in time, step t
reads state t and writes state t+1, so the outputs are hs[1:]; with `reverse` (the second
direction of a bidirectional layer) step t reads state t+1 and writes state t, so the
outputs are hs[:T]. acts and hn are whatever backward needs, in the layout it wants.

Sequences of different lengths (packed sequences, padded to T): `lengths` (B,) int64 says
that sequence b is real at steps t < lengths[b]; without it every sequence has T. A step
t >= lengths[b] is padding and leaves sequence b's state as it is (h_t = h_{t-1}, c_t =
c_{t-1}), so its output, like every step's, is that state; backward through it passes the
gradient on, dh_{t-1} = dh_t + d_out_t (and dc_{t-1} = dc_t), with zero gate gradients, so
the padding adds nothing to the weights' gradients and dx is 0 there. Run forward in time,
the final state is then each sequence's state after its last real step; run in reverse,
the padding comes first and each sequence starts from h0 at its own last real step. Both
are PyTorch's results for a packed sequence. The LSTM and GRU kernels store, at a padded
step, the activations of a step that keeps its state (LSTM: i = g = o = 0, f = 1; GRU:
z = 1, r = n = 0): the cells' backward then gives zero gate gradients and passes dc (the
GRU's dh) on as it is, and only the LSTM's and Elman's dh needs passing by hand. The steps
before the shortest sequence's end have no padding and run exactly as without lengths.

Layout: inside, every step works on (rows, B) blocks, batch along the row: the state h_t
as an (H, B) block and the gates as (G*H, B). BLAS runs W_hh @ h (G*H x H times H x B)
about 1.5x faster than h @ W_hh^T at these shapes, and the gate loops vectorise along B.
In the GRU and Elman kernels the gates of the whole sequence live in one (G*H, T*B)
matrix, step t in columns t*B..t*B+B, so that the products over all steps are single
BLAS calls:
    before the loop:  gates = W_ih @ X^T                          X = x as (T*B, I)
    after the loop:   dW_ih = dG @ X,  dW_hh = dG @ H_read,  dx = dG^T @ W_ih
with dG the gate gradients of every step and H_read the states the steps read, (T*B, H).
The LSTM kernels do these products step by step instead, inside the time loop (below).

Threads: one pool runs the hot path (threads.py: two pools fighting for the cores cost more
than they give). The GRU and Elman kernels keep their loops serial and give BLAS its
threads. The LSTM kernels use Numba's instead, with BLAS single-threaded: each time step is
shared out over blocks of hidden units, one block per thread, and each block makes its own
products (its units' gate rows of W_ih x_t + W_hh h, or in backward its part of W_hh^T dG
and its rows of this step's weight-gradient terms) with small_gemm's register tiles on
weights packed once per call, then runs its units' gate math; the threads meet once per
step. Its products over all steps happen inside the time loop too, one per step and block
on data still in cache, so the gates and their gradients are stored step by step,
(T, 4H, B), and no pass over the whole sequence is left after the loop. bench/README.md
has the measurements behind these choices.
"""
import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

from .buffers import empty

# error_model="numpy": a float division by zero gives inf rather than raising, which lets
# LLVM vectorise loops that divide (the Python model adds a test before every division).
jit = njit(cache=True, fastmath=False, error_model="numpy")
parallel_jit = njit(cache=True, fastmath=False, error_model="numpy", parallel=True)


# ---- activations ------------------------------------------------------------------------------
# libm's tanhf is a scalar call that stops LLVM from vectorising the gate loops; an LSTM
# training step at T=50, B=32, H=128 evaluates a million of them. In float32 we use instead
# the rational approximation of Eigen (and TensorFlow), which vectorises (a hundredth of
# the time a value) and stays within 4e-7 of the exact tanh (tests/test_rnn.py checks
# the bound). Its polynomials are evaluated with fused multiply-adds, as Eigen does: one
# rounding per term instead of two, so a smaller error, in less time. Without fastmath LLVM
# never fuses a * b + c itself, so we ask for the fused operation by name. Float64, used
# for gradient checks, keeps libm's exact tanh.


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma: one instruction where the CPU has FMA)."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


_CLAMP = np.float32(7.90531110763549805)  # beyond this tanh rounds to +-1 in float32
# Numerator x (a1 + a3 x^2 + ... + a13 x^12), denominator b0 + b2 x^2 + b4 x^4 + b6 x^6.
_A1, _A3, _A5, _A7 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), \
    np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08)
_A9, _A11, _A13 = np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13), \
    np.float32(-2.76076847742355e-16)
_B0, _B2, _B4, _B6 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03), \
    np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)


@njit(inline="always")
def _tanh_float32(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = _fma(x2, _fma(x2, _fma(x2, _fma(x2, _fma(x2, _fma(x2, _A13, _A11), _A9), _A7), _A5), _A3), _A1)
    q = _fma(x2, _fma(x2, _fma(x2, _B6, _B4), _B2), _B0)
    return x * p / q


def tanh(x):
    """tanh for the gate math (float32: the rational approximation; float64: exact)."""
    return np.tanh(x)


@overload(tanh, inline="always")
def _tanh_typed(x):
    if x == types.float32:
        return lambda x: _tanh_float32(x)
    return lambda x: np.tanh(x)


# The constants of the gate math are float32, so float32 kernels stay in float32 (a Python
# 1 or 0.5 would promote each expression to float64 and halve the vector width); in float64
# kernels they promote exactly.
ONE, HALF, ZERO = np.float32(1), np.float32(0.5), np.float32(0)


@njit(inline="always")
def sigmoid(x):
    """1 / (1 + e^-x), as (1 + tanh(x/2)) / 2: it never overflows and uses the tanh above."""
    return HALF + HALF * tanh(HALF * x)


def contiguous(array):
    """array itself when C-contiguous, else a copy in a pooled buffer."""
    if array.flags.c_contiguous:
        return array
    out = empty(array.shape, array.dtype)
    out[...] = array
    return out


# ---- pieces shared by the three cells ---------------------------------------------------------
@jit
def step_order(T, reverse):
    """The order the forward pass visits time steps in, one row (t, read, write) per step:
    read and write index the states step t reads and writes."""
    order = np.empty((T, 3), np.int64)
    for s in range(T):
        t = T - 1 - s if reverse else s
        order[s, 0] = t
        order[s, 1] = t + 1 if reverse else t
        order[s, 2] = t if reverse else t + 1
    return order


@jit
def any_padded(lengths, t):
    """Whether step t is padding for some sequence: t is at or past the shortest length."""
    return t >= lengths.min()


def lengths_array(lengths, T, B):
    """The lengths as the kernels read them, (B,) int64: T for every sequence when None."""
    if lengths is None:
        return np.full(B, T, np.int64)
    return np.ascontiguousarray(lengths, np.int64)


@jit
def transpose_into(src, dst):
    """dst = src^T for 2-D arrays."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[j, i] = src[i, j]


@jit
def project_inputs(x, w_ih, gates):
    """gates = W_ih @ X^T, (G*H, T*B): every step's input part at once (the cells add the biases)."""
    rows = x.shape[0] * x.shape[1]
    np.dot(w_ih, x.reshape(rows, x.shape[2]).T, gates)


@jit
def step_columns(seq, t, block):
    """block = step t's columns of a whole-sequence matrix: a contiguous copy BLAS can read."""
    B = block.shape[1]
    for k in range(block.shape[0]):
        row, out = seq[k, t * B:(t + 1) * B], block[k]
        for b in range(B):
            out[b] = row[b]


@jit
def _row_sums(a, out):
    """out[k] = sum of row k (a bias gradient: the sum over every step and sample), as the
    product a @ 1 in BLAS: a summing loop does not vectorise (without fastmath LLVM keeps
    the order of the additions) and took 7.5 times as long."""
    np.dot(a, np.ones(a.shape[1], a.dtype), out)


@jit
def _batch_major(states_t, out):
    """out (T, B, H) from states_t (T, H, B): the states in the layout the products over all
    steps read (rows t*B + b)."""
    for t in range(states_t.shape[0]):
        transpose_into(states_t[t], out[t])


@jit
def _weight_grads(x, h_read, dgx, dgh, dw_ih, dw_hh):
    """After the time loop, the weight gradients, which sum over every step, each as one
    BLAS product over all T*B (step, sample) columns:
        dW_ih = dgx @ X,   dW_hh = dgh @ H_read
    dgx, dgh: gradients of the gates' input part (W_ih x + b_ih) and recurrent part
    (W_hh h + b_hh), the same matrix except in the GRU."""
    rows = x.shape[0] * x.shape[1]
    np.dot(dgx, x.reshape(rows, x.shape[2]), dw_ih)
    np.dot(dgh, h_read.reshape(rows, h_read.shape[2]), dw_hh)


@jit
def _input_grad(dgx, w_ih, dx):
    """dx = dgx^T @ W_ih for every step at once."""
    rows = dx.shape[0] * dx.shape[1]
    np.dot(dgx.T, w_ih, dx.reshape(rows, dx.shape[2]))


def initial_state(h0, T, reverse):
    """A (T+1, H, B) state array with h0 (B, H) in the slot the first step reads."""
    B, H = h0.shape
    states = empty((T + 1, H, B), h0.dtype)
    transpose_into(np.ascontiguousarray(h0), states[T if reverse else 0])
    return states


def weight_and_input_grads(x, w_ih, hs_t, dgx, dgh, reverse, need_dx):
    """dx (or None), dW_ih, dW_hh from the gate gradients of every step."""
    T = x.shape[0]
    h_read = empty((T, x.shape[1], hs_t.shape[1]), x.dtype)
    _batch_major(hs_t[1:] if reverse else hs_t[:T], h_read)
    dw_ih, dw_hh = empty((dgx.shape[0], x.shape[2]), x.dtype), empty((dgh.shape[0], hs_t.shape[1]), x.dtype)
    _weight_grads(x, h_read, dgx, dgh, dw_ih, dw_hh)
    if not need_dx:
        return None, dw_ih, dw_hh
    dx = empty(x.shape, x.dtype)
    _input_grad(dgx, np.ascontiguousarray(w_ih), dx)
    return dx, dw_ih, dw_hh


def bias_grad(dg):
    out = empty((dg.shape[0],), dg.dtype)
    _row_sums(dg, out)
    return out


def batch_minor(array):
    """A (B, H) gradient as the (H, B) block the backward loop updates in place."""
    out = empty(array.shape[::-1], array.dtype)
    transpose_into(np.ascontiguousarray(array), out)
    return out


def per_step(d_out):
    """d_out (T, B, H) as (T, H, B): each step's output gradient as a block."""
    return contiguous(d_out.transpose(0, 2, 1))


def state_blocks(hs):
    """The (T+1, H, B) state array behind hs (T+1, B, H), the transposed view forward returned."""
    return np.ascontiguousarray(hs.transpose(0, 2, 1))
