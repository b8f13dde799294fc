"""PyTorch idioms that must work unchanged (or fail loudly), and a PyTorch program run with
only its imports changed: the seed article's CNN class with `MaxPool2d((2, 2), stride=2)`,
Adam, CrossEntropyLoss and `torch.max(outputs.data, 1)` accuracy, on the shipped digits."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn, optim

PROGRAM = """
import tinygrad_nb as torch                       # import torch
import tinygrad_nb.nn as nn                       # import torch.nn as nn
from tinygrad_nb.data import DataLoader, digits   # from torch.utils.data import DataLoader; the data set


class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d((2, 2), stride=2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = x.view(-1, 32 * 2 * 2)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


torch.manual_seed(0)
train_loader = DataLoader(digits("train"), batch_size=32, shuffle=True)
test_loader = DataLoader(digits("test"), batch_size=100, shuffle=False)
model = CNN()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
for epoch in range(3):
    for i, (images, labels) in enumerate(train_loader):
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

model.eval()
correct, total = 0, 0
with torch.no_grad():
    for images, labels in test_loader:
        outputs = model(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
accuracy = 100 * correct / total
"""


def test_the_seed_articles_cnn_program_runs_with_only_its_imports_changed():
    namespace = {}
    exec(compile(PROGRAM, "pytorch_cnn_program", "exec"), namespace)
    assert namespace["total"] == 359 and namespace["accuracy"] > 85


def test_module_level_functions_as_torch_has_them(rng):
    a = rng.standard_normal((3, 4))
    values, indices = tg.max(a, 1)  # an array, as PyTorch's outputs.data is read here
    np.testing.assert_allclose(values.numpy(), a.max(1))
    assert indices.numpy().tolist() == a.argmax(1).tolist()
    t = Tensor(a)
    for name, ref in [("exp", np.exp(a)), ("sum", a.sum()), ("mean", a.mean(0)), ("flatten", a.reshape(-1)),
                      ("softmax", np.exp(a) / np.exp(a).sum(1, keepdims=True)), ("relu", np.maximum(a, 0)),
                      ("argmax", a.argmax()), ("min", a.min())]:
        args = {"mean": (0,), "softmax": (1,)}.get(name, ())
        np.testing.assert_allclose(getattr(tg, name)(t, *args).numpy(), ref, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(tg.matmul(t, t.T).numpy(), a @ a.T, rtol=1e-12)
    np.testing.assert_allclose(tg.log(tg.exp(t)).numpy(), a, rtol=1e-12)
    ns = {}
    exec("from tinygrad_nb import *", ns)
    assert ns["exp"] is tg.exp and "max" not in ns and "sum" not in ns  # Python's own stay


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    a = np.arange(4, dtype=np.int32)
    t = tg.from_numpy(a)
    a[0] = 9
    assert t.dtype == np.int32 and t.numpy().tolist() == [9, 1, 2, 3]
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        tg.from_numpy([1, 2])


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([b"a"]), np.array([1j])])
def test_strings_and_complex_numbers_are_no_tensors(bad):
    with pytest.raises(TypeError, match="unsupported dtype"):
        Tensor(bad)
    with pytest.raises(TypeError, match="unsupported dtype"):
        tg.from_numpy(bad)


def test_a_scheduler_built_after_loading_the_optimizer_keeps_its_rate():
    """Resuming: the loaded rate stays, and the next decay starts from it (as PyTorch's)."""
    p = nn.Parameter(tg.zeros(1))
    opt = optim.SGD([p], lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    opt.step()
    sched.step()
    state = opt.state_dict()
    fresh = optim.SGD([p], lr=0.1)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == pytest.approx(0.01)
    resumed = optim.lr_scheduler.StepLR(fresh, step_size=1, gamma=0.1)
    assert resumed.get_last_lr() == [pytest.approx(0.01)]
    fresh.step()
    resumed.step()
    assert resumed.get_last_lr() == [pytest.approx(0.001)]
