"""The profiler: where the time goes, op by op, forward and backward.

    with tinygrad_nb.profile() as p:
        loss = model(x).sum()
        loss.backward()
    p.table()

Each op's time is measured around its forward or backward (the hooks in
`tinygrad_nb/function.py`), so it includes the kernels it ran and, on the first call
of a kernel in a process, Numba's compilation or cache load. Python outside the ops
(module calls, the optimiser's loop) shows up as the gap between the op total and
the wall time of the block.
"""
import sys
import time
from collections import namedtuple

from . import function
from .debug import format_seconds

Row = namedtuple("Row", "op forward_calls forward_seconds backward_calls backward_seconds")


class profile:
    """Context manager that counts calls and time per op and phase.

    `stats[(op, phase)]` is [calls, seconds], phase 'forward' or 'backward';
    `rows()` and `table()` summarise it, slowest op first."""

    def __init__(self):
        self.stats = {}
        self.wall_seconds = 0.0

    def __enter__(self):
        self.stats.clear()
        function.op_hooks.append(self._record)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall_seconds = time.perf_counter() - self._start
        function.op_hooks.remove(self._record)

    def _record(self, phase, ctx, inputs, outputs, seconds):
        entry = self.stats.setdefault((type(ctx).__name__, phase), [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def rows(self):
        """One `Row` per op, largest total time first."""
        ops = {op for op, _ in self.stats}
        rows = [Row(op, *self.stats.get((op, "forward"), (0, 0.0)), *self.stats.get((op, "backward"), (0, 0.0)))
                for op in ops]
        return sorted(rows, key=lambda r: (-(r.forward_seconds + r.backward_seconds), r.op))

    @property
    def total_seconds(self):
        """Time spent inside ops, forward and backward."""
        return sum(seconds for _, seconds in self.stats.values())

    def __str__(self):
        header = ("op", "fwd calls", "fwd total", "fwd mean", "bwd calls", "bwd total", "bwd mean", "total", "share")
        body = []
        total = self.total_seconds
        for op, fcalls, fsec, bcalls, bsec in self.rows():
            body.append((op, str(fcalls), *_total_mean(fcalls, fsec), str(bcalls), *_total_mean(bcalls, bsec),
                         format_seconds(fsec + bsec), f"{100 * (fsec + bsec) / total:.1f}%" if total else "-"))
        fcalls, fsec = _sum_phase(self.stats, "forward")
        bcalls, bsec = _sum_phase(self.stats, "backward")
        footer = ("all ops", str(fcalls), format_seconds(fsec), "", str(bcalls), format_seconds(bsec), "",
                  format_seconds(total), "100%" if total else "-")
        widths = [max(len(r[i]) for r in [header, footer] + body) for i in range(len(header))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(line(header))
        text = [line(header), rule] + [line(r) for r in body] + [rule, line(footer)]
        text.append(f"wall time of the block: {format_seconds(self.wall_seconds)} "
                    f"({format_seconds(max(self.wall_seconds - total, 0.0))} outside the ops)")
        return "\n".join(text)

    def table(self, file=None):
        """Print the per-op table (to standard output unless `file` is given)."""
        print(self, file=file or sys.stdout)


def _total_mean(calls, seconds):
    return (format_seconds(seconds), format_seconds(seconds / calls)) if calls else ("-", "-")


def _sum_phase(stats, phase):
    entries = [entry for (_, p), entry in stats.items() if p == phase]
    return sum(c for c, _ in entries), sum(s for _, s in entries)
