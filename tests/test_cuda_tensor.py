"""The 'cuda' device at the Tensor level: transfers, factories, mixed devices, modules,
a training step that never copies to the host, and memory freed with its tensors."""
import gc
import weakref

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

from tinygrad_nb.kernels.cuda.array import CudaArray  # noqa: E402


def test_is_available_and_simulation_follow_the_driver():
    assert tg.cuda is tg_cuda and tg.cuda.is_available()
    assert tg_cuda.is_simulated() == (not tg_cuda.driver_has_gpu())


def test_round_trips_keep_values_dtype_and_gradients(rng):
    a = rng.standard_normal((2, 3))
    x = Tensor(a, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and isinstance(y.array, CudaArray) and y.dtype == np.float64
    assert y.to("cuda") is y and x.cuda().cpu().device == "cpu"
    np.testing.assert_array_equal(y.cpu().numpy(), a)
    (y * y).sum().backward()  # the gradient comes back across the transfer
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
    assert x.grad.device == "cpu"
    assert Tensor([1, 2], device="cuda:0").device == "cuda"
    assert repr(Tensor([1.0], device="cuda")).endswith("device='cuda')")


def test_factories_take_a_device():
    for t in [tg.zeros(2, 3, device="cuda"), tg.ones(2, device="cuda"), tg.randn(2, device="cuda"),
              tg.rand(3, device="cuda"), tg.full((2,), 4.0, device="cuda"), tg.eye(2, device="cuda"),
              tg.arange(4, device="cuda"), tg.randint(0, 3, (4,), device="cuda"), tg.tensor([1.0], device="cuda")]:
        assert t.device == "cuda" and isinstance(t.array, CudaArray)
    z = tg.zeros_like(tg.ones(2, device="cuda"))
    assert z.device == "cuda" and z.numpy().tolist() == [0.0, 0.0]
    assert tg.arange(4, device="cuda").dtype == np.int64


def test_two_devices_in_one_op_is_a_clear_error():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on one device, got \(2,\) on cpu, \(2,\) on cuda"):
        a + b
    with pytest.raises(RuntimeError, match="MatMul: expected all tensors on one device"):
        b.reshape(1, 2) @ a.reshape(2, 1)


def test_comparisons_indexing_and_in_place_updates_stay_on_the_device(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    x = Tensor(a, device="cuda")
    mask = x > 0
    assert mask.device == "cuda" and mask.dtype == np.bool_
    np.testing.assert_array_equal((~mask).numpy(), ~(a > 0))
    np.testing.assert_array_equal(x[mask].numpy(), a[a > 0])
    np.testing.assert_array_equal(x[:, Tensor(np.array([3, 0]))].numpy(), a[:, [3, 0]])
    assert x.argmax(1).device == "cuda"
    np.testing.assert_array_equal(x.argmax(1).numpy(), a.argmax(1))
    x[0] = 7.0
    x[1, :2] = np.array([1.0, 2.0], np.float32)
    a[0], a[1, :2] = 7.0, [1.0, 2.0]
    np.testing.assert_array_equal(x.numpy(), a)


def _model(device):
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).to(device)


def test_module_to_cuda_trains_like_the_cpu_without_host_copies(rng, monkeypatch):
    x, labels = rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5)
    results = {}
    for device in ("cpu", "cuda"):
        model = _model(device)
        assert all(p.device == device for p in model.parameters())
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        xb = Tensor(x, device=device)
        for _ in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), labels)
            if device == "cuda":  # from here to the update, no array comes back to the host
                copies = []
                monkeypatch.setattr(CudaArray, "get", lambda self: copies.append(self.shape))
                loss.backward()
                opt.step()
                monkeypatch.undo()
                assert copies == []
            else:
                loss.backward()
                opt.step()
        results[device] = [p.numpy() for p in model.parameters()] + [loss.item()]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
    model = _model("cuda").cpu()
    assert all(p.device == "cpu" and isinstance(p.array, np.ndarray) for p in model.parameters())


def test_device_memory_is_reused_then_released():
    x = tg.ones(8, device="cuda")
    y = x * 2
    buffer = y.array.buf
    del y  # its buffer goes back to the pool ...
    assert tg_cuda.memory_cached() >= buffer.nbytes
    z = x * 3
    assert z.array.buf is buffer and z.numpy().tolist() == [3.0] * 8  # ... and the next array of its size takes it
    view = x.reshape(2, 4)  # a view keeps its buffer from the pool
    del x
    assert view.numpy().sum() == 8
    dropped = weakref.ref(z.array.buf)
    del z, buffer
    tg_cuda.empty_cache()
    gc.collect()
    assert tg_cuda.memory_cached() == 0 and dropped() is None


def test_a_block_dying_in_a_reference_cycle_pools_a_buffer_whose_memory_is_still_there():
    """numba frees a device array's memory from a weakref finalizer of its pointer object. The
    garbage collector runs such callbacks for everything a dead cycle reaches before it calls
    Block.__del__, which pools the buffer: the pool then held freed memory (the ReferenceError
    seen under pytest -n 8 on a GPU). Here a stand-in array records when its memory would go."""
    from tinygrad_nb.kernels.cuda import memory

    class Pointer:
        pass

    class DeviceArray:
        size, nbytes, dtype = 4, 16, np.dtype(np.float32)

        def __init__(self, freed):
            self.gpu_data = Pointer()
            weakref.finalize(self.gpu_data, freed.append, "freed")

    freed, pool = [], memory.Pool()
    cycle = [memory.Block(DeviceArray(freed), pool)]
    cycle.append(cycle)
    del cycle
    gc.collect()
    assert freed == [] and pool.cached == 16
    array = pool.take(4, np.dtype(np.float32))
    del array
    gc.collect()
    assert freed == ["freed"]  # dropped by the pool, its memory goes
