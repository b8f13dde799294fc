"""The CPU kernels' thread policy: SciPy's BLAS single-threaded, Numba's threads share out the work."""
import numpy as np
from numba import get_num_threads

from tinygrad_nb.kernels.cpu import threads


def test_kernels_use_every_numba_thread_once_blas_is_serial():
    before = get_num_threads()
    assert threads.serial_blas()  # threadpoolctl comes with the dev extra
    with threads.numba_threads():
        assert get_num_threads() == before
    from threadpoolctl import threadpool_info

    scipy_blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "scipy.libs" in i["filepath"]]
    assert all(i["num_threads"] == 1 for i in scipy_blas)


def test_without_threadpoolctl_kernels_run_on_one_numba_thread(monkeypatch):
    monkeypatch.setitem(threads._state, "serial", False)
    before = get_num_threads()
    with threads.numba_threads():
        assert get_num_threads() == 1
    assert get_num_threads() == before


def test_matmul_without_threadpoolctl_gives_the_same_product(rng, monkeypatch):
    from tinygrad_nb.kernels.cpu.matmul import matmul

    a, b = rng.standard_normal((1, 80, 70)), rng.standard_normal((1, 70, 90))
    threaded = matmul(a, b)
    monkeypatch.setitem(threads._state, "serial", False)
    np.testing.assert_allclose(matmul(a, b), threaded, rtol=1e-12)
    np.testing.assert_allclose(threaded, a @ b, rtol=1e-10)
