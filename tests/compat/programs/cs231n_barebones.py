# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# The "barebones" part of a cs231n-style PyTorch notebook: models as functions of explicit
# weight tensors, Kaiming-scaled random weights, a manual SGD step, accuracy from scores.max(1).
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

USE_GPU = True
dtype = torch.float32
if USE_GPU and torch.cuda.is_available():
    device = torch.device("cuda")
else:
    device = torch.device("cpu")

torch.manual_seed(0)
loader_train = DataLoader(TensorDataset(torch.from_numpy(train_images), torch.from_numpy(train_labels)), batch_size=64)
loader_val = DataLoader(TensorDataset(torch.from_numpy(test_images), torch.from_numpy(test_labels)), batch_size=64)


def flatten(x):
    N = x.shape[0]
    return x.view(N, -1)


def three_layer_convnet(x, params):
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    x = F.relu(F.conv2d(x, conv_w1, conv_b1, padding=2))
    x = F.relu(F.conv2d(x, conv_w2, conv_b2, padding=1))
    return flatten(x).mm(fc_w) + fc_b


def random_weight(shape):
    if len(shape) == 2:
        fan_in = shape[0]
    else:
        fan_in = np.prod(shape[1:])
    w = torch.randn(shape, device=device, dtype=dtype) * np.sqrt(2. / fan_in)
    w.requires_grad = True
    return w


def zero_weight(shape):
    return torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)


def check_accuracy_part2(loader, model_fn, params):
    num_correct, num_samples = 0, 0
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.int64)
            scores = model_fn(x, params)
            _, preds = scores.max(1)
            num_correct += (preds == y).sum()
            num_samples += preds.size(0)
    return float(num_correct) / num_samples


def train_part2(model_fn, params, learning_rate, epochs):
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for t, (x, y) in enumerate(loader_train):
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            scores = model_fn(x, params)
            loss = F.cross_entropy(scores, y)
            loss.backward()
            with torch.no_grad():
                for w in params:
                    w -= learning_rate * w.grad
                    w.grad.zero_()
            total += loss.item()
        losses.append(total / (t + 1))
    return losses


channel_1, channel_2 = 8, 4
params = [random_weight((channel_1, 1, 5, 5)), zero_weight((channel_1,)),
          random_weight((channel_2, channel_1, 3, 3)), zero_weight((channel_2,)),
          random_weight((channel_2 * 28 * 28, 10)), zero_weight(10)]
shared.start(*params)
history = train_part2(three_layer_convnet, params, learning_rate=3e-3, epochs=2)
test_acc = check_accuracy_part2(loader_val, three_layer_convnet, params)
