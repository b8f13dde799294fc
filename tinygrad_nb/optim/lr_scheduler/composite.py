"""Schedulers made of others: SequentialLR runs them one after another, ChainedScheduler
several at once, their effects multiplied as in PyTorch."""
import bisect

from .plateau import ReduceLROnPlateau
from .scheduler import LRScheduler


def _check_members(name, optimizer, schedulers):
    if not schedulers:
        raise ValueError(f"{name}: expected at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{name}: ReduceLROnPlateau (scheduler {i}) needs a metric at each step and cannot be "
                             "combined")
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{name}: scheduler {i} is a {type(scheduler).__name__}, not an LRScheduler (as in "
                            "PyTorch, SequentialLR and ChainedScheduler do not nest)")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name}: scheduler {i} ({type(scheduler).__name__}) belongs to another optimizer; all "
                             "must share one")


class _Composite:
    """state_dict and get_last_lr of a scheduler made of others (each saved by its own state_dict)."""

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        state = {k: v for k, v in vars(self).items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, own in zip(self._schedulers, saved):
            scheduler.load_state_dict(own)


class SequentialLR(_Composite):
    """schedulers[0] until epoch milestones[0], then schedulers[1] (from its own epoch 0), and so
    on. As PyTorch's: the rates restart from each group's initial_lr, and each scheduler's
    constructor step is undone (only the first's counts)."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_members("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for {len(schedulers)} "
                             f"schedulers, got {len(milestones)}")
        self.optimizer, self._schedulers, self._milestones = optimizer, list(schedulers), [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        initial = [group["initial_lr"] for group in optimizer.param_groups]
        for group, lr in zip(optimizer.param_groups, initial):
            group["lr"] = lr
        for scheduler in self._schedulers:
            scheduler.base_lrs, scheduler.last_epoch = list(initial), scheduler.last_epoch - 1
        self._schedulers[0].step()

    def step(self):
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            self._schedulers[i].last_epoch = -1  # the next scheduler starts at its epoch 0
        self._schedulers[i].step()


class ChainedScheduler(_Composite):
    """Steps every scheduler at each step(), in order, their effects combined as PyTorch's:
    each multiplies the current rate by its own change (LambdaLR, OneCycleLR and
    CosineAnnealingWarmRestarts set theirs, from initial_lr, over what came before)."""

    def __init__(self, schedulers, optimizer=None):
        optimizer = optimizer if optimizer is not None else schedulers[0].optimizer if schedulers else None
        _check_members("ChainedScheduler", optimizer, schedulers)
        self.optimizer, self._schedulers = optimizer, list(schedulers)
        # Our schedulers start from the rate they find, so one built after another started from
        # the rate the other set: redo their latest steps together from initial_lr.
        initial = [group["initial_lr"] for group in optimizer.param_groups]
        for group, lr in zip(optimizer.param_groups, initial):
            group["lr"] = lr
        for scheduler in self._schedulers:
            scheduler.base_lrs, scheduler.last_epoch = list(initial), scheduler.last_epoch - 1
        self.step()

    def step(self):
        groups = self.optimizer.param_groups
        for scheduler in self._schedulers:
            lrs = [group["lr"] for group in groups]
            scheduler.step()
            if scheduler.chainable:
                for group, lr, base in zip(groups, lrs, scheduler.base_lrs):
                    group["lr"] = scheduler.chained_lr(lr, base, scheduler.last_epoch)
