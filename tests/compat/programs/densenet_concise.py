# ruff: noqa: F821, B007, E721, E741, UP008 - course style kept as written; the harness provides some names
# A small DenseNet, in the style of d2l's DenseNet section, for 28x28 inputs: BN-ReLU-Conv
# blocks, dense blocks concatenating every block's output on the channel axis, transition blocks
# (1x1 convolution and 2x2 average pooling) halving the channels, a OneCycleLR schedule stepped
# after every batch (it cycles SGD's momentum too).
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)


def conv_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs, input_channels, num_channels):
        super(DenseBlock, self).__init__()
        layer = []
        for i in range(num_convs):
            layer.append(conv_block(num_channels * i + input_channels, num_channels))
        self.net = nn.Sequential(*layer)

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X


blk = DenseBlock(2, 3, 10)
X = torch.randn(4, 3, 8, 8)
Y = blk(X)
dense_shape = tuple(Y.shape)


def transition_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


transition_shape = tuple(transition_block(23, 10)(Y).shape)

b1 = nn.Sequential(
    nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1),
    nn.BatchNorm2d(16), nn.ReLU(),
    nn.MaxPool2d(kernel_size=2, stride=2))
num_channels, growth_rate = 16, 8
num_convs_in_dense_blocks = [2, 2]
blks = []
for i, num_convs in enumerate(num_convs_in_dense_blocks):
    blks.append(DenseBlock(num_convs, num_channels, growth_rate))
    num_channels += num_convs * growth_rate
    if i != len(num_convs_in_dense_blocks) - 1:
        blks.append(transition_block(num_channels, num_channels // 2))
        num_channels = num_channels // 2
net = nn.Sequential(
    b1, *blks,
    nn.BatchNorm2d(num_channels), nn.ReLU(),
    nn.AdaptiveAvgPool2d((1, 1)),
    nn.Flatten(),
    nn.Linear(num_channels, 10))
shared.start(net)
num_parameters = sum(p.numel() for p in net.parameters() if p.requires_grad)

batch_size, max_lr, num_epochs = 32, 0.05, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size=batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size=batch_size)
optimizer = torch.optim.SGD(net.parameters(), lr=max_lr, momentum=0.9)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=num_epochs,
                                                steps_per_epoch=len(train_iter))
loss_fn = nn.CrossEntropyLoss()

history, lrs, momenta = [], [], []
for epoch in range(num_epochs):
    net.train()
    train_loss, num_batches = 0, 0
    for X, y in train_iter:
        pred = net(X)
        loss = loss_fn(pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(optimizer.param_groups[0]["momentum"])
        train_loss += loss.item()
        num_batches += 1
    history.append(train_loss / num_batches)

net.eval()
size = len(test_iter.dataset)
correct = 0
with torch.no_grad():
    for X, y in test_iter:
        correct += (net(X).argmax(1) == y).type(torch.float).sum().item()
test_acc = correct / size
