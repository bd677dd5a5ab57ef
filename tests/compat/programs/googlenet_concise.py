# ruff: noqa: F821, B007, E721, E741, UP008 - course style kept as written; the harness provides some names
# GoogLeNet's Inception block, in the style of d2l's modern-CNN chapter, in a small network for
# 28x28 inputs: four parallel paths (1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max pooling then 1x1)
# concatenated on the channel axis, global average pooling, SGD with momentum and ExponentialLR.
# (A batch norm in the stem, which d2l's has not, gets this small net off the 2.30 plateau in
# 3 epochs; the convolution before it has no bias, whose true gradient would be 0.)
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import data

torch.manual_seed(0)


class Inception(nn.Module):
    # c1--c4 are the number of output channels for each path
    def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        # Path 1 is a single 1 x 1 convolutional layer
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        # Path 2 is a 1 x 1 convolutional layer followed by a 3 x 3 convolutional layer
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        # Path 3 is a 1 x 1 convolutional layer followed by a 5 x 5 convolutional layer
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        # Path 4 is a 3 x 3 maximum pooling layer followed by a 1 x 1 convolutional layer
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        # Concatenate the outputs on the channel dimension
        return torch.cat((p1, p2, p3, p4), dim=1)


b1 = nn.Sequential(nn.Conv2d(1, 16, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(16),
                   nn.ReLU(),
                   nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
b2 = nn.Sequential(Inception(16, 8, (8, 12), (2, 4), 4),
                   Inception(28, 12, (12, 16), (4, 8), 8),
                   nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
net = nn.Sequential(b1, b2,
                    nn.AdaptiveAvgPool2d((1, 1)),
                    nn.Flatten(),
                    nn.Linear(44, 10))
shared.start(net)

X = torch.rand(size=(1, 1, 28, 28))
block_shapes = []
for layer in net:
    X = layer(X)
    block_shapes.append(tuple(X.shape))
    print(layer.__class__.__name__, 'output shape:\t', X.shape)

batch_size, lr, num_epochs = 32, 0.1, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)
optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7)
loss = nn.CrossEntropyLoss()

history = []
for epoch in range(num_epochs):
    net.train()
    metric = [0.0, 0]
    for X, y in train_iter:
        optimizer.zero_grad()
        y_hat = net(X)
        l = loss(y_hat, y)
        l.backward()
        optimizer.step()
        with torch.no_grad():
            metric[0] += l * X.shape[0]
            metric[1] += X.shape[0]
    scheduler.step()
    history.append(float(metric[0] / metric[1]))

net.eval()
with torch.no_grad():
    preds = torch.cat([net(X).argmax(dim=1) for X, _ in test_iter])
test_acc = (preds == torch.tensor(test_labels)).float().mean().item()
