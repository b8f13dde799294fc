"""PyTorch idioms that must work unchanged (or fail loudly), and PyTorch programs run with
only their imports changed, on the shipped digits: the seed article's CNN class with
`MaxPool2d((2, 2), stride=2)`, Adam, CrossEntropyLoss and `torch.max(outputs.data, 1)`
accuracy; pytorch/examples' MNIST example (Adadelta, StepLR, nll_loss, `pred.eq(...)`) and its
word-level LSTM language model (clip_grad_norm_, `p.data.add_`, repackaged hidden states);
the seed article's RNN program (an explicit h0, batch_first)."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, data, nn, optim

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


class _Squares(data.Dataset):
    """A map-style data set of dict samples, as PyTorch scripts often write them."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {"x": np.array([i, i * i], np.float32), "y": i % 3}


class _Counting(data.IterableDataset):
    def __iter__(self):
        return iter((np.float32(i), i) for i in range(7))


def test_map_and_iterable_data_sets_with_collation():
    batches = list(data.DataLoader(_Squares(), batch_size=4, num_workers=2, pin_memory=True))
    assert [b["x"].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[1]["y"].numpy().tolist() == [1, 2, 0] + [1] and batches[2]["x"].numpy()[1].tolist() == [9, 81]
    streamed = list(data.DataLoader(_Counting(), batch_size=3))
    assert [x.numpy().tolist() for x, _ in streamed] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(data.DataLoader(_Counting(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(TypeError, match="IterableDataset has no length"):
        len(data.DataLoader(_Counting()))
    with pytest.raises(ValueError, match="no shuffle, no sampler"):
        data.DataLoader(_Counting(), shuffle=True)
    joined = [int(b) for (b,) in data.DataLoader(np.arange(3), collate_fn=lambda s: (int(np.sum(s)),), batch_size=2)]
    assert joined == [1, 2]


def test_subsets_concatenation_and_random_split():
    a, b = data.TensorDataset(np.arange(6)), data.TensorDataset(np.arange(10, 14))
    both = a + b
    assert len(both) == 10 and both[7] == (11,) and both[-1] == (13,)
    with pytest.raises(IndexError, match="out of range for 10 samples"):
        both[10]
    parts = data.random_split(both, [0.7, 0.3], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [7, 3]
    seen = sorted(int(p[i][0]) for p in parts for i in range(len(p)))
    assert seen == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13]
    assert [len(p) for p in data.random_split(both, [2, 8])] == [2, 8]
    with pytest.raises(ValueError, match="add up to 9, but the data set has 10"):
        data.random_split(both, [4, 5])
    assert data.Subset(both, [9, 0])[0] == (13,)


def test_an_unknown_device_is_named():
    with pytest.raises(ValueError, match="to: unknown device or dtype 'gpu'"):
        tg.zeros(2).to("gpu")
    assert tg.zeros(2).to("cpu:0").device == "cpu"


def test_integers_meeting_floats_stay_in_the_floats_dtype():
    """PyTorch's promotion where NumPy's would bring float64 into a float32 model."""
    i, f = tg.tensor([1, 2]), tg.tensor([0.5, 0.25])
    assert (i + f).dtype == (f * i).dtype == (i * 0.5).dtype == np.float32
    assert i.exp().dtype == i.log().dtype == i.sqrt().dtype == i.sigmoid().dtype == np.float32
    assert (i / 2).dtype == (1 / i).dtype == np.float32 and (i / tg.tensor([2, 4])).numpy().tolist() == [0.5, 0.5]
    assert (tg.tensor([[1, 2]], dtype=tg.int32) @ tg.ones(2, 1)).dtype == np.float32
    assert nn.Linear(2, 1)(tg.tensor([[1, 2]])).dtype == np.float32
    assert (i + 1).dtype == np.int64 and (f + np.float64(2.0)).dtype == np.float32  # a scalar takes the tensor's dtype
    assert (f + np.ones(2)).dtype == np.float64  # a float64 array with axes is a float64 tensor, in PyTorch too
    np.testing.assert_allclose((i + f).numpy(), [1.5, 2.25])


def test_zero_dimensional_tensors_promote_only_across_categories():
    """PyTorch's middle tier: a 0-d tensor (or 0-d array) does not widen a tensor with axes of
    its own category, but does lift one of a lower category."""
    f, i = tg.ones(2), tg.tensor([1, 2])
    f64_scalar = tg.tensor(2.0, dtype=tg.float64)
    assert (f + f64_scalar).dtype == (f64_scalar * f).dtype == (f + np.array(1.0)).dtype == np.float32
    assert (i + np.array(1.5)).dtype == (f64_scalar - i).dtype == np.float64
    assert (tg.tensor(3) * f).dtype == np.float32 and (tg.tensor([True]) + i).dtype == np.int64
    assert (f64_scalar + tg.tensor(1.0)).dtype == np.float64  # two 0-d tensors: the wider, as two with axes
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * f64_scalar).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.numpy().tolist() == [2.0, 2.0]


# pytorch/examples' mnist/main.py (its Net, train and test), imports changed, on the 8x8 digits:
# two 3x3 convolutions leave 4x4, pooled to 2x2, so fc1 takes 64 * 2 * 2 = 256 instead of 9216.
MNIST_EXAMPLE = """
import tinygrad_nb as torch                              # import torch
import tinygrad_nb.nn as nn                              # import torch.nn as nn
import tinygrad_nb.nn.functional as F                    # import torch.nn.functional as F
import tinygrad_nb.optim as optim                        # import torch.optim as optim
from tinygrad_nb.optim.lr_scheduler import StepLR        # from torch.optim.lr_scheduler import StepLR
from tinygrad_nb.data import DataLoader, digits          # from torch.utils.data import DataLoader; the data set


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return test_loss, 100. * correct / len(test_loader.dataset)


torch.manual_seed(1)
device = torch.device("cpu")
train_loader = DataLoader(digits("train"), batch_size=64, shuffle=True)
test_loader = DataLoader(digits("test"), batch_size=1000)
model = Net().to(device)
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(1, 4):
    train(model, device, train_loader, optimizer, epoch)
    test_loss, accuracy = test(model, device, test_loader)
    scheduler.step()
"""


def test_pytorchs_mnist_example_runs_with_only_its_imports_changed():
    namespace = {}
    exec(compile(MNIST_EXAMPLE, "pytorch_mnist_example", "exec"), namespace)
    assert namespace["accuracy"] > 85 and namespace["test_loss"] < 0.6
    assert namespace["optimizer"].param_groups[0]["lr"] == pytest.approx(0.7 ** 3)


def test_torch_device_and_comparison_names():
    d = tg.device("cuda:0")
    assert d == "cuda:0" and d.type == "cuda" and d.index == 0 and tg.device("cpu").index is None
    with pytest.raises(ValueError, match="device: unknown device 'gpu'"):
        tg.device("gpu")
    x = tg.tensor([1, 2, 3])
    assert x.eq(tg.tensor([1, 0, 3])).numpy().tolist() == [True, False, True] and x.ge(2).numpy().tolist() == [False, True, True]
    assert x.view_as(tg.zeros(3, 1)).shape == (3, 1)


# pytorch/examples' word_language_model (its RNNModel, batchify, get_batch, repackage_hidden and
# training loop with clip_grad_norm_ and p.data.add_), imports changed, on the Zen of Python's words.
WORD_LM = """
import math
import numpy as np
import tinygrad_nb as torch                      # import torch
import tinygrad_nb.nn as nn                      # import torch.nn as nn
import tinygrad_nb.nn.functional as F            # import torch.nn.functional as F
from tinygrad_nb.data import zen_of_python       # the corpus


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i, bptt=35):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i+seq_len]
    target = source[i+1:i+1+seq_len].view(-1)
    return data, target


words = zen_of_python().split()
vocab = sorted(set(words))
ids = torch.tensor([vocab.index(w) for w in words])
train_data = batchify(ids, 4)
torch.manual_seed(1)
model = RNNModel(len(vocab), 32, 64, 2, dropout=0.2)
criterion = nn.NLLLoss()
lr, clip, bptt = 20.0, 0.25, 10
losses = []
for epoch in range(1, 31):
    model.train()
    total_loss = 0.
    hidden = model.init_hidden(4)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i, bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
    losses.append(total_loss / (batch + 1))
"""


def test_pytorchs_word_language_model_runs_with_only_its_imports_changed():
    namespace = {}
    exec(compile(WORD_LM, "pytorch_word_language_model", "exec"), namespace)
    losses = namespace["losses"]
    assert losses[0] > 4.0 and losses[-1] < 3.5  # from about ln(96) = 4.56 (uniform over the words) down


def test_narrow_and_new_zeros():
    x = tg.arange(12.0).reshape(3, 4)
    assert x.narrow(1, 1, 2).numpy().tolist() == [[1, 2], [5, 6], [9, 10]]
    with pytest.raises(IndexError, match="narrow: entries 3..5 do not fit axis 1"):
        x.narrow(1, 3, 2)
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == x.dtype and x.new_ones((1,)).numpy().tolist() == [1.0]


# The seed article's RNN program: rows of an image as a sequence, an explicit h0, batch_first.
RNN_PROGRAM = """
import tinygrad_nb as torch                       # import torch
import tinygrad_nb.nn as nn                       # import torch.nn as nn
from tinygrad_nb.data import DataLoader, digits   # from torch.utils.data import DataLoader; the data set

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
sequence_length, input_size, hidden_size, num_layers, num_classes = 8, 8, 64, 2, 10


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, num_classes):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.rnn = nn.RNN(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(device)
        out, _ = self.rnn(x, h0)
        out = self.fc(out[:, -1, :])
        return out


torch.manual_seed(0)
device = torch.device('cpu')
train_loader = DataLoader(digits("train"), batch_size=32, shuffle=True)
test_loader = DataLoader(digits("test"), batch_size=100)
model = RNN(input_size, hidden_size, num_layers, num_classes).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
for epoch in range(5):
    for i, (images, labels) in enumerate(train_loader):
        images = images.reshape(-1, sequence_length, input_size).to(device)
        labels = labels.to(device)
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
with torch.no_grad():
    correct = 0
    total = 0
    for images, labels in test_loader:
        images = images.reshape(-1, sequence_length, input_size).to(device)
        labels = labels.to(device)
        outputs = model(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
accuracy = 100 * correct / total
"""


def test_the_seed_articles_rnn_program_runs_with_only_its_imports_changed():
    namespace = {}
    exec(compile(RNN_PROGRAM, "pytorch_rnn_program", "exec"), namespace)
    assert namespace["total"] == 359 and namespace["accuracy"] > 80
