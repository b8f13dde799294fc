"""Recurrent layers on the CPU: one call runs a layer's whole sequence in one direction,
one call runs backpropagation through time.

    lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None)  -> hs, cs, acts
    lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx, lengths=None)
                                            -> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh
    gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None)       -> hs, acts, hn
    gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx, lengths=None)
                                            -> dx, dh0, dw_ih, dw_hh, db_ih, db_hh
    rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths=None)  -> hs
    rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx, lengths=None)
                                            -> dx, dh0, dw_ih, dw_hh, db_ih, db_hh

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

Threads: one pool runs the hot path (threads.py; PERFORMANCE.md: pools fighting for 2
cores cost more than they give). The GRU and Elman kernels keep their loops serial and
give BLAS its threads. The LSTM kernels use Numba's instead, with BLAS single-threaded:
each time step is shared out over blocks of hidden units, one block per thread, and each
block makes its own products (its units' gate rows of W_ih x_t + W_hh h, or in backward
its part of W_hh^T dG and its rows of this step's weight-gradient terms), then runs its
units' gate math; the threads meet once per step. BLAS's own threads gain little on
products this small (T=50, B=32, I=64, H=128: one step's W_hh h is 512 x 128 by 128 x 32),
and the gate math ran on one core. Measured there, 2 cores, when the products over all
steps still ran before and after the loop: forward 3.8 -> 3.0 ms, backward (without dx)
6.5 -> 5.3 ms; a training step about level with PyTorch's. The step products then moved from BLAS to small_gemm's register tiles, on weights packed
once per call (BLAS packs them again on every call): forward loop 2.25 -> 1.93 ms, backward
loop 2.8 -> 2.4 ms. Last, the products over all steps moved into the time loop, as one
product per step and block on data still in cache: x_t's part of the gates before each
step's W_hh h_prev, and in backward each step's terms of dW_ih, dW_hh and the bias
gradient. The gates and their gradients are then stored step by step, (T, 4H, B), and
no pass over the whole sequence's gates is left after the loop. A training step took
0.90 of the time of the one before, in alternating runs.
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from . import small_gemm
from .blas import gemm
from .buffers import empty
from .threads import blas_threaded, numba_threads, threads_for_kernels

# error_model="numpy": a float division by zero gives inf rather than raising, which lets
# LLVM vectorise loops that divide (the Python model adds a test before every division).
jit = njit(cache=True, fastmath=False, error_model="numpy")
parallel_jit = njit(cache=True, fastmath=False, error_model="numpy", parallel=True)


# ---- activations ------------------------------------------------------------------------------
# libm's tanhf is a scalar call (~20 ns) that stops LLVM from vectorising the gate loops;
# an LSTM training step at T=50, B=32, H=128 evaluates a million of them. In float32 we
# use instead the rational approximation of Eigen (and TensorFlow), which vectorises to
# ~0.2 ns and stays within 4e-7 of the exact tanh (tests/test_rnn.py checks the bound).
# Its polynomials are evaluated with fused multiply-adds, as Eigen does: one rounding per
# term instead of two (measured error 2.6e-7 against 3.7e-7) and a third less time. Without
# fastmath LLVM never fuses a * b + c itself, so we ask for the fused operation by name.
# Float64, used for gradient checks, keeps libm's exact tanh.


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


def _contiguous(array):
    """array itself when C-contiguous, else a copy in a pooled buffer."""
    if array.flags.c_contiguous:
        return array
    out = empty(array.shape, array.dtype)
    out[...] = array
    return out


# ---- pieces shared by the three cells ---------------------------------------------------------
@jit
def _steps(T, reverse):
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
def _padded(lengths, t):
    """Whether step t is padding for some sequence: t is at or past the shortest length."""
    return t >= lengths.min()


def _lengths(lengths, T, B):
    """The lengths as the kernels read them, (B,) int64: T for every sequence when None."""
    if lengths is None:
        return np.full(B, T, np.int64)
    return np.ascontiguousarray(lengths, np.int64)


@jit
def _transpose(src, dst):
    """dst = src^T for 2-D arrays."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[j, i] = src[i, j]


@jit
def _project(x, w_ih, gates):
    """gates = W_ih @ X^T, (G*H, T*B): every step's input part at once (the cells add the biases)."""
    rows = x.shape[0] * x.shape[1]
    np.dot(w_ih, x.reshape(rows, x.shape[2]).T, gates)


@jit
def _step_block(seq, t, block):
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
    the order of the additions), and took 0.75 ms of an LSTM step against 0.1 ms."""
    np.dot(a, np.ones(a.shape[1], a.dtype), out)


@jit
def _batch_major(states_t, out):
    """out (T, B, H) from states_t (T, H, B): the states in the layout the products over all
    steps read (rows t*B + b)."""
    for t in range(states_t.shape[0]):
        _transpose(states_t[t], out[t])


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


def _initial_state(h0, T, reverse):
    """A (T+1, H, B) state array with h0 (B, H) in the slot the first step reads."""
    B, H = h0.shape
    states = empty((T + 1, H, B), h0.dtype)
    _transpose(np.ascontiguousarray(h0), states[T if reverse else 0])
    return states


def _finish_backward(x, w_ih, hs_t, dgx, dgh, reverse, need_dx):
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


def _bias_grad(dg):
    out = empty((dg.shape[0],), dg.dtype)
    _row_sums(dg, out)
    return out


def _batch_minor(array):
    """A (B, H) gradient as the (H, B) block the backward loop updates in place."""
    out = empty(array.shape[::-1], array.dtype)
    _transpose(np.ascontiguousarray(array), out)
    return out


def _per_step(d_out):
    """d_out (T, B, H) as (T, H, B): each step's output gradient as a block."""
    return _contiguous(d_out.transpose(0, 2, 1))


def _states_t(hs):
    """The (T+1, H, B) state array behind hs (T+1, B, H), the transposed view forward returned."""
    return np.ascontiguousarray(hs.transpose(0, 2, 1))


# ---- LSTM -------------------------------------------------------------------------------------
# Inside these kernels the gate rows are unit-major: row 4j + g is gate g of hidden unit j
# (PyTorch stores gate-major, row g*H + j). A block of units lo..hi then owns the adjacent
# rows 4lo..4hi of the weights, the gates and their gradients, which is what lets each
# thread run its units' share of a step as products on its own rows. The gates and their
# gradients are step-major, (T, 4H, B): each step's block is one contiguous matrix, which
# the step's products read and write.
def _unit_major(w):
    """w's rows from PyTorch's gate-major order (g*H + j) to unit-major (4j + g)."""
    out = empty(w.shape, w.dtype)
    H = w.shape[0] // 4
    out.reshape(H, 4, -1)[...] = w.reshape(4, H, -1).transpose(1, 0, 2)
    return out


def _gate_major(w):
    """The inverse of _unit_major: rows 4j + g back to g*H + j."""
    out = empty(w.shape, w.dtype)
    H = w.shape[0] // 4
    out.reshape(4, H, -1)[...] = w.reshape(H, 4, -1).transpose(1, 0, 2)
    return out


@jit
def _lstm_cell(gates, bias, c_prev, c, h, lo, hi):
    """One step for hidden units lo..hi. gates (4H, B) holds W_ih x_t + W_hh h_prev on entry
    and the activations (kept for backward) on exit; bias in PyTorch's order; c_prev, c,
    h (H, B). With gates i, f, g, o:
        i = s(.), f = s(.), g = tanh(.), o = s(.),   c = f c_prev + i g,   h = o tanh(c)"""
    H, B = c.shape
    for j in range(lo, hi):
        gi, gf, gg, go = gates[4 * j], gates[4 * j + 1], gates[4 * j + 2], gates[4 * j + 3]
        bi, bf, bg, bo = bias[j], bias[H + j], bias[2 * H + j], bias[3 * H + j]
        cp, cj, hj = c_prev[j], c[j], h[j]
        # Two loops: one body holding all five tanh chains overflows the registers and is
        # bound by their latency; split, the chains of successive iterations overlap (-12%).
        for b in range(B):
            i = sigmoid(gi[b] + bi)
            f = sigmoid(gf[b] + bf)
            g = tanh(gg[b] + bg)
            gi[b], gf[b], gg[b] = i, f, g
            go[b] = sigmoid(go[b] + bo)
            cj[b] = f * cp[b] + i * g
        for b in range(B):
            hj[b] = go[b] * tanh(cj[b])


@jit
def _lstm_cell_backward(acts, c_prev, c, d_out, dh, dc, dgates, lo, hi):
    """Backward through one step for hidden units lo..hi, from the activations i f g o
    (acts, (4H, B)) and the cell states. dh, dc (H, B) hold dL/dh_t, dL/dc_t from the later
    steps; d_out is the output's own gradient:
        dh = dh + d_out,   dc = dc + dh o (1 - tanh^2 c)
        di = dc g,   df = dc c_prev,   dg = dc i,   do = dh tanh c,   dc_prev = dc f
    and through the activations (s' = s (1 - s), tanh' = 1 - tanh^2) into dgates (4H, B).
    dc leaves as dL/dc_{t-1}; dh_{t-1} = W_hh^T dgates_t is the caller's product."""
    B = c.shape[1]
    for j in range(lo, hi):
        ai, af, ag, ao = acts[4 * j], acts[4 * j + 1], acts[4 * j + 2], acts[4 * j + 3]
        di, df, dg, do = dgates[4 * j], dgates[4 * j + 1], dgates[4 * j + 2], dgates[4 * j + 3]
        cp, cj, dj, dhj, dcj = c_prev[j], c[j], d_out[j], dh[j], dc[j]
        for b in range(B):
            i, f, g, o = ai[b], af[b], ag[b], ao[b]
            tc = tanh(cj[b])
            dh_t = dhj[b] + dj[b]
            dc_t = dcj[b] + dh_t * o * (ONE - tc * tc)
            di[b] = dc_t * g * i * (ONE - i)
            df[b] = dc_t * cp[b] * f * (ONE - f)
            dg[b] = dc_t * i * (ONE - g * g)
            do[b] = dh_t * tc * o * (ONE - o)
            dcj[b] = dc_t * f


@jit
def _lstm_hold(lengths, t, acts, c_prev, c, h_prev, h, lo, hi):
    """The padded sequences of step t (t >= lengths[b]), units lo..hi: the state passes
    unchanged, and the activations stored (unit-major rows, (4H, B)) are those of a step
    that keeps it, i = g = o = 0 and f = 1, under which the cell's backward gives zero gate
    gradients and dc_{t-1} = dc_t."""
    for b in range(lengths.shape[0]):
        if t >= lengths[b]:
            for j in range(lo, hi):
                acts[4 * j, b], acts[4 * j + 1, b], acts[4 * j + 2, b], acts[4 * j + 3, b] = ZERO, ONE, ZERO, ZERO
                c[j, b], h[j, b] = c_prev[j, b], h_prev[j, b]


@jit
def _pass_padded(lengths, t, dh, d_out, carried, lo, hi):
    """carried[lo:hi] += dh + d_out for the sequences that step t pads: their state passed
    through the step, and was its output, so dL/dh_{t-1} gets dL/dh_t and the output's
    gradient whole (W_hh^T dgates_t, in carried already, is zero for them)."""
    for b in range(lengths.shape[0]):
        if t >= lengths[b]:
            for j in range(lo, hi):
                carried[j, b] += dh[j, b] + d_out[j, b]


@jit
def _pack_units(w, lo, hi, rows, panels):
    """Hidden units lo..hi of w (4H, n), whose rows are gate-major, into rows (unit-major,
    row 4j + g) and into panels (H, n, 4) as small_gemm reads them: a unit's four gates."""
    H = w.shape[0] // 4
    for j in range(lo, hi):
        for g in range(4):
            rows[4 * j + g] = w[g * H + j]
    small_gemm.pack_rows(rows[4 * lo:4 * hi], panels[lo:hi])


@parallel_jit
def _lstm_forward(x, w_ih, w_hh, bias, reverse, lengths, hs, cs, gates, scratch, blocks, vector_bytes):
    """The forward pass, shared out over `blocks` blocks of hidden units, one per thread.
    First each block packs its units' rows of W_ih and W_hh and lays a share of the steps'
    inputs out as x_t^T (I, B). Then the time loop: in each step, a block computes its rows
    of W_ih x_t + W_hh h_prev (its units' four gates) in step t's block of gates, then runs
    its units' cell (and holds the state of the sequences the step pads). A step reads the
    whole state the step before wrote, so the steps wait for each other at the end of each
    parallel loop (about 2 us). scratch: the x_t^T
    (T, I, B), then W_ih's rows and panels, then W_hh's (see _pack_units)."""
    xt, ih_rows, ih_panels, hh_rows, hh_panels = scratch
    T, H, B, I = gates.shape[0], hs.shape[1], hs.shape[2], x.shape[2]
    for k in prange(blocks):
        _pack_units(w_ih, k * H // blocks, (k + 1) * H // blocks, ih_rows, ih_panels)
        _pack_units(w_hh, k * H // blocks, (k + 1) * H // blocks, hh_rows, hh_panels)
        for t in range(k * T // blocks, (k + 1) * T // blocks):
            _transpose(x[t], xt[t])
    wi, pi, wh, ph = ih_rows.reshape(-1), ih_panels.reshape(-1), hh_rows.reshape(-1), hh_panels.reshape(-1)
    xf, hf, gf = xt.reshape(-1), hs.reshape(-1), gates.reshape(-1)
    order = _steps(T, reverse)
    for s in range(T):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        padded = _padded(lengths, t)
        for k in prange(blocks):
            lo, hi = k * H // blocks, (k + 1) * H // blocks
            rows, at = 4 * (hi - lo), (t * 4 * H + 4 * lo) * B
            small_gemm.product(pi[4 * lo * I:], 4 * I, wi[4 * lo * I:], I, xf[t * I * B:], B, gf[at:], B, rows, B, I, False,
                               vector_bytes)
            small_gemm.product(ph[4 * lo * H:], 4 * H, wh[4 * lo * H:], H, hf[read * H * B:], B, gf[at:], B, rows, B, H, True,
                               vector_bytes)
            _lstm_cell(gates[t], bias, cs[read], cs[write], hs[write], lo, hi)
            if padded:
                _lstm_hold(lengths, t, gates[t], cs[read], cs[write], hs[read], hs[write], lo, hi)


@jit
def _sum_parts(parts, lo, hi, out):
    """out[lo:hi] = the sum of parts[k][lo:hi] over k, in a fixed order."""
    for j in range(lo, hi):
        row, first = out[j], parts[0, j]
        for b in range(row.shape[0]):
            row[b] = first[b]
        for k in range(1, parts.shape[0]):
            part = parts[k, j]
            for b in range(row.shape[0]):
                row[b] += part[b]


@jit
def _accumulate(total, part):
    """total += part, for 2-D arrays of one shape. Numba's own `total += part` on these
    row slices took 6x longer (300 against 50 us for a layer's 50 steps)."""
    for i in range(total.shape[0]):
        row, add = total[i], part[i]
        for b in range(row.shape[0]):
            row[b] += add[b]


@parallel_jit
def _lstm_backward(x, w_hh, hs, cs, acts, d_out, reverse, lengths, dh, dc, dgates, grads, scratch, blocks, vector_bytes):
    """Backpropagation through time, each step shared out over blocks of hidden units.
    A block runs its units' cell backward, which writes its own rows of dgates_t, and then
    its part of dh_{t-1} = W_hh^T dgates_t: the product over its rows only, all H rows of
    dh (a product of H x 4(hi-lo) by 4(hi-lo) x B: at these sizes BLAS took 13% less time
    over it than over a block's rows of dh and every gate). The parts meet at the next step,
    where each block adds up its own rows of them. They alternate between two slots by
    the parity of the step, so no block overwrites a part another still reads. (A block's
    part also carries its rows of dh_t + d_out_t for the sequences the step pads.)
    The weights' gradients are sums over the steps, and each block adds its rows of this
    step's terms while dgates_t is in cache: dW_ih += dG_t x_t, dW_hh += dG_t h_read_t^T,
    and db (4H, B) += dG_t, summed over the samples afterwards. grads: those three, in
    unit-major rows. scratch: W_hh^T (H, 4H) with unit-major columns, its rows packed
    (H // 4, 4H, 4), the states the steps read as (T, B, H), and dgates_t's rows packed
    (H, B, 4)."""
    dw_ih, dw_hh, db = grads
    w_cols, panels, h_read, dg_panels = scratch
    T, H, B, I = acts.shape[0], dh.shape[0], dh.shape[1], x.shape[2]
    parts = np.empty((2, blocks, H, B), dh.dtype)
    order = _steps(T, reverse)
    for k in prange(blocks):
        lo, hi = k * H // blocks, (k + 1) * H // blocks
        for i in range(H):
            for j in range(lo, hi):
                for g in range(4):
                    w_cols[i, 4 * j + g] = w_hh[g * H + j, i]
        small_gemm.pack_rows(w_cols[:, 4 * lo:4 * hi], panels[:, 4 * lo:4 * hi])
        for s in range(k * T // blocks, (k + 1) * T // blocks):
            _transpose(hs[order[s, 1]], h_read[order[s, 0]])
        dw_ih[4 * lo:4 * hi] = 0
        dw_hh[4 * lo:4 * hi] = 0
        db[4 * lo:4 * hi] = 0
    wf, packed, pf, gf = w_cols.reshape(-1), panels.reshape(-1), parts.reshape(-1), dgates.reshape(-1)
    dpf, xf, hrf, dwi, dwh = dg_panels.reshape(-1), x.reshape(-1), h_read.reshape(-1), dw_ih.reshape(-1), dw_hh.reshape(-1)
    for s in range(T - 1, -2, -1):  # the forward steps, last first; s = -1 only sums dh0
        for k in prange(blocks):
            lo, hi = k * H // blocks, (k + 1) * H // blocks
            if s + 1 < T:  # dh_t from the parts the step after made
                _sum_parts(parts[(s + 1) % 2], lo, hi, dh)
            if s >= 0:
                t, read, write = order[s, 0], order[s, 1], order[s, 2]
                _lstm_cell_backward(acts[t], cs[read], cs[write], d_out[t], dh, dc, dgates[t], lo, hi)
                rows, at = 4 * (hi - lo), (t * 4 * H + 4 * lo) * B
                small_gemm.product(packed[16 * lo:], 16 * H, wf[4 * lo:], 4 * H, gf[at:], B,
                                   pf[((s % 2) * blocks + k) * H * B:], B, H, B, rows, False, vector_bytes)
                if _padded(lengths, t):
                    _pass_padded(lengths, t, dh, d_out[t], parts[s % 2, k], lo, hi)
                small_gemm.pack_rows(dgates[t, 4 * lo:4 * hi], dg_panels[lo:hi])
                small_gemm.product(dpf[4 * lo * B:], 4 * B, gf[at:], B, xf[t * B * I:], I, dwi[4 * lo * I:], I,
                                   rows, I, B, True, vector_bytes)
                small_gemm.product(dpf[4 * lo * B:], 4 * B, gf[at:], B, hrf[t * B * H:], H, dwh[4 * lo * H:], H,
                                   rows, H, B, True, vector_bytes)
                _accumulate(db[4 * lo:4 * hi], dgates[t, 4 * lo:4 * hi])


@parallel_jit
def _lstm_input_grad(dgates, w_rows, dx):
    """dx_t = dgates_t^T @ W_ih for every step, W_ih in unit-major rows; the steps over
    Numba's threads."""
    T, G, B = dgates.shape
    I = dx.shape[2]
    gf, wf, xf = dgates.reshape(-1), w_rows.reshape(-1), dx.reshape(-1)
    for t in prange(T):
        gemm(True, False, B, I, G, 1.0, gf[t * G * B:], B, wf, I, 0.0, xf[t * B * I:], I)


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    x = _contiguous(x)
    (T, B, I), H = x.shape, w_hh.shape[1]
    acts = empty((T, 4 * H, B), x.dtype)
    hs, cs = _initial_state(h0, T, reverse), _initial_state(c0, T, reverse)
    scratch = tuple(empty(shape, x.dtype) for shape in ((T, I, B), (4 * H, I), (H, I, 4), (4 * H, H), (H, H, 4)))
    with numba_threads():
        _lstm_forward(x, np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh), b_ih + b_hh, bool(reverse),
                      _lengths(lengths, T, B), hs, cs, acts, scratch, min(threads_for_kernels(), H), small_gemm.VECTOR_BYTES)
    return hs.transpose(0, 2, 1), cs.transpose(0, 2, 1), acts


def lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx, lengths=None):
    x = _contiguous(x)
    (T, B, I), H = x.shape, w_hh.shape[1]
    dh, dc = _batch_minor(dh_n), _batch_minor(dc_n)  # become dh0, dc0 step by step
    dgates = empty(acts.shape, x.dtype)
    grads = tuple(empty(shape, x.dtype) for shape in ((4 * H, I), (4 * H, H), (4 * H, B)))
    scratch = tuple(empty(shape, x.dtype) for shape in ((H, 4 * H), (H // 4, 4 * H, 4), (T, B, H), (H, B, 4)))
    dx = empty(x.shape, x.dtype) if need_dx else None
    with numba_threads():
        _lstm_backward(x, np.ascontiguousarray(w_hh), _states_t(hs), _states_t(cs), acts, _per_step(d_out),
                       bool(reverse), _lengths(lengths, T, B), dh, dc, dgates, grads, scratch, min(threads_for_kernels(), H),
                       small_gemm.VECTOR_BYTES)
        if need_dx:
            _lstm_input_grad(dgates, _unit_major(w_ih), dx)
    dw_ih, dw_hh, db_samples = grads
    db = _gate_major(_bias_grad(db_samples)[:, None])[:, 0]  # b_ih and b_hh enter only as their sum: equal gradients
    return dx, dh.T, dc.T, _gate_major(dw_ih), _gate_major(dw_hh), db, db.copy()  # two arrays: one .grad scaled in place must not scale the other


# ---- GRU --------------------------------------------------------------------------------------
@jit
def _gru_cell(gates, col, rec, b_ih, b_hh, h_prev, h, hn):
    """One step, on columns col..col+B of gates, which hold W_ih x_t there on entry and
    r, z, n on exit; rec = W_hh h_prev (3H, B). In PyTorch's gate order r, z, n, with
    gx = W_ih x + b_ih and a = W_hh h_prev + b_hh:
        r = s(gx_r + a_r),  z = s(gx_z + a_z),  n = tanh(gx_n + r a_n),  h = (1 - z) n + z h_prev
    a_n goes to the same columns of hn: backward needs it for dr."""
    H, B = h.shape
    end = col + B
    for j in range(H):
        gr, gz, gn, hnj = gates[j, col:end], gates[H + j, col:end], gates[2 * H + j, col:end], hn[j, col:end]
        ar, az, an = rec[j], rec[H + j], rec[2 * H + j]
        br, bz = b_ih[j] + b_hh[j], b_ih[H + j] + b_hh[H + j]
        bxn, bhn = b_ih[2 * H + j], b_hh[2 * H + j]
        hp, hj = h_prev[j], h[j]
        for b in range(B):
            r = sigmoid(gr[b] + ar[b] + br)
            z = sigmoid(gz[b] + az[b] + bz)
            a_n = an[b] + bhn
            n = tanh(gn[b] + bxn + r * a_n)
            hj[b] = (ONE - z) * n + z * hp[b]
            gr[b], gz[b], gn[b], hnj[b] = r, z, n, a_n


@jit
def _gru_cell_backward(acts, col, hn, h_prev, d_out, dh, dgx, dgh):
    """Backward through one step (columns col..col+B of acts, hn, dgx, dgh). dh (H, B) holds
    dL/dh_t from the later steps; d_out is the output's own gradient:
        dh = dh + d_out,   dn = dh (1 - z),   dz = dh (h_prev - n),   dr = dn (1 - n^2) a_n
    dgx gets the gradients of the input parts (dr s', dz s', dn tanh'), dgh those of the
    recurrent parts, the same but for the n gate, where r multiplies: dn tanh' r.
    dh leaves holding dh z, the part of dL/dh_{t-1} that skips W_hh; the caller adds W_hh^T dgh."""
    H, B = h_prev.shape
    end = col + B
    for j in range(H):
        ar, az, an, hnj = acts[j, col:end], acts[H + j, col:end], acts[2 * H + j, col:end], hn[j, col:end]
        xr, xz, xn = dgx[j, col:end], dgx[H + j, col:end], dgx[2 * H + j, col:end]
        hr, hz, hn_ = dgh[j, col:end], dgh[H + j, col:end], dgh[2 * H + j, col:end]
        hp, dj, dhj = h_prev[j], d_out[j], dh[j]
        for b in range(B):
            r, z, n = ar[b], az[b], an[b]
            dh_t = dhj[b] + dj[b]
            dn = dh_t * (ONE - z) * (ONE - n * n)
            dr = dn * hnj[b] * r * (ONE - r)
            dz = dh_t * (hp[b] - n) * z * (ONE - z)
            xr[b], xz[b], xn[b] = dr, dz, dn
            hr[b], hz[b], hn_[b] = dr, dz, dn * r
            dhj[b] = dh_t * z


@jit
def _gru_hold(lengths, t, acts, h_prev, h):
    """The padded sequences of step t (t >= lengths[b]): the state passes unchanged, and the
    activations stored are those of a step that keeps it, z = 1 and r = n = 0, under which
    the cell's backward gives zero gate gradients and dh_{t-1} = dh_t + d_out_t."""
    H, B = h.shape
    for b in range(B):
        if t >= lengths[b]:
            col = t * B + b
            for j in range(H):
                acts[j, col], acts[H + j, col], acts[2 * H + j, col] = ZERO, ONE, ZERO
                h[j, b] = h_prev[j, b]


@jit
def _gru_forward(w_hh, b_ih, b_hh, reverse, lengths, hs, gates, hn):
    B = hs.shape[2]
    rec = np.empty((w_hh.shape[0], B), hs.dtype)
    order = _steps(hs.shape[0] - 1, reverse)
    for s in range(order.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(w_hh, hs[read], rec)
        _gru_cell(gates, t * B, rec, b_ih, b_hh, hs[read], hs[write], hn)
        if _padded(lengths, t):
            _gru_hold(lengths, t, gates, hs[read], hs[write])


@jit
def _gru_backward(w_hh_t, hs, acts, hn, d_out, reverse, dh, dgx, dgh):
    B = dh.shape[1]
    block = np.empty((acts.shape[0], B), acts.dtype)
    carried = np.empty(dh.shape, dh.dtype)
    order = _steps(d_out.shape[0], reverse)
    for s in range(order.shape[0] - 1, -1, -1):
        t, read = order[s, 0], order[s, 1]
        _gru_cell_backward(acts, t * B, hn, hs[read], d_out[t], dh, dgx, dgh)
        _step_block(dgh, t, block)
        np.dot(w_hh_t, block, carried)
        dh += carried  # dh_{t-1} = dh z + W_hh^T dgh_t


@blas_threaded
def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    x = _contiguous(x)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    acts, hn = empty((3 * H, T * B), x.dtype), empty((H, T * B), x.dtype)
    _project(x, np.ascontiguousarray(w_ih), acts)
    hs = _initial_state(h0, T, reverse)
    _gru_forward(np.ascontiguousarray(w_hh), b_ih, b_hh, bool(reverse), _lengths(lengths, T, B), hs, acts, hn)
    return hs.transpose(0, 2, 1), acts, hn


@blas_threaded
def gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx, lengths=None):
    """(lengths goes unread: the activations gru_forward stored at padded steps already make
    them pass the gradient on; it is taken for the same signature as the other cells.)"""
    x, hs_t = _contiguous(x), _states_t(hs)
    dh = _batch_minor(dh_n)
    dgx, dgh = empty(acts.shape, x.dtype), empty(acts.shape, x.dtype)
    _gru_backward(np.ascontiguousarray(w_hh.T), hs_t, acts, hn, _per_step(d_out), bool(reverse), dh, dgx, dgh)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, hs_t, dgx, dgh, reverse, need_dx)
    return dx, dh.T, dw_ih, dw_hh, _bias_grad(dgx), _bias_grad(dgh)


# ---- Elman RNN (tanh or relu) -----------------------------------------------------------------
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
    order = _steps(hs.shape[0] - 1, reverse)
    for s in range(order.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(w_hh, hs[read], rec)
        _rnn_cell(pre, t * B, rec, bias, hs[write], relu)
        if _padded(lengths, t):
            _rnn_hold(lengths, t, hs[read], hs[write])


@jit
def _rnn_backward(w_hh_t, hs, d_out, relu, reverse, lengths, dh, dpre):
    B = dh.shape[1]
    block, carried = np.empty(dh.shape, dh.dtype), np.empty(dh.shape, dh.dtype)
    order = _steps(d_out.shape[0], reverse)
    for s in range(order.shape[0] - 1, -1, -1):
        t, write = order[s, 0], order[s, 2]
        _rnn_cell_backward(hs[write], d_out[t], dh, dpre, t * B, relu)
        padded = _padded(lengths, t)
        if padded:
            _rnn_pass_padded(lengths, t, dh, d_out[t], dpre, t * B, carried)
        _step_block(dpre, t, block)
        np.dot(w_hh_t, block, dh)  # dh_{t-1} = W_hh^T dpre_t
        if padded:
            dh += carried


@blas_threaded
def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths=None):
    x = _contiguous(x)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    pre = empty((H, T * B), x.dtype)
    _project(x, np.ascontiguousarray(w_ih), pre)
    hs = _initial_state(h0, T, reverse)
    _rnn_forward(np.ascontiguousarray(w_hh), b_ih + b_hh, bool(relu), bool(reverse), _lengths(lengths, T, B), hs, pre)
    return hs.transpose(0, 2, 1)


@blas_threaded
def rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx, lengths=None):
    x, hs_t = _contiguous(x), _states_t(hs)
    dh = _batch_minor(dh_n)
    dpre = empty((hs_t.shape[1], x.shape[0] * x.shape[1]), x.dtype)
    T, B = x.shape[:2]
    _rnn_backward(np.ascontiguousarray(w_hh.T), hs_t, _per_step(d_out), bool(relu), bool(reverse), _lengths(lengths, T, B),
                  dh, dpre)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, hs_t, dpre, dpre, reverse, need_dx)
    db = _bias_grad(dpre)  # b_ih and b_hh enter only as their sum, so their gradients are equal
    return dx, dh.T, dw_ih, dw_hh, db, db.copy()
