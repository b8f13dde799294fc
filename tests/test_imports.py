"""The layers of DESIGN.md hold: no module imports one that imports it back (at module level,
where a cycle decides what a half-imported module holds), kernels import no framework code,
and nn reaches kernels only through Tensor."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"tinygrad_nb": ROOT / "tinygrad_nb", "tinygrad_nb.kernels": ROOT / "kernels"}


def modules():
    """{module name: (path, is a package's __init__)} for every module of the two trees."""
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = (path, path.name == "__init__.py")
    return found


def top_level_imports(name, path, is_package, known):
    """The known modules `name` imports at module level (imports inside functions run later)."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    targets = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            stem = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for alias in node.names:
                full = f"{stem}.{alias.name}"
                targets.add(full if full in known else stem)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in known and t != name}


def graph():
    known = modules()
    return {name: top_level_imports(name, path, is_package, known) for name, (path, is_package) in known.items()}


def cycle_through(start, edges):
    """A path start -> ... -> start along edges, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in edges[node]:
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_no_module_imports_one_that_imports_it_back():
    edges = graph()
    for name in edges:
        if name.endswith("__init__") or any(name == p for p in PACKAGES):
            continue
        cycle = cycle_through(name, edges)
        # A package's __init__ gathering its submodules is the one loop allowed: it is how
        # `tinygrad_nb.nn.Linear` exists, and no submodule reads the package half-imported.
        if cycle and not any(step in PACKAGES or modules()[step][1] for step in cycle[1:-1]):
            raise AssertionError(" -> ".join(cycle))


def test_kernels_import_no_framework_code_and_nn_no_kernels():
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("tinygrad_nb.kernels"):
            assert all(t.startswith("tinygrad_nb.kernels") for t in targets), (name, targets)
        if name.startswith("tinygrad_nb.nn"):
            assert not any(t.startswith("tinygrad_nb.kernels") for t in targets), (name, targets)


def test_the_check_finds_a_cycle():
    assert cycle_through("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_through("a", {"a": {"b"}, "b": set()}) is None
