# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Batch normalization from scratch inside LeNet, in the style of d2l's batch-norm section.
import numpy as np
import torch
from torch import nn


torch.manual_seed(0)
def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
        return Y


net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
    nn.Linear(16 * 4 * 4, 120), BatchNorm(120, num_dims=2), nn.Sigmoid(),
    nn.Linear(120, 84), BatchNorm(84, num_dims=2), nn.Sigmoid(),
    nn.Linear(84, 10))
shared.start(net)

train_X, train_y = torch.tensor(train_images), torch.tensor(train_labels)
optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
loss_fn = nn.CrossEntropyLoss()
batch_size = 128
history = []
for epoch in range(2):
    total = 0.0
    for i in range(0, len(train_X), batch_size):
        X, y = train_X[i:i + batch_size], train_y[i:i + batch_size]
        l = loss_fn(net(X), y)
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        total += l.item() * len(y)
    history.append(total / len(train_X))

with torch.no_grad():
    test_acc = (net(torch.tensor(test_images)).argmax(1) == torch.tensor(test_labels)).float().mean().item()
moving_means = [np.asarray(m.moving_mean).reshape(-1)[:3].tolist() for m in net if isinstance(m, BatchNorm)]
