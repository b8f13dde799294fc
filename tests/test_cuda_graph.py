"""CUDA graphs: a step captured once and replayed trains exactly as the eager steps would.

Without a GPU the capture records the launches in Numba's simulator and a replay runs them
again in order, with the same semantics as a real graph: nothing runs during capture,
replays read and write the buffers the capture saw, memory allocated during capture belongs
to the graph. Shapes are tiny because the simulator runs every GPU thread in Python."""
import gc
import warnings

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, data, nn, optim
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

from tinygrad_nb.kernels.cuda import launch, memory  # noqa: E402


def _lenet():
    """LeNet's shape (Conv-ReLU-Pool twice, Flatten, Linear-ReLU-Linear) at a size the simulator runs."""
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3))


class _Sequences(nn.Module):
    def __init__(self, layer=nn.LSTM):
        super().__init__()
        self.rnn, self.head = layer(3, 4, batch_first=True), nn.Linear(4, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _batches(shape, count, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 3, shape[0])) for _ in range(count)]


def _train(make_model, make_opt, batches, graphed):
    """Parameters and losses after one step per batch, eagerly or through a captured graph
    (whose warm-up step is the first batch's)."""
    tg.manual_seed(0)
    model = make_model().to("cuda")
    opt = make_opt(model.parameters())

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    if graphed:
        run = tg_cuda.make_graphed_step(step, *batches[0])
        losses = [None] + [run(x, y).item() for x, y in batches[1:]]
    else:
        losses = [step(Tensor(x, device="cuda"), Tensor(y, device="cuda")).item() for x, y in batches]
    return [p.numpy() for p in model.parameters()], losses[1:]


@pytest.mark.parametrize("make_model,make_opt,shape", [
    (_lenet, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), (2, 1, 8, 8)),
    (_lenet, lambda ps: optim.Adam(ps, lr=0.01), (2, 1, 8, 8)),
    (_Sequences, lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01), (2, 3, 3)),
    (lambda: _Sequences(nn.GRU), lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5), (2, 3, 3)),
    (lambda: _Sequences(nn.RNN), lambda ps: optim.AdamW(ps, lr=0.01), (2, 3, 3)),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)),
     lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True), (6, 2, 2)),
], ids=["lenet-sgd-momentum", "lenet-adam", "lstm-adam", "gru-rmsprop", "rnn-adamw", "mlp-dropout"])
def test_replays_train_exactly_like_eager_steps(make_model, make_opt, shape):
    """Dropout too: the GPU generator's state lives on the GPU and a replay advances it as an
    eager step does, so the masks come in the same order."""
    batches = _batches(shape, 4)
    eager, eager_losses = _train(make_model, make_opt, batches, graphed=False)
    replayed, replayed_losses = _train(make_model, make_opt, batches, graphed=True)
    assert replayed_losses == eager_losses
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(b, a)
    assert not np.allclose(eager[0], _train(make_model, make_opt, batches[:1], graphed=False)[0][0])  # it trained


class _Characters(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(5, 3, padding_idx=0), nn.GRU(3, 4, batch_first=True), nn.Linear(4, 3)

    def forward(self, ids):
        out, _ = self.rnn(self.embed(ids))
        return self.head(out[:, -1])


def test_a_model_with_an_embedding_replays_exactly_like_eager_steps():
    """The token ids stay on the GPU: the lookup and its gradient read them there."""
    rng = np.random.default_rng(2)
    batches = [(rng.integers(0, 5, (2, 3)), rng.integers(0, 3, 2)) for _ in range(3)]
    make_opt = lambda ps: optim.Adam(ps, lr=0.05)  # noqa: E731
    (eager, eager_losses), (replayed, replayed_losses) = (_train(_Characters, make_opt, batches, g) for g in (0, 1))
    assert replayed_losses == eager_losses
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(b, a)


def test_loss_modules_move_their_class_weights_to_the_device_once():
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]))
    x = tg.zeros(2, 3, device="cuda")
    y = Tensor(np.array([0, 2]), device="cuda")
    loss(x, y)
    assert loss.weight.device == "cuda" and loss.weight.dtype == np.float32 and "weight" in loss.state_dict()
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):  # no copy of the weights to make here
        value = loss(x, y)
    g.replay()
    np.testing.assert_allclose(value.numpy(), np.log(3), rtol=1e-6)


def test_capture_records_and_runs_nothing_until_replay():
    x = tg.zeros(4, device="cuda")
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        y = x * 2 + 1
    assert g.num_kernels == 2 and not tg_cuda.is_current_stream_capturing()
    x.copy_(np.arange(4.0))
    g.replay()
    np.testing.assert_array_equal(y.numpy(), np.arange(4.0) * 2 + 1)
    x.copy_(Tensor([5.0, 6, 7, 8], device="cuda"))  # from the device too
    g.replay()
    np.testing.assert_array_equal(y.numpy(), [11.0, 13, 15, 17])


def test_dropout_draws_new_masks_on_every_replay():
    tg.manual_seed(0)
    x = tg.ones(20, 20, device="cuda")
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        y = F.dropout(x, 0.5)
    masks = []
    for _ in range(3):
        g.replay()
        masks.append(y.numpy() != 0)
    for mask in masks:
        assert abs(mask.mean() - 0.5) < 0.1
        np.testing.assert_array_equal(y.numpy()[masks[-1]], 2.0)
    assert (masks[0] != masks[1]).mean() > 0.3 and (masks[1] != masks[2]).mean() > 0.3


def test_a_scheduler_changes_the_learning_rate_of_replays():
    w = Tensor(np.ones(3, np.float32), device="cuda", requires_grad=True)
    opt = optim.SGD([w], lr=0.5)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)

    def step():
        opt.zero_grad()
        (w * w).sum().backward()  # dw = 2w
        opt.step()

    step()  # w = 1 - 0.5 * 2 = 0
    w.array.set_from_host(np.ones(3))
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        step()
    sched.step()  # lr 0.05
    g.replay()
    np.testing.assert_allclose(w.numpy(), 0.9, rtol=1e-6)


def test_batch_norm_statistics_advance_on_every_replay(rng):
    bn = nn.BatchNorm1d(3).to("cuda")
    x = Tensor(rng.standard_normal((4, 3)), device="cuda", dtype=np.float32)
    bn(x)
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        bn(x)
    for _ in range(2):
        g.replay()
    reference = nn.BatchNorm1d(3)
    for _ in range(3):
        reference(Tensor(x.numpy()))
    np.testing.assert_allclose(bn.running_mean.numpy(), reference.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), reference.running_var.numpy(), rtol=1e-6)
    assert int(bn.num_batches_tracked.item()) == 3


@pytest.mark.parametrize("misuse,message", [
    (lambda t: t.sum().item(), "Tensor.numpy/item/print"),
    (lambda t: t.numpy(), "Tensor.numpy/item/print"),
    (lambda t: repr(t), "Tensor.numpy/item/print"),
    (lambda t: bool(t.sum() > 0), "Tensor.numpy/item/print"),
    (lambda t: t[t > 0], "Tensor.numpy/item/print"),
    (lambda t: Tensor(np.ones(3), device="cuda"), "Tensor on 'cuda' from host data"),
    (lambda t: F.cross_entropy(t.reshape(1, 3), np.array([1])), "host data of shape"),
    (lambda t: t.copy_(np.ones(3)), "copy_: host data"),
], ids=["item", "numpy", "print", "branch", "device-index", "host-tensor", "host-labels", "copy-from-host"])
def test_what_needs_the_host_is_an_error_during_capture(misuse, message):
    t = tg.ones(3, device="cuda")
    g = tg_cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=message):
        with tg_cuda.graph(g):
            misuse(t * 2)
    assert not tg_cuda.is_current_stream_capturing() and g.num_kernels == 0
    with pytest.raises(RuntimeError, match="nothing has been captured"):
        g.replay()
    g.reset()
    with tg_cuda.graph(g):  # the failed capture left nothing behind
        y = t + 1
    g.replay()
    np.testing.assert_array_equal(y.numpy(), 2.0)


def test_misuse_of_graphs_is_an_error():
    a, b = tg_cuda.CUDAGraph(), tg_cuda.CUDAGraph()
    x = tg.zeros(2, device="cuda")
    with tg_cuda.graph(a):
        with pytest.raises(RuntimeError, match="captures do not nest"):
            b.capture_begin()
        x + 1
    with pytest.raises(RuntimeError, match="already holds a capture"):
        a.capture_begin()
    with pytest.raises(TypeError, match="expected a tg.cuda.CUDAGraph"):
        tg_cuda.graph("g")


def test_the_first_optimiser_step_cannot_be_captured():
    w = Tensor(np.ones(2, np.float32), device="cuda", requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match="SGD.step: the first step creates the optimiser's state"):
        with tg_cuda.graph(tg_cuda.CUDAGraph()):
            opt.step()


def test_graphed_step_checks_its_inputs():
    run = tg_cuda.make_graphed_step(lambda x: x * 3, np.ones((2, 3), np.float32), warmup=0)
    np.testing.assert_array_equal(run(np.full((2, 3), 2.0)).numpy(), 6.0)
    with pytest.raises(ValueError, match=r"input 0 has shape \(1, 3\), but the step was captured for \(2, 3\)"):
        run(np.ones((1, 3)))
    with pytest.raises(TypeError, match="captured with 1 inputs, called with 2"):
        run(np.ones((2, 3)), np.ones((2, 3)))


def test_replaying_after_a_captured_tensor_was_freed_is_an_error():
    x = tg.ones(5, device="cuda")
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        y = x * 2
    del x
    gc.collect()
    with pytest.raises(RuntimeError, match="a GPU buffer the captured step reads or writes was freed"):
        g.replay()
    assert y.shape == (5,)


def test_buffers_reached_through_tuples_are_watched_too():
    """Parameters reach the optimiser's kernel in tuples of buffers: the capture watches them
    like any other buffer from before it."""
    w = Tensor(np.ones(3, np.float32), device="cuda", requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        opt.step()
    assert id(memory.owner(w.array.buf)) in g._capture.watched


def test_memory_of_a_graph_is_never_handed_to_other_tensors():
    x = Tensor(np.arange(6.0), device="cuda")
    g = tg_cuda.CUDAGraph()
    with tg_cuda.graph(g):
        y = (x * 2 + 1) * 3  # the intermediate is freed during capture, into the graph's pool
    pool = g._capture.pool
    held = [a for arrays in pool.free.values() for a in arrays] + [y.array.buf]  # kept, so their ids stay theirs
    graph_buffers = {id(a) for a in held}
    assert len(graph_buffers) == 2 and memory.owner(y.array.buf).pool is pool
    eager = [x * k for k in range(6)]  # the same sizes, allocated after capture
    assert not graph_buffers & {id(e.array.buf) for e in eager}
    del eager
    gc.collect()
    assert not graph_buffers & {id(a) for arrays in memory.SHARED.free.values() for a in arrays}
    g.replay()
    np.testing.assert_array_equal(y.numpy(), (np.arange(6.0) * 2 + 1) * 3)
    g.reset()
    del y, pool
    gc.collect()
    assert not graph_buffers & {id(a) for arrays in memory.SHARED.free.values() for a in arrays}  # freed with the graph
    assert launch.capturing() is None


def test_fit_replays_the_step_of_each_batch_shape(rng):
    x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=2)  # batches of 2, 2 and 1
    results = []
    for graphs in (False, True):
        tg.manual_seed(0)
        model = _lenet().to("cuda")
        opt = optim.Adam(model.parameters(), lr=0.01)
        history = tg.fit(model, loader, nn.CrossEntropyLoss(), opt, epochs=3, progress=False, cuda_graphs=graphs)
        results.append((history["loss"], [p.numpy() for p in model.parameters()]))
    assert results[1][0] == results[0][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(b, a)



class _HostBranch(nn.Module):
    """A model whose forward asks the host a question: it cannot be captured."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 3)

    def forward(self, x):
        return self.layer(x) if x.sum().item() > -1e9 else self.layer(-x)


def test_fit_trains_eagerly_with_a_warning_when_the_step_cannot_be_captured(rng):
    x, y = rng.standard_normal((4, 4)).astype(np.float32), rng.integers(0, 3, 4)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=2)
    histories = []
    for graphs in (False, True):
        tg.manual_seed(0)
        model = _HostBranch().to("cuda")
        opt = optim.SGD(model.parameters(), lr=0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            histories.append(tg.fit(model, loader, nn.CrossEntropyLoss(), opt, epochs=2, progress=False,
                                    cuda_graphs=graphs)["loss"])
        assert any("could not be captured" in str(w.message) for w in caught) == graphs
    assert histories[0] == histories[1]


def test_a_capture_belongs_to_the_thread_that_began_it():
    """Another thread's GPU work during a capture runs at once, with its own memory, and
    stays out of the graph."""
    import threading

    x = Tensor(np.arange(4, dtype=np.float32), device="cuda")
    g, seen = tg_cuda.CUDAGraph(), {}

    def elsewhere():
        seen["capturing"] = tg_cuda.is_current_stream_capturing()
        seen["value"] = (x * 2 + 1).numpy()

    with tg_cuda.graph(g):
        y = x + 1
        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
    assert g.num_kernels == 1 and seen["capturing"] is False
    np.testing.assert_array_equal(seen["value"], [1, 3, 5, 7])
    g.replay()
    np.testing.assert_array_equal(y.numpy(), [1, 2, 3, 4])


def _keras_model():
    from tinygrad_nb.keras import backend
    from tinygrad_nb.keras.layers import LSTM, Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape
    from tinygrad_nb.keras.models import Model

    backend.clear_session()
    tg.manual_seed(0)
    images = Input(shape=(6, 6, 1))
    h = MaxPooling2D()(Conv2D(2, 3, padding="same", activation="relu")(images))
    h = LSTM(3)(Reshape((3, 6))(h))
    model = Model(images, Dense(2, activation="softmax")(Flatten()(h)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_keras_fit_replays_its_step_and_trains_as_on_the_cpu():
    """A Keras model moved with .to('cuda') trains and predicts there as on the CPU: the
    channels-first shortcut, the fused logits loss, the optimiser built on the first batch,
    the captured step replayed for the second batch and predict's copy back to NumPy."""
    from tinygrad_nb.keras import backend

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype(np.float32), np.arange(8) % 2
    cpu, gpu = _keras_model(), _keras_model().to("cuda")
    for model in (cpu, gpu):
        tg.manual_seed(1)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    assert next(gpu.parameters()).device == "cuda"
    assert list(gpu._graphs.values()) and all(g is not None for g in gpu._graphs.values())  # batch 2 replayed a capture
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    del cpu, gpu, model  # the captures hold device memory until the model goes
    backend.clear_session()
    gc.collect()
    tg_cuda.empty_cache()
