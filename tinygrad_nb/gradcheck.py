"""Check analytic gradients against central finite differences.

For a random weighting v of the outputs, L = sum(v * f(inputs)); backward() gives
dL/dx, and (L(x + eps e_i) - L(x - eps e_i)) / (2 eps) estimates it one entry at a time.
Use float64 inputs: float32 finite differences are too noisy to trust."""
import numpy as np

from .device import get_device
from .function import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _weighted_sum(outs, weights):
    return sum(float((o.numpy().astype(np.float64) * w).sum()) for o, w in zip(outs, weights))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Return True if every input with requires_grad gets the gradient finite differences
    predict; raise GradcheckError naming the input and the worst entry otherwise."""
    inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    checked = [x for x in inputs if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for x in checked:
        if x.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs should be float64 for accurate finite differences, got {x.dtype}")
    rng = np.random.default_rng(seed)
    for x in checked:
        x.grad = None
    outs = _outputs(fn, inputs)
    weights = [rng.standard_normal(o.shape) for o in outs]
    loss = None
    for o, w in zip(outs, weights):
        if o.requires_grad:
            term = (o * Tensor(w, device=o.device, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    for k, x in enumerate(checked):
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.numpy().astype(np.float64)
        numeric = np.zeros(x.shape)
        original, device = x.array, get_device(x.device)
        host = np.array(x.numpy(), copy=True)
        flat = host.reshape(-1)
        with no_grad():
            for i in range(flat.size):
                sides = []
                for step in (eps, -eps):
                    flat[i] += step
                    x.array = device.from_numpy(host)
                    sides.append(_weighted_sum(_outputs(fn, inputs), weights))
                    flat[i] -= step
                numeric.reshape(-1)[i] = (sides[0] - sides[1]) / (2 * eps)
        x.array = original
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            j = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
            raise GradcheckError(
                f"gradcheck: input {k} (shape {x.shape}) gradient mismatch; worst at index {tuple(int(v) for v in j)}: "
                f"analytic {analytic[j]:.6g} vs numeric {numeric[j]:.6g} (atol={atol}, rtol={rtol})"
            )
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check gradients of gradients (create_graph=True). With a random weighting v of the outputs
    (itself an input here), the gradients G(inputs, v) = d sum(v * fn(inputs)) / d inputs that
    backward(create_graph=True) builds must equal plain backward()'s, and gradcheck must pass
    on G: its own gradients, with respect to the inputs and to v, match finite differences."""
    from .autograd import grad
    from .function import enable_grad

    inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    checked = [x for x in inputs if x.requires_grad]
    rng = np.random.default_rng(seed + 1)
    weights = [Tensor(rng.standard_normal(o.shape), requires_grad=True, device=o.device, dtype=o.dtype)
               for o in _outputs(fn, inputs)]

    def gradients(*args):
        with enable_grad():
            outs = _outputs(fn, args[:len(inputs)])
            total = sum((o * w).sum() for o, w in zip(outs, args[len(inputs):]) if o.requires_grad)
            return grad(total, [x for x in args[:len(inputs)] if x.requires_grad], create_graph=True, allow_unused=True)

    built = gradients(*inputs, *weights)
    plain = grad(sum((o * w.detach()).sum() for o, w in zip(_outputs(fn, inputs), weights) if o.requires_grad),
                 checked, allow_unused=True)
    for k, (a, b) in enumerate(zip(built, plain)):
        if (a is None) != (b is None) or (a is not None and not np.allclose(a.numpy(), b.numpy(), atol=1e-12, rtol=1e-9)):
            raise GradcheckError(f"gradgradcheck: input {k}: the create_graph gradient differs from backward()'s")

    def differentiable(*args):
        return tuple(g for g in gradients(*args) if g is not None and g.requires_grad)

    return gradcheck(differentiable, [*inputs, *weights], eps=eps, atol=atol, rtol=rtol, seed=seed)
