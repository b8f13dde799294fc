"""Recurrent layers on Keras's (N, T, F) sequences: SimpleRNN, LSTM and GRU over nn.RNN,
nn.LSTM and nn.GRU (batch_first), and the wrappers Bidirectional and TimeDistributed.

Weights start as Keras's: Glorot-uniform input kernels, orthogonal recurrent kernels, zero
biases and, for the LSTM, a forget-gate bias of 1. PyTorch's cells (ours) have two bias
vectors where Keras's LSTM and SimpleRNN have one, so their parameter counts are larger by
one bias; the sums are the same function. Keras's GRU (reset_after=True) is PyTorch's."""
import numbers

from ... import nn
from ...tensor import Tensor
from .base import InputSpec, Layer
from .core import _known_last


class _Recurrent(Layer):
    module = nn.LSTM

    def __init__(self, units, return_sequences=False, return_state=False, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(units, numbers.Integral) and units > 0):
            raise ValueError(f"{type(self).__name__}: units must be a positive int, got {units!r}")
        self.units, self.use_bias = int(units), use_bias
        self.return_sequences, self.return_state = return_sequences, return_state
        self.input_spec = InputSpec(ndim=3)

    def make_module(self, features, bidirectional=False):
        """The nn layer for `features` inputs per step, with Keras's initial weights."""
        rnn = self.module(features, self.units, bias=self.use_bias, batch_first=True, bidirectional=bidirectional,
                          **self._module_options())
        for suffix in ("", "_reverse")[: 1 + bidirectional]:
            nn.init.xavier_uniform_(getattr(rnn, f"weight_ih_l0{suffix}"))
            nn.init.orthogonal_(getattr(rnn, f"weight_hh_l0{suffix}"))
            if self.use_bias:
                for kind in ("bias_ih", "bias_hh"):
                    nn.init.zeros_(getattr(rnn, f"{kind}_l0{suffix}"))
                if isinstance(rnn, nn.LSTM):  # gates i, f, g, o: the forget gate starts open
                    getattr(rnn, f"bias_ih_l0{suffix}").array[self.units: 2 * self.units] = 1.0
        return rnn

    def _module_options(self):
        return {}

    def build(self, input_shape):
        features = _known_last(self, input_shape)
        self.rnn = self.make_module(features)
        self.input_spec = InputSpec(ndim=3, axes={-1: features})

    def call(self, inputs):
        return self.results(*self.rnn(inputs), merge=None)

    def results(self, sequence, final, merge):
        """Keras's outputs from nn's (sequence (N, T, D*H), final state(s) (D, N, H)): the
        sequence or its last step, then, with return_state, the final states of each
        direction (h, and c for the LSTM). `merge` joins two directions' outputs."""
        finals = final if isinstance(final, tuple) else (final,)
        directions = finals[0].shape[0]
        if self.return_sequences:
            output = sequence
            if directions == 2 and merge is not None:
                output = merge(sequence[:, :, : self.units], sequence[:, :, self.units:])
        else:
            h = finals[0]
            output = h[0] if directions == 1 else merge(h[0], h[1]) if merge else Tensor.cat([h[0], h[1]], axis=1)
        if not self.return_state:
            return output
        return [output] + [state[d] for d in range(directions) for state in finals]


class SimpleRNN(_Recurrent):
    """h_t = activation(x_t W + h_{t-1} U + b), activation 'tanh' or 'relu' (nn.RNN)."""

    module = nn.RNN

    def __init__(self, units, activation="tanh", **kwargs):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN: activation must be 'tanh' or 'relu', got {activation!r}")
        super().__init__(units, **kwargs)
        self.cell_activation = activation

    def _module_options(self):
        return {"nonlinearity": self.cell_activation}

    def get_config(self):
        return {**super().get_config(), "activation": self.cell_activation}


class LSTM(_Recurrent):
    """Long short-term memory (nn.LSTM); return_state gives [output, h, c]."""

    module = nn.LSTM


class GRU(_Recurrent):
    """Gated recurrent unit, Keras's reset_after=True form (nn.GRU)."""

    module = nn.GRU


_MERGES = {
    "concat": None,
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) * 0.5,
}


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and backwards in time (one bidirectional nn layer)
    and joins the two outputs by merge_mode: 'concat', 'sum', 'mul' or 'ave'. With
    return_state the states come as [output, h_fw, (c_fw,) h_bw, (c_bw)]."""

    def __init__(self, layer, merge_mode="concat", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional: expected a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
        if merge_mode not in _MERGES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {', '.join(_MERGES)}, got {merge_mode!r}")
        self.layer, self.merge_mode = layer, merge_mode
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        features = _known_last(self, input_shape)
        self.rnn = self.layer.make_module(features, bidirectional=True)
        self.input_spec = InputSpec(ndim=3, axes={-1: features})

    def call(self, inputs):
        return self.layer.results(*self.rnn(inputs), merge=_MERGES[self.merge_mode])

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        return cls(**{**config, "layer": deserialize(config["layer"])})


class TimeDistributed(Layer):
    """Applies a layer to every step of (N, T, ...) on its own: the steps are folded
    into the batch, (N * T, ...), and unfolded after."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: expected a Keras layer, got {type(layer).__name__}")
        self.layer = layer

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f'Layer "{self.name}": expected an input of at least 3 axes (N, T, ...), '
                             f"got {input_shape}")
        self.layer._maybe_build([(None,) + tuple(input_shape[2:])])

    def call(self, inputs):
        n, t = inputs.shape[:2]
        outputs = self.layer(inputs.reshape((n * t,) + inputs.shape[2:]))
        return outputs.reshape((n, t) + outputs.shape[1:])

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        return cls(**{**config, "layer": deserialize(config["layer"])})
