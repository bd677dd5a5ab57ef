# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Softmax regression from scratch, in the style of d2l's chapter: every piece written by hand.
# The test harness provides train_images/train_labels/test_images/test_labels (NumPy) and
# `shared.start(...)`, which gives both frameworks the same initial values; it sets `history`.
import torch
from torch.utils import data

torch.manual_seed(0)
batch_size, lr, num_epochs = 256, 0.1, 3
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)), batch_size)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)), batch_size)

num_inputs, num_outputs = 784, 10
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
b = torch.zeros(num_outputs, requires_grad=True)
shared.start(W, b)


def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition


def net(X):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy(net, data_iter):
    correct, total = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += accuracy(net(X), y)
            total += y.numel()
    return correct / total


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


history = []
for epoch in range(num_epochs):
    total_loss, count = 0.0, 0
    for X, y in train_iter:
        y_hat = net(X)
        l = cross_entropy(y_hat, y)
        l.sum().backward()
        sgd([W, b], lr, X.shape[0])
        total_loss += float(l.sum())
        count += y.numel()
    history.append(total_loss / count)
test_acc = evaluate_accuracy(net, test_iter)
