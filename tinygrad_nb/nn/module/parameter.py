"""Parameter: a Tensor that is a module's learnable weight."""
from ...tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight: requires_grad by default. It shares the
    buffer of the Tensor it is made from, as torch.nn.Parameter does."""

    def __init__(self, data, requires_grad=True):
        t = data if isinstance(data, Tensor) else Tensor(data)
        self.array, self.device, self.grad, self._ctx, self._out_index = t.array, t.device, None, None, 0
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
