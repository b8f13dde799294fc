"""summary(model, input_shape): a Keras-style table of a model's layers, the shape each
one outputs and its parameter count, found by running one input through the model."""
import numpy as np

from .function import no_grad
from .tensor import Tensor


def _first_shape(out):
    """The shape of the first Tensor in an output that may be a nested tuple (as LSTM's)."""
    if isinstance(out, Tensor):
        return list(out.shape)
    if isinstance(out, (tuple, list)):
        for item in out:
            shape = _first_shape(item)
            if shape is not None:
                return shape
    return None


def summary(model, input_shape, dtype=np.float32, print_fn=print):
    """Print (with print_fn; None prints nothing) and return the table for an input of
    `input_shape`, batch axis included, e.g. (1, 1, 8, 8). Rows are the innermost layers
    in the order they ran; totals count each parameter once."""
    leaves = [(name, m) for name, m in model.named_modules() if next(m.children(), None) is None]
    rows, modes = [], [(m, m.training) for m in model.modules()]

    def recorder(name, module, forward):
        def record(*args, **kwargs):
            out = forward(*args, **kwargs)
            rows.append((name, type(module).__name__, _first_shape(out), sum(p.numel() for p in module.parameters())))
            return out

        return record

    for name, module in leaves:
        module.forward = recorder(name, module, module.forward)
    device = next((p.device for p in model.parameters()), "cpu")
    try:
        model.eval()
        with no_grad():
            model(Tensor.zeros(tuple(input_shape), dtype=dtype, device=device))
    finally:
        for _, module in leaves:
            del module.forward
        for module, mode in modes:
            module.training = mode

    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    cells = [(f"{name or type(model).__name__} ({kind})", str(shape), f"{count:,}") for name, kind, shape, count in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) + 2 for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
    line = lambda c: "".join(f"{v:<{w}}" for v, w in zip(c, widths)).rstrip()
    rule = "=" * sum(widths)
    table = "\n".join(
        [rule, line(("Layer (type)", "Output Shape", "Param #")), rule]
        + [line(c) for c in cells]
        + [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}", rule]
    )
    if print_fn is not None:
        print_fn(table)
    return table
