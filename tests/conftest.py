import os

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb.cuda import driver_has_gpu

# Without a GPU the 'cuda' tests run in Numba's CUDA simulator, which must be chosen before
# numba.cuda is first imported (tinygrad_nb itself does not import Numba).
if not driver_has_gpu():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def t64(array, requires_grad=True):
    """A float64 leaf for gradient checks."""
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


# --- The device matrix ------------------------------------------------------------------------
# A test that takes the `device` fixture runs once on 'cpu' and once on 'cuda' (a real GPU, or
# Numba's CUDA simulator without one). The simulator runs each GPU thread as a Python thread, so
# a test picks its shapes from the `small` fixture, or lists the cases the GPU runs with
# `on_devices`. `-m "not cuda"` leaves the GPU out.

def _cuda_available():
    from tinygrad_nb import cuda as tg_cuda

    return tg_cuda.is_available()


def _simulated():
    from tinygrad_nb import cuda as tg_cuda

    return tg_cuda.is_simulated()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request):
    """The device a test runs on: 'cpu', then 'cuda' (skipped where numba.cuda cannot run)."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("no CUDA GPU and the simulator is off (NUMBA_ENABLE_CUDASIM unset, numba.cuda unavailable)")
    return request.param


@pytest.fixture
def small(device):
    """True on the simulated GPU, where a test takes its tiny shapes (one Python thread per GPU thread)."""
    return device == "cuda" and _simulated()


def on_devices(cases, cuda=None, single=False):
    """Parameters (device, *case) for `@pytest.mark.parametrize("device,...", ..., indirect=["device"])`:
    every case on the CPU; on the GPU the cases in `cuda` (all by default), where a case
    costs about a second in the simulator and a subset covers the GPU's kernels. A case is
    a tuple of the other arguments (or a pytest.param of them), or with `single` the one other
    argument."""
    cases = [(c,) for c in cases] if single else list(cases)
    gpu = cases if cuda is None else [(c,) for c in cuda] if single else list(cuda)
    def param(device, case, marks=()):
        if hasattr(case, "values"):  # a pytest.param: keep its id and marks
            return pytest.param(device, *case.values, id=f"{device}-{case.id}" if case.id else None,
                                marks=[*case.marks, *marks])
        return pytest.param(device, *case, marks=marks)

    return [param("cpu", c) for c in cases] + [param("cuda", c, [pytest.mark.cuda]) for c in gpu]


def _run(fn, arrays, device, seed=0):
    """fn(*tensors) on `device`, then backward of a random weighting of its outputs: (outputs, input gradients)."""
    inputs = [tg.Tensor(a, device=device, requires_grad=np.asarray(a).dtype.kind == "f") for a in arrays]
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        if o.requires_grad:
            term = (o * tg.Tensor(rng.standard_normal(o.shape), device=device, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    return outs, [t.grad for t in inputs]


def assert_like_cpu(fn, *arrays, device="cuda", rtol=1e-10, atol=1e-12):
    """fn(*tensors) on `device` gives the CPU's outputs (values, dtypes, shapes) and gradients."""
    assert device != "cpu", "comparing the CPU with itself checks nothing"
    cpu_outs, cpu_grads = _run(fn, arrays, "cpu")
    outs, grads = _run(fn, arrays, device)
    assert len(outs) == len(cpu_outs)
    for c, g in zip(cpu_outs + cpu_grads, outs + grads):
        assert (c is None) == (g is None)
        if c is None:
            continue
        assert g.device == device and g.dtype == c.dtype and g.shape == c.shape, (g.dtype, c.dtype, g.shape, c.shape)
        np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=rtol, atol=atol)


def check_gradients(fn, arrays, device, rtol=1e-10, atol=1e-12, **gradcheck_options):
    """fn's gradients at the float64 `arrays` on `device` are right. On the CPU: against central
    finite differences (tg.gradcheck, with `gradcheck_options`). On the GPU: outputs and
    gradients equal the CPU's to rounding (`rtol`, `atol`); the cpu case of the same test checks
    those against finite differences, at a fraction of the simulator's cost."""
    if device == "cpu":
        assert tg.gradcheck(fn, [t64(a) if np.asarray(a).dtype.kind == "f" else tg.Tensor(a) for a in arrays],
                            **gradcheck_options)
    else:
        assert_like_cpu(fn, *arrays, device=device, rtol=rtol, atol=atol)


# Every kernel the simulated tests launch, with its argument types, for test_cuda_ptx.py,
# which compiles them for a real GPU and runs last so that it sees the whole run's launches.
LAUNCHES = set()


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: runs on the 'cuda' device (deselect with -m 'not cuda')")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        import ptx

        ptx.record(LAUNCHES)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name == "test_cuda_ptx.py")
