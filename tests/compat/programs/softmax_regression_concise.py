# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Softmax regression with the high-level API, in the style of d2l's concise chapter.
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)
batch_size = 256
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size, shuffle=False)
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)


net.apply(init_weights)
shared.start(net)
loss = nn.CrossEntropyLoss(reduction="none")
trainer = torch.optim.SGD(net.parameters(), lr=0.1)

history = []
for epoch in range(3):
    total, n = 0.0, 0
    for X, y in train_iter:
        l = loss(net(X), y)
        trainer.zero_grad()
        l.mean().backward()
        trainer.step()
        total += float(l.sum())
        n += y.numel()
    history.append(total / n)

with torch.no_grad():
    test_acc = (net(torch.tensor(test_images)).argmax(dim=1) == torch.tensor(test_labels)).float().mean().item()
