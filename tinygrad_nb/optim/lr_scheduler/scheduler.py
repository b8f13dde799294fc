"""LRScheduler: the base of the schedulers that set each group's rate from its initial rate
and the epoch (`lr_at`), and how such a schedule combines with others (`chained_lr`)."""


class LRScheduler:
    """A new scheduler (last_epoch=-1) starts from each group's rate as it is, as PyTorch's
    do: an optimiser whose state was loaded keeps its rate. One resumed at a given
    last_epoch counts from the groups' `initial_lr`."""

    # PyTorch writes these schedules recursively (the new rate from the current one), which
    # is what lets ChainedScheduler multiply them; the others ignore the current rate there.
    chainable = True

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        start = "lr" if last_epoch == -1 else "initial_lr"
        self.base_lrs = [group[start] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        """The learning rate of `epoch` for a group that started at base_lr."""
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def chained_lr(self, lr, base_lr, epoch):
        """The rate of `epoch` when other schedulers move the rate too (ChainedScheduler): the
        current rate `lr` times this schedule's own change since the epoch before."""
        before = self.lr_at(base_lr, epoch - 1) if epoch > 0 else base_lr
        now = self.lr_at(base_lr, epoch)
        return lr if now == before else lr * now / before

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """The scheduler's numbers (a LambdaLR's functions are code, and stay out, as in PyTorch)."""
        return {k: v for k, v in vars(self).items() if k != "optimizer" and not callable(v)
                and not (isinstance(v, list) and any(callable(f) for f in v))}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self.base_lrs = list(self.base_lrs)
