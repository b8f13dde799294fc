"""Draw the graph that produced a tensor, as Graphviz DOT text or a picture.

    from tinygrad_nb import viz
    loss = model(x).sum()
    print(viz.to_dot(loss, params=dict(model.named_parameters())))
    viz.draw(loss, "graph.svg", params=dict(model.named_parameters()))

The graph is the one `backward()` walks (see `tinygrad_nb/function.py`): a tensor made
by an op holds that op's context (`_ctx`), the context holds its input tensors
(`parents`) and the shape and dtype of each output (`out_meta`). Boxes are ops, ovals
are tensors; arrows point the way the forward pass ran.
"""
import os
import shutil
import subprocess

from .function import _topological_order

_FORMATS = ("svg", "png", "pdf")


def to_dot(tensor, params=None):
    """The DOT text of the graph that produced `tensor`.

    `params` names tensors, as torchviz's make_dot does: a dict {name: tensor} or
    pairs (name, tensor), e.g. `dict(model.named_parameters())`. Leaves not named
    are labelled `leaf` (requires grad) or `constant` (does not); `tensor` itself
    is labelled `output` unless named."""
    if not hasattr(tensor, "_ctx"):
        raise TypeError(f"viz.to_dot: expected a Tensor, got {type(tensor).__name__}")
    names = _names(params)
    root = _key(tensor)
    names.setdefault(root, "output")
    # backward's order reversed: every op after the ops that made its inputs, as the forward pass ran
    ops = _topological_order(tensor._ctx)[::-1] if tensor._ctx is not None else []
    op_ids = {id(ctx): i for i, ctx in enumerate(ops)}
    lines = ["digraph tinygrad_nb {", '  node [fontname="Helvetica", fontsize=10];']
    leaves = {}

    def tensor_node(t):
        """The node id of tensor `t`, declaring it on first sight if it is a leaf."""
        if t._ctx is not None:
            return f"op{op_ids[id(t._ctx)]}_out{t._out_index}"
        if id(t) not in leaves:
            node = leaves[id(t)] = f"leaf{len(leaves)}"
            role = names.get(_key(t)) or ("leaf" if t.requires_grad else "constant")
            style = "filled" if t.requires_grad else "dashed"
            lines.append(f"  {node} [label={_label(role, t.shape, t.dtype, t.device)}, shape=ellipse, "
                         f'style={style}, fillcolor="#d8f0d8"{_bold(_key(t) == root)}];')
        return leaves[id(t)]

    for i, ctx in enumerate(ops):
        lines.append(f'  op{i} [label={_quote(type(ctx).__name__)}, shape=box, style=filled, fillcolor="#cfe2f3"];')
        for parent in ctx.parents:
            lines.append(f"  {tensor_node(parent)} -> op{i};")
        for k, (shape, dtype) in enumerate(ctx.out_meta):
            key = ("out", id(ctx), k)
            label = _label(names.get(key, ""), shape, dtype, ctx.device.name)
            lines.append(f"  op{i}_out{k} [label={label}, shape=ellipse{_bold(key == root)}];")
            lines.append(f"  op{i} -> op{i}_out{k};")
    tensor_node(tensor)  # a leaf with no graph still gets its node
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(tensor, path, params=None):
    """Write the graph of `tensor` to `path`, in the format its suffix names: .svg,
    .png or .pdf (rendered by Graphviz's `dot` program), or .dot (the text itself,
    which needs nothing installed). Returns `path`."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in _FORMATS + ("dot",):
        raise ValueError(f"viz.draw: cannot tell the format from {path!r}; expected a path ending in "
                         f"{', '.join('.' + f for f in _FORMATS + ('dot',))}")
    text = to_dot(tensor, params)
    if fmt == "dot":
        with open(path, "w") as f:
            f.write(text)
        return path
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(
            f"viz.draw: rendering {path!r} needs the Graphviz program `dot`, which is not on PATH. "
            "Install Graphviz (apt-get install graphviz, brew install graphviz or conda install graphviz; "
            "`pip install graphviz` alone only adds a Python wrapper around that program), "
            "or save the text with viz.draw(tensor, 'graph.dot') and render it elsewhere."
        )
    done = subprocess.run([program, f"-T{fmt}", "-o", path], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"viz.draw: `dot -T{fmt}` failed: {done.stderr.decode(errors='replace').strip()}")
    return path


def _key(t):
    """Identify a tensor by what made it: a leaf by itself, an op's output by (op, index)."""
    return ("leaf", id(t)) if t._ctx is None else ("out", id(t._ctx), t._out_index)


def _names(params):
    if params is None:
        return {}
    pairs = params.items() if hasattr(params, "items") else params
    return {_key(t): name for name, t in pairs}


def _bold(flag):
    return ", penwidth=2" if flag else ""


def _label(role, shape, dtype, device):
    lines = ([role] if role else []) + [f"{tuple(shape)} {dtype} {device}"]
    return _quote("\n".join(lines))


def _quote(text):
    """A DOT string literal; a line break becomes DOT's \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
