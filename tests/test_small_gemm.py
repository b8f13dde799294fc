"""The register-tiled product of the recurrent steps, against NumPy: whole tiles, the
rows and columns BLAS takes over, and operands that are windows of larger arrays."""
import numpy as np
import pytest

from tinygrad_nb.kernels.cpu import small_gemm

# (M, K, N); a tile is 4 rows by 16 float32 or 8 float64 columns with 32-byte vectors, 8
# rows by twice as many with 64-byte ones (AVX-512; elsewhere LLVM splits them, so both run
# anywhere), then 8 rows by 32-byte vectors
SHAPES = [
    (8, 5, 32),    # whole tiles in both dtypes
    (8, 5, 52),    # 64-byte tiles, then a 32-byte one, then BLAS
    (16, 9, 48),   # 64-byte tiles then 32-byte ones, nothing left in float32
    (4, 1, 16),    # one tile (two in float64), K = 1
    (7, 3, 17),    # a row and a column left over
    (9, 11, 1),    # batch of one: BLAS does everything
    (3, 4, 40),    # fewer rows than a tile
    (130, 64, 33),
]


@pytest.mark.parametrize("vector_bytes", [32, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", SHAPES)
def test_product_matches_numpy(rng, dtype, M, K, N, vector_bytes):
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    R = small_gemm.panel_rows(vector_bytes)
    panels = np.empty((M // R, K, R), dtype)
    small_gemm.pack_rows(a, panels)
    c = np.full((M, N), np.nan, dtype)
    small_gemm.product(panels.reshape(-1), R * K, a.reshape(-1), K, b.reshape(-1), N, c.reshape(-1), N, M, N, K, False,
                       vector_bytes)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=tol, atol=tol * np.sqrt(K))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", [(16, 7, 64), (13, 5, 70), (5, 3, 40)])
def test_product8_matches_numpy(rng, dtype, M, K, N):
    """Tiles of 8 rows by two 64-byte vectors (AVX-512's; LLVM splits them elsewhere), then
    by two 32-byte ones, the rows and columns past whole tiles by BLAS, added to c."""
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    panels = np.empty((M // 8, K, 8), dtype)
    small_gemm.pack_rows(a, panels)
    c = rng.standard_normal((M, N)).astype(dtype)
    expected = c + a.astype(np.float64) @ b
    small_gemm.product8(panels.reshape(-1), 8 * K, a.reshape(-1), K, b.reshape(-1), N, c.reshape(-1), N, M, N, K, True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol * np.sqrt(K))


@pytest.mark.parametrize("vector_bytes", [32, 64])
@pytest.mark.parametrize("add", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_product_of_windows_leaves_the_rest_alone(rng, dtype, add, vector_bytes):
    """Operands as the LSTM's backward passes them: a's columns 8..8+K of a wider matrix,
    b's columns of a wider one, the panels a window of longer ones, and c a window whose
    neighbours must keep their values; with `add` the product adds to c's window."""
    M, K, N, wide = 10, 12, 35, 48
    big_a, big_b = rng.standard_normal((M, wide)).astype(dtype), rng.standard_normal((K, wide)).astype(dtype)
    R = small_gemm.panel_rows(vector_bytes)
    panels = np.empty((M // R, wide, R), dtype)
    small_gemm.pack_rows(big_a, panels)
    big_c = rng.standard_normal((M + 2, wide)).astype(dtype)
    before = big_c.copy()
    small_gemm.product(panels.reshape(-1)[R * 8:], R * wide, big_a.reshape(-1)[8:], wide, big_b.reshape(-1)[5:], wide,
                       big_c.reshape(-1)[wide + 3:], wide, M, N, K, add, vector_bytes)
    expected = before.copy()
    expected[1:M + 1, 3:3 + N] = before[1:M + 1, 3:3 + N] * add + big_a[:, 8:8 + K].astype(np.float64) @ big_b[:, 5:5 + N]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(big_c, expected, rtol=tol, atol=tol * np.sqrt(K))


def test_the_lstm_is_the_same_with_either_tile_width(rng, monkeypatch):
    """The LSTM kernels take the tile width at run time: the host's, or the other one."""
    from tinygrad_nb.kernels.cpu import lstm as rnn

    T, B, I, H = 3, 32, 5, 8
    x, h0, c0 = (rng.standard_normal(s).astype(np.float32) for s in ((T, B, I), (B, H), (B, H)))
    w_ih, w_hh = rng.standard_normal((4 * H, I)).astype(np.float32), rng.standard_normal((4 * H, H)).astype(np.float32)
    b_ih, b_hh = rng.standard_normal(4 * H).astype(np.float32), rng.standard_normal(4 * H).astype(np.float32)
    d_out = rng.standard_normal((T, B, H)).astype(np.float32)
    results = []
    for vector_bytes in (32, 64):
        monkeypatch.setattr(small_gemm, "VECTOR_BYTES", vector_bytes)
        hs, cs, acts = rnn.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, False)
        grads = rnn.lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, np.zeros((B, H), np.float32),
                                  np.zeros((B, H), np.float32), False, True)
        results.append([np.array(a) for a in (hs, cs) + grads])
    for narrow, wide in zip(*results):
        np.testing.assert_allclose(wide, narrow, rtol=1e-5, atol=1e-5)
