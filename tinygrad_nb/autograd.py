"""tg.autograd.grad: gradients of outputs with respect to chosen tensors, returned instead of
added into .grad (PyTorch's torch.autograd.grad).

    dx, dw = tg.autograd.grad(loss, [x, w])

With create_graph=True the gradients are Tensors with graphs of their own, so they can be
differentiated again (a gradient penalty, a Hessian-vector product):

    (g,) = tg.autograd.grad(y, [x], create_graph=True)
    (h,) = tg.autograd.grad((g * v).sum(), [x])       # H v"""
import numpy as np

from . import function
from .device import get_device
from .tensor import Tensor


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The vector-Jacobian products sum_i grad_outputs[i] . d outputs[i] / d inputs[j], one
    Tensor per input (None for an input the outputs do not depend on, with allow_unused);
    no tensor's .grad changes. grad_outputs may be left out for scalar outputs."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: an input of shape {t.shape} does not require grad")
        t._watch()
    capture = {id(t): [t, None] for t in inputs}
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"autograd.grad: output {k} (shape {out.shape}) does not require grad and has no graph")
        seed = _seed(out, g)
        keep = retain_graph if retain_graph is not None else create_graph
        function.backward(out, seed, retain_graph=keep or k < len(outputs) - 1, capture=capture,
                          create_graph=create_graph)
    result = []
    for t in inputs:
        total = capture[id(t)][1]
        if total is None and not allow_unused:
            raise RuntimeError("autograd.grad: one of the differentiated tensors appears to not have been used in the "
                               "graph; pass allow_unused=True if this is intended")
        if total is not None and not isinstance(total, Tensor):
            total = Tensor._from_array(total, t.device)
        result.append(total)
    return tuple(result)


def _seed(out, g):
    if g is None:
        if out.numel() != 1:
            raise RuntimeError(f"autograd.grad: grad can be implicitly created only for scalar outputs, got shape "
                               f"{out.shape}; pass grad_outputs")
        return get_device(out.device).xp.ones(out.shape, out.dtype)
    g = g.array if isinstance(g, Tensor) else get_device(out.device).from_numpy(np.asarray(g, out.dtype))
    if tuple(g.shape) != out.shape:
        raise RuntimeError(f"autograd.grad: grad_outputs of shape {tuple(g.shape)} for an output of shape {out.shape}")
    return g
