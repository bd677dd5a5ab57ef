# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# A small VGG, in the style of d2l's VGG section (its newer, lazy-layer edition): vgg_block of
# 3x3 LazyConv2d + ReLU(inplace=True) layers and a 2x2 max pool, an architecture list scaled down
# by a ratio, LazyLinear heads, sizes materialised by a dry run before Xavier initialisation;
# then SGD with gradient-norm clipping and a LambdaLR warm-up-and-decay schedule.
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)


def vgg_block(num_convs, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(arch, num_classes=10):
    conv_blks = []
    for (num_convs, out_channels) in arch:
        conv_blks.append(vgg_block(num_convs, out_channels))
    net = nn.Sequential(*conv_blks, nn.Flatten())
    net.add_module("fc1", nn.LazyLinear(64))
    net.add_module("relu1", nn.ReLU(inplace=True))
    net.add_module("fc2", nn.LazyLinear(num_classes))
    return net


conv_arch = ((1, 64), (1, 128), (2, 256))
ratio = 8
small_conv_arch = [(pair[0], pair[1] // ratio) for pair in conv_arch]
net = vgg(small_conv_arch)

X = torch.randn(size=(1, 1, 28, 28))
layer_summary = []
for name, blk in net.named_children():
    X = blk(X)
    layer_summary.append((name, blk.__class__.__name__, tuple(X.shape)))
    print(name, blk.__class__.__name__, 'output shape:\t', X.shape)


def init_cnn(module):
    if type(module) == nn.Linear or type(module) == nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


net.apply(init_cnn)
shared.start(net)
num_convs = sum(1 for m in net.modules() if isinstance(m, nn.Conv2d))

batch_size, lr, num_epochs = 32, 0.05, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)
optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
warmup = 1
scheduler = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lr_lambda=lambda epoch: (epoch + 1) / (warmup + 1) if epoch < warmup else 0.5 ** (epoch - warmup))
loss_fn = nn.CrossEntropyLoss()

history, lrs, grad_norms = [], [], []
for epoch in range(num_epochs):
    net.train()
    lrs.append(optimizer.param_groups[0]["lr"])
    total = 0.0
    for X, y in train_iter:
        optimizer.zero_grad()
        l = loss_fn(net(X), y)
        l.backward()
        grad_norms.append(float(nn.utils.clip_grad_norm_(net.parameters(), max_norm=2.0)))
        optimizer.step()
        total += l.item() * len(y)
    scheduler.step()
    history.append(total / len(train_iter.dataset))

net.eval()
correct = 0
with torch.no_grad():
    for X, y in test_iter:
        correct += int((net(X).argmax(dim=1) == y).sum())
test_acc = correct / len(test_iter.dataset)
