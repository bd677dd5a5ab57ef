# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Batch normalization with the high-level API, in the style of d2l's batch-norm section: LeNet
# with nn.BatchNorm2d after each convolution and nn.BatchNorm1d after each hidden linear layer,
# trained with a large learning rate, then the learned scale and shift of the first one.
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
    nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
    nn.Linear(84, 10))
shared.start(net)
buffers = sorted(name for name, _ in net.named_buffers())

lr, num_epochs, batch_size = 1.0, 3, 64
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)
trainer = torch.optim.SGD(net.parameters(), lr=lr)
loss = nn.CrossEntropyLoss()

history = []
for epoch in range(num_epochs):
    net.train()
    total, n = 0.0, 0
    for X, y in train_iter:
        trainer.zero_grad()
        l = loss(net(X), y)
        l.backward()
        trainer.step()
        total += float(l) * y.numel()
        n += y.numel()
    history.append(total / n)

net.eval()
with torch.no_grad():
    correct = sum(float((net(X).argmax(axis=1) == y).sum()) for X, y in test_iter)
test_acc = correct / len(test_labels)
gamma, beta = net[1].weight.reshape((-1,)), net[1].bias.reshape((-1,))
learned = gamma.detach().numpy().tolist() + beta.detach().numpy().tolist()
moving = net[10].running_mean.numpy().copy(), net[10].running_var.numpy().copy()
tracked = int(net[1].num_batches_tracked)
