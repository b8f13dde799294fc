"""Module backward hooks (register_full_backward_hook, register_full_backward_pre_hook): how
one forward of a module hands the gradients of its outputs and inputs to them."""
from ...ops.hooks import BackwardHook
from ...tensor import Tensor


class _BackwardHooks:
    """One forward of a module with backward hooks: its tensor inputs and outputs pass
    through BackwardHook ops, so that backward hands over the outputs' gradients (to the
    pre-hooks) and then the inputs' (to the hooks, with the outputs')."""

    def __init__(self, module):
        self.module, self.grad_output = module, None

    def call(self, args, kwargs):
        slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.tensor_inputs = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        args = list(args)
        if slots:
            views = BackwardHook.apply(*(args[i] for i in slots), call=self.inputs_done)
            for i, v in zip(slots, views):
                args[i] = v
        self.slots = slots
        output = self.module._forward_hooked(tuple(args), kwargs)
        flat = _tensors(output)
        live = [k for k, t in enumerate(flat) if t.requires_grad]
        if not live:
            return output
        self.n_outputs = len(flat)
        self.live_outputs = live
        views = BackwardHook.apply(*(flat[k] for k in live), call=self.outputs_done)
        for k, v in zip(live, views):
            flat[k] = v
        return _rebuilt(output, iter(flat))

    def outputs_done(self, grads):
        grad_output = [None] * self.n_outputs
        for k, g in zip(self.live_outputs, grads):
            grad_output[k] = g
        for hook in self.module.__dict__.get("_backward_pre_hooks", ()):
            changed = hook(self.module, tuple(grad_output))
            if changed is not None:
                grad_output = list(changed)
        self.grad_output = tuple(grad_output)
        if not self.slots:  # no input needs a gradient: the hooks hear of the outputs' alone
            self.inputs_done(())
        return tuple(grad_output[k] for k in self.live_outputs)

    def inputs_done(self, grads):
        position = {slot: g for slot, g in zip(self.slots, grads)}
        grad_input = tuple(position.get(i) for i in self.tensor_inputs)
        for hook in self.module.__dict__.get("_backward_hooks", ()):
            changed = hook(self.module, grad_input, self.grad_output)
            if changed is not None:
                grad_input = tuple(changed)
        return tuple(grad_input[self.tensor_inputs.index(i)] for i in self.slots)


def _tensors(output):
    """The tensors of a module's output (a tensor, or nested tuples and lists of them), in order."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _rebuilt(output, tensors):
    """output with its tensors taken in order from the iterator `tensors`."""
    if isinstance(output, Tensor):
        return next(tensors)
    if isinstance(output, (tuple, list)):
        items = [_rebuilt(item, tensors) for item in output]
        return type(output)(*items) if hasattr(output, "_fields") else type(output)(items)
    return output
