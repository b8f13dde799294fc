"""docs/architecture.md's recipe for adding an activation, followed on a copy of the package:
its code blocks are inserted where their first line says, and the new activation must then
work as a Tensor method, an nn.functional function and an nn module, on the CPU and on the
'cuda' device (the simulator here), forward and backward, against NumPy."""
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHERE = re.compile(r"# (\S+), (before|in) (.+)")


def recipe_blocks():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Adding an op", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def follow(blocks, package):
    """Apply each block to the file its first line names; returns how many places changed."""
    places = set()
    for block in blocks:
        first, body = block.split("\n", 1)
        path, how, anchor = WHERE.fullmatch(first).groups()
        target = package / path.replace("kernels/", "tinygrad_nb/kernels/", 1)
        source = target.read_text()
        if how == "before":
            at = source.index(anchor)
            source = source[:at] + body + "\n\n" + source[at:]
        else:  # in a dict literal: after its opening line
            opening = f"{anchor} = {{\n"
            at = source.index(opening) + len(opening)
            source = source[:at] + body + source[at:]
        target.write_text(source)
        places.add((path, how, anchor))
    return len(places)


CHECK = """
import numpy as np
import tinygrad_nb as tg
from tinygrad_nb import nn
from tinygrad_nb.nn import functional as F

assert tg.__file__.startswith({copy!r}), tg.__file__
x = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
expected, slope = x / (1 + abs(x)), 1 / (1 + abs(x)) ** 2
for device in ("cpu", "cuda"):
    for dtype in (np.float32, np.float64):
        t = tg.tensor(x.astype(dtype), device=device, requires_grad=True)
        y = t.softsign()
        y.backward(tg.ones(5, dtype=dtype, device=device))
        assert y.dtype == dtype and type(y._ctx).__name__ == "Softsign"  # the op the row made
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(t.grad.numpy(), slope, rtol=1e-6)
        np.testing.assert_allclose(F.softsign(t).numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(nn.Softsign()(t).numpy(), expected, rtol=1e-6)
t = tg.tensor(np.random.default_rng(0).standard_normal(7), requires_grad=True)
assert tg.gradcheck(lambda t: t.softsign(), (t,))
print("softsign works")
"""


def test_the_recipe_adds_an_activation_in_at_most_three_places(tmp_path):
    package = tmp_path / "copy"
    shutil.copytree(ROOT / "tinygrad_nb", package / "tinygrad_nb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "kernels", package / "tinygrad_nb" / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    blocks = recipe_blocks()
    assert blocks, "docs/architecture.md has no code blocks under 'Adding an op'"
    assert follow(blocks, package) <= 3
    env = {**os.environ, "PYTHONPATH": str(package), "NUMBA_ENABLE_CUDASIM": "1",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    script = textwrap.dedent(CHECK.format(copy=str(package)))
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "softsign works" in result.stdout
