"""Learning-rate schedulers against PyTorch's documented formulas, written out here in closed
form, independently of the library: OneCycleLR (with its momentum), CosineAnnealingWarmRestarts,
PolynomialLR, ConstantLR, SequentialLR and ChainedScheduler; their state dicts and errors."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import nn, optim
from tinygrad_nb.optim import lr_scheduler as sched


def _sgd(lr=1.0, momentum=0.9):
    return optim.SGD([nn.Parameter(tg.zeros(1))], lr=lr, momentum=momentum)


def _adam(lr=1.0):
    return optim.Adam([nn.Parameter(tg.zeros(1))], lr=lr, betas=(0.9, 0.99))


def _run(opt, scheduler, steps):
    """(lr, momentum or beta1) of the first group before each of `steps` optimiser steps."""
    seen = []
    for _ in range(steps):
        group = opt.param_groups[0]
        seen.append((group["lr"], group["betas"][0] if "betas" in group else group["momentum"]))
        opt.step()
        scheduler.step()
    return np.array(seen)


def _one_cycle(max_lr, total, pct=0.3, strategy="cos", div=25.0, final_div=1e4, m_lo=0.85, m_hi=0.95, three=False):
    """PyTorch's OneCycleLR at steps 0..total-1: piecewise anneals between the phase ends."""
    start = max_lr / div
    low = start / final_div
    if strategy == "cos":
        anneal = lambda a, b, t: b + (a - b) * (1 + math.cos(math.pi * t)) / 2
    else:
        anneal = lambda a, b, t: a + (b - a) * t
    if three:
        ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
        lrs, moms = [(start, max_lr), (max_lr, start), (start, low)], [(m_hi, m_lo), (m_lo, m_hi), (m_hi, m_hi)]
    else:
        ends = [pct * total - 1, total - 1]
        lrs, moms = [(start, max_lr), (max_lr, low)], [(m_hi, m_lo), (m_lo, m_hi)]
    out = []
    for step in range(total):
        phase = next(i for i, end in enumerate(ends) if step <= end or i == len(ends) - 1)
        begin = 0.0 if phase == 0 else ends[phase - 1]
        t = (step - begin) / (ends[phase] - begin)
        out.append((anneal(*lrs[phase], t), anneal(*moms[phase], t)))
    return np.array(out)


@pytest.mark.parametrize("kwargs", [
    dict(max_lr=0.5, total_steps=20),
    dict(max_lr=2.0, total_steps=37, pct_start=0.4, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.1, epochs=3, steps_per_epoch=8, pct_start=0.25, three_phase=True, base_momentum=0.8,
         max_momentum=0.9),
], ids=["cos", "linear", "three_phase"])
@pytest.mark.parametrize("make_opt", [_sgd, _adam], ids=["SGD-momentum", "Adam-beta1"])
def test_one_cycle_lr_and_momentum(kwargs, make_opt):
    opt = make_opt()
    scheduler = sched.OneCycleLR(opt, **kwargs)
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    expected = _one_cycle(kwargs["max_lr"], total, kwargs.get("pct_start", 0.3), kwargs.get("anneal_strategy", "cos"),
                          kwargs.get("div_factor", 25.0), kwargs.get("final_div_factor", 1e4),
                          kwargs.get("base_momentum", 0.85), kwargs.get("max_momentum", 0.95),
                          kwargs.get("three_phase", False))
    np.testing.assert_allclose(_run(opt, scheduler, total), expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=f"Tried to step {total + 1} times. The specified number of total steps is "
                                         f"{total}"):
        scheduler.step()


def test_one_cycle_starts_at_max_lr_over_div_factor_and_writes_pytorchs_group_keys():
    opt = _adam(lr=123.0)
    sched.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)
    group = opt.param_groups[0]
    assert group["initial_lr"] == pytest.approx(1 / 25) and group["lr"] == pytest.approx(1 / 25)
    assert group["max_lr"] == 1.0 and group["min_lr"] == pytest.approx(1 / 25 / 1e4)
    assert group["betas"] == (0.9, 0.99)  # no momentum cycling asked for


def test_one_cycle_resumes_from_its_state_dict(tmp_path):
    opt = _sgd()
    scheduler = sched.OneCycleLR(opt, max_lr=0.5, total_steps=12)
    for _ in range(5):
        scheduler.step()
    tg.save({"optim": opt.state_dict(), "sched": scheduler.state_dict()}, tmp_path / "ckpt.npz")
    rest = [(scheduler.step(), tuple(opt.param_groups[0][k] for k in ("lr", "momentum")))[1] for _ in range(7)]
    saved = tg.load(tmp_path / "ckpt.npz")
    opt2 = _sgd()
    opt2.load_state_dict(saved["optim"])
    scheduler2 = sched.OneCycleLR(opt2, max_lr=0.5, total_steps=12)
    scheduler2.load_state_dict(saved["sched"])
    again = [(scheduler2.step(), tuple(opt2.param_groups[0][k] for k in ("lr", "momentum")))[1] for _ in range(7)]
    np.testing.assert_allclose(again, rest)


def test_one_cycle_errors():
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        sched.OneCycleLR(_sgd(), max_lr=1.0)
    with pytest.raises(ValueError, match="positive integer total_steps, got 0"):
        sched.OneCycleLR(_sgd(), max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="pct_start between 0 and 1, got 1.5"):
        sched.OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be 'cos' or 'linear'"):
        sched.OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="expected 1 values for max_lr"):
        sched.OneCycleLR(_sgd(), max_lr=[1.0, 2.0], total_steps=10)
    adagrad = optim.Adagrad([nn.Parameter(tg.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="Adagrad has neither"):
        sched.OneCycleLR(adagrad, max_lr=1.0, total_steps=10)
    sched.OneCycleLR(adagrad, max_lr=1.0, total_steps=10, cycle_momentum=False)


def _rates(scheduler_fn, steps, lr=1.0):
    opt = _sgd(lr)
    return _run(opt, scheduler_fn(opt), steps)[:, 0]


@pytest.mark.parametrize("T_0,T_mult,eta_min", [(3, 1, 0.0), (2, 2, 0.1), (3, 3, 0.05)])
def test_cosine_annealing_warm_restarts(T_0, T_mult, eta_min):
    expected = []
    start, period = 0, T_0
    for epoch in range(30):
        if epoch - start >= period:
            start, period = start + period, period * T_mult
        expected.append(eta_min + (1.0 - eta_min) * (1 + math.cos(math.pi * (epoch - start) / period)) / 2)
    rates = _rates(lambda o: sched.CosineAnnealingWarmRestarts(o, T_0, T_mult=T_mult, eta_min=eta_min), 30)
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)


def test_cosine_annealing_warm_restarts_takes_fractional_epochs():
    opt = _sgd()
    scheduler = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    for epoch, t_cur, t_i in [(0.5, 0.5, 2), (1.75, 1.75, 2), (2.5, 0.5, 4), (7.0, 1.0, 8)]:
        scheduler.step(epoch)
        assert opt.param_groups[0]["lr"] == pytest.approx((1 + math.cos(math.pi * t_cur / t_i)) / 2)
    with pytest.raises(ValueError, match="T_mult must be an integer >= 1, got 0"):
        sched.CosineAnnealingWarmRestarts(_sgd(), T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="T_0 must be a positive integer, got 0"):
        sched.CosineAnnealingWarmRestarts(_sgd(), T_0=0)


@pytest.mark.parametrize("total,power", [(4, 1.0), (5, 2.0), (3, 0.5)])
def test_polynomial_lr(total, power):
    expected = [0.5 * (1 - min(e, total) / total) ** power for e in range(8)]
    np.testing.assert_allclose(_rates(lambda o: sched.PolynomialLR(o, total, power), 8, lr=0.5), expected, atol=1e-15)


@pytest.mark.parametrize("factor,total", [(1 / 3, 5), (0.5, 2), (0.0, 1)])
def test_constant_lr(factor, total):
    expected = [0.5 * (factor if e < total else 1.0) for e in range(7)]
    np.testing.assert_allclose(_rates(lambda o: sched.ConstantLR(o, factor, total), 7, lr=0.5), expected)
    with pytest.raises(ValueError, match="factor must be in"):
        sched.ConstantLR(_sgd(), factor=1.5)


def _linear(e, start, total):
    return start + (1 - start) * min(e, total) / total


def _cosine(e, T, eta_min, base=1.0):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T)) / 2


def test_sequential_lr_restarts_each_scheduler_at_its_milestone():
    rates = _rates(lambda o: sched.SequentialLR(o, [
        sched.LinearLR(o, start_factor=0.1, total_iters=4),
        sched.CosineAnnealingLR(o, T_max=5, eta_min=0.05),
        sched.ExponentialLR(o, gamma=0.9)], milestones=[3, 7]), 14)
    expected = ([_linear(e, 0.1, 4) for e in range(3)] + [_cosine(e, 5, 0.05) for e in range(4)]
                + [0.9 ** e for e in range(7)])
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_sequential_lr_warm_up_then_decay():
    """The usual warm-up: ConstantLR's constructor step is undone, ExponentialLR starts from initial_lr."""
    rates = _rates(lambda o: sched.SequentialLR(o, [sched.ConstantLR(o, factor=0.1, total_iters=2),
                                                    sched.ExponentialLR(o, gamma=0.9)], milestones=[2]), 7, lr=0.2)
    np.testing.assert_allclose(rates, [0.02, 0.02] + [0.2 * 0.9 ** e for e in range(5)], rtol=1e-12)


def test_chained_scheduler_multiplies_the_factors():
    rates = _rates(lambda o: sched.ChainedScheduler([
        sched.LinearLR(o, start_factor=0.2, total_iters=4), sched.StepLR(o, 2, 0.5),
        sched.MultiStepLR(o, [3, 5], 0.3)]), 9)
    expected = [_linear(e, 0.2, 4) * 0.5 ** (e // 2) * 0.3 ** sum(e >= m for m in (3, 5)) for e in range(9)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    rates = _rates(lambda o: sched.ChainedScheduler([sched.ConstantLR(o, factor=0.1, total_iters=2),
                                                     sched.ExponentialLR(o, gamma=0.9)]), 6)
    np.testing.assert_allclose(rates, [0.1 * (0.9 ** e if e < 2 else 0.9 ** e / 0.1) for e in range(6)], rtol=1e-12)


def test_chained_scheduler_with_cosine_follows_pytorchs_recursion():
    """CosineAnnealingLR chained moves the distance to eta_min by the cosine's ratio, so it
    composes with a warm-up that changes the rate underneath it."""
    T, eta = 4, 0.1
    lr, expected = 1.0, []
    for e in range(12):
        warm = _linear(e, 0.2, 3) / (_linear(e - 1, 0.2, 3) if e else 1.0)
        lr *= warm
        if e and (e - 1 - T) % (2 * T) == 0:
            lr += (1.0 - eta) * (1 - math.cos(math.pi / T)) / 2
        elif e:
            lr = eta + (lr - eta) * (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        expected.append(lr)
    rates = _rates(lambda o: sched.ChainedScheduler([sched.LinearLR(o, start_factor=0.2, total_iters=3),
                                                     sched.CosineAnnealingLR(o, T_max=T, eta_min=eta)]), 12)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_chained_lambda_lr_sets_its_rate_from_initial_lr():
    rates = _rates(lambda o: sched.ChainedScheduler([sched.ConstantLR(o, factor=0.1, total_iters=2),
                                                     sched.LambdaLR(o, lambda e: 0.5 ** e)]), 5)
    np.testing.assert_allclose(rates, [0.5 ** e for e in range(5)])


@pytest.mark.parametrize("build", [
    lambda o: sched.SequentialLR(o, [sched.LinearLR(o, start_factor=0.5, total_iters=2), sched.StepLR(o, 2, 0.5)],
                                 milestones=[3]),
    lambda o: sched.ChainedScheduler([sched.StepLR(o, 2, 0.5), sched.CosineAnnealingLR(o, T_max=5, eta_min=0.1)]),
], ids=["SequentialLR", "ChainedScheduler"])
def test_composite_state_dicts_resume(tmp_path, build):
    opt = _sgd()
    scheduler = build(opt)
    for _ in range(4):
        scheduler.step()
    tg.save({"optim": opt.state_dict(), "sched": scheduler.state_dict()}, tmp_path / "ckpt.npz")
    rest = [(scheduler.step(), scheduler.get_last_lr()[0])[1] for _ in range(4)]
    saved = tg.load(tmp_path / "ckpt.npz")
    opt2 = _sgd()
    scheduler2 = build(opt2)
    opt2.load_state_dict(saved["optim"])
    scheduler2.load_state_dict(saved["sched"])
    np.testing.assert_allclose([(scheduler2.step(), scheduler2.get_last_lr()[0])[1] for _ in range(4)], rest)


def test_composite_errors():
    opt, other = _sgd(), _sgd()
    with pytest.raises(ValueError, match="expected 1 milestones for 2 schedulers, got 0"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 1), sched.StepLR(opt, 1)], milestones=[])
    with pytest.raises(ValueError, match="scheduler 1 \\(StepLR\\) belongs to another optimizer"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 1), sched.StepLR(other, 1)], milestones=[2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.ChainedScheduler([sched.StepLR(opt, 1), sched.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="expected at least one scheduler"):
        sched.ChainedScheduler([])
