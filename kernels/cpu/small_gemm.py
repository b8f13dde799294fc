"""Products too small for BLAS to reach its speed: those of a recurrent step, as W_hh @ h.

One LSTM step multiplies a thread's 256 x 128 rows of W_hh by the 128 x 32 state. BLAS
copies ("packs") both operands into its own layout on every call, and at this size that
copy and the call cost about a quarter of the product's time. The weights do not change
during a sequence, so we pack them once, before the time loop, and run the product as a
register tile written directly in LLVM's vector instructions (below), which reaches the
speed BLAS has on large products (bench/README.md has the figures).

The tile computes a 4-row by 2-vector block of C = A @ B from a panel of A, its four rows
interleaved:
    panel[4k + r] = A[r, k],   C[r, :] = sum over k of panel[4k + r] * B[k, :]
Each step of k loads two vectors of B's row k and broadcasts four numbers of the panel,
for eight fused multiply-adds into eight accumulators that stay in registers. Numba cannot
write this itself: its arrays live in memory, so an accumulator written as an array element
is loaded and stored on every k, and scalar accumulators are not packed into vectors (a
quarter and a thirtieth of the tile's speed).

A vector is the host's width: 32 bytes on AVX2 (a tile of 4 x 16 float32), 64 on AVX-512,
where each instruction does twice the work and 32 registers hold a tile of 8 rows by two
64-byte vectors (16 accumulators), which hides the latency of the multiply-adds better
than 4 rows: 8-row tiles run 10-15% faster on the LSTM's products and about level with
OpenBLAS's AVX-512 kernels on a Winograd product. `product` takes the width as an argument
(`VECTOR_BYTES`, found from the CPU Numba compiles for), and with it the panels' height
(`panel_rows`: 8 rows on AVX-512, else 4). On AVX-512 it covers what a wide tile cannot,
as a batch of 16, with 32-byte tiles of 8 rows before it leaves the rest to BLAS.
"""
from llvmlite import binding, ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .blas import gemm

jit = njit(cache=True, error_model="numpy")

VECTORS = 2  # per tile row


def _host_vector_bytes():
    """64 where the CPU Numba compiles for has AVX-512 (NUMBA_CPU_FEATURES, else the host's), else 32."""
    features = config.CPU_FEATURES or binding.get_host_cpu_features().flatten()
    return 64 if "+avx512f" in features.split(",") else 32


VECTOR_BYTES = _host_vector_bytes()


def _make_tile(vector_bytes, rows):
    """The tile as an intrinsic: `rows` rows by two vectors of `vector_bytes`."""

    @intrinsic
    def tile(typingctx, K, panel, first, b, ldb, c, ldc, add):
        """c[r*ldc + j] = sum over k < K of panel[first + rows*k + r] * b[k*ldb + j], for r < rows
        and j < 2 vectors, on flat arrays of one dtype, added to what c holds when `add`;
        nothing is bounds-checked."""
        if not (isinstance(c, types.Array) and c.dtype in (types.float32, types.float64)
                and panel.dtype == b.dtype == c.dtype):
            return None

        def codegen(context, builder, signature, args):
            return _emit_tile(vector_bytes, rows, context, builder, signature, args)

        return types.void(types.intp, panel, types.intp, b, types.intp, c, types.intp, types.boolean), codegen

    return tile


def vector_ops(context, builder, dtype, vector_bytes):
    """For writing an intrinsic on vectors of `vector_bytes` of a Numba float dtype: the
    vector's LLVM type, its lane count, fmuladd(a, b, c) = a * b + c (one fused instruction
    where the CPU has FMA, a multiply and an add where it has not), and load(pointer to a
    scalar), which reads a vector from there, aligned as a scalar only."""
    scalar = context.get_value_type(dtype)
    size = context.get_abi_sizeof(scalar)
    width = vector_bytes // size
    vector = ir.VectorType(scalar, width)
    fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                             "llvm.fmuladd.v%d%s" % (width, "f32" if size == 4 else "f64"))

    def load(pointer):
        return builder.load(builder.bitcast(pointer, vector.as_pointer()), align=size)

    return vector, width, lambda a, b, c: builder.call(fmuladd, [a, b, c]), load


def _emit_tile(vector_bytes, rows, context, builder, signature, args):
    """The tile's LLVM IR (see _make_tile)."""
    K, panel, first, b, ldb, c, ldc, add = args
    data = [context.make_array(t)(context, builder, v).data for t, v in zip(signature.args[1::2], (panel, b, c))]
    scalar = context.get_value_type(signature.args[5].dtype)
    vector, width, fmuladd, load = vector_ops(context, builder, signature.args[5].dtype, vector_bytes)
    index = lambda i: ir.Constant(K.type, i)  # noqa: E731

    def broadcast(value):
        one = builder.insert_element(ir.Constant(vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(vector, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))

    def c_at(r, v):
        return builder.bitcast(builder.gep(data[2], [builder.add(builder.mul(index(r), ldc), index(v * width))]),
                               vector.as_pointer())

    # Allocas, which LLVM promotes to registers: the loop's accumulators, starting from
    # c or from zero (c is loaded either way: it is in bounds, and select keeps one).
    accumulators = [cgutils.alloca_once(builder, vector) for _ in range(rows * VECTORS)]
    for i, acc in enumerate(accumulators):
        start = builder.load(c_at(i // VECTORS, i % VECTORS), align=context.get_abi_sizeof(scalar))
        builder.store(builder.select(add, start, ir.Constant(vector, None)), acc)
    panel_k = builder.gep(data[0], [first])
    with cgutils.for_range(builder, K) as loop:
        row = builder.gep(data[1], [builder.mul(loop.index, ldb)])
        bs = [load(builder.gep(row, [index(v * width)])) for v in range(VECTORS)]
        weights = builder.gep(panel_k, [builder.mul(loop.index, index(rows))])
        for r in range(rows):
            a = broadcast(builder.load(builder.gep(weights, [index(r)])))
            for v in range(VECTORS):
                acc = accumulators[r * VECTORS + v]
                builder.store(fmuladd(a, bs[v], builder.load(acc)), acc)
    for i, acc in enumerate(accumulators):
        builder.store(builder.load(acc), c_at(i // VECTORS, i % VECTORS), align=context.get_abi_sizeof(scalar))
    return context.get_dummy_value()


_tile32, _tile32x8, _tile64x8 = _make_tile(32, 4), _make_tile(32, 8), _make_tile(64, 8)


@jit
def panel_rows(vector_bytes):
    """How many of a's rows a panel interleaves for `product` with vectors of this width."""
    return 8 if vector_bytes == 64 else 4


@jit
def pack_rows(a, panels):
    """panels[p, k, r] = a[R*p + r, k] for the rows of a in whole groups of R = panels.shape[2]."""
    rows = panels.shape[2]
    for p in range(panels.shape[0]):
        for k in range(a.shape[1]):
            for r in range(rows):
                panels[p, k, r] = a[rows * p + r, k]


@jit
def product(panels, stride, a, lda, b, ldb, c, ldc, M, N, K, add, vector_bytes):
    """c = a @ b, or c += a @ b when `add`, for c (M, N), a (M, K), b (K, N): flat arrays
    starting at each matrix's first element, with row strides lda, ldb, ldc. panels holds
    a's rows R = panel_rows(vector_bytes) at a time as the tile reads them: rows
    Rp..Rp+R-1 from panels[p * stride], interleaved (see pack_rows). The tiles cover whole
    panels of rows and whole tile widths of columns; BLAS, on a, does the rest (all of c
    when N is below a tile's width, as at batch size 1). vector_bytes 64 is AVX-512's
    product8; elsewhere LLVM splits its vectors, which gives the same results slower."""
    if vector_bytes == 64:
        product8(panels, stride, a, lda, b, ldb, c, ldc, M, N, K, add)
        return
    M4, j = M - M % 4, 0
    width = VECTORS * 32 // c.itemsize
    # A strip of b's columns stays in L1 while the panels stream past it (the loop over
    # panels outside took 28% more time).
    while j + width <= N:
        for p in range(M4 // 4):
            _tile32(K, panels, p * stride, b[j:], ldb, c[4 * p * ldc + j:], ldc, add)
        j += width
    _rest(a, lda, b, ldb, c, ldc, M, N, K, add, M4, j)


@jit
def product8(panels, stride, a, lda, b, ldb, c, ldc, M, N, K, add):
    """`product` in tiles of 8 rows by two 64-byte vectors, then by two 32-byte ones, for
    AVX-512 hosts (on others LLVM splits the vectors, and 16 accumulators overflow AVX2's
    registers): panels holds a's rows eight at a time."""
    M8, j = M - M % 8, 0
    width = VECTORS * 64 // c.itemsize
    while j + width <= N:
        for p in range(M8 // 8):
            _tile64x8(K, panels, p * stride, b[j:], ldb, c[8 * p * ldc + j:], ldc, add)
        j += width
    width = VECTORS * 32 // c.itemsize
    while j + width <= N:
        for p in range(M8 // 8):
            _tile32x8(K, panels, p * stride, b[j:], ldb, c[8 * p * ldc + j:], ldc, add)
        j += width
    _rest(a, lda, b, ldb, c, ldc, M, N, K, add, M8, j)


@jit
def _rest(a, lda, b, ldb, c, ldc, M, N, K, add, tiled_rows, tiled_columns):
    """BLAS for what the tiles left of c: the columns from tiled_columns on, and the rows
    from tiled_rows on of the columns before."""
    beta = 1.0 if add else 0.0
    if tiled_columns < N:
        gemm(False, False, M, N - tiled_columns, K, 1.0, a, lda, b[tiled_columns:], ldb, beta, c[tiled_columns:], ldc)
    if tiled_rows < M and tiled_columns > 0:
        gemm(False, False, M - tiled_rows, tiled_columns, K, 1.0, a[tiled_rows * lda:], lda, b, ldb, beta,
             c[tiled_rows * ldc:], ldc)
