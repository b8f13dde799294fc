"""fit and evaluate: the training loop most models need, with a progress bar.

    history = fit(model, train_loader, nn.CrossEntropyLoss(), optim.Adam(model.parameters()),
                  epochs=10, val_loader=test_loader)
    history["val_accuracy"][-1]
"""
import os
import time
import warnings

from . import cuda
from .function import no_grad
from .progress import progress_bar
from .random import get_rng_state, set_rng_state
from .serialization import load, save


def _device(model):
    return next((p.device for p in model.parameters()), "cpu")


class _Alone:
    """The world of a model that trains in one process."""
    world_size, is_main = 1, True

    @staticmethod
    def all_sum(values):
        return values


def _world(model):
    """The processes training `model` together. A model that trains across several
    (distributed.DistributedDataParallel) answers for them: world_size, is_main, all_sum
    (of a list of numbers). fit sums its metrics over them, and only the main one shows
    progress and writes checkpoints."""
    return model if hasattr(model, "all_sum") else _Alone


def _correct(output, target):
    """How many predictions hit when output holds class scores on axis 1 for integer
    targets; None when the task is not classification."""
    if target.dtype.kind not in "iu" or output.ndim != target.ndim + 1:
        return None
    return int((output.argmax(1).numpy() == target.numpy()).sum())


def evaluate(model, loader, loss_fn=None):
    """Mean loss (if loss_fn is given) and accuracy (for classification, else None) over
    a loader, in eval mode and without recording a graph (over every rank's loader, for a
    model trained across ranks)."""
    was_training, device = model.training, _device(model)
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        with no_grad():
            for inputs, target in loader:
                output = model(inputs.to(device))
                target = target.to(device)
                if loss_fn is not None:
                    total_loss += loss_fn(output, target).item() * len(target)
                hits = _correct(output, target)
                correct = None if hits is None or correct is None else correct + hits
                count += len(target)
    finally:
        model.train(was_training)
    total_loss, hits, count = _world(model).all_sum([total_loss, correct or 0, count])
    correct = None if correct is None else hits
    return (total_loss / max(count, 1) if loss_fn is not None else None), (None if correct is None else correct / max(count, 1))


def fit(model, loader, loss, optimizer, epochs=1, val_loader=None, scheduler=None, progress=True, cuda_graphs=None,
        checkpoint=None, checkpoint_every=None):
    """Train for `epochs` passes over `loader` (batches of (inputs, targets)), stepping
    `scheduler` once per epoch if given, with a progress bar on stderr unless `progress`
    is False (tqdm's if tqdm is installed, else a text one). Returns the history: per-epoch
    lists 'loss', 'accuracy' (classification only), 'val_loss', 'val_accuracy' (with
    val_loader), 'seconds'.

    With `checkpoint` (a path), the whole training state (model, optimizer, scheduler, the
    global random state, the loader's position, the epoch and the history) is saved there
    every `checkpoint_every` batches and at the end of every epoch; if the file exists when
    fit starts, training resumes from it, and ends with the same weights, bit for bit, as a
    run that was never interrupted (on the same device, with the same thread count).

    A model trained across ranks (distributed.DistributedDataParallel) reports the loss and
    accuracy over all ranks' batches; only rank 0 shows progress and writes checkpoints;
    a loader's sampler with set_epoch (distributed.DistributedSampler) gets each epoch's
    number before the epoch starts.

    On 'cuda' (unless `cuda_graphs` is False, or the model trains across ranks, whose
    averaging copies gradients to the host mid-step) the training step of each batch shape is
    captured once as a CUDA graph and replayed for the later batches of that shape: the same
    updates, without the host cost of launching every kernel. A step that cannot be captured
    (it reads values on the host) trains eagerly, with a warning."""
    device, world = _device(model), _world(model)
    use_graphs = device == "cuda" and cuda_graphs is not False and world.world_size == 1
    sampler = getattr(loader, "sampler", None)
    graphs = {}  # (input shape, target shape) -> GraphedStep, or None where capture failed

    def step(inputs, target):
        output = model(inputs)
        value = loss(output, target)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        return value, output

    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "seconds": []}
    first_epoch, totals = 0, (0.0, 0, 0)
    if checkpoint is not None and os.path.exists(checkpoint):
        first_epoch, totals, history = _resume(checkpoint, model, optimizer, scheduler, loader)
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        model.train()
        total, correct, count = totals
        totals = (0.0, 0, 0)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        # Driven by hand rather than wrapping the loader, so it stays open to show validation.
        bar = progress_bar(len(loader), f"epoch {epoch + 1}/{epochs}", disable=not progress or not world.is_main)
        batch = 0
        for inputs, target in loader:
            shapes = (tuple(inputs.shape), tuple(target.shape))
            graphed = graphs.get(shapes)
            if graphed is not None:
                value, output = graphed(inputs, target)
            else:
                value, output = step(inputs.to(device), target.to(device))
            n = len(target)
            total, count = total + value.item() * n, count + n
            hits = _correct(output, target.to(device))
            correct = None if hits is None or correct is None else correct + hits
            bar.set_postfix(_postfix(total / count, None if correct is None else correct / count), refresh=False)
            bar.update()
            if use_graphs and shapes not in graphs:  # this eager step was the capture's warm-up
                graphs[shapes] = _captured(step, inputs, target)
            batch += 1
            if checkpoint is not None and checkpoint_every and batch % checkpoint_every == 0 and world.is_main:
                _save_state(checkpoint, model, optimizer, scheduler, loader, epoch, (total, correct, count), history)
        if scheduler is not None:
            scheduler.step()
        total, hits, count = world.all_sum([total, correct or 0, count])
        correct = None if correct is None else hits
        history["loss"].append(total / max(count, 1))
        history["accuracy"].append(None if correct is None else correct / max(count, 1))
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            bar.set_postfix({**_postfix(history["loss"][-1], history["accuracy"][-1]), **_postfix(val_loss, val_acc, "val_")})
        history["seconds"].append(time.perf_counter() - start)
        bar.close()
        if checkpoint is not None and world.is_main:
            _save_state(checkpoint, model, optimizer, scheduler, loader, epoch + 1, (0.0, 0, 0), history)
    return {k: v for k, v in history.items() if v and any(x is not None for x in v)}


def _save_state(path, model, optimizer, scheduler, loader, epoch, totals, history):
    """Everything a resumed fit needs, in `epoch` (counted from 0) after the batches `totals` sums."""
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
          "scheduler": None if scheduler is None else scheduler.state_dict(), "rng": get_rng_state(),
          "loader": loader.state_dict(), "epoch": epoch, "totals": list(totals), "history": history}, path)


def _resume(path, model, optimizer, scheduler, loader):
    """Restore what _save_state wrote; -> (epoch, totals of its batches so far, history)."""
    state = load(path, device=_device(model))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    loader.load_state_dict(state["loader"])
    set_rng_state(state["rng"])
    return state["epoch"], tuple(state["totals"]), state["history"]


def _captured(step, inputs, target):
    """The step captured for batches of these shapes (capturing runs nothing), or None when it
    cannot be captured. Any failure of the capture leaves training to the eager step, which
    does the same updates, with a warning that says why."""
    try:
        return cuda.make_graphed_step(step, inputs, target, warmup=0)
    except Exception as error:  # noqa: BLE001
        warnings.warn(f"fit: the training step could not be captured as a CUDA graph and runs eagerly: {error}",
                      stacklevel=3)
        return None


def _postfix(loss, accuracy, prefix=""):
    out = {f"{prefix}loss": f"{loss:.4f}"}
    if accuracy is not None:
        out[f"{prefix}acc"] = f"{accuracy:.4f}"
    return out
