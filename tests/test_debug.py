"""The debug trace: one line per op, forward and backward; kernels and their compile status at level 2."""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

import tinygrad_nb as tg
from tinygrad_nb import debug, device, function
from tinygrad_nb.device import get_device

TIME = r"\d+\.\d+ (us|ms|s)"


def traced(fn, level=1):
    out = io.StringIO()
    with debug.trace(level=level, file=out):
        fn()
    return out.getvalue().splitlines()


def mul_sum():
    x = tg.ones(2, 3, requires_grad=True)
    (x * tg.ones(2, 3)).sum().backward()


def test_each_op_forward_and_backward_with_shapes_dtype_device_and_time():
    lines = traced(mul_sum)
    patterns = [
        r"forward  Mul +\(2, 3\), \(2, 3\) -> \(2, 3\)  float32 cpu  ",
        r"forward  Sum +\(2, 3\) -> \(\)  float32 cpu  ",
        r"backward Sum +\(\) -> \(2, 3\)  float32 cpu  ",
        r"backward Mul +\(2, 3\) -> \(2, 3\), -  float32 cpu  ",  # the constant needs no gradient
    ]
    assert len(lines) == len(patterns)
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern + TIME, line), line


def test_writes_to_stderr_by_default_and_cleans_up(capsys):
    with debug.trace():
        with debug.trace():  # nested: still one line per op
            tg.ones(2) + 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and "forward  Add" in captured.err
    assert not function.op_hooks and device._observer is None
    tg.ones(2) + 1
    assert capsys.readouterr().err == ""


@njit(cache=False)
def _double(x):
    return 2 * x


def toy(x):
    return _double(x)


def test_level_2_reports_compiled_then_in_memory():
    def run():
        kernel = device._observer("toy", toy)  # what the backends wrap each kernel with now
        kernel(np.ones(3))
        kernel(np.ones(3))
        tg.ones(2) + 1  # the kernel lines print under the next op's line

    lines = traced(run, level=2)
    assert re.fullmatch(r" +kernel toy: compiled _double  " + TIME, lines[1]), lines
    assert re.fullmatch(r" +kernel toy: already in memory  " + TIME, lines[2]), lines


def test_level_2_names_the_kernel_each_op_calls():
    def run():
        x = tg.ones(2, 2, requires_grad=True)
        (x @ x).gelu().sum().backward()

    lines = traced(run, level=2)
    matmul = r" +kernel matmul: (compiled [\w, ]*batched_products|loaded [\w, ]*batched_products from the disk cache|already in memory)  " + TIME
    assert lines[0].startswith("forward  MatMul") and re.fullmatch(matmul, lines[1])
    assert lines[2].startswith("forward  Gelu")
    assert re.fullmatch(r" +kernel activation: (already in memory|(compiled|loaded) gelu_forward.*)  " + TIME, lines[3])
    assert lines[-3].startswith("backward MatMul")  # one product per input: G @ X^T and X^T @ G
    assert re.fullmatch(matmul, lines[-2]) and re.fullmatch(matmul, lines[-1])


def test_level_1_hands_out_kernels_untouched():
    from tinygrad_nb.kernels.cpu.matmul import matmul

    plain = get_device("cpu").backend.matmul
    assert plain.__wrapped__ is matmul  # only the float16 guard (device.py) around it
    with debug.trace(level=1, file=io.StringIO()):
        assert get_device("cpu").backend.matmul is plain


def test_bad_level():
    with pytest.raises(ValueError, match="debug.trace: level must be 1 .* or 2 .*, got 3"):
        debug.trace(level=3)


PROGRAM = "import tinygrad_nb as tg; x = tg.ones(2, requires_grad=True); (x * x).sum().backward()"


def run_with_env(value):
    env = dict(os.environ, TINYGRAD_NB_DEBUG=value)
    return subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)


def test_environment_variable_turns_the_trace_on():
    lines = run_with_env("1").stderr.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["forward", "Mul"], ["forward", "Sum"], ["backward", "Sum"], ["backward", "Mul"]
    ]


def test_environment_variable_that_is_not_a_level_warns():
    done = run_with_env("yes")
    assert "TINYGRAD_NB_DEBUG='yes' is not a debug level" in done.stderr and "forward" not in done.stderr
