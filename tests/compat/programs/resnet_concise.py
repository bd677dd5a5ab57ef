# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# A small residual network, in the style of d2l's ResNet section, for 28x28 inputs and a few
# channels: the Residual block (optional 1x1 shortcut convolution, strides), resnet_block stages
# built as lists and unpacked into nn.Sequential, global average pooling, StepLR, then the
# trained weights saved with torch.save(state_dict) and loaded into a fresh network.
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import data

torch.manual_seed(0)


class Residual(nn.Module):
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


blk = Residual(3, 3)
X = torch.rand(4, 3, 6, 6)
residual_shapes = [tuple(blk(X).shape)]
blk = Residual(3, 6, use_1x1conv=True, strides=2)
residual_shapes.append(tuple(blk(X).shape))


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def make_net():
    b1 = nn.Sequential(nn.Conv2d(1, 8, kernel_size=3, stride=1, padding=1),
                       nn.BatchNorm2d(8), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(8, 8, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(8, 16, 1))
    b4 = nn.Sequential(*resnet_block(16, 32, 1))
    return nn.Sequential(b1, b2, b3, b4,
                         nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(32, 10))


net = make_net()
shared.start(net)
X = torch.rand(size=(1, 1, 28, 28))
layer_shapes = []
for layer in net:
    X = layer(X)
    layer_shapes.append(tuple(X.shape))
    print(layer.__class__.__name__, 'output shape:\t', X.shape)

batch_size, lr, num_epochs = 64, 0.05, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)
optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
criterion = nn.CrossEntropyLoss()


def evaluate(model):
    model.eval()
    correct = 0
    with torch.no_grad():
        for X, y in test_iter:
            correct += (model(X).argmax(1) == y).type(torch.float).sum().item()
    return correct / len(test_iter.dataset)


history = []
for epoch in range(num_epochs):
    net.train()
    epoch_loss = 0.0
    for X, y in train_iter:
        optimizer.zero_grad()
        loss = criterion(net(X), y)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item() * len(y)
    scheduler.step()
    history.append(epoch_loss / len(train_iter.dataset))
    print(f"epoch {epoch + 1}, loss {history[-1]:.3f}, lr {scheduler.get_last_lr()[0]}")
test_acc = evaluate(net)

torch.save(net.state_dict(), checkpoint_path)
clone = make_net()
clone.load_state_dict(torch.load(checkpoint_path))
clone_acc = evaluate(clone)
same_running_var = torch.equal(clone[1][0].bn1.running_var, net[1][0].bn1.running_var)
