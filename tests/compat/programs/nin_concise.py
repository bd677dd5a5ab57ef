# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Network in Network, in the style of d2l's modern-CNN chapter, shrunk to 28x28 inputs and a
# few channels: NiN blocks (a convolution and two 1x1 convolutions, each with a ReLU), overlapping
# 3x3/stride-2 max pooling, global average pooling into the class scores, a cosine schedule.
# Changed from d2l's: a BatchNorm2d after each block's first convolution (without it this small
# net sits on the 2.30 plateau for many epochs, where float32 rounding decides when it leaves),
# and no Dropout(0.5) before the last block, so the two runs stay step for step comparable
# (dropout is covered by mlp_dropout_concise).
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)


def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


net = nn.Sequential(
    nin_block(1, 16, kernel_size=5, strides=1, padding=2),
    nn.MaxPool2d(3, stride=2),
    nin_block(16, 24, kernel_size=3, strides=1, padding=1),
    nn.MaxPool2d(3, stride=2),
    nin_block(24, 10, kernel_size=3, strides=1, padding=1),
    nn.AdaptiveAvgPool2d((1, 1)),
    nn.Flatten())


def init_cnn(module):
    if type(module) == nn.Linear or type(module) == nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


net.apply(init_cnn)
shared.start(net)

X = torch.rand(size=(1, 1, 28, 28))
layer_shapes = []
for layer in net:
    X = layer(X)
    layer_shapes.append((layer.__class__.__name__, tuple(X.shape)))
    print(layer.__class__.__name__, 'output shape:\t', X.shape)

batch_size, lr, num_epochs = 64, 0.1, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)
optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_epochs)
loss_fn = nn.CrossEntropyLoss()

history, lrs = [], []
for epoch in range(num_epochs):
    net.train()
    running_loss = 0.0
    for i, (X, y) in enumerate(train_iter):
        optimizer.zero_grad()
        l = loss_fn(net(X), y)
        l.backward()
        optimizer.step()
        running_loss += l.item()
    lrs.append(optimizer.param_groups[0]["lr"])
    scheduler.step()
    history.append(running_loss / (i + 1))
    print(f"epoch {epoch}: loss {history[-1]:.4f}")

net.eval()
correct = total = 0
with torch.no_grad():
    for X, y in test_iter:
        _, predicted = torch.max(net(X), 1)
        total += y.size(0)
        correct += (predicted == y).sum().item()
test_acc = correct / total
