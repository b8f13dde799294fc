"""The docs stay true: every ```python snippet of docs/*.md runs (each file's snippets in
order, sharing one namespace), and every link to the code names a file that exists and,
when its text is a `name` (or `module.name`, `Class.method`), a function or class of
that name in that file. A snippet that opens with "# <file>, before ..." or "# <file>, in ..."
is a piece to insert into that file (architecture.md's recipe): test_add_an_op.py runs those."""
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
SNIPPET = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
INSERTION = re.compile(r"# \S+, (before|in) ")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def test_there_are_docs():
    assert any(page.name == "autodiff.md" for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snippet that writes a file writes it here
    namespace = {"__name__": f"docs.{page.stem}"}
    text = page.read_text()
    for snippet in SNIPPET.finditer(text):
        if INSERTION.match(snippet.group(1)):
            continue
        line = text.count("\n", 0, snippet.start(1)) + 1
        code = compile(snippet.group(1), f"{page}:{line}", "exec")  # tracebacks point into the page
        exec(code, namespace)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_to_the_code_resolve(page):
    for label, target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # web links and anchors within the page
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: link [{label}]({target}) points at a missing file"
        name = re.fullmatch(r"`([A-Za-z_][\w.]*)`", label)
        if name and path.is_file() and path.suffix == ".py":
            last = name.group(1).split(".")[-1]
            assert re.search(rf"^\s*(def|class) {last}\b|^{last} = ", path.read_text(), re.M), (
                f"{page.name}: link [{label}]({target}): {path.name} defines no {last}"
            )
