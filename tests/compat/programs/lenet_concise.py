# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# LeNet with the high-level API, in the style of d2l's convolution chapter (sigmoid, average pooling).
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Flatten(),
    nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.Sigmoid(),
    nn.Linear(84, 10))


def init_weights(m):
    if type(m) == nn.Linear or type(m) == nn.Conv2d:
        nn.init.xavier_uniform_(m.weight)


net.apply(init_weights)
shared.start(net)

X = torch.rand(size=(1, 1, 28, 28), dtype=torch.float32)
for layer in net:
    X = layer(X)
shapes = [tuple(X.shape)]

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
net.to(device)
train_iter = DataLoader(TensorDataset(torch.from_numpy(train_images), torch.from_numpy(train_labels)), batch_size=128)
test_iter = DataLoader(TensorDataset(torch.from_numpy(test_images), torch.from_numpy(test_labels)), batch_size=256)
optimizer = torch.optim.SGD(net.parameters(), lr=0.9)
loss = nn.CrossEntropyLoss()

history = []
for epoch in range(2):
    net.train()
    total, n = 0.0, 0
    for X, y in train_iter:
        optimizer.zero_grad()
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        l = loss(y_hat, y)
        l.backward()
        optimizer.step()
        with torch.no_grad():
            total += l.item() * X.shape[0]
            n += X.shape[0]
    history.append(total / n)

net.eval()
correct = 0
with torch.no_grad():
    for X, y in test_iter:
        correct += (net(X).argmax(dim=1) == y).sum().item()
test_acc = correct / len(test_labels)
