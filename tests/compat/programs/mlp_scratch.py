# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# A multilayer perceptron from scratch, in the style of d2l's chapter: parameters as
# nn.Parameter, a hand-written ReLU, the built-in loss and optimizer.
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)
batch_size, num_inputs, num_outputs, num_hiddens = 128, 784, 10, 64
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)), batch_size)

W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens, requires_grad=True) * 0.01)
b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs, requires_grad=True) * 0.01)
b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))
params = [W1, b1, W2, b2]
shared.start(*params)


def relu(X):
    a = torch.zeros_like(X)
    return torch.max(X, a)


def net(X):
    X = X.reshape((-1, num_inputs))
    H = relu(X @ W1 + b1)
    return H @ W2 + b2


loss = nn.CrossEntropyLoss(reduction="none")
updater = torch.optim.SGD(params, lr=0.5)
history = []
for epoch in range(4):
    total, n = 0.0, 0
    for X, y in train_iter:
        l = loss(net(X), y)
        updater.zero_grad()
        l.mean().backward()
        updater.step()
        total += l.sum().item()
        n += y.numel()
    history.append(total / n)

with torch.no_grad():
    test_acc = (net(torch.tensor(test_images)).argmax(1) == torch.tensor(test_labels)).float().mean().item()
