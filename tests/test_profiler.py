"""The profiler: calls and time per op and phase, totals, the printed table."""
import io
import itertools
import re
import time

import pytest

import tinygrad_nb as tg
from tinygrad_nb import function
from tinygrad_nb.profiler import Row


@pytest.fixture
def clock(monkeypatch):
    """A clock that advances exactly 1 ms per reading, so every op takes 1 ms."""
    ticks = itertools.count(step=0.001)
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))


def step():
    x = tg.ones(2, 3, requires_grad=True)
    ((x * 2) * 3).sum().backward()
    with tg.no_grad():
        x * 4  # forward only


def test_calls_and_times_per_op_and_phase(clock):
    with tg.profile() as p:
        step()
    def ms(n):
        return pytest.approx(n / 1000)

    assert p.rows() == [Row("Mul", 3, ms(3), 2, ms(2)), Row("Sum", 1, ms(1), 1, ms(1))]
    assert p.stats == {("Mul", "forward"): [3, ms(3)], ("Sum", "forward"): [1, ms(1)],
                       ("Sum", "backward"): [1, ms(1)], ("Mul", "backward"): [2, ms(2)]}


def test_totals_add_up(clock):
    with tg.profile() as p:
        step()
        step()
    assert p.total_seconds == pytest.approx(sum(r.forward_seconds + r.backward_seconds for r in p.rows()))
    assert p.total_seconds == pytest.approx(0.014)
    assert p.wall_seconds >= p.total_seconds  # ops are timed inside the block


def test_table_sorted_by_time_with_totals_and_means(clock):
    with tg.profile() as p:
        step()
    out = io.StringIO()
    p.table(file=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["op", "fwd", "calls", "fwd", "total", "fwd", "mean", "bwd", "calls", "bwd", "total",
                                "bwd", "mean", "total", "share"]
    assert lines[2].split() == ["Mul", "3", "3.00", "ms", "1.00", "ms", "2", "2.00", "ms", "1.00", "ms", "5.00", "ms",
                                "71.4%"]
    assert lines[3].split()[0] == "Sum"
    assert lines[5].split() == ["all", "ops", "4", "4.00", "ms", "3", "3.00", "ms", "7.00", "ms", "100%"]
    assert re.fullmatch(r"wall time of the block: \d+\.\d+ ms \(\d+\.\d+ ms outside the ops\)", lines[6])


def test_an_op_with_no_backward_shows_dashes(clock):
    with tg.profile() as p:
        tg.ones(2) + 1
    assert str(p).splitlines()[2].split() == ["Add", "1", "1.00", "ms", "1.00", "ms", "0", "-", "-", "1.00", "ms",
                                              "100.0%"]


def test_records_only_inside_the_block_and_unhooks_on_error():
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with tg.profile() as p:
            x.exp()
            1 / 0
    x.exp()
    assert p.rows() == [Row("Exp", 1, p.stats[("Exp", "forward")][1], 0, 0.0)]
    assert not function.op_hooks
