"""Recurrent layers: one Function per layer and direction runs the whole sequence.

A hand-unrolled LSTM makes a dozen graph nodes per time step; these ops make one node
for the sequence, and their kernels run every step inside one compiled call (forward)
and backpropagate through time inside another (backward).

Inputs are time-major: x (T, B, I), states (B, H), weights as PyTorch stores them,
w_ih (G*H, I) and w_hh (G*H, H) for G gates. Biases are both given or both None (bias=False). `reverse`
runs the sequence from its last step to its first (a bidirectional layer's second
direction); the outputs stay in time order either way.
Each op returns the outputs of every step (T, B, H) and the final state(s), so a
gradient can arrive through any of them.

Sequences of different lengths (a packed sequence, padded): `lengths` (B,), an int64 array
on the op's device, marks step t of sequence b as padding when t >= lengths[b]. A padded
step keeps the state, h_t = h_{t-1} (and c_t = c_{t-1}), which is also its output; so the
final state is each sequence's state after its last real step, and in reverse each
sequence starts from h0 at its last real step, as in PyTorch. Backward through a padded
step passes the state's gradient on and gives the weights and x nothing.

Gradients of gradients (create_graph) run the layer again, one step at a time in Tensor ops
(the `*_steps` functions, the cells' formulas as written above), and differentiate that.
"""
from ..function import Function, backward, enable_grad


def _biases(xp, b_ih, b_hh, size, dtype):
    """The two bias vectors; zeros for a layer without biases."""
    if b_ih is None:
        b_ih = b_hh = xp.zeros(size, dtype)
    return b_ih, b_hh


def _input_grads(has_bias, *grads):
    """One gradient per Tensor input: the last two, the biases', only if they were given."""
    return grads if has_bias else grads[:-2]


def _stand_in(tensor):
    """A leaf with tensor's values, for a tensor an op made (the tensor itself otherwise)."""
    if tensor._ctx is None:
        return tensor
    return type(tensor)._from_array(tensor.array, tensor.device, requires_grad=tensor.requires_grad)


def _through_steps(ctx, grads, steps, **options):
    """The input gradients as Tensors with graphs: the layer's forward again in Tensor ops,
    then backward(create_graph) from sum_k <output_k, grad_k>.
    That backward reads leaf stand-ins of the parents and of the grads, so that it stays
    inside the steps: from the tensors themselves it would walk the whole graph behind them,
    and, through a grad computed from this op's own output (the gradient of out**2 is
    2 out), back into this op without end. Once it is done each stand-in takes the place
    in the graph of the tensor it stands for, so the gradients depend on the real ones."""
    parents, seeds = [_stand_in(p) for p in ctx.parents], [_stand_in(g) for g in grads]
    with enable_grad():
        outs = steps(*parents, **options)
        total = sum((o * g).sum() for o, g in zip(outs, seeds))
    capture = {id(p): [p, None] for p in parents if p.requires_grad}
    backward(total, ctx.xp.ones((), total.dtype), capture=capture, create_graph=True)
    for stand_in, real in zip(parents + seeds, list(ctx.parents) + list(grads)):
        stand_in._ctx, stand_in._out_index = real._ctx, real._out_index
    return tuple(capture[id(p)][1] if id(p) in capture else None for p in parents)


def _time_order(x, reverse):
    steps = range(x.shape[0])
    return reversed(steps) if reverse else steps


def _keep(new, old, lengths, t):
    """The state after step t: `new` for the sequences real at t, `old` for those it pads."""
    if lengths is None:
        return new
    real = type(new)._from_array((lengths > t).reshape(-1, 1), new.device)
    return type(new).where(real, new, old)


def _affine(x, h, w_ih, w_hh, b_ih, b_hh):
    """(x W_ih^T + b_ih, h W_hh^T + b_hh)."""
    gx, gh = x @ w_ih.t(), h @ w_hh.t()
    return (gx, gh) if b_ih is None else (gx + b_ih, gh + b_hh)


def lstm_steps(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        gx, gh = _affine(x[t], h, w_ih, w_hh, b_ih, b_hh)
        i, f, g, o = (gx + gh).chunk(4, 1)
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h, c = _keep(o.sigmoid() * c_new.tanh(), h, lengths, t), _keep(c_new, c, lengths, t)
        hs[t] = h
    return type(x).stack(hs), h, c


def gru_steps(x, h, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        gx, gh = _affine(x[t], h, w_ih, w_hh, b_ih, b_hh)
        (xr, xz, xn), (hr, hz, hn) = gx.chunk(3, 1), gh.chunk(3, 1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        h = hs[t] = _keep((1 - z) * (xn + r * hn).tanh() + z * h, h, lengths, t)
    return type(x).stack(hs), h


def rnn_steps(x, h, w_ih, w_hh, b_ih=None, b_hh=None, relu=False, reverse=False, lengths=None):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        a = sum(_affine(x[t], h, w_ih, w_hh, b_ih, b_hh))
        h = hs[t] = _keep(a.relu() if relu else a.tanh(), h, lengths, t)
    return type(x).stack(hs), h


class LSTMLayer(Function):
    """One LSTM layer in one direction over a sequence; with gates i, f, g, o (PyTorch's order)
        [i, f, g, o] = [s, s, tanh, s](x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t);   returns (h_1..h_T, h_T, c_T)
    Backward through time, from dh_T, dc_T and each output's gradient, gives each step's
    gate gradient da_t (see kernels/cpu/lstm.py, _lstm_cell_backward) and then
        dW_ih = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1},   db_ih = db_hh = sum_t da_t,
        dx_t = da_t W_ih,   dh_{t-1} = da_t W_hh,   dc_{t-1} = dc_t f"""

    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
        ctx.has_bias, ctx.reverse, ctx.lengths = b_ih is not None, reverse, lengths
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs, cs, acts = ctx.backend.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths)
        ctx.save_for_backward(x, w_ih, w_hh, hs, cs, acts)
        if reverse:
            return hs[:-1], hs[0], cs[0]
        return hs[1:], hs[-1], cs[-1]

    def backward(ctx, d_out, dh_n, dc_n):
        x, w_ih, w_hh, hs, cs, acts = ctx.saved
        grads = ctx.backend.lstm_backward(
            x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, ctx.reverse, ctx.needs_input_grad[0], ctx.lengths)
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, lstm_steps, reverse=ctx.reverse, lengths=ctx.lengths)


class GRULayer(Function):
    """One GRU layer in one direction over a sequence; with gates r, z, n (PyTorch's order)
        r = s(x W_ir^T + b_ir + h W_hr^T + b_hr),   z = s(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),   h_t = (1 - z) n + z h_{t-1}
    returns (h_1..h_T, h_T). Backward through time gives each step's gradients of the
    input part, dgx_t, and of the recurrent part, dgh_t (they differ in n, where r
    multiplies), and then
        dW_ih = sum_t dgx_t^T x_t,   dW_hh = sum_t dgh_t^T h_{t-1},   dx_t = dgx_t W_ih,
        dh_{t-1} = dh_t z + dgh_t W_hh,   db_ih = sum_t dgx_t,   db_hh = sum_t dgh_t"""

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
        ctx.has_bias, ctx.reverse, ctx.lengths = b_ih is not None, reverse, lengths
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs, acts, hn = ctx.backend.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths)
        ctx.save_for_backward(x, w_ih, w_hh, hs, acts, hn)
        return (hs[:-1], hs[0]) if reverse else (hs[1:], hs[-1])

    def backward(ctx, d_out, dh_n):
        x, w_ih, w_hh, hs, acts, hn = ctx.saved
        grads = ctx.backend.gru_backward(
            x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, ctx.reverse, ctx.needs_input_grad[0], ctx.lengths)
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, gru_steps, reverse=ctx.reverse, lengths=ctx.lengths)


class RNNLayer(Function):
    """One Elman RNN layer in one direction over a sequence, act = tanh or relu:
        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);   returns (h_1..h_T, h_T)
    Backward through time, with da_t = (dL/dh_t) act'(.) (1 - h_t^2 for tanh, [h_t > 0] for relu):
        dW_ih = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1},   db_ih = db_hh = sum_t da_t,
        dx_t = da_t W_ih,   dh_{t-1} = da_t W_hh"""

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, relu=False, reverse=False, lengths=None):
        ctx.has_bias, ctx.relu, ctx.reverse, ctx.lengths = b_ih is not None, relu, reverse, lengths
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs = ctx.backend.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths)
        ctx.save_for_backward(x, w_ih, w_hh, hs)
        return (hs[:-1], hs[0]) if reverse else (hs[1:], hs[-1])

    def backward(ctx, d_out, dh_n):
        x, w_ih, w_hh, hs = ctx.saved
        grads = ctx.backend.rnn_backward(
            x, w_ih, w_hh, hs, d_out, dh_n, ctx.relu, ctx.reverse, ctx.needs_input_grad[0], ctx.lengths)
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, rnn_steps, relu=ctx.relu, reverse=ctx.reverse, lengths=ctx.lengths)
