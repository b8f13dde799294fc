"""fit()'s progress bar: tqdm's when tqdm is installed (the `progress` extra), otherwise a
one-line text bar on stderr with the same numbers:

    epoch 2/5 [##########..........] 23/45 loss=0.4321, acc=0.8765 1.3s
"""
import sys
import time


def progress_bar(total, desc, disable=False):
    """A bar over `total` batches with tqdm's update(), set_postfix() and close()."""
    try:
        from tqdm.auto import tqdm  # imported here, so that `import tinygrad_nb` stays fast
    except ImportError:
        return TextBar(total, desc, disable)
    return tqdm(total=total, desc=desc, disable=disable, unit="batch")


class TextBar:
    """The bar without tqdm: one line, shown at once (the first batch may wait for Numba to
    compile), rewritten in place with '\\r' at most every `interval` seconds; close()
    shows it a last time and ends the line."""

    width = 20

    def __init__(self, total, desc, disable=False, file=None, interval=0.1):
        self.total, self.desc, self.disable, self.interval = total, desc, disable, interval
        self.file = file or sys.stderr
        self.n, self.postfix, self.shown_length = 0, {}, 0
        self.start = self.shown_at = time.perf_counter()
        self._show()

    def update(self, n=1):
        self.n += n
        if time.perf_counter() - self.shown_at >= self.interval:
            self._show()

    def set_postfix(self, values, refresh=True):
        self.postfix = dict(values)
        if refresh:
            self._show()

    def close(self):
        self._show(end="\n")

    def _show(self, end=""):
        if self.disable:
            return
        self.shown_at = time.perf_counter()
        filled = self.width * min(self.n, self.total) // max(self.total, 1)
        metrics = ", ".join(f"{k}={v}" for k, v in self.postfix.items())
        line = (f"{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.n}/{self.total} "
                f"{metrics}{' ' if metrics else ''}{self.shown_at - self.start:.1f}s")
        # Spaces cover what is left of a longer line shown before.
        self.file.write("\r" + line.ljust(self.shown_length) + end)
        self.file.flush()
        self.shown_length = len(line)
