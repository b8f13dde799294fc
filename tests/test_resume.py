"""A run interrupted at any batch and resumed from its checkpoint (model, optimiser,
scheduler, global random state, loader position) ends with the same weights, bit for bit,
as a run that was never interrupted: with dropout and a shuffling loader, which draw from
the global generator."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import data, nn, optim

BATCHES, EPOCH = 11, 4  # four batches a pass: the runs cross two pass boundaries


def _setup(seed_loader):
    tg.manual_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 5)).astype(np.float32), rng.integers(0, 3, 30)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    loader = data.DataLoader((x, y), batch_size=8, shuffle=True, seed=7 if seed_loader else None)
    return model, opt, scheduler, loader


def _train(model, opt, scheduler, loader, batches):
    """Train `batches` batches, passes after passes; the scheduler steps each batch."""
    done = 0
    while done < batches:
        for inputs, target in loader:
            loss = F.cross_entropy(model(inputs), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step()
            done += 1
            if done == batches:
                return


@pytest.mark.parametrize("seed_loader", [False, True], ids=["global-generator", "own-seed"])
@pytest.mark.parametrize("stop", [1, 4, 6])
def test_resumed_runs_end_where_uninterrupted_ones_do(tmp_path, seed_loader, stop):
    model, opt, scheduler, loader = _setup(seed_loader)
    _train(model, opt, scheduler, loader, BATCHES)
    straight = [p.numpy().copy() for p in model.parameters()]

    model, opt, scheduler, loader = _setup(seed_loader)
    _train(model, opt, scheduler, loader, stop)
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": tg.get_rng_state(), "loader": loader.state_dict()}, tmp_path / "ck.npz")
    tg.manual_seed(123)  # a new process: the global generator elsewhere
    model, opt, scheduler, loader = _setup(seed_loader)
    tg.manual_seed(99)
    checkpoint = tg.load(tmp_path / "ck.npz")
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optim"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    loader.load_state_dict(checkpoint["loader"])
    tg.set_rng_state(checkpoint["rng"])
    _train(model, opt, scheduler, loader, BATCHES - stop)
    for resumed, want in zip(model.parameters(), straight):
        np.testing.assert_array_equal(resumed.numpy(), want)


def test_fork_rng_leaves_later_draws_alone():
    tg.manual_seed(5)
    with tg.fork_rng():
        tg.randn(100)
    after_fork = tg.randn(3).numpy()
    tg.manual_seed(5)
    np.testing.assert_array_equal(tg.randn(3).numpy(), after_fork)


def test_a_loader_state_of_another_kind_is_refused():
    own, shared = data.DataLoader(np.ones(4), seed=1), data.DataLoader(np.ones(4))
    with pytest.raises(ValueError, match="seed of its own"):
        shared.load_state_dict(own.state_dict())


class _Interrupt(Exception):
    pass


def _fit(path, interrupt_at=None):
    """fit() for 3 epochs with a checkpoint after every batch; `interrupt_at` raises out of
    the loss on that call (a kill mid-run: what the last checkpoint holds survives)."""
    model, opt, scheduler, loader = _setup(False)
    calls = [0]

    def loss(output, target):
        calls[0] += 1
        if calls[0] == interrupt_at:
            raise _Interrupt
        return F.cross_entropy(output, target)

    history = tg.fit(model, loader, loss, opt, epochs=3, scheduler=scheduler, progress=False, checkpoint=path,
                     checkpoint_every=1)
    return model, history


@pytest.mark.parametrize("interrupt_at", [2, 5, 9])
def test_fit_resumes_from_its_checkpoint_exactly(tmp_path, interrupt_at):
    straight, straight_history = _fit(tmp_path / "straight.npz")
    path = tmp_path / "interrupted.npz"
    with pytest.raises(_Interrupt):
        _fit(path, interrupt_at)
    tg.manual_seed(42)  # a new process
    resumed, history = _fit(path)
    for a, b in zip(resumed.parameters(), straight.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert history == straight_history | {"seconds": history["seconds"]}


def test_the_gpu_generator_is_part_of_the_random_state():
    """GPU draws (rand, dropout on 'cuda') come from the GPU's own generator: its counter is
    saved and restored with the rest."""
    from tinygrad_nb import cuda as tg_cuda

    if not tg_cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    tg.manual_seed(3)
    tg.rand(4, device="cuda")
    state = tg.get_rng_state()
    first = tg.rand(6, device="cuda").numpy()
    tg.rand(10, device="cuda")
    tg.set_rng_state(state)
    np.testing.assert_array_equal(tg.rand(6, device="cuda").numpy(), first)


def test_a_loader_with_a_generator_of_its_own_resumes_mid_pass():
    """generator= (PyTorch's argument) takes any NumPy generator, MT19937 here."""
    def loader():
        return data.DataLoader(np.arange(10), batch_size=3, shuffle=True,
                               generator=np.random.Generator(np.random.MT19937(5)))

    whole = loader()
    straight = [b[0].numpy().tolist() for b in whole] + [b[0].numpy().tolist() for b in whole]
    partial = loader()
    seen = []
    for batch in partial:
        seen.append(batch[0].numpy().tolist())
        if len(seen) == 2:
            break
    resumed = loader()
    resumed.load_state_dict(partial.state_dict())
    seen += [b[0].numpy().tolist() for b in resumed] + [b[0].numpy().tolist() for b in resumed]
    assert seen == straight
    with pytest.raises(ValueError, match="a seed or a generator"):
        data.DataLoader(np.arange(3), seed=1, generator=np.random.default_rng(1))
