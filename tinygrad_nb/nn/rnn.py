"""Recurrent layers with PyTorch's signatures, parameter names and return values.

    lstm = nn.LSTM(input_size=64, hidden_size=128, num_layers=2, batch_first=True)
    out, (h_n, c_n) = lstm(x)          # x (B, T, 64) -> out (B, T, 128), h_n and c_n (2, B, 128)

Each layer and direction is one op (ops/rnn.py) whose kernel runs the whole sequence,
so a 50-step LSTM adds one node to the graph, not hundreds. The cells (RNNCell,
LSTMCell, GRUCell) run the same kernels on a sequence of length one. A PackedSequence
input (nn.utils.rnn) runs as its padded batch with each sequence's length: the kernels
stop each sequence at its own end, so the final states are those after each one's last
real step.
"""
import math

import numpy as np

from ..ops.rnn import GRULayer, LSTMLayer, RNNLayer
from ..tensor import Tensor
from . import init
from .dropout import dropout
from .module import Module, Parameter
from .utils.rnn import PackedSequence, padded_batch

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _layer(mode, x, state, weights, reverse, lengths=None):
    """Run one layer in one direction: (outputs, final state), the state (h, c) for the LSTM.
    lengths: each sequence's length as a device array (a packed batch), or None."""
    if mode == "LSTM":
        out, h, c = LSTMLayer.apply(x, *state, *weights, reverse=reverse, lengths=lengths)
        return out, (h, c)
    if mode == "GRU":
        return GRULayer.apply(x, state, *weights, reverse=reverse, lengths=lengths)
    return RNNLayer.apply(x, state, *weights, relu=mode == "RNN_RELU", reverse=reverse, lengths=lengths)


def _rows(state, index):
    """A state (B, H), or the LSTM's pair, with its batch rows reordered by `index` (an integer
    Tensor on the state's device)."""
    return tuple(s[index] for s in state) if isinstance(state, tuple) else state[index]


def _check_dtype(name, tensor, weight):
    if tensor.dtype != weight.dtype:
        raise TypeError(
            f"{name}: input dtype {tensor.dtype} does not match the parameters' dtype {weight.dtype}; "
            f"cast one of them (module.double() or x.float())"
        )


def _check_state(name, what, state, expected):
    if state.shape != expected:
        raise RuntimeError(f"{name}: expected {what} of shape {expected}, got {state.shape}")


class RNNBase(Module):
    """Parameters and the layer-by-layer loop shared by RNN, LSTM and GRU.

    Parameters, for layer k and a `_reverse` suffix on the second direction:
    weight_ih_l{k} (G*H, input), weight_hh_l{k} (G*H, H), bias_ih_l{k}, bias_hh_l{k} (G*H,),
    with G gates stacked in PyTorch's order, all drawn from U(-1/sqrt(H), 1/sqrt(H)).
    Layer k > 0 reads the outputs of layer k-1, both directions side by side (2H features)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not (isinstance(hidden_size, int) and hidden_size > 0 and isinstance(num_layers, int) and num_layers > 0):
            raise ValueError(f"{name}: hidden_size and num_layers must be positive integers, "
                             f"got {hidden_size} and {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        dtype = dtype or np.float32
        gates = GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for kind, shape in shapes.items():
                    setattr(self, f"{kind}_l{layer}{suffix}", Parameter(Tensor.zeros(shape, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer, suffix):
        kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        return [getattr(self, f"{kind}_l{layer}{suffix}") for kind in kinds]

    def forward(self, input, hx=None):
        """input (T, B, input_size), or (B, T, input_size) with batch_first, or (T, input_size)
        unbatched, or a PackedSequence; hx the initial state(s) (num_layers * directions, B, H),
        zeros by default (for the LSTM a pair (h_0, c_0)). Returns (output, h_n), or (output,
        (h_n, c_n)) for the LSTM; output holds the last layer's h_t for every t, both directions
        concatenated (a PackedSequence for a packed input, whose h_n holds each sequence's
        state after its last step, and for the reverse direction after its first)."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: expected input of shape (T, B, {self.input_size}) "
                f"({'(B, T, ...) with batch_first, ' if self.batch_first else ''}or unbatched (T, {self.input_size})), "
                f"got {input.shape}"
            )
        _check_dtype(name, input, self.weight_ih_l0)
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise RuntimeError(f"{name}: the input sequence is empty (shape {input.shape})")
        states = self._initial_states(hx, x.shape[1], batched, x.dtype)
        x, finals = self._layers(x, states)
        output = x if batched else x.squeeze(1)
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        return output, self._final_states(finals, batched)

    def _forward_packed(self, sequence, hx):
        """As PyTorch: the layers run on the batch sorted longest first, so hx is taken into
        that order and the final states back out of it (the output keeps the packed order)."""
        name = type(self).__name__
        data = sequence.data
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise RuntimeError(f"{name}: expected a PackedSequence whose data has shape (sum(lengths), "
                               f"{self.input_size}), got {data.shape}")
        _check_dtype(name, data, self.weight_ih_l0)
        x, lengths, to_packed = padded_batch(sequence)
        sort, unsort = sequence.sorted_indices, sequence.unsorted_indices
        states = self._initial_states(hx, x.shape[1], True, x.dtype)
        if hx is not None and sort is not None:
            states = [_rows(state, sort) for state in states]
        x, finals = self._layers(x, states, lengths.array)
        if unsort is not None:
            finals = [_rows(final, unsort) for final in finals]
        output = x.reshape(x.shape[0] * x.shape[1], x.shape[2])[to_packed]
        return PackedSequence(output, sequence.batch_sizes, sort, unsort), self._final_states(finals, True)

    def _layers(self, x, states, lengths=None):
        """Every layer and direction over time-major x (T, B, I): (the last layer's outputs,
        the final state of each layer and direction in order)."""
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                state = states[layer * directions + d]
                out, final = _layer(self.mode, x, state, self._weights(layer, suffix), d == 1, lengths)
                outs.append(out)
                finals.append(final)
            x = outs[0] if directions == 1 else Tensor.cat(outs, axis=2)
            if layer < self.num_layers - 1:
                x = dropout(x, self.dropout, self.training)
        return x, finals

    def _final_states(self, finals, batched):
        """h_n (or (h_n, c_n)): the final states stacked, (L, B, H), or (L, H) unbatched."""
        def stack(states):
            stacked = Tensor.stack(states, axis=0)
            return stacked if batched else stacked.squeeze(1)

        if self.mode == "LSTM":
            return tuple(stack([f[i] for f in finals]) for i in (0, 1))
        return stack(finals)

    def _initial_states(self, hx, batch, batched, dtype):
        """One initial state per layer and direction: h (B, H) or, for the LSTM, (h, c)."""
        name = type(self).__name__
        count = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            zeros = Tensor.zeros(batch, self.hidden_size, dtype=dtype, device=self.weight_ih_l0.device)
            return [(zeros, zeros) if self.mode == "LSTM" else zeros] * count
        pair = self.mode == "LSTM"
        if pair and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        parts = list(hx) if pair else [hx]
        expected = (count, batch, self.hidden_size) if batched else (count, self.hidden_size)
        for what, part in zip(("h_0", "c_0"), parts):
            _check_state(name, what, part, expected)
            _check_dtype(name, part, self.weight_ih_l0)
        if not batched:
            parts = [p.unsqueeze(1) for p in parts]
        per_layer = [[p[i] for i in range(count)] for p in parts]
        return list(zip(*per_layer)) if pair else per_layer[0]

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for option, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, option) != default:
                text += f", {option}={getattr(self, option)}"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter and Schmidhuber, 1997), gates i, f, g, o:
        i, f, o = s(x W_i*^T + b_i* + h W_h*^T + b_h*),   g = tanh(same for g)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)"""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), gates r, z, n:
        r, z = s(x W_i*^T + b_i* + h W_h*^T + b_h*),   n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
        h_t = (1 - z) n + z h_{t-1}"""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)


class RNNCellBase(Module):
    """One time step. Parameters weight_ih (G*H, input), weight_hh (G*H, H), bias_ih, bias_hh,
    drawn from U(-1/sqrt(H), 1/sqrt(H)); the step runs the layer kernels with T = 1."""

    def __init__(self, mode, input_size, hidden_size, bias=True, dtype=None):
        super().__init__()
        if not (isinstance(hidden_size, int) and hidden_size > 0):
            raise ValueError(f"{type(self).__name__}: hidden_size must be a positive integer, got {hidden_size}")
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        dtype = dtype or np.float32
        gates = GATES[mode] * hidden_size
        self.weight_ih = Parameter(Tensor.zeros(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(Tensor.zeros(gates, hidden_size, dtype=dtype))
        self.bias_ih = Parameter(Tensor.zeros(gates, dtype=dtype)) if bias else None
        self.bias_hh = Parameter(Tensor.zeros(gates, dtype=dtype)) if bias else None
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _step(self, input, hx):
        """(input as a one-step sequence (1, B, I), initial state(s), whether input had a batch axis)."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: expected input of shape (B, {self.input_size}) or ({self.input_size},), "
                               f"got {input.shape}")
        _check_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            zeros = Tensor.zeros(shape, dtype=x.dtype, device=x.device)
            states = (zeros, zeros) if self.mode == "LSTM" else zeros
        else:
            parts = list(hx) if self.mode == "LSTM" else [hx]
            parts = [p if batched else p.unsqueeze(0) for p in parts]
            for what, part in zip(("h_0", "c_0"), parts):
                _check_state(name, what, part, shape)
                _check_dtype(name, part, self.weight_ih)
            states = tuple(parts) if self.mode == "LSTM" else parts[0]
        weights = [self.weight_ih, self.weight_hh] + ([self.bias_ih, self.bias_hh] if self.bias else [])
        _, final = _layer(self.mode, x.unsqueeze(0), states, weights, reverse=False)
        return final if batched else (tuple(s.squeeze(0) for s in final) if self.mode == "LSTM" else final.squeeze(0))

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        return text if self.bias else text + ", bias=False"


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        """input (B, I) or (I,), hx (B, H) -> h' (B, H)."""
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from x and (h, c); gates i, f, g, o as in LSTM."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        """input (B, I) or (I,), hx = (h, c), each (B, H) -> (h', c')."""
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step: h' from x and h; gates r, z, n as in GRU."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        """input (B, I) or (I,), hx (B, H) -> h' (B, H)."""
        return self._step(input, hx)
