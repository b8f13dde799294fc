"""Optimisers against updates computed by hand, state dicts, parameter groups, schedulers
and gradient clipping."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn, optim


def _run(make, grads, start=1.0):
    """Apply optimizer steps with the given gradients to a one-element parameter."""
    p = nn.Parameter(tg.tensor([start]))
    opt = make([p])
    values = []
    for g in grads:
        p.grad = tg.tensor([g])
        opt.step()
        values.append(p.item())
    return values


def test_sgd_plain_momentum_nesterov_and_weight_decay():
    assert _run(lambda ps: optim.SGD(ps, lr=0.1), [1.0, 2.0]) == pytest.approx([0.9, 0.7])
    # buf = 1, then 0.9 * 1 + 2 = 2.9
    assert _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), [1.0, 2.0]) == pytest.approx([0.9, 0.9 - 0.29])
    # the step uses g + 0.9 * buf: 1 + 0.9 = 1.9, then 2 + 0.9 * 2.9 = 4.61
    nesterov = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), [1.0, 2.0])
    assert nesterov == pytest.approx([0.81, 0.81 - 0.461])
    # dampening scales the new gradient in the buffer after the first step: 0.9 * 1 + 0.5 * 2 = 1.9
    damped = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5), [1.0, 2.0])
    assert damped == pytest.approx([0.9, 0.9 - 0.19])
    assert _run(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.5), [0.0]) == pytest.approx([0.95])


def test_adam_two_steps_by_hand():
    lr, b1, b2 = 0.1, 0.9, 0.999
    m1, v1 = (1 - b1) * 2, (1 - b2) * 4
    step1 = 1 - lr * (m1 / (1 - b1)) / (math.sqrt(v1 / (1 - b2)) + 1e-8)  # = 1 - lr * sign(g)
    m2, v2 = b1 * m1 + (1 - b1) * -1, b2 * v1 + (1 - b2) * 1
    step2 = step1 - lr * (m2 / (1 - b1**2)) / (math.sqrt(v2 / (1 - b2**2)) + 1e-8)
    assert _run(lambda ps: optim.Adam(ps, lr=lr), [2.0, -1.0]) == pytest.approx([step1, step2], rel=1e-6)
    assert step1 == pytest.approx(0.9)


def test_adam_weight_decay_adds_to_the_gradient_adamw_shrinks_the_weight():
    # Adam: g = 2 + 0.1 * 1 and the first step is lr * sign(g): 0.9
    assert _run(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1), [2.0]) == pytest.approx([0.9], rel=1e-6)
    # AdamW: p = 1 * (1 - 0.1 * 0.1), then the same step
    assert _run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1), [2.0]) == pytest.approx([0.89], rel=1e-6)


def test_adam_amsgrad_keeps_the_largest_second_moment():
    plain = _run(lambda ps: optim.Adam(ps, lr=0.1), [10.0, 0.1, 0.1])
    ams = _run(lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True), [10.0, 0.1, 0.1])
    assert plain[0] == pytest.approx(ams[0])
    assert ams[2] > plain[2]  # a larger denominator takes smaller later steps


def test_rmsprop_plain_centered_and_momentum():
    # s = 0.01 * 4 = 0.04, p = 1 - 0.01 * 2 / sqrt(0.04)
    assert _run(lambda ps: optim.RMSprop(ps, lr=0.01), [2.0]) == pytest.approx([0.9], rel=1e-6)
    # the centred variance subtracts the squared mean gradient a = 0.01 * 2
    centred = 1 - 0.01 * 2 / math.sqrt(0.04 - 0.02**2)
    assert _run(lambda ps: optim.RMSprop(ps, lr=0.01, centered=True), [2.0]) == pytest.approx([centred], rel=1e-6)
    # momentum buffer b = 0.5 * b + g / sqrt(s): 10, then 0.5 * 10 + 2 / sqrt(0.99 * 0.04 + 0.01 * 4)
    b2 = 5 + 2 / math.sqrt(0.99 * 0.04 + 0.01 * 4)
    momentum = _run(lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5), [2.0, 2.0])
    assert momentum == pytest.approx([0.9, 0.9 - 0.01 * b2], rel=1e-6)


def test_parameters_stay_float32_and_skip_missing_gradients():
    a, b = nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tg.ones(2)
    opt.step()
    assert a.dtype == np.float32 and (b.numpy() == 1).all()
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(tg.ones(1)), nn.Parameter(tg.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = tg.ones(1), tg.ones(1)
    opt.step()
    assert (a.item(), b.item()) == pytest.approx((0.9, 0.5))
    assert "Parameter Group 1" in repr(opt)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True),
        lambda ps: optim.AdamW(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.1, centered=True, momentum=0.5),
    ],
)
def test_state_dict_round_trip_continues_identically(rng, make):
    grads = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(4)]
    p = nn.Parameter(tg.ones(2, 3))
    opt = make([p])
    for g in grads[:2]:
        p.grad = Tensor(g)
        opt.step()
    saved = opt.state_dict()
    assert list(saved) == ["state", "param_groups"] and saved["param_groups"][0]["params"] == [0]
    q = nn.Parameter(Tensor(p.numpy().copy()))
    other = make([q])
    other.load_state_dict({"state": {k: {n: (v.numpy() if isinstance(v, Tensor) else v) for n, v in s.items()}
                                     for k, s in saved["state"].items()},
                           "param_groups": saved["param_groups"]})
    for g in grads[2:]:
        p.grad, q.grad = Tensor(g), Tensor(g)
        opt.step()
        other.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_restores_hyperparameters_and_checks_groups():
    p = nn.Parameter(tg.ones(1))
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9))
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = 0.01
    fresh = optim.Adam([nn.Parameter(tg.ones(1))])
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="parameter groups do not match"):
        optim.Adam([nn.Parameter(tg.ones(1)), nn.Parameter(tg.ones(1))]).load_state_dict(state)


def test_optimizer_errors():
    p = nn.Parameter(tg.ones(1))
    with pytest.raises(ValueError, match="SGD: invalid lr -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="invalid betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_adam_fits_a_linear_regression(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    for _ in range(200):
        loss = nn.functional.mse_loss(model(Tensor(x)), Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4


def _lrs(scheduler_cls, epochs, **kwargs):
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=1.0)
    sched = scheduler_cls(opt, **kwargs)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    return lrs


def test_step_lr():
    assert _lrs(optim.lr_scheduler.StepLR, 6, step_size=2, gamma=0.5) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])


def test_cosine_annealing_lr():
    lrs = _lrs(optim.lr_scheduler.CosineAnnealingLR, 5, T_max=4, eta_min=0.1)
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert lrs == pytest.approx(expected)
    assert lrs[-1] == pytest.approx(0.1)


def test_scheduler_state_dict_resumes():
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    sched.step()
    opt2 = optim.SGD([nn.Parameter(tg.ones(1))], lr=1.0)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    sched2.load_state_dict(sched.state_dict())
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.125


def test_clip_grad_norm():
    a, b = nn.Parameter(tg.zeros(1)), nn.Parameter(tg.zeros(1))
    a.grad, b.grad = tg.tensor([3.0]), tg.tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    assert (a.grad.item(), b.grad.item()) == pytest.approx((0.6, 0.8), rel=1e-5)
    assert nn.utils.clip_grad_norm_(iter([a, b]), max_norm=10.0).item() == pytest.approx(1.0, rel=1e-5)
    assert a.grad.item() == pytest.approx(0.6, rel=1e-5)  # under the limit: unchanged
    inf = nn.utils.clip_grad_norm_([a, b], max_norm=0.4, norm_type=float("inf"))
    assert inf.item() == pytest.approx(0.8, rel=1e-5) and b.grad.item() == pytest.approx(0.4, rel=1e-5)
    a.grad = tg.tensor([float("nan")])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)


def _rates(make, epochs, lr=1.0):
    p = nn.Parameter(tg.zeros(1))
    opt = optim.SGD([p], lr=lr)
    sched = make(opt)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(epochs - 1):
        opt.step()
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    return rates, sched


@pytest.mark.parametrize("make,expected", [
    (lambda o: optim.lr_scheduler.MultiStepLR(o, [2, 4], gamma=0.5), [1, 1, 0.5, 0.5, 0.25, 0.25]),
    (lambda o: optim.lr_scheduler.ExponentialLR(o, 0.9), [1, 0.9, 0.81, 0.729]),
    (lambda o: optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3), [0.25, 0.5, 0.75, 1, 1]),
    (lambda o: optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)), [1, 1 / 2, 1 / 3, 1 / 4]),
], ids=["MultiStepLR", "ExponentialLR", "LinearLR", "LambdaLR"])
def test_more_schedulers_follow_pytorchs_formulas(tmp_path, make, expected):
    rates, sched = _rates(make, len(expected))
    np.testing.assert_allclose(rates, expected)
    tg.save(sched.state_dict(), tmp_path / "sched.npz")  # a LambdaLR's function stays out
    assert not any(callable(v) for v in sched.state_dict().values())


def test_reduce_lr_on_plateau():
    p = nn.Parameter(tg.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    rates = []
    for loss in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        sched.step(Tensor(loss))
        rates.append(sched.get_last_lr()[0])
    # two epochs without improvement halve the rate; one epoch of cooldown; never below 0.2
    assert rates == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    up = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    opt.param_groups[0]["lr"] = 1.0
    for accuracy in [0.5, 0.55, 0.7]:  # 0.55 is within the threshold of 0.5: no improvement
        up.step(accuracy)
    assert up.get_last_lr() == [0.1] and up.best == 0.7
    with pytest.raises(ValueError, match="factor must be below 1"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=2)


def test_clip_grad_value():
    p = nn.Parameter(tg.zeros(3))
    p.grad = Tensor(np.array([-2.0, 0.5, 3.0], np.float32))
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_allclose(p.grad.numpy(), [-1.0, 0.5, 1.0])


def _np_adagrad(p, grads, lr, lr_decay, wd, init, eps):
    s = np.full_like(p, init)
    for t, g in enumerate(grads, 1):
        g = g + wd * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return p


def _np_adadelta(p, grads, lr, rho, eps, wd):
    s, u = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + wd * p
        s = rho * s + (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d
    return p


def test_adagrad_and_adadelta_follow_pytorchs_formulas(rng, device):
    start, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(4)]
    cases = [(lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2),
              _np_adagrad(start, grads, 0.1, 0.05, 0.1, 0.2, 1e-10)),
             (lambda ps: optim.Adadelta(ps, lr=0.5, rho=0.8, weight_decay=0.1), _np_adadelta(start, grads, 0.5, 0.8, 1e-6, 0.1))]
    for make, want in cases:
        p = nn.Parameter(Tensor(start, device=device))
        opt = make([p])
        for g in grads:
            p.grad = Tensor(g, device=device)
            opt.step()
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-10)
        assert opt.state_dict()["state"][0]["step"] == 4


@pytest.mark.parametrize("make", [lambda ps, m: optim.SGD(ps, lr=0.1, momentum=0.9, maximize=m),
                                  lambda ps, m: optim.Adam(ps, lr=0.1, maximize=m),
                                  lambda ps, m: optim.AdamW(ps, lr=0.1, maximize=m),
                                  lambda ps, m: optim.RMSprop(ps, lr=0.1, maximize=m),
                                  lambda ps, m: optim.Adagrad(ps, lr=0.1, maximize=m),
                                  lambda ps, m: optim.Adadelta(ps, maximize=m)],
                         ids=["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_maximize_climbs_where_minimizing_the_negation_descends(rng, make):
    start, grads = rng.standard_normal(4), [rng.standard_normal(4) for _ in range(3)]
    ends = []
    for maximize, sign in ((True, 1.0), (False, -1.0)):
        p = nn.Parameter(Tensor(start))
        opt = make([p], maximize)
        for g in grads:
            p.grad = Tensor(sign * g)
            opt.step()
        ends.append(p.numpy())
    np.testing.assert_allclose(ends[0], ends[1], rtol=1e-12)
